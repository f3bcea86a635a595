#include "tensorstats.h"

#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "finite.h"
#include "simd.h"

struct qs_tensorstats {
    qs_moments mom;
    double min, max, absmax, min_abs_nz; /* min_abs_nz = +inf until a nonzero is seen */
    double sum_abs, sum_sq;
    int64_t n_zero, n_under, n_over;
    gsl_histogram *h; /* QS_TENSORSTATS_NBINS bins over the log edges */
};

/* What one fixed chunk contributes; merged in chunk order after the parallel loop. */
typedef struct chunk {
    qs_moments mom;
    double min, max, absmax, min_abs_nz, sum_abs, sum_sq;
} chunk;

int qs_tensorstats_create(qs_tensorstats **out) {
    if (!out) return qs_error_set(QS_ERR_ARG, "tensorstats: NULL output");
    *out = NULL;
    qs_tensorstats *s = calloc(1, sizeof *s);
    gsl_histogram *h = gsl_histogram_alloc(QS_TENSORSTATS_NBINS);
    double *edges = malloc(sizeof(double) * (QS_TENSORSTATS_NBINS + 1));
    if (!s || !h || !edges) {
        free(s);
        if (h) gsl_histogram_free(h);
        free(edges);
        return qs_error_set(QS_ERR_NOMEM, "tensorstats: histogram of %d bins",
                            QS_TENSORSTATS_NBINS);
    }
    for (int i = 0; i <= QS_TENSORSTATS_NBINS; i++)
        edges[i] = pow(10.0, QS_TENSORSTATS_LOG10_MIN + (double)i / QS_TENSORSTATS_BINS_PER_DECADE);
    gsl_histogram_set_ranges(h, edges, QS_TENSORSTATS_NBINS + 1); /* also zeroes the bins */
    free(edges);
    s->h = h;
    s->min = INFINITY;
    s->max = -INFINITY;
    s->absmax = 0.0;
    s->min_abs_nz = INFINITY;
    *out = s;
    return QS_OK;
}

void qs_tensorstats_free(qs_tensorstats *s) {
    if (!s) return;
    gsl_histogram_free(s->h);
    free(s);
}

/* Bin of a = |x| > 0 (x a float): a first guess from the float's exponent and a quadratic
 * fit of log2 of its mantissa (off by well under one bin; log10() per value cost more than
 * everything else here), then corrected against the stored edges, so the bin always agrees
 * with edges[i] <= a < edges[i+1]. */
static inline int bin_of(const double *edges, float af) {
    const int nb = QS_TENSORSTATS_NBINS;
    double a = af;
    if (a < edges[0]) return 0;
    if (a >= edges[nb]) return nb - 1;
    uint32_t bits;
    memcpy(&bits, &af, sizeof bits);
    double m = (double)(bits & 0x7fffffu) * (1.0 / 8388608.0); /* a = 2^e (1 + m) */
    double l2 = (double)((int)(bits >> 23) - 127) + m * (1.3465 - 0.3465 * m);
    double g =
        (l2 * 0.30102999566398120 - QS_TENSORSTATS_LOG10_MIN) * QS_TENSORSTATS_BINS_PER_DECADE;
    int i = (int)g;
    if (i < 0) i = 0;
    if (i > nb - 1) i = nb - 1;
    while (i > 0 && a < edges[i]) i--;
    while (i < nb - 1 && a >= edges[i + 1]) i++;
    return i;
}

/* Sum of 16 lanes by halving (l[j] + l[j + 8], then + 4, + 2, + 1): the one order every
 * path folds its lanes in. */
static double fold16(double *l) {
    for (int w = 8; w > 0; w >>= 1)
        for (int j = 0; j < w; j++) l[j] += l[j + w];
    return l[0];
}

/* The moments of one chunk, the definition every path follows bit for bit: element i
 * goes to lane i % 16, each lane sums in element order (two passes: Σx, Σ|x|, Σx², then
 * the central Σd², Σd³, Σd⁴ about the chunk mean), and the lanes are folded by fold16. */
static void chunk_moments(chunk *ck, const float *x, int n) {
    double s[16] = {0}, a[16] = {0}, q[16] = {0};
    for (int i = 0; i < n; i += 16)
        for (int j = 0; j < 16 && i + j < n; j++) {
            double v = x[i + j];
            s[j] += v;
            a[j] += fabs(v);
            q[j] += v * v;
        }
    double mean = fold16(s) / (double)n;
    double m2[16] = {0}, m3[16] = {0}, m4[16] = {0};
    for (int i = 0; i < n; i += 16)
        for (int j = 0; j < 16 && i + j < n; j++) {
            double d = (double)x[i + j] - mean, d2 = d * d;
            m2[j] += d2;
            m3[j] += d2 * d;
            m4[j] += d2 * d2;
        }
    ck->mom = (qs_moments){n, mean, fold16(m2), fold16(m3), fold16(m4)};
    ck->sum_abs = fold16(a);
    ck->sum_sq = fold16(q);
}

