/* Elementwise kernels: one exp, softmax rows and SwiGLU on every SIMD path, same bits
 * (elementwise.h). Built with -ffp-contract=off (core/CMakeLists.txt). */
#include "elementwise.h"

#include <stdint.h>
#include <string.h>

#include "cpu.h"

/* Inputs are clamped to [EXP_LO, EXP_HI]: n stays in [-126, 129], 2^n1, 2^n2 and every
 * result at EXP_LO are normal floats (a subnormal result, even one then discarded, costs a
 * microcode assist); results for inputs below EXP_LO are 0. */
#define EXP_LO -87.0f
#define EXP_HI 89.0f
#define LOG2E  1.44269504088896341f
#define LN2_HI 0.693145751953125f /* 12 significant bits: n·LN2_HI is exact */
#define LN2_LO 1.42860682030941723e-6f
#define MAGIC  12582912.0f /* 1.5·2^23: adding it rounds to an integer, kept in the low bits */
/* 1/k!, k = 0..7 */
#define C0 1.0f
#define C1 1.0f
#define C2 0.5f
#define C3 0.166666666666666667f
#define C4 0.0416666666666666667f
#define C5 0.00833333333333333333f
#define C6 0.00138888888888888889f
#define C7 0.000198412698412698413f

static inline uint32_t float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}
static inline float bits_float(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float qs_vexp_ref(float x) {
    const int flush = x < EXP_LO;
    x = EXP_HI < x ? EXP_HI : x; /* the vector min/max semantics: NaN passes through */
    x = EXP_LO > x ? EXP_LO : x;
    const float t = x * LOG2E + MAGIC;
    const float nf = t - MAGIC;
    float r = x - nf * LN2_HI;
    r = r - nf * LN2_LO;
    float p = C7;
    p = p * r + C6;
    p = p * r + C5;
    p = p * r + C4;
    p = p * r + C3;
    p = p * r + C2;
    p = p * r + C1;
    p = p * r + C0;
    /* n in [-150, 128] sits in t's low bits; 2^n as 2^n1 · 2^n2, both normal */
    const int32_t n = (int32_t)(float_bits(t) - float_bits(MAGIC));
    const int32_t n1 = (n - (n & 1)) / 2, n2 = n - n1; /* n1 = floor(n / 2) */
    const float y =
        p * bits_float((uint32_t)(n1 + 127) << 23) * bits_float((uint32_t)(n2 + 127) << 23);
    return flush ? 0.0f : y;
}

/* Sum of 8 lanes by halving: the one order of every path. */
static double fold8(double *l) {
    for (int w = 4; w > 0; w >>= 1)
        for (int j = 0; j < w; j++) l[j] += l[j + w];
    return l[0];
}

static void vexp_scalar(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = qs_vexp_ref(x[i]);
}

static void softmax_scalar(float *row, int n, int P) {
    float mx = row[0];
    for (int j = 1; j < n; j++) mx = row[j] > mx ? row[j] : mx;
    double lane[8] = {0};
    for (int j = 0; j < n; j++) {
        row[j] = qs_vexp_ref(row[j] - mx);
        lane[j % 8] += row[j];
    }
    const float inv = (float)(1.0 / fold8(lane));
    for (int j = 0; j < n; j++) row[j] *= inv;
    for (int j = n; j < P; j++) row[j] = 0.0f;
}

static inline float swiglu1(float g, float u) { return g / (1.0f + qs_vexp_ref(-g)) * u; }

static void swiglu_scalar(float *h1, const float *h3, size_t n) {
    for (size_t i = 0; i < n; i++) h1[i] = swiglu1(h1[i], h3[i]);
}

#if QS_HAVE_X86_SIMD
#include <immintrin.h>

QS_TARGET_AVX2 static inline __m256 exp_avx2(__m256 x) {
    const __m256 flush = _mm256_cmp_ps(x, _mm256_set1_ps(EXP_LO), _CMP_LT_OQ);
    x = _mm256_min_ps(_mm256_set1_ps(EXP_HI), x); /* hi < x ? hi : x */
    x = _mm256_max_ps(_mm256_set1_ps(EXP_LO), x); /* lo > x ? lo : x */
    const __m256 magic = _mm256_set1_ps(MAGIC);
    const __m256 t = _mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(LOG2E)), magic);
    const __m256 nf = _mm256_sub_ps(t, magic);
    __m256 r = _mm256_sub_ps(x, _mm256_mul_ps(nf, _mm256_set1_ps(LN2_HI)));
    r = _mm256_sub_ps(r, _mm256_mul_ps(nf, _mm256_set1_ps(LN2_LO)));
    __m256 p = _mm256_set1_ps(C7);
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(C6));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(C5));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(C4));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(C3));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(C2));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(C1));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(C0));
    const __m256i n = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_castps_si256(magic));
    const __m256i n1 = _mm256_srai_epi32(n, 1), n2 = _mm256_sub_epi32(n, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_andnot_ps(flush, _mm256_mul_ps(_mm256_mul_ps(p, s1), s2));
}

