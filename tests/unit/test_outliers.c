/* analysis/outliers: a heavy-tailed synthetic tensor with one planted persistent channel,
 * a planted part-time channel and planted massive tokens must give back exactly those, with
 * no false positives; hand cases for the ratios, the zero-median conventions, inclusive
 * thresholds and the shared-channel helper. `--dump DIR` writes the tensor and the
 * detections for the numpy witness. */
#include <string.h>

#include "analysis_synth.h"
#include "chanstats.h"
#include "check.h"
#include "error.h"
#include "outliers.h"
#include "tokenscan.h"

/* Named tolerances */
#define MAX_HAND_ERROR  1e-12 /* ratios of exactly representable values */
#define MAX_RATIO_ERROR 1e-9  /* a ratio of float32 values computed in double */

enum { W = 8, TW = 256, C = 64 };

typedef struct detections {
    qs_outlier_channel ch[C];
    int n_ch;
    qs_outlier_token tok[W * TW];
    int n_tok;
    qs_chanstats *s;
} detections;

/* The capture-pipeline shape: per window, tokenscan, chanstats add reusing its medians,
 * token detection. */
static void detect(detections *d, const float *x, const qs_outlier_config *cfg) {
    QS_ASSERT(qs_chanstats_create(&d->s, C, NULL) == QS_OK);
    static qs_token_stat scan[TW];
    d->n_tok = 0;
    for (int w = 0; w < W; w++) {
        const float *xw = x + (size_t)w * TW * C;
        QS_ASSERT(qs_tokenscan(scan, xw, TW, C) == QS_OK);
        QS_ASSERT(qs_chanstats_add_scan(d->s, xw, TW, C, scan) == QS_OK);
        int n = 0;
        QS_ASSERT(qs_outliers_tokens(d->tok + d->n_tok, &n, scan, TW, (int64_t)w * TW, cfg) ==
                  QS_OK);
        d->n_tok += n;
    }
    QS_ASSERT(qs_outliers_channels(d->ch, &d->n_ch, d->s, cfg) == QS_OK);
}

static void test_planted(const float *x) {
    static detections d;
    detect(&d, x, NULL);
    CHECK_MSG(d.n_ch == 1, "%d channels found", d.n_ch);
    if (d.n_ch >= 1) {
        const qs_outlier_channel *o = &d.ch[0];
        CHECK(o->channel == SYN_OUT_CH);
        /* every token but the all-zero one (median 0, |x| = 0: r = 0) */
        CHECK(o->token_fraction == (double)(W * TW - 1) / (W * TW));
        CHECK(o->sequence_fraction == 1.0);
        qs_chanstats_channel st;
        qs_chanstats_channel_get(d.s, SYN_OUT_CH, &st);
        CHECK(o->absmax == st.absmax && o->absmax >= 60.0);
        CHECK(o->ratio_to_median > 50.0);
    }
    CHECK_MSG(d.n_tok == SYN_N_MASSIVE, "%d tokens found", d.n_tok);
    int ok = d.n_tok == SYN_N_MASSIVE;
    for (int i = 0; ok && i < SYN_N_MASSIVE; i++) {
        const qs_outlier_token *t = &d.tok[i];
        ok &= t->position == syn_massive_row[i] && t->channel == SYN_MASSIVE_CH &&
              t->value == syn_massive_val[i] && t->ratio >= 1000.0;
    }
    CHECK(ok);

    /* the part-time channel: token fraction 1/4, every 4th window an outlier window */
    qs_outlier_config cfg = qs_outlier_config_default();
    cfg.min_token_frac = 0.2;
    qs_outlier_channel ch[C];
    int n = 0;
    CHECK(qs_outliers_channels(ch, &n, d.s, &cfg) == QS_OK);
    CHECK(n == 2 && ch[0].channel == SYN_OUT_CH && ch[1].channel == SYN_PART_CH);
    if (n == 2) {
        CHECK(ch[1].sequence_fraction == 0.25);
        CHECK(ch[1].token_fraction == (double)(W / 4 * TW - 1) / (W * TW)); /* the zero token */
    }
    qs_chanstats_free(d.s);
}

