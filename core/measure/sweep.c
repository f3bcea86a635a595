#include "sweep.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "forward.h"
#include "weight_quant.h"

#define DEFAULT_SITES                                                                              \
    (QS_SITE_BIT(QS_SITE_ATTN_IN) | QS_SITE_BIT(QS_SITE_ATTN_O_IN) | QS_SITE_BIT(QS_SITE_FFN_IN) | \
     QS_SITE_BIT(QS_SITE_FFN_DOWN_IN))

static const char *const gran_names[] = {"tensor", "channel", "token", "group"};

const char *qs_sweep_gran_name(int g) {
    return g >= 0 && g <= QS_SWEEP_GROUP ? gran_names[g] : "?";
}

void qs_sweep_opts_default(qs_sweep_opts *o) {
    memset(o, 0, sizeof *o);
    qs_sweep_parse_bits(o, "8,6,4,3");
    qs_sweep_parse_schemes(o, "symmetric");
    qs_sweep_parse_grans(o, "tensor,channel,group:32,group:128");
    qs_sweep_parse_clips(o, "absmax,mse,percentile:99.9");
    o->site_mask = DEFAULT_SITES;
    o->weights = o->activations = 1;
    o->tokens = 1024;
}

/* ---- list parsing -------------------------------------------------------------------- */

/* Splits list on commas into words (each < 64 bytes) and calls one(word) for each. */
typedef int (*word_fn)(qs_sweep_opts *o, int i, const char *opt, const char *w);

static int parse_list(qs_sweep_opts *o, const char *opt, const char *list, int *count,
                      word_fn one) {
    if (!list || !*list) return qs_error_set(QS_ERR_ARG, "--%s: empty list", opt);
    int n = 0;
    const char *p = list;
    while (1) {
        size_t len = strcspn(p, ",");
        char w[64];
        if (len == 0) return qs_error_set(QS_ERR_ARG, "--%s: empty word in '%s'", opt, list);
        if (len >= sizeof w)
            return qs_error_set(QS_ERR_ARG, "--%s: word too long in '%s'", opt, list);
        if (n == QS_SWEEP_MAX_LIST)
            return qs_error_set(QS_ERR_ARG, "--%s: more than %d values", opt, QS_SWEEP_MAX_LIST);
        memcpy(w, p, len);
        w[len] = '\0';
        int rc = one(o, n, opt, w);
        if (rc) return rc;
        n++;
        p += len;
        if (!*p) break;
        p++;
    }
    *count = n;
    return QS_OK;
}