QS_TARGET_AVX2 static void vexp_avx2(float *y, const float *x, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, exp_avx2(_mm256_loadu_ps(x + i)));
    for (; i < n; i++) y[i] = qs_vexp_ref(x[i]);
}

QS_TARGET_AVX2 static void softmax_avx2(float *row, int n, int P) {
    int j = 0;
    __m256 vmx = _mm256_set1_ps(row[0]);
    for (; j + 8 <= n; j += 8) vmx = _mm256_max_ps(_mm256_loadu_ps(row + j), vmx);
    float l[8], mx;
    _mm256_storeu_ps(l, vmx);
    mx = l[0];
    for (int k = 1; k < 8; k++) mx = l[k] > mx ? l[k] : mx;
    for (; j < n; j++) mx = row[j] > mx ? row[j] : mx;
    const __m256 vm = _mm256_set1_ps(mx);
    __m256d s0 = _mm256_setzero_pd(), s1 = s0; /* lanes 0-3, 4-7 */
    for (j = 0; j + 8 <= n; j += 8) {
        __m256 e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(row + j), vm));
        _mm256_storeu_ps(row + j, e);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    double lane[8];
    _mm256_storeu_pd(lane, s0);
    _mm256_storeu_pd(lane + 4, s1);
    for (; j < n; j++) {
        row[j] = qs_vexp_ref(row[j] - mx);
        lane[j % 8] += row[j];
    }
    const float inv = (float)(1.0 / fold8(lane));
    const __m256 vi = _mm256_set1_ps(inv);
    for (j = 0; j + 8 <= n; j += 8)
        _mm256_storeu_ps(row + j, _mm256_mul_ps(_mm256_loadu_ps(row + j), vi));
    for (; j < n; j++) row[j] *= inv;
    if (P > n) memset(row + n, 0, sizeof(float) * (size_t)(P - n));
}

QS_TARGET_AVX2 static void swiglu_avx2(float *h1, const float *h3, size_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(h1 + i);
        __m256 e = exp_avx2(_mm256_xor_ps(g, sign));
        __m256 s = _mm256_div_ps(g, _mm256_add_ps(one, e));
        _mm256_storeu_ps(h1 + i, _mm256_mul_ps(s, _mm256_loadu_ps(h3 + i)));
    }
    for (; i < n; i++) h1[i] = swiglu1(h1[i], h3[i]);
}

QS_TARGET_AVX512 static inline __m512 exp_avx512(__m512 x) {
    const __mmask16 keep = _mm512_cmp_ps_mask(x, _mm512_set1_ps(EXP_LO), _CMP_NLT_UQ);
    x = _mm512_min_ps(_mm512_set1_ps(EXP_HI), x);
    x = _mm512_max_ps(_mm512_set1_ps(EXP_LO), x);
    const __m512 magic = _mm512_set1_ps(MAGIC);
    const __m512 t = _mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(LOG2E)), magic);
    const __m512 nf = _mm512_sub_ps(t, magic);
    __m512 r = _mm512_sub_ps(x, _mm512_mul_ps(nf, _mm512_set1_ps(LN2_HI)));
    r = _mm512_sub_ps(r, _mm512_mul_ps(nf, _mm512_set1_ps(LN2_LO)));
    __m512 p = _mm512_set1_ps(C7);
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(C6));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(C5));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(C4));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(C3));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(C2));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(C1));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(C0));
    const __m512i n = _mm512_sub_epi32(_mm512_castps_si512(t), _mm512_castps_si512(magic));
    const __m512i n1 = _mm512_srai_epi32(n, 1), n2 = _mm512_sub_epi32(n, n1);
    const __m512i bias = _mm512_set1_epi32(127);
    const __m512 s1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n1, bias), 23));
    const __m512 s2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n2, bias), 23));
    return _mm512_maskz_mov_ps(keep, _mm512_mul_ps(_mm512_mul_ps(p, s1), s2));
}

