/* qscope sweep's engine (core/sweep.h) and the activation fake-quant hook (core/actq.h):
 * list parsing and its errors, one matrix swept with errors recomputed here from the
 * quantizer's definition, the granularity words per target, the seed's "one outlier
 * crushes the rest into a few levels", activation capture checked against an RMSNorm
 * computed here, and static calibration of the resid site (layer L included). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "act_quant.h"
#include "check.h"
#include "kv_quant.h"
#include "error.h"
#include "fp16.h"
#include "eval.h"
#include "quant.h"
#include "sweep.h"

/* Named tolerances */
#define MAX_RECOMPUTED_ERROR  1e-12 /* errors recomputed here in double, in another order */
#define MAX_SQNR_DB_ERROR     1e-9  /* a logarithm of recomputed sums */
#define MAX_RMSNORM_REL_ERROR 1e-5  /* captured float32 RMSNorm vs double */
#define REL_ERROR_FLOOR       1e-3  /* denominator floor for values near zero */

#define MODEL "data/models/stories260K.bin"

static int msg_has(const char *s) { return strstr(qs_error_message(), s) != NULL; }

static void test_parse(void) {
    qs_sweep_opts o;
    qs_sweep_opts_default(&o);
    CHECK(o.n_bits == 4 && o.bits[0] == 8 && o.bits[3] == 3);
    CHECK(o.n_grans == 4 && o.grans[2] == QS_SWEEP_GROUP && o.groups[2] == 32 &&
          o.groups[3] == 128);
    CHECK(o.n_clips == 3 && o.clips[2] == QS_QUANT_PERCENTILE && o.percentiles[2] == 99.9);
    CHECK(o.n_schemes == 1 && o.schemes[0] == QS_QUANT_SYMMETRIC);
    CHECK(qs_sweep_parse_bits(&o, "2,5") == QS_OK && o.n_bits == 2 && o.bits[1] == 5);
    CHECK(qs_sweep_parse_bits(&o, "4,9") == QS_ERR_ARG && msg_has("--bits") && msg_has("'9'"));
    CHECK(o.n_bits == 2 && o.bits[1] == 5); /* a bad list leaves the options as they were */
    CHECK(qs_sweep_parse_bits(&o, "16") == QS_ERR_ARG);
    CHECK(qs_sweep_parse_bits(&o, "4,,3") == QS_ERR_ARG && msg_has("empty"));
    CHECK(qs_sweep_parse_grans(&o, "group:0") == QS_ERR_ARG && msg_has("--gran") &&
          msg_has("group:0"));
    CHECK(qs_sweep_parse_grans(&o, "row") == QS_ERR_ARG && msg_has("'row'"));
    CHECK(qs_sweep_parse_grans(&o, "token,channel") == QS_OK && o.n_grans == 2 &&
          o.grans[0] == QS_SWEEP_TOKEN);
    CHECK(qs_sweep_parse_clips(&o, "percentile:0") == QS_ERR_ARG && msg_has("--clip") &&
          msg_has("(0, 100]"));
    CHECK(qs_sweep_parse_clips(&o, "percentile:100.5") == QS_ERR_ARG);
    CHECK(qs_sweep_parse_clips(&o, "percentile:x") == QS_ERR_ARG && msg_has("bad percentile"));
    CHECK(qs_sweep_parse_clips(&o, "percentile:100,mse") == QS_OK && o.n_clips == 2 &&
          o.percentiles[0] == 100);
    CHECK(qs_sweep_parse_schemes(&o, "affine,symmetric") == QS_OK &&
          o.schemes[0] == QS_QUANT_AFFINE);
    CHECK(qs_sweep_parse_schemes(&o, "asym") == QS_ERR_ARG && msg_has("--scheme") &&
          msg_has("'asym'"));
}

typedef struct rows {
    int n;
    qs_sweep_row r[64];
} rows;

