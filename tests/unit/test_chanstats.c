/* analysis/chanstats: hand-computed window, brute-force outlier counts on a heavy-tailed
 * synthetic tensor, streaming == one shot, merge == sequential, thread determinism,
 * non-finite inputs, argument errors. `--dump DIR` writes the synthetic tensor and the
 * statistics for the numpy witness instead of testing. */
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "analysis_synth.h"
#include "chanstats.h"
#include "check.h"
#include "error.h"
#include "select.h"
#include "tokenscan.h"

/* Named tolerances */
#define MAX_STREAM_REL_ERROR 1e-12 /* streaming vs one-shot vs merged moments */
#define MAX_HAND_ERROR       1e-12

enum { W = 16, TW = 256, C = 48 };

static qs_chanstats *make(const qs_chanstats_config *cfg) {
    qs_chanstats *s = NULL;
    int rc = qs_chanstats_create(&s, C, cfg);
    QS_ASSERT(rc == QS_OK && s);
    return s;
}

static void stream(qs_chanstats *s, const float *x, int w0, int w1) {
    for (int w = w0; w < w1; w++) {
        int rc = qs_chanstats_add(s, x + (size_t)w * TW * C, TW, C);
        QS_ASSERT(rc == QS_OK);
    }
}

/* Every column plus the raw moments, for bitwise comparisons. */
static void snapshot(const qs_chanstats *s, double *buf /* (FIELDS+4, C) */) {
    for (int f = 0; f < QS_CHANSTATS_FIELD_COUNT; f++)
        qs_chanstats_column(s, f, buf + (size_t)f * C);
    double *m = buf + (size_t)QS_CHANSTATS_FIELD_COUNT * C;
    for (int c = 0; c < C; c++) {
        qs_moments mm = qs_chanstats_moments(s, c);
        m[c] = mm.mean;
        m[C + c] = mm.m2;
        m[2 * C + c] = mm.m3;
        m[3 * C + c] = mm.m4;
    }
}
#define SNAP ((QS_CHANSTATS_FIELD_COUNT + 4) * C)

