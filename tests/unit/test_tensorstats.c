/* analysis/tensorstats: hand-placed histogram bins and percentiles, percentiles of a
 * heavy-tailed tensor within one bin of the exact order statistic, streaming == one shot,
 * merge == sequential, thread determinism, non-finite inputs. `--dump DIR` writes the
 * tensor and its statistics for the numpy witness. */
#include <omp.h>
#include <string.h>

#include "analysis_synth.h"
#include "check.h"
#include "error.h"
#include "tensorstats.h"

/* Named tolerances */
#define MAX_HAND_ERROR       1e-12 /* closed forms in double */
#define MAX_MOMENT_REL_ERROR 1e-15 /* mean and variance of ten values in double */

#define MAX_STREAM_REL_ERROR 1e-12
#define BIN_LOG10            (1.0 / QS_TENSORSTATS_BINS_PER_DECADE) /* one bin in log10 units */

enum { W = 8, TW = 512, C = 40, N = W * TW * C };

static qs_tensorstats *make(void) {
    qs_tensorstats *s = NULL;
    int rc = qs_tensorstats_create(&s);
    QS_ASSERT(rc == QS_OK && s);
    return s;
}

static int cmp_float(const void *pa, const void *pb) {
    float a = *(const float *)pa, b = *(const float *)pb;
    return (a > b) - (a < b);
}

