#include "chanstats.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "finite.h"
#include "select.h"
#include "simd.h"

/* Channels are processed in blocks so a thread walks rows of contiguous floats instead of
 * striding down one column; each block (hence each channel) belongs to one thread. */
#define QS_CHANSTATS_BLOCK 64

struct qs_chanstats {
    int C;
    qs_chanstats_config cfg;
    int64_t n; /* tokens */
    int64_t n_windows;
    /* per channel, (C) each, carved from one allocation */
    double *mean, *m2, *m3, *m4;
    double *min, *max, *absmax;
    double *sum_abs, *sum_sq;
    int64_t *n_out, *n_int8, *n_outwin;
};

static const char *const field_names[QS_CHANSTATS_FIELD_COUNT] = {
    "mean",
    "var",
    "std",
    "skewness",
    "kurtosis",
    "min",
    "max",
    "absmax",
    "mean_abs",
    "mean_sq",
    "n_outlier_tokens",
    "n_int8_tokens",
    "n_windows",
    "n_outlier_windows",
};

const char *qs_chanstats_field_name(int field) {
    if (field < 0 || field >= QS_CHANSTATS_FIELD_COUNT) return NULL;
    return field_names[field];
}

qs_chanstats_config qs_chanstats_config_default(void) {
    qs_chanstats_config c = {20.0, 0.5, 6.0};
    return c;
}

static int check_config(const qs_chanstats_config *c) {
    if (!(c->tau > 0.0) || isinf(c->tau))
        return qs_error_set(QS_ERR_ARG, "chanstats: tau must be a finite number > 0, got %g",
                            c->tau);
    if (!(c->phi >= 0.0 && c->phi <= 1.0))
        return qs_error_set(QS_ERR_ARG, "chanstats: phi must be in [0, 1], got %g", c->phi);
    if (!(c->int8_threshold > 0.0))
        return qs_error_set(QS_ERR_ARG, "chanstats: int8_threshold must be > 0, got %g",
                            c->int8_threshold);
    return QS_OK;
}

int qs_chanstats_create(qs_chanstats **out, int C, const qs_chanstats_config *cfg) {
    if (!out) return qs_error_set(QS_ERR_ARG, "chanstats: NULL output");
    *out = NULL;
    if (C < 1) return qs_error_set(QS_ERR_ARG, "chanstats: need C >= 1, got %d", C);
    qs_chanstats_config c = cfg ? *cfg : qs_chanstats_config_default();
    int rc = check_config(&c);
    if (rc) return rc;
    qs_chanstats *s = calloc(1, sizeof *s);
    /* 9 double arrays and 3 int64 arrays, all 8-byte elements */
    void *block = calloc((size_t)C * 12, 8);
    if (!s || !block) {
        free(s);
        free(block);
        return qs_error_set(QS_ERR_NOMEM, "chanstats: %d channels", C);
    }
    s->C = C;
    s->cfg = c;
    double *d = block;
    s->mean = d;
    s->m2 = d + (size_t)C;
    s->m3 = d + 2 * (size_t)C;
    s->m4 = d + 3 * (size_t)C;
    s->min = d + 4 * (size_t)C;
    s->max = d + 5 * (size_t)C;
    s->absmax = d + 6 * (size_t)C;
    s->sum_abs = d + 7 * (size_t)C;
    s->sum_sq = d + 8 * (size_t)C;
    int64_t *k = (int64_t *)(d + 9 * (size_t)C);
    s->n_out = k;
    s->n_int8 = k + C;
    s->n_outwin = k + 2 * (size_t)C;
    *out = s;
    return QS_OK;
}

void qs_chanstats_free(qs_chanstats *s) {
    if (!s) return;
    free(s->mean); /* the start of the carved block */
    free(s);
}

/* r(t,c) >= tau with r = a/m, and the m = 0 convention of the header */
static inline int is_outlier(double a, double m, double tau) {
    if (m > 0.0) return a / m >= tau;
    return a > 0.0;
}

static void merge_channel(qs_chanstats *s, int c, qs_moments w) {
    qs_moments acc = {s->n, s->mean[c], s->m2[c], s->m3[c], s->m4[c]};
    qs_moments r = qs_moments_merge(acc, w);
    s->mean[c] = r.mean;
    s->m2[c] = r.m2;
    s->m3[c] = r.m3;
    s->m4[c] = r.m4;
}

/* One channel block of one window. Every quantity of channel c is computed by the thread
 * that owns the block, in token order, so the thread count cannot change a bit. */
