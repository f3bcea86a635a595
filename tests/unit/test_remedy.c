/* The remedies applied to stories260K (core/quant/remedy.h, rotate.h):
 *  - function preservation at full precision, per transform: every rotation part, all of
 *    them, SmoothQuant at α 0.5 and 1, AWQ at a given and at a searched exponent, each on
 *    the shipped and on a planted model: max |Δlogit| / max |logit| <= 1e-4;
 *  - a copy of a rotated model (its online transform shared) computes the same logits;
 *  - smoothing undoes a plant: smooth(planted) has the same folded weights as
 *    smooth(shipped), at α 0.5 and at α 1 (smooth.h says why), within float rounding;
 *  - rotation flattens a planted outlier channel: the attn_in kurtosis falls to a few;
 *  - GPTQ layer by layer quantizes every selected weight onto its grid with a lower output
 *    error than round-to-nearest, sequentially (layers < l quantized when l is calibrated);
 *  - misuse: smooth without an exponent, no calibration windows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "forward.h"
#include "plant.h"
#include "remedy.h"
#include "text.h"
#include "windows.h"

#define MODEL         "data/models/stories260K.bin"
#define TEXT          "data/text/tinystories_v1_valid_head.txt"
#define MAX_LOGIT_REL 1e-4 /* the bound, per transform */
#define WIN_T         64

static qs_model *load(void) {
    qs_model *m = NULL;
    QS_ASSERT(qs_model_load(&m, MODEL, NULL) == QS_OK);
    return m;
}

/* attn_in of layer `layer` captured into x (T, D) */
typedef struct grab {
    int site, layer;
    float *x;
} grab;

static int grab_site(void *user, int site, int layer, float *x, int T, int C, int pos0) {
    grab *g = user;
    if (g && site == g->site && layer == g->layer) memcpy(g->x, x, sizeof(float) * (size_t)T * C);
    return QS_OK;
}

static void run(const qs_model *m, const int *tok, int T, float *logits, grab *g) {
    qs_forward_state st;
    QS_ASSERT(qs_forward_init(&st, m, T, T) == QS_OK);
    qs_hook h = {grab_site, g, QS_SITE_ALL};
    QS_ASSERT(qs_forward(&st, tok, T, 0, logits, 0, g ? &h : NULL) == QS_OK);
    qs_forward_free(&st);
}

static double max_rel_diff(const float *a, const float *b, size_t n) {
    double md = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        md = fmax(md, fabs((double)a[i] - b[i]));
        mb = fmax(mb, fabs(b[i]));
    }
    return md / mb;
}

static double kurtosis(const float *x, long n) {
    double m = 0, m2 = 0, m4 = 0;
    for (long i = 0; i < n; i++) m += x[i];
    m /= n;
    for (long i = 0; i < n; i++) {
        double d = x[i] - m;
        m2 += d * d, m4 += d * d * d * d;
    }
    m2 /= n, m4 /= n;
    return m4 / (m2 * m2);
}

static qs_windows calib_windows(const qs_model *m, qs_text *txt) {
    QS_ASSERT(qs_text_load(txt, TEXT, QS_UTF8_STRICT) == QS_OK);
    qs_window_opts o;
    qs_window_opts_default(&o);
    o.ctx = WIN_T;
    qs_windows ws;
    QS_ASSERT(qs_windows_build(&ws, m->tok, txt->data, txt->len, &o) == QS_OK);
    ws.n = 8; /* the first 8 windows calibrate; window 20 is the test window */
    return ws;
}

static qs_model *planted(void) {
    qs_model *m = load();
    qs_plant_spec p[] = {{QS_SITE_ATTN_IN, QS_PLANT_ALL_LAYERS, 17, 80.0},
                         {QS_SITE_FFN_DOWN_IN, QS_PLANT_ALL_LAYERS, 101, 80.0},
                         {QS_SITE_FFN_IN, 2, 5, 60.0},
                         {QS_SITE_ATTN_O_IN, 3, 13, 50.0}};
    QS_ASSERT(qs_plant_apply(m, p, 4) == QS_OK);
    return m;
}