static void test_hand(void) {
    const float x[10] = {0, 0, 1, -10, 100, 1e-12f, -1e12f, 1, 1, 2};
    qs_tensorstats *s = make();
    CHECK(qs_tensorstats_add(s, x, 10) == QS_OK);
    const gsl_histogram *h = qs_tensorstats_histogram(s);
    CHECK(h->n == QS_TENSORSTATS_NBINS && QS_TENSORSTATS_NBINS == 2000);
    CHECK(h->range[0] == 1e-10 && h->range[1000] == 1.0 && h->range[2000] == 1e10);
    CHECK(h->bin[1000] == 3); /* the three 1s: edges[1000] = 1 exactly, lower edge inclusive */
    CHECK(h->bin[1100] == 1); /* 10 */
    CHECK(h->bin[1200] == 1); /* 100 */
    CHECK(h->bin[1030] == 1); /* 2: log10 2 = 0.30103 */
    CHECK(h->bin[0] == 1);    /* 1e-12: underflow into the first bin */
    CHECK(h->bin[1999] == 1); /* 1e12: overflow into the last bin */
    double total = 0;
    for (size_t i = 0; i < h->n; i++) total += h->bin[i];
    CHECK(total == 8);
    qs_tensorstats_summary m;
    CHECK(qs_tensorstats_summarize(s, &m) == QS_OK);
    CHECK(m.count == 10 && m.n_zero == 2 && m.n_underflow == 1 && m.n_overflow == 1);
    CHECK(m.absmax == (double)1e12f && m.min == (double)-1e12f && m.max == 100.0);
    CHECK(m.min_abs_nonzero == (double)1e-12f);
    /* moments against a direct two-pass computation */
    double mean = 0, m2 = 0, m3 = 0, m4 = 0;
    for (int i = 0; i < 10; i++) mean += x[i];
    mean /= 10;
    for (int i = 0; i < 10; i++) {
        double d = x[i] - mean;
        m2 += d * d;
        m3 += d * d * d;
        m4 += d * d * d * d;
    }
    CHECK(syn_rel(m.mean, mean, 0) < MAX_MOMENT_REL_ERROR);
    CHECK(syn_rel(m.var, m2 / 10, 0) < MAX_MOMENT_REL_ERROR);
    CHECK(syn_rel(m.skewness, sqrt(10.0) * m3 / pow(m2, 1.5), 0) < MAX_HAND_ERROR);
    CHECK(syn_rel(m.kurtosis, 10 * m4 / (m2 * m2), 0) < MAX_HAND_ERROR);
    /* percentiles: ranks k = p/100 * 10 over |x| sorted 0 0 1e-12 1 1 1 2 10 100 1e12 */
    double p;
    CHECK(qs_tensorstats_percentile(s, 20, &p) == QS_OK && p == 0.0); /* k = 2 <= 2 zeros */
    CHECK(qs_tensorstats_percentile(s, 0, &p) == QS_OK && p == 0.0);
    CHECK(qs_tensorstats_percentile(s, 100, &p) == QS_OK && p == (double)1e12f);
    /* k = 5: bin 1000 holds ranks 4..6 (3 values), f = (5 - 3)/3, inside [1, 10^0.01) */
    CHECK(qs_tensorstats_percentile(s, 50, &p) == QS_OK);
    CHECK_NEAR(p, pow(10.0, (2.0 / 3.0) * 0.01), MAX_HAND_ERROR);
    /* k = 3: the underflow bin; clamped below by the smallest nonzero |x| */
    CHECK(qs_tensorstats_percentile(s, 30, &p) == QS_OK);
    CHECK(p >= (double)1e-12f && p <= 1e-10 * pow(10, 0.01));
    CHECK(qs_tensorstats_percentile(s, -1, &p) == QS_ERR_ARG);
    CHECK(qs_tensorstats_percentile(s, 100.5, &p) == QS_ERR_ARG);
    CHECK(qs_tensorstats_percentile(s, NAN, &p) == QS_ERR_ARG);
    /* bins copy */
    static double edges[QS_TENSORSTATS_NBINS + 1];
    static uint64_t counts[QS_TENSORSTATS_NBINS];
    qs_tensorstats_bins(s, edges, counts);
    CHECK(edges[1000] == 1.0 && counts[1000] == 3 && counts[1999] == 1);
    qs_tensorstats_free(s);

    /* all zeros: percentiles 0, skewness/kurtosis NaN */
    const float z[4] = {0, 0, 0, 0};
    s = make();
    CHECK(qs_tensorstats_add(s, z, 4) == QS_OK);
    CHECK(qs_tensorstats_summarize(s, &m) == QS_OK);
    CHECK(m.n_zero == 4 && m.p99 == 0.0 && m.absmax == 0.0 && isnan(m.kurtosis));
    CHECK(qs_tensorstats_percentile(s, 100, &p) == QS_OK && p == 0.0);
    qs_tensorstats_free(s);
    /* empty */
    s = make();
    CHECK(qs_tensorstats_percentile(s, 50, &p) == QS_ERR_ARG);
    CHECK(qs_tensorstats_summarize(s, &m) == QS_OK && m.count == 0 && isnan(m.p50));
    CHECK(qs_tensorstats_add(s, x, 0) == QS_OK && qs_tensorstats_count(s) == 0);
    qs_tensorstats_free(s);
}

static void test_percentiles(const float *x) {
    qs_tensorstats *s = make();
    CHECK(qs_tensorstats_add(s, x, N) == QS_OK);
    float *a = malloc(sizeof(float) * N);
    for (int i = 0; i < N; i++) a[i] = fabsf(x[i]);
    qsort(a, N, sizeof *a, cmp_float);
    const double ps[] = {1, 10, 50, 90, 99, 99.9, 99.99, 99.999};
    double worst = 0;
    for (size_t j = 0; j < sizeof ps / sizeof *ps; j++) {
        double est;
        CHECK(qs_tensorstats_percentile(s, ps[j], &est) == QS_OK);
        /* the order statistic of rank ceil(k): the value whose bin the estimate comes from */
        long k = (long)ceil(ps[j] / 100.0 * N);
        double exact = a[k - 1];
        double err = exact == 0.0 ? (est == 0.0 ? 0.0 : INFINITY) : fabs(log10(est) - log10(exact));
        if (err > worst) worst = err;
        CHECK_MSG(err <= BIN_LOG10, "p%g: %.9g vs exact %.9g", ps[j], est, exact);
    }
    printf("percentiles: worst |log10 error| %.4f (one bin = %.4f)\n", worst, BIN_LOG10);
    qs_tensorstats_summary m;
    qs_tensorstats_summarize(s, &m);
    CHECK(m.absmax == a[N - 1]);
    free(a);
    qs_tensorstats_free(s);
}

