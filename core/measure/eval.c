#include "eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "act_quant.h"
#include "error.h"
#include "progress.h"

int qs_eval(const qs_model *m, const qs_windows *ws, const qs_quant_config *cfg, unsigned site_mask,
            const qs_windows *calib, qs_eval_result *out) {
    memset(out, 0, sizeof *out);
    int rc;
    if ((rc = qs_quant_spec_validate(&cfg->w.spec)) || (rc = qs_quant_spec_validate(&cfg->a.spec)))
        return rc;
    for (int i = 0; i < cfg->w.n_layers; i++)
        if (cfg->w.layers[i] >= m->cfg.n_layers)
            return qs_error_set(QS_ERR_ARG,
                                "config layers: layer %d does not exist (the model has %d: 0..%d)",
                                cfg->w.layers[i], m->cfg.n_layers, m->cfg.n_layers - 1);
    /* activations: online, in the forward pass, through the hook (checks its layers) */
    qs_actq a;
    if ((rc = qs_actq_init(&a, &m->cfg, &cfg->a, site_mask))) return rc;
    double t0 = qs_now();
    /* weights: offline, into a twin that shares every other tensor with m */
    qs_model *qm = NULL;
    if (cfg->w.spec.bits != QS_QUANT_BITS_NONE &&
        (rc = qs_wquant_twin(&qm, m, &cfg->w, site_mask, &out->w))) {
        qs_actq_free(&a);
        return rc;
    }
    const qs_model *run = qm ? qm : m;
    int act = cfg->a.spec.bits != QS_QUANT_BITS_NONE;
    if (act && cfg->a.is_static) {
        qs_windows first = {ws->w, ws->n > 0 ? 1 : 0, 0, 0, NULL};
        rc = qs_actq_calibrate(&a, run, calib ? calib : &first);
    }
    int max_n = 0, V = m->cfg.vocab_size;
    for (int i = 0; i < ws->n; i++) max_n = ws->w[i].n > max_n ? ws->w[i].n : max_n;
    qs_forward_state sb = {0}, sq = {0};
    float *lb = NULL, *lq = NULL;
    qs_kld_acc acc;
    qs_kld_init(&acc);
    if (rc == QS_OK) rc = qs_forward_init(&sb, m, max_n, max_n);
    if (rc == QS_OK) rc = qs_forward_init(&sq, run, max_n, max_n);
    if (rc == QS_OK) {
        lb = malloc((size_t)max_n * V * sizeof(float)); /* (T, V) */
        lq = malloc((size_t)max_n * V * sizeof(float)); /* (T, V) */
        if (!lb || !lq) rc = qs_error_set(QS_ERR_NOMEM, "out of memory for logits");
    }
    qs_hook hook = qs_actq_hook(&a);
    qs_progress pr;
    long total = 0;
    for (int i = 0; i < ws->n; i++) total += ws->w[i].n;
    qs_progress_start(&pr, "eval", total);
    for (int i = 0; i < ws->n && rc == QS_OK; i++) {
        const qs_window *w = &ws->w[i];
        rc = qs_forward(&sb, w->tokens, w->n, 0, lb, 0, NULL);
        if (rc == QS_OK) rc = qs_forward(&sq, w->tokens, w->n, 0, lq, 0, act ? &hook : NULL);
        for (int j = w->score_from; j < w->score_to && rc == QS_OK; j++)
            rc = qs_kld_add(&acc, lb + (size_t)j * V, lq + (size_t)j * V, V, w->tokens[j + 1]);
        out->n_windows++;
        qs_progress_add(&pr, w->n);
    }
    qs_progress_end(&pr);
    if (rc == QS_OK) rc = qs_kld_report_compute(&out->kld, &acc);
    out->a_calls = a.calls;
    out->a_clipped = a.clipped;
    out->a_bits_per_value = qs_actq_bits_per_value(&a);
    out->seconds = qs_now() - t0;
    qs_kld_free(&acc);
    free(lb);
    free(lq);
    qs_forward_free(&sb);
    qs_forward_free(&sq);
    qs_actq_free(&a);
    qs_model_free(qm);
    return rc;
}

int qs_eval_attribution_config(qs_quant_config *one, unsigned *site_mask,
                               const qs_quant_config *cfg, int by_site, int index) {
    *one = *cfg;
    if (by_site) {
        if (index < 0 || index >= QS_SITE_COUNT || index == QS_SITE_RESID) return 0;
        *site_mask = QS_SITE_BIT(index);
        return 1;
    }
    int hw = qs_quant_side_has_layer(&cfg->w, index), ha = qs_quant_side_has_layer(&cfg->a, index);
    if (!hw && !ha) return 0;
    *site_mask = QS_SITE_ALL;
    one->w.n_layers = one->a.n_layers = 1;
    one->w.layers[0] = one->a.layers[0] = index;
    if (!hw) one->w.spec.bits = QS_QUANT_BITS_NONE;
    if (!ha) one->a.spec.bits = QS_QUANT_BITS_NONE;
    return 1;
}
