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

/* the classifier gets its own copy of the embedding */
static int untie(qs_model *m) {
    const qs_config *c = &m->cfg;
    size_t n = (size_t)c->vocab_size * c->dim;
    float *out = qs__model_alloc(m, n);
    if (!out) return qs_error_set(QS_ERR_NOMEM, "rotate: out of memory untying the classifier");
    memcpy(out, m->w.token_embd, n * sizeof *out);
    int rc = qs__model_add_tensor(m, "output", out, c->vocab_size, c->dim, "F32");
    if (rc) return rc;
    m->w.output = out;
    m->cfg.tied_classifier = 0;
    return QS_OK;
}

static int rotate_resid(qs_model *m, uint64_t seed, qs_rotate_report *rep) {
    const qs_config *c = &m->cfg;
    int D = c->dim, H = c->hidden_dim, V = c->vocab_size;
    int Q = c->n_heads * c->head_dim, K = c->n_kv_heads * c->head_dim;
    int rc;
    if (m->w.output == m->w.token_embd) {
        if ((rc = untie(m))) return rc;
        rep->untied = 1;
    }
    /* the gains into the readers, so that RMSNorm commutes with R */
    for (int l = 0; l < c->n_layers; l++) {
        qs_layer_weights *w = &m->w.layers[l];
        scale_cols(w->wq, w->attn_norm, Q, D);
        scale_cols(w->wk, w->attn_norm, K, D);
        scale_cols(w->wv, w->attn_norm, K, D);
        fill_ones(w->attn_norm, D);
        scale_cols(w->w_gate, w->ffn_norm, H, D);
        scale_cols(w->w_up, w->ffn_norm, H, D);
        fill_ones(w->ffn_norm, D);
    }
    scale_cols(m->w.output, m->w.output_norm, V, D);
    fill_ones(m->w.output_norm, D);
    qs_rotation r;
    if ((rc = qs_rotation_init(&r, D, seed))) return qs_error_prefix(rc, "rotate resid");
    rep->n[0] = r.n, rep->p[0] = r.p, rep->m[0] = r.m;
    qs_rotation_rows(&r, m->w.token_embd, V);
    qs_rotation_rows(&r, m->w.output, V);
    for (int l = 0; l < c->n_layers && rc == QS_OK; l++) {
        qs_layer_weights *w = &m->w.layers[l];
        qs_rotation_rows(&r, w->wq, Q);
        qs_rotation_rows(&r, w->wk, K);
        qs_rotation_rows(&r, w->wv, K);
        qs_rotation_rows(&r, w->w_gate, H);
        qs_rotation_rows(&r, w->w_up, H);
        rc = qs_rotation_cols(&r, w->wo, Q);                      /* (D, Q) */
        if (rc == QS_OK) rc = qs_rotation_cols(&r, w->w_down, H); /* (D, H) */
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
    for (int l = 0; l < c->n_layers; l++) /* ffn_down (D, H) reads the rotated site */
        qs_rotation_rows(&o->r, m->w.layers[l].w_down, c->dim);
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
        for (int h = 0; h < c->n_kv_heads && rc == QS_OK; h++) /* v_h ← v_h·R */
            rc = qs_rotation_cols(&r, w->wv + (long)h * hd * D, D);
        if (w->bv) qs_rotation_rows(&r, w->bv, c->n_kv_heads);
        /* attn_output (D, n_heads·hd) as (D·n_heads, hd): each head's columns ← ·R */
        qs_rotation_rows(&r, w->wo, D * c->n_heads);
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