static void add_block(qs_chanstats *s, const float *x, const double *med, int T, int c0, int c1) {
    const int C = s->C;
    const int w = c1 - c0;
    const double tau = s->cfg.tau, thr = s->cfg.int8_threshold;
    double sum[QS_CHANSTATS_BLOCK], sabs[QS_CHANSTATS_BLOCK], ssq[QS_CHANSTATS_BLOCK];
    double mn[QS_CHANSTATS_BLOCK], mx[QS_CHANSTATS_BLOCK], amax[QS_CHANSTATS_BLOCK];
    int64_t nout[QS_CHANSTATS_BLOCK], nint8[QS_CHANSTATS_BLOCK];
    for (int j = 0; j < w; j++) {
        sum[j] = sabs[j] = ssq[j] = 0.0;
        mn[j] = INFINITY;
        mx[j] = -INFINITY;
        amax[j] = 0.0;
        nout[j] = nint8[j] = 0;
    }
    for (int t = 0; t < T; t++) {
        const float *row = x + (size_t)t * C + c0;
        const double m = med[t];
        for (int j = 0; j < w; j++) {
            double v = row[j], a = fabs(v);
            sum[j] += v;
            sabs[j] += a;
            ssq[j] += v * v;
            if (v < mn[j]) mn[j] = v;
            if (v > mx[j]) mx[j] = v;
            if (a > amax[j]) amax[j] = a;
            nout[j] += is_outlier(a, m, tau);
            nint8[j] += a >= thr;
        }
    }
    /* second pass: central sums about the window mean */
    double mean[QS_CHANSTATS_BLOCK], m2[QS_CHANSTATS_BLOCK], m3[QS_CHANSTATS_BLOCK],
        m4[QS_CHANSTATS_BLOCK];
    for (int j = 0; j < w; j++) {
        mean[j] = sum[j] / (double)T;
        m2[j] = m3[j] = m4[j] = 0.0;
    }
    for (int t = 0; t < T; t++) {
        const float *row = x + (size_t)t * C + c0;
        for (int j = 0; j < w; j++) {
            double d = (double)row[j] - mean[j], d2 = d * d;
            m2[j] += d2;
            m3[j] += d2 * d;
            m4[j] += d2 * d2;
        }
    }
    for (int j = 0; j < w; j++) {
        int c = c0 + j;
        qs_moments win = {T, mean[j], m2[j], m3[j], m4[j]};
        merge_channel(s, c, win);
        if (s->n == 0 || mn[j] < s->min[c]) s->min[c] = mn[j];
        if (s->n == 0 || mx[j] > s->max[c]) s->max[c] = mx[j];
        if (amax[j] > s->absmax[c]) s->absmax[c] = amax[j];
        s->sum_abs[c] += sabs[j];
        s->sum_sq[c] += ssq[j];
        s->n_out[c] += nout[j];
        s->n_int8[c] += nint8[j];
        s->n_outwin[c] += (double)nout[j] / (double)T >= s->cfg.phi;
    }
}

static int check_add_args(const qs_chanstats *s, const float *x, int T, int C) {
    if (!s || !x) return qs_error_set(QS_ERR_ARG, "chanstats add: NULL argument");
    if (C != s->C)
        return qs_error_set(QS_ERR_ARG, "chanstats add: window has C=%d channels, accumulator %d",
                            C, s->C);
    if (T < 1) return qs_error_set(QS_ERR_ARG, "chanstats add: need T >= 1, got %d", T);
    return QS_OK;
}

static int report_nonfinite(const float *x, int T, int C) {
    int64_t bad = qs__first_nonfinite(x, (int64_t)T * C);
    return qs_error_set(QS_ERR_NUMERIC, "chanstats add: non-finite value %g at (t=%lld, c=%lld)",
                        (double)x[bad], (long long)(bad / C), (long long)(bad % C));
}

static int validate_add(const qs_chanstats *s, const float *x, int T, int C) {
    int rc = check_add_args(s, x, T, C);
    if (rc) return rc;
    if (qs__first_nonfinite(x, (int64_t)T * C) >= 0) return report_nonfinite(x, T, C);
    return QS_OK;
}

/* The scalar path of both adds, after validation; med (T) holds the per-token medians. */
static void add_window(qs_chanstats *s, const float *x, const double *med, int T) {
    const int C = s->C;
    const int nblocks = (C + QS_CHANSTATS_BLOCK - 1) / QS_CHANSTATS_BLOCK;
#pragma omp parallel for schedule(static) if ((int64_t)T * C >= QS__PAR_MIN_ELEMENTS)
    for (int b = 0; b < nblocks; b++) {
        int c0 = b * QS_CHANSTATS_BLOCK;
        int c1 = c0 + QS_CHANSTATS_BLOCK < C ? c0 + QS_CHANSTATS_BLOCK : C;
        add_block(s, x, med, T, c0, c1);
    }
    s->n += T;
    s->n_windows++;
}

