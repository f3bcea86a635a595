/* Elementwise kernels: one exp, softmax rows and SwiGLU on every SIMD path, same bits
 * (elementwise.h). Built with -ffp-contract=off (core/CMakeLists.txt). */
#include "elementwise.h"

#include <float.h>
#include <math.h>
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

/* log: x = 2^e · m with m in [√½, √2), u = m − 1 (exact), log m = 2·atanh(s) with
 * s = u/(2 + u), |s| <= 0.172, written as u − (h − s·(h + R)), h = u²/2, R = 2s²/3 + 2s⁴/5 +
 * 2s⁶/7 + 2s⁸/9 (next term < 1e-9): u carries the result exactly and the rounding falls on
 * the small correction. */
#define SQRT2 1.41421356237309505f
#define L3    0.666666666666666667f
#define L5    0.4f
#define L7    0.285714285714285714f
#define L9    0.222222222222222222f

float qs_vlog_ref(float x) {
    const uint32_t b = float_bits(x);
    int32_t e = (int32_t)(b >> 23) - 127;
    float m = bits_float((b & 0x007fffffu) | 0x3f800000u); /* [1, 2) */
    const int big = m > SQRT2;
    m = big ? m * 0.5f : m;
    e += big;
    const float u = m - 1.0f, sv = u / (2.0f + u), z = sv * sv, h = 0.5f * u * u;
    float r = L9;
    r = r * z + L7;
    r = r * z + L5;
    r = r * z + L3;
    r = r * z;
    const float lm = u - (h - sv * (h + r));
    return (float)e * LN2_HI + ((float)e * LN2_LO + lm);
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

/* The entropy of a softmax from its sums: S = Σ e_j, W = Σ e_j·(−d_j), d_j = z_j − max:
 * −Σ p log p = log S + W/S (both terms >= 0: nothing cancels). */
static double softmax_entropy(double *lane, double *wlane) {
    double S = fold8(lane);
    return log(S) + fold8(wlane) / S;
}

static float softmax_scalar(float *row, int n, int P, double *entropy) {
    float mx = row[0];
    for (int j = 1; j < n; j++) mx = row[j] > mx ? row[j] : mx;
    double lane[8] = {0}, wlane[8] = {0};
    for (int j = 0; j < n; j++) {
        const float d = row[j] - mx;
        row[j] = qs_vexp_ref(d);
        lane[j % 8] += row[j];
        wlane[j % 8] += (double)row[j] * (double)-d; /* exact product */
    }
    if (entropy) {
        double l2[8], w2[8];
        memcpy(l2, lane, sizeof l2);
        memcpy(w2, wlane, sizeof w2);
        *entropy = softmax_entropy(l2, w2);
    }
    const float inv = (float)(1.0 / fold8(lane));
    for (int j = 0; j < n; j++) row[j] *= inv;
    for (int j = n; j < P; j++) row[j] = 0.0f;
    return mx;
}

static double logsumexp_scalar(const float *x, int n) {
    float mx = x[0];
    for (int j = 1; j < n; j++) mx = x[j] > mx ? x[j] : mx;
    double lane[8] = {0};
    for (int j = 0; j < n; j++) lane[j % 8] += qs_vexp_ref(x[j] - mx);
    return (double)mx + log(fold8(lane));
}

static double entropy_scalar(const float *p, int n) {
    double lane[8] = {0};
    for (int j = 0; j < n; j++)
        if (p[j] >= FLT_MIN) lane[j % 8] -= (double)(p[j] * qs_vlog_ref(p[j]));
    return fold8(lane);
}

static void accumulate_scalar(double *acc, const float *x, int n) {
    for (int i = 0; i < n; i++) acc[i] += x[i];
}

static void axpy_scalar(float *y, float a, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
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

/* Lanes below `left` (1..8) set: the last, partial step of a loop reads and writes through
 * it, so no AVX2 loop ends in scalar code (a call to baseline SSE code with the upper halves
 * of the vector registers in use cost hundreds of cycles per element here). */
QS_TARGET_AVX2 static inline __m256i tail_mask(int left) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

QS_TARGET_AVX2 static void vexp_avx2(float *y, const float *x, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, exp_avx2(_mm256_loadu_ps(x + i)));
    if (i < n) {
        __m256i m = tail_mask((int)(n - i));
        _mm256_maskstore_ps(y + i, m, exp_avx2(_mm256_maskload_ps(x + i, m)));
    }
}

/* The row's max: masked-off lanes hold row[0], which the max already has. */
QS_TARGET_AVX2 static float max_avx2(const float *x, int n) {
    __m256 vmx = _mm256_set1_ps(x[0]);
    int j = 0;
    for (; j + 8 <= n; j += 8) vmx = _mm256_max_ps(_mm256_loadu_ps(x + j), vmx);
    if (j < n) {
        __m256 m = _mm256_castsi256_ps(tail_mask(n - j));
        __m256 v = _mm256_maskload_ps(x + j, _mm256_castps_si256(m));
        vmx = _mm256_max_ps(_mm256_blendv_ps(vmx, v, m), vmx);
    }
    float l[8], mx = x[0];
    _mm256_storeu_ps(l, vmx);
    for (int k = 0; k < 8; k++) mx = l[k] > mx ? l[k] : mx;
    return mx;
}

/* exp(x - mx) over x[0..n) into lanes (s0: 0-3, s1: 4-7) and, when y is not NULL, y; when
 * wlane is not NULL, Σ e·(mx − x) into it. */
QS_TARGET_AVX2 static void exp_sum_avx2(float *y, const float *x, int n, float mx, double *lane,
                                        double *wlane) {
    const __m256 vm = _mm256_set1_ps(mx);
    __m256d s0 = _mm256_setzero_pd(), s1 = s0, w0 = s0, w1 = s0;
    for (int j = 0; j < n; j += 8) {
        __m256i m = tail_mask(n - j); /* all set but in the last step */
        __m256 d = _mm256_sub_ps(_mm256_maskload_ps(x + j, m), vm);
        __m256 e = exp_avx2(d);
        e = _mm256_and_ps(e, _mm256_castsi256_ps(m)); /* masked-off lanes add 0 */
        if (y) _mm256_maskstore_ps(y + j, m, e);
        __m256d e0 = _mm256_cvtps_pd(_mm256_castps256_ps128(e));
        __m256d e1 = _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1));
        s0 = _mm256_add_pd(s0, e0);
        s1 = _mm256_add_pd(s1, e1);
        if (wlane) {
            __m256 nd = _mm256_xor_ps(d, _mm256_set1_ps(-0.0f));
            w0 = _mm256_add_pd(w0, _mm256_mul_pd(e0, _mm256_cvtps_pd(_mm256_castps256_ps128(nd))));
            w1 =
                _mm256_add_pd(w1, _mm256_mul_pd(e1, _mm256_cvtps_pd(_mm256_extractf128_ps(nd, 1))));
        }
    }
    _mm256_storeu_pd(lane, s0);
    _mm256_storeu_pd(lane + 4, s1);
    if (wlane) {
        _mm256_storeu_pd(wlane, w0);
        _mm256_storeu_pd(wlane + 4, w1);
    }
}

