/* qscope merge (merge.h). */
#include "merge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dist_int.h"
#include "error.h"
#include "h5read.h"
#include "provenance.h"
#include "strmap.h"

#define MAX_KEYS 32

typedef struct src_run {
    int input, run;
} src_run;

/* A table path and the first run that holds it: the reference the others must match. */
typedef struct table_ref {
    char *path;
    int keyed; /* a distributed table (dist_key_columns) */
    src_run first;
    char *model, *text, *params, *keys;
    size_t ncols;
    qs_h5_col *cols; /* names owned */
    src_run *runs;   /* every run that holds it, in merge order */
    int n_runs;
} table_ref;

typedef struct merge_state {
    const char *const *inputs;
    int n;
    qs_h5_reader **r;
    src_run *runs; /* runs merged, in order */
    int n_runs;
    src_run ref_run;
    char *ref_model, *ref_text; /* the first merged run's provenance */
    table_ref *t;
    int n_t;
    qs_dist_merge_report *rep;
} merge_state;

static int differ(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : "") != 0; }

/* "<file> run <n>: <what> differs from <file> run <n>: '<a>' vs '<b>'"; for JSON (the
 * parameters) the first key that differs and its two values instead. */
static int mismatch(merge_state *m, src_run x, src_run ref, const char *obj, const char *field,
                    const char *a, const char *b) {
    char d[300];
    if (!qs__dist_json_diff(a, b, d, sizeof d))
        snprintf(d, sizeof d, "'%.140s' vs '%.140s'", a ? a : "", b ? b : "");
    return qs_error_set(QS_ERR_ARG,
                        "%s run %d: %s%s%s differs from %s run %d: %s; "
                        "refusing to merge runs of another model, text or parameters",
                        m->inputs[x.input], x.run, obj ? obj : "", obj ? ": " : "", field,
                        m->inputs[ref.input], ref.run, d);
}

static int attr(merge_state *m, src_run x, const char *obj, const char *name, char **v) {
    return qs_h5_reader_attr(m->r[x.input], x.run, obj, name, v);
}

static int add_run_to(table_ref *t, src_run x) {
    src_run *v = realloc(t->runs, ((size_t)t->n_runs + 1) * sizeof *v);
    if (!v) return qs_error_set(QS_ERR_NOMEM, "out of memory");
    t->runs = v;
    t->runs[t->n_runs++] = x;
    return QS_OK;
}

static table_ref *find(merge_state *m, const char *path) {
    for (int i = 0; i < m->n_t; i++)
        if (strcmp(m->t[i].path, path) == 0) return &m->t[i];
    return NULL;
}

/* Checks one table of one run against its reference (or makes it the reference). */
static int check_table(merge_state *m, src_run x, const char *path, char *keys) {
    int rc = QS_OK;
    char *model = NULL, *text = NULL, *params = NULL;
    if (keys) {
        if ((rc = attr(m, x, path, "dist_model_sha256", &model)) ||
            (rc = attr(m, x, path, "dist_text_sha256", &text)) ||
            (rc = attr(m, x, path, "dist_params", &params)))
            goto out;
    }
    qs_h5_rows *rows = NULL;
    if ((rc = qs_h5_reader_table(m->r[x.input], x.run, path, &rows))) goto out;
    table_ref *t = find(m, path);
    if (!t) {
        table_ref *v = realloc(m->t, ((size_t)m->n_t + 1) * sizeof *v);
        if (!v) {
            rc = qs_error_set(QS_ERR_NOMEM, "out of memory");
            qs_h5_rows_free(rows);
            goto out;
        }
        m->t = v;
        t = &m->t[m->n_t++];
        memset(t, 0, sizeof *t);
        t->path = strdup(path);
        t->keyed = keys != NULL;
        t->first = x;
        t->model = model, t->text = text, t->params = params, t->keys = keys;
        model = text = params = keys = NULL;
        t->ncols = rows ? rows->ncols : 0;
        t->cols = rows ? rows->cols : NULL; /* taken over */
        if (rows) rows->cols = NULL, rows->ncols = 0;
        qs_h5_rows_free(rows);
        if (!t->path) rc = qs_error_set(QS_ERR_NOMEM, "out of memory");
        if (rc == QS_OK && t->keyed) rc = add_run_to(t, x);
        goto out;
    }
    if (t->keyed != (keys != NULL))
        rc = mismatch(m, x, t->first, path, "dist_key_columns", keys ? keys : "(none)",
                      t->keys ? t->keys : "(none)");
    else if (t->keyed) {
        if (differ(model, t->model))
            rc = mismatch(m, x, t->first, path, "dist_model_sha256 (model)", model, t->model);
        else if (differ(text, t->text))
            rc = mismatch(m, x, t->first, path, "dist_text_sha256 (text)", text, t->text);
        else if (differ(params, t->params))
            rc = mismatch(m, x, t->first, path, "dist_params (parameters)", params, t->params);
        else if (differ(keys, t->keys))
            rc = mismatch(m, x, t->first, path, "dist_key_columns", keys, t->keys);
    }
    int same_cols = rows && rows->ncols == t->ncols;
    for (size_t c = 0; same_cols && c < t->ncols; c++)
        same_cols = strcmp(rows->cols[c].name, t->cols[c].name) == 0 &&
                    rows->cols[c].type == t->cols[c].type && rows->cols[c].len == t->cols[c].len;
    if (rc == QS_OK && t->keyed && !same_cols)
        rc = mismatch(m, x, t->first, path, "columns", "(another layout)", "(this one)");
    if (rc == QS_OK && t->keyed) rc = add_run_to(t, x);
    qs_h5_rows_free(rows);
out:
    free(model);
    free(text);
    free(params);
    free(keys);
    return rc;
}