/* Histogram slots, in the order of |x|: zero, underflow, the bins, overflow, NaN/inf.
 * Underflow and overflow values also belong to the end bins; commit moves them there. */
#define SLOT_ZERO  0
#define SLOT_UNDER 1
#define SLOT_BIN0  2
#define SLOT_OVER  (QS_TENSORSTATS_NBINS + 2)
#define SLOT_BAD   (QS_TENSORSTATS_NBINS + 3)
#define NSLOTS     (QS_TENSORSTATS_NBINS + 4)
/* Histogram copies per thread, used round robin so that runs of equal slots do not
 * serialize on one counter. */
#define COPIES 4

/* The reference chunk: moments by chunk_moments, extremes and slots (counts, (NSLOTS)) by
 * the definitions. */
static void scan_chunk(chunk *ck, uint64_t *counts, const double *edges, const float *x, int n) {
    chunk_moments(ck, x, n);
    double mn = INFINITY, mx = -INFINITY, amax = 0.0, anz = INFINITY;
    for (int i = 0; i < n; i++) {
        double v = x[i], a = fabs(v);
        if (v < mn) mn = v;
        if (v > mx) mx = v;
        if (a > amax) amax = a;
        if (a == 0.0) {
            counts[SLOT_ZERO]++;
            continue;
        }
        if (a < anz) anz = a;
        if (a < edges[0])
            counts[SLOT_UNDER]++;
        else if (a >= edges[QS_TENSORSTATS_NBINS])
            counts[SLOT_OVER]++;
        else
            counts[SLOT_BIN0 + bin_of(edges, fabsf(x[i]))]++;
    }
    ck->min = mn;
    ck->max = mx;
    ck->absmax = amax;
    ck->min_abs_nz = anz;
}

static int check_add(const qs_tensorstats *s, const float *x, int64_t n) {
    if (!s || (!x && n > 0)) return qs_error_set(QS_ERR_ARG, "tensorstats add: NULL argument");
    if (n < 0) return qs_error_set(QS_ERR_ARG, "tensorstats add: n = %lld < 0", (long long)n);
    return QS_OK;
}

/* Fixed-order combination of the chunks, and the slot counts (NSLOTS, summed over
 * threads: integers): the thread count cannot change a bit. */
static void commit(qs_tensorstats *s, const chunk *ck, int64_t nchunks, const uint64_t *counts) {
    for (int64_t k = 0; k < nchunks; k++) {
        s->mom = qs_moments_merge(s->mom, ck[k].mom);
        /* + 0.0 turns -0.0 into +0.0: the lanes of a fast path may meet the two zeros in
         * another order than the definition, and both are the same extreme */
        if (ck[k].min + 0.0 < s->min) s->min = ck[k].min + 0.0;
        if (ck[k].max + 0.0 > s->max) s->max = ck[k].max + 0.0;
        if (ck[k].absmax > s->absmax) s->absmax = ck[k].absmax;
        if (ck[k].min_abs_nz < s->min_abs_nz) s->min_abs_nz = ck[k].min_abs_nz;
        s->sum_abs += ck[k].sum_abs;
        s->sum_sq += ck[k].sum_sq;
    }
    double *bin = s->h->bin;
    for (int i = 0; i < QS_TENSORSTATS_NBINS; i++) bin[i] += (double)counts[SLOT_BIN0 + i];
    bin[0] += (double)counts[SLOT_UNDER]; /* clamped into the end bins */
    bin[QS_TENSORSTATS_NBINS - 1] += (double)counts[SLOT_OVER];
    s->n_zero += (int64_t)counts[SLOT_ZERO];
    s->n_under += (int64_t)counts[SLOT_UNDER];
    s->n_over += (int64_t)counts[SLOT_OVER];
}

/* Slot of u = bits of |x|, by the definition (bin_of against the edges). */
static int slot_of(const double *edges, uint32_t u) {
    if (u >= 0x7f800000u) return SLOT_BAD;
    if (u == 0) return SLOT_ZERO;
    float af = qs__bits_float(u);
    if ((double)af < edges[0]) return SLOT_UNDER;
    if ((double)af >= edges[QS_TENSORSTATS_NBINS]) return SLOT_OVER;
    return SLOT_BIN0 + bin_of(edges, af);
}

/* Slot lookup by the top 16 bits of x (sign, exponent and 7 mantissa bits). A bucket spans
 * at most 2^-7 = 0.8 % of its values while a bin spans 2.3 %, so the slot, monotone in |x|,
 * rises at most once inside a bucket, by one, at the low 16 bits `off`:
 *   slot(x) = base + ((bits & 0xffff) >= off),   entry = base << 16 | off
 * (a bucket without a step stores base = slot - 1, off = 0). Built once from slot_of, so
 * it agrees with bin_of bit for bit; the build checks the one-step property. */
