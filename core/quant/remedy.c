/* Remedies applied to a model (remedy.h): calibration statistics, folding per-channel
 * scales (SmoothQuant, AWQ), and GPTQ layer by layer. */
#include "remedy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "awq.h"
#include "error.h"
#include "forward.h"
#include "gptq.h"
#include "progress.h"
#include "sites.h"
#include "smooth.h"

/* A hook's way to end a forward pass early; never an error code (error.h's are < 100). */
#define STOP_FORWARD 1000

static const int linear_sites[4] = {QS_SITE_ATTN_IN, QS_SITE_ATTN_O_IN, QS_SITE_FFN_IN,
                                    QS_SITE_FFN_DOWN_IN};
/* The order scales are folded in within a layer: a site whose folding rescales the rows of
 * a weight that reads another site comes first (attn_o_in divides attn_v's rows, which read
 * attn_in; ffn_down_in divides ffn_up's rows, which read ffn_in), so every site sees its
 * readers' final ranges (remedy.h). */
static const int fold_order[4] = {QS_SITE_ATTN_O_IN, QS_SITE_ATTN_IN, QS_SITE_FFN_DOWN_IN,
                                  QS_SITE_FFN_IN};

static int site_width(const qs_config *c, int site) {
    if (site == QS_SITE_FFN_DOWN_IN) return c->hidden_dim;
    if (site == QS_SITE_ATTN_O_IN) return c->n_heads * c->head_dim;
    return c->dim;
}

/* ---- calibration statistics ----------------------------------------------------------------- */

typedef struct site_stats {
    int C;
    float *absmax;  /* (L, C) */
    double *sumabs; /* (L, C) */
    long *n;        /* (L) tokens seen */
    float *sample;  /* (L, cap, C) the first tokens, or NULL */
    int *n_sample;  /* (L) */
} site_stats;

typedef struct calib_stats {
    int L, cap;
    site_stats s[QS_SITE_COUNT];
} calib_stats;

static void stats_free(calib_stats *cs) {
    for (int i = 0; i < QS_SITE_COUNT; i++) {
        site_stats *s = &cs->s[i];
        free(s->absmax), free(s->sumabs), free(s->n), free(s->sample), free(s->n_sample);
    }
    memset(cs, 0, sizeof *cs);
}

/* Samples at most this many floats over all (site, layer) pairs (2 GB): a 7B model keeps
 * fewer than QS_REMEDY_SAMPLE tokens per pair rather than run out of memory. */
#define SAMPLE_BUDGET (512L << 20)

static int stats_init(calib_stats *cs, const qs_config *c, int with_sample) {
    memset(cs, 0, sizeof *cs);
    cs->L = c->n_layers;
    long widths = 0;
    for (int k = 0; k < 4; k++) widths += site_width(c, linear_sites[k]);
    long cap = with_sample ? SAMPLE_BUDGET / ((long)c->n_layers * widths) : 0;
    cs->cap = (int)(cap < QS_REMEDY_SAMPLE ? cap : QS_REMEDY_SAMPLE);
    for (int k = 0; k < 4; k++) {
        site_stats *s = &cs->s[linear_sites[k]];
        int C = s->C = site_width(c, linear_sites[k]);
        size_t LC = (size_t)cs->L * C;
        s->absmax = calloc(LC, sizeof *s->absmax);
        s->sumabs = calloc(LC, sizeof *s->sumabs);
        s->n = calloc((size_t)cs->L, sizeof *s->n);
        s->n_sample = calloc((size_t)cs->L, sizeof *s->n_sample);
        s->sample = cs->cap ? malloc(LC * (size_t)cs->cap * sizeof *s->sample) : NULL;
        if (!s->absmax || !s->sumabs || !s->n || !s->n_sample || (cs->cap && !s->sample)) {
            stats_free(cs);
            return qs_error_set(QS_ERR_NOMEM, "remedy: out of memory for calibration statistics");
        }
    }
    return QS_OK;
}