/* The smallest float a >= 0, as bits (simd.h), with is_outlier(a, m, tau); +inf's bits
 * when no finite float qualifies. is_outlier is monotone in a, so "bits of |x| >= this"
 * is exactly is_outlier(|x|, m, tau), without a division per element. */
static uint32_t outlier_threshold(double m, double tau) {
    if (!(m > 0.0)) return 1; /* a > 0: every nonzero, down to the smallest subnormal */
    float g = (float)(tau * m);
    uint32_t u = isinf(g) || g > 3.4e38f ? 0x7f800000u : qs__abs_bits(g);
    while (u > 0 && is_outlier(qs__bits_float(u - 1), m, tau)) u--;
    while (u < 0x7f800000u && !is_outlier(qs__bits_float(u), m, tau)) u++;
    return u;
}

/* The smallest float a >= 0, as bits, with (double)a >= thr (thr > 0). */
static uint32_t at_least_threshold(double thr) {
    float g = (float)thr;
    uint32_t u = isinf(g) ? 0x7f800000u : qs__abs_bits(g);
    while (u > 0 && (double)qs__bits_float(u - 1) >= thr) u--;
    while (u < 0x7f800000u && !((double)qs__bits_float(u) >= thr)) u++;
    return u;
}

/* One window's statistics per channel, (C) each, before they are merged in. */
typedef struct window {
    double *mean, *m2, *m3, *m4, *min, *max, *absmax, *sum_abs, *sum_sq;
    int64_t *n_out, *n_int8;
} window;

#define WINDOW_ARRAYS 11

/* A strip kernel: channels c0 .. c0 + nch of one window, packed as xs (T, W) with W the
 * kernel's width (lanes past nch hold zeros), into w: the same operations in the same
 * token order as add_block on each channel, so every bit agrees with it. Returns nonzero
 * when the strip holds a NaN or infinity. thr (T): outlier_threshold per token; thr8:
 * at_least_threshold of the int8 threshold. */
typedef int (*strip_fn)(window *w, const float *xs, int T, int c0, int nch, const uint32_t *thr,
                        uint32_t thr8);

#if QS_HAVE_X86_SIMD
#include <immintrin.h>

/* 8 channels: keys of |x| against the per-token thresholds (signed compares order keys,
 * which are below 2^31), moments in two 4-lane double halves. */
QS_TARGET_AVX2 static int strip_avx2(window *w, const float *xs, int T, int c0, int nch,
                                     const uint32_t *thr, uint32_t thr8) {
    const __m256i absmask = _mm256_set1_epi32(0x7fffffff);
    const __m256i finite_max = _mm256_set1_epi32(0x7f7fffff);
    const __m256i v8 = _mm256_set1_epi32((int)thr8 - 1); /* u >= thr8 as u > thr8 - 1 */
    const __m256d dabs = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffffll));
    __m256d sum0 = _mm256_setzero_pd(), sum1 = sum0, sab0 = sum0, sab1 = sum0, ssq0 = sum0,
            ssq1 = sum0;
    __m256 mn = _mm256_set1_ps(INFINITY), mx = _mm256_set1_ps(-INFINITY),
           amax = _mm256_setzero_ps();
    __m256i nout = _mm256_setzero_si256(), nint8 = nout, bad = nout;
    for (int t = 0; t < T; t++) {
        __m256 v = _mm256_loadu_ps(xs + (size_t)t * 8);
        __m256i u = _mm256_and_si256(_mm256_castps_si256(v), absmask);
        __m256 a = _mm256_castsi256_ps(u);
        bad = _mm256_or_si256(bad, _mm256_cmpgt_epi32(u, finite_max));
        mn = _mm256_min_ps(v, mn); /* v < mn ? v : mn, as add_block */
        mx = _mm256_max_ps(v, mx);
        amax = _mm256_max_ps(a, amax);
        /* compares give -1 per lane: subtracting counts */
        nout = _mm256_sub_epi32(nout, _mm256_cmpgt_epi32(u, _mm256_set1_epi32((int)thr[t] - 1)));
        nint8 = _mm256_sub_epi32(nint8, _mm256_cmpgt_epi32(u, v8));
        __m256d d0 = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
        __m256d d1 = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        sum0 = _mm256_add_pd(sum0, d0);
        sum1 = _mm256_add_pd(sum1, d1);
        sab0 = _mm256_add_pd(sab0, _mm256_and_pd(d0, dabs));
        sab1 = _mm256_add_pd(sab1, _mm256_and_pd(d1, dabs));
        ssq0 = _mm256_add_pd(ssq0, _mm256_mul_pd(d0, d0));
        ssq1 = _mm256_add_pd(ssq1, _mm256_mul_pd(d1, d1));
    }
    if (!_mm256_testz_si256(bad, bad)) return 1;
    const __m256d nT = _mm256_set1_pd((double)T);
    __m256d mean0 = _mm256_div_pd(sum0, nT), mean1 = _mm256_div_pd(sum1, nT);
    __m256d m20 = _mm256_setzero_pd(), m21 = m20, m30 = m20, m31 = m20, m40 = m20, m41 = m20;
    for (int t = 0; t < T; t++) {
        __m256 v = _mm256_loadu_ps(xs + (size_t)t * 8);
        __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), mean0);
        __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), mean1);
        __m256d q0 = _mm256_mul_pd(d0, d0), q1 = _mm256_mul_pd(d1, d1);
        m20 = _mm256_add_pd(m20, q0);
        m21 = _mm256_add_pd(m21, q1);
        m30 = _mm256_add_pd(m30, _mm256_mul_pd(q0, d0));
        m31 = _mm256_add_pd(m31, _mm256_mul_pd(q1, d1));
        m40 = _mm256_add_pd(m40, _mm256_mul_pd(q0, q0));
        m41 = _mm256_add_pd(m41, _mm256_mul_pd(q1, q1));
    }
    /* through lane arrays, so a short strip stores only its channels */
    double d[6][8];
    float f[3][8];
    int32_t k[2][8];
