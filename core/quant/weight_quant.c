#include "weight_quant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "sites.h"

int qs_wquant_site_weights(qs_model *m, int site, int layer, float **w, int *rows, int *cols,
                           const char **names) {
    const qs_config *c = &m->cfg;
    qs_layer_weights *lw = &m->w.layers[layer];
    int D = c->dim, H = c->hidden_dim, Q = c->n_heads * c->head_dim,
        K = c->n_kv_heads * c->head_dim;
    int n = 0;
#define ADD(p, r, k, nm) (w[n] = (p), rows[n] = (r), cols[n] = (k), names[n] = (nm), n++)
    switch (site) {
    case QS_SITE_ATTN_IN:
        ADD(lw->wq, Q, D, "attn_q");
        ADD(lw->wk, K, D, "attn_k");
        ADD(lw->wv, K, D, "attn_v");
        break;
    case QS_SITE_ATTN_O_IN: ADD(lw->wo, D, Q, "attn_output"); break;
    case QS_SITE_FFN_IN:
        ADD(lw->w_gate, H, D, "ffn_gate");
        ADD(lw->w_up, H, D, "ffn_up");
        break;
    case QS_SITE_FFN_DOWN_IN: ADD(lw->w_down, D, H, "ffn_down"); break;
    default: break;
    }
#undef ADD
    return n;
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
            float *w[3];
            int r[3], k[3];
            const char *nm[3];
            int n = qs_wquant_site_weights(m, s, l, w, r, k, nm);
            for (int i = 0; i < n; i++) {
                qs_quant_report qr;
                /* the original is needed for the error: quantize into a scratch copy first */
                size_t sz = (size_t)r[i] * k[i];
                float *q = malloc(sz * sizeof(float));
                if (!q)
                    return qs_error_set(QS_ERR_NOMEM, "out of memory quantizing blk.%d.%s", l,
                                        nm[i]);
                rc = qs_quant_fake(q, w[i], r[i], k[i], &side->spec, NULL, &qr);
                if (rc) {
                    free(q);
                    return qs_error_prefix(rc, "blk.%d.%s", l, nm[i]);
                }
                for (size_t j = 0; j < sz; j++) {
                    double e = (double)q[j] - w[i][j];
                    rep->sum_sq_err += e * e;
                    rep->sum_sq_ref += (double)w[i][j] * w[i][j];
                }
                memcpy(w[i], q, sz * sizeof(float));
                free(q);
                rep->n_tensors++;
                rep->n_values += (double)sz;
                rep->bits += qr.bits_per_value * (double)sz;
                rep->n_clipped += qr.n_clipped;
                char name[64];
                snprintf(name, sizeof name, "blk.%d.%s", l, nm[i]);
                qs_tensor *t = qs_model_tensor(m, name);
                if (t) snprintf(t->stored_type, sizeof t->stored_type, "fq%d", side->spec.bits);
            }
        }
    }
    rep->bits_per_value = rep->n_values > 0 ? rep->bits / rep->n_values : 16;
    return QS_OK;
}
