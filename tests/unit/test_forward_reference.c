/* The forward pass against the PyTorch float64 reference logits in
 * tests/fixtures/reference_logits.h5 (three sequences of stories260K). Also checks that a
 * window run at once equals the same tokens run one at a time through the KV cache, and
 * that a capture hook sees every site with the right shape. */
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "forward.h"
#include "model.h"

#define MAX_REFERENCE_LOGIT_ERROR 1e-4 /* the bound; float32 compute gives ~1e-5 */
#define MAX_CACHE_VS_WINDOW_ERROR 1e-4

static int read_ints(hid_t f, const char *name, int *out, int max) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t sp = H5Dget_space(d);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    int ok =
        n > 0 && n <= max && H5Dread(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0;
    H5Sclose(sp);
    H5Dclose(d);
    return ok ? (int)n : -1;
}

static int read_floats(hid_t f, const char *name, float *out, size_t n) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t sp = H5Dget_space(d);
    int ok = (size_t)H5Sget_simple_extent_npoints(sp) == n &&
             H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0;
    H5Sclose(sp);
    H5Dclose(d);
    return ok ? 0 : -1;
}

typedef struct seen {
    int calls[QS_SITE_COUNT];
    int bad_shape;
    const qs_config *c;
} seen;

static int count_sites(void *user, int site, int layer, float *x, int T, int C, int pos0) {
    seen *s = user;
    s->calls[site]++;
    int kv = site == QS_SITE_K_CACHE || site == QS_SITE_V_CACHE;
    int want = site == QS_SITE_FFN_DOWN_IN ? s->c->hidden_dim
               : site == QS_SITE_ATTN_O_IN ? s->c->n_heads * s->c->head_dim
               : kv                        ? s->c->n_kv_heads * s->c->head_dim
                                           : s->c->dim;
    if (C != want || layer < 0 || layer > s->c->n_layers) s->bad_shape++;
    return 0;
}

/* rows (heads·hd, cols): within each head, interleaved row 2i -> i and 2i+1 -> i + hd/2,
 * the order Hugging Face checkpoints store q/k in for rotate_half RoPE */
static void rows_to_half(float *w, int heads, int hd, int cols) {
    float *tmp = malloc((size_t)hd * cols * sizeof *tmp);
    for (int h = 0; h < heads; h++) {
        float *p = w + (size_t)h * hd * cols;
        memcpy(tmp, p, (size_t)hd * cols * sizeof *tmp);
        for (int i = 0; i < hd / 2; i++) {
            memcpy(p + (size_t)i * cols, tmp + (size_t)(2 * i) * cols, (size_t)cols * sizeof *p);
            memcpy(p + (size_t)(i + hd / 2) * cols, tmp + (size_t)(2 * i + 1) * cols,
                   (size_t)cols * sizeof *p);
        }
    }
    free(tmp);
}

/* The half-split RoPE layout: q/k rows in rotate_half order with QS_ROPE_HALF must give the
 * same logits as the interleaved original (to float rounding). */
static void check_half_layout(const qs_model *m, const int *tokens, int T, const float *ref) {
    qs_model *h;
    CHECK(qs_model_twin(&h, m) == 0);
    if (!h) return;
    const qs_config *c = &h->cfg;
    for (int l = 0; l < c->n_layers; l++) { /* f32 copies the twin owns, reordered */
        rows_to_half(qs_model_tensor_f32_own(h, h->w.layers[l].wq), c->n_heads, c->head_dim,
                     c->dim);
        rows_to_half(qs_model_tensor_f32_own(h, h->w.layers[l].wk), c->n_kv_heads, c->head_dim,
                     c->dim);
    }
    h->cfg.rope_layout = QS_ROPE_HALF;
    int V = c->vocab_size;
    float *got = malloc((size_t)T * V * sizeof *got);
    qs_forward_state st;
    CHECK(qs_forward_init(&st, h, T, T) == 0);
    CHECK(qs_forward(&st, tokens, T, 0, got, 0, NULL) == 0);
    double maxerr = 0;
    for (size_t i = 0; i < (size_t)T * V; i++) maxerr = fmax(maxerr, fabs((double)got[i] - ref[i]));
    printf("half-split RoPE layout: max |logit - reference| = %.3g\n", maxerr);
    CHECK_MSG(maxerr <= MAX_REFERENCE_LOGIT_ERROR, "half layout max err %g", maxerr);
    qs_forward_free(&st);
    free(got);
    qs_model_free(h);
}