static int stats_hook(void *user, int site, int layer, float *x, int T, int C, int pos0) {
    (void)pos0;
    calib_stats *cs = user;
    if (layer >= cs->L) return QS_OK;
    site_stats *s = &cs->s[site];
    float *am = s->absmax + (size_t)layer * C;
    double *sa = s->sumabs + (size_t)layer * C;
    for (int t = 0; t < T; t++) {
        const float *row = x + (long)t * C;
        for (int j = 0; j < C; j++) {
            float a = fabsf(row[j]);
            if (a > am[j]) am[j] = a;
            sa[j] += a;
        }
    }
    s->n[layer] += T;
    int take = cs->cap - s->n_sample[layer];
    if (take > T) take = T;
    if (take > 0) {
        float *dst = s->sample + ((size_t)layer * cs->cap + s->n_sample[layer]) * C;
        memcpy(dst, x, (size_t)take * C * sizeof *x);
        s->n_sample[layer] += take;
    }
    return QS_OK;
}

static int max_window(const qs_windows *ws) {
    int n = 0;
    for (int i = 0; i < ws->n; i++) n = ws->w[i].n > n ? ws->w[i].n : n;
    return n;
}

/* Runs every calibration window through m with hook; a hook may end a window early by
 * returning STOP_FORWARD. */
static int run_calib(const qs_model *m, const qs_windows *calib, qs_hook *hook) {
    qs_forward_state fs;
    int max_n = max_window(calib);
    int rc = qs_forward_init(&fs, m, max_n, max_n);
    for (int i = 0; i < calib->n && rc == QS_OK; i++) {
        rc = qs_forward(&fs, calib->w[i].tokens, calib->w[i].n, 0, NULL, 0, hook);
        if (rc == STOP_FORWARD) rc = QS_OK;
    }
    qs_forward_free(&fs);
    return rc;
}

/* ---- the weights that read a site ------------------------------------------------------------ */

typedef struct readers {
    int n;
    float *w[3]; /* m's own f32 copies (they are about to be scaled) */
    int rows[3];
} readers;

/* The weights that read (site, layer), as f32 copies m owns: scales are folded into them. */
static int readers_of(readers *r, qs_model *m, int site, int layer) {
    const qs_tensor *t[3];
    const char *names[3];
    memset(r, 0, sizeof *r);
    int n = qs_wquant_site_weights(m, site, layer, t, names);
    for (int i = 0; i < n; i++) {
        if (!(r->w[i] = qs_model_tensor_f32_own(m, t[i]))) return QS_ERR_NOMEM;
        r->rows[i] = (int)t[i]->rows;
    }
    r->n = n;
    return QS_OK;
}

/* ---- folding scales ----------------------------------------------------------------------------
 */

/* Folds s into (site, layer) of m: the site then holds x/s, its readers W·diag(s). For
 * attn_o_in s has the query width Q and is tied across the heads of a kv group. */
static int fold(qs_model *m, int site, int layer, const float *s) {
    const qs_config *c = &m->cfg;
    qs_layer_weights *w = &m->w.layers[layer];
    int D = c->dim, H = c->hidden_dim, hd = c->head_dim;
    int K = c->n_kv_heads * hd, group = c->n_heads / c->n_kv_heads;
    readers rd;
    int rc = readers_of(&rd, m, site, layer);
    if (rc) return rc;
    int C = site_width(c, site);
    for (int i = 0; i < rd.n; i++)
        for (int r = 0; r < rd.rows[i]; r++)
            for (int j = 0; j < C; j++) rd.w[i][(long)r * C + j] *= s[j];
    /* the writer of the site (a norm gain, or the weight producing it) divides */
    const qs_tensor *writer = site == QS_SITE_ATTN_IN       ? w->attn_norm
                              : site == QS_SITE_FFN_IN      ? w->ffn_norm
                              : site == QS_SITE_FFN_DOWN_IN ? w->w_up
                                                            : w->wv;
    float *wr = qs_model_tensor_f32_own(m, writer);
    float *bv = site == QS_SITE_ATTN_O_IN && w->bv ? qs_model_tensor_f32_own(m, w->bv) : NULL;
    if (!wr || (site == QS_SITE_ATTN_O_IN && w->bv && !bv)) return QS_ERR_NOMEM;
    switch (site) {
    case QS_SITE_ATTN_IN:
    case QS_SITE_FFN_IN:
        for (int j = 0; j < D; j++) wr[j] /= s[j];
        break;
    case QS_SITE_FFN_DOWN_IN:
        for (int j = 0; j < H; j++)
            for (int k = 0; k < D; k++) wr[(long)j * D + k] /= s[j];
        break;
    case QS_SITE_ATTN_O_IN:
        for (int kc = 0; kc < K; kc++) { /* kv channel kc is query channel (kc/hd)·group·hd.. */
            float sk = s[(kc / hd) * group * hd + kc % hd];
            for (int k = 0; k < D; k++) wr[(long)kc * D + k] /= sk;
            if (bv) bv[kc] /= sk;
        }
        break;
    default: break;
    }
    return QS_OK;
}