QS_TARGET_AVX512 static void vexp_avx512(float *y, const float *x, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, exp_avx512(_mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m, exp_avx512(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

/* Exps 16 at a time; the sum takes them 8 at a time, lanes 0-7, as the other paths. */
QS_TARGET_AVX512 static void softmax_avx512(float *row, int n, int P) {
    int j = 0;
    __m512 vmx = _mm512_set1_ps(row[0]);
    for (; j + 16 <= n; j += 16) vmx = _mm512_max_ps(_mm512_loadu_ps(row + j), vmx);
    if (j < n)
        vmx = _mm512_mask_max_ps(vmx, (__mmask16)((1u << (n - j)) - 1),
                                 _mm512_maskz_loadu_ps((__mmask16)((1u << (n - j)) - 1), row + j),
                                 vmx);
    const float mx = _mm512_reduce_max_ps(vmx);
    const __m512 vm = _mm512_set1_ps(mx);
    __m512d s = _mm512_setzero_pd();
    for (j = 0; j < n; j += 16) {
        __mmask16 m = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        __m512 e = exp_avx512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + j), vm));
        _mm512_mask_storeu_ps(row + j, m, e);
        /* masked-off lanes are zeroed: they add nothing */
        e = _mm512_maskz_mov_ps(m, e);
        s = _mm512_add_pd(s, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        s = _mm512_add_pd(
            s, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
    }
    double lane[8];
    _mm512_storeu_pd(lane, s);
    const float inv = (float)(1.0 / fold8(lane));
    const __m512 vi = _mm512_set1_ps(inv);
    for (j = 0; j < n; j += 16) {
        __mmask16 m = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        _mm512_mask_storeu_ps(row + j, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, row + j), vi));
    }
    if (P > n) memset(row + n, 0, sizeof(float) * (size_t)(P - n));
}

QS_TARGET_AVX512 static void swiglu_avx512(float *h1, const float *h3, size_t n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512i sign = _mm512_set1_epi32(INT32_MIN);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 g = _mm512_maskz_loadu_ps(m, h1 + i);
        __m512 e = exp_avx512(_mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(g), sign)));
        __m512 v = _mm512_div_ps(g, _mm512_add_ps(one, e));
        _mm512_mask_storeu_ps(h1 + i, m, _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, h3 + i)));
    }
}
#endif

void qs_vexp(float *y, const float *x, size_t n) {
#if QS_HAVE_X86_SIMD
    int path = qs_cpu_path();
    if (path >= QS_CPU_AVX512) return vexp_avx512(y, x, n);
    if (path == QS_CPU_AVX2) return vexp_avx2(y, x, n);
#endif
    vexp_scalar(y, x, n);
}

void qs_softmax_row(float *row, int n, int P) {
#if QS_HAVE_X86_SIMD
    int path = qs_cpu_path();
    if (path >= QS_CPU_AVX512) return softmax_avx512(row, n, P);
    if (path == QS_CPU_AVX2) return softmax_avx2(row, n, P);
#endif
    softmax_scalar(row, n, P);
}

void qs_swiglu(float *h1, const float *h3, size_t n) {
#if QS_HAVE_X86_SIMD
    int path = qs_cpu_path();
    if (path >= QS_CPU_AVX512) return swiglu_avx512(h1, h3, n);
    if (path == QS_CPU_AVX2) return swiglu_avx2(h1, h3, n);
#endif
    swiglu_scalar(h1, h3, n);
}