static uint32_t slot_table[1u << 16];
static pthread_once_t slot_once = PTHREAD_ONCE_INIT;

static void slot_table_build(void) {
    double edges[QS_TENSORSTATS_NBINS + 1];
    for (int i = 0; i <= QS_TENSORSTATS_NBINS; i++)
        edges[i] = pow(10.0, QS_TENSORSTATS_LOG10_MIN + (double)i / QS_TENSORSTATS_BINS_PER_DECADE);
    for (uint32_t b = 0; b < (1u << 15); b++) {
        uint32_t u0 = b << 16, u1 = u0 + 0xffffu;
        int lo = slot_of(edges, u0), hi = slot_of(edges, u1);
        uint32_t entry;
        if (lo == hi) {
            QS_ASSERT(lo >= 1);
            entry = (uint32_t)(lo - 1) << 16;
        } else { /* first u whose slot differs from u0's */
            QS_ASSERT(hi == lo + 1);
            uint32_t l = u0, r = u1; /* slot(l) == lo, slot(r) == hi */
            while (r - l > 1) {
                uint32_t m = l + (r - l) / 2;
                if (slot_of(edges, m) == lo)
                    l = m;
                else
                    r = m;
            }
            entry = (uint32_t)lo << 16 | (r - u0);
        }
        slot_table[b] = slot_table[b | 0x8000u] = entry; /* both signs */
    }
}

/* Slot counts of x (n) into counts (COPIES, NSLOTS): a scalar table walk, the one part
 * that does not vectorize (a gather plus scalar counting measured slower); element i goes
 * into copy i % COPIES. */
static void count_slots(uint64_t *counts, const float *x, int n) {
    const uint32_t *bits = (const uint32_t *)(const void *)x;
    uint64_t *c0 = counts, *c1 = counts + NSLOTS, *c2 = counts + 2 * NSLOTS,
             *c3 = counts + 3 * NSLOTS;
#define SLOT(b) ((slot_table[(b) >> 16] >> 16) + ((uint16_t)(b) >= (uint16_t)slot_table[(b) >> 16]))
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32_t b0 = bits[i], b1 = bits[i + 1], b2 = bits[i + 2], b3 = bits[i + 3];
        c0[SLOT(b0)]++;
        c1[SLOT(b1)]++;
        c2[SLOT(b2)]++;
        c3[SLOT(b3)]++;
    }
    for (; i < n; i++) c0[SLOT(bits[i])]++;
#undef SLOT
}

/* Extremes of one chunk, exact in any order (signed zeros aside: commit settles them). */
static void chunk_extremes(chunk *ck, const float *x, int n) {
    float mn = INFINITY, mx = -INFINITY, amax = 0.0f, anz = INFINITY;
    for (int i = 0; i < n; i++) {
        float v = x[i], a = fabsf(v);
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
        amax = a > amax ? a : amax;
        anz = a > 0.0f && a < anz ? a : anz;
    }
    ck->min = mn;
    ck->max = mx;
    ck->absmax = amax;
    ck->min_abs_nz = anz;
}

/* A chunk kernel: moments (chunk_moments' bits) and extremes of x (n <= CHUNK). */
typedef void (*chunk_fn)(chunk *ck, const float *x, int n);

static void scan_chunk_scalar(chunk *ck, const float *x, int n) {
    chunk_moments(ck, x, n);
    chunk_extremes(ck, x, n);
}

#if QS_HAVE_X86_SIMD
#include <immintrin.h>

/* Pass-one sums of 8 floats v into lanes (s, a, q)[0..1] (4 doubles each). */
#define AVX2_SUMS(v, s, a, q)                                       \
    do {                                                            \
        __m256d d0_ = _mm256_cvtps_pd(_mm256_castps256_ps128(v));   \
        __m256d d1_ = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)); \
        (s)[0] = _mm256_add_pd((s)[0], d0_);                        \
        (s)[1] = _mm256_add_pd((s)[1], d1_);                        \
        (a)[0] = _mm256_add_pd((a)[0], _mm256_and_pd(d0_, dabs));   \
        (a)[1] = _mm256_add_pd((a)[1], _mm256_and_pd(d1_, dabs));   \
        (q)[0] = _mm256_add_pd((q)[0], _mm256_mul_pd(d0_, d0_));    \
        (q)[1] = _mm256_add_pd((q)[1], _mm256_mul_pd(d1_, d1_));    \
    } while (0)
