/* A deep copy of a model's weights, for edits that must not touch the original: offline
 * weight quantization, planting. The copy has no tokenizer (use the original's). */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"

/* the copy of src's tensor whose data is p; NULL stays NULL */
static float *remap(const qs_model *src, float *const *copies, const float *p, int *ok) {
    if (!p) return NULL;
    for (int i = 0; i < src->n_tensors; i++)
        if (src->tensors[i].data == p) return copies[i];
    *ok = 0;
    return NULL;
}

int qs_model_clone(qs_model **out, const qs_model *src) {
    *out = NULL;
    qs_model *m = qs__model_new(src->path, src->format);
    float **copies = calloc((size_t)src->n_tensors + 1, sizeof *copies);
    int rc = QS_OK;
    if (!m || !copies) {
        rc = qs_error_set(QS_ERR_NOMEM, "out of memory copying %s", src->path);
        goto fail;
    }
    m->cfg = src->cfg;
    for (int i = 0; i < src->n_tensors && rc == QS_OK; i++) {
        const qs_tensor *t = &src->tensors[i];
        size_t n = (size_t)t->rows * (size_t)t->cols;
        copies[i] = qs__model_alloc(m, n);
        if (!copies[i]) {
            rc = qs_error_set(QS_ERR_NOMEM, "out of memory copying tensor %s of %s", t->name,
                              src->path);
            break;
        }
        memcpy(copies[i], t->data, n * sizeof(float));
        rc = qs__model_add_tensor(m, t->name, copies[i], t->rows, t->cols, t->stored_type);
    }
    if (rc) goto fail;
    m->w.layers = calloc((size_t)src->cfg.n_layers, sizeof *m->w.layers);
    if (!m->w.layers) {
        rc = qs_error_set(QS_ERR_NOMEM, "out of memory copying %s", src->path);
        goto fail;
    }
    int ok = 1;
    m->w.token_embd = remap(src, copies, src->w.token_embd, &ok);
    m->w.output_norm = remap(src, copies, src->w.output_norm, &ok);
    m->w.output = remap(src, copies, src->w.output, &ok);
    for (int l = 0; l < src->cfg.n_layers; l++) {
        const qs_layer_weights *a = &src->w.layers[l];
        qs_layer_weights *b = &m->w.layers[l];
        float *const *fa[] = {&a->attn_norm, &a->wq,     &a->wk,     &a->wv,
                              &a->wo,        &a->bq,     &a->bk,     &a->bv,
                              &a->ffn_norm,  &a->w_gate, &a->w_down, &a->w_up};
        float **fb[] = {&b->attn_norm, &b->wq, &b->wk,       &b->wv,     &b->wo,     &b->bq,
                        &b->bk,        &b->bv, &b->ffn_norm, &b->w_gate, &b->w_down, &b->w_up};
        for (size_t k = 0; k < sizeof fa / sizeof fa[0]; k++)
            *fb[k] = remap(src, copies, *fa[k], &ok);
    }
    if (!ok) {
        rc = qs_error_set(QS_ERR_FORMAT,
                          "%s: a weight is missing from the tensor table; cannot copy", src->path);
        goto fail;
    }
    free(copies);
    m->online = src->online; /* the copy computes the same function: same online transforms */
    if (m->online.retain) m->online.retain(m->online.user);
    *out = m;
    return QS_OK;
fail:
    free(copies);
    qs_model_free(m);
    return rc;
}
