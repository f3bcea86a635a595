/* Reading results back (h5read.h): runs, attributes, tables. */
#include "h5read.h"

#include "h5store_int.h"

#include "error.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct qs_h5_reader {
    hid_t file;
    int owned; /* 0: borrowed from a qs_h5, not closed here */
    char *path;
};

static int fail(const qs_h5_reader *r, int code, const char *obj, const char *what) {
    return qs_error_set(code, "%s: %s%s%s", r->path, obj ? obj : "", obj ? ": " : "", what);
}

static qs_h5_reader *reader_new(const char *path) {
    qs_h5_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        qs_error_set(QS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    r->file = -1;
    return r;
}

int qs_h5_reader_open(qs_h5_reader **out, const char *path) {
    *out = NULL;
    struct stat st;
    if (!path || stat(path, &st) != 0) return qs_error_set(QS_ERR_IO, "%s: no such file", path);
    if (!S_ISREG(st.st_mode)) return qs_error_set(QS_ERR_ARG, "%s: not a regular file", path);
    qs__h5_init();
    qs_h5_reader *r = reader_new(path);
    if (!r) return QS_ERR_NOMEM;
    r->owned = 1;
    if (H5Fis_hdf5(path) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        fail(r, QS_ERR_FORMAT, NULL, "not an HDF5 file");
        qs_h5_reader_close(r);
        return QS_ERR_FORMAT;
    }
    r->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    int rc = QS_OK;
    if (r->file < 0)
        rc = qs__h5_err_locked() ? fail(r, QS_ERR_IO, NULL, "locked by a process writing it")
                                 : fail(r, QS_ERR_IO, NULL, "HDF5 cannot open it");
    else if (H5Lexists(r->file, "/runs", H5P_DEFAULT) <= 0)
        rc = fail(r, QS_ERR_FORMAT, NULL, "holds no qscope results (no /runs)");
    H5Eclear2(H5E_DEFAULT);
    if (rc) {
        qs_h5_reader_close(r);
        return rc;
    }
    *out = r;
    return QS_OK;
}

int qs_h5_reader_borrow(qs_h5_reader **out, qs_h5 *h) {
    *out = NULL;
    if (!h || h->file < 0) return qs_error_set(QS_ERR_ARG, "qs_h5_reader_borrow: closed file");
    qs_h5_reader *r = reader_new(h->path);
    if (!r) return QS_ERR_NOMEM;
    r->file = h->file;
    *out = r;
    return QS_OK;
}

void qs_h5_reader_close(qs_h5_reader *r) {
    if (!r) return;
    if (r->owned && r->file >= 0) H5Fclose(r->file);
    free(r->path);
    free(r);
}

const char *qs_h5_reader_path(const qs_h5_reader *r) { return r ? r->path : ""; }

/* ---- runs ----------------------------------------------------------------------------- */

typedef struct run_list {
    int *v, n, cap;
} run_list;

static herr_t add_run(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)g, (void)info;
    run_list *l = data;
    char *end;
    long n = strtol(name, &end, 10);
    if (*end || n < 1 || n > 1000000000 || name[0] == '0') return 0;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        int *v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (int)n;
    return 0;
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int qs_h5_reader_runs(qs_h5_reader *r, int **runs, int *n) {
    *runs = NULL;
    *n = 0;
    hid_t g = H5Gopen2(r->file, "/runs", H5P_DEFAULT);
    if (g < 0) {
        H5Eclear2(H5E_DEFAULT);
        return fail(r, QS_ERR_FORMAT, "/runs", "cannot open the group");
    }
    run_list l = {0};
    herr_t e = H5Literate(g, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, add_run, &l);
    H5Gclose(g);
    if (e < 0) {
        H5Eclear2(H5E_DEFAULT);
        free(l.v);
        return fail(r, QS_ERR_IO, "/runs", "cannot list the runs");
    }
    qsort(l.v, (size_t)l.n, sizeof *l.v, cmp_int);
    *runs = l.v;
    *n = l.n;
    return QS_OK;
}

/* "/runs/<run>/<obj>" into buf; 0 when it does not fit. */
static int full_path(char *buf, size_t n, int run, const char *obj) {
    while (obj && *obj == '/') obj++;
    int k = obj && *obj ? snprintf(buf, n, "/runs/%d/%s", run, obj)
                        : snprintf(buf, n, "/runs/%d", run);
    return k > 0 && (size_t)k < n;
}

/* Whether every component of an absolute path exists (H5Lexists needs the parents). */
static int path_exists(hid_t file, const char *full) {
    char buf[1024];
    size_t len = strlen(full);
    if (len >= sizeof buf) return 0;
    memcpy(buf, full, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        htri_t e = H5Lexists(file, buf, H5P_DEFAULT);
        buf[i] = c;
        if (e <= 0) {
            H5Eclear2(H5E_DEFAULT);
            return 0;
        }
    }
    return 1;
}

/* ---- attributes ----------------------------------------------------------------------- */

static int read_attr(qs_h5_reader *r, hid_t a, const char *full, char **value) {
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    int rc = QS_OK;
    hssize_t npoints = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    char num[64];
    if (npoints != 1) {
        rc = fail(r, QS_ERR_FORMAT, full, "attribute is not a single value");
    } else if (cls == H5T_STRING && H5Tis_variable_str(t) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        char *s = NULL;
        if (mt < 0 || H5Tset_size(mt, H5T_VARIABLE) < 0 ||
            H5Tset_cset(mt, H5Tget_cset(t)) < 0 || H5Aread(a, mt, &s) < 0)
            rc = fail(r, QS_ERR_IO, full, "cannot read a string attribute");
        else if (!(*value = strdup(s ? s : "")))
            rc = qs_error_set(QS_ERR_NOMEM, "out of memory");
        if (s) H5free_memory(s);
        if (mt >= 0) H5Tclose(mt);
    } else if (cls == H5T_STRING) {
        size_t n = H5Tget_size(t);
        char *s = calloc(n + 1, 1);
        hid_t mt = H5Tcopy(t);
        if (!s)
            rc = qs_error_set(QS_ERR_NOMEM, "out of memory");
        else if (mt < 0 || H5Aread(a, mt, s) < 0)
            rc = fail(r, QS_ERR_IO, full, "cannot read a string attribute");
        if (mt >= 0) H5Tclose(mt);
        if (rc == QS_OK)
            *value = s;
        else
            free(s);
    } else if (cls == H5T_INTEGER) {
        long long v = 0;
        if (H5Aread(a, H5T_NATIVE_LLONG, &v) < 0)
            rc = fail(r, QS_ERR_IO, full, "cannot read an integer attribute");
        snprintf(num, sizeof num, "%lld", v);
        if (rc == QS_OK && !(*value = strdup(num))) rc = qs_error_set(QS_ERR_NOMEM, "no memory");
    } else if (cls == H5T_FLOAT) {
        double v = 0;
        if (H5Aread(a, H5T_NATIVE_DOUBLE, &v) < 0)
            rc = fail(r, QS_ERR_IO, full, "cannot read a float attribute");
        snprintf(num, sizeof num, "%.17g", v);
        if (rc == QS_OK && !(*value = strdup(num))) rc = qs_error_set(QS_ERR_NOMEM, "no memory");
    } else {
        rc = fail(r, QS_ERR_FORMAT, full, "attribute of an unsupported type");
    }
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    H5Eclear2(H5E_DEFAULT);
    return rc;
}

int qs_h5_reader_attr(qs_h5_reader *r, int run, const char *obj, const char *name, char **value) {
    *value = NULL;
    char full[1024];
    if (!full_path(full, sizeof full, run, obj)) return fail(r, QS_ERR_ARG, obj, "path too long");
    if (!path_exists(r->file, full)) return QS_OK;
    hid_t o = H5Oopen(r->file, full, H5P_DEFAULT);
    if (o < 0) {
        H5Eclear2(H5E_DEFAULT);
        return fail(r, QS_ERR_IO, full, "cannot open the object");
    }
    int rc = QS_OK;
    htri_t has = H5Aexists(o, name);
    if (has > 0) {
        hid_t a = H5Aopen(o, name, H5P_DEFAULT);
        if (a < 0)
            rc = fail(r, QS_ERR_IO, full, "cannot open an attribute");
        else {
            rc = read_attr(r, a, full, value);
            H5Aclose(a);
        }
    }
    H5Oclose(o);
    H5Eclear2(H5E_DEFAULT);
    return rc;
}

/* ---- tables ----------------------------------------------------------------------------- */

/* The column of a compound member, or 0 when the member is not one qs_h5_table writes. */
static int member_col(hid_t mt, qs_h5_col *c) {
    H5T_class_t cls = H5Tget_class(mt);
    size_t size = H5Tget_size(mt);
    if (cls == H5T_INTEGER && size == 8 && H5Tget_sign(mt) == H5T_SGN_2) {
        c->type = QS_H5_COL_I64;
        c->len = 0;
    } else if (cls == H5T_FLOAT && size == 8) {
        c->type = QS_H5_COL_F64;
        c->len = 0;
    } else if (cls == H5T_STRING && H5Tis_variable_str(mt) == 0 && size > 0) {
        c->type = QS_H5_COL_STR;
        c->len = size;
    } else {
        return 0;
    }
    return 1;
}

/* Whether the dataset at ds is a table of qs_h5_table's layout. */
static int is_table(hid_t ds) {
    hid_t t = H5Dget_type(ds);
    int ok = t >= 0 && H5Tget_class(t) == H5T_COMPOUND;
    int n = ok ? H5Tget_nmembers(t) : 0;
    for (int i = 0; ok && i < n; i++) {
        hid_t mt = H5Tget_member_type(t, (unsigned)i);
        qs_h5_col c;
        ok = mt >= 0 && member_col(mt, &c);
        if (mt >= 0) H5Tclose(mt);
    }
    if (t >= 0) H5Tclose(t);
    return ok && n > 0;
}

typedef struct table_list {
    hid_t run;
    char **v;
    int n, cap;
    int nomem;
} table_list;

#if H5_VERSION_GE(1, 12, 0)
static herr_t add_table(hid_t g, const char *name, const H5O_info2_t *info, void *data) {
#else
static herr_t add_table(hid_t g, const char *name, const H5O_info_t *info, void *data) {
#endif
    table_list *l = data;
    if (info->type != H5O_TYPE_DATASET) return 0;
    hid_t ds = H5Dopen2(g, name, H5P_DEFAULT);
    int yes = ds >= 0 && is_table(ds);
    if (ds >= 0) H5Dclose(ds);
    if (!yes) return 0;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return l->nomem = 1, -1;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(name))) return l->nomem = 1, -1;
    l->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int qs_h5_reader_tables(qs_h5_reader *r, int run, char ***paths, int *n) {
    *paths = NULL;
    *n = 0;
    char full[64];
    full_path(full, sizeof full, run, "");
    if (!path_exists(r->file, full)) return fail(r, QS_ERR_ARG, full, "no such run");
    hid_t g = H5Gopen2(r->file, full, H5P_DEFAULT);
    if (g < 0) {
        H5Eclear2(H5E_DEFAULT);
        return fail(r, QS_ERR_IO, full, "cannot open the run");
    }
    table_list l = {g, NULL, 0, 0, 0};
#if H5_VERSION_GE(1, 12, 0)
    herr_t e = H5Ovisit3(g, H5_INDEX_NAME, H5_ITER_INC, add_table, &l, H5O_INFO_BASIC);
#else
    herr_t e = H5Ovisit2(g, H5_INDEX_NAME, H5_ITER_INC, add_table, &l, H5O_INFO_BASIC);
#endif
    H5Gclose(g);
    H5Eclear2(H5E_DEFAULT);
    int rc = QS_OK;
    if (l.nomem)
        rc = qs_error_set(QS_ERR_NOMEM, "out of memory");
    else if (e < 0)
        rc = fail(r, QS_ERR_IO, full, "cannot walk the run");
    /* one block: the pointers, then the names */
    size_t bytes = (size_t)l.n * sizeof(char *);
    for (int i = 0; i < l.n; i++) bytes += strlen(l.v[i]) + 1;
    char **block = rc == QS_OK ? malloc(bytes ? bytes : 1) : NULL;
    if (rc == QS_OK && !block) rc = qs_error_set(QS_ERR_NOMEM, "out of memory");
    if (rc == QS_OK) {
        qsort(l.v, (size_t)l.n, sizeof *l.v, cmp_str);
        char *s = (char *)(block + l.n);
        for (int i = 0; i < l.n; i++) {
            size_t len = strlen(l.v[i]) + 1;
            memcpy(s, l.v[i], len);
            block[i] = s;
            s += len;
        }
        *paths = block;
        *n = l.n;
    }
    for (int i = 0; i < l.n; i++) free(l.v[i]);
    free(l.v);
    return rc;
}

void qs_h5_rows_free(qs_h5_rows *t) {
    if (!t) return;
    if (t->cols)
        for (size_t i = 0; i < t->ncols; i++) free((char *)t->cols[i].name);
    free(t->cols);
    free(t->cells);
    free(t->strings);
    free(t);
}

int qs_h5_rows_col(const qs_h5_rows *t, const char *name) {
    for (size_t i = 0; t && i < t->ncols; i++)
        if (strcmp(t->cols[i].name, name) == 0) return (int)i;
    return -1;
}

/* Reads ds (a table) into t: a packed memory row of the same members, then cells. */
/* How many of the last rows hold the table's own fill value: rows counted in the extent
 * that HDF5 never wrote (a kill -9 in mid-append, see row_fill in h5table.c). Tables made
 * before qscope set a fill value (HDF5's default, zeros) are taken whole. */
static size_t unwritten_tail(hid_t ds, hid_t mt, const unsigned char *buf, size_t rowsize,
                             size_t nrows) {
    hid_t dcpl = H5Dget_create_plist(ds);
    H5D_fill_value_t how = H5D_FILL_VALUE_UNDEFINED;
    unsigned char *fill = nrows ? malloc(rowsize) : NULL;
    size_t n = 0;
    if (dcpl >= 0 && fill && H5Pfill_value_defined(dcpl, &how) >= 0 &&
        how == H5D_FILL_VALUE_USER_DEFINED && H5Pget_fill_value(dcpl, mt, fill) >= 0)
        while (n < nrows && memcmp(buf + (nrows - 1 - n) * rowsize, fill, rowsize) == 0) n++;
    free(fill);
    if (dcpl >= 0) H5Pclose(dcpl);
    H5Eclear2(H5E_DEFAULT);
    return n;
}

static int read_rows(qs_h5_reader *r, hid_t ds, const char *full, qs_h5_rows *t) {
    hid_t ft = H5Dget_type(ds), sp = H5Dget_space(ds), mt = -1;
    int rc = QS_OK;
    int n = ft >= 0 ? H5Tget_nmembers(ft) : -1;
    hssize_t rows = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    if (n <= 0 || rows < 0) return fail(r, QS_ERR_IO, full, "cannot read the table's shape");
    t->ncols = (size_t)n;
    t->nrows = (size_t)rows;
    t->cols = calloc((size_t)n, sizeof *t->cols);
    size_t *offs = calloc((size_t)n, sizeof *offs), rowsize = 0;
    if (!t->cols || !offs) rc = qs_error_set(QS_ERR_NOMEM, "out of memory");
    for (int i = 0; rc == QS_OK && i < n; i++) {
        hid_t m = H5Tget_member_type(ft, (unsigned)i);
        char *name = H5Tget_member_name(ft, (unsigned)i);
        if (m < 0 || !name || !member_col(m, &t->cols[i]))
            rc = fail(r, QS_ERR_FORMAT, full, "a column is not int64, float64 or a string");
        else if (!(t->cols[i].name = strdup(name)))
            rc = qs_error_set(QS_ERR_NOMEM, "out of memory");
        offs[i] = rowsize;
        rowsize += t->cols[i].type == QS_H5_COL_STR ? t->cols[i].len : 8;
        if (name) H5free_memory(name);
        if (m >= 0) H5Tclose(m);
    }
    if (rc == QS_OK && (mt = H5Tcreate(H5T_COMPOUND, rowsize)) < 0)
        rc = fail(r, QS_ERR_IO, full, "cannot make a row type");
    for (int i = 0; rc == QS_OK && i < n; i++) {
        const qs_h5_col *c = &t->cols[i];
        herr_t e;
        if (c->type == QS_H5_COL_STR) {
            hid_t st = H5Tcopy(H5T_C_S1);
            e = st < 0 || H5Tset_size(st, c->len) < 0 || H5Tset_strpad(st, H5T_STR_NULLPAD) < 0 ||
                        H5Tset_cset(st, H5T_CSET_UTF8) < 0
                    ? -1
                    : H5Tinsert(mt, c->name, offs[i], st);
            if (st >= 0) H5Tclose(st);
        } else {
            e = H5Tinsert(mt, c->name, offs[i],
                          c->type == QS_H5_COL_I64 ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE);
        }
        if (e < 0) rc = fail(r, QS_ERR_IO, full, "cannot make a row type");
    }
    unsigned char *buf = NULL;
    size_t strbytes = 0;
    for (int i = 0; i < n && rc == QS_OK; i++)
        if (t->cols[i].type == QS_H5_COL_STR) strbytes += (t->cols[i].len + 1) * t->nrows;
    if (rc == QS_OK) {
        buf = malloc(rowsize * t->nrows + 1);
        t->cells = calloc(t->nrows * t->ncols + 1, sizeof *t->cells);
        t->strings = malloc(strbytes + 1);
        if (!buf || !t->cells || !t->strings) rc = qs_error_set(QS_ERR_NOMEM, "out of memory");
    }
    if (rc == QS_OK && t->nrows && H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        rc = fail(r, QS_ERR_IO, full, "cannot read the rows (a damaged chunk fails its checksum)");
    if (rc == QS_OK) t->nrows -= unwritten_tail(ds, mt, buf, rowsize, t->nrows);
    char *s = t->strings;
    for (size_t row = 0; rc == QS_OK && row < t->nrows; row++)
        for (size_t i = 0; i < t->ncols; i++) {
            const unsigned char *p = buf + row * rowsize + offs[i];
            qs_h5_value *v = &t->cells[row * t->ncols + i];
            v->type = t->cols[i].type;
            if (v->type == QS_H5_COL_I64) {
                int64_t x;
                memcpy(&x, p, 8);
                v->u.i = x;
            } else if (v->type == QS_H5_COL_F64) {
                memcpy(&v->u.f, p, 8);
            } else {
                size_t len = strnlen((const char *)p, t->cols[i].len);
                memcpy(s, p, len);
                s[len] = '\0';
                v->u.s = s;
                s += len + 1;
            }
        }
    free(buf);
    free(offs);
    if (mt >= 0) H5Tclose(mt);
    if (ft >= 0) H5Tclose(ft);
    if (sp >= 0) H5Sclose(sp);
    H5Eclear2(H5E_DEFAULT);
    return rc;
}

int qs_h5_reader_table(qs_h5_reader *r, int run, const char *path, qs_h5_rows **out) {
    *out = NULL;
    char full[1024];
    if (!full_path(full, sizeof full, run, path))
        return fail(r, QS_ERR_ARG, path, "path too long");
    if (!path_exists(r->file, full)) return QS_OK;
    hid_t ds = H5Dopen2(r->file, full, H5P_DEFAULT);
    if (ds < 0) {
        H5Eclear2(H5E_DEFAULT);
        return fail(r, QS_ERR_FORMAT, full, "not a table");
    }
    int rc = is_table(ds) ? QS_OK : fail(r, QS_ERR_FORMAT, full, "not a table");
    qs_h5_rows *t = NULL;
    if (rc == QS_OK && !(t = calloc(1, sizeof *t))) rc = qs_error_set(QS_ERR_NOMEM, "no memory");
    if (rc == QS_OK) rc = read_rows(r, ds, full, t);
    H5Dclose(ds);
    H5Eclear2(H5E_DEFAULT);
    if (rc) {
        qs_h5_rows_free(t);
        return rc;
    }
    *out = t;
    return QS_OK;
}

/* ---- copying attributes -------------------------------------------------------------------- */

typedef struct name_list {
    char **v;
    int n, cap, nomem;
} name_list;

static herr_t add_name(hid_t o, const char *name, const H5A_info_t *info, void *data) {
    (void)o, (void)info;
    name_list *l = data;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return l->nomem = 1, -1;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(name))) return l->nomem = 1, -1;
    l->n++;
    return 0;
}

