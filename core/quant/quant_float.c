/* Floating-point formats: FP8 (E4M3, E5M2) with fp16/fp32 scales, the OCP microscaling
 * formats (MXFP8, MXFP6, MXFP4: E8M0 block scales) and NVFP4 (E2M1 elements, E4M3 block
 * scales, one fp32 tensor scale). quant.h states the encodings and the scale rules.
 *
 * Rounding a value to an element format has three versions that give the same bits:
 *   _ref     textbook: frexp for the binade, rint(a / quantum) in double, ldexp back
 *   scalar   the bit trick below on one float, portable C
 *   avx2/avx512  the same trick on 8/16 lanes, chosen at run time (base/cpu.h)
 * The trick: for a = |v| in the binade [2^e, 2^(e+1)) with e clamped below at the element's
 * smallest normal exponent, C = 2^(e + 23 - M) makes a + C land where the float ulp is
 * exactly the element's quantum 2^(e - M), so (a + C) - C is a rounded to the element grid,
 * ties to even, with no branch; subnormals fall out of the clamp. a is capped at twice the
 * max normal first (C stays finite), and a result above max normal saturates. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "cpu.h"
#include "quant_internal.h"

#if QS_HAVE_X86_SIMD
#include <immintrin.h>
#endif

/* A fused multiply-add would round differently from the reference. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off") /* and -ffp-contract=off in core/CMakeLists.txt */
#endif

static const qs_fp_format formats[QS_FP_ELEM_COUNT] = {
    /* name, bits, ebits, mbits, bias, emax, max normal, min normal, min subnormal */
    [QS_FP_E4M3] = {"e4m3", 8, 4, 3, 7, 8, 448.0f, 0x1p-6f, 0x1p-9f},
    [QS_FP_E5M2] = {"e5m2", 8, 5, 2, 15, 15, 57344.0f, 0x1p-14f, 0x1p-16f},
    [QS_FP_E3M2] = {"e3m2", 6, 3, 2, 3, 4, 28.0f, 0x1p-2f, 0x1p-4f},
    [QS_FP_E2M3] = {"e2m3", 6, 2, 3, 1, 2, 7.5f, 1.0f, 0x1p-3f},
    [QS_FP_E2M1] = {"e2m1", 4, 2, 1, 1, 2, 6.0f, 1.0f, 0.5f},
};

const qs_fp_format *qs_fp_format_of(int elem) {
    return elem >= 0 && elem < QS_FP_ELEM_COUNT ? &formats[elem] : NULL;
}