QS_TARGET_AVX2 static float softmax_avx2(float *row, int n, int P, double *entropy) {
    const float mx = max_avx2(row, n);
    double lane[8], wlane[8];
    exp_sum_avx2(row, row, n, mx, lane, entropy ? wlane : NULL);
    if (entropy) {
        double l2[8];
        memcpy(l2, lane, sizeof l2);
        *entropy = softmax_entropy(l2, wlane);
    }
    const float inv = (float)(1.0 / fold8(lane));
    const __m256 vi = _mm256_set1_ps(inv);
    for (int j = 0; j < n; j += 8) {
        __m256i m = tail_mask(n - j);
        _mm256_maskstore_ps(row + j, m, _mm256_mul_ps(_mm256_maskload_ps(row + j, m), vi));
    }
    for (int j = n; j < P; j += 8) { /* the mask: zeros */
        __m256i m = tail_mask(P - j);
        _mm256_maskstore_ps(row + j, m, _mm256_setzero_ps());
    }
    return mx;
}

QS_TARGET_AVX2 static double logsumexp_avx2(const float *x, int n) {
    const float mx = max_avx2(x, n);
    double lane[8];
    exp_sum_avx2(NULL, x, n, mx, lane, NULL);
    return (double)mx + log(fold8(lane));
}