static int collect(void *user, const qs_sweep_row *row) {
    rows *rs = user;
    if (rs->n < 64) rs->r[rs->n] = *row;
    rs->n++;
    return QS_OK;
}

static int stop_at_two(void *user, const qs_sweep_row *row) {
    (void)row;
    int *n = user;
    return ++*n == 2 ? qs_error_set(QS_ERR_IO, "disk full") : QS_OK;
}

/* Symmetric b-bit absmax fake-quant of n values with one scale, written from the
 * definition in quant.h: s = fp16(t / qmax), q = clamp(rint(x / s)), error in double. */
static double sse_absmax(const float *x, int n, int stride, int bits, double *maxe) {
    int qmax = (1 << (bits - 1)) - 1;
    float t = 0;
    for (int i = 0; i < n; i++) t = fabsf(x[i * stride]) > t ? fabsf(x[i * stride]) : t;
    float s = qs_fp16_round(t / (float)qmax);
    double sse = 0;
    for (int i = 0; i < n; i++) {
        float q = s > 0 ? rintf(x[i * stride] / s) : 0;
        q = q > qmax ? qmax : q < -qmax ? -qmax : q;
        double e = (double)(q * s) - x[i * stride];
        sse += e * e;
        if (fabs(e) > *maxe) *maxe = fabs(e);
    }
    return sse;
}