static int parse_int(const char *s, long lo, long hi, long *out) {
    if (!isdigit((unsigned char)*s)) return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

static int one_bits(qs_sweep_opts *o, int i, const char *opt, const char *w) {
    long b;
    if (!parse_int(w, QS_QUANT_BITS_MIN, QS_QUANT_BITS_MAX, &b))
        return qs_error_set(QS_ERR_ARG, "--%s: '%s' is not a bit width in %d..%d", opt, w,
                            QS_QUANT_BITS_MIN, QS_QUANT_BITS_MAX);
    o->bits[i] = (int)b;
    return QS_OK;
}

static int one_scheme(qs_sweep_opts *o, int i, const char *opt, const char *w) {
    int s = qs_quant_scheme_from_name(w);
    if (s >= 0) {
        o->schemes[i] = s;
        return QS_OK;
    }
    return qs_error_set(QS_ERR_ARG,
                        "--%s: unknown scheme '%s' (symmetric, affine, fp8_e4m3, fp8_e5m2, mxfp8, "
                        "mxfp8_e5m2, mxfp6_e3m2, mxfp6_e2m3, mxfp4, nvfp4)",
                        opt, w);
}

static int one_gran(qs_sweep_opts *o, int i, const char *opt, const char *w) {
    o->groups[i] = 0;
    for (int g = 0; g < QS_SWEEP_GROUP; g++)
        if (strcmp(w, gran_names[g]) == 0) {
            o->grans[i] = g;
            return QS_OK;
        }
    if (strncmp(w, "group:", 6) == 0) {
        long g;
        if (!parse_int(w + 6, 1, 1L << 24, &g))
            return qs_error_set(QS_ERR_ARG, "--%s: '%s': group size must be an integer >= 1", opt,
                                w);
        o->grans[i] = QS_SWEEP_GROUP;
        o->groups[i] = (int)g;
        return QS_OK;
    }
    return qs_error_set(QS_ERR_ARG,
                        "--%s: unknown granularity '%s' (tensor, channel, token, group:G)", opt, w);
}

static int one_clip(qs_sweep_opts *o, int i, const char *opt, const char *w) {
    o->percentiles[i] = 0;
    if (strcmp(w, "absmax") == 0)
        o->clips[i] = QS_QUANT_ABSMAX;
    else if (strcmp(w, "mse") == 0)
        o->clips[i] = QS_QUANT_MSE;
    else if (strncmp(w, "percentile:", 11) == 0) {
        char *end;
        double p = strtod(w + 11, &end);
        if (!w[11] || *end) return qs_error_set(QS_ERR_ARG, "--%s: bad percentile '%s'", opt, w);
        if (!(p > 0.0 && p <= 100.0))
            return qs_error_set(QS_ERR_ARG, "--%s: percentile '%s' outside (0, 100]", opt, w);
        o->clips[i] = QS_QUANT_PERCENTILE;
        o->percentiles[i] = p;
    } else
        return qs_error_set(QS_ERR_ARG, "--%s: unknown clip '%s' (absmax, mse, percentile:P)", opt,
                            w);
    return QS_OK;
}

/* Parse into a copy so a bad list leaves o as it was. */
#define PARSE(field_count, opt, fn)                    \
    do {                                               \
        qs_sweep_opts t = *o;                          \
        int n, rc = parse_list(&t, opt, list, &n, fn); \
        if (rc) return rc;                             \
        t.field_count = n;                             \
        *o = t;                                        \
        return QS_OK;                                  \
    } while (0)

int qs_sweep_parse_bits(qs_sweep_opts *o, const char *list) { PARSE(n_bits, "bits", one_bits); }
int qs_sweep_parse_schemes(qs_sweep_opts *o, const char *list) {
    PARSE(n_schemes, "scheme", one_scheme);
}
int qs_sweep_parse_grans(qs_sweep_opts *o, const char *list) { PARSE(n_grans, "gran", one_gran); }
int qs_sweep_parse_clips(qs_sweep_opts *o, const char *list) { PARSE(n_clips, "clip", one_clip); }

/* ---- one matrix ---------------------------------------------------------------------- */

/* The quantizer granularity of a sweep word on a target; -1 (message set) if none. */
static int spec_gran(int gran, int is_weight) {
    switch (gran) {
    case QS_SWEEP_TENSOR: return QS_QUANT_TENSOR;
    case QS_SWEEP_CHANNEL: return is_weight ? QS_QUANT_ROW : QS_QUANT_COL;
    case QS_SWEEP_TOKEN:
        if (is_weight) {
            qs_error_set(QS_ERR_ARG, "granularity token applies to activations only");
            return -1;
        }
        return QS_QUANT_ROW;
    case QS_SWEEP_GROUP: return QS_QUANT_GROUP;
    default: qs_error_set(QS_ERR_ARG, "granularity %d out of range", gran); return -1;
    }
}

/* xz, wide, n_wide: decomposition (NULL, NULL, 0 without): xz is quantized, the wide
 * columns of x put back, and they cost 16 bits a value */
static int run_one(qs_sweep_row *row, float *y, const float *x, const float *xz, const char *wide,
                   int n_wide, int R, int C, int is_weight, const qs_sweep_opts *o) {
    int g = spec_gran(row->gran, is_weight);
    if (g < 0) return QS_ERR_ARG;
    qs_quant_spec sp = {0};
    sp.bits = row->bits;
    sp.scheme = (enum qs_quant_scheme)row->scheme;
    sp.gran = (enum qs_quant_gran)g;
    sp.group = row->group;
    sp.clip = (enum qs_quant_clip)row->clip;
    sp.percentile = row->clip_value;
    sp.fp32_scales = o->fp32_scales;
    qs_quant_io io = {0};
    io.count_levels = 1;
    qs_quant_report rep;
    int rc = qs_quant_fake(y, xz ? xz : x, R, C, &sp, &io, &rep);
    if (rc) return rc;
    if (n_wide)
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++)
                if (wide[c]) y[(long)r * C + c] = x[(long)r * C + c];
    if ((rc = qs_metrics_compute(&row->err, x, y, (int64_t)R * C))) return rc;
    double f = (double)n_wide / C;
    row->bits_per_value = (1.0 - f) * rep.bits_per_value + f * 16.0;
    row->n_clipped = rep.n_clipped;
    row->levels_mean = rep.levels_mean;
    row->levels_min = rep.levels_min;
    row->levels_max = rep.levels_max;
    return QS_OK;
}