#define STORE2(i, v0, v1)               \
    do {                                \
        _mm256_storeu_pd(d[i], v0);     \
        _mm256_storeu_pd(d[i] + 4, v1); \
    } while (0)
    STORE2(0, mean0, mean1);
    STORE2(1, m20, m21);
    STORE2(2, m30, m31);
    STORE2(3, m40, m41);
    STORE2(4, sab0, sab1);
    STORE2(5, ssq0, ssq1);
#undef STORE2
    _mm256_storeu_ps(f[0], mn);
    _mm256_storeu_ps(f[1], mx);
    _mm256_storeu_ps(f[2], amax);
    _mm256_storeu_si256((__m256i *)k[0], nout);
    _mm256_storeu_si256((__m256i *)k[1], nint8);
    for (int j = 0; j < nch; j++) {
        int c = c0 + j;
        w->mean[c] = d[0][j];
        w->m2[c] = d[1][j];
        w->m3[c] = d[2][j];
        w->m4[c] = d[3][j];
        w->sum_abs[c] = d[4][j];
        w->sum_sq[c] = d[5][j];
        w->min[c] = f[0][j];
        w->max[c] = f[1][j];
        w->absmax[c] = f[2][j];
        w->n_out[c] = k[0][j];
        w->n_int8[c] = k[1][j];
    }
    return 0;
}

