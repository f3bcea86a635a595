#include "restables.h"

#include <stdio.h>
#include <string.h>

#include "error.h"

/* ---- sweeps -------------------------------------------------------------------------- */

static const qs_h5_col sweep_cols[] = {
    {"target", QS_H5_COL_STR, 16},     {"tensor", QS_H5_COL_STR, 32},
    {"layer", QS_H5_COL_I64, 0},       {"rows", QS_H5_COL_I64, 0},
    {"cols", QS_H5_COL_I64, 0},        {"bits", QS_H5_COL_I64, 0},
    {"scheme", QS_H5_COL_STR, 16},     {"granularity", QS_H5_COL_STR, 16},
    {"group", QS_H5_COL_I64, 0},       {"clip", QS_H5_COL_STR, 16},
    {"clip_value", QS_H5_COL_F64, 0},  {"mse", QS_H5_COL_F64, 0},
    {"sqnr_db", QS_H5_COL_F64, 0},     {"max_err", QS_H5_COL_F64, 0},
    {"bits_per_value", QS_H5_COL_F64, 0}, {"n_clipped", QS_H5_COL_I64, 0},
    {"levels_mean", QS_H5_COL_F64, 0}, {"levels_min", QS_H5_COL_I64, 0},
    {"levels_max", QS_H5_COL_I64, 0},  {"error", QS_H5_COL_STR, 256},
};

static int open_at(qs_h5_table **t, qs_h5 *h, const char *dir, const char *name,
                   const qs_h5_col *cols, size_t n) {
    if (!name || !*name || strchr(name, '/'))
        return qs_error_set(QS_ERR_ARG, "table name '%s': expected a non-empty name without '/'",
                            name ? name : "");
    char path[256];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return qs_error_set(QS_ERR_ARG, "table name '%s' too long", name);
    return qs_h5_table_open(t, h, path, cols, n);
}

int qs_restable_sweep_open(qs_h5_table **t, qs_h5 *h, const char *name) {
    return open_at(t, h, "sweeps", name, sweep_cols, sizeof sweep_cols / sizeof sweep_cols[0]);
}

int qs_restable_sweep_append(qs_h5_table *t, const qs_sweep_row *r) {
    const qs_h5_value row[] = {
        QS_H5_VSTR(r->target),
        QS_H5_VSTR(r->tensor),
        QS_H5_VI64(r->layer),
        QS_H5_VI64(r->rows),
        QS_H5_VI64(r->cols),
        QS_H5_VI64(r->bits),
        QS_H5_VSTR(qs_quant_scheme_name(r->scheme)),
        QS_H5_VSTR(qs_sweep_gran_name(r->gran)),
        QS_H5_VI64(r->group),
        QS_H5_VSTR(qs_quant_clip_name(r->clip)),
        QS_H5_VF64(r->clip_value),
        QS_H5_VF64(r->err.mse),
        QS_H5_VF64(r->err.sqnr_db),
        QS_H5_VF64(r->err.max_abs_err),
        QS_H5_VF64(r->bits_per_value),
        QS_H5_VI64(r->n_clipped),
        QS_H5_VF64(r->levels_mean),
        QS_H5_VI64(r->levels_min),
        QS_H5_VI64(r->levels_max),
        QS_H5_VSTR(r->error),
    };
    _Static_assert(sizeof row / sizeof row[0] == sizeof sweep_cols / sizeof sweep_cols[0],
                   "one value per sweep column");
    return qs_h5_table_append(t, row);
}

/* ---- ppl ----------------------------------------------------------------------------- */

#define PPL_MAX_COLS 64

/* Column names built once: the fixed ones, then kld_<p> and dp_<p>. */
static char pct_names[2][QS_KLD_NPCT][24];