static inline uint32_t fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}
static inline float bitsf(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---- codes and the reference rounding ------------------------------------------------ */

int qs_fp_code_is_finite(int elem, unsigned code) {
    const qs_fp_format *f = &formats[elem];
    unsigned e = (code >> f->mbits) & ((1u << f->ebits) - 1), m = code & ((1u << f->mbits) - 1);
    if (elem == QS_FP_E4M3) return !(e == 15 && m == 7);
    if (elem == QS_FP_E5M2) return e != 31;
    return 1;
}

float qs_fp_decode(int elem, unsigned code) {
    const qs_fp_format *f = &formats[elem];
    code &= (1u << f->bits) - 1;
    unsigned sign = code >> (f->bits - 1);
    unsigned e = (code >> f->mbits) & ((1u << f->ebits) - 1), m = code & ((1u << f->mbits) - 1);
    float v;
    if (!qs_fp_code_is_finite(elem, code))
        v = (elem == QS_FP_E5M2 && m == 0) ? INFINITY : NAN;
    else if (e == 0)
        v = ldexpf((float)m, 1 - f->bias - f->mbits);
    else
        v = ldexpf((float)((1u << f->mbits) | m), (int)e - f->bias - f->mbits);
    return sign ? -v : v;
}

/* |v| rounded to the element grid (nearest, ties to even) without saturation; *over is set
 * when that exceeds the max normal, and the result then saturates. */
static double round_ref(const qs_fp_format *f, float v, int *over) {
    double a = fabs((double)v);
    int emin = 1 - f->bias, e = emin;
    if (a > 0.0) {
        frexp(a, &e); /* a = m·2^e, m in [0.5, 1) */
        e = e - 1 < emin ? emin : e - 1;
    }
    double quantum = ldexp(1.0, e - f->mbits);
    double r = rint(a / quantum) * quantum; /* a / quantum is exact: a power-of-two scaling */
    *over = r > f->max_normal;
    return *over ? f->max_normal : r;
}

/* The code of a magnitude r already on the grid (0 <= r <= max normal), with a sign. */
static unsigned code_of(const qs_fp_format *f, float r, int negative) {
    unsigned s = negative ? 1u << (f->bits - 1) : 0u;
    if (r < f->min_normal) return s | (unsigned)(r / f->min_subnormal); /* exact */
    uint32_t u = fbits(r);
    unsigned e = (u >> 23) - 127 + (unsigned)f->bias;
    unsigned m = (u >> (23 - f->mbits)) & ((1u << f->mbits) - 1);
    return s | e << f->mbits | m;
}

unsigned qs_fp_encode(int elem, float v) {
    const qs_fp_format *f = &formats[elem];
    int over;
    return code_of(f, (float)round_ref(f, v, &over), signbit(v) != 0);
}

float qs_fp_round(int elem, float v) { return qs_fp_decode(elem, qs_fp_encode(elem, v)); }

/* ---- the fast rounding --------------------------------------------------------------- */

typedef struct fp_consts {
    float maxn, cap;    /* max normal, 2·max normal */
    uint32_t emin_bits; /* float exponent field of 2^emin */
    uint32_t shift;     /* (23 - M) in the exponent field */
} fp_consts;

static fp_consts consts_of(const qs_fp_format *f) {
    fp_consts k = {f->max_normal, 2.0f * f->max_normal, (uint32_t)(1 - f->bias + 127) << 23,
                   (uint32_t)(23 - f->mbits) << 23};
    return k;
}

/* v rounded to the element grid with its sign; *over as in round_ref. */
static inline float round_one(const fp_consts *k, float v, int *over) {
    uint32_t u = fbits(v), sgn = u & 0x80000000u;
    float a = bitsf(u & 0x7fffffffu);
    a = a < k->cap ? a : k->cap;
    uint32_t eb = fbits(a) & 0x7f800000u;
    eb = eb > k->emin_bits ? eb : k->emin_bits;
    float c = bitsf(eb + k->shift);
    float r = (a + c) - c;
    *over = r > k->maxn;
    r = r < k->maxn ? r : k->maxn;
    return bitsf(fbits(r) | sgn);
}

/* A kernel: y = round(x / d)·s for n values; e (may be NULL) receives the signed element
 * values. Returns how many saturated. */
typedef long (*fp_kernel)(float *y, float *e, const float *x, int n, float d, float s,
                          const fp_consts *k);

static long kernel_scalar(float *y, float *e, const float *x, int n, float d, float s,
                          const fp_consts *k) {
    long over = 0;
    for (int i = 0; i < n; i++) {
        int o;
        float r = round_one(k, x[i] / d, &o);
        over += o;
        if (e) e[i] = r;
        y[i] = r * s;
    }
    return over;
}

#if QS_HAVE_X86_SIMD
QS_TARGET_AVX2 static long kernel_avx2(float *y, float *e, const float *x, int n, float d, float s,
                                       const fp_consts *k) {
    const __m256 vd = _mm256_set1_ps(d), vs = _mm256_set1_ps(s);
    const __m256 vmax = _mm256_set1_ps(k->maxn), vcap = _mm256_set1_ps(k->cap);
    const __m256i sign = _mm256_set1_epi32((int)0x80000000u), expo = _mm256_set1_epi32(0x7f800000);
    const __m256i emin = _mm256_set1_epi32((int)k->emin_bits),
                  shift = _mm256_set1_epi32((int)k->shift);
    __m256i cnt = _mm256_setzero_si256();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_div_ps(_mm256_loadu_ps(x + i), vd);
        __m256i sg = _mm256_and_si256(_mm256_castps_si256(v), sign);
        __m256 a = _mm256_min_ps(_mm256_andnot_ps(_mm256_castsi256_ps(sign), v), vcap);
        __m256i eb = _mm256_max_epi32(_mm256_and_si256(_mm256_castps_si256(a), expo), emin);
        __m256 c = _mm256_castsi256_ps(_mm256_add_epi32(eb, shift));
        __m256 r = _mm256_sub_ps(_mm256_add_ps(a, c), c);
        cnt = _mm256_sub_epi32(cnt, _mm256_castps_si256(_mm256_cmp_ps(r, vmax, _CMP_GT_OQ)));
        r = _mm256_or_ps(_mm256_min_ps(r, vmax), _mm256_castsi256_ps(sg));
        if (e) _mm256_storeu_ps(e + i, r);
        _mm256_storeu_ps(y + i, _mm256_mul_ps(r, vs));
    }
    int lanes[8];
    _mm256_storeu_si256((__m256i *)lanes, cnt);
    long over = 0;
    for (int j = 0; j < 8; j++) over += lanes[j];
    _mm256_zeroupper(); /* see kernel_avx512 */
    return over + kernel_scalar(y + i, e ? e + i : NULL, x + i, n - i, d, s, k);
}