static void test_hand_channels(void) {
    /* C = 4, 4 tokens. mean|x| per channel: 1, 2, 3, 50 -> median over channels 2.5 */
    const float x[4 * 4] = {
        1,  2,  3,  50,  /* median |x| 2.5: 50/2.5 = 20 >= tau, outlier in c3 */
        -1, 2,  3,  100, /* median 2.5: 40 */
        1,  -2, 3,  49,  /* median 2.5: 19.6 < 20, not an outlier */
        -1, 2,  -3, 1,   /* median 1.5 */
    };
    qs_chanstats *s = NULL;
    CHECK(qs_chanstats_create(&s, 4, NULL) == QS_OK);
    qs_outlier_channel ch[4];
    int n = -1;
    CHECK(qs_outliers_channels(ch, &n, s, NULL) == QS_ERR_ARG && n == 0); /* no tokens yet */
    CHECK(qs_chanstats_add(s, x, 2, 4) == QS_OK); /* two windows of two tokens */
    CHECK(qs_chanstats_add(s, x + 8, 2, 4) == QS_OK);
    CHECK(qs_outliers_channels(ch, &n, s, NULL) == QS_OK);
    CHECK(n == 1 && ch[0].channel == 3);
    CHECK(ch[0].absmax == 100.0);
    CHECK(ch[0].token_fraction == 0.5);    /* 2 of 4 tokens: >= 0.5 is inclusive */
    CHECK(ch[0].sequence_fraction == 0.5); /* window 1 only */
    CHECK_NEAR(ch[0].ratio_to_median, 100.0 / 2.5, MAX_HAND_ERROR);
    qs_outlier_config cfg = qs_outlier_config_default();
    cfg.min_token_frac = 0.51;
    CHECK(qs_outliers_channels(ch, &n, s, &cfg) == QS_OK && n == 0);
    cfg.min_token_frac = 1.5;
    CHECK(qs_outliers_channels(ch, &n, s, &cfg) == QS_ERR_ARG);
    qs_chanstats_free(s);

    /* median of mean|x| over channels is 0: ratio +inf for a nonzero absmax.
     * C = 3, one token (0, 0, 5): the token's median is 0 so c2 is an outlier (r = inf) */
    const float z[3] = {0, 0, 5};
    CHECK(qs_chanstats_create(&s, 3, NULL) == QS_OK);
    CHECK(qs_chanstats_add(s, z, 1, 3) == QS_OK);
    CHECK(qs_outliers_channels(ch, &n, s, NULL) == QS_OK);
    CHECK(n == 1 && ch[0].channel == 2 && isinf(ch[0].ratio_to_median));
    qs_chanstats_free(s);
}

static void test_hand_tokens(void) {
    qs_token_stat scan[5] = {
        {100.0f, -100.0f, 3, 0.1},  /* exactly A and exactly rho: both inclusive */
        {99.99f, 99.99f, 1, 0.0},   /* below A although the ratio is +inf */
        {5000.0f, 5000.0f, 2, 5.1}, /* ratio 980 < 1000 */
        {200.0f, 200.0f, 0, 0.0},   /* median 0: ratio +inf */
        {0.0f, 0.0f, 0, 0.0},       /* an all-zero token: ratio 0, nothing */
    };
    qs_outlier_token out[5];
    int n = -1;
    CHECK(qs_outliers_tokens(out, &n, scan, 5, 1000, NULL) == QS_OK);
    CHECK(n == 2);
    if (n == 2) {
        CHECK(out[0].position == 1000 && out[0].channel == 3 && out[0].value == -100.0f);
        CHECK_NEAR(out[0].ratio, 1000.0, MAX_RATIO_ERROR);
        CHECK(out[1].position == 1003 && isinf(out[1].ratio) && out[1].value == 200.0f);
    }
    qs_outlier_config cfg = qs_outlier_config_default();
    CHECK(cfg.min_token_frac == 0.5 && cfg.massive_abs == 100.0 && cfg.massive_ratio == 1000.0);
    cfg.massive_ratio = 900;
    CHECK(qs_outliers_tokens(out, &n, scan, 5, 0, &cfg) == QS_OK && n == 3);
    CHECK(qs_outliers_tokens(out, &n, scan, 0, 0, NULL) == QS_OK && n == 0);
    CHECK(qs_outliers_tokens(out, &n, scan, -1, 0, NULL) == QS_ERR_ARG);
    cfg.massive_abs = NAN;
    CHECK(qs_outliers_tokens(out, &n, scan, 5, 0, &cfg) == QS_ERR_ARG);
}

static void test_shared(void) {
    const int l0[] = {1, 5, 7}, l1[] = {7, 9, 5, 5}, l2[] = {7};
    const int *sets[4] = {l0, l1, l2, NULL};
    const int sizes[4] = {3, 4, 1, 0};
    int ch[16], layers[16], n = -1;
    CHECK(qs_outliers_shared_channels(ch, layers, &n, sets, sizes, 4, 16, 2) == QS_OK);
    CHECK(n == 2 && ch[0] == 5 && layers[0] == 2 && ch[1] == 7 && layers[1] == 3);
    CHECK(qs_outliers_shared_channels(ch, NULL, &n, sets, sizes, 4, 16, 3) == QS_OK);
    CHECK(n == 1 && ch[0] == 7);
    CHECK(qs_outliers_shared_channels(ch, layers, &n, sets, sizes, 4, 16, 1) == QS_OK);
    CHECK(n == 4 && ch[0] == 1 && ch[3] == 9 && layers[3] == 1);
    CHECK(qs_outliers_shared_channels(ch, layers, &n, sets, sizes, 4, 9, 2) ==
          QS_ERR_ARG); /* 9 >= C */
    CHECK(qs_outliers_shared_channels(ch, layers, &n, sets, sizes, 4, 16, 0) == QS_ERR_ARG);
    CHECK(qs_outliers_shared_channels(ch, layers, &n, sets, sizes, 0, 16, 1) == QS_OK && n == 0);
}