static void test_stream_merge(const float *x) {
    qs_tensorstats *one = make(), *str = make(), *a = make(), *b = make();
    CHECK(qs_tensorstats_add(one, x, N) == QS_OK);
    /* uneven pieces, so chunk boundaries differ from the one-shot run */
    const int64_t cuts[] = {0, 1, 4097, 50000, 111111, N};
    for (int i = 0; i + 1 < 6; i++)
        CHECK(qs_tensorstats_add(str, x + cuts[i], cuts[i + 1] - cuts[i]) == QS_OK);
    CHECK(qs_tensorstats_add(a, x, 70000) == QS_OK);
    CHECK(qs_tensorstats_add(b, x + 70000, N - 70000) == QS_OK);
    CHECK(qs_tensorstats_merge(a, b) == QS_OK);
    CHECK(qs_tensorstats_merge(a, a) == QS_ERR_ARG);
    qs_tensorstats_summary m1, m2, m3;
    qs_tensorstats_summarize(one, &m1);
    qs_tensorstats_summarize(str, &m2);
    qs_tensorstats_summarize(a, &m3);
    const qs_tensorstats_summary *ms[2] = {&m2, &m3};
    for (int i = 0; i < 2; i++) {
        const qs_tensorstats_summary *m = ms[i];
        CHECK(m->count == N && m->n_zero == m1.n_zero && m->absmax == m1.absmax &&
              m->min == m1.min && m->max == m1.max);
        double r = 0;
        double v[6][2] = {{m->mean, m1.mean},         {m->var, m1.var},
                          {m->skewness, m1.skewness}, {m->kurtosis, m1.kurtosis},
                          {m->mean_abs, m1.mean_abs}, {m->mean_sq, m1.mean_sq}};
        for (int k = 0; k < 6; k++) {
            double e = syn_rel(v[k][0], v[k][1], k == 0 ? m1.std : k == 2 ? 1.0 : 0.0);
            if (e > r) r = e;
        }
        CHECK_MSG(r <= MAX_STREAM_REL_ERROR, "worst relative difference %.3g", r);
        /* histograms identical: integer counts */
        CHECK(m->p50 == m1.p50 && m->p99 == m1.p99 && m->p9999 == m1.p9999);
    }
    const gsl_histogram *h1 = qs_tensorstats_histogram(one), *h3 = qs_tensorstats_histogram(a);
    CHECK(memcmp(h1->bin, h3->bin, sizeof(double) * h1->n) == 0);
    qs_tensorstats_free(one);
    qs_tensorstats_free(str);
    qs_tensorstats_free(a);
    qs_tensorstats_free(b);
}

static void test_threads(const float *x) {
    qs_tensorstats_summary m[3];
    static double bins[3][QS_TENSORSTATS_NBINS];
    memset(m, 0, sizeof m);
    int saved = omp_get_max_threads();
    for (int i = 0; i < 3; i++) {
        omp_set_num_threads(i + 1);
        qs_tensorstats *s = make();
        CHECK(qs_tensorstats_add(s, x, N / 2) == QS_OK);
        CHECK(qs_tensorstats_add(s, x + N / 2, N - N / 2) == QS_OK);
        qs_tensorstats_summarize(s, &m[i]);
        memcpy(bins[i], qs_tensorstats_histogram(s)->bin, sizeof bins[i]);
        qs_tensorstats_free(s);
    }
    omp_set_num_threads(saved);
    CHECK(memcmp(&m[0], &m[1], sizeof m[0]) == 0 && memcmp(&m[0], &m[2], sizeof m[0]) == 0);
    CHECK(memcmp(bins[0], bins[1], sizeof bins[0]) == 0 &&
          memcmp(bins[0], bins[2], sizeof bins[0]) == 0);
}