/* Pass-two central sums of the 8 doubles d0, d1 (already x - mean) into (m2, m3, m4)[0..1]. */
#define AVX2_CENTRAL(d0, d1, m2, m3, m4)                                  \
    do {                                                                  \
        __m256d e0_ = _mm256_mul_pd(d0, d0), e1_ = _mm256_mul_pd(d1, d1); \
        (m2)[0] = _mm256_add_pd((m2)[0], e0_);                            \
        (m2)[1] = _mm256_add_pd((m2)[1], e1_);                            \
        (m3)[0] = _mm256_add_pd((m3)[0], _mm256_mul_pd(e0_, d0));         \
        (m3)[1] = _mm256_add_pd((m3)[1], _mm256_mul_pd(e1_, d1));         \
        (m4)[0] = _mm256_add_pd((m4)[0], _mm256_mul_pd(e0_, e0_));        \
        (m4)[1] = _mm256_add_pd((m4)[1], _mm256_mul_pd(e1_, e1_));        \
    } while (0)

/* 16 lanes as four 4-double vectors: lanes 0-7 from the first 8 floats of each step of
 * 16, lanes 8-15 from the second 8. Whole steps run without masks; the last partial step
 * reads through a lane mask (masked-off lanes read +0.0, which adds nothing). The smallest
 * nonzero |x| is a minimum over the keys u - 1, unsigned, which sends 0 to the top. */
QS_TARGET_AVX2 static void scan_chunk_avx2(chunk *ck, const float *x, int n) {
    const __m256i absmask = _mm256_set1_epi32(0x7fffffff), ones = _mm256_set1_epi32(-1);
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256d dabs = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffffll));
    __m256d s[4], a[4], q[4];
    for (int k = 0; k < 4; k++) s[k] = a[k] = q[k] = _mm256_setzero_pd();
    __m256 mn = _mm256_set1_ps(INFINITY), mx = _mm256_set1_ps(-INFINITY);
    __m256i amax = _mm256_setzero_si256(), anz = _mm256_set1_epi32(-1);
    const int full = n & ~15;
    for (int i = 0; i < full; i += 16) {
        __m256 v0 = _mm256_loadu_ps(x + i), v1 = _mm256_loadu_ps(x + i + 8);
        __m256i u0 = _mm256_and_si256(_mm256_castps_si256(v0), absmask);
        __m256i u1 = _mm256_and_si256(_mm256_castps_si256(v1), absmask);
        mn = _mm256_min_ps(_mm256_min_ps(v0, v1), mn);
        mx = _mm256_max_ps(_mm256_max_ps(v0, v1), mx);
        amax = _mm256_max_epu32(amax, _mm256_max_epu32(u0, u1));
        anz = _mm256_min_epu32(
            anz, _mm256_min_epu32(_mm256_add_epi32(u0, ones), _mm256_add_epi32(u1, ones)));
        AVX2_SUMS(v0, s, a, q);
        AVX2_SUMS(v1, s + 2, a + 2, q + 2);
    }
    for (int h = 0; full + 8 * h < n; h++) { /* the partial step, 8 floats at a time */
        int left = n - full - 8 * h;
        __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(left), iota);
        __m256 v = _mm256_maskload_ps(x + full + 8 * h, m);
        __m256i u = _mm256_and_si256(_mm256_castps_si256(v), absmask);
        __m256 mf = _mm256_castsi256_ps(m);
        mn = _mm256_blendv_ps(mn, _mm256_min_ps(v, mn), mf);
        mx = _mm256_blendv_ps(mx, _mm256_max_ps(v, mx), mf);
        amax = _mm256_max_epu32(amax, u);
        /* masked-off lanes: u - 1 or'ed with all ones, the top */
        anz = _mm256_min_epu32(
            anz, _mm256_or_si256(_mm256_add_epi32(u, ones), _mm256_xor_si256(m, ones)));
        AVX2_SUMS(v, s + 2 * h, a + 2 * h, q + 2 * h);
    }
    double ls[16], la[16], lq[16];
    for (int k = 0; k < 4; k++) {
        _mm256_storeu_pd(ls + 4 * k, s[k]);
        _mm256_storeu_pd(la + 4 * k, a[k]);
        _mm256_storeu_pd(lq + 4 * k, q[k]);
    }
    const double mean = fold16(ls) / (double)n;
    const __m256d vm = _mm256_set1_pd(mean);
    __m256d m2[4], m3[4], m4[4];
    for (int k = 0; k < 4; k++) m2[k] = m3[k] = m4[k] = _mm256_setzero_pd();
    for (int i = 0; i < full; i += 16)
        for (int h = 0; h < 2; h++) {
            __m256 v = _mm256_loadu_ps(x + i + 8 * h);
            __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), vm);
            __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), vm);
            AVX2_CENTRAL(d0, d1, m2 + 2 * h, m3 + 2 * h, m4 + 2 * h);
        }
    for (int h = 0; full + 8 * h < n; h++) {
        int left = n - full - 8 * h;
        __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(left), iota);
        __m256 v = _mm256_maskload_ps(x + full + 8 * h, m);
        /* masked-off lanes contribute 0 */
        __m256d k0 = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(m)));
        __m256d k1 = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_extracti128_si256(m, 1)));
        __m256d d0 =
            _mm256_and_pd(k0, _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), vm));
        __m256d d1 =
            _mm256_and_pd(k1, _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), vm));
        AVX2_CENTRAL(d0, d1, m2 + 2 * h, m3 + 2 * h, m4 + 2 * h);
    }
    double l2[16], l3[16], l4[16];
    for (int k = 0; k < 4; k++) {
        _mm256_storeu_pd(l2 + 4 * k, m2[k]);
        _mm256_storeu_pd(l3 + 4 * k, m3[k]);
        _mm256_storeu_pd(l4 + 4 * k, m4[k]);
    }
    ck->mom = (qs_moments){n, mean, fold16(l2), fold16(l3), fold16(l4)};
    ck->sum_abs = fold16(la);
    ck->sum_sq = fold16(lq);
    float fmn[8], fmx[8];
    uint32_t uam[8], unz[8];
    _mm256_storeu_ps(fmn, mn);
    _mm256_storeu_ps(fmx, mx);
    _mm256_storeu_si256((__m256i *)uam, amax);
    _mm256_storeu_si256((__m256i *)unz, anz);
    for (int j = 1; j < 8; j++) {
        fmn[0] = fmn[j] < fmn[0] ? fmn[j] : fmn[0];
        fmx[0] = fmx[j] > fmx[0] ? fmx[j] : fmx[0];
        uam[0] = uam[j] > uam[0] ? uam[j] : uam[0];
        unz[0] = unz[j] < unz[0] ? unz[j] : unz[0];
    }
    ck->min = fmn[0];
    ck->max = fmx[0];
    ck->absmax = qs__bits_float(uam[0]);
    ck->min_abs_nz = unz[0] == UINT32_MAX ? INFINITY : qs__bits_float(unz[0] + 1);
}
#undef AVX2_SUMS
#undef AVX2_CENTRAL

