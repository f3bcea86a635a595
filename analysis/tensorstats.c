#include "tensorstats.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "finite.h"

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

/* Layout of the per-thread count rows: bins, then zero/underflow/overflow. */
#define ROW (QS_TENSORSTATS_NBINS + 3)

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
        return qs_error_set(QS_ERR_NOMEM, "tensorstats: histogram of %d bins", QS_TENSORSTATS_NBINS);
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
    double g = (l2 * 0.30102999566398120 - QS_TENSORSTATS_LOG10_MIN) * QS_TENSORSTATS_BINS_PER_DECADE;
    int i = (int)g;
    if (i < 0) i = 0;
    if (i > nb - 1) i = nb - 1;
    while (i > 0 && a < edges[i]) i--;
    while (i < nb - 1 && a >= edges[i + 1]) i++;
    return i;
}

static void scan_chunk(chunk *ck, uint64_t *row, const double *edges, const float *x, int64_t n) {
    ck->mom = qs_moments_of(x, n, 1);
    double mn = INFINITY, mx = -INFINITY, amax = 0.0, anz = INFINITY, sabs = 0.0, ssq = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double v = x[i], a = fabs(v);
        if (v < mn) mn = v;
        if (v > mx) mx = v;
        if (a > amax) amax = a;
        sabs += a;
        ssq += v * v;
        if (a == 0.0) {
            row[QS_TENSORSTATS_NBINS]++;
            continue;
        }
        if (a < anz) anz = a;
        if (a < edges[0]) row[QS_TENSORSTATS_NBINS + 1]++;
        else if (a >= edges[QS_TENSORSTATS_NBINS]) row[QS_TENSORSTATS_NBINS + 2]++;
        row[bin_of(edges, fabsf(x[i]))]++;
    }
    ck->min = mn;
    ck->max = mx;
    ck->absmax = amax;
    ck->min_abs_nz = anz;
    ck->sum_abs = sabs;
    ck->sum_sq = ssq;
}

int qs_tensorstats_add(qs_tensorstats *s, const float *x, int64_t n) {
    if (!s || (!x && n > 0)) return qs_error_set(QS_ERR_ARG, "tensorstats add: NULL argument");
    if (n < 0) return qs_error_set(QS_ERR_ARG, "tensorstats add: n = %lld < 0", (long long)n);
    if (n == 0) return QS_OK;
    int64_t bad = qs__first_nonfinite(x, n);
    if (bad >= 0)
        return qs_error_set(QS_ERR_NUMERIC, "tensorstats add: non-finite value %g at index %lld",
                            (double)x[bad], (long long)bad);
    const int64_t nchunks = (n + QS_TENSORSTATS_CHUNK - 1) / QS_TENSORSTATS_CHUNK;
    int nt = omp_get_max_threads();
    chunk *ck = malloc(sizeof(chunk) * (size_t)nchunks);     // (nchunks)
    uint64_t *rows = calloc((size_t)nt * ROW, sizeof *rows);  // (nt, ROW)
    if (!ck || !rows) {
        free(ck);
        free(rows);
        return qs_error_set(QS_ERR_NOMEM, "tensorstats add: scratch for %lld chunks",
                            (long long)nchunks);
    }
    const double *edges = s->h->range;
#pragma omp parallel num_threads(nt)
    {
        uint64_t *row = rows + (size_t)omp_get_thread_num() * ROW;
#pragma omp for schedule(static)
        for (int64_t k = 0; k < nchunks; k++) {
            int64_t i0 = k * QS_TENSORSTATS_CHUNK;
            int64_t len = n - i0 < QS_TENSORSTATS_CHUNK ? n - i0 : QS_TENSORSTATS_CHUNK;
            scan_chunk(&ck[k], row, edges, x + i0, len);
        }
    }
    /* fixed-order combination: the thread count cannot change a bit */
    for (int64_t k = 0; k < nchunks; k++) {
        s->mom = qs_moments_merge(s->mom, ck[k].mom);
        if (ck[k].min < s->min) s->min = ck[k].min;
        if (ck[k].max > s->max) s->max = ck[k].max;
        if (ck[k].absmax > s->absmax) s->absmax = ck[k].absmax;
        if (ck[k].min_abs_nz < s->min_abs_nz) s->min_abs_nz = ck[k].min_abs_nz;
        s->sum_abs += ck[k].sum_abs;
        s->sum_sq += ck[k].sum_sq;
    }
    for (int t = 0; t < nt; t++) {
        const uint64_t *row = rows + (size_t)t * ROW;
        for (int i = 0; i < QS_TENSORSTATS_NBINS; i++) s->h->bin[i] += (double)row[i];
        s->n_zero += (int64_t)row[QS_TENSORSTATS_NBINS];
        s->n_under += (int64_t)row[QS_TENSORSTATS_NBINS + 1];
        s->n_over += (int64_t)row[QS_TENSORSTATS_NBINS + 2];
    }
    free(ck);
    free(rows);
    return QS_OK;
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
    if (s->mom.n == 0)
        return qs_error_set(QS_ERR_ARG, "tensorstats percentile: no elements added");
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
        if (empty) *pp[j] = NAN;
        else qs_tensorstats_percentile(s, ps[j], pp[j]);
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
