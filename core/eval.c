#include "eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "progress.h"

/* The activation side of one evaluation: the hook state. */
typedef struct act_quant {
    const qs_quant_side *side;
    unsigned site_mask;
    int n_layers;
    /* static ranges per (site, layer): (n_ranges, 2) each, NULL when dynamic */
    float *ranges[QS_SITE_COUNT];
    int n_ranges[QS_SITE_COUNT];  /* groups per (site, layer) for that site's width */
    int calibrating;              /* 1: collect ranges instead of quantizing */
    int calib_windows;
    float *scratch;               /* (max_groups, 2) */
    size_t scratch_n;
    long calls, clipped;
    double bits_sum;
} act_quant;

static int site_quantized(const act_quant *a, int site, int layer) {
    return (a->site_mask & a->side->site_mask & QS_SITE_BIT(site)) &&
           qs_quant_side_has_layer(a->side, layer);
}

/* Calibrated range count: per column for col granularity, else one per (site, layer). */
static int static_groups(const qs_quant_spec *sp, int C) { return sp->gran == QS_QUANT_COL ? C : 1; }

static int act_hook(void *user, int site, int layer, float *x, int T, int C, int pos0) {
    act_quant *a = user;
    if (!site_quantized(a, site, layer)) return QS_OK;
    const qs_quant_spec *sp = &a->side->spec;
    long n_scales = qs_quant_n_scales(sp, T, C);
    if ((size_t)n_scales * 2 > a->scratch_n) {
        float *g = realloc(a->scratch, (size_t)n_scales * 2 * sizeof(float));
        if (!g) return qs_error_set(QS_ERR_NOMEM, "out of memory for activation ranges");
        a->scratch = g;
        a->scratch_n = (size_t)n_scales * 2;
    }
    qs_quant_io io = {0};
    qs_quant_report rep;
    int rc;
    if (a->calibrating) {
        /* measure this window's ranges with the spec's clipping, fold them in */
        io.ranges = a->scratch;
        float *tmp = malloc((size_t)T * C * sizeof(float));
        if (!tmp) return qs_error_set(QS_ERR_NOMEM, "out of memory calibrating");
        rc = qs_quant_fake(tmp, x, T, C, sp, &io, &rep);
        free(tmp);
        if (rc) return qs_error_prefix(rc, "calibrating blk.%d.%s", layer, qs_site_name(site));
        int ng = static_groups(sp, C);
        float *r = a->ranges[site] + (size_t)layer * ng * 2;
        for (long g = 0; g < n_scales; g++) {
            int k = ng == 1 ? 0 : (int)g;
            float lo = a->scratch[2 * g], hi = a->scratch[2 * g + 1];
            if (sp->clip == QS_QUANT_ABSMAX) {
                if (lo < r[2 * k]) r[2 * k] = lo;
                if (hi > r[2 * k + 1]) r[2 * k + 1] = hi;
            } else { /* running sums, divided by the window count after calibration */
                r[2 * k] += lo / (ng == 1 ? (float)n_scales : 1.0f);
                r[2 * k + 1] += hi / (ng == 1 ? (float)n_scales : 1.0f);
            }
        }
        return QS_OK;
    }
    if (a->side->is_static) {
        int ng = static_groups(sp, C);
        const float *r = a->ranges[site] + (size_t)layer * ng * 2;
        for (long g = 0; g < n_scales; g++) {
            int k = ng == 1 ? 0 : (int)g;
            a->scratch[2 * g] = r[2 * k];
            a->scratch[2 * g + 1] = r[2 * k + 1];
        }
        io.ranges_in = a->scratch;
    }
    rc = qs_quant_fake(x, x, T, C, sp, &io, &rep);
    if (rc) return qs_error_prefix(rc, "blk.%d.%s", layer, qs_site_name(site));
    a->calls++;
    a->clipped += rep.n_clipped;
    a->bits_sum += rep.bits_per_value;
    return QS_OK;
}

static int site_width(const qs_config *c, int site) {
    if (site == QS_SITE_FFN_DOWN_IN) return c->hidden_dim;
    if (site == QS_SITE_ATTN_O_IN) return c->n_heads * c->head_dim;
    return c->dim;
}

