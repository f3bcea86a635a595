/* Rotating a model (rotate.h). Weights are (out, in): a reader of a rotated input gets
 * W ← W·R (each row rotated), a writer of a rotated output W ← Rᵀ·W (each column). */
#include "rotate.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "hadamard.h"
#include "remedy_words.h"
#include "sites.h"

/* ---- the online transform ----------------------------------------------------------------- */

typedef struct online_rot {
    int refs;
    qs_rotation r;
} online_rot;

static void online_fn(const void *user, int site, int layer, float *x, int T, int C) {
    const online_rot *o = user;
    QS_ASSERT(C == o->r.n);
    qs_rotation_rows(&o->r, x, T);
}

static void online_retain(void *user) { ((online_rot *)user)->refs++; }

static void online_release(void *user) {
    online_rot *o = user;
    if (--o->refs > 0) return;
    qs_rotation_free(&o->r);
    free(o);
}

/* ---- helpers ------------------------------------------------------------------------------- */

/* w (rows, cols): column j times g[j] */
static void scale_cols(float *w, const float *g, int rows, int cols) {
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) w[(long)r * cols + j] *= g[j];
}

static void fill_ones(float *v, int n) {
    for (int i = 0; i < n; i++) v[i] = 1.0f;
}

/* m's own writable f32 values of tensor t (model.h): the rotations write every tensor they
 * touch, never one a twin shares with its base. NULL (error set) on failure. */
#define OWN(var, t)                                                                    \
    float *var = qs_model_tensor_f32_own(m, (t));                                      \
    if (!var) return QS_ERR_NOMEM

static int fold_gains(qs_model *m) {
    const qs_config *c = &m->cfg;
    int D = c->dim, H = c->hidden_dim, V = c->vocab_size;
    int Q = c->n_heads * c->head_dim, K = c->n_kv_heads * c->head_dim;
    for (int l = 0; l < c->n_layers; l++) {
        qs_layer_weights *w = &m->w.layers[l];
        OWN(an, w->attn_norm);
        OWN(wq, w->wq);
        OWN(wk, w->wk);
        OWN(wv, w->wv);
        OWN(fn, w->ffn_norm);
        OWN(wg, w->w_gate);
        OWN(wu, w->w_up);
        scale_cols(wq, an, Q, D);
        scale_cols(wk, an, K, D);
        scale_cols(wv, an, K, D);
        fill_ones(an, D);
        scale_cols(wg, fn, H, D);
        scale_cols(wu, fn, H, D);
        fill_ones(fn, D);
    }
    OWN(out, m->w.output);
    OWN(on, m->w.output_norm);
    scale_cols(out, on, V, D);
    fill_ones(on, D);
    return QS_OK;
}

static int rotate_resid(qs_model *m, uint64_t seed, qs_rotate_report *rep) {
    const qs_config *c = &m->cfg;
    int D = c->dim, H = c->hidden_dim, V = c->vocab_size;
    int Q = c->n_heads * c->head_dim, K = c->n_kv_heads * c->head_dim;
    int rc;
    if (m->w.output == m->w.token_embd) {
        /* the classifier is scaled by the final gain, the embedding is not */
        if ((rc = qs_model_untie_classifier(m))) return rc;
        rep->untied = 1;
    }
    /* the gains into the readers, so that RMSNorm commutes with R */
    if ((rc = fold_gains(m))) return rc;
    OWN(emb, m->w.token_embd);
    OWN(out, m->w.output);
    qs_rotation r;
    if ((rc = qs_rotation_init(&r, D, seed))) return qs_error_prefix(rc, "rotate resid");
    rep->n[0] = r.n, rep->p[0] = r.p, rep->m[0] = r.m;
    qs_rotation_rows(&r, emb, V);
    qs_rotation_rows(&r, out, V);
    for (int l = 0; l < c->n_layers && rc == QS_OK; l++) {
        qs_layer_weights *w = &m->w.layers[l];
        float *wq = qs_model_tensor_f32_own(m, w->wq), *wk = qs_model_tensor_f32_own(m, w->wk);
        float *wv = qs_model_tensor_f32_own(m, w->wv), *wg = qs_model_tensor_f32_own(m, w->w_gate);
        float *wu = qs_model_tensor_f32_own(m, w->w_up), *wo = qs_model_tensor_f32_own(m, w->wo);
        float *wd = qs_model_tensor_f32_own(m, w->w_down);
        if (!wq || !wk || !wv || !wg || !wu || !wo || !wd) {
            rc = QS_ERR_NOMEM;
            break;
        }
        qs_rotation_rows(&r, wq, Q);
        qs_rotation_rows(&r, wk, K);
        qs_rotation_rows(&r, wv, K);
        qs_rotation_rows(&r, wg, H);
        qs_rotation_rows(&r, wu, H);
        rc = qs_rotation_cols(&r, wo, Q);                      /* (D, Q) */
        if (rc == QS_OK) rc = qs_rotation_cols(&r, wd, H); /* (D, H) */
    }
    qs_rotation_free(&r);
    return rc;
}