/* 16 channels, masked stores. */
QS_TARGET_AVX512 static int strip_avx512(window *w, const float *xs, int T, int c0, int nch,
                                         const uint32_t *thr, uint32_t thr8) {
    const __mmask16 lanes = (__mmask16)(nch == 16 ? 0xffffu : (1u << nch) - 1);
    const __mmask8 lo8 = (__mmask8)(lanes & 0xff), hi8 = (__mmask8)(lanes >> 8);
    const __m512i absmask = _mm512_set1_epi32(0x7fffffff), infbits = _mm512_set1_epi32(0x7f800000);
    const __m512i one = _mm512_set1_epi32(1), v8 = _mm512_set1_epi32((int)thr8);
    __m512d sum0 = _mm512_setzero_pd(), sum1 = sum0, sab0 = sum0, sab1 = sum0, ssq0 = sum0,
            ssq1 = sum0;
    __m512 mn = _mm512_set1_ps(INFINITY), mx = _mm512_set1_ps(-INFINITY),
           amax = _mm512_setzero_ps();
    __m512i nout = _mm512_setzero_si512(), nint8 = nout;
    __mmask16 bad = 0;
    for (int t = 0; t < T; t++) {
        __m512 v = _mm512_loadu_ps(xs + (size_t)t * 16);
        __m512i u = _mm512_and_si512(_mm512_castps_si512(v), absmask);
        __m512 a = _mm512_castsi512_ps(u);
        bad |= _mm512_cmpge_epu32_mask(u, infbits);
        mn = _mm512_min_ps(v, mn);
        mx = _mm512_max_ps(v, mx);
        amax = _mm512_max_ps(a, amax);
        nout = _mm512_mask_add_epi32(
            nout, _mm512_cmpge_epu32_mask(u, _mm512_set1_epi32((int)thr[t])), nout, one);
        nint8 = _mm512_mask_add_epi32(nint8, _mm512_cmpge_epu32_mask(u, v8), nint8, one);
        __m512d d0 = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
        __m512d d1 =
            _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
        sum0 = _mm512_add_pd(sum0, d0);
        sum1 = _mm512_add_pd(sum1, d1);
        sab0 = _mm512_add_pd(sab0, _mm512_abs_pd(d0));
        sab1 = _mm512_add_pd(sab1, _mm512_abs_pd(d1));
        ssq0 = _mm512_add_pd(ssq0, _mm512_mul_pd(d0, d0));
        ssq1 = _mm512_add_pd(ssq1, _mm512_mul_pd(d1, d1));
    }
    if (bad) return 1;
    const __m512d nT = _mm512_set1_pd((double)T);
    __m512d mean0 = _mm512_div_pd(sum0, nT), mean1 = _mm512_div_pd(sum1, nT);
    __m512d m20 = _mm512_setzero_pd(), m21 = m20, m30 = m20, m31 = m20, m40 = m20, m41 = m20;
    for (int t = 0; t < T; t++) {
        __m512 v = _mm512_loadu_ps(xs + (size_t)t * 16);
        __m512d d0 = _mm512_sub_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(v)), mean0);
        __m512d d1 = _mm512_sub_pd(
            _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))),
            mean1);
        __m512d q0 = _mm512_mul_pd(d0, d0), q1 = _mm512_mul_pd(d1, d1);
        m20 = _mm512_add_pd(m20, q0);
        m21 = _mm512_add_pd(m21, q1);
        m30 = _mm512_add_pd(m30, _mm512_mul_pd(q0, d0));
        m31 = _mm512_add_pd(m31, _mm512_mul_pd(q1, d1));
        m40 = _mm512_add_pd(m40, _mm512_mul_pd(q0, q0));
        m41 = _mm512_add_pd(m41, _mm512_mul_pd(q1, q1));
    }
#define STORE2(arr, v0, v1)                              \
    do {                                                 \
        _mm512_mask_storeu_pd(w->arr + c0, lo8, v0);     \
        _mm512_mask_storeu_pd(w->arr + c0 + 8, hi8, v1); \
    } while (0)
#define WIDEN_LO(f) _mm512_cvtps_pd(_mm512_castps512_ps256(f))
#define WIDEN_HI(f) \
    _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1)))
    STORE2(mean, mean0, mean1);
    STORE2(m2, m20, m21);
    STORE2(m3, m30, m31);
    STORE2(m4, m40, m41);
    STORE2(sum_abs, sab0, sab1);
    STORE2(sum_sq, ssq0, ssq1);
    STORE2(min, WIDEN_LO(mn), WIDEN_HI(mn));
    STORE2(max, WIDEN_LO(mx), WIDEN_HI(mx));
    STORE2(absmax, WIDEN_LO(amax), WIDEN_HI(amax));
    _mm512_mask_storeu_epi64(w->n_out + c0, lo8,
                             _mm512_cvtepi32_epi64(_mm512_castsi512_si256(nout)));
    _mm512_mask_storeu_epi64(w->n_out + c0 + 8, hi8,
                             _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(nout, 1)));
    _mm512_mask_storeu_epi64(w->n_int8 + c0, lo8,
                             _mm512_cvtepi32_epi64(_mm512_castsi512_si256(nint8)));
    _mm512_mask_storeu_epi64(w->n_int8 + c0 + 8, hi8,
                             _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(nint8, 1)));
#undef STORE2
#undef WIDEN_LO
#undef WIDEN_HI
    return 0;
}
#endif

/* Merges a finished window into s, channel by channel: the same code as add_block's tail. */
static void commit_window(qs_chanstats *s, const window *w, int T) {
    /* a channel's merge costs about what 32 elements' scan does */
#pragma omp parallel for schedule(static) if (s->C >= QS__PAR_MIN_ELEMENTS / 32)
    for (int c = 0; c < s->C; c++) {
        qs_moments win = {T, w->mean[c], w->m2[c], w->m3[c], w->m4[c]};
        merge_channel(s, c, win);
        if (s->n == 0 || w->min[c] < s->min[c]) s->min[c] = w->min[c];
        if (s->n == 0 || w->max[c] > s->max[c]) s->max[c] = w->max[c];
        if (w->absmax[c] > s->absmax[c]) s->absmax[c] = w->absmax[c];
        s->sum_abs[c] += w->sum_abs[c];
        s->sum_sq[c] += w->sum_sq[c];
        s->n_out[c] += w->n_out[c];
        s->n_int8[c] += w->n_int8[c];
        s->n_outwin[c] += (double)w->n_out[c] / (double)T >= s->cfg.phi;
    }
    s->n += T;
    s->n_windows++;
}

