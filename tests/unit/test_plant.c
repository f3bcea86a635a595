/* Planted outliers on stories260K:
 *  - each plantable site keeps the logits (max |Δ| / max |logit| <= 1e-4) while the site's
 *    activation channel grows by exactly the factor K relative to the original;
 *  - the llama2.c writer reproduces the shipped checkpoint byte for byte (outside the RoPE
 *    tables, which readers ignore), and a planted model survives save + load bit for bit;
 *  - detection over >= 16,384 tokens finds exactly three planted (site, layer, channel)
 *    points and nothing on the original model at the default thresholds;
 *  - bad specs are refused and leave the model untouched. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "check.h"
#include "tensor_util.h"
#include "error.h"
#include "fileio.h"
#include "forward.h"
#include "plant.h"
#include "profile.h"
#include "save_llama2c.h"
#include "text.h"
#include "windows.h"

#define MODEL                     "data/models/stories260K.bin"
#define TEXT                      "data/text/tinystories_v1_valid_head.txt"
#define MAX_PLANT_LOGIT_REL_ERROR 1e-4 /* the bound */
#define MAX_PLANT_ACT_REL_ERROR   1e-3 /* planted activations vs K x the original */
#define REL_ERROR_FLOOR           1e-3 /* denominator floor for values near zero */
#define MAX_ROPE_TABLE_ERROR      1e-3 /* angles up to 511 rad in float32 */
#define PLANT_K                   100.0
#define N_TOKENS                  16384
#define WIN_T                     64

static qs_model *load(void) {
    qs_model *m = NULL;
    QS_ASSERT(qs_model_load(&m, MODEL, NULL) == QS_OK);
    return m;
}

/* logits (T, V) of tokens through m; with a hook capturing one site's (T, C) copy */
typedef struct grab {
    int site, layer;
    float *x;
    int C;
} grab;

static int grab_site(void *user, int site, int layer, float *x, int T, int C, int pos0) {
    grab *g = user;
    if (site == g->site && layer == g->layer) {
        g->C = C;
        memcpy(g->x, x, sizeof(float) * (size_t)T * C);
    }
    return QS_OK;
}

static void run(qs_model *m, const int *tok, int T, float *logits, grab *g) {
    qs_forward_state st;
    QS_ASSERT(qs_forward_init(&st, m, T, T) == QS_OK);
    qs_hook h = {grab_site, g, QS_SITE_ALL};
    QS_ASSERT(qs_forward(&st, tok, T, 0, logits, 0, g ? &h : NULL) == QS_OK);
    qs_forward_free(&st);
}

static double max_rel_diff(const float *a, const float *b, size_t n) {
    double md = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        md = d > md ? d : md;
        mb = fabs(b[i]) > mb ? fabs(b[i]) : mb;
    }
    return md / mb;
}

