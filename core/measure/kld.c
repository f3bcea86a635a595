#include "kld.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "elementwise.h"
#include "error.h"

const double qs_kld_pct_levels[QS_KLD_NPCT] = {100, 99.9, 99, 95, 90, 50, 10, 5, 1, 0.1, 0};
const char *const qs_kld_pct_names[QS_KLD_NPCT] = {"max", "p99.9", "p99", "p95",  "p90", "median",
                                                   "p10", "p5",    "p1",  "p0.1", "min"};

void qs_kld_init(qs_kld_acc *a) { memset(a, 0, sizeof *a); }

void qs_kld_free(qs_kld_acc *a) {
    free(a->kld);
    free(a->dp);
    memset(a, 0, sizeof *a);
}

static int reserve(qs_kld_acc *a, long n) {
    if (n <= a->cap) return QS_OK;
    long cap = a->cap ? a->cap : 1024;
    while (cap < n) cap *= 2;
    double *k = realloc(a->kld, (size_t)cap * sizeof *k);
    if (!k) return qs_error_set(QS_ERR_NOMEM, "out of memory for KLD statistics");
    a->kld = k;
    double *d = realloc(a->dp, (size_t)cap * sizeof *d);
    if (!d) return qs_error_set(QS_ERR_NOMEM, "out of memory for KLD statistics");
    a->dp = d;
    a->cap = cap;
    return QS_OK;
}

/* log-sum-exp of a row, the same as qs_nll's (so eval's base NLL is ppl's), and the first
 * index of its largest logit */
static double lse(const float *x, int V, int *argmax) {
    int am = 0;
    for (int i = 1; i < V; i++) am = x[i] > x[am] ? i : am;
    *argmax = am;
    return qs_logsumexp(x, V);
}

static void top5(const float *x, int V, int out[5]) {
    int n = 0;
    for (int i = 0; i < V; i++) {
        if (n == 5 && !(x[i] > x[out[4]])) continue;
        int j = n < 5 ? n++ : 4;
        out[j] = i;
        while (j > 0 && x[out[j]] > x[out[j - 1]]) { /* keep sorted, descending */
            int t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
            j--;
        }
    }
}

int qs_kld_add(qs_kld_acc *a, const float *base, const float *quant, int V, int target) {
    if (target < 0 || target >= V)
        return qs_error_set(QS_ERR_ARG, "kld: target %d out of range", target);
    int rc = reserve(a, a->n + 1);
    if (rc) return rc;
    int am_b, am_q;
    double lb = lse(base, V, &am_b), lq = lse(quant, V, &am_q);
    if (!isfinite(lb) || !isfinite(lq))
        return qs_error_set(QS_ERR_NUMERIC, "kld: non-finite logits at scored token %ld", a->n);
    double kl = 0;
    for (int i = 0; i < V; i++) {
        double logp = base[i] - lb, logq = quant[i] - lq;
        kl += exp(logp) * (logp - logq);
    }
    double nb = lb - base[target], nq = lq - quant[target];
    a->kld[a->n] = kl > 0 ? kl : 0; /* rounding can make it a hair negative */
    a->dp[a->n] = exp(-nq) - exp(-nb);
    a->n++;
    a->nll_base += nb;
    a->nll_base_sq += nb * nb;
    a->nll_q += nq;
    a->nll_q_sq += nq * nq;
    a->diff += nq - nb;
    a->diff_sq += (nq - nb) * (nq - nb);
    a->top1_same += am_b == am_q;
    int tb[5], tq[5];
    if (V >= 5) {
        top5(base, V, tb);
        top5(quant, V, tq);
        int common = 0;
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 5; j++) common += tb[i] == tq[j];
        a->top5_overlap += common / 5.0;
    } else {
        a->top5_overlap += 1.0;
    }
    return QS_OK;
}