static size_t ppl_columns(qs_h5_col *c) {
    static const qs_h5_col fixed[] = {
        {"w_config", QS_H5_COL_STR, 128}, {"a_config", QS_H5_COL_STR, 128},
        {"config", QS_H5_COL_STR, 256},   {"scope", QS_H5_COL_STR, 64},
        {"tokens", QS_H5_COL_I64, 0},     {"windows", QS_H5_COL_I64, 0},
        {"ppl", QS_H5_COL_F64, 0},        {"ppl_stderr", QS_H5_COL_F64, 0},
        {"ppl_base", QS_H5_COL_F64, 0},   {"ppl_base_stderr", QS_H5_COL_F64, 0},
        {"ppl_ratio", QS_H5_COL_F64, 0},  {"ppl_ratio_stderr", QS_H5_COL_F64, 0},
        {"ln_ppl_ratio", QS_H5_COL_F64, 0}, {"ln_ppl_ratio_stderr", QS_H5_COL_F64, 0},
        {"nll", QS_H5_COL_F64, 0},        {"nll_base", QS_H5_COL_F64, 0},
        {"kld_mean", QS_H5_COL_F64, 0},   {"kld_stderr", QS_H5_COL_F64, 0},
        {"dp_mean", QS_H5_COL_F64, 0},    {"dp_stderr", QS_H5_COL_F64, 0},
        {"dp_rms", QS_H5_COL_F64, 0},     {"dp_rms_stderr", QS_H5_COL_F64, 0},
        {"top1_agree", QS_H5_COL_F64, 0}, {"top1_agree_stderr", QS_H5_COL_F64, 0},
        {"top5_overlap", QS_H5_COL_F64, 0}, {"w_bits_per_value", QS_H5_COL_F64, 0},
        {"a_bits_per_value", QS_H5_COL_F64, 0}, {"a_clipped", QS_H5_COL_I64, 0},
        {"seconds", QS_H5_COL_F64, 0},
    };
    size_t n = 0;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) c[n++] = fixed[i];
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < QS_KLD_NPCT; i++) {
            snprintf(pct_names[k][i], sizeof pct_names[k][i], "%s_%s", k ? "dp" : "kld",
                     qs_kld_pct_names[i]);
            c[n++] = (qs_h5_col){pct_names[k][i], QS_H5_COL_F64, 0};
        }
    return n;
}

int qs_restable_ppl_open(qs_h5_table **t, qs_h5 *h, const char *name) {
    qs_h5_col cols[PPL_MAX_COLS];
    size_t n = ppl_columns(cols);
    return open_at(t, h, "ppl", name, cols, n);
}

int qs_restable_side_names(char *w, char *a, size_t n, const qs_quant_config *cfg) {
    qs_quant_config one = *cfg;
    one.a.spec.bits = QS_QUANT_BITS_NONE;
    int rc = qs_quant_config_format(w, n, &one);
    if (rc) return rc;
    one = *cfg;
    one.w.spec.bits = QS_QUANT_BITS_NONE;
    return qs_quant_config_format(a, n, &one);
}

int qs_restable_ppl_append(qs_h5_table *t, const qs_quant_config *cfg, const char *scope,
                           const qs_eval_result *r) {
    char wn[128], an[128], name[256];
    int rc;
    if ((rc = qs_restable_side_names(wn, an, sizeof wn, cfg)) ||
        (rc = qs_quant_config_format(name, sizeof name, cfg)))
        return rc;
    const qs_kld_report *k = &r->kld;
#define S(col, v) if (rc == QS_OK) rc = qs_h5_table_set_str(t, col, v)
#define I(col, v) if (rc == QS_OK) rc = qs_h5_table_set_i64(t, col, (int64_t)(v))
#define F(col, v) if (rc == QS_OK) rc = qs_h5_table_set_f64(t, col, (double)(v))
    S("w_config", wn);
    S("a_config", an);
    S("config", name);
    S("scope", scope);
    I("tokens", k->n);
    I("windows", r->n_windows);
    F("ppl", k->ppl_q);
    F("ppl_stderr", k->ppl_q_se);
    F("ppl_base", k->ppl_base);
    F("ppl_base_stderr", k->ppl_base_se);
    F("ppl_ratio", k->ppl_ratio);
    F("ppl_ratio_stderr", k->ppl_ratio_se);
    F("ln_ppl_ratio", k->ln_ratio);
    F("ln_ppl_ratio_stderr", k->ln_ratio_se);
    F("nll", k->nll_q);
    F("nll_base", k->nll_base);
    F("kld_mean", k->kld_mean);
    F("kld_stderr", k->kld_se);
    F("dp_mean", k->dp_mean);
    F("dp_stderr", k->dp_se);
    F("dp_rms", k->dp_rms);
    F("dp_rms_stderr", k->dp_rms_se);
    F("top1_agree", k->top1);
    F("top1_agree_stderr", k->top1_se);
    F("top5_overlap", k->top5);
    F("w_bits_per_value", r->w.n_tensors ? r->w.bits_per_value : 16.0);
    F("a_bits_per_value", r->a_bits_per_value);
    I("a_clipped", r->a_clipped);
    F("seconds", r->seconds);
    for (int i = 0; i < QS_KLD_NPCT; i++) {
        char col[32];
        snprintf(col, sizeof col, "kld_%s", qs_kld_pct_names[i]);
        F(col, k->kld_pct[i]);
        snprintf(col, sizeof col, "dp_%s", qs_kld_pct_names[i]);
        F(col, k->dp_pct[i]);
    }
#undef S
#undef I
#undef F
    if (rc == QS_OK) rc = qs_h5_table_commit(t);
    return rc;
}
