/* Offline weight quantization into packed tensors that a twin owns (weight_quant.h). */
#include "weight_quant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "sites.h"

int qs_wquant_site_weights(const qs_model *m, int site, int layer, const qs_tensor **w,
                           const char **names) {
    const qs_layer_weights *lw = &m->w.layers[layer];
    int n = 0;
#define ADD(p, nm) (w[n] = (p), names[n] = (nm), n++)
    switch (site) {
    case QS_SITE_ATTN_IN:
        ADD(lw->wq, "attn_q");
        ADD(lw->wk, "attn_k");
        ADD(lw->wv, "attn_v");
        break;
    case QS_SITE_ATTN_O_IN: ADD(lw->wo, "attn_output"); break;
    case QS_SITE_FFN_IN:
        ADD(lw->w_gate, "ffn_gate");
        ADD(lw->w_up, "ffn_up");
        break;
    case QS_SITE_FFN_DOWN_IN: ADD(lw->w_down, "ffn_down"); break;
    default: break;
    }
#undef ADD
    return n;
}

/* Rows quantized per step: a block of about 4 Mi values, so memory stays a few tensors'
 * rows however large the matrix (per-tensor scales need every row at once). */
#define BLOCK_VALUES (4L << 20)

/* Quantizes tensor t into a packed tensor m owns and puts it in t's place. */
static int quantize_tensor(qs_model *m, const qs_tensor *t, const qs_quant_spec *sp,
                           const char *label, qs_wquant_report *rep) {
    qs_packed_layout lay;
    int rc = qs_quant_packed_layout(&lay, sp, t->rows, t->cols);
    if (rc) return qs_error_prefix(rc, "%s", label);
    if (t->cols > INT32_MAX || (t->rows * t->cols > INT32_MAX &&
                                (sp->gran == QS_QUANT_TENSOR || lay.tensor_scale)))
        return qs_error_set(QS_ERR_ARG, "%s: (%lld, %lld) is too large to quantize", label,
                            (long long)t->rows, (long long)t->cols);
    size_t bytes = qs_packed_bytes(&lay);
    uint8_t *data = qs__model_alloc(m, bytes); /* zeroed: pack_rows ORs codes in */
    int whole = sp->gran == QS_QUANT_TENSOR || lay.tensor_scale; /* a tensor-wide scale */
    int64_t block = whole ? t->rows : BLOCK_VALUES / t->cols;
    if (block < 1) block = 1;
    if (block > t->rows) block = t->rows;
    float *x = malloc((size_t)block * (size_t)t->cols * sizeof *x);
    float *y = malloc((size_t)block * (size_t)t->cols * sizeof *y);
    if (!data || !x || !y) {
        free(x), free(y);
        return qs_error_set(QS_ERR_NOMEM, "out of memory quantizing %s", label);
    }
    long clipped = 0;
    for (int64_t r0 = 0; r0 < t->rows && rc == QS_OK; r0 += block) {
        int n = (int)(t->rows - r0 < block ? t->rows - r0 : block);
        size_t nv = (size_t)n * (size_t)t->cols;
        qs_quant_report qr;
        qs_tensor_rows(x, t, r0, n); /* x (n, C): the rows as f32, logical order */
        rc = qs_quant_pack_rows(data, &lay, r0, y, x, n, sp, &qr);
        if (rc) {
            rc = qs_error_prefix(rc, "%s rows %lld..%lld", label, (long long)r0,
                                 (long long)(r0 + n - 1));
            break;
        }
        clipped += qr.n_clipped;
        for (size_t j = 0; j < nv; j++) { /* in index order, as one pass over the matrix */
            double e = (double)y[j] - x[j];
            rep->sum_sq_err += e * e;
            rep->sum_sq_ref += (double)x[j] * x[j];
        }
    }
    free(x), free(y);
    if (rc) return rc;
    qs_tensor *q = qs__model_alloc(m, sizeof *q);
    qs_packed_layout *kept = qs__model_alloc(m, sizeof *kept); /* lives with the tensor */
    if (!q || !kept) return qs_error_set(QS_ERR_NOMEM, "out of memory quantizing %s", label);
    *kept = lay;
    if ((rc = qs_tensor_init(q, t->name, QS_DTYPE_PACKED, data, bytes, t->rows, t->cols, kept)) ||
        (rc = qs_model_replace_tensor(m, t, q)))
        return rc;
    double sz = (double)t->rows * (double)t->cols;
    rep->n_tensors++;
    rep->n_values += sz;
    rep->bits += qs_quant_bits_per_value(sp, (int)(t->rows < INT32_MAX ? t->rows : INT32_MAX),
                                         (int)t->cols) *
                 sz;
    rep->n_clipped += clipped;
    rep->packed_bytes += (double)bytes;
    return QS_OK;
}

int qs_wquant_apply(qs_model *m, const qs_quant_side *side, unsigned site_mask,
                    qs_wquant_report *rep) {
    qs_wquant_report local;
    if (!rep) rep = &local;
    memset(rep, 0, sizeof *rep);
    if (side->spec.bits == QS_QUANT_BITS_NONE) return QS_OK;
    int rc = qs_quant_spec_validate(&side->spec);
    if (rc) return rc;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        if (!qs_quant_side_has_layer(side, l)) continue;
        for (int s = 0; s < QS_SITE_COUNT; s++) {
            if (!(site_mask & QS_SITE_BIT(s))) continue;
            const qs_tensor *w[3];
            const char *nm[3];
            int n = qs_wquant_site_weights(m, s, l, w, nm);
            for (int i = 0; i < n; i++) {
                char label[64];
                snprintf(label, sizeof label, "blk.%d.%s", l, nm[i]);
                if ((rc = quantize_tensor(m, w[i], &side->spec, label, rep))) return rc;
            }
        }
    }
    rep->bits_per_value = rep->n_values > 0 ? rep->bits / rep->n_values : 16;
    return QS_OK;
}

int qs_wquant_tensor(qs_model *m, const qs_tensor *t, const qs_quant_spec *sp,
                     qs_wquant_report *rep) {
    qs_wquant_report local;
    if (!rep) {
        memset(&local, 0, sizeof local);
        rep = &local;
    }
    int rc = qs_quant_spec_validate(sp);
    if (rc == QS_OK) rc = quantize_tensor(m, t, sp, t->name, rep);
    if (rc == QS_OK) rep->bits_per_value = rep->n_values > 0 ? rep->bits / rep->n_values : 16;
    return rc;
}

int qs_wquant_twin(qs_model **out, const qs_model *base, const qs_quant_side *side,
                   unsigned site_mask, qs_wquant_report *rep) {
    int rc = qs_model_twin(out, base);
    if (rc) return rc;
    if ((rc = qs_wquant_apply(*out, side, site_mask, rep))) {
        qs_model_free(*out);
        *out = NULL;
    }
    return rc;
}
