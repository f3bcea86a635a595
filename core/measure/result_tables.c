#include "result_tables.h"

#include <stdio.h>
#include <string.h>

#include "error.h"
#include "eval_fields.h"

/* ---- a row of fields as a table row ------------------------------------------------- */

#define MAX_FIELDS 64

static void field_columns(const qs_field *f, size_t n, qs_h5_col *c) {
    for (size_t i = 0; i < n; i++)
        c[i] = (qs_h5_col){f[i].name,
                           f[i].kind == QS_FIELD_STR   ? QS_H5_COL_STR
                           : f[i].kind == QS_FIELD_INT ? QS_H5_COL_I64
                                                       : QS_H5_COL_F64,
                           f[i].kind == QS_FIELD_STR ? f[i].width : 0};
}

static int open_fields(qs_h5_table **t, qs_h5 *h, const char *dir, const char *name,
                       const qs_field *f, size_t n) {
    if (!name || !*name || strchr(name, '/'))
        return qs_error_set(QS_ERR_ARG, "table name '%s': expected a non-empty name without '/'",
                            name ? name : "");
    char path[256];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return qs_error_set(QS_ERR_ARG, "table name '%s' too long", name);
    qs_h5_col cols[MAX_FIELDS];
    field_columns(f, n, cols);
    return qs_h5_table_open(t, h, path, cols, n);
}

static int append_fields(qs_h5_table *t, const qs_field *f, size_t n) {
    qs_h5_value row[MAX_FIELDS];
    for (size_t i = 0; i < n; i++)
        row[i] = f[i].kind == QS_FIELD_STR   ? QS_H5_VSTR(f[i].str)
                 : f[i].kind == QS_FIELD_INT ? QS_H5_VI64(f[i].i)
                                             : QS_H5_VF64(f[i].num);
    return qs_h5_table_append(t, row);
}

/* ---- sweeps -------------------------------------------------------------------------- */

_Static_assert(QS_SWEEP_NFIELDS <= MAX_FIELDS, "room for the sweep columns");

int qs_restable_sweep_open(qs_h5_table **t, qs_h5 *h, const char *name) {
    qs_field f[QS_SWEEP_NFIELDS];
    qs_sweep_row_fields(NULL, f);
    return open_fields(t, h, "sweeps", name, f, QS_SWEEP_NFIELDS);
}

int qs_restable_sweep_append(qs_h5_table *t, const qs_sweep_row *r) {
    qs_field f[QS_SWEEP_NFIELDS];
    qs_sweep_row_fields(r, f);
    return append_fields(t, f, QS_SWEEP_NFIELDS);
}

/* ---- speed --------------------------------------------------------------------------- */

_Static_assert(QS_SPEED_NFIELDS <= MAX_FIELDS, "room for the speed columns");

int qs_restable_speed_open(qs_h5_table **t, qs_h5 *h, const qs_speed_limits *lim) {
    qs_field f[QS_SPEED_NFIELDS];
    qs_speed_row_fields(NULL, f);
    qs_h5_col cols[QS_SPEED_NFIELDS];
    field_columns(f, QS_SPEED_NFIELDS, cols);
    int rc = qs_h5_table_open(t, h, "speed", cols, QS_SPEED_NFIELDS);
    if (rc == QS_OK) rc = qs_h5_attr_f64(h, "speed", "sgemm_gflops", lim->sgemm_gflops);
    if (rc == QS_OK) rc = qs_h5_attr_f64(h, "speed", "bandwidth_gbs", lim->bandwidth_gbs);
    if (rc == QS_OK) rc = qs_h5_attr_f64(h, "speed", "triad_gbs", lim->triad_gbs);
    return rc;
}

int qs_restable_speed_append(qs_h5_table *t, const qs_speed_row *r) {
    qs_field f[QS_SPEED_NFIELDS];
    qs_speed_row_fields(r, f);
    return append_fields(t, f, QS_SPEED_NFIELDS);
}

/* ---- ppl ----------------------------------------------------------------------------- */

/* The identifying strings, then every number of the evaluation (eval_fields.h). */
#define PPL_NLABELS 4
#define PPL_NCOLS   QS_RESTABLE_PPL_NCOLS
_Static_assert(PPL_NCOLS == PPL_NLABELS + QS_EVAL_NFIELDS, "the ppl columns");
_Static_assert(PPL_NCOLS <= MAX_FIELDS, "room for the ppl columns");

void qs_restable_ppl_fields(qs_field *f, const char *w, const char *a,
                            const char *config, const char *scope, const qs_eval_result *r) {
    f[0] = QS_FSTR("w_config", w, 128);
    f[1] = QS_FSTR("a_config", a, 128);
    f[2] = QS_FSTR("config", config, 256);
    f[3] = QS_FSTR("scope", scope, 64);
    qs_eval_fields(r, f + PPL_NLABELS);
}

int qs_restable_ppl_open(qs_h5_table **t, qs_h5 *h, const char *name) {
    qs_field f[PPL_NCOLS];
    qs_restable_ppl_fields(f, NULL, NULL, NULL, NULL, NULL);
    return open_fields(t, h, "ppl", name, f, PPL_NCOLS);
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
    return qs_restable_ppl_append_named(t, wn, an, name, scope, r);
}

int qs_restable_ppl_append_named(qs_h5_table *t, const char *w_config, const char *a_config,
                                 const char *config, const char *scope, const qs_eval_result *r) {
    qs_field f[PPL_NCOLS];
    qs_restable_ppl_fields(f, w_config, a_config, config, scope, r);
    return append_fields(t, f, PPL_NCOLS);
}
