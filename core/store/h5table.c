/* Tables: compound datasets of int64 / float64 / fixed-length UTF-8 string columns, one
 * row appended (and flushed) at a time. Rows are packed without padding, in column order,
 * both in memory and in the file, so h5py's structured dtype has exactly these fields. */
#include "h5store_int.h"

#include "error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define QS_H5_MAX_COLS   1024
#define QS_H5_MAX_STRLEN 65535

struct qs_h5_table {
    qs__h5_child child; /* first: the file's list points here */
    hid_t ds, mtype;
    qs_h5_col *cols; /* copies; names owned */
    size_t *offs;    /* byte offset of each column in a packed row */
    size_t ncols, rowsize;
    uint64_t chunk_bytes;   /* the most one append can add in raw data */
    unsigned char *row;     /* (rowsize) packing buffer for qs_h5_table_append */
    unsigned char *pending; /* (rowsize) row built by qs_h5_table_set_* */
    uint64_t truncated;
    char *full;
};

size_t qs_h5_utf8_prefix(const char *s, size_t n, size_t max) {
    if (n <= max) return n;
    /* s[max] is the first byte cut off; if it continues a sequence, the sequence started
     * before the cut: back up to its lead byte (at most 3 steps in valid UTF-8). */
    size_t k = max;
    for (int back = 0; k > 0 && back < 4 && ((unsigned char)s[k] & 0xC0) == 0x80; back++) k--;
    if (((unsigned char)s[k] & 0xC0) == 0x80) return max; /* not UTF-8: plain byte cut */
    return k;
}

static size_t col_size(const qs_h5_col *c) { return c->type == QS_H5_COL_STR ? c->len : 8; }

static const char *type_name(qs_h5_coltype t) {
    return t == QS_H5_COL_I64   ? "int64"
           : t == QS_H5_COL_F64 ? "float64"
           : t == QS_H5_COL_STR ? "string"
                                : "?";
}