int qs_kld_merge(qs_kld_acc *a, const qs_kld_acc *b) {
    int rc = reserve(a, a->n + b->n);
    if (rc) return rc;
    memcpy(a->kld + a->n, b->kld, (size_t)b->n * sizeof(double));
    memcpy(a->dp + a->n, b->dp, (size_t)b->n * sizeof(double));
    a->n += b->n;
    a->nll_base += b->nll_base;
    a->nll_base_sq += b->nll_base_sq;
    a->nll_q += b->nll_q;
    a->nll_q_sq += b->nll_q_sq;
    a->diff += b->diff;
    a->diff_sq += b->diff_sq;
    a->top1_same += b->top1_same;
    a->top5_overlap += b->top5_overlap;
    return QS_OK;
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* percentile p (0..100) of sorted v by linear interpolation between ranks */
static double pct(const double *v, long n, double p) {
    double r = p / 100.0 * (n - 1);
    long lo = (long)floor(r), hi = lo + 1 < n ? lo + 1 : lo;
    return v[lo] + (r - lo) * (v[hi] - v[lo]);
}

/* standard error of a mean from sums */
static double se_of(double sum, double sum_sq, long n) {
    if (n < 2) return NAN;
    double m = sum / n, var = sum_sq / n - m * m;
    return sqrt((var > 0 ? var : 0) / (n - 1));
}

int qs_kld_report_compute(qs_kld_report *r, const qs_kld_acc *a) {
    memset(r, 0, sizeof *r);
    long n = a->n;
    r->n = n;
    if (n == 0) return qs_error_set(QS_ERR_ARG, "kld: no scored tokens");
    double *v = malloc((size_t)n * sizeof *v);
    if (!v) return qs_error_set(QS_ERR_NOMEM, "out of memory for KLD percentiles");
    r->nll_base = a->nll_base / n;
    r->nll_q = a->nll_q / n;
    r->ppl_base = exp(r->nll_base);
    r->ppl_base_se = r->ppl_base * se_of(a->nll_base, a->nll_base_sq, n);
    r->ppl_q = exp(r->nll_q);
    r->ppl_q_se = r->ppl_q * se_of(a->nll_q, a->nll_q_sq, n);
    r->ln_ratio = a->diff / n;
    r->ln_ratio_se = se_of(a->diff, a->diff_sq, n);
    r->ppl_ratio = exp(r->ln_ratio);
    r->ppl_ratio_se = r->ppl_ratio * r->ln_ratio_se;

    double s = 0, s2 = 0;
    for (long i = 0; i < n; i++) s += a->kld[i], s2 += a->kld[i] * a->kld[i];
    r->kld_mean = s / n;
    r->kld_se = se_of(s, s2, n);
    memcpy(v, a->kld, (size_t)n * sizeof *v);
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    for (int k = 0; k < QS_KLD_NPCT; k++) r->kld_pct[k] = pct(v, n, qs_kld_pct_levels[k]);

    double d = 0, d2 = 0, d4 = 0;
    for (long i = 0; i < n; i++) {
        double x = a->dp[i];
        d += x, d2 += x * x, d4 += x * x * x * x;
    }
    r->dp_mean = d / n;
    r->dp_se = se_of(d, d2, n);
    r->dp_rms = sqrt(d2 / n);
    /* delta method: se(rms) = se(mean of dp²) / (2 rms) */
    double se_sq = se_of(d2, d4, n);
    r->dp_rms_se = r->dp_rms > 0 ? se_sq / (2 * r->dp_rms) : 0;
    memcpy(v, a->dp, (size_t)n * sizeof *v);
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    for (int k = 0; k < QS_KLD_NPCT; k++) r->dp_pct[k] = pct(v, n, qs_kld_pct_levels[k]);

    r->top1 = (double)a->top1_same / n;
    r->top1_se = sqrt(r->top1 * (1 - r->top1) / n);
    r->top5 = a->top5_overlap / n;
    /* per-token overlaps are not kept; the binomial form bounds their standard error */
    r->top5_se = sqrt(r->top5 * (1 - r->top5) / n);
    free(v);
    return QS_OK;
}