/* 16 lanes as two 8-double vectors. */
QS_TARGET_AVX512 static void scan_chunk_avx512(chunk *ck, const float *x, int n) {
    const __m512i absmask = _mm512_set1_epi32(0x7fffffff);
    __m512d s0 = _mm512_setzero_pd(), s1 = s0, a0 = s0, a1 = s0, q0 = s0, q1 = s0;
    __m512 mn = _mm512_set1_ps(INFINITY), mx = _mm512_set1_ps(-INFINITY),
           amax = _mm512_setzero_ps();
    __m512 anz = _mm512_set1_ps(INFINITY);
    for (int i = 0; i < n; i += 16) {
        __mmask16 t = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(t, x + i);
        __m512i u = _mm512_and_si512(_mm512_castps_si512(v), absmask);
        __m512 a = _mm512_castsi512_ps(u);
        mn = _mm512_mask_min_ps(mn, t, v, mn);
        mx = _mm512_mask_max_ps(mx, t, v, mx);
        amax = _mm512_max_ps(a, amax);
        anz = _mm512_mask_min_ps(anz, _mm512_mask_test_epi32_mask(t, u, u), a, anz);
        __m512d d0 = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
        __m512d d1 =
            _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
        s0 = _mm512_add_pd(s0, d0);
        s1 = _mm512_add_pd(s1, d1);
        a0 = _mm512_add_pd(a0, _mm512_abs_pd(d0));
        a1 = _mm512_add_pd(a1, _mm512_abs_pd(d1));
        q0 = _mm512_add_pd(q0, _mm512_mul_pd(d0, d0));
        q1 = _mm512_add_pd(q1, _mm512_mul_pd(d1, d1));
    }
    double ls[16], la[16], lq[16];
    _mm512_storeu_pd(ls, s0);
    _mm512_storeu_pd(ls + 8, s1);
    _mm512_storeu_pd(la, a0);
    _mm512_storeu_pd(la + 8, a1);
    _mm512_storeu_pd(lq, q0);
    _mm512_storeu_pd(lq + 8, q1);
    const double mean = fold16(ls) / (double)n;
    const __m512d vm = _mm512_set1_pd(mean);
    __m512d m20 = _mm512_setzero_pd(), m21 = m20, m30 = m20, m31 = m20, m40 = m20, m41 = m20;
    for (int i = 0; i < n; i += 16) {
        __mmask16 t = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(t, x + i);
        /* masked-off lanes contribute 0 */
        __m512d d0 =
            _mm512_maskz_sub_pd((__mmask8)t, _mm512_cvtps_pd(_mm512_castps512_ps256(v)), vm);
        __m512d d1 = _mm512_maskz_sub_pd(
            (__mmask8)(t >> 8),
            _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))), vm);
        __m512d e0 = _mm512_mul_pd(d0, d0), e1 = _mm512_mul_pd(d1, d1);
        m20 = _mm512_add_pd(m20, e0);
        m21 = _mm512_add_pd(m21, e1);
        m30 = _mm512_add_pd(m30, _mm512_mul_pd(e0, d0));
        m31 = _mm512_add_pd(m31, _mm512_mul_pd(e1, d1));
        m40 = _mm512_add_pd(m40, _mm512_mul_pd(e0, e0));
        m41 = _mm512_add_pd(m41, _mm512_mul_pd(e1, e1));
    }
    double l2[16], l3[16], l4[16];
    _mm512_storeu_pd(l2, m20);
    _mm512_storeu_pd(l2 + 8, m21);
    _mm512_storeu_pd(l3, m30);
    _mm512_storeu_pd(l3 + 8, m31);
    _mm512_storeu_pd(l4, m40);
    _mm512_storeu_pd(l4 + 8, m41);
    ck->mom = (qs_moments){n, mean, fold16(l2), fold16(l3), fold16(l4)};
    ck->sum_abs = fold16(la);
    ck->sum_sq = fold16(lq);
    ck->min = _mm512_reduce_min_ps(mn);
    ck->max = _mm512_reduce_max_ps(mx);
    ck->absmax = _mm512_reduce_max_ps(amax);
    ck->min_abs_nz = _mm512_reduce_min_ps(anz);
}
#endif