QS_TARGET_AVX512 static long kernel_avx512(float *y, float *e, const float *x, int n, float d,
                                           float s, const fp_consts *k) {
    const __m512 vd = _mm512_set1_ps(d), vs = _mm512_set1_ps(s);
    const __m512 vmax = _mm512_set1_ps(k->maxn), vcap = _mm512_set1_ps(k->cap);
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u), expo = _mm512_set1_epi32(0x7f800000);
    const __m512i emin = _mm512_set1_epi32((int)k->emin_bits),
                  shift = _mm512_set1_epi32((int)k->shift);
    long over = 0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_div_ps(_mm512_loadu_ps(x + i), vd);
        __m512i vb = _mm512_castps_si512(v);
        __m512i sg = _mm512_and_si512(vb, sign);
        __m512 a = _mm512_min_ps(_mm512_castsi512_ps(_mm512_andnot_si512(sign, vb)), vcap);
        __m512i eb = _mm512_max_epu32(_mm512_and_si512(_mm512_castps_si512(a), expo), emin);
        __m512 c = _mm512_castsi512_ps(_mm512_add_epi32(eb, shift));
        __m512 r = _mm512_sub_ps(_mm512_add_ps(a, c), c);
        over += __builtin_popcount((unsigned)_mm512_cmp_ps_mask(r, vmax, _CMP_GT_OQ));
        r = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(_mm512_min_ps(r, vmax)), sg));
        if (e) _mm512_storeu_ps(e + i, r);
        _mm512_storeu_ps(y + i, _mm512_mul_ps(r, vs));
    }
    /* GCC 12 emits no vzeroupper before the tail call into scalar code: the dirty upper
     * halves then slow every legacy-SSE instruction after it (packed.c's run_avx2 had the
     * same fault, 5x on its own loop) */
    _mm256_zeroupper();
    return over + kernel_scalar(y + i, e ? e + i : NULL, x + i, n - i, d, s, k);
}
#endif

static fp_kernel kernel_for(int path) {
#if QS_HAVE_X86_SIMD
    if (path >= QS_CPU_AVX512) return kernel_avx512;
    if (path >= QS_CPU_AVX2) return kernel_avx2;
#endif
    (void)path;
    return kernel_scalar;
}