static hid_t str_type(size_t len) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return t;
    if (H5Tset_size(t, len) < 0 || H5Tset_strpad(t, H5T_STR_NULLPAD) < 0 ||
        H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/* The compound type of a row; native = memory layout, else little-endian file layout. */
static hid_t row_type(const qs_h5_table *t, int native) {
    hid_t ct = H5Tcreate(H5T_COMPOUND, t->rowsize);
    if (ct < 0) return ct;
    for (size_t i = 0; i < t->ncols; i++) {
        const qs_h5_col *c = &t->cols[i];
        herr_t e;
        if (c->type == QS_H5_COL_STR) {
            hid_t st = str_type(c->len);
            e = st < 0 ? -1 : H5Tinsert(ct, c->name, t->offs[i], st);
            if (st >= 0) H5Tclose(st);
        } else if (c->type == QS_H5_COL_I64) {
            e = H5Tinsert(ct, c->name, t->offs[i], native ? H5T_NATIVE_INT64 : H5T_STD_I64LE);
        } else {
            e = H5Tinsert(ct, c->name, t->offs[i], native ? H5T_NATIVE_DOUBLE : H5T_IEEE_F64LE);
        }
        if (e < 0) {
            H5Tclose(ct);
            return -1;
        }
    }
    return ct;
}

/* The default pending row: int64 0, float64 NaN, string empty. */
static void row_defaults(const qs_h5_table *t, unsigned char *row) {
    memset(row, 0, t->rowsize);
    for (size_t i = 0; i < t->ncols; i++)
        if (t->cols[i].type == QS_H5_COL_F64) {
            double nan = NAN;
            memcpy(row + t->offs[i], &nan, 8);
        }
}

/* The table's fill value, what a reader sees in a row the table counts but HDF5 never
 * wrote: float64 NaN, int64 INT64_MIN, string empty. A kill -9 between HDF5's flush of a
 * grown extent and that of the new chunk's index entry (HDF5 orders neither) leaves the row
 * being appended so; unlike all-zero it cannot pass for a measurement, and the readers
 * (qs_h5_reader_table, scripts/qscope_h5.py) drop such trailing rows. */
static void row_fill(const qs_h5_table *t, unsigned char *row) {
    row_defaults(t, row);
    for (size_t i = 0; i < t->ncols; i++)
        if (t->cols[i].type == QS_H5_COL_I64) {
            int64_t lo = INT64_MIN;
            memcpy(row + t->offs[i], &lo, 8);
        }
}

static void table_free(qs_h5_table *t) {
    if (!t) return;
    if (t->cols)
        for (size_t i = 0; i < t->ncols; i++) free((char *)t->cols[i].name);
    free(t->cols);
    free(t->offs);
    free(t->row);
    free(t->pending);
    free(t->full);
    free(t);
}

static void table_release(qs__h5_child *c) {
    qs_h5_table *t = (qs_h5_table *)c;
    if (t->ds >= 0) H5Dclose(t->ds);
    if (t->mtype >= 0) H5Tclose(t->mtype);
    t->ds = t->mtype = -1;
}

static int check_schema(qs_h5 *h, const char *path, const qs_h5_col *cols, size_t ncols) {
    if (!cols || ncols == 0)
        return qs_error_set(QS_ERR_ARG, "%s: %s: a table needs at least one column", h->path, path);
    if (ncols > QS_H5_MAX_COLS)
        return qs_error_set(QS_ERR_ARG, "%s: %s: %zu columns, at most %d", h->path, path, ncols,
                            QS_H5_MAX_COLS);
    for (size_t i = 0; i < ncols; i++) {
        const qs_h5_col *c = &cols[i];
        if (!c->name || !*c->name)
            return qs_error_set(QS_ERR_ARG, "%s: %s: column %zu has no name", h->path, path, i);
        if (qs__h5_check_name(h, "a column name", c->name))
            return qs_error_prefix(QS_ERR_ARG, "%s: column %zu", path, i);
        if (c->type != QS_H5_COL_I64 && c->type != QS_H5_COL_F64 && c->type != QS_H5_COL_STR)
            return qs_error_set(QS_ERR_ARG, "%s: %s: column '%s' has unknown type %d", h->path,
                                path, c->name, (int)c->type);
        if (c->type == QS_H5_COL_STR && (c->len == 0 || c->len > QS_H5_MAX_STRLEN))
            return qs_error_set(QS_ERR_ARG, "%s: %s: string column '%s' length %zu not in 1..%d",
                                h->path, path, c->name, c->len, QS_H5_MAX_STRLEN);
        for (size_t j = 0; j < i; j++)
            if (strcmp(cols[j].name, c->name) == 0)
                return qs_error_set(QS_ERR_ARG, "%s: %s: duplicate column name '%s'", h->path, path,
                                    c->name);
    }
    return QS_OK;
}

/* An existing table must have exactly our columns, in order. */
static int match_existing(qs_h5 *h, qs_h5_table *t) {
    int rc = QS_OK;
    hid_t ft = H5Dget_type(t->ds), sp = H5Dget_space(t->ds);
    if (ft < 0 || sp < 0) {
        rc = qs__h5_fail(QS_ERR_IO, h, t->full, "cannot read table type");
        goto done;
    }
    hsize_t dims[1], maxd[1];
    if (H5Tget_class(ft) != H5T_COMPOUND || H5Sget_simple_extent_ndims(sp) != 1) {
        rc = qs_error_set(QS_ERR_FORMAT, "%s: %s: exists but is not a table (1-D compound)",
                          h->path, t->full);
        goto done;
    }
    H5Sget_simple_extent_dims(sp, dims, maxd);
    if (maxd[0] != H5S_UNLIMITED) {
        rc = qs_error_set(QS_ERR_FORMAT, "%s: %s: exists but cannot grow", h->path, t->full);
        goto done;
    }
    int nm = H5Tget_nmembers(ft);
    if (nm != (int)t->ncols) {
        rc = qs_error_set(QS_ERR_FORMAT, "%s: %s: exists with %d columns, expected %zu", h->path,
                          t->full, nm, t->ncols);
        goto done;
    }
    for (size_t i = 0; i < t->ncols && rc == QS_OK; i++) {
        const qs_h5_col *c = &t->cols[i];
        char *name = H5Tget_member_name(ft, (unsigned)i);
        hid_t mt = H5Tget_member_type(ft, (unsigned)i);
        H5T_class_t cl = mt >= 0 ? H5Tget_class(mt) : H5T_NO_CLASS;
        size_t sz = mt >= 0 ? H5Tget_size(mt) : 0;
        int ok = name && strcmp(name, c->name) == 0 && sz == col_size(c);
        if (ok && c->type == QS_H5_COL_I64) ok = cl == H5T_INTEGER && H5Tget_sign(mt) == H5T_SGN_2;
        if (ok && c->type == QS_H5_COL_F64) ok = cl == H5T_FLOAT;
        if (ok && c->type == QS_H5_COL_STR) ok = cl == H5T_STRING && H5Tis_variable_str(mt) == 0;
        if (!ok)
            rc = qs_error_set(QS_ERR_FORMAT,
                              "%s: %s: exists with column %zu = '%s' (%zu bytes), expected '%s' "
                              "(%s, %zu bytes)",
                              h->path, t->full, i, name ? name : "?", sz, c->name,
                              type_name(c->type), col_size(c));
        if (name) H5free_memory(name);
        if (mt >= 0) H5Tclose(mt);
    }
done:
    if (ft >= 0) H5Tclose(ft);
    if (sp >= 0) H5Sclose(sp);
    return rc;
}

int qs_h5_table_open(qs_h5_table **out, qs_h5 *h, const char *path, const qs_h5_col *cols,
                     size_t ncols) {
    if (!out) return qs_error_set(QS_ERR_ARG, "qs_h5_table_open: out is NULL");
    *out = NULL;
    int rc = qs__h5_writable(h, "qs_h5_table_open");
    if (rc) return rc;
    rc = check_schema(h, path ? path : "", cols, ncols);
    if (rc) return rc;

    qs_h5_table *t = calloc(1, sizeof *t);
    if (!t) return qs_error_set(QS_ERR_NOMEM, "qs_h5_table_open: out of memory");
    t->ds = t->mtype = -1;
    t->ncols = ncols;
    t->cols = calloc(ncols, sizeof *t->cols);
    t->offs = calloc(ncols, sizeof *t->offs);
    if (!t->cols || !t->offs) {
        table_free(t);
        return qs_error_set(QS_ERR_NOMEM, "qs_h5_table_open: out of memory");
    }
    for (size_t i = 0; i < ncols; i++) {
        t->cols[i] = cols[i];
        t->cols[i].name = strdup(cols[i].name);
        if (!t->cols[i].name) {
            table_free(t);
            return qs_error_set(QS_ERR_NOMEM, "qs_h5_table_open: out of memory");
        }
        if (cols[i].type != QS_H5_COL_STR) t->cols[i].len = 0;
        t->offs[i] = t->rowsize;
        t->rowsize += col_size(&cols[i]);
    }
    t->row = malloc(t->rowsize);
    t->pending = malloc(t->rowsize);
    rc = qs__h5_fullpath(h, path, 0, &t->full);
    if (rc == QS_OK && (!t->row || !t->pending))
        rc = qs_error_set(QS_ERR_NOMEM, "qs_h5_table_open: out of memory");
    if (rc == QS_OK) {
        row_defaults(t, t->pending);
        t->mtype = row_type(t, 1);
        if (t->mtype < 0) rc = qs__h5_fail(QS_ERR_IO, h, t->full, "cannot build the row type");
    }
    int kind = rc ? 0 : qs__h5_kind(h, t->full);
    if (rc) {
    } else if (kind < 0)
        rc = -kind;
    else if (kind == QS__H5_DATASET) {
        t->ds = H5Dopen2(h->file, t->full, H5P_DEFAULT);
        if (t->ds < 0)
            rc = qs__h5_fail(QS_ERR_IO, h, t->full, "cannot reopen table");
        else
            rc = match_existing(h, t);
        hid_t dcpl = t->ds >= 0 ? H5Dget_create_plist(t->ds) : -1;
        hsize_t ch[1] = {0};
        if (rc == QS_OK && (dcpl < 0 || H5Pget_chunk(dcpl, 1, ch) != 1))
            rc = qs__h5_fail(QS_ERR_FORMAT, h, t->full, "exists but is not chunked");
        if (dcpl >= 0) H5Pclose(dcpl);
        t->chunk_bytes = (uint64_t)ch[0] * t->rowsize;
    } else if (kind != QS__H5_NONE) {
        rc = qs_error_set(QS_ERR_ARG, "%s: %s: taken by a group (or a parent is a dataset)",
                          h->path, t->full);
    } else {
        rc = qs__h5_make_groups(h, t->full, 0);
        /* Every append rewrites its chunk in place. A chunk that fits one page (with its
         * 4-byte checksum; the file aligns it, see QS__H5_PAGE) is written by one pwrite
         * that a kill cannot tear, so the rows flushed before in that chunk survive a kill
         * -9 in mid-append. Rows too large for that get a chunk each: written once, a torn
         * write can then only damage the row being appended. */
        hsize_t per = (QS__H5_PAGE - 4) / t->rowsize;
        hsize_t chunk[1] = {per ? per : 1}, dims[1] = {0}, maxd[1] = {H5S_UNLIMITED};
        t->chunk_bytes = chunk[0] * t->rowsize;
        hid_t ftype = -1, space = -1, dcpl = -1;
        if (rc == QS_OK) rc = qs__h5_room(h, t->chunk_bytes, t->full);
        if (rc == QS_OK) {
            ftype = row_type(t, 0);
            space = H5Screate_simple(1, dims, maxd);
            dcpl = H5Pcreate(H5P_DATASET_CREATE);
            /* Fletcher32: a reader (h5py included) refuses a chunk whose rows were damaged */
            row_fill(t, t->row);
            if (ftype < 0 || space < 0 || dcpl < 0 || H5Pset_chunk(dcpl, 1, chunk) < 0 ||
                H5Pset_fletcher32(dcpl) < 0 || H5Pset_fill_value(dcpl, t->mtype, t->row) < 0)
                rc = qs__h5_fail(QS_ERR_IO, h, t->full, "cannot set up the table layout");
        }
        if (rc == QS_OK) {
            t->ds = H5Dcreate2(h->file, t->full, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
            if (t->ds < 0) rc = qs__h5_fail(QS_ERR_IO, h, t->full, "cannot create table");
        }
        if (ftype >= 0) H5Tclose(ftype);
        if (space >= 0) H5Sclose(space);
        if (dcpl >= 0) H5Pclose(dcpl);
        if (rc == QS_OK) rc = qs__h5_flush(h, t->full);
    }
    if (rc) {
        table_release(&t->child);
        H5Eclear2(H5E_DEFAULT);
        table_free(t);
        return rc;
    }
    t->child.release = table_release;
    qs__h5_child_add(h, &t->child);
    *out = t;
    return QS_OK;
}

static int table_live(const qs_h5_table *t, const char *fn) {
    if (!t) return qs_error_set(QS_ERR_ARG, "%s: table is NULL", fn);
    if (!t->child.h || t->ds < 0)
        return qs_error_set(QS_ERR_ARG, "%s: table %s used after its file was closed", fn, t->full);
    return QS_OK;
}

/* Packs one cell into row. Strings are cut to the column at a UTF-8 boundary. */
static int pack_cell(qs_h5_table *t, size_t i, const qs_h5_value *v, unsigned char *row) {
    const qs_h5_col *c = &t->cols[i];
    unsigned char *dst = row + t->offs[i];
    qs_h5 *h = t->child.h;
    if (c->type == QS_H5_COL_STR) {
        if (v->type != QS_H5_COL_STR)
            return qs_error_set(QS_ERR_ARG, "%s: %s: column '%s' is a string, got %s", h->path,
                                t->full, c->name, type_name(v->type));
        const char *s = v->u.s ? v->u.s : "";
        size_t n = strlen(s), k = qs_h5_utf8_prefix(s, n, c->len);
        if (k < n) t->truncated++;
        memset(dst, 0, c->len);
        memcpy(dst, s, k);
    } else if (c->type == QS_H5_COL_F64) {
        double d;
        if (v->type == QS_H5_COL_F64)
            d = v->u.f;
        else if (v->type == QS_H5_COL_I64)
            d = (double)v->u.i;
        else
            return qs_error_set(QS_ERR_ARG, "%s: %s: column '%s' is float64, got %s", h->path,
                                t->full, c->name, type_name(v->type));
        memcpy(dst, &d, 8);
    } else {
        int64_t x;
        if (v->type == QS_H5_COL_I64) x = v->u.i;
        /* 9223372036854775808.0 is 2^63, the first double out of int64 range */
        else if (v->type == QS_H5_COL_F64 && isfinite(v->u.f) && v->u.f == floor(v->u.f) &&
                 v->u.f >= -9223372036854775808.0 && v->u.f < 9223372036854775808.0)
            x = (int64_t)v->u.f;
        else if (v->type == QS_H5_COL_F64)
            return qs_error_set(QS_ERR_ARG, "%s: %s: column '%s' is int64, got %g", h->path,
                                t->full, c->name, v->u.f);
        else
            return qs_error_set(QS_ERR_ARG, "%s: %s: column '%s' is int64, got %s", h->path,
                                t->full, c->name, type_name(v->type));
        memcpy(dst, &x, 8);
    }
    return QS_OK;
}

/* Writes one packed row at the end of the table and flushes the file. */
static int write_row(qs_h5_table *t, const unsigned char *row) {
    qs_h5 *h = t->child.h;
    int rc = qs__h5_writable(h, "qs_h5_table_append");
    if (rc == QS_OK) rc = qs__h5_room(h, t->chunk_bytes, t->full);
    if (rc) return rc;
    hid_t fs = H5Dget_space(t->ds);
    if (fs < 0) return qs__h5_fail(QS_ERR_IO, h, t->full, "cannot read the row count");
    hsize_t n[1];
    H5Sget_simple_extent_dims(fs, n, NULL);
    H5Sclose(fs);
    hsize_t grown[1] = {n[0] + 1}, start[1] = {n[0]}, one[1] = {1};
    if (H5Dset_extent(t->ds, grown) < 0) {
        rc = qs__h5_fail(QS_ERR_IO, h, t->full, "cannot extend to %llu rows",
                         (unsigned long long)grown[0]);
        qs__h5_freeze(h);
        return rc;
    }
    fs = H5Dget_space(t->ds);
    hid_t ms = H5Screate_simple(1, one, NULL);
    if (fs < 0 || ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, one, NULL) < 0)
        rc = qs__h5_fail(QS_ERR_IO, h, t->full, "cannot select row %llu", (unsigned long long)n[0]);
    else if (H5Dwrite(t->ds, t->mtype, ms, fs, H5P_DEFAULT, row) < 0)
        rc = qs__h5_fail(QS_ERR_IO, h, t->full, "cannot write row %llu", (unsigned long long)n[0]);
    if (fs >= 0) H5Sclose(fs);
    if (ms >= 0) H5Sclose(ms);
    if (rc) {
        qs__h5_freeze(h);
        return rc;
    }
    rc = qs__h5_flush_dataset(h, t->ds, t->full);
    if (rc) qs_error_prefix(rc, "appending row %llu", (unsigned long long)n[0]);
    return rc;
}

int qs_h5_table_append(qs_h5_table *t, const qs_h5_value *row) {
    int rc = table_live(t, "qs_h5_table_append");
    if (rc) return rc;
    if (!row) return qs_error_set(QS_ERR_ARG, "%s: %s: row is NULL", t->child.h->path, t->full);
    uint64_t trunc0 = t->truncated;
    for (size_t i = 0; i < t->ncols; i++) {
        rc = pack_cell(t, i, &row[i], t->row);
        if (rc) {
            t->truncated = trunc0;
            return rc;
        }
    }
    return write_row(t, t->row);
}

int qs_h5_table_col(const qs_h5_table *t, const char *name) {
    if (!t || !name) return -1;
    for (size_t i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i].name, name) == 0) return (int)i;
    return -1;
}