static void test_preserved(const qs_windows *cal, const int *tok) {
    struct {
        const char *config;
    } cases[] = {{"W16A16 rotate:resid"},  {"W16A16 rotate:down"}, {"W16A16 rotate:heads"},
                 {"W16A16 rotate:seed=5"}, {"W16A8 smooth:0.5"},   {"W16A8 smooth:1"},
                 {"W4A16 g32 awq:0.5"},    {"W4A16 g32 awq"},      {"W8A8 rotate smooth:0.85"}};
    for (int planted_model = 0; planted_model <= 1; planted_model++) {
        qs_model *m = planted_model ? planted() : load();
        int V = m->cfg.vocab_size;
        float *ref = malloc(sizeof(float) * WIN_T * V), *got = malloc(sizeof(float) * WIN_T * V);
        run(m, tok, WIN_T, ref, NULL);
        for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
            qs_quant_config cfg;
            CHECK(qs_quant_config_parse(&cfg, cases[k].config) == 0);
            qs_model *t = NULL;
            qs_remedy_report rep;
            int rc = qs_remedy_transform(&t, m, &cfg, cal, &rep);
            CHECK_MSG(rc == 0, "%s: %s", cases[k].config, qs_error_message());
            if (rc) continue;
            run(t, tok, WIN_T, got, NULL);
            double e = max_rel_diff(got, ref, (size_t)WIN_T * V);
            printf("%-8s %-26s max |dlogit| / max |logit| = %.3g\n",
                   planted_model ? "planted" : "shipped", cases[k].config, e);
            CHECK_MSG(e <= MAX_LOGIT_REL, "%s on the %s model: %g", cases[k].config,
                      planted_model ? "planted" : "shipped", e);
            if (cfg.remedy.smooth || cfg.remedy.awq) {
                CHECK(rep.has_alpha && rep.calib_windows == 8 && rep.n_scaled > 0);
                if (cfg.remedy.smooth) CHECK_NEAR(rep.alpha, cfg.remedy.smooth_alpha, 1e-12);
            }
            if (strstr(cases[k].config, "rotate")) {
                /* a twin shares the online transform and computes the same */
                qs_model *c2;
                CHECK(qs_model_twin(&c2, t) == 0);
                float *got2 = malloc(sizeof(float) * WIN_T * V);
                run(c2, tok, WIN_T, got2, NULL);
                CHECK(memcmp(got, got2, sizeof(float) * WIN_T * V) == 0);
                qs_model_free(c2);
                free(got2);
            }
            qs_model_free(t);
        }
        free(ref), free(got);
        qs_model_free(m);
    }
}

/* smooth(planted) = smooth(shipped): the folded weights agree */
static void test_smooth_undoes_plant(const qs_windows *cal) {
    qs_model *m0 = load(), *m1 = planted();
    for (int k = 0; k < 2; k++) {
        qs_quant_config cfg;
        CHECK(qs_quant_config_parse(&cfg, k ? "W16A8 smooth:1" : "W16A8 smooth:0.5") == 0);
        qs_model *a, *b;
        CHECK(qs_remedy_transform(&a, m0, &cfg, cal, NULL) == 0);
        CHECK(qs_remedy_transform(&b, m1, &cfg, cal, NULL) == 0);
        double worst = 0;
        for (int i = 0; i < a->n_tensors; i++) {
            const qs_tensor *ta = a->tensors[i], *tb = qs_model_tensor(b, ta->name);
            QS_ASSERT(tb && tb->rows == ta->rows && tb->cols == ta->cols);
            size_t n = (size_t)ta->rows * ta->cols;
            float *va = malloc(n * sizeof *va), *vb = malloc(n * sizeof *vb);
            qs_tensor_rows(va, ta, 0, ta->rows);
            qs_tensor_rows(vb, tb, 0, tb->rows);
            worst = fmax(worst, max_rel_diff(vb, va, n));
            free(va), free(vb);
        }
        printf("smooth:%s: planted vs shipped, folded weights differ by %.3g (relative)\n",
               k ? "1" : "0.5", worst);
        CHECK_MSG(worst < 1e-5, "alpha %s: %g", k ? "1" : "0.5", worst);
        qs_model_free(a), qs_model_free(b);
    }
    qs_model_free(m0), qs_model_free(m1);
}

static void test_rotation_flattens(const int *tok) {
    qs_model *m = planted();
    int D = m->cfg.dim;
    float *x0 = malloc(sizeof(float) * WIN_T * D), *x1 = malloc(sizeof(float) * WIN_T * D);
    grab g0 = {QS_SITE_ATTN_IN, 1, x0}, g1 = {QS_SITE_ATTN_IN, 1, x1};
    run(m, tok, WIN_T, NULL, &g0);
    qs_quant_config cfg;
    CHECK(qs_quant_config_parse(&cfg, "W16A4 rotate") == 0);
    qs_model *t;
    CHECK(qs_remedy_transform(&t, m, &cfg, NULL, NULL) == 0);
    run(t, tok, WIN_T, NULL, &g1);
    double k0 = kurtosis(x0, (long)WIN_T * D), k1 = kurtosis(x1, (long)WIN_T * D);
    printf("planted attn_in L1 kurtosis: %.1f before rotation, %.2f after\n", k0, k1);
    CHECK(k0 > 20 && k1 < 6);
    free(x0), free(x1);
    qs_model_free(t), qs_model_free(m);
}