/* One attribute onto dst: scalars (integer, float, string) and 1-D arrays of floats or
 * variable-length strings; anything else is left out (returns QS_OK). */
static int copy_one(qs_h5 *dst, const char *dst_obj, qs_h5_reader *r, hid_t o, const char *full,
                    const char *name) {
    hid_t a = H5Aopen(o, name, H5P_DEFAULT);
    if (a < 0) return fail(r, QS_ERR_IO, full, "cannot open an attribute");
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    hssize_t np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    int rc = QS_OK;
    if (rank == 0 && (cls == H5T_STRING || cls == H5T_INTEGER || cls == H5T_FLOAT)) {
        if (cls == H5T_INTEGER) {
            long long v;
            rc = H5Aread(a, H5T_NATIVE_LLONG, &v) < 0 ? fail(r, QS_ERR_IO, full, name)
                                                       : qs_h5_attr_i64(dst, dst_obj, name, v);
        } else if (cls == H5T_FLOAT) {
            double v;
            rc = H5Aread(a, H5T_NATIVE_DOUBLE, &v) < 0 ? fail(r, QS_ERR_IO, full, name)
                                                        : qs_h5_attr_f64(dst, dst_obj, name, v);
        } else {
            char *v = NULL;
            rc = read_attr(r, a, full, &v);
            if (rc == QS_OK) rc = qs_h5_attr_str(dst, dst_obj, name, v);
            free(v);
        }
    } else if (rank == 1 && cls == H5T_FLOAT) {
        double *v = malloc(((size_t)np + 1) * sizeof *v);
        if (!v)
            rc = qs_error_set(QS_ERR_NOMEM, "out of memory");
        else if (H5Aread(a, H5T_NATIVE_DOUBLE, v) < 0)
            rc = fail(r, QS_ERR_IO, full, name);
        else
            rc = qs_h5_attr_f64s(dst, dst_obj, name, v, (size_t)np);
        free(v);
    } else if (rank == 1 && cls == H5T_STRING && H5Tis_variable_str(t) > 0) {
        char **v = calloc((size_t)np + 1, sizeof *v);
        hid_t mt = H5Tcopy(H5T_C_S1);
        if (!v || mt < 0 || H5Tset_size(mt, H5T_VARIABLE) < 0 ||
            H5Tset_cset(mt, H5Tget_cset(t)) < 0)
            rc = qs_error_set(QS_ERR_NOMEM, "out of memory");
        else if (H5Aread(a, mt, v) < 0)
            rc = fail(r, QS_ERR_IO, full, name);
        else
            rc = qs_h5_attr_strs(dst, dst_obj, name, (const char *const *)v, (size_t)np);
        if (v && mt >= 0 && sp >= 0 && rc != QS_ERR_NOMEM) H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, v);
        if (mt >= 0) H5Tclose(mt);
        free(v);
    }
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    H5Aclose(a);
    H5Eclear2(H5E_DEFAULT);
    return rc;
}

