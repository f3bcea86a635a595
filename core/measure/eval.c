#include "eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "act_quant.h"
#include "error.h"
#include "kv_quant.h"
#include "memstat.h"
#include "sites.h"
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

/* Runs base and run on every window of ws (run with hook, which may be NULL), feeding every
 * scored position to the KL and perplexity statistics in out->kld. */
static int run_windows(const qs_model *base, const qs_model *run, const qs_windows *ws,
                       const qs_hook *hook, qs_eval_result *out) {
    int max_n = 0, V = base->cfg.vocab_size, rc = QS_OK;
    for (int i = 0; i < ws->n; i++) max_n = ws->w[i].n > max_n ? ws->w[i].n : max_n;
    qs_forward_state sb = {0}, sq = {0};
    float *lb = NULL, *lq = NULL;
    qs_kld_acc acc;
    qs_kld_init(&acc);
    rc = qs_forward_init(&sb, base, max_n, max_n);
    if (rc == QS_OK) rc = qs_forward_init(&sq, run, max_n, max_n);
    if (rc == QS_OK) {
        lb = qs_memstat_alloc(QS_MEMSTAT_ACTIVATIONS,
                              (size_t)max_n * V * sizeof(float)); /* (T, V) */
        lq = qs_memstat_alloc(QS_MEMSTAT_ACTIVATIONS,
                              (size_t)max_n * V * sizeof(float)); /* (T, V) */
        if (!lb || !lq) rc = qs_error_set(QS_ERR_NOMEM, "out of memory for logits");
    }
    qs_progress pr;
    long total = 0;
    for (int i = 0; i < ws->n; i++) total += ws->w[i].n;
    qs_progress_start(&pr, "eval", total);
    for (int i = 0; i < ws->n && rc == QS_OK; i++) {
        const qs_window *w = &ws->w[i];
        rc = qs_forward(&sb, w->tokens, w->n, 0, lb, 0, NULL);
        if (rc == QS_OK) rc = qs_forward(&sq, w->tokens, w->n, 0, lq, 0, hook);
        for (int j = w->score_from; j < w->score_to && rc == QS_OK; j++)
            rc = qs_kld_add(&acc, lb + (size_t)j * V, lq + (size_t)j * V, V, w->tokens[j + 1]);
        out->n_windows++;
        qs_progress_add(&pr, w->n);
    }
    qs_progress_end(&pr);
    if (rc == QS_OK) rc = qs_kld_report_compute(&out->kld, &acc);
    qs_kld_free(&acc);
    qs_memstat_free(QS_MEMSTAT_ACTIVATIONS, lb, (size_t)max_n * V * sizeof(float));
    qs_memstat_free(QS_MEMSTAT_ACTIVATIONS, lq, (size_t)max_n * V * sizeof(float));
    qs_forward_free(&sb);
    qs_forward_free(&sq);
    return rc;
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
    /* remedies that keep the full-precision function: folded into a twin (remedy.h) */
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
    /* weights: offline, into a twin that shares every other tensor (the transformed model
     * when there is one) */
    qs_model *qm = NULL;
    if (cfg->w.spec.bits != QS_QUANT_BITS_NONE) {
        if (tm)
            qm = tm, tm = NULL;
        else
            rc = qs_model_twin(&qm, m);
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
    hook_pair hp = {qs_actq_hook(&a), qs_kvq_hook(&kq)};
    qs_hook hook = {pair_fn, &hp, hp.a.site_mask | hp.kv.site_mask};
    act = act || hp.kv.site_mask != 0;
    if (rc == QS_OK) rc = run_windows(m, run, ws, act ? &hook : NULL, out);
    out->a_calls = a.calls;
    out->a_clipped = a.clipped;
    out->a_bits_per_value = qs_actq_bits_per_value(&a);
    out->a_wide_cols_frac = qs_actq_wide_cols_frac(&a);
    out->a_wide_values_frac = qs_actq_wide_values_frac(&a);
    out->kv_clipped = kq.clipped;
    out->kv_bits_per_value = qs_kvq_bits_per_value(&kq);
    out->seconds = qs_now() - t0;
    qs_actq_free(&a);
    qs_model_free(qm);
    qs_model_free(tm);
    return rc;
}

void qs_eval_fix_search(qs_quant_config *cfg, const qs_eval_result *r) {
    if (cfg->remedy.smooth && cfg->remedy.smooth_alpha < 0 && r->has_alpha)
        cfg->remedy.smooth_alpha = r->remedy_alpha;
}

/* ---- two models ----------------------------------------------------------------------- */

int qs_eval_pair_check(const qs_model *base, const qs_model *quant, const char *text, size_t len) {
    const qs_config *a = &base->cfg, *b = &quant->cfg;
    struct {
        const char *what;
        double x, y;
    } f[] = {
        {"dim", a->dim, b->dim},
        {"hidden_dim", a->hidden_dim, b->hidden_dim},
        {"n_layers", a->n_layers, b->n_layers},
        {"n_heads", a->n_heads, b->n_heads},
        {"n_kv_heads", a->n_kv_heads, b->n_kv_heads},
        {"head_dim", a->head_dim, b->head_dim},
        {"vocab_size", a->vocab_size, b->vocab_size},
        {"rope_theta", a->rope_theta, b->rope_theta},
        {"norm_eps", a->norm_eps, b->norm_eps},
        {"q/k/v biases", a->has_qkv_bias, b->has_qkv_bias},
        {"RoPE scaling", a->rope_scale_factor, b->rope_scale_factor},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].x != f[i].y)
            return qs_error_set(QS_ERR_ARG,
                                "%s and %s are not the same model: %s %g vs %g (a quantized file "
                                "is evaluated against its own base)",
                                base->path, quant->path, f[i].what, f[i].x, f[i].y);
    if (!base->tok || !quant->tok || !text) return QS_OK;
    /* both tokenizers must read the text the same way: the windows come from base's */
    int *ia = NULL, *ib = NULL, na = 0, nb = 0, rc;
    size_t probe = len < 4096 ? len : 4096;
    while (probe < len && ((unsigned char)text[probe] & 0xc0) == 0x80) probe++; /* whole UTF-8 */
    rc = qs_tokenizer_encode(base->tok, text, probe, 1, &ia, &na);
    if (!rc) rc = qs_tokenizer_encode(quant->tok, text, probe, 1, &ib, &nb);
    if (!rc && (base->tok->n_vocab != quant->tok->n_vocab || na != nb ||
                memcmp(ia, ib, (size_t)na * sizeof *ia) != 0))
        rc = qs_error_set(QS_ERR_ARG,
                          "%s and %s tokenize the text differently (%d vs %d tokens in its first "
                          "%zu bytes): not the same tokenizer",
                          base->path, quant->path, na, nb, probe);
    free(ia);
    free(ib);
    return rc;
}