/* Channels per group: a thread copies a group's columns (T, GROUP) out of the window and
 * runs the strips on the copy. */
#define GROUP 32

/* Channels c0 .. c0 + nch (<= GROUP) of x (T, C) into buf as strips of W channels,
 * strip-major (GROUP / W, T, W), zeros past nch. Each strip's two passes then walk
 * contiguous memory: walking a column strip of x itself re-reads every row from far
 * away, and with a row stride of a power of two bytes (C = 2048, 4096) all of its rows
 * fall into a few cache sets, so the second pass found nothing left in L1 or L2 (chanstats
 * 1.6x slower at C = 2048 than at C = 2056). */
static void pack_group(float *buf, const float *x, int T, int C, int c0, int nch, int W) {
    const int ns = GROUP / W;
    if (nch == GROUP) {
        for (int t = 0; t < T; t++) {
            const float *src = x + (size_t)t * C + c0;
            for (int s = 0; s < ns; s++) /* constant sizes: inlined vector moves */
                if (W == 8)
                    memcpy(buf + ((size_t)s * T + t) * 8, src + 8 * s, 8 * sizeof(float));
                else
                    memcpy(buf + ((size_t)s * T + t) * 16, src + 16 * s, 16 * sizeof(float));
        }
        return;
    }
    for (int t = 0; t < T; t++)
        for (int s = 0; s < ns; s++) {
            float *dst = buf + ((size_t)s * T + t) * W;
            int n = nch - s * W;
            n = n < 0 ? 0 : n > W ? W : n;
            memcpy(dst, x + (size_t)t * C + c0 + s * W, sizeof(float) * (size_t)n);
            memset(dst + n, 0, sizeof(float) * (size_t)(W - n));
        }
}

/* Window statistics into scratch by the path's strips, then merged only if every value was
 * finite, so an error leaves s as it was. med (T): the per-token medians. */
static int add_window_simd(int path, qs_chanstats *s, const float *x, const double *med, int T) {
    const int C = s->C;
    strip_fn strip = NULL;
    int W = 0;
#if QS_HAVE_X86_SIMD
    if (path >= QS_CPU_AVX512)
        strip = strip_avx512, W = 16;
    else if (path == QS_CPU_AVX2)
        strip = strip_avx2, W = 8;
#endif
    QS_ASSERT(strip != NULL);
    const int nt = omp_get_max_threads();
    uint32_t *thr = malloc(sizeof *thr * (size_t)T);                        /* (T) */
    double *block = malloc(sizeof(double) * WINDOW_ARRAYS * (size_t)C);     /* (11, C) */
    float *packed = malloc(sizeof(float) * (size_t)nt * (size_t)T * GROUP); /* (nt, T, GROUP) */
    if (!thr || !block || !packed) {
        free(thr);
        free(block);
        free(packed);
        return qs_error_set(QS_ERR_NOMEM, "chanstats add: scratch for T=%d, C=%d", T, C);
    }
    double *d[9];
    for (int i = 0; i < 9; i++) d[i] = block + (size_t)i * C;
    window w = {d[0],
                d[1],
                d[2],
                d[3],
                d[4],
                d[5],
                d[6],
                d[7],
                d[8],
                (int64_t *)(block + 9 * (size_t)C),
                (int64_t *)(block + 10 * (size_t)C)};
    for (int t = 0; t < T; t++) thr[t] = outlier_threshold(med[t], s->cfg.tau);
    const uint32_t thr8 = at_least_threshold(s->cfg.int8_threshold);
    const int ngroups = (C + GROUP - 1) / GROUP;
    int bad = 0;
#pragma omp parallel num_threads(nt) reduction(| : bad) if ((int64_t)T * C >= QS__PAR_MIN_ELEMENTS)
    {
        float *buf = packed + (size_t)omp_get_thread_num() * T * GROUP;
#pragma omp for schedule(dynamic, 1)
        for (int g = 0; g < ngroups; g++) {
            const int c0 = g * GROUP, nch = C - c0 < GROUP ? C - c0 : GROUP;
            pack_group(buf, x, T, C, c0, nch, W);
            for (int j = 0; j * W < nch; j++) {
                int n = nch - j * W < W ? nch - j * W : W;
                bad |= strip(&w, buf + (size_t)j * T * W, T, c0 + j * W, n, thr, thr8);
            }
        }
    }
    int rc = QS_OK;
    if (bad)
        rc = report_nonfinite(x, T, C);
    else
        commit_window(s, &w, T);
    free(thr);
    free(block);
    free(packed);
    return rc;
}