/* Decomposition of an activation matrix x (R, C): the columns holding any |x| >= t. Fills
 * xz (R, C) with x, those columns zeroed, and wide (C) with 1 for them; returns how many. */
static int wide_columns(float *xz, char *wide, const float *x, int R, int C, double t) {
    int n = 0;
    memcpy(xz, x, (size_t)R * C * sizeof *xz);
    for (int c = 0; c < C; c++) {
        wide[c] = 0;
        for (int r = 0; r < R && !wide[c]; r++) wide[c] = fabsf(x[(long)r * C + c]) >= (float)t;
        if (!wide[c]) continue;
        n++;
        for (int r = 0; r < R; r++) xz[(long)r * C + c] = 0.0f;
    }
    return n;
}

int qs_sweep_matrix(const float *x, int rows, int cols, const char *target, const char *tensor,
                    int layer, const qs_sweep_opts *o, qs_sweep_row_fn fn, void *user) {
    int is_weight = strcmp(target, "weight") == 0;
    size_t n = (size_t)rows * cols;
    float *y = malloc((n ? n : 1) * sizeof *y); /* (R, C) reconstruction */
    if (!y)
        return qs_error_set(QS_ERR_NOMEM, "sweep: out of memory for a (%d, %d) matrix", rows, cols);
    int rc = QS_OK;
    /* decomposition: the narrow columns are quantized, the wide ones come back exactly */
    float *xz = NULL; /* (R, C) */
    char *wide = NULL;
    int n_wide = 0;
    if (!is_weight && o->decompose > 0 && n > 0) {
        xz = malloc(n * sizeof *xz);
        wide = malloc((size_t)cols);
        if (!xz || !wide) {
            free(y), free(xz), free(wide);
            return qs_error_set(QS_ERR_NOMEM, "sweep: out of memory for decomposition");
        }
        n_wide = wide_columns(xz, wide, x, rows, cols, o->decompose);
    }
    for (int ib = 0; ib < o->n_bits && rc == QS_OK; ib++)
        for (int is = 0; is < o->n_schemes && rc == QS_OK; is++)
            for (int ig = 0; ig < o->n_grans && rc == QS_OK; ig++)
                for (int ic = 0; ic < o->n_clips && rc == QS_OK; ic++) {
                    /* a format fixes its bits: one row per format, at the first bit width */
                    int fixed = qs_quant_traits_of(o->schemes[is])->fixed_bits;
                    if (fixed && ib > 0) continue;
                    qs_sweep_row row;
                    memset(&row, 0, sizeof row);
                    row.target = is_weight ? "weight" : "activation";
                    snprintf(row.tensor, sizeof row.tensor, "%s", tensor);
                    row.layer = layer;
                    row.rows = rows;
                    row.cols = cols;
                    row.bits = fixed ? fixed : o->bits[ib];
                    row.scheme = o->schemes[is];
                    row.gran = o->grans[ig];
                    row.group = o->grans[ig] == QS_SWEEP_GROUP ? o->groups[ig] : 0;
                    row.clip = o->clips[ic];
                    row.clip_value = o->clips[ic] == QS_QUANT_PERCENTILE ? o->percentiles[ic] : 0;
                    int e = run_one(&row, y, x, xz, wide, n_wide, rows, cols, is_weight, o);
                    if (e == QS_ERR_NOMEM)
                        rc = e;
                    else if (e) {
                        /* this configuration fails; the row says why and the sweep goes on */
                        snprintf(row.error, sizeof row.error, "%s", qs_error_message());
                        memset(&row.err, 0, sizeof row.err);
                        row.bits_per_value = row.levels_mean = 0;
                        row.n_clipped = row.levels_min = row.levels_max = 0;
                    }
                    if (rc == QS_OK) rc = fn(user, &row);
                }
    free(y);
    free(xz);
    free(wide);
    return rc;
}

/* ---- weights ------------------------------------------------------------------------- */

int qs_sweep_weight_names(const qs_model *m, int site, int layer, const char *names[3]) {
    const qs_tensor *w[3];
    return qs_wquant_site_weights(m, site, layer, w, names);
}

