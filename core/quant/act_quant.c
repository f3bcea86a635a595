#include "act_quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

/* Calibrated ranges per (site, layer): one per column for col granularity, else one. */
static int static_groups(const qs_quant_spec *sp, int C) {
    return sp->gran == QS_QUANT_COL ? C : 1;
}

static int active(const qs_actq *a) { return a->side->spec.bits != QS_QUANT_BITS_NONE; }

static int grow(float **buf, size_t *cap, size_t n, const char *what) {
    if (n <= *cap) return QS_OK;
    float *g = realloc(*buf, n * sizeof(float));
    if (!g) return qs_error_set(QS_ERR_NOMEM, "out of memory for %s", what);
    *buf = g;
    *cap = n;
    return QS_OK;
}

int qs_actq_init(qs_actq *st, const qs_config *c, const qs_quant_side *a, unsigned site_mask) {
    memset(st, 0, sizeof *st);
    st->side = a;
    st->site_mask = site_mask;
    st->n_layers = c->n_layers;
    int rc = qs_quant_spec_validate(&a->spec);
    if (rc) return qs_error_prefix(rc, "activation config");
    for (int i = 0; i < a->n_layers; i++)
        if (a->layers[i] >= c->n_layers)
            return qs_error_set(QS_ERR_ARG,
                                "config layers: layer %d does not exist (the model has %d: 0..%d)",
                                a->layers[i], c->n_layers, c->n_layers - 1);
    return QS_OK;
}

/* Folds one calibration call's per-group ranges into the (site, layer) ranges. */
static void fold_ranges(qs_actq *a, int site, int layer, long n_scales, int C) {
    const qs_quant_spec *sp = &a->side->spec;
    int ng = static_groups(sp, C);
    float *r = a->ranges[site] + (size_t)layer * ng * 2;
    for (long g = 0; g < n_scales; g++) {
        int k = ng == 1 ? 0 : (int)g;
        float lo = a->scratch[2 * g], hi = a->scratch[2 * g + 1];
        if (sp->clip == QS_QUANT_ABSMAX) {
            if (lo < r[2 * k]) r[2 * k] = lo;
            if (hi > r[2 * k + 1]) r[2 * k + 1] = hi;
        } else { /* running sums of per-window means, divided by the window count later */
            float div = ng == 1 ? (float)n_scales : 1.0f;
            r[2 * k] += lo / div;
            r[2 * k + 1] += hi / div;
        }
    }
}

/* Decomposition: moves the columns of x (T, C) holding any |x| >= the threshold into
 * a->wide (T, n) and zeroes them in x; returns n (or -1 out of memory, message set). */
static int wide_take(qs_actq *a, float *x, int T, int C) {
    if (a->wide_idx_n < (size_t)C) {
        int *g = realloc(a->wide_idx, (size_t)C * sizeof *g);
        if (!g) return qs_error_set(QS_ERR_NOMEM, "out of memory for decomposition"), -1;
        a->wide_idx = g;
        a->wide_idx_n = (size_t)C;
    }
    float t = (float)a->decompose;
    int n = 0;
    for (int c = 0; c < C; c++)
        for (int r = 0; r < T; r++)
            if (fabsf(x[(long)r * C + c]) >= t) {
                a->wide_idx[n++] = c;
                break;
            }
    if (n == 0) return 0;
    if (grow(&a->wide, &a->wide_n, (size_t)T * n, "decomposition")) return -1;
    for (int r = 0; r < T; r++)
        for (int k = 0; k < n; k++) {
            float *v = &x[(long)r * C + a->wide_idx[k]];
            a->wide[(long)r * n + k] = *v;
            *v = 0.0f;
        }
    return n;
}

static void wide_put(const qs_actq *a, float *x, int T, int C, int n) {
    for (int r = 0; r < T; r++)
        for (int k = 0; k < n; k++) x[(long)r * C + a->wide_idx[k]] = a->wide[(long)r * n + k];
}