/* Pools a per-query-channel statistic (Q) over the heads of each kv group, in place:
 * op 0 max, 1 mean. */
static void pool_gqa(float *v, const qs_config *c, int mean) {
    int hd = c->head_dim, group = c->n_heads / c->n_kv_heads;
    if (group == 1) return;
    for (int kv = 0; kv < c->n_kv_heads; kv++)
        for (int i = 0; i < hd; i++) {
            double acc = mean ? 0.0 : -INFINITY;
            for (int g = 0; g < group; g++) {
                float x = v[(kv * group + g) * hd + i];
                acc = mean ? acc + x : (x > acc ? x : acc);
            }
            if (mean) acc /= group;
            for (int g = 0; g < group; g++) v[(kv * group + g) * hd + i] = (float)acc;
        }
}

/* SmoothQuant scales of (site, layer): s (C) */
static int smooth_scales(float *s, qs_model *m, const calib_stats *cs, int site, int layer,
                         double alpha) {
    const qs_config *c = &m->cfg;
    int C = site_width(c, site);
    float *am = malloc((size_t)C * sizeof *am), *wm = calloc((size_t)C, sizeof *wm);
    if (!am || !wm) {
        free(am), free(wm);
        return qs_error_set(QS_ERR_NOMEM, "smooth: out of memory");
    }
    memcpy(am, cs->s[site].absmax + (size_t)layer * C, (size_t)C * sizeof *am);
    readers rd;
    int rc = readers_of(&rd, m, site, layer);
    if (rc) {
        free(am), free(wm);
        return rc;
    }
    for (int i = 0; i < rd.n; i++)
        for (int r = 0; r < rd.rows[i]; r++)
            for (int j = 0; j < C; j++) {
                float a = fabsf(rd.w[i][(long)r * C + j]);
                if (a > wm[j]) wm[j] = a;
            }
    if (site == QS_SITE_ATTN_O_IN) pool_gqa(am, c, 0), pool_gqa(wm, c, 0);
    rc = qs_smooth_scales(s, am, wm, C, alpha);
    free(am), free(wm);
    return rc ? qs_error_prefix(rc, "blk.%d.%s", layer, qs_site_name(site)) : QS_OK;
}