static void test_matrix(void) {
    enum { R = 8, C = 40 };
    float x[R * C];
    unsigned u = 12345;
    for (int i = 0; i < R * C; i++) {
        u = u * 1103515245u + 12345u;
        x[i] = ((float)((u >> 8) & 0xffff) / 65535.0f - 0.5f) * 2.0f; /* U(-1, 1) */
    }
    x[3 * C + 5] = 400.0f; /* one outlier */
    qs_sweep_opts o;
    qs_sweep_opts_default(&o);
    CHECK(qs_sweep_parse_bits(&o, "4") == QS_OK);
    CHECK(qs_sweep_parse_grans(&o, "tensor,channel,token,group:16") == QS_OK);
    CHECK(qs_sweep_parse_clips(&o, "absmax,mse") == QS_OK);
    rows w = {0}, a = {0};
    CHECK(qs_sweep_matrix(x, R, C, "weight", "attn_q", 2, &o, collect, &w) == QS_OK);
    CHECK(qs_sweep_matrix(x, R, C, "activation", "attn_in", 3, &o, collect, &a) == QS_OK);
    CHECK(w.n == 8 && a.n == 8); /* 1 bits x 1 scheme x 4 grans x 2 clips, rows in that order */
    /* token is an activation granularity: on a weight it is a row with an error */
    CHECK(w.r[4].gran == QS_SWEEP_TOKEN && strstr(w.r[4].error, "activations only") != NULL);
    CHECK(w.r[4].err.mse == 0 && w.r[5].error[0] != '\0');
    for (int i = 0; i < 8; i++)
        if (i != 4 && i != 5) CHECK_MSG(w.r[i].error[0] == '\0', "row %d: %s", i, w.r[i].error);
    for (int i = 0; i < 8; i++) CHECK(a.r[i].error[0] == '\0');
    CHECK(strcmp(w.r[0].target, "weight") == 0 && strcmp(w.r[0].tensor, "attn_q") == 0 &&
          w.r[0].layer == 2);
    CHECK(strcmp(a.r[0].target, "activation") == 0 && a.r[0].layer == 3 && a.r[0].rows == R &&
          a.r[0].cols == C);

    /* errors recomputed here: tensor, per row, per column, group of 16 (last group 8) */
    double maxe = 0, sse = sse_absmax(x, R * C, 1, 4, &maxe);
    CHECK_NEAR(w.r[0].err.mse, sse / (R * C), MAX_RECOMPUTED_ERROR * (1 + sse));
    CHECK_NEAR(w.r[0].err.max_abs_err, maxe, MAX_RECOMPUTED_ERROR);
    sse = 0, maxe = 0;
    for (int r = 0; r < R; r++) sse += sse_absmax(x + r * C, C, 1, 4, &maxe);
    CHECK_NEAR(w.r[2].err.mse, sse / (R * C), MAX_RECOMPUTED_ERROR); /* weight channel = row */
    CHECK_NEAR(a.r[4].err.mse, sse / (R * C), MAX_RECOMPUTED_ERROR); /* activation token = row */
    sse = 0, maxe = 0;
    for (int c = 0; c < C; c++) sse += sse_absmax(x + c, R, C, 4, &maxe);
    CHECK_NEAR(a.r[2].err.mse, sse / (R * C),
               MAX_RECOMPUTED_ERROR); /* activation channel = column */
    sse = 0, maxe = 0;
    for (int r = 0; r < R; r++)
        for (int c0 = 0; c0 < C; c0 += 16)
            sse += sse_absmax(x + r * C + c0, C - c0 < 16 ? C - c0 : 16, 1, 4, &maxe);
    CHECK_NEAR(w.r[6].err.mse, sse / (R * C), MAX_RECOMPUTED_ERROR);
    CHECK_NEAR(a.r[6].err.mse, sse / (R * C), MAX_RECOMPUTED_ERROR);
    double sq = 0;
    for (int i = 0; i < R * C; i++) sq += (double)x[i] * x[i];
    CHECK_NEAR(w.r[0].err.sqnr_db, 10 * log10(sq / (w.r[0].err.mse * R * C)), MAX_SQNR_DB_ERROR);

    /* metadata: 4 bits + 16-bit scales per group */
    CHECK_NEAR(w.r[0].bits_per_value, 4 + 16.0 / (R * C), MAX_RECOMPUTED_ERROR);
    CHECK_NEAR(w.r[2].bits_per_value, 4 + 16.0 * R / (R * C), MAX_RECOMPUTED_ERROR);
    CHECK_NEAR(a.r[2].bits_per_value, 4 + 16.0 * C / (R * C), MAX_RECOMPUTED_ERROR);
    CHECK_NEAR(w.r[6].bits_per_value, 4 + 16.0 * R * 3 / (R * C), MAX_RECOMPUTED_ERROR);

    /* mse clipping never loses to absmax on reconstruction */
    for (int g = 0; g < 4; g++)
        if (!w.r[2 * g].error[0]) CHECK(w.r[2 * g + 1].err.mse <= w.r[2 * g].err.mse);
    /* the outlier crushes a per-tensor grid into a few levels; per-row grids of the other
     * rows keep most of the 15 */
    CHECK_MSG(w.r[0].levels_mean <= 3.0, "%g levels", w.r[0].levels_mean);
    CHECK_MSG(w.r[2].levels_mean >= 10.0, "%g levels", w.r[2].levels_mean);
    CHECK(w.r[2].levels_min <= 3 && w.r[2].levels_max >= 13);

    /* a NaN is a failing configuration, not a failing sweep */
    x[7] = NAN;
    rows b = {0};
    CHECK(qs_sweep_matrix(x, R, C, "activation", "ffn_in", 0, &o, collect, &b) == QS_OK);
    CHECK(b.n == 8 && strstr(b.r[0].error, "NaN") != NULL && strstr(b.r[7].error, "NaN") != NULL);
    x[7] = 0.5f;
    /* the callback's error stops the sweep and comes back */
    int count = 0;
    CHECK(qs_sweep_matrix(x, R, C, "weight", "w", 0, &o, stop_at_two, &count) == QS_ERR_IO &&
          count == 2);
}

static int count_rows(void *user, const qs_sweep_row *row) {
    (void)row;
    ++*(long *)user;
    return QS_OK;
}