static int actq_fn(void *user, int site, int layer, float *x, int T, int C, int pos0) {
    (void)pos0;
    qs_actq *a = user;
    /* layer L is the resid stream after the last block: quantized unless layers: limits */
    int has =
        layer < a->n_layers ? qs_quant_side_has_layer(a->side, layer) : a->side->n_layers == 0;
    if (!has) return QS_OK;
    const qs_quant_spec *sp = &a->side->spec;
    long n_scales = qs_quant_n_scales(sp, T, C);
    int rc = grow(&a->scratch, &a->scratch_n, (size_t)n_scales * 2, "activation ranges");
    if (rc) return rc;
    qs_quant_io io = {0};
    qs_quant_report rep;
    int n_wide = a->decompose > 0 ? wide_take(a, x, T, C) : 0;
    if (n_wide < 0) return QS_ERR_NOMEM;
    if (a->calibrating) {
        /* this window's ranges by the spec's clipping; the output is thrown away */
        if ((rc = grow(&a->tmp, &a->tmp_n, (size_t)T * C, "calibration"))) return rc;
        io.ranges = a->scratch;
        rc = qs_quant_fake(a->tmp, x, T, C, sp, &io, &rep);
        if (n_wide) wide_put(a, x, T, C, n_wide);
        if (rc) return qs_error_prefix(rc, "calibrating blk.%d.%s", layer, qs_site_name(site));
        fold_ranges(a, site, layer, n_scales, C);
        return QS_OK;
    }
    if (a->side->is_static) {
        if (!a->calibrated)
            return qs_error_set(QS_ERR_ARG, "static activation ranges used before calibration");
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
    if (n_wide) wide_put(a, x, T, C, n_wide);
    if (rc) return qs_error_prefix(rc, "blk.%d.%s", layer, qs_site_name(site));
    double f = (double)n_wide / C; /* the share of this call's values on the wide path */
    a->calls++;
    a->clipped += rep.n_clipped;
    a->bits_sum += (1.0 - f) * rep.bits_per_value + f * 16.0;
    a->wide_cols += n_wide;
    a->cols += C;
    a->wide_values += (double)n_wide * T;
    a->values += (double)C * T;
    return QS_OK;
}

qs_hook qs_actq_hook(qs_actq *st) {
    unsigned mask = active(st) ? st->site_mask & st->side->site_mask : 0;
    return (qs_hook){actq_fn, st, mask};
}

int qs_actq_calibrate(qs_actq *a, const qs_model *m, const qs_windows *calib) {
    if (!active(a) || !a->side->is_static) return QS_OK;
    if (!calib || calib->n < 1)
        return qs_error_set(QS_ERR_ARG, "static activation scales need calibration windows");
    const qs_config *c = &m->cfg;
    const qs_quant_spec *sp = &a->side->spec;
    int absmax = sp->clip == QS_QUANT_ABSMAX;
    /* L + 1 layers: the resid site is also seen after the last block */
    size_t nl = (size_t)c->n_layers + 1;
    for (int s = 0; s < QS_SITE_COUNT; s++) {
        int ng = static_groups(sp, qs_site_width(c, s));
        a->n_ranges[s] = ng;
        free(a->ranges[s]);
        a->ranges[s] = malloc(nl * ng * 2 * sizeof(float));
        if (!a->ranges[s]) return qs_error_set(QS_ERR_NOMEM, "out of memory for static ranges");
        for (size_t i = 0; i < nl * ng; i++) {
            a->ranges[s][2 * i] = absmax ? INFINITY : 0.0f;
            a->ranges[s][2 * i + 1] = absmax ? -INFINITY : 0.0f;
        }
    }
    int max_n = 0;
    for (int i = 0; i < calib->n; i++) max_n = calib->w[i].n > max_n ? calib->w[i].n : max_n;
    qs_forward_state fs;
    int rc = qs_forward_init(&fs, m, max_n, max_n);
    if (rc) return rc;
    qs_hook hook = qs_actq_hook(a);
    a->calibrating = 1;
    for (int i = 0; i < calib->n && rc == QS_OK; i++)
        rc = qs_forward(&fs, calib->w[i].tokens, calib->w[i].n, 0, NULL, 0, &hook);
    a->calibrating = 0;
    qs_forward_free(&fs);
    if (rc) return rc;
    for (int s = 0; s < QS_SITE_COUNT; s++) {
        size_t n = nl * a->n_ranges[s] * 2;
        for (size_t i = 0; i < n; i++) {
            float *v = &a->ranges[s][i];
            if (!absmax) *v /= (float)calib->n;
            if (!isfinite(*v)) *v = 0.0f; /* a (site, layer) never seen: an empty range */
        }
    }
    a->calibrated = 1;
    return QS_OK;
}

int qs_actq_set_decompose(qs_actq *st, double t) {
    if (!(t >= 0.0 && isfinite(t)))
        return qs_error_set(QS_ERR_ARG, "decomposition threshold %g: expected a finite t >= 0", t);
    st->decompose = t;
    return QS_OK;
}

double qs_actq_wide_cols_frac(const qs_actq *st) { return st->cols ? st->wide_cols / st->cols : 0; }

double qs_actq_wide_values_frac(const qs_actq *st) {
    return st->values ? st->wide_values / st->values : 0;
}

double qs_actq_bits_per_value(const qs_actq *st) {
    return st->calls ? st->bits_sum / (double)st->calls : 16.0;
}

void qs_actq_free(qs_actq *st) {
    for (int s = 0; s < QS_SITE_COUNT; s++) free(st->ranges[s]);
    free(st->scratch);
    free(st->tmp);
    free(st->wide_idx);
    free(st->wide);
    memset(st, 0, sizeof *st);
}