/* Per-thread slot counts (COPIES, NSLOTS), zeroed lazily: only the slots between the
 * smallest and largest |x| a thread has met (plus zero and NaN/inf) are ever counted, so
 * only those are cleared and folded, not all 4·2004 of every thread on every add (which
 * cost more than a 64-wide model's activations themselves). */
typedef struct slot_counts {
    uint64_t *c;
    int lo, hi; /* zeroed range of slots, lo > hi when empty */
} slot_counts;

static int slot_of_float(double v) {
    uint32_t b = qs__abs_bits((float)v);
    return (int)((slot_table[b >> 16] >> 16) + ((uint16_t)b >= (uint16_t)slot_table[b >> 16]));
}

/* Makes sure every slot a chunk with these extremes can count is zeroed. */
static void slot_counts_cover(slot_counts *sc, const chunk *ck) {
    if (ck->absmax == 0.0) return; /* zeros (and NaN, which a kernel may leave out): fixed */
    int hi = ck->absmax < INFINITY ? slot_of_float(ck->absmax) : SLOT_BAD; /* NaN: bad */
    int lo = ck->min_abs_nz < INFINITY ? slot_of_float(ck->min_abs_nz) : hi;
    if (lo > hi) lo = hi;
    for (int j = 0; j < COPIES; j++) {
        uint64_t *c = sc->c + (size_t)j * NSLOTS;
        if (sc->lo > sc->hi) {
            memset(c + lo, 0, sizeof *c * (size_t)(hi - lo + 1));
            continue;
        }
        if (lo < sc->lo) memset(c + lo, 0, sizeof *c * (size_t)(sc->lo - lo));
        if (hi > sc->hi) memset(c + sc->hi + 1, 0, sizeof *c * (size_t)(hi - sc->hi));
    }
    if (sc->lo > sc->hi) {
        sc->lo = lo;
        sc->hi = hi;
    } else {
        sc->lo = lo < sc->lo ? lo : sc->lo;
        sc->hi = hi > sc->hi ? hi : sc->hi;
    }
}

/* The add on the path's chunk kernel plus the slot table. No pre-scan for NaN/inf: the
 * slot table sends them to SLOT_BAD, and nothing is committed until every chunk is
 * scanned. */
