#include "metrics.h"

#include <math.h>
#include <stdlib.h>

#include "error.h"
#include "finite.h"

typedef struct partial {
    double sq_ref, sq_err, max_err;
} partial;

static int validate(const qs_error_metrics *out, const float *ref, const float *rec, int64_t n) {
    if (!out || !ref || !rec) return qs_error_set(QS_ERR_ARG, "metrics: NULL argument");
    if (n < 1) return qs_error_set(QS_ERR_ARG, "metrics: need n >= 1, got %lld", (long long)n);
    int64_t bad = qs__first_nonfinite(ref, n);
    if (bad >= 0)
        return qs_error_set(QS_ERR_NUMERIC,
                            "metrics: non-finite value %g in the reference at index %lld",
                            (double)ref[bad], (long long)bad);
    bad = qs__first_nonfinite(rec, n);
    if (bad >= 0)
        return qs_error_set(QS_ERR_NUMERIC,
                            "metrics: non-finite value %g in the reconstruction at index %lld",
                            (double)rec[bad], (long long)bad);
    return QS_OK;
}

static partial chunk_sums(const float *ref, const float *rec, int64_t len) {
    partial p = {0.0, 0.0, 0.0};
    for (int64_t i = 0; i < len; i++) {
        double x = ref[i], e = x - (double)rec[i];
        p.sq_ref += x * x;
        p.sq_err += e * e;
        if (fabs(e) > p.max_err) p.max_err = fabs(e);
    }
    return p;
}

double qs_metrics_sqnr_db(double sum_sq_ref, double sum_sq_err) {
    if (sum_sq_err == 0.0) return INFINITY;
    if (sum_sq_ref == 0.0) return -INFINITY;
    return 10.0 * log10(sum_sq_ref / sum_sq_err);
}

static void finish(qs_error_metrics *m) {
    m->mse = m->sum_sq_err / (double)m->n;
    m->sqnr_db = qs_metrics_sqnr_db(m->sum_sq_ref, m->sum_sq_err);
}

int qs_metrics_compute_ref(qs_error_metrics *out, const float *ref, const float *rec, int64_t n) {
    int rc = validate(out, ref, rec, n);
    if (rc) return rc;
    qs_error_metrics m = {n, 0.0, 0.0, 0.0, 0.0, 0.0};
    for (int64_t i0 = 0; i0 < n; i0 += QS_METRICS_CHUNK) {
        int64_t len = n - i0 < QS_METRICS_CHUNK ? n - i0 : QS_METRICS_CHUNK;
        partial p = chunk_sums(ref + i0, rec + i0, len);
        m.sum_sq_ref += p.sq_ref;
        m.sum_sq_err += p.sq_err;
        if (p.max_err > m.max_abs_err) m.max_abs_err = p.max_err;
    }
    finish(&m);
    *out = m;
    return QS_OK;
}

int qs_metrics_compute(qs_error_metrics *out, const float *ref, const float *rec, int64_t n) {
    int rc = validate(out, ref, rec, n);
    if (rc) return rc;
    const int64_t nchunks = (n + QS_METRICS_CHUNK - 1) / QS_METRICS_CHUNK;
    partial *ps = malloc(sizeof(partial) * (size_t)nchunks); /* (nchunks) */
    if (!ps) return qs_error_set(QS_ERR_NOMEM, "metrics: %lld partial sums", (long long)nchunks);
#pragma omp parallel for schedule(static) if (nchunks > 1)
    for (int64_t k = 0; k < nchunks; k++) {
        int64_t i0 = k * QS_METRICS_CHUNK;
        int64_t len = n - i0 < QS_METRICS_CHUNK ? n - i0 : QS_METRICS_CHUNK;
        ps[k] = chunk_sums(ref + i0, rec + i0, len);
    }
    qs_error_metrics m = {n, 0.0, 0.0, 0.0, 0.0, 0.0};
    for (int64_t k = 0; k < nchunks; k++) { /* chunk order, as in the _ref loop */
        m.sum_sq_ref += ps[k].sq_ref;
        m.sum_sq_err += ps[k].sq_err;
        if (ps[k].max_err > m.max_abs_err) m.max_abs_err = ps[k].max_err;
    }
    free(ps);
    finish(&m);
    *out = m;
    return QS_OK;
}

void qs_metrics_merge(qs_error_metrics *a, const qs_error_metrics *b) {
    a->n += b->n;
    a->sum_sq_ref += b->sum_sq_ref;
    a->sum_sq_err += b->sum_sq_err;
    if (b->max_abs_err > a->max_abs_err) a->max_abs_err = b->max_abs_err;
    if (a->n > 0) finish(a);
}