static int calibrate(act_quant *a, const qs_model *qm, const qs_windows *calib) {
    const qs_config *c = &qm->cfg;
    const qs_quant_spec *sp = &a->side->spec;
    for (int s = 0; s < QS_SITE_COUNT; s++) {
        int ng = static_groups(sp, site_width(c, s));
        a->n_ranges[s] = ng;
        a->ranges[s] = malloc((size_t)c->n_layers * ng * 2 * sizeof(float));
        if (!a->ranges[s]) return qs_error_set(QS_ERR_NOMEM, "out of memory for static ranges");
        for (size_t i = 0; i < (size_t)c->n_layers * ng; i++) {
            int absmax = sp->clip == QS_QUANT_ABSMAX;
            a->ranges[s][2 * i] = absmax ? INFINITY : 0.0f;
            a->ranges[s][2 * i + 1] = absmax ? -INFINITY : 0.0f;
        }
    }
    int max_n = 0;
    for (int i = 0; i < calib->n; i++) max_n = calib->w[i].n > max_n ? calib->w[i].n : max_n;
    qs_forward_state st;
    int rc = qs_forward_init(&st, qm, max_n, max_n);
    if (rc) return rc;
    qs_hook hook = {act_hook, a, QS_SITE_ALL};
    a->calibrating = 1;
    for (int i = 0; i < calib->n && rc == QS_OK; i++)
        rc = qs_forward(&st, calib->w[i].tokens, calib->w[i].n, 0, NULL, 0, &hook);
    a->calibrating = 0;
    qs_forward_free(&st);
    if (rc) return rc;
    /* percentile / mse: mean over windows; absmax ranges are already the widest */
    for (int s = 0; s < QS_SITE_COUNT; s++) {
        size_t n = (size_t)c->n_layers * a->n_ranges[s] * 2;
        for (size_t i = 0; i < n; i++) {
            float *v = &a->ranges[s][i];
            if (sp->clip != QS_QUANT_ABSMAX) *v /= (float)calib->n;
            if (!isfinite(*v)) *v = 0.0f; /* a site never seen: an empty range */
        }
    }
    return QS_OK;
}

int qs_eval(const qs_model *m, const qs_windows *ws, const qs_quant_config *cfg,
            unsigned site_mask, const qs_windows *calib, qs_eval_result *out) {
    memset(out, 0, sizeof *out);
    int rc;
    if ((rc = qs_quant_spec_validate(&cfg->w.spec)) || (rc = qs_quant_spec_validate(&cfg->a.spec)))
        return rc;
    for (int i = 0; i < cfg->w.n_layers; i++)
        if (cfg->w.layers[i] >= m->cfg.n_layers)
            return qs_error_set(QS_ERR_ARG, "config: layer %d does not exist (the model has %d)",
                                cfg->w.layers[i], m->cfg.n_layers);
    for (int i = 0; i < cfg->a.n_layers; i++)
        if (cfg->a.layers[i] >= m->cfg.n_layers)
            return qs_error_set(QS_ERR_ARG, "config: layer %d does not exist (the model has %d)",
                                cfg->a.layers[i], m->cfg.n_layers);
    double t0 = qs_now();
    /* weights: offline, on a copy */
    qs_model *qm = NULL;
    if (cfg->w.spec.bits != QS_QUANT_BITS_NONE) {
        if ((rc = qs_model_clone(&qm, m))) return rc;
        if ((rc = qs_wquant_apply(qm, &cfg->w, site_mask, &out->w))) {
            qs_model_free(qm);
            return rc;
        }
    }
    const qs_model *run = qm ? qm : m;
    act_quant a = {&cfg->a, site_mask, m->cfg.n_layers};
    int act = cfg->a.spec.bits != QS_QUANT_BITS_NONE;
    if (act && cfg->a.is_static) {
        qs_windows first = {ws->w, 1, 0, 0, NULL};
        rc = calibrate(&a, run, calib ? calib : &first);
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
    qs_hook hook = {act_hook, &a, act ? QS_SITE_ALL : 0};
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
    out->a_bits_per_value = a.calls ? a.bits_sum / a.calls : 16;
    out->seconds = qs_now() - t0;
    qs_kld_free(&acc);
    free(lb);
    free(lq);
    qs_forward_free(&sb);
    qs_forward_free(&sq);
    for (int s = 0; s < QS_SITE_COUNT; s++) free(a.ranges[s]);
    free(a.scratch);
    qs_model_free(qm);
    return rc;
}