static int add_fast(int path, qs_tensorstats *s, const float *x, int64_t n) {
    chunk_fn scan = scan_chunk_scalar;
#if QS_HAVE_X86_SIMD
    if (path >= QS_CPU_AVX512)
        scan = scan_chunk_avx512;
    else if (path == QS_CPU_AVX2)
        scan = scan_chunk_avx2;
#endif
    pthread_once(&slot_once, slot_table_build);
    const int64_t nchunks = (n + QS_TENSORSTATS_CHUNK - 1) / QS_TENSORSTATS_CHUNK;
    int nt = n >= QS__PAR_MIN_ELEMENTS ? omp_get_max_threads() : 1;
    if (nt > nchunks) nt = (int)nchunks;
    chunk *ck = malloc(sizeof(chunk) * (size_t)nchunks); /* (nchunks) */
    uint64_t *counts =
        malloc(sizeof *counts * (size_t)nt * COPIES * NSLOTS); /* (nt, COPIES, NSLOTS) */
    slot_counts *sc = malloc(sizeof *sc * (size_t)nt);         /* (nt) */
    uint64_t *total = calloc(NSLOTS, sizeof *total);           /* (NSLOTS) */
    if (!ck || !counts || !sc || !total) {
        free(ck);
        free(counts);
        free(sc);
        free(total);
        return qs_error_set(QS_ERR_NOMEM, "tensorstats add: scratch for %lld chunks",
                            (long long)nchunks);
    }
    for (int t = 0; t < nt; t++) { /* all of them: the team may come out smaller */
        sc[t].c = counts + (size_t)t * COPIES * NSLOTS;
        sc[t].lo = 1;
        sc[t].hi = 0;
        for (int j = 0; j < COPIES; j++) {
            sc[t].c[(size_t)j * NSLOTS + SLOT_ZERO] = 0;
            sc[t].c[(size_t)j * NSLOTS + SLOT_BAD] = 0;
        }
    }
#pragma omp parallel num_threads(nt)
    {
        slot_counts *mine = &sc[omp_get_thread_num()];
#pragma omp for schedule(dynamic, 4)
        for (int64_t k = 0; k < nchunks; k++) {
            int64_t i0 = k * QS_TENSORSTATS_CHUNK;
            int len = (int)(n - i0 < QS_TENSORSTATS_CHUNK ? n - i0 : QS_TENSORSTATS_CHUNK);
            scan(&ck[k], x + i0, len);
            slot_counts_cover(mine, &ck[k]);
            count_slots(mine->c, x + i0, len);
        }
    }
    for (int t = 0; t < nt; t++)
        for (int j = 0; j < COPIES; j++) {
            const uint64_t *c = sc[t].c + (size_t)j * NSLOTS;
            total[SLOT_ZERO] += c[SLOT_ZERO];
            total[SLOT_BAD] += c[SLOT_BAD];
            for (int i = sc[t].lo; i <= sc[t].hi; i++)
                if (i != SLOT_ZERO && i != SLOT_BAD) total[i] += c[i];
        }
    int rc = QS_OK;
    if (total[SLOT_BAD]) {
        int64_t bad = qs__first_nonfinite(x, n);
        rc = qs_error_set(QS_ERR_NUMERIC, "tensorstats add: non-finite value %g at index %lld",
                          (double)x[bad], (long long)bad);
    } else {
        commit(s, ck, nchunks, total);
    }
    free(ck);
    free(counts);
    free(sc);
    free(total);
    return rc;
}

/* The reference: one thread, chunk by chunk (scan_chunk), merged in chunk order. */
static int add_reference(qs_tensorstats *s, const float *x, int64_t n) {
    int64_t bad = qs__first_nonfinite(x, n);
    if (bad >= 0)
        return qs_error_set(QS_ERR_NUMERIC, "tensorstats add: non-finite value %g at index %lld",
                            (double)x[bad], (long long)bad);
    const int64_t nchunks = (n + QS_TENSORSTATS_CHUNK - 1) / QS_TENSORSTATS_CHUNK;
    chunk *ck = malloc(sizeof(chunk) * (size_t)nchunks); /* (nchunks) */
    uint64_t *counts = calloc(NSLOTS, sizeof *counts);   /* (NSLOTS) */
    if (!ck || !counts) {
        free(ck);
        free(counts);
        return qs_error_set(QS_ERR_NOMEM, "tensorstats add: scratch for %lld chunks",
                            (long long)nchunks);
    }
    for (int64_t k = 0; k < nchunks; k++) {
        int64_t i0 = k * QS_TENSORSTATS_CHUNK;
        int len = (int)(n - i0 < QS_TENSORSTATS_CHUNK ? n - i0 : QS_TENSORSTATS_CHUNK);
        scan_chunk(&ck[k], counts, s->h->range, x + i0, len);
    }
    commit(s, ck, nchunks, counts);
    free(ck);
    free(counts);
    return QS_OK;
}

int qs_tensorstats_add_ref(qs_tensorstats *s, const float *x, int64_t n) {
    int rc = check_add(s, x, n);
    if (rc || n == 0) return rc;
    return add_reference(s, x, n);
}

int qs_tensorstats_add(qs_tensorstats *s, const float *x, int64_t n) {
    int rc = check_add(s, x, n);
    if (rc || n == 0) return rc;
    return add_fast(qs_cpu_path(), s, x, n);
}

