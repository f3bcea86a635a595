#include "restables.h"

#include <stdio.h>
#include <string.h>

#include "error.h"
#include "eval_fields.h"

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

/* The identifying strings, then every number of the evaluation (eval_fields.h). */
static const qs_h5_col ppl_label_cols[] = {
    {"w_config", QS_H5_COL_STR, 128}, {"a_config", QS_H5_COL_STR, 128},
    {"config", QS_H5_COL_STR, 256},   {"scope", QS_H5_COL_STR, 64},
};
#define PPL_NLABELS (sizeof ppl_label_cols / sizeof ppl_label_cols[0])
#define PPL_NCOLS (PPL_NLABELS + QS_EVAL_NFIELDS)

static void ppl_columns(qs_h5_col c[PPL_NCOLS]) {
    qs_eval_field f[QS_EVAL_NFIELDS];
    qs_eval_fields(NULL, f);
    for (size_t i = 0; i < PPL_NLABELS; i++) c[i] = ppl_label_cols[i];
    for (size_t i = 0; i < QS_EVAL_NFIELDS; i++)
        c[PPL_NLABELS + i] = (qs_h5_col){f[i].name, f[i].integer ? QS_H5_COL_I64 : QS_H5_COL_F64, 0};
}

int qs_restable_ppl_open(qs_h5_table **t, qs_h5 *h, const char *name) {
    qs_h5_col cols[PPL_NCOLS];
    ppl_columns(cols);
    return open_at(t, h, "ppl", name, cols, PPL_NCOLS);
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
    qs_eval_field f[QS_EVAL_NFIELDS];
    qs_eval_fields(r, f);
    const char *labels[PPL_NLABELS] = {wn, an, name, scope};
    for (size_t i = 0; i < PPL_NLABELS && rc == QS_OK; i++)
        rc = qs_h5_table_set_str(t, ppl_label_cols[i].name, labels[i]);
    for (size_t i = 0; i < QS_EVAL_NFIELDS && rc == QS_OK; i++)
        rc = f[i].integer ? qs_h5_table_set_i64(t, f[i].name, (int64_t)f[i].value)
                          : qs_h5_table_set_f64(t, f[i].name, f[i].value);
    if (rc == QS_OK) rc = qs_h5_table_commit(t);
    return rc;
}