QS_TARGET_AVX2 static inline __m256 log_avx2(__m256 x) {
    const __m256i b = _mm256_castps_si256(x);
    __m256i e = _mm256_sub_epi32(_mm256_srli_epi32(b, 23), _mm256_set1_epi32(127));
    __m256 m = _mm256_castsi256_ps(_mm256_or_si256(
        _mm256_and_si256(b, _mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x3f800000)));
    const __m256 big = _mm256_cmp_ps(m, _mm256_set1_ps(SQRT2), _CMP_GT_OQ);
    m = _mm256_blendv_ps(m, _mm256_mul_ps(m, _mm256_set1_ps(0.5f)), big);
    e = _mm256_sub_epi32(e, _mm256_castps_si256(big)); /* big lanes are -1 */
    const __m256 u = _mm256_sub_ps(m, _mm256_set1_ps(1.0f));
    const __m256 sv = _mm256_div_ps(u, _mm256_add_ps(_mm256_set1_ps(2.0f), u));
    const __m256 z = _mm256_mul_ps(sv, sv);
    const __m256 h = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), u), u);
    __m256 r = _mm256_set1_ps(L9);
    r = _mm256_add_ps(_mm256_mul_ps(r, z), _mm256_set1_ps(L7));
    r = _mm256_add_ps(_mm256_mul_ps(r, z), _mm256_set1_ps(L5));
    r = _mm256_add_ps(_mm256_mul_ps(r, z), _mm256_set1_ps(L3));
    r = _mm256_mul_ps(r, z);
    const __m256 lm = _mm256_sub_ps(u, _mm256_sub_ps(h, _mm256_mul_ps(sv, _mm256_add_ps(h, r))));
    const __m256 ef = _mm256_cvtepi32_ps(e);
    return _mm256_add_ps(_mm256_mul_ps(ef, _mm256_set1_ps(LN2_HI)),
                         _mm256_add_ps(_mm256_mul_ps(ef, _mm256_set1_ps(LN2_LO)), lm));
}

QS_TARGET_AVX2 static double entropy_avx2(const float *p, int n) {
    const __m256 lo = _mm256_set1_ps(FLT_MIN), one = _mm256_set1_ps(1.0f);
    __m256d s0 = _mm256_setzero_pd(), s1 = s0;
    for (int j = 0; j < n; j += 8) {
        /* masked-off lanes read 0, below FLT_MIN like the p that add nothing */
        __m256 v = _mm256_maskload_ps(p + j, tail_mask(n - j));
        __m256 keep = _mm256_cmp_ps(v, lo, _CMP_GE_OQ);
        /* lanes not kept: the log of 1, then +0 */
        __m256 t = _mm256_and_ps(keep, _mm256_mul_ps(v, log_avx2(_mm256_blendv_ps(one, v, keep))));
        s0 = _mm256_sub_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(t)));
        s1 = _mm256_sub_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(t, 1)));
    }
    double lane[8];
    _mm256_storeu_pd(lane, s0);
    _mm256_storeu_pd(lane + 4, s1);
    return fold8(lane);
}