/* Scalar reference: one thread, medians by full sort, add_block as the definition. */
int qs_chanstats_add_ref(qs_chanstats *s, const float *x, int T, int C) {
    int rc = validate_add(s, x, T, C);
    if (rc) return rc;
    double *med = malloc(sizeof(double) * (size_t)T);   /* (T) */
    float *scratch = malloc(sizeof(float) * (size_t)C); /* (C) */
    if (!med || !scratch) {
        free(med);
        free(scratch);
        return qs_error_set(QS_ERR_NOMEM, "chanstats add: scratch for T=%d, C=%d", T, C);
    }
    for (int t = 0; t < T; t++) med[t] = qs_select_median_abs_ref(scratch, x + (size_t)t * C, C);
    for (int c0 = 0; c0 < C; c0 += QS_CHANSTATS_BLOCK)
        add_block(s, x, med, T, c0, c0 + QS_CHANSTATS_BLOCK < C ? c0 + QS_CHANSTATS_BLOCK : C);
    s->n += T;
    s->n_windows++;
    free(med);
    free(scratch);
    return QS_OK;
}

/* The window given its medians (T), on the path in use: the scalar path validates first
 * and runs add_block, the vector paths find NaN/inf in their strips. */
static int add_with_medians(qs_chanstats *s, const float *x, int T, int C, const double *med) {
    int path = qs_cpu_path();
    if (path == QS_CPU_SCALAR) {
        int rc = validate_add(s, x, T, C);
        if (rc == QS_OK) add_window(s, x, med, T);
        return rc;
    }
    return add_window_simd(path, s, x, med, T);
}

int qs_chanstats_add(qs_chanstats *s, const float *x, int T, int C) {
    int rc = check_add_args(s, x, T, C);
    if (rc) return rc;
    const int path = qs_cpu_path(), nt = omp_get_max_threads();
    const size_t len = (size_t)qs__select_buf_len(C);
    double *med = malloc(sizeof(double) * (size_t)T);             /* (T) */
    uint32_t *keys = malloc(sizeof *keys * 2 * len * (size_t)nt); /* (nt, 2, C + 64) */
    if (!med || !keys) {
        free(med);
        free(keys);
        return qs_error_set(QS_ERR_NOMEM, "chanstats add: scratch for T=%d, C=%d", T, C);
    }
    /* a NaN only makes its median meaningless; the add below reports it */
    if (!qs__median_abs_rows(path, med, x, T, C)) {
#pragma omp parallel num_threads(nt) if ((int64_t)T * C >= QS__PAR_MIN_ELEMENTS)
        {
            uint32_t *a = keys + (size_t)omp_get_thread_num() * 2 * len;
#pragma omp for schedule(dynamic, 8)
            for (int t = 0; t < T; t++)
                med[t] = qs__median_abs_keys(path, x + (size_t)t * C, C, a, a + len);
        }
    }
    rc = add_with_medians(s, x, T, C, med);
    free(med);
    free(keys);
    return rc;
}

int qs_chanstats_add_scan(qs_chanstats *s, const float *x, int T, int C,
                          const qs_token_stat *scan) {
    if (!scan) return qs_error_set(QS_ERR_ARG, "chanstats add: NULL scan");
    int rc = check_add_args(s, x, T, C);
    if (rc) return rc;
    double *med = malloc(sizeof(double) * (size_t)T); /* (T) */
    if (!med) return qs_error_set(QS_ERR_NOMEM, "chanstats add: %d medians", T);
    for (int t = 0; t < T; t++) med[t] = scan[t].median_abs;
    rc = add_with_medians(s, x, T, C, med);
    free(med);
    return rc;
}