static void test_hand(void) {
    /* rows and their medians of |x| (C = 3, odd): 2, 1, 2, 0, 0 */
    /* clang-format off */
    const float x[5 * 3] = {
         1, 2, 3,   /* median 2 */
        -1, 0, 100, /* 100/1 >= 20: outlier in c2; |100| >= 6: int8 */
         2, 2, 2,   /* median 2 */
         0, 0, 0,   /* median 0 and all zero: no outlier anywhere */
         0, 0, -7,  /* median 0, |-7| > 0: r = +inf, outlier in c2; int8 */
    };
    /* clang-format on */
    qs_chanstats *s = NULL;
    CHECK(qs_chanstats_create(&s, 3, NULL) == QS_OK);
    CHECK(qs_chanstats_add(s, x, 5, 3) == QS_OK);
    qs_chanstats_channel ch;
    CHECK(qs_chanstats_channel_get(s, 0, &ch) == QS_OK);
    /* channel 0: 1, -1, 2, 0, 0: mean 0.4, deviations .6 -1.4 1.6 -.4 -.4 */
    double m2 = 0.36 + 1.96 + 2.56 + 0.16 + 0.16;      /* 5.2 */
    double m3 = 0.216 - 2.744 + 4.096 - 0.064 - 0.064; /* 1.44 */
    double m4 = 0.1296 + 3.8416 + 6.5536 + 0.0256 + 0.0256;
    CHECK(ch.count == 5);
    CHECK_NEAR(ch.mean, 0.4, MAX_HAND_ERROR);
    CHECK_NEAR(ch.var, m2 / 5, MAX_HAND_ERROR);
    CHECK_NEAR(ch.var, 1.04, MAX_HAND_ERROR);
    CHECK_NEAR(ch.skewness, sqrt(5.0) * m3 / pow(m2, 1.5), MAX_HAND_ERROR);
    CHECK_NEAR(ch.kurtosis, 5.0 * m4 / (m2 * m2), MAX_HAND_ERROR);
    CHECK_NEAR(ch.kurtosis, 1.9556213017751479, MAX_HAND_ERROR); /* 52.88 / 27.04 */
    CHECK(ch.min == -1.0 && ch.max == 2.0 && ch.absmax == 2.0);
    CHECK_NEAR(ch.mean_abs, 4.0 / 5, MAX_HAND_ERROR);
    CHECK_NEAR(ch.mean_sq, 6.0 / 5, MAX_HAND_ERROR);
    CHECK(ch.n_outlier_tokens == 0 && ch.n_int8_tokens == 0);
    CHECK(ch.n_windows == 1 && ch.n_outlier_windows == 0);

    CHECK(qs_chanstats_channel_get(s, 2, &ch) == QS_OK);
    CHECK_NEAR(ch.mean, 98.0 / 5, MAX_HAND_ERROR);
    CHECK(ch.min == -7.0 && ch.max == 100.0 && ch.absmax == 100.0);
    CHECK_NEAR(ch.mean_abs, 112.0 / 5, MAX_HAND_ERROR);
    CHECK(ch.n_outlier_tokens == 2);
    CHECK(ch.n_int8_tokens == 2);
    CHECK(ch.n_outlier_windows == 0); /* 2/5 = 0.4 < phi = 0.5 */
    CHECK(qs_chanstats_channel_get(s, 1, &ch) == QS_OK);
    CHECK(ch.n_outlier_tokens == 0 && ch.absmax == 2.0);
    /* excess kurtosis helper */
    qs_moments mm = qs_chanstats_moments(s, 0);
    CHECK_NEAR(qs_moments_excess_kurtosis(&mm), 1.9556213017751479 - 3.0, MAX_HAND_ERROR);
    qs_chanstats_free(s);

    /* phi = 0.4: that window now counts for c2; tau = 150 drops the 100/1 token */
    qs_chanstats_config cfg = qs_chanstats_config_default();
    cfg.phi = 0.4;
    CHECK(qs_chanstats_create(&s, 3, &cfg) == QS_OK);
    CHECK(qs_chanstats_add(s, x, 5, 3) == QS_OK);
    qs_chanstats_channel_get(s, 2, &ch);
    CHECK(ch.n_outlier_windows == 1);
    qs_chanstats_free(s);
    cfg = qs_chanstats_config_default();
    cfg.tau = 150;
    cfg.int8_threshold = 7.0; /* |-7| >= 7 still counts: the threshold is inclusive */
    CHECK(qs_chanstats_create(&s, 3, &cfg) == QS_OK);
    CHECK(qs_chanstats_add(s, x, 5, 3) == QS_OK);
    qs_chanstats_channel_get(s, 2, &ch);
    CHECK(ch.n_outlier_tokens == 1); /* only the median-0 token (ratio +inf) */
    CHECK(ch.n_int8_tokens == 2);
    qs_chanstats_free(s);

    /* even C: median is the mean of the two middle values. Row |x| = 1, 1, 3, 100:
     * median 2, so 100/2 = 50 >= 20 (outlier) but 3/2 is not */
    const float xe[4] = {1, -1, 3, 100};
    CHECK(qs_chanstats_create(&s, 4, NULL) == QS_OK);
    CHECK(qs_chanstats_add(s, xe, 1, 4) == QS_OK);
    qs_chanstats_channel_get(s, 3, &ch);
    CHECK(ch.n_outlier_tokens == 1 && ch.n_outlier_windows == 1);
    qs_chanstats_channel_get(s, 2, &ch);
    CHECK(ch.n_outlier_tokens == 0);
    /* a single token: variance 0, so skewness and kurtosis are NaN (documented) */
    CHECK(ch.var == 0.0 && isnan(ch.skewness) && isnan(ch.kurtosis));
    qs_chanstats_free(s);
}