QS_TARGET_AVX2 static void accumulate_avx2(double *acc, const float *x, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        _mm256_storeu_pd(acc + i, _mm256_add_pd(_mm256_loadu_pd(acc + i),
                                                _mm256_cvtps_pd(_mm256_castps256_ps128(v))));
        _mm256_storeu_pd(acc + i + 4, _mm256_add_pd(_mm256_loadu_pd(acc + i + 4),
                                                    _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1))));
    }
    for (; i < n; i += 4) { /* the rest, 4 at a time through a mask */
        __m256i m4 = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(tail_mask(n - i)));
        __m128 v = _mm_maskload_ps(x + i, _mm256_castsi256_si128(tail_mask(n - i)));
        _mm256_maskstore_pd(acc + i, m4,
                            _mm256_add_pd(_mm256_maskload_pd(acc + i, m4), _mm256_cvtps_pd(v)));
    }
}

QS_TARGET_AVX2 static void axpy_avx2(float *y, float a, const float *x, int n) {
    const __m256 va = _mm256_set1_ps(a);
    for (int i = 0; i < n; i += 8) {
        __m256i m = tail_mask(n - i);
        _mm256_maskstore_ps(y + i, m,
                            _mm256_add_ps(_mm256_maskload_ps(y + i, m),
                                          _mm256_mul_ps(va, _mm256_maskload_ps(x + i, m))));
    }
}

QS_TARGET_AVX2 static void swiglu_avx2(float *h1, const float *h3, size_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    for (size_t i = 0; i < n; i += 8) {
        __m256i m = tail_mask(n - i < 8 ? (int)(n - i) : 8);
        __m256 g = _mm256_maskload_ps(h1 + i, m);
        __m256 e = exp_avx2(_mm256_xor_ps(g, sign));
        __m256 sg = _mm256_div_ps(g, _mm256_add_ps(one, e));
        _mm256_maskstore_ps(h1 + i, m, _mm256_mul_ps(sg, _mm256_maskload_ps(h3 + i, m)));
    }
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
QS_TARGET_AVX512 static float softmax_avx512(float *row, int n, int P, double *entropy) {
    int j = 0;
    __m512 vmx = _mm512_set1_ps(row[0]);
    for (; j + 16 <= n; j += 16) vmx = _mm512_max_ps(_mm512_loadu_ps(row + j), vmx);
    if (j < n)
        vmx = _mm512_mask_max_ps(vmx, (__mmask16)((1u << (n - j)) - 1),
                                 _mm512_maskz_loadu_ps((__mmask16)((1u << (n - j)) - 1), row + j),
                                 vmx);
    const float mx = _mm512_reduce_max_ps(vmx);
    const __m512 vm = _mm512_set1_ps(mx);
    __m512d s = _mm512_setzero_pd(), w = s;
    for (j = 0; j < n; j += 16) {
        __mmask16 m = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + j), vm);
        __m512 e = exp_avx512(d);
        _mm512_mask_storeu_ps(row + j, m, e);
        /* masked-off lanes are zeroed: they add nothing */
        e = _mm512_maskz_mov_ps(m, e);
        __m512d e0 = _mm512_cvtps_pd(_mm512_castps512_ps256(e));
        __m512d e1 =
            _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1)));
        s = _mm512_add_pd(s, e0);
        s = _mm512_add_pd(s, e1);
        if (entropy) {
            __m512 nd = _mm512_castsi512_ps(
                _mm512_xor_si512(_mm512_castps_si512(d), _mm512_set1_epi32(INT32_MIN)));
            w = _mm512_add_pd(w, _mm512_mul_pd(e0, _mm512_cvtps_pd(_mm512_castps512_ps256(nd))));
            w = _mm512_add_pd(
                w, _mm512_mul_pd(e1, _mm512_cvtps_pd(_mm256_castpd_ps(
                                         _mm512_extractf64x4_pd(_mm512_castps_pd(nd), 1)))));
        }
    }
    double lane[8];
    _mm512_storeu_pd(lane, s);
    if (entropy) {
        double l2[8], wlane[8];
        memcpy(l2, lane, sizeof l2);
        _mm512_storeu_pd(wlane, w);
        *entropy = softmax_entropy(l2, wlane);
    }
    const float inv = (float)(1.0 / fold8(lane));
    const __m512 vi = _mm512_set1_ps(inv);
    for (j = 0; j < n; j += 16) {
        __mmask16 m = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        _mm512_mask_storeu_ps(row + j, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, row + j), vi));
    }
    if (P > n) memset(row + n, 0, sizeof(float) * (size_t)(P - n));
    return mx;
}