/* Phase one: every run of every input, checked; nothing written. */
static int survey(merge_state *m) {
    int rc = QS_OK;
    for (int i = 0; i < m->n && rc == QS_OK; i++) {
        int *runs = NULL, nr = 0;
        rc = qs_h5_reader_runs(m->r[i], &runs, &nr);
        for (int k = 0; k < nr && rc == QS_OK; k++) {
            src_run x = {i, runs[k]};
            char **paths = NULL;
            int np = 0;
            rc = qs_h5_reader_tables(m->r[i], runs[k], &paths, &np);
            int keyed = 0;
            for (int p = 0; p < np && rc == QS_OK && !keyed; p++) {
                char *keys = NULL;
                rc = attr(m, x, paths[p], "dist_key_columns", &keys);
                keyed = keys != NULL;
                free(keys);
            }
            if (rc == QS_OK && !keyed) {
                m->rep->runs_skipped++;
                fprintf(stderr, "merge: %s run %d holds no distributed table; left out\n",
                        m->inputs[i], runs[k]);
            }
            if (rc == QS_OK && keyed) {
                char *model = NULL, *text = NULL;
                rc = attr(m, x, "provenance", "model_sha256", &model);
                if (rc == QS_OK) rc = attr(m, x, "provenance", "text_sha256", &text);
                if (rc == QS_OK && m->n_runs == 0) {
                    m->ref_run = x;
                    m->ref_model = model, m->ref_text = text;
                    model = text = NULL;
                } else if (rc == QS_OK && model && m->ref_model && differ(model, m->ref_model)) {
                    rc = mismatch(m, x, m->ref_run, "provenance", "model_sha256", model,
                                  m->ref_model);
                } else if (rc == QS_OK && text && m->ref_text && differ(text, m->ref_text)) {
                    rc = mismatch(m, x, m->ref_run, "provenance", "text_sha256", text,
                                  m->ref_text);
                }
                free(model);
                free(text);
                src_run *v = rc ? NULL : realloc(m->runs, ((size_t)m->n_runs + 1) * sizeof *v);
                if (rc == QS_OK && !v) rc = qs_error_set(QS_ERR_NOMEM, "out of memory");
                if (v) {
                    m->runs = v;
                    m->runs[m->n_runs++] = x;
                }
            }
            for (int p = 0; p < np && rc == QS_OK && keyed; p++) {
                if (strncmp(paths[p], "provenance/", 11) == 0) continue;
                char *keys = NULL;
                rc = attr(m, x, paths[p], "dist_key_columns", &keys);
                if (rc == QS_OK) rc = check_table(m, x, paths[p], keys);
            }
            free(paths);
        }
        free(runs);
    }
    if (rc == QS_OK && m->n_runs == 0)
        rc = qs_error_set(QS_ERR_ARG, "nothing to merge: no run of the inputs holds a "
                                      "distributed table (written by sweep/eval with -o, or by "
                                      "m:sweep / m:eval{configs=} with results=)");
    m->rep->runs_merged = m->n_runs;
    return rc;
}

/* FNV-1a over a row's values, `seconds` left out (a time, not a result): 31 bits. */
static int row_digest(const qs_h5_rows *t, size_t row) {
    unsigned h = 2166136261u;
    for (size_t c = 0; c < t->ncols; c++) {
        if (strcmp(t->cols[c].name, "seconds") == 0) continue;
        const qs_h5_value *v = &t->cells[row * t->ncols + c];
        const unsigned char *p;
        size_t n;
        if (v->type == QS_H5_COL_STR) {
            p = (const unsigned char *)v->u.s;
            n = strlen(v->u.s) + 1;
        } else {
            p = (const unsigned char *)&v->u;
            n = 8;
        }
        for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    }
    return (int)(h & 0x7fffffffu);
}

