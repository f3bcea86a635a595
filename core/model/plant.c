/* Planting: scale one input channel of a linear layer, unscale the weights that read it. */
#include "plant.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "sites.h"

int qs_plant_width(const qs_config *c, int site) {
    switch (site) {
    case QS_SITE_ATTN_IN:
    case QS_SITE_FFN_IN: return c->dim;
    case QS_SITE_FFN_DOWN_IN: return c->hidden_dim;
    case QS_SITE_ATTN_O_IN: return c->n_kv_heads * c->head_dim;
    default: return 0;
    }
}

static int parse_site(const char *name, int *site) {
    *site = qs_site_from_name(name);
    if (*site == QS_SITE_RESID)
        return qs_error_set(QS_ERR_ARG,
                            "cannot plant at resid: the next RMSNorm divides by the norm of the "
                            "whole residual stream, so scaling one channel changes all the others "
                            "(not function-preserving); plant at attn_in or ffn_in instead");
    if (*site < 0)
        return qs_error_set(QS_ERR_ARG,
                            "unknown site '%s' (plantable sites: attn_in, attn_o_in, "
                            "ffn_in, ffn_down_in)",
                            name);
    return QS_OK;
}

static int parse_int(const char *s, const char *what, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > 1 << 30)
        return qs_error_set(QS_ERR_ARG, "%s '%s' must be a non-negative integer", what, s);
    *out = (int)v;
    return QS_OK;
}

int qs_plant_parse_parts(qs_plant_spec *out, const char *site, const char *layer,
                         const char *channel, const char *scale) {
    qs_plant_spec p;
    int rc = parse_site(site, &p.site);
    if (rc) return rc;
    if (strcmp(layer, "all") == 0)
        p.layer = QS_PLANT_ALL_LAYERS;
    else if ((rc = parse_int(layer, "layer", &p.layer)))
        return qs_error_prefix(rc, "plant");
    if ((rc = parse_int(channel, "channel", &p.channel))) return qs_error_prefix(rc, "plant");
    char *end;
    errno = 0;
    p.scale = strtod(scale, &end);
    if (errno || end == scale || *end || !isfinite(p.scale) || !(p.scale > 0))
        return qs_error_set(QS_ERR_ARG, "plant: scale '%s' must be a finite number > 0", scale);
    *out = p;
    return QS_OK;
}

int qs_plant_parse(qs_plant_spec *out, const char *text) {
    char buf[256], *part[4];
    int colons = 0;
    for (const char *q = text; *q; q++) colons += *q == ':';
    if (colons != 3 || strlen(text) >= sizeof buf)
        return qs_error_set(QS_ERR_ARG,
                            "plant: '%s' is not site:layer:channel:scale "
                            "(e.g. ffn_down_in:2:100:100)",
                            text);
    strcpy(buf, text);
    char *p = buf;
    for (int i = 0; i < 4; i++) {
        part[i] = p;
        p = strchr(p, ':');
        if (p) *p++ = '\0';
    }
    return qs_plant_parse_parts(out, part[0], part[1], part[2], part[3]);
}

int qs_plant_check(const qs_config *c, const qs_plant_spec *p) {
    if (p->site == QS_SITE_RESID) return parse_site("resid", &(int){0});
    int width = qs_plant_width(c, p->site);
    if (width == 0) return qs_error_set(QS_ERR_ARG, "plant: unknown site %d", p->site);
    if (p->layer != QS_PLANT_ALL_LAYERS && (p->layer < 0 || p->layer >= c->n_layers))
        return qs_error_set(QS_ERR_ARG,
                            "plant: layer %d out of range: the model has %d layers "
                            "(0..%d, or all)",
                            p->layer, c->n_layers, c->n_layers - 1);
    if (p->channel < 0 || p->channel >= width)
        return qs_error_set(QS_ERR_ARG,
                            "plant: channel %d out of range for %s, whose width is %d "
                            "(0..%d)%s",
                            p->channel, qs_site_name(p->site), width, width - 1,
                            p->site == QS_SITE_ATTN_O_IN ? "; attn_o_in channels index the kv "
                                                           "width n_kv_heads*head_dim"
                                                         : "");
    if (!isfinite(p->scale) || !(p->scale > 0))
        return qs_error_set(QS_ERR_ARG, "plant: scale %g must be a finite number > 0", p->scale);
    /* the weights are float: K and 1/K must both be floats (1e39 became inf, and the planted
     * model NaN) */
    if (!isfinite((float)p->scale) || !isfinite((float)(1.0 / p->scale)))
        return qs_error_set(QS_ERR_ARG,
                            "plant: scale %g is outside float's range (%g .. %g): K and 1/K "
                            "multiply float weights",
                            p->scale, 1.0 / FLT_MAX, (double)FLT_MAX);
    return QS_OK;
}