static void test_capture(void) {
    qs_model *m;
    if (qs_model_load(&m, MODEL, NULL) != QS_OK) {
        CHECK_MSG(0, "load %s: %s", MODEL, qs_error_message());
        return;
    }
    const qs_config *c = &m->cfg;
    enum { T = 24, NW = 3 };
    int tok[NW][T];
    qs_window w[NW];
    for (int i = 0; i < NW; i++) {
        for (int t = 0; t < T; t++) tok[i][t] = (int)((i * 131 + t * 37 + 1) % c->vocab_size);
        w[i] = (qs_window){tok[i], T, 0, T - 1};
    }
    qs_windows ws = {w, NW, 0, 0, NULL};
    qs_sweep_capture cap;
    unsigned mask = QS_SITE_BIT(QS_SITE_ATTN_IN) | QS_SITE_BIT(QS_SITE_FFN_DOWN_IN) |
                    QS_SITE_BIT(QS_SITE_RESID);
    CHECK(qs_sweep_capture_run(&cap, m, &ws, mask, 30) == QS_OK);
    CHECK(cap.n_windows == 2 && cap.rows[QS_SITE_ATTN_IN] == 30 &&
          cap.rows[QS_SITE_FFN_DOWN_IN] == 30);
    CHECK(cap.cols[QS_SITE_FFN_DOWN_IN] == c->hidden_dim && cap.x[QS_SITE_FFN_IN] == NULL);
    /* attn_in of layer 0 is RMSNorm(embedding) * gain; row 26 is window 1, position 2 */
    double worst = 0;
    for (int r = 0; r < 30; r++) {
        const int id = r < T ? tok[0][r] : tok[1][r - T];
        const float *e = m->w.token_embd->f32 + (size_t)id * c->dim;
        double ss = 0;
        for (int k = 0; k < c->dim; k++) ss += (double)e[k] * e[k];
        double inv = 1.0 / sqrt(ss / c->dim + c->norm_eps);
        for (int k = 0; k < c->dim; k++) {
            double want = e[k] * inv * m->w.layers[0].attn_norm->f32[k];
            double got = cap.x[QS_SITE_ATTN_IN][(size_t)r * c->dim + k];
            double d = fabs(got - want) / (REL_ERROR_FLOOR + fabs(want));
            worst = d > worst ? d : worst;
        }
    }
    CHECK_MSG(worst < MAX_RMSNORM_REL_ERROR, "attn_in differs from RMSNorm(embedding): %g", worst);
    /* resid after the last block is captured as layer L */
    double s = 0;
    for (int k = 0; k < c->dim; k++)
        s += fabs(cap.x[QS_SITE_RESID][((size_t)c->n_layers * 30) * c->dim + k]);
    CHECK(s > 0);
    qs_sweep_opts o;
    qs_sweep_opts_default(&o);
    CHECK(qs_sweep_parse_bits(&o, "4,8") == QS_OK && qs_sweep_parse_clips(&o, "absmax") == QS_OK);
    o.site_mask = mask;
    long n = 0;
    CHECK(qs_sweep_activations(&cap, &o, count_rows, &n) == QS_OK);
    CHECK_MSG(n == (long)(2 * c->n_layers + c->n_layers + 1) * 2 * 4, "%ld rows", n);
    n = 0;
    o.site_mask =
        QS_SITE_BIT(QS_SITE_ATTN_IN) | QS_SITE_BIT(QS_SITE_FFN_IN); /* resid has no weights */
    CHECK(qs_sweep_weights(m, &o, count_rows, &n) == QS_OK);
    CHECK_MSG(n == (long)c->n_layers * 5 * 2 * 4, "%ld rows", n);
    qs_sweep_capture_free(&cap);
    CHECK(qs_sweep_capture_run(&cap, m, &ws, mask, 0) == QS_ERR_ARG);
    qs_sweep_capture_free(&cap);

    /* static activation ranges at resid include the stream after the last block (layer L):
     * calibration must have a slot for it (it once wrote past the end) */
    qs_quant_config cfg;
    CHECK(qs_quant_config_parse(&cfg, "W16A8 static sites:resid") == QS_OK);
    qs_eval_result res;
    CHECK_MSG(qs_eval(m, &ws, &cfg, QS_SITE_ALL, NULL, &res) == QS_OK, "%s", qs_error_message());
    CHECK(isfinite(res.kld.ppl_q) && res.a_calls == NW * (c->n_layers + 1));
    /* a static hook used before calibration is an error, not a silent pass-through */
    qs_actq aq;
    CHECK(qs_actq_init(&aq, c, &cfg.a, QS_SITE_ALL) == QS_OK);
    qs_hook h = qs_actq_hook(&aq);
    qs_forward_state fs;
    CHECK(qs_forward_init(&fs, m, T, T) == QS_OK);
    CHECK(qs_forward(&fs, tok[0], T, 0, NULL, 0, &h) == QS_ERR_ARG && msg_has("calibration"));
    CHECK(qs_actq_calibrate(&aq, m, &ws) == QS_OK);
    CHECK(qs_forward(&fs, tok[0], T, 0, NULL, 0, &h) == QS_OK && aq.calls == c->n_layers + 1);
    qs_forward_free(&fs);
    qs_actq_free(&aq);
    /* the KV cache is quantized as it is written: the hook sees every layer's write, the
     * cache of layer 0 holds the quantized keys, and the logits move */
    CHECK(qs_quant_config_parse(&cfg, "W16A16 KV4 per-token") == QS_OK);
    CHECK(qs_eval(m, &ws, &cfg, QS_SITE_ALL, NULL, &res) == QS_OK);
    int K = c->n_kv_heads * c->head_dim;
    CHECK(res.kv_bits_per_value == 4.0 + 16.0 / K && res.kld.kld_mean > 0 && res.a_calls == 0);
    qs_kvq kq;
    CHECK(qs_kvq_init(&kq, &cfg.kv) == QS_OK);
    qs_hook hk = qs_kvq_hook(&kq);
    CHECK(hk.site_mask == QS_SITE_KV);
    qs_forward_state f0, f1;
    CHECK(qs_forward_init(&f0, m, T, T) == QS_OK && qs_forward_init(&f1, m, T, T) == QS_OK);
    CHECK(qs_forward(&f0, tok[0], T, 0, NULL, 0, NULL) == QS_OK);
    CHECK(qs_forward(&f1, tok[0], T, 0, NULL, 0, &hk) == QS_OK && kq.calls == 2 * c->n_layers);
    float *kref = malloc((size_t)T * K * sizeof *kref); /* (T, K) layer 0 keys, quantized */
    CHECK(qs_quant_fake(kref, f0.k_cache, T, K, &cfg.kv.k, NULL, NULL) == QS_OK);
    CHECK(memcmp(kref, f1.k_cache, (size_t)T * K * sizeof *kref) == 0);
    CHECK(memcmp(f0.k_cache, f1.k_cache, (size_t)T * K * sizeof *kref) != 0);
    free(kref);
    qs_forward_free(&f0);
    qs_forward_free(&f1);
    CHECK(qs_quant_config_parse(&cfg, "W16A16") == QS_OK);
    CHECK(qs_eval(m, &ws, &cfg, QS_SITE_ALL, NULL, &res) == QS_OK);
    CHECK(res.kv_bits_per_value == 16.0 && res.kld.kld_mean == 0);
    /* layers the model lacks are named */
    CHECK(qs_quant_config_parse(&cfg, "W16A8 layers:7") == QS_OK);
    CHECK(qs_actq_init(&aq, c, &cfg.a, QS_SITE_ALL) == QS_ERR_ARG && msg_has("layers") &&
          msg_has("7"));
    qs_model_free(m);
}

int main(void) {
    test_parse();
    test_matrix();
    test_capture();
    return check_summary("test_sweep");
}
