/* Numeric datasets: fixed arrays written once (statistics [L, C], weights, histograms)
 * and extendable float32 dumps appended in row blocks. */
#include "h5store_int.h"

#include "error.h"

#include <stdlib.h>
#include <string.h>

static int dtype_types(qs_h5_dtype dt, hid_t *ftype, hid_t *mtype, size_t *size) {
    switch (dt) {
    case QS_H5_F32:
        *ftype = H5T_IEEE_F32LE;
        *mtype = H5T_NATIVE_FLOAT;
        *size = 4;
        return 1;
    case QS_H5_F64:
        *ftype = H5T_IEEE_F64LE;
        *mtype = H5T_NATIVE_DOUBLE;
        *size = 8;
        return 1;
    case QS_H5_I32:
        *ftype = H5T_STD_I32LE;
        *mtype = H5T_NATIVE_INT32;
        *size = 4;
        return 1;
    case QS_H5_I64:
        *ftype = H5T_STD_I64LE;
        *mtype = H5T_NATIVE_INT64;
        *size = 8;
        return 1;
    }
    return 0;
}

/* A new dataset must not replace anything: returns QS_OK when full is free (parents made). */
static int claim_path(qs_h5 *h, const char *full) {
    int k = qs__h5_kind(h, full);
    if (k < 0) return -k;
    if (k != QS__H5_NONE)
        return qs_error_set(QS_ERR_ARG, "%s: %s: already exists; datasets are never overwritten",
                            h->path, full);
    return qs__h5_make_groups(h, full, 0);
}