static const qs_h5_col origin_out[] = {
    {"row", QS_H5_COL_I64, 0},  {"item", QS_H5_COL_I64, 0}, {"rank", QS_H5_COL_I64, 0},
    {"host", QS_H5_COL_STR, 64}, {"pid", QS_H5_COL_I64, 0}, {"seconds", QS_H5_COL_F64, 0},
    {"source", QS_H5_COL_STR, 512},
};

/* Phase two for one distributed table: its rows and their origins into out. */
static int write_table(merge_state *m, qs_h5 *out, table_ref *t) {
    qs_h5_table *dst = NULL, *odst = NULL;
    char opath[1100];
    snprintf(opath, sizeof opath, "provenance/rows/%s", t->path);
    int rc = qs_h5_table_open(&dst, out, t->path, t->cols, t->ncols);
    if (rc == QS_OK) rc = qs_h5_table_open(&odst, out, opath, origin_out, 7);
    /* the identity of the first run, which every other one matched */
    if (rc == QS_OK)
        rc = qs_h5_copy_attrs(out, t->path, m->r[t->first.input], t->first.run, t->path, NULL);
    if (rc == QS_OK) rc = qs_h5_attr_str(out, t->path, "dist_shard", "");
    const char *kc[MAX_KEYS + 1];
    char keybuf[512];
    int nk = 0;
    snprintf(keybuf, sizeof keybuf, "%s", t->keys ? t->keys : "");
    for (char *p = keybuf, *tok; rc == QS_OK && (tok = strsep(&p, ",")) != NULL;)
        if (*tok && nk < MAX_KEYS) kc[nk++] = tok;
    kc[nk] = NULL;
    qs_strmap seen = {0};
    if (rc == QS_OK) rc = qs_strmap_init(&seen, 1024);
    for (int k = 0; k < t->n_runs && rc == QS_OK; k++) {
        src_run x = t->runs[k];
        qs_h5_rows *rows = NULL, *orig = NULL;
        rc = qs_h5_reader_table(m->r[x.input], x.run, t->path, &rows);
        if (rc == QS_OK) rc = qs_h5_reader_table(m->r[x.input], x.run, opath, &orig);
        int idx[MAX_KEYS];
        for (int c = 0; c < nk && rc == QS_OK; c++)
            if ((idx[c] = qs_h5_rows_col(rows, kc[c])) < 0)
                rc = qs_error_set(QS_ERR_FORMAT, "%s run %d: %s has no key column '%s'",
                                  m->inputs[x.input], x.run, t->path, kc[c]);
        /* origin rows by the index of the row they describe */
        int orow = orig ? qs_h5_rows_col(orig, "row") : -1;
        char source[512];
        snprintf(source, sizeof source, "%s:%d", m->inputs[x.input], x.run);
        for (size_t r = 0; rows && r < rows->nrows && rc == QS_OK; r++) {
            m->rep->rows_read++;
            qs_field f[MAX_KEYS];
            for (int c = 0; c < nk; c++)
                f[c] = qs__dist_cell_field(&rows->cols[idx[c]],
                                           &rows->cells[r * rows->ncols + idx[c]]);
            char key[2048];
            qs_dist_row_key(key, sizeof key, f, (size_t)nk, kc);
            int d = row_digest(rows, r), had = qs_strmap_get(&seen, key, strlen(key));
            if (had >= 0) {
                m->rep->duplicates++;
                if (had != d) m->rep->conflicts++;
                continue;
            }
            rc = qs_strmap_put(&seen, key, strlen(key), d);
            if (rc == QS_OK) rc = qs_h5_table_append(dst, &rows->cells[r * rows->ncols]);
            if (rc) break;
            m->rep->rows_written++;
            /* its origin: the origin row that names it (the same index, as written) */
            const qs_h5_value *o = NULL;
            if (orow >= 0 && r < orig->nrows &&
                orig->cells[r * orig->ncols + (size_t)orow].u.i == (int64_t)r)
                o = &orig->cells[r * orig->ncols];
            for (size_t q = 0; !o && orow >= 0 && q < orig->nrows; q++)
                if (orig->cells[q * orig->ncols + (size_t)orow].u.i == (int64_t)r)
                    o = &orig->cells[q * orig->ncols];
            qs_h5_value ov[7] = {QS_H5_VI64(qs_h5_table_rows(dst) - 1), QS_H5_VI64(-1),
                                 QS_H5_VI64(-1), QS_H5_VSTR(""), QS_H5_VI64(0),
                                 QS_H5_VF64(0), QS_H5_VSTR(source)};
            if (o && orig->ncols >= 6)
                for (int c = 1; c < 6; c++) ov[c] = o[c];
            rc = qs_h5_table_append(odst, ov);
        }
        qs_h5_rows_free(rows);
        qs_h5_rows_free(orig);
    }
    qs_strmap_free(&seen);
    int c1 = qs_h5_table_close(dst), c2 = qs_h5_table_close(odst);
    if (rc == QS_OK) rc = c1 ? c1 : c2;
    if (rc == QS_OK) m->rep->tables++;
    return rc;
}