int qs_h5_copy_attrs(qs_h5 *dst, const char *dst_obj, qs_h5_reader *r, int run, const char *obj,
                     const char *const *only) {
    char full[1024];
    if (!full_path(full, sizeof full, run, obj)) return fail(r, QS_ERR_ARG, obj, "path too long");
    if (!path_exists(r->file, full)) return QS_OK;
    hid_t o = H5Oopen(r->file, full, H5P_DEFAULT);
    if (o < 0) {
        H5Eclear2(H5E_DEFAULT);
        return fail(r, QS_ERR_IO, full, "cannot open the object");
    }
    name_list l = {0};
    hsize_t idx = 0;
    int rc = H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_INC, &idx, add_name, &l) < 0
                 ? (l.nomem ? qs_error_set(QS_ERR_NOMEM, "out of memory")
                            : fail(r, QS_ERR_IO, full, "cannot list the attributes"))
                 : QS_OK;
    for (int i = 0; i < l.n && rc == QS_OK; i++) {
        int wanted = !only;
        for (int k = 0; only && only[k] && !wanted; k++) wanted = strcmp(only[k], l.v[i]) == 0;
        if (wanted) rc = copy_one(dst, dst_obj, r, o, full, l.v[i]);
    }
    for (int i = 0; i < l.n; i++) free(l.v[i]);
    free(l.v);
    H5Oclose(o);
    H5Eclear2(H5E_DEFAULT);
    return rc;
}