int qs_sweep_weight(const qs_model *m, int site, int layer, int index, const qs_sweep_opts *o,
                    qs_sweep_row_fn fn, void *user) {
    const qs_tensor *w[3];
    const char *nm[3];
    int n = qs_wquant_site_weights(m, site, layer, w, nm);
    if (index < 0 || index >= n)
        return qs_error_set(QS_ERR_ARG, "sweep: %s layer %d reads %d weights, not %d",
                            qs_site_name(site), layer, n, index + 1);
    const float *x; /* the matrix as f32: in place, or expanded for this call */
    float *owned;
    int rc = qs_tensor_f32(w[index], &x, &owned);
    if (rc) return rc;
    rc = qs_sweep_matrix(x, (int)w[index]->rows, (int)w[index]->cols, "weight", nm[index], layer,
                         o, fn, user);
    free(owned);
    return rc;
}

int qs_sweep_weights(const qs_model *m, const qs_sweep_opts *o, qs_sweep_row_fn fn, void *user) {
    int rc = QS_OK;
    for (int l = 0; l < m->cfg.n_layers && rc == QS_OK; l++)
        for (int s = 0; s < QS_SITE_COUNT && rc == QS_OK; s++) {
            if (!(o->site_mask & QS_SITE_BIT(s))) continue;
            const char *nm[3];
            int n = qs_sweep_weight_names(m, s, l, nm);
            for (int i = 0; i < n && rc == QS_OK; i++) rc = qs_sweep_weight(m, s, l, i, o, fn, user);
        }
    return rc;
}

/* ---- activations --------------------------------------------------------------------- */

/* Hook: copies the window's first rows into the (site, layer) buffer until it is full. */
static int capture_fn(void *user, int site, int layer, float *x, int T, int C, int pos0) {
    (void)pos0;
    qs_sweep_capture *cap = user;
    long have = cap->rows[site];
    int take = qs_site_rows_take(cap->tokens, have, T);
    if (take == 0) return QS_OK;
    float *dst = cap->x[site] + ((size_t)layer * cap->tokens + (size_t)have) * C;
    memcpy(dst, x, (size_t)take * C * sizeof(float));
    return QS_OK;
}

void qs_sweep_capture_free(qs_sweep_capture *cap) {
    for (int s = 0; s < QS_SITE_COUNT; s++) free(cap->x[s]);
    memset(cap, 0, sizeof *cap);
}

int qs_sweep_capture_run(qs_sweep_capture *cap, const qs_model *m, const qs_windows *ws,
                         unsigned site_mask, long tokens) {
    memset(cap, 0, sizeof *cap);
    const qs_config *c = &m->cfg;
    if (tokens < 1) return qs_error_set(QS_ERR_ARG, "sweep: --tokens must be >= 1");
    site_mask &= QS_SITE_ALL;
    if (!site_mask) return qs_error_set(QS_ERR_ARG, "sweep: no activation site to capture");
    cap->n_layers = c->n_layers;
    cap->tokens = tokens;
    cap->site_mask = site_mask;
    for (int s = 0; s < QS_SITE_COUNT; s++) {
        if (!(site_mask & QS_SITE_BIT(s))) continue;
        cap->cols[s] = qs_site_width(c, s);
        size_t n = ((size_t)c->n_layers + 1) * (size_t)tokens * (size_t)cap->cols[s];
        if (n / (size_t)tokens / ((size_t)c->n_layers + 1) != (size_t)cap->cols[s] ||
            !(cap->x[s] = malloc(n * sizeof(float))))
            return qs_error_set(QS_ERR_NOMEM,
                                "sweep: out of memory capturing %ld tokens of %s (%d channels, "
                                "%d layers)",
                                tokens, qs_site_name(s), cap->cols[s], c->n_layers);
    }
    int max_n = 0;
    for (int i = 0; i < ws->n; i++) max_n = ws->w[i].n > max_n ? ws->w[i].n : max_n;
    if (max_n == 0) return qs_error_set(QS_ERR_ARG, "sweep: the text gave no windows");
    qs_forward_state fs;
    int rc = qs_forward_init(&fs, m, max_n, max_n);
    if (rc) return rc;
    qs_hook hook = {capture_fn, cap, site_mask};
    for (int i = 0; i < ws->n && rc == QS_OK; i++) {
        int full = 1;
        for (int s = 0; s < QS_SITE_COUNT; s++)
            if ((site_mask & QS_SITE_BIT(s)) && cap->rows[s] < tokens) full = 0;
        if (full) break;
        rc = qs_forward(&fs, ws->w[i].tokens, ws->w[i].n, 0, NULL, 0, &hook);
        if (rc) break;
        /* every layer of a site saw the same rows of this window */
        for (int s = 0; s < QS_SITE_COUNT; s++)
            if (site_mask & QS_SITE_BIT(s))
                cap->rows[s] += qs_site_rows_take(tokens, cap->rows[s], ws->w[i].n);
        cap->n_windows++;
    }
    qs_forward_free(&fs);
    return rc;
}