/* Independent brute force: medians by full sort, counts by direct loops. */
static void test_bruteforce(const float *x) {
    qs_chanstats *s = make(NULL);
    stream(s, x, 0, W);
    int64_t nout[C] = {0}, nint8[C] = {0}, nwin[C] = {0};
    float scratch[C];
    for (int w = 0; w < W; w++) {
        int64_t inwin[C] = {0};
        for (int t = 0; t < TW; t++) {
            const float *row = x + ((size_t)w * TW + t) * C;
            double med = qs_select_median_abs_ref(scratch, row, C);
            for (int c = 0; c < C; c++) {
                double a = fabs((double)row[c]);
                int o = med > 0 ? a / med >= 20.0 : a > 0;
                nout[c] += o;
                inwin[c] += o;
                nint8[c] += a >= 6.0;
            }
        }
        for (int c = 0; c < C; c++) nwin[c] += 2 * inwin[c] >= TW;
    }
    int ok_out = 1, ok_int8 = 1, ok_win = 1;
    for (int c = 0; c < C; c++) {
        qs_chanstats_channel ch;
        qs_chanstats_channel_get(s, c, &ch);
        ok_out &= ch.n_outlier_tokens == nout[c];
        ok_int8 &= ch.n_int8_tokens == nint8[c];
        ok_win &= ch.n_outlier_windows == nwin[c];
    }
    CHECK(ok_out);
    CHECK(ok_int8);
    CHECK(ok_win);
    /* the planted structure shows through */
    CHECK(nout[SYN_OUT_CH] == W * TW);
    CHECK(nwin[SYN_OUT_CH] == W);
    CHECK(nwin[SYN_PART_CH] == W / 4);
    CHECK(nout[SYN_PART_CH] >= W / 4 * TW && nout[SYN_PART_CH] < W * TW / 2);
    CHECK(nout[0] < TW); /* ordinary heavy-tailed channel: rare */
    qs_chanstats_free(s);
}

static void test_stream_vs_oneshot(const float *x) {
    qs_chanstats *a = make(NULL), *b = make(NULL);
    stream(a, x, 0, W);
    CHECK(qs_chanstats_add(b, x, W * TW, C) == QS_OK);
    CHECK(qs_chanstats_count(a) == W * TW && qs_chanstats_count(b) == W * TW);
    CHECK(qs_chanstats_windows(a) == W && qs_chanstats_windows(b) == 1);
    double worst = 0.0;
    int exact = 1;
    for (int c = 0; c < C; c++) {
        qs_moments ma = qs_chanstats_moments(a, c), mb = qs_chanstats_moments(b, c);
        double sd = sqrt(mb.m2 / mb.n);
        double r[4] = {syn_rel(ma.mean, mb.mean, sd), syn_rel(ma.m2, mb.m2, 0),
                       /* M3 may be near 0: scale it by M2^1.5/sqrt(n) */
                       syn_rel(ma.m3, mb.m3, pow(mb.m2, 1.5) / sqrt((double)mb.n)),
                       syn_rel(ma.m4, mb.m4, 0)};
        for (int k = 0; k < 4; k++)
            if (r[k] > worst) worst = r[k];
        qs_chanstats_channel ca, cb;
        qs_chanstats_channel_get(a, c, &ca);
        qs_chanstats_channel_get(b, c, &cb);
        exact &= ca.min == cb.min && ca.max == cb.max && ca.absmax == cb.absmax &&
                 ca.n_outlier_tokens == cb.n_outlier_tokens && ca.n_int8_tokens == cb.n_int8_tokens;
        if (syn_rel(ca.mean_abs, cb.mean_abs, 0) > worst)
            worst = syn_rel(ca.mean_abs, cb.mean_abs, 0);
        if (syn_rel(ca.mean_sq, cb.mean_sq, 0) > worst) worst = syn_rel(ca.mean_sq, cb.mean_sq, 0);
        if (syn_rel(ca.kurtosis, cb.kurtosis, 0) > worst)
            worst = syn_rel(ca.kurtosis, cb.kurtosis, 0);
    }
    CHECK_MSG(worst <= MAX_STREAM_REL_ERROR, "worst relative difference %.3g", worst);
    CHECK(exact);
    printf("stream vs one-shot: worst relative difference %.3g\n", worst);
    qs_chanstats_free(a);
    qs_chanstats_free(b);
}