static void test_gptq(const qs_windows *cal) {
    qs_model *m = load();
    qs_quant_config cfg;
    CHECK(qs_quant_config_parse(&cfg, "W3A16 g32 gptq") == 0);
    qs_model *g, *r;
    CHECK(qs_model_twin(&g, m) == 0 && qs_model_twin(&r, m) == 0);
    qs_wquant_report wg, wr;
    qs_remedy_report rep;
    memset(&rep, 0, sizeof rep);
    CHECK(qs_remedy_gptq(g, &cfg.w, QS_SITE_ALL, &cfg.remedy, cal, &wg, &rep) == 0);
    CHECK(qs_wquant_apply(r, &cfg.w, QS_SITE_ALL, &wr) == 0);
    CHECK(wg.n_tensors == 35 && wr.n_tensors == 35 && wg.bits_per_value == wr.bits_per_value);
    printf("W3 g32 GPTQ: output error %.4g of energy %.4g; weight SQNR GPTQ %.2f dB, RTN %.2f dB\n",
           rep.gptq_err, rep.gptq_energy, 10 * log10(wg.sum_sq_ref / wg.sum_sq_err),
           10 * log10(wr.sum_sq_ref / wr.sum_sq_err));
    /* GPTQ trades weight error for output error: more weight error, less output error */
    CHECK(rep.gptq_err > 0 && rep.gptq_err < 0.5 * rep.gptq_energy);
    CHECK(wg.sum_sq_err > wr.sum_sq_err);
    /* GPTQ's weights are stored packed, in 3 bits: no f32 copy of the matrix remains */
    const qs_tensor *wd = g->w.layers[2].w_down;
    CHECK(wd->type == QS_DTYPE_PACKED && qs_model_owns(g, wd));
    CHECK(wg.packed_bytes > 0 && wg.packed_bytes == wr.packed_bytes);
    /* every quantized row of a g32 group holds at most 7 levels of its group's grid */
    int H = m->cfg.hidden_dim, bad = 0;
    float *w = malloc(sizeof(float) * 4 * H);
    qs_tensor_rows(w, wd, 0, 4);
    for (int row = 0; row < 4; row++)
        for (int g0 = 0; g0 < H; g0 += 32) {
            float vals[32];
            int nv = 0, n = H - g0 < 32 ? H - g0 : 32;
            for (int j = 0; j < n; j++) {
                float v = w[(long)row * H + g0 + j];
                int seen = 0;
                for (int q = 0; q < nv; q++) seen |= vals[q] == v;
                if (!seen) vals[nv++] = v;
            }
            bad += nv > 7;
        }
    CHECK_MSG(bad == 0, "%d groups hold more than 7 levels", bad);
    free(w);
    qs_model_free(g), qs_model_free(r), qs_model_free(m);
}

static void test_errors(const qs_windows *cal) {
    qs_model *m = load(), *t = NULL;
    qs_quant_config cfg;
    CHECK(qs_quant_config_parse(&cfg, "W8A8 smooth") == 0);
    CHECK(qs_remedy_transform(&t, m, &cfg, cal, NULL) == QS_ERR_ARG && t == NULL);
    CHECK(qs_quant_config_parse(&cfg, "W8A8 smooth:0.5") == 0);
    CHECK(qs_remedy_transform(&t, m, &cfg, NULL, NULL) == QS_ERR_ARG && t == NULL);
    CHECK(strstr(qs_error_message(), "calibration") != NULL);
    qs_wquant_report wr;
    qs_remedy_report rep;
    CHECK(qs_quant_config_parse(&cfg, "W4A16 gptq") == 0);
    CHECK(qs_remedy_gptq(m, &cfg.w, QS_SITE_ALL, &cfg.remedy, NULL, &wr, &rep) == QS_ERR_ARG);
    qs_model_free(m);
}

int main(void) {
    qs_model *m = load();
    qs_text txt;
    qs_windows cal = calib_windows(m, &txt);
    int n_all = 0;
    qs_window_opts o;
    qs_window_opts_default(&o);
    o.ctx = WIN_T;
    qs_windows all;
    QS_ASSERT(qs_windows_build(&all, m->tok, txt.data, txt.len, &o) == QS_OK);
    n_all = all.n;
    QS_ASSERT(n_all > 20);
    const int *tok = all.w[20].tokens; /* not a calibration window */
    test_preserved(&cal, tok);
    test_smooth_undoes_plant(&cal);
    test_rotation_flattens(tok);
    test_gptq(&cal);
    test_errors(&cal);
    qs_windows_free(&cal);
    qs_windows_free(&all);
    qs_text_free(&txt);
    qs_model_free(m);
    return check_summary("test_remedy");
}