/* AWQ scales of (site, layer): s (C); *alpha the exponent used */
static int awq_scales(float *s, double *alpha, qs_model *m, const calib_stats *cs, int site,
                      int layer, const qs_quant_config *cfg) {
    const qs_config *c = &m->cfg;
    const site_stats *st = &cs->s[site];
    int C = st->C;
    float *mean = malloc((size_t)C * sizeof *mean);
    if (!mean) return qs_error_set(QS_ERR_NOMEM, "awq: out of memory");
    long n = st->n[layer] ? st->n[layer] : 1;
    for (int j = 0; j < C; j++) mean[j] = (float)(st->sumabs[(size_t)layer * C + j] / n);
    if (site == QS_SITE_ATTN_O_IN) pool_gqa(mean, c, 1);
    int rc;
    if (cfg->remedy.awq_alpha >= 0) {
        *alpha = cfg->remedy.awq_alpha;
        rc = qs_awq_scales(s, mean, C, *alpha);
    } else {
        readers rd;
        if ((rc = readers_of(&rd, m, site, layer))) {
            free(mean);
            return rc;
        }
        qs_awq_input in = {
            st->sample + (size_t)layer * cs->cap * C, st->n_sample[layer], C, mean, rd.n, {0}, {0}};
        for (int i = 0; i < rd.n; i++) in.w[i] = rd.w[i], in.rows[i] = rd.rows[i];
        rc = qs_awq_search(s, alpha, NULL, &in, &cfg->w.spec, QS_AWQ_GRID);
    }
    free(mean);
    return rc ? qs_error_prefix(rc, "awq blk.%d.%s", layer, qs_site_name(site)) : QS_OK;
}

static int scale_model(qs_model *t, const qs_quant_config *cfg, const qs_windows *calib,
                       qs_remedy_report *rep) {
    const qs_remedy *r = &cfg->remedy;
    const qs_config *c = &t->cfg;
    if (!calib || calib->n < 1)
        return qs_error_set(QS_ERR_ARG, "'%s' needs calibration windows",
                            r->smooth ? "smooth" : "awq");
    if (r->smooth && r->smooth_alpha < 0)
        return qs_error_set(QS_ERR_ARG, "smooth: the exponent must be given here (the search "
                                        "runs in the evaluation)");
    calib_stats cs;
    int need_sample = r->awq && r->awq_alpha < 0;
    int rc = stats_init(&cs, c, need_sample);
    if (rc) return rc;
    qs_hook hook = {stats_hook, &cs, 0};
    for (int k = 0; k < 4; k++) hook.site_mask |= QS_SITE_BIT(linear_sites[k]);
    if ((rc = run_calib(t, calib, &hook))) {
        stats_free(&cs);
        return qs_error_prefix(rc, "calibration");
    }
    rep->calib_windows = calib->n;
    for (int i = 0; i < calib->n; i++) rep->calib_tokens += calib->w[i].n;
    int cmax = c->dim; /* the widest site */
    for (int k = 0; k < 4; k++)
        if (site_width(c, linear_sites[k]) > cmax) cmax = site_width(c, linear_sites[k]);
    float *s = malloc((size_t)cmax * sizeof *s); /* (C) */
    if (!s) {
        stats_free(&cs);
        return qs_error_set(QS_ERR_NOMEM, "remedy: out of memory");
    }
    double alpha_sum = 0;
    int n_alpha = 0;
    for (int l = 0; l < c->n_layers && rc == QS_OK; l++) {
        /* awq quantizes weights: only the layers whose weights are quantized */
        if (r->awq && !qs_quant_side_has_layer(&cfg->w, l)) continue;
        for (int k = 0; k < 4 && rc == QS_OK; k++) {
            int site = fold_order[k];
            /* a rotated ffn_down_in has no weight to carry the division (remedy.h) */
            if (site == QS_SITE_FFN_DOWN_IN && (t->online.site_mask & QS_SITE_BIT(site))) continue;
            double alpha = r->smooth_alpha;
            if (r->smooth)
                rc = smooth_scales(s, t, &cs, site, l, alpha);
            else
                rc = awq_scales(s, &alpha, t, &cs, site, l, cfg);
            if (rc) break;
            if ((rc = fold(t, site, l, s))) break;
            rep->n_scaled++;
            alpha_sum += alpha;
            n_alpha++;
        }
    }
    free(s);
    stats_free(&cs);
    if (rc == QS_OK && n_alpha) {
        rep->has_alpha = 1;
        rep->alpha = alpha_sum / n_alpha;
    }
    return rc;
}