int qs_sweep_remedy_parse(qs_sweep_opts *o, qs_remedy *r, const char *words) {
    qs_remedy_default(r);
    if (!words || !*words) return QS_OK;
    char name[512];
    if ((size_t)snprintf(name, sizeof name, "W8A8 %s", words) >= sizeof name)
        return qs_error_set(QS_ERR_ARG, "remedy '%s' is too long", words);
    qs_quant_config c;
    if (qs_quant_config_parse(&c, name)) return qs_error_prefix(QS_ERR_ARG, "remedy");
    if (c.w.spec.gran != QS_QUANT_ROW || c.a.spec.gran != QS_QUANT_ROW ||
        c.a.spec.clip != QS_QUANT_ABSMAX || c.w.spec.scheme != QS_QUANT_SYMMETRIC)
        return qs_error_set(QS_ERR_ARG,
                            "remedy '%s': only remedy words (rotate, smooth:A, "
                            "awq:A, decompose) go here",
                            words);
    if (c.remedy.gptq)
        return qs_error_set(QS_ERR_ARG,
                            "remedy 'gptq' in a sweep: GPTQ minimises the layer-output error, not "
                            "the weight reconstruction error a sweep records (use qscope eval)");
    if ((c.remedy.smooth && c.remedy.smooth_alpha < 0) || (c.remedy.awq && c.remedy.awq_alpha < 0))
        return qs_error_set(
            QS_ERR_ARG,
            "remedy '%s' in a sweep: give the exponent (smooth:A, awq:A); the search "
            "needs a quantized evaluation",
            words);
    *r = c.remedy;
    o->decompose = r->decompose;
    return QS_OK;
}

int qs_sweep_activations(const qs_sweep_capture *cap, const qs_sweep_opts *o, qs_sweep_row_fn fn,
                         void *user) {
    int rc = QS_OK;
    for (int s = 0; s < QS_SITE_COUNT && rc == QS_OK; s++) {
        if (!cap->x[s] || !(o->site_mask & QS_SITE_BIT(s)) || cap->rows[s] < 1) continue;
        int nl = s == QS_SITE_RESID ? cap->n_layers + 1 : cap->n_layers;
        for (int l = 0; l < nl && rc == QS_OK; l++) {
            const float *x = cap->x[s] + (size_t)l * cap->tokens * cap->cols[s];
            rc = qs_sweep_matrix(x, (int)cap->rows[s], cap->cols[s], "activation", qs_site_name(s),
                                 l, o, fn, user);
        }
    }
    return rc;
}

void qs_sweep_row_fields(const qs_sweep_row *r, qs_field f[QS_SWEEP_NFIELDS]) {
    static const qs_sweep_row none; /* enum values 0: valid names, only the kinds matter */
    if (!r) r = &none;
    size_t n = 0;
    f[n++] = QS_FSTR("target", r->target, 16);
    f[n++] = QS_FSTR("tensor", r->tensor, 32);
    f[n++] = QS_FINT("layer", r->layer);
    f[n++] = QS_FINT("rows", r->rows);
    f[n++] = QS_FINT("cols", r->cols);
    f[n++] = QS_FINT("bits", r->bits);
    f[n++] = QS_FSTR("scheme", qs_quant_scheme_name(r->scheme), 16);
    f[n++] = QS_FSTR("granularity", qs_sweep_gran_name(r->gran), 16);
    f[n++] = QS_FINT("group", r->group);
    f[n++] = QS_FSTR("clip", qs_quant_clip_name(r->clip), 16);
    f[n++] = QS_FNUM("clip_value", r->clip_value);
    f[n++] = QS_FNUM("mse", r->err.mse);
    f[n++] = QS_FNUM("sqnr_db", r->err.sqnr_db);
    f[n++] = QS_FNUM("max_err", r->err.max_abs_err);
    f[n++] = QS_FNUM("bits_per_value", r->bits_per_value);
    f[n++] = QS_FINT("n_clipped", r->n_clipped);
    f[n++] = QS_FNUM("levels_mean", r->levels_mean);
    f[n++] = QS_FINT("levels_min", r->levels_min);
    f[n++] = QS_FINT("levels_max", r->levels_max);
    f[n++] = QS_FSTR("error", r->error, 256);
}