/* What quant stores for base's linear weights: stored bits per value, and the error of its
 * expanded values against base's (both expanded a block of rows at a time). */
static int compare_weights(const qs_model *base, const qs_model *quant, qs_wquant_report *w) {
    memset(w, 0, sizeof *w);
    const int64_t block_values = 1 << 20;
    for (int l = 0; l < base->cfg.n_layers; l++)
        for (int s = 0; s < QS_SITE_COUNT; s++) {
            const qs_tensor *tb[3], *tq[3];
            const char *nm[3];
            int n = qs_wquant_site_weights(base, s, l, tb, nm);
            qs_wquant_site_weights(quant, s, l, tq, nm);
            for (int i = 0; i < n; i++) {
                int64_t block = tb[i]->cols >= block_values ? 1 : block_values / tb[i]->cols;
                float *x = malloc((size_t)block * tb[i]->cols * sizeof *x);
                float *y = malloc((size_t)block * tb[i]->cols * sizeof *y);
                if (!x || !y) {
                    free(x), free(y);
                    return qs_error_set(QS_ERR_NOMEM, "out of memory comparing weights");
                }
                for (int64_t r0 = 0; r0 < tb[i]->rows; r0 += block) {
                    int64_t nr = tb[i]->rows - r0 < block ? tb[i]->rows - r0 : block;
                    qs_tensor_rows(x, tb[i], r0, nr);
                    qs_tensor_rows(y, tq[i], r0, nr);
                    for (int64_t j = 0; j < nr * tb[i]->cols; j++) {
                        double e = (double)y[j] - x[j];
                        w->sum_sq_err += e * e;
                        w->sum_sq_ref += (double)x[j] * x[j];
                    }
                }
                free(x), free(y);
                double nv = (double)qs_tensor_numel(tq[i]);
                w->n_tensors++;
                w->n_values += nv;
                w->bits += 8.0 * (double)tq[i]->n_bytes;
                w->packed_bytes += (double)tq[i]->n_bytes;
            }
        }
    w->bits_per_value = w->n_values > 0 ? w->bits / w->n_values : 16;
    return QS_OK;
}

int qs_eval_pair(const qs_model *base, const qs_model *quant, const qs_windows *ws,
                 qs_eval_result *out) {
    memset(out, 0, sizeof *out);
    int rc = qs_eval_pair_check(base, quant, NULL, 0);
    if (rc) return rc;
    double t0 = qs_now();
    if ((rc = compare_weights(base, quant, &out->w))) return rc;
    rc = run_windows(base, quant, ws, NULL, out);
    out->seconds = qs_now() - t0;
    return rc;
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