/* Fake-quantizes n values with grid g on the kernel of `path`, codes into q (may be NULL). */
static long fake_path(int path, int elem, float *y, int16_t *q, const float *x, int n,
                      const qs_quant_grid *g) {
    const qs_fp_format *f = &formats[elem];
    const fp_consts k = consts_of(f);
    fp_kernel run = kernel_for(path);
    /* a zero scale divides by +Inf: every value becomes ±0, no NaN, no branch */
    float d = g->scale != 0.0f ? g->scale : INFINITY;
    if (!q) return run(y, NULL, x, n, d, g->scale, &k);
    enum { CHUNK = 256 };
    float e[CHUNK]; /* (CHUNK) signed element values */
    long over = 0;
    for (int i0 = 0; i0 < n; i0 += CHUNK) {
        int m = n - i0 < CHUNK ? n - i0 : CHUNK;
        over += run(y + i0, e, x + i0, m, d, g->scale, &k);
        for (int j = 0; j < m; j++)
            q[i0 + j] = (int16_t)code_of(f, fabsf(e[j]), signbit(e[j]) != 0);
    }
    return over;
}

long qs__fp_fake_path(int path, int elem, float *y, int16_t *q, const float *x, int n,
                      const qs_quant_grid *g) {
    if (path > qs_cpu_path_supported()) return -1;
    return fake_path(path, elem, y, q, x, n, g);
}

static long fake_fast(int elem, float *y, int16_t *q, const float *x, int n,
                      const qs_quant_grid *g) {
    return fake_path(qs_cpu_path(), elem, y, q, x, n, g);
}

static long fake_ref(int elem, float *y, int16_t *q, const float *x, int n,
                     const qs_quant_grid *g) {
    const qs_fp_format *f = &formats[elem];
    long over = 0;
    for (int i = 0; i < n; i++) {
        float v = g->scale != 0.0f ? x[i] / g->scale : copysignf(0.0f, x[i]);
        int o;
        unsigned c = code_of(f, (float)round_ref(f, v, &o), signbit(v) != 0);
        over += o;
        if (q) q[i] = (int16_t)c;
        y[i] = qs_fp_decode(elem, c) * g->scale;
    }
    return over;
}

static void codes_fp(int elem, int16_t *q, const float *x, int n, const qs_quant_grid *g) {
    enum { CHUNK = 256 };
    float y[CHUNK];
    for (int i0 = 0; i0 < n; i0 += CHUNK) {
        int m = n - i0 < CHUNK ? n - i0 : CHUNK;
        fake_fast(elem, y, q + i0, x + i0, m, g);
    }
}

static void decode_fp(int elem, float *y, const int16_t *q, int n, const qs_quant_grid *g) {
    for (int i = 0; i < n; i++) y[i] = qs_fp_decode(elem, (unsigned)q[i]) * g->scale;
}

/* Distinct element values used (the codes of +0 and -0 count once). */
static int levels_fp(int elem, const float *y, long n, long stride, const qs_quant_grid *g) {
    if (g->scale == 0.0f) return 1;
    const qs_fp_format *f = &formats[elem];
    unsigned char seen[256] = {0};
    unsigned mag = (1u << (f->bits - 1)) - 1;
    int count = 0;
    /* y = e·s rounded at most once, so y / s is within an ulp or two of the element e */
    for (long i = 0; i < n; i++) {
        unsigned c = qs_fp_encode(elem, y[i * stride] / g->scale);
        if ((c & mag) == 0) c = 0;
        count += !seen[c];
        seen[c] = 1;
    }
    return count;
}

static double sse_fp(int elem, const float *x, int n, const qs_quant_grid *g, int ref) {
    double acc = 0.0;
    for (int i = 0; i < n; i++) {
        float y;
        if (ref)
            fake_ref(elem, &y, NULL, &x[i], 1, g);
        else
            fake_path(QS_CPU_SCALAR, elem, &y, NULL, &x[i], 1, g);
        double e = (double)y - (double)x[i];
        acc += e * e;
    }
    return acc;
}