/* The first product that left float's range, for the message. */
typedef struct overflow {
    const char *tensor; /* NULL: none yet */
    long index;
    float before;
} overflow;

static void scaled(overflow *o, const char *tensor, float *x, long index, float f) {
    float before = *x;
    *x *= f;
    if (!isfinite(*x) && !o->tensor) *o = (overflow){tensor, index, before};
}

/* w (rows, cols): column c ·= f */
static void scale_col(overflow *o, const char *name, float *w, int rows, int cols, int c, float f) {
    for (int r = 0; r < rows; r++) scaled(o, name, &w[(size_t)r * cols + c], (long)r * cols + c, f);
}

/* w (rows, cols): row r ·= f */
static void scale_row(overflow *o, const char *name, float *w, int cols, int r, float f) {
    for (int j = 0; j < cols; j++) scaled(o, name, &w[(size_t)r * cols + j], (long)r * cols + j, f);
}

/* A writable f32 copy of a tensor m uses (tensor-level copy on write: model.h). */
#define OWN(var, t)                               \
    float *var = qs_model_tensor_f32_own(m, (t)); \
    if (!var) return qs_error_prefix(QS_ERR_NOMEM, "plant");

static int plant_layer(overflow *o, qs_model *m, int l, int site, int c, double k) {
    const qs_config *cf = &m->cfg;
    const qs_layer_weights *w = &m->w.layers[l];
    int D = cf->dim, H = cf->hidden_dim, hd = cf->head_dim;
    int Q = cf->n_heads * hd, K = cf->n_kv_heads * hd;
    float up = (float)k, down = (float)(1.0 / k);
    switch (site) {
    case QS_SITE_ATTN_IN: {
        OWN(norm, w->attn_norm);
        OWN(wq, w->wq);
        OWN(wk, w->wk);
        OWN(wv, w->wv);
        scaled(o, "attn_norm", &norm[c], c, up);
        scale_col(o, "attn_q", wq, Q, D, c, down);
        scale_col(o, "attn_k", wk, K, D, c, down);
        scale_col(o, "attn_v", wv, K, D, c, down);
        break;
    }
    case QS_SITE_FFN_IN: {
        OWN(norm, w->ffn_norm);
        OWN(gate, w->w_gate);
        OWN(wup, w->w_up);
        scaled(o, "ffn_norm", &norm[c], c, up);
        scale_col(o, "ffn_gate", gate, H, D, c, down);
        scale_col(o, "ffn_up", wup, H, D, c, down);
        break;
    }
    case QS_SITE_FFN_DOWN_IN: {
        OWN(wup, w->w_up);
        OWN(wdown, w->w_down);
        scale_row(o, "ffn_up", wup, D, c, up);
        scale_col(o, "ffn_down", wdown, D, H, c, down);
        break;
    }
    case QS_SITE_ATTN_O_IN: {
        OWN(wv, w->wv);
        OWN(wo, w->wo);
        scale_row(o, "attn_v", wv, D, c, up);
        if (w->bv) {
            OWN(bv, w->bv);
            scaled(o, "attn_v.bias", &bv[c], c, up);
        }
        int group = cf->n_heads / cf->n_kv_heads, kvh = c / hd;
        for (int h = kvh * group; h < (kvh + 1) * group; h++)
            scale_col(o, "attn_output", wo, D, Q, h * hd + c % hd, down);
        break;
    }
    }
    return QS_OK;
}

int qs_plant_apply(qs_model *m, const qs_plant_spec *specs, int n) {
    for (int i = 0; i < n; i++) {
        int rc = qs_plant_check(&m->cfg, &specs[i]);
        if (rc) return rc;
    }
    for (int i = 0; i < n; i++) {
        const qs_plant_spec *p = &specs[i];
        int l0 = p->layer == QS_PLANT_ALL_LAYERS ? 0 : p->layer;
        int l1 = p->layer == QS_PLANT_ALL_LAYERS ? m->cfg.n_layers : p->layer + 1;
        for (int l = l0; l < l1; l++) {
            overflow o = {0};
            int rc = plant_layer(&o, m, l, p->site, p->channel, p->scale);
            if (rc) return rc;
            if (o.tensor)
                return qs_error_set(QS_ERR_NUMERIC,
                                    "plant: scale %g overflows float: blk.%d.%s element %ld "
                                    "(%g) leaves float's range; the model is left partly planted",
                                    p->scale, l, o.tensor, o.index, (double)o.before);
        }
    }
    return QS_OK;
}

void qs_plant_format(const qs_plant_spec *p, char *buf, int n) {
    char layer[16];
    if (p->layer == QS_PLANT_ALL_LAYERS)
        snprintf(layer, sizeof layer, "all");
    else
        snprintf(layer, sizeof layer, "%d", p->layer);
    snprintf(buf, (size_t)n, "%s:%s:%d:%g", qs_site_name(p->site), layer, p->channel, p->scale);
}