int qs_remedy_transform(qs_model **out, const qs_model *m, const qs_quant_config *cfg,
                        const qs_windows *calib, qs_remedy_report *rep) {
    qs_remedy_report local;
    if (!rep) rep = &local;
    memset(rep, 0, sizeof *rep);
    *out = NULL;
    double t0 = qs_now();
    const qs_remedy *r = &cfg->remedy;
    qs_model *t;
    int rc = qs_model_twin(&t, m);
    if (rc) return rc;
    if (r->rotate) rc = qs_rotate_model(t, r->rotate, r->rotate_seed, &rep->rotate);
    if (rc == QS_OK && (r->smooth || r->awq)) rc = scale_model(t, cfg, calib, rep);
    if (rc) {
        qs_model_free(t);
        return rc;
    }
    rep->seconds = qs_now() - t0;
    *out = t;
    return QS_OK;
}

/* ---- GPTQ, layer by layer -------------------------------------------------------------------- */

typedef struct hess_capture {
    int layer;
    unsigned site_mask;
    qs_hessian h[QS_SITE_COUNT];
    int rc; /* first error of qs_hessian_add */
} hess_capture;

static int hess_hook(void *user, int site, int layer, float *x, int T, int C, int pos0) {
    (void)pos0;
    hess_capture *hc = user;
    if (layer < hc->layer) return QS_OK;
    if (layer > hc->layer) return STOP_FORWARD;
    if (hc->site_mask & QS_SITE_BIT(site)) {
        int rc = qs_hessian_add(&hc->h[site], x, T);
        if (rc) return qs_error_prefix(rc, "blk.%d.%s", layer, qs_site_name(site));
    }
    /* ffn_down_in is the last linear input of a layer: nothing later is needed */
    return site == QS_SITE_FFN_DOWN_IN ? STOP_FORWARD : QS_OK;
}

/* GPTQ on tensor t of m, stored as a packed tensor m owns in t's place: the codes, scales
 * and zero-points GPTQ chose, packed as they are. The packed tensor is expanded once and
 * must give GPTQ's values bit for bit (else QS_ERR_NUMERIC: a packing bug, never a result).
 * Memory: three f32 copies of t while it runs. */
static int gptq_tensor(qs_model *m, const qs_tensor *t, const qs_hessian *h,
                       const qs_quant_spec *sp, const qs_gptq_opts *o, qs_wquant_report *wrep,
                       qs_gptq_report *gr) {
    if (t->rows > INT32_MAX || t->cols > INT32_MAX || t->rows * t->cols > INT32_MAX)
        return qs_error_set(QS_ERR_ARG, "gptq: (%lld, %lld) is too large", (long long)t->rows,
                            (long long)t->cols);
    int R = (int)t->rows, C = (int)t->cols;
    size_t sz = (size_t)R * C;
    qs_packed_layout lay;
    int rc = qs_quant_packed_layout(&lay, sp, R, C);
    if (rc) return rc;
    long N = qs_quant_n_scales(sp, R, C);
    float *x = malloc(sz * sizeof *x), *w = malloc(sz * sizeof *w), *y = malloc(sz * sizeof *y);
    int16_t *codes = malloc(sz * sizeof *codes);
    float *scales = malloc((size_t)N * sizeof *scales);
    int32_t *zeros = malloc((size_t)N * sizeof *zeros);
    size_t bytes = qs_packed_bytes(&lay);
    uint8_t *data = qs__model_alloc(m, bytes); /* zeroed: packing ORs codes in */
    qs_tensor *q = qs__model_alloc(m, sizeof *q);
    qs_packed_layout *kept = qs__model_alloc(m, sizeof *kept); /* lives with the tensor */
    if (!x || !w || !y || !codes || !scales || !zeros || !data || !q || !kept) {
        rc = qs_error_set(QS_ERR_NOMEM, "gptq: out of memory for a (%d, %d) matrix", R, C);
        goto done;
    }
    qs_tensor_rows(x, t, 0, R); /* (R, C) the weights as f32, logical order */
    memcpy(w, x, sz * sizeof *w);
    qs_quant_io io = {.codes = codes, .scales = scales, .zeros = zeros};
    if ((rc = qs_gptq_quantize(w, R, C, h, sp, o, &io, gr))) goto done;
    if ((rc = qs_quant_pack_io(data, &lay, 0, R, &io, x, sp))) goto done;
    *kept = lay;
    if ((rc = qs_tensor_init(q, t->name, QS_DTYPE_PACKED, data, bytes, R, C, kept))) goto done;
    qs_tensor_rows(y, q, 0, R);
    if (memcmp(y, w, sz * sizeof *w) != 0) {
        rc = qs_error_set(QS_ERR_NUMERIC, "gptq: the packed tensor does not expand to GPTQ's "
                                          "values (a packing bug)");
        goto done;
    }
    for (size_t j = 0; j < sz; j++) {
        double e = (double)w[j] - x[j];
        wrep->sum_sq_err += e * e;
        wrep->sum_sq_ref += (double)x[j] * x[j];
    }
    if ((rc = qs_model_replace_tensor(m, t, q))) goto done;
    wrep->n_tensors++;
    wrep->n_values += (double)sz;
    wrep->bits += gr->bits_per_value * (double)sz;
    wrep->n_clipped += gr->n_clipped;
    wrep->packed_bytes += (double)bytes;
done:
    free(x), free(w), free(y), free(codes), free(scales), free(zeros);
    return rc;
}