/* Each site: the logits stay, the site's channel(s) are K times the original. */
static void test_function_preserved(const int *tok) {
    qs_model *m0 = load();
    const qs_config *c = &m0->cfg;
    int V = c->vocab_size, H = c->hidden_dim;
    size_t nl = (size_t)WIN_T * V, nx = (size_t)WIN_T * (H > c->dim ? H : c->dim);
    float *ref = malloc(sizeof(float) * nl), *got = malloc(sizeof(float) * nl);
    float *x0 = malloc(sizeof(float) * nx), *x1 = malloc(sizeof(float) * nx);
    struct {
        int site, layer, channel, seen[4];
    } cases[] = {
        {QS_SITE_ATTN_IN, 1, 7, {7, -1}},
        {QS_SITE_FFN_IN, 3, 20, {20, -1}},
        {QS_SITE_FFN_DOWN_IN, 2, 100, {100, -1}},
        /* kv channel 13 = kv head 1, dim 5: query heads 2 and 3 (group 2), channels 21, 29 */
        {QS_SITE_ATTN_O_IN, 4, 13, {21, 29, -1}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        grab g0 = {cases[k].site, cases[k].layer, x0, 0},
             g1 = {cases[k].site, cases[k].layer, x1, 0};
        run(m0, tok, WIN_T, ref, &g0);
        qs_model *m = load();
        qs_plant_spec p = {cases[k].site, cases[k].layer, cases[k].channel, PLANT_K};
        CHECK(qs_plant_apply(m, &p, 1) == QS_OK);
        run(m, tok, WIN_T, got, &g1);
        double e = max_rel_diff(got, ref, nl);
        printf("plant %s L%d c%d x%g: max |dlogit| / max |logit| = %.3g\n",
               qs_site_name(cases[k].site), cases[k].layer, cases[k].channel, PLANT_K, e);
        CHECK_MSG(e <= MAX_PLANT_LOGIT_REL_ERROR, "%s: %g", qs_site_name(cases[k].site), e);
        /* the planted channels carry K times the original values, the others are unchanged */
        int C = g0.C;
        double worst_planted = 0, worst_other = 0;
        for (int ch = 0; ch < C; ch++) {
            int planted = 0;
            for (int j = 0; cases[k].seen[j] >= 0; j++) planted |= cases[k].seen[j] == ch;
            for (int t = 0; t < WIN_T; t++) {
                double a = x0[(size_t)t * C + ch], b = x1[(size_t)t * C + ch];
                double want = planted ? PLANT_K * a : a;
                double e2 = fabs(b - want) / (fabs(want) + REL_ERROR_FLOOR);
                if (planted)
                    worst_planted = e2 > worst_planted ? e2 : worst_planted;
                else
                    worst_other = e2 > worst_other ? e2 : worst_other;
            }
        }
        CHECK_MSG(worst_planted < MAX_PLANT_ACT_REL_ERROR, "%s planted channel rel err %g",
                  qs_site_name(cases[k].site), worst_planted);
        CHECK_MSG(worst_other < MAX_PLANT_ACT_REL_ERROR, "%s other channels rel err %g",
                  qs_site_name(cases[k].site), worst_other);
        qs_model_free(m);
    }
    /* all layers at once */
    qs_model *m = load();
    qs_plant_spec all = {QS_SITE_FFN_IN, QS_PLANT_ALL_LAYERS, 3, 50.0};
    CHECK(qs_plant_apply(m, &all, 1) == QS_OK);
    CHECK(m->w.layers[0].ffn_norm->f32[3] == 50.0f * m0->w.layers[0].ffn_norm->f32[3]);
    CHECK(m->w.layers[4].ffn_norm->f32[3] == 50.0f * m0->w.layers[4].ffn_norm->f32[3]);
    run(m0, tok, WIN_T, ref, NULL);
    run(m, tok, WIN_T, got, NULL);
    CHECK(max_rel_diff(got, ref, nl) <= MAX_PLANT_LOGIT_REL_ERROR);
    qs_model_free(m);
    qs_model_free(m0);
    free(ref), free(got), free(x0), free(x1);
}

/* The writer: the shipped checkpoint saved again equals it outside the RoPE tables; a
 * planted model reloads bit for bit. */
static void test_save(const int *tok) {
    char dir[] = "/tmp/qs_plant_XXXXXX";
    QS_ASSERT(mkdtemp(dir));
    char path[256], bad[256];
    snprintf(path, sizeof path, "%s/copy.bin", dir);
    qs_model *m = load();
    CHECK(qs_llama2c_save(m, path) == QS_OK);
    char *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    CHECK(qs_file_read(MODEL, 0, &a, &na) == QS_OK);
    CHECK(qs_file_read(path, 0, &b, &nb) == QS_OK);
    CHECK(na == nb);
    const qs_config *c = &m->cfg;
    size_t D = c->dim, H = c->hidden_dim, L = c->n_layers, V = c->vocab_size;
    size_t K = (size_t)c->n_kv_heads * c->head_dim;
    size_t rope_at = 28 + 4 * (V * D + L * (2 * D + 2 * D * D + 2 * K * D + 3 * H * D) + D);
    size_t rope_n = (size_t)c->seq_len * c->head_dim / 2 * 2; /* real and imaginary */
    if (na == nb && a && b) {
        CHECK(memcmp(a, b, rope_at) == 0);
        CHECK(rope_at + 4 * rope_n == na);
        double worst = 0;
        for (size_t i = 0; i < rope_n; i++) {
            float x, y;
            memcpy(&x, a + rope_at + 4 * i, 4);
            memcpy(&y, b + rope_at + 4 * i, 4);
            worst = fabs((double)x - y) > worst ? fabs((double)x - y) : worst;
        }
        printf("saved copy: weights identical, RoPE tables within %.3g\n", worst);
        CHECK(worst < MAX_ROPE_TABLE_ERROR);
    }
    free(a), free(b);

    qs_plant_spec p = {QS_SITE_ATTN_IN, 2, 11, 37.5};
    CHECK(qs_plant_apply(m, &p, 1) == QS_OK);
    CHECK(qs_llama2c_save(m, path) == QS_OK);
    qs_model *r = NULL;
    CHECK(qs_model_load(&r, path, "data/models/tok512.bin") == QS_OK);
    if (r) {
        int V2 = c->vocab_size;
        float *l1 = malloc(sizeof(float) * WIN_T * V2), *l2 = malloc(sizeof(float) * WIN_T * V2);
        run(m, tok, WIN_T, l1, NULL);
        run(r, tok, WIN_T, l2, NULL);
        CHECK(memcmp(l1, l2, sizeof(float) * WIN_T * V2) == 0);
        free(l1), free(l2);
        qs_model_free(r);
    }
    /* a missing directory: an error naming the path, nothing created */
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.bin", dir);
    CHECK(qs_llama2c_save(m, bad) == QS_ERR_IO);
    CHECK(strstr(qs_error_message(), "no/such/dir") != NULL);
    unlink(path);
    CHECK(rmdir(dir) == 0); /* empty: no temporary file was left behind */
    qs_model_free(m);
}

static void test_bad_specs(void) {
    qs_plant_spec p;
    CHECK(qs_plant_parse(&p, "ffn_down_in:2:100:100") == QS_OK);
    CHECK(p.site == QS_SITE_FFN_DOWN_IN && p.layer == 2 && p.channel == 100 && p.scale == 100.0);
    CHECK(qs_plant_parse(&p, "attn_in:all:3:0.5") == QS_OK && p.layer == QS_PLANT_ALL_LAYERS);
    CHECK(qs_plant_parse(&p, "resid:0:1:10") == QS_ERR_ARG);
    CHECK(strstr(qs_error_message(), "RMSNorm") != NULL);
    CHECK(qs_plant_parse(&p, "attn_out:0:1:10") == QS_ERR_ARG);
    CHECK(strstr(qs_error_message(), "unknown site 'attn_out'") != NULL);
    CHECK(qs_plant_parse(&p, "attn_in:0:1:0") == QS_ERR_ARG);
    CHECK(qs_plant_parse(&p, "attn_in:0:1:-2") == QS_ERR_ARG);
    CHECK(qs_plant_parse(&p, "attn_in:0:1:nan") == QS_ERR_ARG);
    CHECK(qs_plant_parse(&p, "attn_in:0:1:inf") == QS_ERR_ARG);
    CHECK(qs_plant_parse(&p, "attn_in:0:1") == QS_ERR_ARG);
    CHECK(qs_plant_parse(&p, "attn_in:0:1:2:3") == QS_ERR_ARG);
    CHECK(qs_plant_parse(&p, "attn_in:x:1:2") == QS_ERR_ARG);
    qs_model *m = load();
    qs_model *m0 = load();
    qs_plant_spec ok = {QS_SITE_ATTN_IN, 0, 0, 10.0};
    qs_plant_spec bad[] = {
        {QS_SITE_ATTN_IN, 5, 0, 10.0},       /* layer out of range (5 layers) */
        {QS_SITE_ATTN_IN, 0, 64, 10.0},      /* channel out of range (dim 64) */
        {QS_SITE_FFN_DOWN_IN, 0, 172, 10.0}, /* hidden 172 */
        {QS_SITE_ATTN_O_IN, 0, 32, 10.0},    /* kv width 32 */
        {QS_SITE_ATTN_IN, 0, 0, 0.0},        {QS_SITE_ATTN_IN, 0, 0, NAN},
        {QS_SITE_RESID, 0, 0, 10.0},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        qs_plant_spec two[2] = {ok, bad[k]};
        CHECK_MSG(qs_plant_apply(m, two, 2) == QS_ERR_ARG, "case %zu", k);
    }
    CHECK(qs_plant_apply(m, &bad[1], 1) == QS_ERR_ARG);
    CHECK(strstr(qs_error_message(), "channel 64 out of range") != NULL);
    /* nothing changed: the good spec before each bad one was not applied */
    CHECK(tensor_values_equal(m->w.layers[0].attn_norm, m0->w.layers[0].attn_norm));
    CHECK(tensor_values_equal(m->w.layers[0].wq, m0->w.layers[0].wq));
    CHECK((const char *)m->w.layers[0].wq->data >= (char *)m->map &&
          (const char *)m->w.layers[0].wq->data < (char *)m->map + m->map_size); /* not copied */
    qs_model_free(m);
    qs_model_free(m0);
}

/* Outlier channels of m over the windows, all sites, default thresholds. */
static qs_profile_channel *detect(qs_model *m, const qs_windows *ws, int *n) {
    qs_capture *cap;
    QS_ASSERT(qs_capture_create(&cap, &m->cfg, NULL) == QS_OK);
    qs_profile_info info;
    CHECK(qs_profile_run(cap, m, ws, N_TOKENS, &info) == QS_OK);
    CHECK(info.tokens == N_TOKENS);
    qs_profile_channel *ch = NULL;
    CHECK(qs_profile_channels(&ch, n, cap) == QS_OK);
    qs_capture_free(cap);
    return ch;
}

static void test_detection(const qs_windows *ws) {
    qs_model *m = load();
    int n = -1;
    qs_profile_channel *ch = detect(m, ws, &n);
    printf("original: %d persistent outlier channels\n", n);
    CHECK_MSG(n == 0, "false positives on the original model: %d", n);
    for (int i = 0; i < n && i < 5; i++)
        printf("  %s L%d c%d frac %.3f\n", qs_site_name(ch[i].site), ch[i].layer, ch[i].ch.channel,
               ch[i].ch.token_fraction);
    free(ch);
    qs_plant_spec p[3] = {
        {QS_SITE_ATTN_IN, 1, 7, PLANT_K},
        {QS_SITE_FFN_IN, 3, 20, PLANT_K},
        {QS_SITE_FFN_DOWN_IN, 2, 100, PLANT_K},
    };
    CHECK(qs_plant_apply(m, p, 3) == QS_OK);
    ch = detect(m, ws, &n);
    printf("planted at 3 points: %d found\n", n);
    CHECK_MSG(n == 3, "%d channels", n);
    for (int i = 0; i < n; i++) {
        printf("  %s L%d c%d absmax %.1f ratio %.1f token_frac %.3f seq_frac %.3f\n",
               qs_site_name(ch[i].site), ch[i].layer, ch[i].ch.channel, ch[i].ch.absmax,
               ch[i].ch.ratio_to_median, ch[i].ch.token_fraction, ch[i].ch.sequence_fraction);
        /* (site, layer, channel) order: attn_in < ffn_in < ffn_down_in in enum order */
        if (n == 3) {
            CHECK(ch[i].site == p[i].site && ch[i].layer == p[i].layer &&
                  ch[i].ch.channel == p[i].channel);
            CHECK(ch[i].n_shared == 1);
            char want[8];
            snprintf(want, sizeof want, "%d", p[i].layer);
            CHECK(strcmp(ch[i].shared_layers, want) == 0);
        }
    }
    free(ch);
    /* the same channel at every layer: shared by all five */
    qs_model_free(m);
    m = load();
    qs_plant_spec all = {QS_SITE_FFN_IN, QS_PLANT_ALL_LAYERS, 33, PLANT_K};
    CHECK(qs_plant_apply(m, &all, 1) == QS_OK);
    ch = detect(m, ws, &n);
    CHECK_MSG(n == 5, "%d channels", n);
    for (int i = 0; i < n; i++) {
        CHECK(ch[i].site == QS_SITE_FFN_IN && ch[i].layer == i && ch[i].ch.channel == 33);
        CHECK(ch[i].n_shared == 5 && strcmp(ch[i].shared_layers, "0,1,2,3,4") == 0);
    }
    free(ch);
    qs_model_free(m);
}

int main(void) {
    /* a 260K-parameter model: fork/join costs more than it saves, worst on a busy machine */
    omp_set_num_threads(1);
    openblas_set_num_threads(1);
    qs_model *m = load();
    qs_text text;
    QS_ASSERT(qs_text_load(&text, TEXT, QS_UTF8_STRICT) == QS_OK);
    qs_window_opts wo;
    qs_window_opts_default(&wo);
    wo.ctx = 512;
    qs_windows ws;
    QS_ASSERT(qs_windows_build(&ws, m->tok, text.data, text.len, &wo) == QS_OK);
    QS_ASSERT((long)ws.n * 512 >= N_TOKENS);
    test_bad_specs();
    test_function_preserved(ws.w[1].tokens);
    test_save(ws.w[1].tokens);
    test_detection(&ws);
    qs_windows_free(&ws);
    qs_text_free(&text);
    qs_model_free(m);
    return check_summary("test_plant");
}