int qs_chanstats_merge(qs_chanstats *a, const qs_chanstats *b) {
    if (!a || !b) return qs_error_set(QS_ERR_ARG, "chanstats merge: NULL argument");
    if (a == b) return qs_error_set(QS_ERR_ARG, "chanstats merge: cannot merge into itself");
    if (a->C != b->C) return qs_error_set(QS_ERR_ARG, "chanstats merge: C=%d vs C=%d", a->C, b->C);
    if (memcmp(&a->cfg, &b->cfg, sizeof a->cfg) != 0)
        return qs_error_set(QS_ERR_ARG,
                            "chanstats merge: configs differ (tau %g/%g, phi %g/%g, "
                            "int8 %g/%g)",
                            a->cfg.tau, b->cfg.tau, a->cfg.phi, b->cfg.phi, a->cfg.int8_threshold,
                            b->cfg.int8_threshold);
    if (b->n == 0) return QS_OK;
    for (int c = 0; c < a->C; c++) {
        qs_moments mb = {b->n, b->mean[c], b->m2[c], b->m3[c], b->m4[c]};
        merge_channel(a, c, mb);
        if (a->n == 0 || b->min[c] < a->min[c]) a->min[c] = b->min[c];
        if (a->n == 0 || b->max[c] > a->max[c]) a->max[c] = b->max[c];
        if (b->absmax[c] > a->absmax[c]) a->absmax[c] = b->absmax[c];
        a->sum_abs[c] += b->sum_abs[c];
        a->sum_sq[c] += b->sum_sq[c];
        a->n_out[c] += b->n_out[c];
        a->n_int8[c] += b->n_int8[c];
        a->n_outwin[c] += b->n_outwin[c];
    }
    a->n += b->n;
    a->n_windows += b->n_windows;
    return QS_OK;
}

int qs_chanstats_channels(const qs_chanstats *s) { return s->C; }
int64_t qs_chanstats_count(const qs_chanstats *s) { return s->n; }
int64_t qs_chanstats_windows(const qs_chanstats *s) { return s->n_windows; }
qs_chanstats_config qs_chanstats_get_config(const qs_chanstats *s) { return s->cfg; }

qs_moments qs_chanstats_moments(const qs_chanstats *s, int c) {
    qs_moments m = {s->n, s->mean[c], s->m2[c], s->m3[c], s->m4[c]};
    return m;
}

int qs_chanstats_channel_get(const qs_chanstats *s, int c, qs_chanstats_channel *out) {
    if (!s || !out) return qs_error_set(QS_ERR_ARG, "chanstats: NULL argument");
    if (c < 0 || c >= s->C)
        return qs_error_set(QS_ERR_ARG, "chanstats: channel %d out of range [0, %d)", c, s->C);
    qs_moments m = qs_chanstats_moments(s, c);
    int empty = s->n == 0;
    out->count = s->n;
    out->mean = empty ? NAN : m.mean;
    out->var = qs_moments_variance(&m);
    out->std = sqrt(out->var);
    out->skewness = qs_moments_skewness(&m);
    out->kurtosis = qs_moments_kurtosis(&m);
    out->min = empty ? NAN : s->min[c];
    out->max = empty ? NAN : s->max[c];
    out->absmax = empty ? NAN : s->absmax[c];
    out->mean_abs = empty ? NAN : s->sum_abs[c] / (double)s->n;
    out->mean_sq = empty ? NAN : s->sum_sq[c] / (double)s->n;
    out->n_outlier_tokens = s->n_out[c];
    out->n_int8_tokens = s->n_int8[c];
    out->n_windows = s->n_windows;
    out->n_outlier_windows = s->n_outwin[c];
    return QS_OK;
}

int qs_chanstats_column(const qs_chanstats *s, int field, double *out) {
    if (!s || !out) return qs_error_set(QS_ERR_ARG, "chanstats column: NULL argument");
    if (field < 0 || field >= QS_CHANSTATS_FIELD_COUNT)
        return qs_error_set(QS_ERR_ARG, "chanstats column: unknown field %d", field);
    for (int c = 0; c < s->C; c++) {
        qs_chanstats_channel ch;
        qs_chanstats_channel_get(s, c, &ch);
        double v = 0.0;
        switch (field) {
        case QS_CHANSTATS_MEAN: v = ch.mean; break;
        case QS_CHANSTATS_VAR: v = ch.var; break;
        case QS_CHANSTATS_STD: v = ch.std; break;
        case QS_CHANSTATS_SKEWNESS: v = ch.skewness; break;
        case QS_CHANSTATS_KURTOSIS: v = ch.kurtosis; break;
        case QS_CHANSTATS_MIN: v = ch.min; break;
        case QS_CHANSTATS_MAX: v = ch.max; break;
        case QS_CHANSTATS_ABSMAX: v = ch.absmax; break;
        case QS_CHANSTATS_MEAN_ABS: v = ch.mean_abs; break;
        case QS_CHANSTATS_MEAN_SQ: v = ch.mean_sq; break;
        case QS_CHANSTATS_N_OUTLIER_TOKENS: v = (double)ch.n_outlier_tokens; break;
        case QS_CHANSTATS_N_INT8_TOKENS: v = (double)ch.n_int8_tokens; break;
        case QS_CHANSTATS_N_WINDOWS: v = (double)ch.n_windows; break;
        case QS_CHANSTATS_N_OUTLIER_WINDOWS: v = (double)ch.n_outlier_windows; break;
        }
        out[c] = v;
    }
    return QS_OK;
}