static void test_merge(const float *x) {
    qs_chanstats *seq = make(NULL), *a = make(NULL), *b = make(NULL), *e = make(NULL);
    stream(seq, x, 0, W);
    stream(a, x, 0, 5);
    stream(b, x, 5, W);
    CHECK(qs_chanstats_merge(a, b) == QS_OK);
    CHECK(qs_chanstats_merge(a, e) == QS_OK); /* merging an empty one changes nothing */
    CHECK(qs_chanstats_count(a) == W * TW && qs_chanstats_windows(a) == W);
    double worst = 0.0;
    int exact = 1;
    for (int c = 0; c < C; c++) {
        qs_chanstats_channel cs, cm;
        qs_chanstats_channel_get(seq, c, &cs);
        qs_chanstats_channel_get(a, c, &cm);
        exact &= cs.min == cm.min && cs.max == cm.max && cs.absmax == cm.absmax &&
                 cs.n_outlier_tokens == cm.n_outlier_tokens &&
                 cs.n_int8_tokens == cm.n_int8_tokens && cs.n_windows == cm.n_windows &&
                 cs.n_outlier_windows == cm.n_outlier_windows;
        double r[5] = {syn_rel(cm.mean, cs.mean, cs.std), syn_rel(cm.var, cs.var, 0),
                       syn_rel(cm.skewness, cs.skewness, 1.0), syn_rel(cm.kurtosis, cs.kurtosis, 0),
                       syn_rel(cm.mean_abs, cs.mean_abs, 0)};
        for (int k = 0; k < 5; k++)
            if (r[k] > worst) worst = r[k];
    }
    CHECK(exact);
    CHECK_MSG(worst <= MAX_STREAM_REL_ERROR, "worst relative difference %.3g", worst);
    /* empty into empty, and into an empty one */
    qs_chanstats *e2 = make(NULL);
    CHECK(qs_chanstats_merge(e2, seq) == QS_OK);
    qs_chanstats_channel c1, c2;
    qs_chanstats_channel_get(e2, SYN_OUT_CH, &c1);
    qs_chanstats_channel_get(seq, SYN_OUT_CH, &c2);
    CHECK(memcmp(&c1, &c2, sizeof c1) == 0);
    /* mismatches */
    qs_chanstats *other = NULL;
    CHECK(qs_chanstats_create(&other, C + 1, NULL) == QS_OK);
    CHECK(qs_chanstats_merge(a, other) == QS_ERR_ARG);
    qs_chanstats_free(other);
    qs_chanstats_config cfg = qs_chanstats_config_default();
    cfg.tau = 10;
    other = make(&cfg);
    CHECK(qs_chanstats_merge(a, other) == QS_ERR_ARG);
    CHECK(qs_chanstats_merge(a, a) == QS_ERR_ARG);
    qs_chanstats_free(other);
    qs_chanstats_free(seq);
    qs_chanstats_free(a);
    qs_chanstats_free(b);
    qs_chanstats_free(e);
    qs_chanstats_free(e2);
}

static void test_threads(const float *x) {
    static double snap[3][SNAP];
    const int threads[3] = {1, 2, 3};
    int saved = omp_get_max_threads();
    for (int i = 0; i < 3; i++) {
        omp_set_num_threads(threads[i]);
        qs_chanstats *s = make(NULL);
        stream(s, x, 0, W);
        snapshot(s, snap[i]);
        qs_chanstats_free(s);
    }
    omp_set_num_threads(saved);
    CHECK(memcmp(snap[0], snap[1], sizeof snap[0]) == 0);
    CHECK(memcmp(snap[0], snap[2], sizeof snap[0]) == 0);
}

/* add_scan reuses tokenscan medians: bit-identical to add */
static void test_add_scan(const float *x) {
    static double s1[SNAP], s2[SNAP];
    static qs_token_stat scan[TW];
    qs_chanstats *a = make(NULL), *b = make(NULL);
    stream(a, x, 0, W);
    for (int w = 0; w < W; w++) {
        const float *xw = x + (size_t)w * TW * C;
        CHECK(qs_tokenscan(scan, xw, TW, C) == QS_OK);
        CHECK(qs_chanstats_add_scan(b, xw, TW, C, scan) == QS_OK);
    }
    snapshot(a, s1);
    snapshot(b, s2);
    CHECK(memcmp(s1, s2, sizeof s1) == 0);
    CHECK(qs_chanstats_windows(b) == W && qs_chanstats_count(b) == W * TW);
    CHECK(qs_chanstats_add_scan(b, x, TW, C, NULL) == QS_ERR_ARG);
    qs_chanstats_free(a);
    qs_chanstats_free(b);
}