/* A table without a key: copied whole from its first run. */
static int copy_table(merge_state *m, qs_h5 *out, table_ref *t) {
    qs_h5_rows *rows = NULL;
    qs_h5_table *dst = NULL;
    int rc = qs_h5_reader_table(m->r[t->first.input], t->first.run, t->path, &rows);
    if (rc == QS_OK && rows) rc = qs_h5_table_open(&dst, out, t->path, rows->cols, rows->ncols);
    for (size_t r = 0; rows && r < rows->nrows && rc == QS_OK; r++)
        rc = qs_h5_table_append(dst, &rows->cells[r * rows->ncols]);
    int c = qs_h5_table_close(dst);
    if (rc == QS_OK) rc = c;
    qs_h5_rows_free(rows);
    if (rc == QS_OK) {
        m->rep->tables_copied++;
        fprintf(stderr, "merge: %s has no key: copied from %s run %d\n", t->path,
                m->inputs[t->first.input], t->first.run);
    }
    return rc;
}

static int same_file(const char *a, const char *b) {
    struct stat x, y;
    return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

int qs_dist_merge(const char *out_path, const char *const *inputs, int n, const char *command_line,
                  qs_dist_merge_report *report) {
    qs_dist_merge_report rep_local;
    qs_dist_merge_report *rep = report ? report : &rep_local;
    memset(rep, 0, sizeof *rep);
    if (n < 1) return qs_error_set(QS_ERR_ARG, "merge: no input files");
    for (int i = 0; i < n; i++)
        if (same_file(out_path, inputs[i]))
            return qs_error_set(QS_ERR_ARG, "merge: the output %s is also an input", out_path);
    merge_state m = {0};
    m.inputs = inputs;
    m.n = n;
    m.rep = rep;
    m.r = calloc((size_t)n, sizeof *m.r);
    int rc = m.r ? QS_OK : qs_error_set(QS_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n && rc == QS_OK; i++) rc = qs_h5_reader_open(&m.r[i], inputs[i]);
    if (rc == QS_OK) rc = survey(&m);
    qs_h5 *out = NULL;
    if (rc == QS_OK) rc = qs_h5_open(&out, out_path, "merge");
    if (rc == QS_OK) {
        rep->run = qs_h5_run(out);
        qs_provenance p = {0};
        p.command_line = command_line;
        p.threads = 1;
        rc = qs_h5_write_provenance(out, &p);
    }
    if (rc == QS_OK) {
        static const char *const prov[] = {"model_path",  "model_sha256", "model_sha256_kind",
                                           "text_path",   "text_sha256",  "params",
                                           "script_path", "script_sha256", NULL};
        src_run f = m.runs[0];
        rc = qs_h5_copy_attrs(out, "provenance", m.r[f.input], f.run, "provenance", prov);
        if (rc == QS_OK) rc = qs_h5_copy_attrs(out, "model", m.r[f.input], f.run, "model", NULL);
    }
    if (rc == QS_OK) {
        char **from = calloc((size_t)m.n_runs + 1, sizeof *from);
        if (!from) rc = qs_error_set(QS_ERR_NOMEM, "out of memory");
        for (int i = 0; rc == QS_OK && i < m.n_runs; i++) {
            size_t len = strlen(inputs[m.runs[i].input]) + 16;
            if (!(from[i] = malloc(len))) rc = qs_error_set(QS_ERR_NOMEM, "out of memory");
            else snprintf(from[i], len, "%s:%d", inputs[m.runs[i].input], m.runs[i].run);
        }
        if (rc == QS_OK)
            rc = qs_h5_attr_strs(out, "provenance", "merged_from", (const char *const *)from,
                                 (size_t)m.n_runs);
        for (int i = 0; from && i < m.n_runs; i++) free(from[i]);
        free(from);
    }
    for (int i = 0; i < m.n_t && rc == QS_OK; i++)
        rc = m.t[i].keyed ? write_table(&m, out, &m.t[i]) : copy_table(&m, out, &m.t[i]);
    int c = qs_h5_close(out);
    if (rc == QS_OK) rc = c;
    for (int i = 0; i < m.n_t; i++) {
        table_ref *t = &m.t[i];
        free(t->path);
        free(t->model);
        free(t->text);
        free(t->params);
        free(t->keys);
        for (size_t k = 0; t->cols && k < t->ncols; k++) free((char *)t->cols[k].name);
        free(t->cols);
        free(t->runs);
    }
    free(m.t);
    free(m.runs);
    free(m.ref_model);
    free(m.ref_text);
    for (int i = 0; m.r && i < n; i++) qs_h5_reader_close(m.r[i]);
    free(m.r);
    return rc;
}