int qs_remedy_gptq(qs_model *m, const qs_quant_side *side, unsigned site_mask, const qs_remedy *r,
                   const qs_windows *calib, qs_wquant_report *wrep, qs_remedy_report *rep) {
    memset(wrep, 0, sizeof *wrep);
    if (side->spec.bits == QS_QUANT_BITS_NONE) return QS_OK;
    if (!calib || calib->n < 1) return qs_error_set(QS_ERR_ARG, "gptq needs calibration windows");
    int rc = qs_quant_spec_validate(&side->spec);
    if (rc) return rc;
    const qs_config *c = &m->cfg;
    qs_gptq_opts o;
    qs_gptq_opts_default(&o);
    o.damp = r->gptq_damp;
    o.act_order = r->gptq_act_order;
    unsigned sites = 0;
    for (int k = 0; k < 4; k++)
        if (site_mask & QS_SITE_BIT(linear_sites[k])) sites |= QS_SITE_BIT(linear_sites[k]);
    qs_progress pr;
    qs_progress_start(&pr, "gptq", c->n_layers);
    for (int l = 0; l < c->n_layers && rc == QS_OK; l++) {
        qs_progress_add(&pr, 1);
        if (!qs_quant_side_has_layer(side, l)) continue;
        hess_capture hc;
        memset(&hc, 0, sizeof hc);
        hc.layer = l;
        hc.site_mask = sites;
        for (int k = 0; k < 4 && rc == QS_OK; k++)
            if (sites & QS_SITE_BIT(linear_sites[k]))
                rc = qs_hessian_init(&hc.h[linear_sites[k]], site_width(c, linear_sites[k]));
        qs_hook hook = {hess_hook, &hc, sites};
        if (rc == QS_OK) rc = run_calib(m, calib, &hook);
        for (int k = 0; k < 4 && rc == QS_OK; k++) {
            int site = linear_sites[k];
            if (!(sites & QS_SITE_BIT(site))) continue;
            const qs_tensor *w[3];
            const char *names[3];
            int n = qs_wquant_site_weights(m, site, l, w, names);
            for (int i = 0; i < n && rc == QS_OK; i++) {
                qs_gptq_report gr;
                rc = gptq_tensor(m, w[i], &hc.h[site], &side->spec, &o, wrep, &gr);
                if (rc) {
                    rc = qs_error_prefix(rc, "blk.%d.%s", l, names[i]);
                    break;
                }
                rep->gptq_err += gr.err;
                rep->gptq_energy += gr.ref_energy;
                rep->gptq_dead += gr.n_dead;
            }
        }
        for (int s = 0; s < QS_SITE_COUNT; s++) qs_hessian_free(&hc.h[s]);
    }
    qs_progress_end(&pr);
    wrep->bits_per_value = wrep->n_values > 0 ? wrep->bits / wrep->n_values : 16;
    return rc;
}