static void test_errors(float *x) {
    qs_chanstats *s = make(NULL);
    stream(s, x, 0, 1);
    float keep1 = x[3 * C + 5], keep2 = x[9 * C + 1];
    x[3 * C + 5] = NAN;
    x[9 * C + 1] = INFINITY; /* later in row-major order: the NaN is named */
    CHECK(qs_chanstats_add(s, x, TW, C) == QS_ERR_NUMERIC);
    CHECK_MSG(strstr(qs_error_message(), "t=3, c=5") != NULL, "message: %s", qs_error_message());
    CHECK(qs_chanstats_count(s) == TW && qs_chanstats_windows(s) == 1); /* unchanged */
    x[3 * C + 5] = keep1;
    CHECK(qs_chanstats_add(s, x, TW, C) == QS_ERR_NUMERIC);
    CHECK_MSG(strstr(qs_error_message(), "t=9, c=1") != NULL, "message: %s", qs_error_message());
    x[9 * C + 1] = -INFINITY;
    CHECK(qs_chanstats_add(s, x, TW, C) == QS_ERR_NUMERIC);
    x[9 * C + 1] = keep2;
    CHECK(qs_chanstats_add(s, x, TW, C) == QS_OK);
    CHECK(qs_chanstats_add(s, x, 0, C) == QS_ERR_ARG);
    CHECK(qs_chanstats_add(s, x, TW, C - 1) == QS_ERR_ARG);
    CHECK(qs_chanstats_add(s, NULL, TW, C) == QS_ERR_ARG);
    qs_chanstats_channel ch;
    CHECK(qs_chanstats_channel_get(s, C, &ch) == QS_ERR_ARG);
    CHECK(qs_chanstats_channel_get(s, -1, &ch) == QS_ERR_ARG);
    double col[C];
    CHECK(qs_chanstats_column(s, QS_CHANSTATS_FIELD_COUNT, col) == QS_ERR_ARG);
    qs_chanstats_free(s);

    qs_chanstats_config cfg = qs_chanstats_config_default();
    CHECK(cfg.tau == 20.0 && cfg.phi == 0.5 && cfg.int8_threshold == 6.0);
    cfg.tau = 0;
    CHECK(qs_chanstats_create(&s, C, &cfg) == QS_ERR_ARG && s == NULL);
    cfg = qs_chanstats_config_default();
    cfg.phi = NAN;
    CHECK(qs_chanstats_create(&s, C, &cfg) == QS_ERR_ARG);
    cfg.phi = 1.5;
    CHECK(qs_chanstats_create(&s, C, &cfg) == QS_ERR_ARG);
    CHECK(qs_chanstats_create(&s, 0, NULL) == QS_ERR_ARG);
    qs_chanstats_free(NULL);

    /* empty accumulator: NaN moments, zero counts */
    s = make(NULL);
    qs_chanstats_channel_get(s, 0, &ch);
    CHECK(ch.count == 0 && isnan(ch.mean) && isnan(ch.var) && isnan(ch.absmax));
    CHECK(strcmp(qs_chanstats_field_name(QS_CHANSTATS_KURTOSIS), "kurtosis") == 0);
    CHECK(qs_chanstats_field_name(QS_CHANSTATS_FIELD_COUNT) == NULL);
    qs_chanstats_free(s);
}

static int dump(const char *dir, const float *x) {
    if (syn_mkdir(dir)) return 1;
    qs_chanstats *s = make(NULL);
    stream(s, x, 0, W);
    char meta[256];
    qs_chanstats_config cfg = qs_chanstats_get_config(s);
    int len = snprintf(meta, sizeof meta, "W %d\nTW %d\nC %d\ntau %.17g\nphi %.17g\nint8 %.17g\n",
                       W, TW, C, cfg.tau, cfg.phi, cfg.int8_threshold);
    int bad = syn_write(dir, "meta.txt", meta, (size_t)len);
    bad |= syn_write(dir, "x.f32", x, sizeof(float) * W * TW * C);
    double col[C];
    for (int f = 0; f < QS_CHANSTATS_FIELD_COUNT; f++) {
        char name[64];
        snprintf(name, sizeof name, "%s.f64", qs_chanstats_field_name(f));
        qs_chanstats_column(s, f, col);
        bad |= syn_write(dir, name, col, sizeof col);
    }
    qs_chanstats_free(s);
    return bad;
}

int main(int argc, char **argv) {
    static float x[W * TW * C];
    syn_fill(x, W, TW, C, 1234);
    const char *dir = syn_dump_dir(argc, argv);
    if (dir) return dump(dir, x);
    qs_error_clear();
    test_hand();
    test_bruteforce(x);
    test_stream_vs_oneshot(x);
    test_merge(x);
    test_threads(x);
    test_add_scan(x);
    test_errors(x);
    return check_summary("test_chanstats");
}