/* ---- grids: a range to a scale ------------------------------------------------------- */

static void grid_init(qs_quant_grid *g, int elem) {
    g->scale = 0.0f;
    g->zero = 0;
    g->flags = 0;
    g->qhi = formats[elem].max_normal; /* the element range, for reports */
    g->qlo = -g->qhi;
}

/* fp8_*: s = t / max normal, fp16 (or fp32) like the integer scales */
static void grid_fp8(int elem, qs_quant_grid *g, float lo, float hi, int fp32_scales) {
    grid_init(g, elem);
    float t = fmaxf(-lo, hi);
    g->scale =
        qs__quant_store_scale(t / formats[elem].max_normal, t > 0.0f, fp32_scales, &g->flags);
}

/* mxfp*: the MX spec's E8M0 shared scale 2^(floor(log2 t) - emax_elem) */
static void grid_mx(int elem, qs_quant_grid *g, float lo, float hi) {
    grid_init(g, elem);
    float t = fmaxf(-lo, hi);
    if (!(t > 0.0f)) return;
    int k;
    frexpf(t, &k); /* t = m·2^k, m in [0.5, 1): floor(log2 t) = k - 1 */
    int e = k - 1 - formats[elem].emax;
    if (e < -127) e = -127, g->flags |= QS_QUANT_F_SUBNORMAL; /* E8M0's smallest scale */
    if (e > 127) e = 127;
    g->scale = ldexpf(1.0f, e);
}

/* nvfp4: E4M3 block scale under the fp32 tensor scale A / (448·6) */
static void grid_nv(qs_quant_grid *g, float lo, float hi, float tensor_amax) {
    grid_init(g, QS_FP_E2M1);
    float t = fmaxf(-lo, hi);
    if (!(t > 0.0f)) return;
    float gs = tensor_amax / (448.0f * 6.0f);
    float b = gs > 0.0f ? qs_fp_round(QS_FP_E4M3, (t / 6.0f) / gs) : 0.0f;
    g->scale = b * gs;
    if (b > 0.0f && b < formats[QS_FP_E4M3].min_normal) g->flags |= QS_QUANT_F_SUBNORMAL;
    if (g->scale == 0.0f) g->flags |= QS_QUANT_F_UNDERFLOW;
}

/* ---- the traits rows ----------------------------------------------------------------- */

static int meta_float(int bits, int fp32_scales) {
    (void)bits;
    return fp32_scales ? 32 : 16;
}
static int meta_byte(int bits, int fp32_scales) {
    (void)bits, (void)fp32_scales;
    return 8;
}

/* The kernels of one element type, as the traits' function pointers. */
#define ELEM_FNS(tag, elem)                                                                       \
    static long fake_##tag(float *y, int16_t *q, const float *x, int n, const qs_quant_grid *g) { \
        return fake_fast(elem, y, q, x, n, g);                                                    \
    }                                                                                             \
    static long fake_ref_##tag(float *y, int16_t *q, const float *x, int n,                       \
                               const qs_quant_grid *g) {                                          \
        return fake_ref(elem, y, q, x, n, g);                                                     \
    }                                                                                             \
    static void codes_##tag(int16_t *q, const float *x, int n, const qs_quant_grid *g) {          \
        codes_fp(elem, q, x, n, g);                                                               \
    }                                                                                             \
    static void decode_##tag(float *y, const int16_t *q, int n, const qs_quant_grid *g) {         \
        decode_fp(elem, y, q, n, g);                                                              \
    }                                                                                             \
    static int levels_##tag(const float *y, long n, long stride, const qs_quant_grid *g,          \
                            int bits) {                                                           \
        (void)bits;                                                                               \
        return levels_fp(elem, y, n, stride, g);                                                  \
    }                                                                                             \
    static double sse_##tag(const float *x, int n, const qs_quant_grid *g) {                      \
        return sse_fp(elem, x, n, g, 0);                                                          \
    }                                                                                             \
    static double sse_ref_##tag(const float *x, int n, const qs_quant_grid *g) {                  \
        return sse_fp(elem, x, n, g, 1);                                                          \
    }