static int set_cell(qs_h5_table *t, const char *col, const qs_h5_value *v) {
    int rc = table_live(t, "qs_h5_table_set");
    if (rc) return rc;
    int i = qs_h5_table_col(t, col);
    if (i < 0)
        return qs_error_set(QS_ERR_ARG, "%s: %s: no column named '%s'", t->child.h->path, t->full,
                            col ? col : "(null)");
    return pack_cell(t, (size_t)i, v, t->pending);
}

int qs_h5_table_set_i64(qs_h5_table *t, const char *col, int64_t v) {
    qs_h5_value x = QS_H5_VI64(v);
    return set_cell(t, col, &x);
}

int qs_h5_table_set_f64(qs_h5_table *t, const char *col, double v) {
    qs_h5_value x = QS_H5_VF64(v);
    return set_cell(t, col, &x);
}

int qs_h5_table_set_str(qs_h5_table *t, const char *col, const char *v) {
    qs_h5_value x = QS_H5_VSTR(v);
    return set_cell(t, col, &x);
}

int qs_h5_table_commit(qs_h5_table *t) {
    int rc = table_live(t, "qs_h5_table_commit");
    if (rc) return rc;
    rc = write_row(t, t->pending);
    row_defaults(t, t->pending);
    return rc;
}

uint64_t qs_h5_table_rows(const qs_h5_table *t) {
    if (!t || !t->child.h || t->ds < 0) return 0;
    hid_t fs = H5Dget_space(t->ds);
    if (fs < 0) return 0;
    hsize_t n[1] = {0};
    H5Sget_simple_extent_dims(fs, n, NULL);
    H5Sclose(fs);
    return n[0];
}

uint64_t qs_h5_table_truncated(const qs_h5_table *t) { return t ? t->truncated : 0; }

int qs_h5_table_close(qs_h5_table *t) {
    if (!t) return QS_OK;
    int rc = QS_OK;
    if (t->child.h) {
        qs_h5 *h = t->child.h;
        qs__h5_child_remove(h, &t->child);
        if (t->ds >= 0 && H5Dclose(t->ds) < 0)
            rc = qs__h5_fail(QS_ERR_IO, h, t->full, "cannot close table");
        if (t->mtype >= 0) H5Tclose(t->mtype);
        t->ds = t->mtype = -1;
    } else {
        table_release(&t->child);
    }
    table_free(t);
    return rc;
}