static int rotate_down(qs_model *m, uint64_t seed, qs_rotate_report *rep) {
    const qs_config *c = &m->cfg;
    online_rot *o = calloc(1, sizeof *o);
    if (!o) return qs_error_set(QS_ERR_NOMEM, "rotate down: out of memory");
    int rc = qs_rotation_init(&o->r, c->hidden_dim, seed);
    if (rc) {
        free(o);
        return qs_error_prefix(rc, "rotate down");
    }
    rep->n[1] = o->r.n, rep->p[1] = o->r.p, rep->m[1] = o->r.m;
    for (int l = 0; l < c->n_layers; l++) { /* ffn_down (D, H) reads the rotated site */
        float *wd = qs_model_tensor_f32_own(m, m->w.layers[l].w_down);
        if (!wd) {
            qs_rotation_free(&o->r);
            free(o);
            return QS_ERR_NOMEM;
        }
        qs_rotation_rows(&o->r, wd, c->dim);
    }
    o->refs = 1;
    m->online =
        (qs_online){online_fn, o, QS_SITE_BIT(QS_SITE_FFN_DOWN_IN), online_retain, online_release};
    return QS_OK;
}

static int rotate_heads(qs_model *m, uint64_t seed, qs_rotate_report *rep) {
    const qs_config *c = &m->cfg;
    int D = c->dim, hd = c->head_dim;
    qs_rotation r;
    int rc = qs_rotation_init(&r, hd, seed);
    if (rc) return qs_error_prefix(rc, "rotate heads");
    rep->n[2] = r.n, rep->p[2] = r.p, rep->m[2] = r.m;
    for (int l = 0; l < c->n_layers && rc == QS_OK; l++) {
        qs_layer_weights *w = &m->w.layers[l];
        float *wv = qs_model_tensor_f32_own(m, w->wv), *wo = qs_model_tensor_f32_own(m, w->wo);
        float *bv = w->bv ? qs_model_tensor_f32_own(m, w->bv) : NULL;
        if (!wv || !wo || (w->bv && !bv)) {
            rc = QS_ERR_NOMEM;
            break;
        }
        for (int h = 0; h < c->n_kv_heads && rc == QS_OK; h++) /* v_h ← v_h·R */
            rc = qs_rotation_cols(&r, wv + (long)h * hd * D, D);
        if (bv) qs_rotation_rows(&r, bv, c->n_kv_heads);
        /* attn_output (D, n_heads·hd) as (D·n_heads, hd): each head's columns ← ·R */
        qs_rotation_rows(&r, wo, D * c->n_heads);
    }
    qs_rotation_free(&r);
    return rc;
}

int qs_rotate_model(qs_model *m, int parts, uint64_t seed, qs_rotate_report *report) {
    qs_rotate_report local;
    if (!report) report = &local;
    memset(report, 0, sizeof *report);
    if (!(parts & QS_ROTATE_ALL)) return qs_error_set(QS_ERR_ARG, "rotate: no part to rotate");
    if ((parts & QS_ROTATE_DOWN) && m->online.fn)
        return qs_error_set(QS_ERR_ARG, "rotate: the model already has an online transform");
    int rc = QS_OK;
    if (parts & QS_ROTATE_RESID) rc = rotate_resid(m, seed, report);
    if (rc == QS_OK && (parts & QS_ROTATE_DOWN)) rc = rotate_down(m, seed + 1, report);
    if (rc == QS_OK && (parts & QS_ROTATE_HEADS)) rc = rotate_heads(m, seed + 2, report);
    if (rc == QS_OK) report->parts = parts & QS_ROTATE_ALL;
    return rc;
}