int qs_tensorstats_merge(qs_tensorstats *a, const qs_tensorstats *b) {
    if (!a || !b) return qs_error_set(QS_ERR_ARG, "tensorstats merge: NULL argument");
    if (a == b) return qs_error_set(QS_ERR_ARG, "tensorstats merge: cannot merge into itself");
    a->mom = qs_moments_merge(a->mom, b->mom);
    if (b->min < a->min) a->min = b->min;
    if (b->max > a->max) a->max = b->max;
    if (b->absmax > a->absmax) a->absmax = b->absmax;
    if (b->min_abs_nz < a->min_abs_nz) a->min_abs_nz = b->min_abs_nz;
    a->sum_abs += b->sum_abs;
    a->sum_sq += b->sum_sq;
    a->n_zero += b->n_zero;
    a->n_under += b->n_under;
    a->n_over += b->n_over;
    gsl_histogram_add(a->h, b->h); /* same ranges by construction */
    return QS_OK;
}

int qs_tensorstats_percentile(const qs_tensorstats *s, double p, double *out) {
    if (!s || !out) return qs_error_set(QS_ERR_ARG, "tensorstats percentile: NULL argument");
    if (!(p >= 0.0 && p <= 100.0))
        return qs_error_set(QS_ERR_ARG, "tensorstats percentile: p = %g outside [0, 100]", p);
    if (s->mom.n == 0) return qs_error_set(QS_ERR_ARG, "tensorstats percentile: no elements added");
    const double N = (double)s->mom.n;
    double k = p / 100.0 * N;
    if (s->n_zero > 0 && k <= (double)s->n_zero) {
        *out = 0.0;
        return QS_OK;
    }
    const gsl_histogram *h = s->h;
    double before = (double)s->n_zero;
    int i = 0;
    /* first nonempty bin whose cumulative count reaches k (k may be 0 when p = 0) */
    for (; i < (int)h->n; i++) {
        double cnt = h->bin[i];
        if (cnt > 0.0 && before + cnt >= k) break;
        before += cnt;
    }
    if (i == (int)h->n) { /* rounding in k at p = 100: take the top */
        *out = s->absmax;
        return QS_OK;
    }
    double f = (k - before) / h->bin[i];
    if (f < 0.0) f = 0.0;
    double lo = h->range[i], hi = h->range[i + 1];
    /* the end bins also hold the clamped values: stretch them to the exact extremes */
    if (i == 0 && s->min_abs_nz < lo) lo = s->min_abs_nz;
    if (i == (int)h->n - 1 && s->absmax > hi) hi = s->absmax;
    double v = lo * pow(hi / lo, f);
    if (v > s->absmax) v = s->absmax;
    if (v < s->min_abs_nz) v = s->min_abs_nz;
    *out = v;
    return QS_OK;
}

int qs_tensorstats_summarize(const qs_tensorstats *s, qs_tensorstats_summary *out) {
    if (!s || !out) return qs_error_set(QS_ERR_ARG, "tensorstats summarize: NULL argument");
    int empty = s->mom.n == 0;
    double nn = (double)s->mom.n;
    out->count = s->mom.n;
    out->n_zero = s->n_zero;
    out->n_underflow = s->n_under;
    out->n_overflow = s->n_over;
    out->mean = empty ? NAN : s->mom.mean;
    out->var = qs_moments_variance(&s->mom);
    out->std = sqrt(out->var);
    out->skewness = qs_moments_skewness(&s->mom);
    out->kurtosis = qs_moments_kurtosis(&s->mom);
    out->min = empty ? NAN : s->min;
    out->max = empty ? NAN : s->max;
    out->absmax = empty ? NAN : s->absmax;
    out->min_abs_nonzero = s->min_abs_nz < INFINITY ? s->min_abs_nz : NAN;
    out->mean_abs = empty ? NAN : s->sum_abs / nn;
    out->mean_sq = empty ? NAN : s->sum_sq / nn;
    double *pp[5] = {&out->p50, &out->p90, &out->p99, &out->p999, &out->p9999};
    const double ps[5] = {50.0, 90.0, 99.0, 99.9, 99.99};
    for (int j = 0; j < 5; j++) {
        if (empty)
            *pp[j] = NAN;
        else
            qs_tensorstats_percentile(s, ps[j], pp[j]);
    }
    return QS_OK;
}

qs_moments qs_tensorstats_moments(const qs_tensorstats *s) { return s->mom; }
int64_t qs_tensorstats_count(const qs_tensorstats *s) { return s->mom.n; }
const gsl_histogram *qs_tensorstats_histogram(const qs_tensorstats *s) { return s->h; }

void qs_tensorstats_bins(const qs_tensorstats *s, double *edges, uint64_t *counts) {
    for (int i = 0; i <= QS_TENSORSTATS_NBINS; i++) {
        if (edges) edges[i] = s->h->range[i];
        if (counts && i < QS_TENSORSTATS_NBINS) counts[i] = (uint64_t)s->h->bin[i];
    }
}
