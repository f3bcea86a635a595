#include "eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "act_quant.h"
#include "error.h"
#include "kv_quant.h"
#include "progress.h"
#include "remedy.h"

/* SmoothQuant's exponent searched on the calibration windows: the grid 0.05 .. 0.95, each
 * point evaluated with the whole config, the lowest mean KLD kept (ties: the smaller α). */
#define SMOOTH_GRID 20

int qs_eval_smooth_search(const qs_model *m, const qs_quant_config *cfg, unsigned site_mask,
                          const qs_windows *calib, double *alpha) {
    qs_quant_config one = *cfg;
    double best = INFINITY;
    *alpha = 0.5;
    for (int k = 1; k < SMOOTH_GRID; k++) {
        one.remedy.smooth_alpha = (double)k / SMOOTH_GRID;
        qs_eval_result r;
        int rc = qs_eval(m, calib, &one, site_mask, calib, &r);
        if (rc) return qs_error_prefix(rc, "smooth search at alpha %g", one.remedy.smooth_alpha);
        if (r.kld.kld_mean < best) best = r.kld.kld_mean, *alpha = one.remedy.smooth_alpha;
    }
    return QS_OK;
}

static int smooth_search(const qs_model *m, const qs_windows *ws, const qs_quant_config *cfg,
                         unsigned site_mask, const qs_windows *calib, qs_eval_result *out) {
    qs_windows head = {ws->w, ws->n < QS_EVAL_CALIB_WINDOWS ? ws->n : QS_EVAL_CALIB_WINDOWS, 0, 0,
                       NULL};
    qs_quant_config one = *cfg;
    int rc =
        qs_eval_smooth_search(m, cfg, site_mask, calib ? calib : &head, &one.remedy.smooth_alpha);
    return rc ? rc : qs_eval(m, ws, &one, site_mask, calib, out);
}

/* The activation and KV-cache hooks as one: each sees its own sites. */
typedef struct hook_pair {
    qs_hook a, kv;
} hook_pair;

static int pair_fn(void *user, int site, int layer, float *x, int T, int C, int pos0) {
    const hook_pair *p = user;
    const qs_hook *h = (p->kv.site_mask & QS_SITE_BIT(site)) ? &p->kv : &p->a;
    if (!(h->site_mask & QS_SITE_BIT(site))) return QS_OK;
    return h->fn(h->user, site, layer, x, T, C, pos0);
}

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
    const qs_remedy *rem = &cfg->remedy;
    if (rem->smooth && rem->smooth_alpha < 0)
        return smooth_search(m, ws, cfg, site_mask, calib, out);
    /* activations: online, in the forward pass, through the hook (checks its layers) */
    qs_actq a;
    if ((rc = qs_actq_init(&a, &m->cfg, &cfg->a, site_mask))) return rc;
    qs_kvq kq; /* the cache: online, as it is written (nothing to free) */
    if ((rc = qs_kvq_init(&kq, &cfg->kv)) ||
        (rem->decompose > 0 && (rc = qs_actq_set_decompose(&a, rem->decompose)))) {
        qs_actq_free(&a);
        return rc;
    }
    double t0 = qs_now();
    /* calibration windows: those given, else the first evaluation window for static
     * activation ranges and the first QS_EVAL_CALIB_WINDOWS for the remedies */
    qs_windows first = {ws->w, ws->n > 0 ? 1 : 0, 0, 0, NULL};
    qs_windows head = {ws->w, ws->n < QS_EVAL_CALIB_WINDOWS ? ws->n : QS_EVAL_CALIB_WINDOWS, 0, 0,
                       NULL};
    const qs_windows *cw = calib ? calib : &first, *rw = calib ? calib : &head;
    /* remedies that keep the full-precision function: folded into a copy (remedy.h) */
    qs_model *tm = NULL;
    qs_remedy_report rr;
    memset(&rr, 0, sizeof rr);
    if (rem->rotate || rem->smooth || rem->awq) {
        if ((rc = qs_remedy_transform(&tm, m, cfg, rw, &rr))) {
            qs_actq_free(&a);
            return rc;
        }
        out->has_alpha = rr.has_alpha;
        out->remedy_alpha = rr.alpha;
    }
    /* weights: offline, on a copy (the transformed one when there is one) */
    qs_model *qm = NULL;
    if (cfg->w.spec.bits != QS_QUANT_BITS_NONE) {
        if (tm)
            qm = tm, tm = NULL;
        else
            rc = qs_model_clone(&qm, m);
        if (rc == QS_OK)
            rc = rem->gptq ? qs_remedy_gptq(qm, &cfg->w, site_mask, rem, rw, &out->w, &rr)
                           : qs_wquant_apply(qm, &cfg->w, site_mask, &out->w);
        if (rc) {
            qs_model_free(qm);
            qs_actq_free(&a);
            return rc;
        }
    }
    const qs_model *run = qm ? qm : tm ? tm : m;
    int act = cfg->a.spec.bits != QS_QUANT_BITS_NONE;
    if (act && cfg->a.is_static) rc = qs_actq_calibrate(&a, run, cw);
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
    hook_pair hp = {qs_actq_hook(&a), qs_kvq_hook(&kq)};
    qs_hook hook = {pair_fn, &hp, hp.a.site_mask | hp.kv.site_mask};
    act = act || hp.kv.site_mask != 0;
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
    out->a_wide_cols_frac = qs_actq_wide_cols_frac(&a);
    out->a_wide_values_frac = qs_actq_wide_values_frac(&a);
    out->kv_clipped = kq.clipped;
    out->kv_bits_per_value = qs_kvq_bits_per_value(&kq);
    out->seconds = qs_now() - t0;
    qs_kld_free(&acc);
    free(lb);
    free(lq);
    qs_forward_free(&sb);
    qs_forward_free(&sq);
    qs_actq_free(&a);
    qs_model_free(qm);
    qs_model_free(tm);
    return rc;
}

void qs_eval_fix_search(qs_quant_config *cfg, const qs_eval_result *r) {
    if (cfg->remedy.smooth && cfg->remedy.smooth_alpha < 0 && r->has_alpha)
        cfg->remedy.smooth_alpha = r->remedy_alpha;
}

int qs_eval_attribution_config(qs_quant_config *one, unsigned *site_mask,
                               const qs_quant_config *cfg, int by_site, int index) {
    *one = *cfg;
    if (by_site) {
        /* the linear inputs only: resid and the cache rows have no weights or config */
        if (index < 0 || index >= QS_SITE_COUNT || index == QS_SITE_RESID ||
            (QS_SITE_KV & QS_SITE_BIT(index)))
            return 0;
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