QS_TARGET_AVX512 static double logsumexp_avx512(const float *x, int n) {
    __m512 vmx = _mm512_set1_ps(x[0]);
    for (int j = 0; j < n; j += 16) {
        __mmask16 m = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        vmx = _mm512_mask_max_ps(vmx, m, _mm512_maskz_loadu_ps(m, x + j), vmx);
    }
    const float mx = _mm512_reduce_max_ps(vmx);
    const __m512 vm = _mm512_set1_ps(mx);
    __m512d s = _mm512_setzero_pd();
    for (int j = 0; j < n; j += 16) {
        __mmask16 m = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        __m512 e =
            _mm512_maskz_mov_ps(m, exp_avx512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), vm)));
        s = _mm512_add_pd(s, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        s = _mm512_add_pd(
            s, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
    }
    double lane[8];
    _mm512_storeu_pd(lane, s);
    return (double)mx + log(fold8(lane));
}

QS_TARGET_AVX512 static inline __m512 log_avx512(__m512 x) {
    const __m512i b = _mm512_castps_si512(x);
    __m512i e = _mm512_sub_epi32(_mm512_srli_epi32(b, 23), _mm512_set1_epi32(127));
    __m512 m = _mm512_castsi512_ps(_mm512_or_si512(
        _mm512_and_si512(b, _mm512_set1_epi32(0x007fffff)), _mm512_set1_epi32(0x3f800000)));
    const __mmask16 big = _mm512_cmp_ps_mask(m, _mm512_set1_ps(SQRT2), _CMP_GT_OQ);
    m = _mm512_mask_mul_ps(m, big, m, _mm512_set1_ps(0.5f));
    e = _mm512_mask_add_epi32(e, big, e, _mm512_set1_epi32(1));
    const __m512 u = _mm512_sub_ps(m, _mm512_set1_ps(1.0f));
    const __m512 sv = _mm512_div_ps(u, _mm512_add_ps(_mm512_set1_ps(2.0f), u));
    const __m512 z = _mm512_mul_ps(sv, sv);
    const __m512 h = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), u), u);
    __m512 r = _mm512_set1_ps(L9);
    r = _mm512_add_ps(_mm512_mul_ps(r, z), _mm512_set1_ps(L7));
    r = _mm512_add_ps(_mm512_mul_ps(r, z), _mm512_set1_ps(L5));
    r = _mm512_add_ps(_mm512_mul_ps(r, z), _mm512_set1_ps(L3));
    r = _mm512_mul_ps(r, z);
    const __m512 lm = _mm512_sub_ps(u, _mm512_sub_ps(h, _mm512_mul_ps(sv, _mm512_add_ps(h, r))));
    const __m512 ef = _mm512_cvtepi32_ps(e);
    return _mm512_add_ps(_mm512_mul_ps(ef, _mm512_set1_ps(LN2_HI)),
                         _mm512_add_ps(_mm512_mul_ps(ef, _mm512_set1_ps(LN2_LO)), lm));
}