int qs_h5_array_write(qs_h5 *h, const char *path, qs_h5_dtype dtype, const void *data, int rank,
                      const size_t *dims) {
    int rc = qs__h5_writable(h, "qs_h5_array_write");
    if (rc) return rc;
    hid_t ftype, mtype;
    size_t esize;
    if (!dtype_types(dtype, &ftype, &mtype, &esize))
        return qs_error_set(QS_ERR_ARG, "%s: %s: unknown element type %d", h->path,
                            path ? path : "", (int)dtype);
    if (rank < 1 || rank > 4 || !dims)
        return qs_error_set(QS_ERR_ARG, "%s: %s: rank %d not in 1..4", h->path, path ? path : "",
                            rank);
    hsize_t hd[4];
    size_t count = 1;
    for (int i = 0; i < rank; i++) {
        hd[i] = dims[i];
        if (dims[i] && count > SIZE_MAX / esize / dims[i])
            return qs_error_set(QS_ERR_NOMEM, "%s: %s: array size overflows", h->path, path);
        count *= dims[i];
    }
    if (count && !data)
        return qs_error_set(QS_ERR_ARG, "%s: %s: data is NULL for %zu elements", h->path, path,
                            count);
    char *full;
    rc = qs__h5_fullpath(h, path, 0, &full);
    if (rc) return rc;
    rc = qs__h5_room(h, count * esize, full);
    if (rc == QS_OK) rc = claim_path(h, full);
    hid_t space = -1, ds = -1;
    if (rc == QS_OK) {
        space = H5Screate_simple(rank, hd, NULL);
        if (space < 0) rc = qs__h5_fail(QS_ERR_IO, h, full, "cannot make a dataspace");
    }
    if (rc == QS_OK) {
        ds = H5Dcreate2(h->file, full, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (ds < 0) rc = qs__h5_fail(QS_ERR_IO, h, full, "cannot create dataset");
    }
    int wrote = 0;
    if (rc == QS_OK && count && H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
        rc = qs__h5_fail(QS_ERR_IO, h, full, "cannot write %zu elements", count);
        qs__h5_freeze(h);
    } else if (rc == QS_OK) {
        wrote = 1;
        rc = qs__h5_flush_dataset(h, ds, full);
    }
    if (ds >= 0 && H5Dclose(ds) < 0 && rc == QS_OK)
        rc = qs__h5_fail(QS_ERR_IO, h, full, "cannot close dataset");
    if (space >= 0) H5Sclose(space);
    /* a dataset that was created but never written is unlinked so a retry can use the name */
    if (rc && ds >= 0 && !wrote && !h->frozen) {
        H5Ldelete(h->file, full, H5P_DEFAULT);
        H5Eclear2(H5E_DEFAULT);
    }
    free(full);
    return rc;
}

int qs_h5_matrix_write(qs_h5 *h, const char *path, qs_h5_dtype dtype, const void *data, size_t rows,
                       size_t cols) {
    size_t dims[2] = {rows, cols};
    return qs_h5_array_write(h, path, dtype, data, 2, dims);
}

int qs_h5_vector_write(qs_h5 *h, const char *path, qs_h5_dtype dtype, const void *data, size_t n) {
    size_t dims[1] = {n};
    return qs_h5_array_write(h, path, dtype, data, 1, dims);
}

/* ---- dumps ---------------------------------------------------------------------------- */

struct qs_h5_dump {
    qs__h5_child child; /* first: the file's list points here */
    hid_t ds;
    size_t cols, chunk_rows;
    uint64_t rows;
    char *full;
};

static void dump_release(qs__h5_child *c) {
    qs_h5_dump *d = (qs_h5_dump *)c;
    if (d->ds >= 0) H5Dclose(d->ds);
    d->ds = -1;
}

static int deflate_usable(void) {
    htri_t avail = H5Zfilter_avail(H5Z_FILTER_DEFLATE);
    if (avail <= 0) return 0;
    unsigned flags = 0;
    if (H5Zget_filter_info(H5Z_FILTER_DEFLATE, &flags) < 0) return 0;
    return (flags & H5Z_FILTER_CONFIG_ENCODE_ENABLED) != 0;
}

/* Checks that an existing dataset is a [rows, cols] float32 dump with unlimited rows. */
static int dump_check(qs_h5 *h, qs_h5_dump *d) {
    int rc = QS_OK;
    hid_t t = H5Dget_type(d->ds), s = H5Dget_space(d->ds);
    hsize_t dims[2], maxd[2];
    if (t < 0 || s < 0)
        rc = qs__h5_fail(QS_ERR_IO, h, d->full, "cannot read type/shape");
    else if (H5Tget_class(t) != H5T_FLOAT || H5Tget_size(t) != 4 ||
             H5Sget_simple_extent_ndims(s) != 2)
        rc = qs_error_set(QS_ERR_FORMAT, "%s: %s: exists but is not a 2-D float32 dataset", h->path,
                          d->full);
    else {
        H5Sget_simple_extent_dims(s, dims, maxd);
        if (dims[1] != d->cols || maxd[0] != H5S_UNLIMITED)
            rc = qs_error_set(QS_ERR_FORMAT,
                              "%s: %s: exists with %llu columns%s, expected %zu extendable",
                              h->path, d->full, (unsigned long long)dims[1],
                              maxd[0] == H5S_UNLIMITED ? "" : " (fixed rows)", d->cols);
        else
            d->rows = dims[0];
    }
    if (t >= 0) H5Tclose(t);
    if (s >= 0) H5Sclose(s);
    return rc;
}

int qs_h5_dump_open(qs_h5_dump **out, qs_h5 *h, const char *path, size_t cols, size_t chunk_rows,
                    int gzip_level) {
    if (!out) return qs_error_set(QS_ERR_ARG, "qs_h5_dump_open: out is NULL");
    *out = NULL;
    int rc = qs__h5_writable(h, "qs_h5_dump_open");
    if (rc) return rc;
    if (cols == 0)
        return qs_error_set(QS_ERR_ARG, "%s: %s: dump needs at least one column", h->path,
                            path ? path : "");
    if (gzip_level < 0 || gzip_level > 9)
        return qs_error_set(QS_ERR_ARG, "%s: %s: gzip level %d not in 0..9", h->path,
                            path ? path : "", gzip_level);
    if (chunk_rows == 0) {
        chunk_rows = (1u << 20) / (4 * cols);
        if (chunk_rows == 0) chunk_rows = 1;
    }
    /* HDF5 chunks are limited to 4 GiB */
    if (chunk_rows > UINT32_MAX / 4 / cols)
        return qs_error_set(QS_ERR_ARG, "%s: %s: chunk of %zu x %zu floats exceeds 4 GiB", h->path,
                            path ? path : "", chunk_rows, cols);
    if (gzip_level > 0 && !deflate_usable())
        return qs_error_set(QS_ERR_UNSUPPORTED,
                            "%s: %s: this HDF5 library has no gzip (deflate) encoder; use "
                            "gzip level 0",
                            h->path, path ? path : "");

    qs_h5_dump *d = calloc(1, sizeof *d);
    if (!d) return qs_error_set(QS_ERR_NOMEM, "qs_h5_dump_open: out of memory");
    d->ds = -1;
    d->cols = cols;
    rc = qs__h5_fullpath(h, path, 0, &d->full);
    int kind = rc ? 0 : qs__h5_kind(h, d->full);
    if (rc) {
    } else if (kind < 0)
        rc = -kind;
    else if (kind == QS__H5_DATASET) {
        d->ds = H5Dopen2(h->file, d->full, H5P_DEFAULT);
        if (d->ds < 0)
            rc = qs__h5_fail(QS_ERR_IO, h, d->full, "cannot reopen dump");
        else
            rc = dump_check(h, d);
        hid_t dcpl = d->ds >= 0 ? H5Dget_create_plist(d->ds) : -1;
        hsize_t ch[2] = {0, 0};
        if (rc == QS_OK && (dcpl < 0 || H5Pget_chunk(dcpl, 2, ch) != 2))
            rc = qs__h5_fail(QS_ERR_FORMAT, h, d->full, "exists but is not chunked");
        if (dcpl >= 0) H5Pclose(dcpl);
        d->chunk_rows = ch[0] ? ch[0] : 1;
    } else if (kind != QS__H5_NONE) {
        rc = qs_error_set(QS_ERR_ARG, "%s: %s: taken by a group (or a parent is a dataset)",
                          h->path, d->full);
    } else {
        d->chunk_rows = chunk_rows;
        rc = qs__h5_room(h, chunk_rows * cols * 4, d->full);
        if (rc == QS_OK) rc = qs__h5_make_groups(h, d->full, 0);
        hid_t space = -1, dcpl = -1;
        hsize_t dims[2] = {0, cols}, maxd[2] = {H5S_UNLIMITED, cols}, chunk[2] = {chunk_rows, cols};
        if (rc == QS_OK) {
            space = H5Screate_simple(2, dims, maxd);
            dcpl = H5Pcreate(H5P_DATASET_CREATE);
            if (space < 0 || dcpl < 0 || H5Pset_chunk(dcpl, 2, chunk) < 0)
                rc = qs__h5_fail(QS_ERR_IO, h, d->full, "cannot set up chunked layout");
        }
        /* shuffle groups the bytes of each float: gzip then finds the repeated exponents */
        if (rc == QS_OK && gzip_level > 0 &&
            (H5Pset_shuffle(dcpl) < 0 || H5Pset_deflate(dcpl, (unsigned)gzip_level) < 0))
            rc = qs__h5_fail(QS_ERR_IO, h, d->full, "cannot set up gzip compression");
        /* Fletcher32 last, over the stored bytes: a damaged chunk is refused on read */
        if (rc == QS_OK && H5Pset_fletcher32(dcpl) < 0)
            rc = qs__h5_fail(QS_ERR_IO, h, d->full, "cannot set up the chunk checksum");
        if (rc == QS_OK) {
            d->ds =
                H5Dcreate2(h->file, d->full, H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
            if (d->ds < 0) rc = qs__h5_fail(QS_ERR_IO, h, d->full, "cannot create dump");
        }
        if (space >= 0) H5Sclose(space);
        if (dcpl >= 0) H5Pclose(dcpl);
        if (rc == QS_OK) rc = qs__h5_flush(h, d->full);
    }
    if (rc) {
        if (d->ds >= 0) H5Dclose(d->ds);
        H5Eclear2(H5E_DEFAULT);
        free(d->full);
        free(d);
        return rc;
    }
    d->child.release = dump_release;
    qs__h5_child_add(h, &d->child);
    *out = d;
    return QS_OK;
}

int qs_h5_dump_append(qs_h5_dump *d, const float *data, size_t n) {
    if (!d) return qs_error_set(QS_ERR_ARG, "qs_h5_dump_append: dump is NULL");
    qs_h5 *h = d->child.h;
    if (!h || d->ds < 0)
        return qs_error_set(QS_ERR_ARG, "%s: dump used after its file was closed", d->full);
    int rc = qs__h5_writable(h, "qs_h5_dump_append");
    if (rc) return rc;
    if (n == 0) return QS_OK;
    if (!data) return qs_error_set(QS_ERR_ARG, "%s: %s: data is NULL", h->path, d->full);
    /* at worst every touched chunk is new (compressed chunks may even grow a little) */
    uint64_t chunk_bytes = (uint64_t)d->chunk_rows * d->cols * 4;
    rc = qs__h5_room(h, (n / d->chunk_rows + 2) * chunk_bytes * 5 / 4, d->full);
    if (rc) return rc;
    hsize_t newd[2] = {d->rows + n, d->cols};
    if (H5Dset_extent(d->ds, newd) < 0) {
        rc = qs__h5_fail(QS_ERR_IO, h, d->full, "cannot extend to %llu rows",
                         (unsigned long long)newd[0]);
        qs__h5_freeze(h);
        return rc;
    }
    hid_t fs = H5Dget_space(d->ds);
    hsize_t start[2] = {d->rows, 0}, count[2] = {n, d->cols};
    hid_t ms = H5Screate_simple(2, count, NULL);
    if (fs < 0 || ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0)
        rc = qs__h5_fail(QS_ERR_IO, h, d->full, "cannot select rows");
    else if (H5Dwrite(d->ds, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, data) < 0)
        rc = qs__h5_fail(QS_ERR_IO, h, d->full, "cannot write rows %llu..%llu",
                         (unsigned long long)d->rows, (unsigned long long)(d->rows + n - 1));
    if (fs >= 0) H5Sclose(fs);
    if (ms >= 0) H5Sclose(ms);
    if (rc) {
        qs__h5_freeze(h);
        return rc;
    }
    rc = qs__h5_flush_dataset(h, d->ds, d->full);
    if (rc == QS_OK) d->rows += n;
    return rc;
}

uint64_t qs_h5_dump_rows(const qs_h5_dump *d) { return d && d->child.h ? d->rows : 0; }

int qs_h5_dump_close(qs_h5_dump *d) {
    if (!d) return QS_OK;
    int rc = QS_OK;
    if (d->child.h) {
        qs_h5 *h = d->child.h;
        qs__h5_child_remove(h, &d->child);
        if (d->ds >= 0 && H5Dclose(d->ds) < 0)
            rc = qs__h5_fail(QS_ERR_IO, h, d->full, "cannot close dump");
        d->ds = -1;
    }
    free(d->full);
    free(d);
    return rc;
}