ELEM_FNS(e4m3, QS_FP_E4M3)
ELEM_FNS(e5m2, QS_FP_E5M2)
ELEM_FNS(e3m2, QS_FP_E3M2)
ELEM_FNS(e2m3, QS_FP_E2M3)
ELEM_FNS(e2m1, QS_FP_E2M1)

#define GRID_FN(name, call)                                                           \
    static void name(qs_quant_grid *g, float lo, float hi, int bits, int fp32_scales, \
                     float tensor_amax) {                                             \
        (void)bits, (void)fp32_scales, (void)tensor_amax;                             \
        call;                                                                         \
    }
GRID_FN(grid_fp8_e4m3, grid_fp8(QS_FP_E4M3, g, lo, hi, fp32_scales))
GRID_FN(grid_fp8_e5m2, grid_fp8(QS_FP_E5M2, g, lo, hi, fp32_scales))
GRID_FN(grid_mx_e4m3, grid_mx(QS_FP_E4M3, g, lo, hi))
GRID_FN(grid_mx_e5m2, grid_mx(QS_FP_E5M2, g, lo, hi))
GRID_FN(grid_mx_e3m2, grid_mx(QS_FP_E3M2, g, lo, hi))
GRID_FN(grid_mx_e2m3, grid_mx(QS_FP_E2M3, g, lo, hi))
GRID_FN(grid_mx_e2m1, grid_mx(QS_FP_E2M1, g, lo, hi))
GRID_FN(grid_nvfp4, grid_nv(g, lo, hi, tensor_amax))

#define ROW(nm, tag, el, nb, blk, fixed, tmeta, gridfn, metafn)                                    \
    {                                                                                              \
        .name = nm, .has_zero_point = 0, .elem = el, .fixed_bits = nb, .default_group = blk,       \
        .fixed_scales = fixed, .tensor_meta_bits = tmeta, .grid = gridfn, .quantize = codes_##tag, \
        .dequantize = decode_##tag, .fake = fake_##tag, .fake_ref = fake_ref_##tag,                \
        .meta_bits = metafn, .levels = levels_##tag, .sse = sse_##tag, .sse_ref = sse_ref_##tag    \
    }

const qs_quant_traits qs__quant_float_traits[QS_QUANT_SCHEME_COUNT - QS_QUANT_INT_SCHEMES] = {
    ROW("fp8_e4m3", e4m3, QS_FP_E4M3, 8, 0, 0, 0, grid_fp8_e4m3, meta_float),
    ROW("fp8_e5m2", e5m2, QS_FP_E5M2, 8, 0, 0, 0, grid_fp8_e5m2, meta_float),
    ROW("mxfp8", e4m3, QS_FP_E4M3, 8, 32, 1, 0, grid_mx_e4m3, meta_byte),
    ROW("mxfp8_e5m2", e5m2, QS_FP_E5M2, 8, 32, 1, 0, grid_mx_e5m2, meta_byte),
    ROW("mxfp6_e3m2", e3m2, QS_FP_E3M2, 6, 32, 1, 0, grid_mx_e3m2, meta_byte),
    ROW("mxfp6_e2m3", e2m3, QS_FP_E2M3, 6, 32, 1, 0, grid_mx_e2m3, meta_byte),
    ROW("mxfp4", e2m1, QS_FP_E2M1, 4, 32, 1, 0, grid_mx_e2m1, meta_byte),
    ROW("nvfp4", e2m1, QS_FP_E2M1, 4, 16, 1, 32, grid_nvfp4, meta_byte),
};