static void test_errors(float *x) {
    qs_tensorstats *s = make();
    float keep = x[123457];
    x[123457] = -INFINITY;
    CHECK(qs_tensorstats_add(s, x, N) == QS_ERR_NUMERIC);
    CHECK_MSG(strstr(qs_error_message(), "index 123457") != NULL, "message: %s",
              qs_error_message());
    CHECK(qs_tensorstats_count(s) == 0);
    x[123457] = keep;
    CHECK(qs_tensorstats_add(s, x, -1) == QS_ERR_ARG);
    CHECK(qs_tensorstats_add(s, NULL, 3) == QS_ERR_ARG);
    CHECK(qs_tensorstats_create(NULL) == QS_ERR_ARG);
    qs_tensorstats_free(s);
    qs_tensorstats_free(NULL);
}

static int dump(const char *dir, const float *x) {
    if (syn_mkdir(dir)) return 1;
    qs_tensorstats *s = make();
    /* two adds, so the dump also covers streaming */
    if (qs_tensorstats_add(s, x, N / 3) || qs_tensorstats_add(s, x + N / 3, N - N / 3)) return 1;
    qs_tensorstats_summary m;
    qs_tensorstats_summarize(s, &m);
    /* fixed order, documented in tests/ref/test_analysis_numpy.py */
    double sum[14] = {(double)m.count,
                      (double)m.n_zero,
                      (double)m.n_underflow,
                      (double)m.n_overflow,
                      m.mean,
                      m.var,
                      m.skewness,
                      m.kurtosis,
                      m.min,
                      m.max,
                      m.absmax,
                      m.min_abs_nonzero,
                      m.mean_abs,
                      m.mean_sq};
    const double ps[8] = {0.1, 1, 50, 90, 99, 99.9, 99.99, 100};
    double pv[8];
    for (int j = 0; j < 8; j++) qs_tensorstats_percentile(s, ps[j], &pv[j]);
    static double edges[QS_TENSORSTATS_NBINS + 1];
    static uint64_t counts[QS_TENSORSTATS_NBINS];
    qs_tensorstats_bins(s, edges, counts);
    char meta[128];
    int len = snprintf(meta, sizeof meta, "N %d\nbins_per_decade %d\nlog10_min %d\nlog10_max %d\n",
                       N, QS_TENSORSTATS_BINS_PER_DECADE, QS_TENSORSTATS_LOG10_MIN,
                       QS_TENSORSTATS_LOG10_MAX);
    int bad = syn_write(dir, "meta.txt", meta, (size_t)len);
    bad |= syn_write(dir, "x.f32", x, sizeof(float) * N);
    bad |= syn_write(dir, "summary.f64", sum, sizeof sum);
    bad |= syn_write(dir, "p.f64", ps, sizeof ps);
    bad |= syn_write(dir, "pvalue.f64", pv, sizeof pv);
    bad |= syn_write(dir, "edges.f64", edges, sizeof edges);
    bad |= syn_write(dir, "counts.u64", counts, sizeof counts);
    qs_tensorstats_free(s);
    return bad;
}

int main(int argc, char **argv) {
    float *x = malloc(sizeof(float) * N);
    syn_fill(x, W, TW, C, 4242);
    for (int i = 0; i < N; i += 97) x[i] = 0.0f; /* zeros, counted apart */
    x[17] = 3e-12f;                              /* below the histogram */
    x[18] = -2e11f;                              /* above it */
    const char *dir = syn_dump_dir(argc, argv);
    if (dir) {
        int rc = dump(dir, x);
        free(x);
        return rc;
    }
    qs_error_clear();
    test_hand();
    test_percentiles(x);
    test_stream_merge(x);
    test_threads(x);
    test_errors(x);
    free(x);
    return check_summary("test_tensorstats");
}