static int dump(const char *dir, const float *x) {
    if (syn_mkdir(dir)) return 1;
    static detections d;
    detect(&d, x, NULL);
    int32_t chan[C], tpos[W * TW], tch[W * TW];
    double cval[C * 4], tval[W * TW * 2];
    for (int i = 0; i < d.n_ch; i++) {
        chan[i] = d.ch[i].channel;
        cval[4 * i] = d.ch[i].absmax;
        cval[4 * i + 1] = d.ch[i].ratio_to_median;
        cval[4 * i + 2] = d.ch[i].token_fraction;
        cval[4 * i + 3] = d.ch[i].sequence_fraction;
    }
    for (int i = 0; i < d.n_tok; i++) {
        tpos[i] = (int32_t)d.tok[i].position;
        tch[i] = d.tok[i].channel;
        tval[2 * i] = d.tok[i].value;
        tval[2 * i + 1] = d.tok[i].ratio;
    }
    char meta[256];
    qs_outlier_config oc = qs_outlier_config_default();
    qs_chanstats_config cc = qs_chanstats_get_config(d.s);
    int len =
        snprintf(meta, sizeof meta,
                 "W %d\nTW %d\nC %d\ntau %.17g\nphi %.17g\nmin_token_frac %.17g\n"
                 "massive_abs %.17g\nmassive_ratio %.17g\n",
                 W, TW, C, cc.tau, cc.phi, oc.min_token_frac, oc.massive_abs, oc.massive_ratio);
    int bad = syn_write(dir, "meta.txt", meta, (size_t)len);
    bad |= syn_write(dir, "x.f32", x, sizeof(float) * W * TW * C);
    bad |= syn_write(dir, "chan.i32", chan, sizeof(int32_t) * d.n_ch);
    bad |= syn_write(dir, "chan_values.f64", cval, sizeof(double) * 4 * d.n_ch);
    bad |= syn_write(dir, "tok_pos.i32", tpos, sizeof(int32_t) * d.n_tok);
    bad |= syn_write(dir, "tok_ch.i32", tch, sizeof(int32_t) * d.n_tok);
    bad |= syn_write(dir, "tok_values.f64", tval, sizeof(double) * 2 * d.n_tok);
    qs_chanstats_free(d.s);
    return bad;
}

/* The massive rule follows the model's width: published at dim >= 1024, ratio-only below. */
static void test_massive_rule(void) {
    qs_outlier_config c = qs_outlier_config_default();
    CHECK(c.massive_rule == QS_MASSIVE_AUTO);
    CHECK(qs_outlier_config_resolve(&c, 4096) == QS_MASSIVE_PUBLISHED);
    CHECK(c.massive_abs == 100.0 && c.massive_ratio == 1000.0);
    c = qs_outlier_config_default();
    CHECK(qs_outlier_config_resolve(&c, 64) == QS_MASSIVE_RATIO);
    CHECK(c.massive_abs == 0.0 && c.massive_ratio == QS_MASSIVE_RATIO_ONLY);
    c.massive_rule = QS_MASSIVE_PUBLISHED;
    CHECK(qs_outlier_config_resolve(&c, 64) == QS_MASSIVE_PUBLISHED && c.massive_abs == 100.0);
    c.massive_rule = QS_MASSIVE_CUSTOM, c.massive_abs = 7, c.massive_ratio = 9;
    CHECK(qs_outlier_config_resolve(&c, 8192) == QS_MASSIVE_CUSTOM && c.massive_abs == 7 &&
          c.massive_ratio == 9);
    CHECK(qs_massive_rule_from_name("ratio") == QS_MASSIVE_RATIO &&
          qs_massive_rule_from_name("x") == -1 &&
          strcmp(qs_massive_rule_name(QS_MASSIVE_AUTO), "auto") == 0);
}

int main(int argc, char **argv) {
    static float x[W * TW * C];
    syn_fill(x, W, TW, C, 31337);
    memset(x + (size_t)40 * C, 0, sizeof(float) * C); /* an all-zero token: no detection */
    const char *dir = syn_dump_dir(argc, argv);
    if (dir) return dump(dir, x);
    qs_error_clear();
    test_planted(x);
    test_hand_channels();
    test_hand_tokens();
    test_shared();
    test_massive_rule();
    return check_summary("test_outliers");
}