int main(void) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    qs_model *m;
    CHECK(qs_model_load(&m, "data/models/stories260K.bin", NULL) == 0);
    if (!m) return check_summary("test_forward_reference");
    hid_t f = H5Fopen("tests/fixtures/reference_logits.h5", H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0);
    int V = m->cfg.vocab_size;
    for (int s = 0; s < 3 && f >= 0; s++) {
        char name[64];
        int tokens[128];
        snprintf(name, sizeof name, "seq%d/tokens", s);
        int T = read_ints(f, name, tokens, 128);
        CHECK(T > 0);
        if (T <= 0) continue;
        float *ref = malloc((size_t)T * V * sizeof(float));
        float *got = malloc((size_t)T * V * sizeof(float));
        float *step = malloc((size_t)V * sizeof(float));
        snprintf(name, sizeof name, "seq%d/logits", s);
        CHECK(read_floats(f, name, ref, (size_t)T * V) == 0);
        qs_forward_state st;
        CHECK(qs_forward_init(&st, m, T, T) == 0);
        seen sn = {{0}, 0, &m->cfg};
        qs_hook hook = {count_sites, &sn, QS_SITE_ALL};
        CHECK(qs_forward(&st, tokens, T, 0, got, 0, &hook) == 0);
        double maxerr = 0;
        for (size_t i = 0; i < (size_t)T * V; i++) {
            double e = fabs((double)got[i] - ref[i]);
            maxerr = e > maxerr ? e : maxerr;
        }
        printf("seq%d: T=%d max |logit - reference| = %.3g\n", s, T, maxerr);
        CHECK_MSG(maxerr <= MAX_REFERENCE_LOGIT_ERROR, "seq%d max err %g", s, maxerr);
        if (s == 2) check_half_layout(m, tokens, T, ref);
        /* capture sites: every block once per site, plus the final residual */
        CHECK(sn.calls[QS_SITE_RESID] == m->cfg.n_layers + 1);
        CHECK(sn.calls[QS_SITE_ATTN_IN] == m->cfg.n_layers);
        CHECK(sn.calls[QS_SITE_FFN_DOWN_IN] == m->cfg.n_layers);
        CHECK(sn.calls[QS_SITE_K_CACHE] == m->cfg.n_layers &&
              sn.calls[QS_SITE_V_CACHE] == m->cfg.n_layers);
        CHECK(sn.bad_shape == 0);
        /* the same tokens one at a time through the cache give the same last logits */
        double cache_err = 0;
        for (int t = 0; t < T; t++) {
            CHECK(qs_forward(&st, tokens + t, 1, t, step, 1, NULL) == 0);
            for (int v = 0; v < V; v++) {
                double e = fabs((double)step[v] - got[(size_t)t * V + v]);
                cache_err = e > cache_err ? e : cache_err;
            }
        }
        CHECK_MSG(cache_err <= MAX_CACHE_VS_WINDOW_ERROR, "cache vs window %g", cache_err);
        qs_forward_free(&st);
        free(ref);
        free(got);
        free(step);
    }
    /* bad sizes are errors, not crashes */
    qs_forward_state st;
    int toks[4] = {1, 2, 3, 100000};
    CHECK(qs_forward_init(&st, m, 4, 4) == 0);
    CHECK(qs_forward(&st, toks, 4, 0, NULL, 0, NULL) != 0); /* token out of vocab */
    CHECK(qs_forward(&st, toks, 5, 0, NULL, 0, NULL) != 0); /* window too long */
    CHECK(qs_forward(&st, toks, 2, 3, NULL, 0, NULL) != 0); /* past the cache */
    qs_forward_free(&st);
    if (f >= 0) H5Fclose(f);
    qs_model_free(m);
    return check_summary("test_forward_reference");
}