/* 16 at a time, summed 8 at a time into lanes 0-7 as the other paths. */
QS_TARGET_AVX512 static double entropy_avx512(const float *p, int n) {
    const __m512 lo = _mm512_set1_ps(FLT_MIN);
    __m512d s = _mm512_setzero_pd();
    for (int j = 0; j < n; j += 16) {
        __mmask16 m = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(m, p + j);
        __mmask16 keep = _mm512_mask_cmp_ps_mask(m, v, lo, _CMP_GE_OQ);
        __m512 t = _mm512_maskz_mul_ps(
            keep, v, log_avx512(_mm512_mask_mov_ps(_mm512_set1_ps(1.0f), keep, v)));
        s = _mm512_sub_pd(s, _mm512_cvtps_pd(_mm512_castps512_ps256(t)));
        s = _mm512_sub_pd(
            s, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(t), 1))));
    }
    double lane[8];
    _mm512_storeu_pd(lane, s);
    return fold8(lane);
}

QS_TARGET_AVX512 static void accumulate_avx512(double *acc, const float *x, int n) {
    for (int i = 0; i < n; i += 8) {
        __mmask8 m = n - i >= 8 ? (__mmask8)0xff : (__mmask8)((1u << (n - i)) - 1);
        __m256 v = _mm256_maskz_loadu_ps(m, x + i);
        _mm512_mask_storeu_pd(acc + i, m,
                              _mm512_add_pd(_mm512_maskz_loadu_pd(m, acc + i), _mm512_cvtps_pd(v)));
    }
}

QS_TARGET_AVX512 static void axpy_avx512(float *y, float a, const float *x, int n) {
    const __m512 va = _mm512_set1_ps(a);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m,
                              _mm512_add_ps(_mm512_maskz_loadu_ps(m, y + i),
                                            _mm512_mul_ps(va, _mm512_maskz_loadu_ps(m, x + i))));
    }
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

float qs_softmax_row(float *row, int n, int P, double *entropy) {
#if QS_HAVE_X86_SIMD
    int path = qs_cpu_path();
    if (path >= QS_CPU_AVX512) return softmax_avx512(row, n, P, entropy);
    if (path == QS_CPU_AVX2) return softmax_avx2(row, n, P, entropy);
#endif
    return softmax_scalar(row, n, P, entropy);
}

double qs_logsumexp(const float *x, int n) {
#if QS_HAVE_X86_SIMD
    int path = qs_cpu_path();
    if (path >= QS_CPU_AVX512) return logsumexp_avx512(x, n);
    if (path == QS_CPU_AVX2) return logsumexp_avx2(x, n);
#endif
    return logsumexp_scalar(x, n);
}

double qs_entropy(const float *p, int n) {
#if QS_HAVE_X86_SIMD
    int path = qs_cpu_path();
    if (path >= QS_CPU_AVX512) return entropy_avx512(p, n);
    if (path == QS_CPU_AVX2) return entropy_avx2(p, n);
#endif
    return entropy_scalar(p, n);
}

void qs_accumulate(double *acc, const float *x, int n) {
#if QS_HAVE_X86_SIMD
    int path = qs_cpu_path();
    if (path >= QS_CPU_AVX512) return accumulate_avx512(acc, x, n);
    if (path == QS_CPU_AVX2) return accumulate_avx2(acc, x, n);
#endif
    accumulate_scalar(acc, x, n);
}

void qs_axpy(float *y, float a, const float *x, int n) {
#if QS_HAVE_X86_SIMD
    int path = qs_cpu_path();
    if (path >= QS_CPU_AVX512) return axpy_avx512(y, a, x, n);
    if (path == QS_CPU_AVX2) return axpy_avx2(y, a, x, n);
#endif
    axpy_scalar(y, a, x, n);
}

void qs_swiglu(float *h1, const float *h3, size_t n) {
#if QS_HAVE_X86_SIMD
    int path = qs_cpu_path();
    if (path >= QS_CPU_AVX512) return swiglu_avx512(h1, h3, n);
    if (path == QS_CPU_AVX2) return swiglu_avx2(h1, h3, n);
#endif
    swiglu_scalar(h1, h3, n);
}
