/* qscope's HDF5 result store: one thin wrapper over the HDF5 C library.
 *
 * Results are appended, never overwritten. Each qs_h5_open() starts a new run group
 * /runs/<n> (n = 1, 2, ...: one more than the largest existing number) and every write of
 * that session lands under it; older runs are never touched. Paths given to the functions
 * below are relative to the run group ("stats/attn_in/absmax"; a single leading '/' is
 * allowed and means the same). Components must be non-empty and not "." or "..".
 *
 * File layout (h5py: f["runs"][str(f["runs"].attrs["latest"])] is the newest run)
 *
 *   /runs                          group; attr latest (int64) = newest run number
 *   /runs/<n>                      group; attrs run_label, created (ISO-8601 UTC)
 *   /runs/<n>/provenance           attrs only: qscope_version, git_rev, start_time,
 *                                  end_time (written by qs_h5_close), hdf5_version,
 *                                  gsl_version, lua_version, openblas_config,
 *                                  cjson_version, omp_max_threads, run_label; and from
 *                                  qs_h5_write_provenance: command_line, script_path,
 *                                  script_sha256, model_path, model_sha256,
 *                                  model_sha256_kind (file | dir-manifest | given),
 *                                  text_path, text_sha256, params (string), param_list
 *                                  (string array), seed (int64), threads (int64)
 *   /runs/<n>/model                attrs: the model config (dim, n_layers, ...)
 *   /runs/<n>/stats/<site>/<stat>  float64 [L, C]: absmax, mean, std, kurtosis, ...
 *                                  (row = layer, column = channel)
 *   /runs/<n>/stats/<site>/hist    group: counts int64 [L, B], edges float64 [B + 1]
 *   /runs/<n>/weights/<tensor>     per-tensor arrays ([rows, cols] or [C])
 *   /runs/<n>/outliers/channels    table: layer, site, channel, absmax, ratio_to_median,
 *                                  token_fraction, sequence_fraction
 *   /runs/<n>/outliers/tokens      table: layer, site, sequence, position, token_id,
 *                                  token_text, channel, value, ratio
 *   /runs/<n>/sweeps/<name>        table, one row per quantizer configuration
 *   /runs/<n>/ppl/<name>           table, one row per evaluated configuration
 *   /runs/<n>/dump/<site>/<layer>  float32 [T, C], chunked, gzip + shuffle, grows by row
 *                                  blocks; <layer> is the decimal layer number
 *
 * Tables and dumps carry a Fletcher32 checksum per chunk (HDF5's own filter, which h5py
 * reads transparently): a chunk damaged after it was written is refused by every reader
 * instead of returning wrong numbers. Object headers have HDF5's metadata checksums.
 *
 * Types on disk: float64/float32/int64/int32 little-endian; string attributes are
 * variable-length UTF-8 (h5py returns str); tables are compound datasets of int64,
 * float64 and fixed-length NUL-padded UTF-8 strings (h5py returns a numpy structured
 * array with dtypes '<i8', '<f8', 'S<N>'; pandas.DataFrame(arr) reads it as is).
 *
 * Durability: every table row append, dump append, array write and provenance write ends
 * with a flush (the dataset first, H5Dflush, then the file, H5Fflush), so a process killed
 * afterwards leaves a file in which everything written before is readable. Table chunks
 * fit one page and start on one (file alignment), so the in-place rewrite of a chunk by an
 * append is a single-page write that a kill cannot tear. There is no fsync: a power loss
 * is not covered.
 * HDF5 cannot undo a write that fails halfway: its flush would go on to record a new end
 * of file in the superblock and leave a file that no reader opens ("truncated file").
 * So:
 *   1. before HDF5 writes anything (opening a run, each data write, attribute, group,
 *      provenance, and the end-of-run attributes at close) the store checks the file-size
 *      limit (RLIMIT_FSIZE) and reserves, with fallocate(FALLOC_FL_KEEP_SIZE), the disk
 *      space the write may add past the end of the file (data + 64 KiB for metadata). It
 *      refuses with QS_ERR_IO ("nothing written") when either would not fit; the file is
 *      then untouched. Where the file system cannot reserve, free space is checked instead.
 *   2. if a write fails inside HDF5 anyway (an I/O error, a file system without
 *      reservations), the handle is frozen: HDF5's descriptor is pointed at an in-memory
 *      sink, so the file keeps exactly what the last successful flush wrote. Every later
 *      write through the handle (and through its tables and dumps) returns QS_ERR_IO;
 *      qs_h5_close() frees it and reports QS_ERR_IO; provenance end_time is then absent.
 *      HDF5 1.10 cannot close a file whose flush failed; the store turns off HDF5's
 *      exit-time cleanup (H5dont_atexit), which would crash on it. Reopen to continue.
 * A kill between a new chunk's flush and the superblock's leaves the superblock's end of
 * allocated space before that chunk (readers refuse the table); every qs_h5_open for
 * writing moves it to the end of the file, which repairs that. A new file is created as
 * "<path>.creating" and renamed into place once its first run is flushed.
 * One writer: qs_h5_open takes flock() on "<path>.lock" (h5lock.c) until qs_h5_close,
 * whatever HDF5_USE_FILE_LOCKING says; handles of one process on one file share it.
 *
 * Errors: every function returns QS_OK or a qs_status code with a message (core/error.h)
 * naming the file and the object path; HDF5's own error-stack printing is switched off
 * (H5Eset_auto, process-wide, by qs_h5_open) and its innermost message is appended.
 * Nothing here aborts or exits.
 *
 * Ownership: a qs_h5 owns its HDF5 file; qs_h5_table and qs_h5_dump handles borrow it.
 * Close tables and dumps before the file. If some are still open at qs_h5_close(), their
 * HDF5 objects are closed with the file, later calls on them fail with QS_ERR_ARG, and
 * they must still be freed with their own close function. Not thread-safe: use one
 * handle from one thread at a time (HDF5 serial build).
 */
#ifndef QS_H5STORE_H
#define QS_H5STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct qs_h5 qs_h5;

/* Opens path for appending a new run, or creates it. On success *out owns the handle.
 * Refuses, leaving the file untouched byte for byte: an existing file that is not HDF5,
 * one HDF5 cannot open (truncated or corrupt), one whose /runs is not a group of its own
 * (a soft or external link), a file without write permission (also for root: no write
 * bit set at all counts as read-only), a path whose directory does not exist or is not
 * writable (the message names the directory), a file another process is writing (the
 * message names it: pid, host, start, command line), and an open without room (see
 * Durability). A create that fails midway removes the file it created.
 * run_label (may be NULL or "") is stored as attr run_label on the run group.
 * Writes /runs/<n>, /runs latest = n, and the automatic provenance attributes listed
 * above. Errors: QS_ERR_ARG, QS_ERR_IO, QS_ERR_FORMAT, QS_ERR_NOMEM. *out is NULL on error. */
int qs_h5_open(qs_h5 **out, const char *path, const char *run_label);

/* 1 when path is an HDF5 file that already holds qscope results (/runs is a group of its
 * own), 0 otherwise (absent, not HDF5, unreadable, no /runs). Changes nothing. */
int qs_h5_is_results(const char *path);

/* Writes provenance end_time, closes every HDF5 object of this handle and the file, and
 * frees h (always, even on error). Returns the first error met (e.g. the final flush
 * failed). qs_h5_close(NULL) returns QS_OK. */
int qs_h5_close(qs_h5 *h);

/* The run number n of this session (>= 1) and the file path (owned by h). */
int qs_h5_run(const qs_h5 *h);
const char *qs_h5_path(const qs_h5 *h);

/* Flushes everything written so far to the file (H5Fflush). Attributes and groups are
 * flushed by the next data write or by this. */
int qs_h5_flush(qs_h5 *h);

/* HDF5 objects open in this file (H5Fget_obj_count, all types, the file included).
 * For leak checks: it returns to the same value after every table/dump is closed.
 * Returns -1 if h is NULL or closed. */
long qs_h5_open_objects(const qs_h5 *h);

/* Whether an object (group or dataset) exists at path in this run: 1 yes, 0 no. */
int qs_h5_exists(qs_h5 *h, const char *path);

/* Creates the group at path with any missing intermediate groups. An existing group is
 * fine; an existing dataset at any component is QS_ERR_ARG. */
int qs_h5_group(qs_h5 *h, const char *path);

/* ---- attributes ---------------------------------------------------------------------
 * On the object at obj (group or dataset; "" is the run group itself). A missing obj is
 * created as a group (with intermediates). Writing an attribute that this run already
 * wrote replaces it (attributes describe the run being written, e.g. end_time). */
int qs_h5_attr_str(qs_h5 *h, const char *obj, const char *name, const char *value);
/* A 1-D array of n variable-length UTF-8 strings (n may be 0). */
int qs_h5_attr_strs(qs_h5 *h, const char *obj, const char *name, const char *const *values,
                    size_t n);
int qs_h5_attr_i64(qs_h5 *h, const char *obj, const char *name, int64_t value);
int qs_h5_attr_f64(qs_h5 *h, const char *obj, const char *name, double value);
/* A 1-D float64 array of n values (n may be 0). */
int qs_h5_attr_f64s(qs_h5 *h, const char *obj, const char *name, const double *values, size_t n);

/* ---- datasets ----------------------------------------------------------------------- */
typedef enum qs_h5_dtype {
    QS_H5_F32 = 1, /* float,   stored as <f4 */
    QS_H5_F64,     /* double,  stored as <f8 */
    QS_H5_I32,     /* int32_t, stored as <i4 */
    QS_H5_I64,     /* int64_t, stored as <i8 */
} qs_h5_dtype;

/* Writes a new dataset of rank 1..4 with the given dims (row-major, C order), the
 * element type of data and of the file both being dtype (contiguous, uncompressed), and
 * flushes it. Parent groups are created. Dims may be 0 (data may then be NULL). An
 * existing object at path is QS_ERR_ARG: datasets are never overwritten. */
int qs_h5_array_write(qs_h5 *h, const char *path, qs_h5_dtype dtype, const void *data, int rank,
                      const size_t *dims);
/* [rows, cols] matrix, e.g. a statistic per layer and channel: data is (rows, cols). */
int qs_h5_matrix_write(qs_h5 *h, const char *path, qs_h5_dtype dtype, const void *data, size_t rows,
                       size_t cols);
/* 1-D array of n elements. */
int qs_h5_vector_write(qs_h5 *h, const char *path, qs_h5_dtype dtype, const void *data, size_t n);

/* ---- extendable float32 dumps -------------------------------------------------------
 * A 2-D float32 dataset [rows, cols] with unlimited rows, chunked (chunk_rows x cols) and
 * optionally gzip-compressed (with the shuffle filter), for raw activation dumps. */
typedef struct qs_h5_dump qs_h5_dump;

/* Creates the dump at path in this run, or reopens it if this run already has one there
 * (cols must match). chunk_rows 0 picks about 1 MiB per chunk. gzip_level 0 stores
 * uncompressed, 1..9 compresses (QS_ERR_UNSUPPORTED if this HDF5 has no deflate
 * encoder). Errors: QS_ERR_ARG (cols 0, bad level, chunk over 4 GiB, path taken by
 * something else), QS_ERR_FORMAT (existing dataset of another shape/type), QS_ERR_IO. */
int qs_h5_dump_open(qs_h5_dump **out, qs_h5 *h, const char *path, size_t cols, size_t chunk_rows,
                    int gzip_level);
/* Appends n rows: data is (n, cols). Extends the dataset, writes, flushes the file.
 * QS_ERR_IO as for qs_h5_table_append: the rows appended before stay readable. Append in
 * blocks of chunk_rows where possible: each flush rewrites the partial last chunk. */
int qs_h5_dump_append(qs_h5_dump *d, const float *data, size_t n);
/* Rows stored so far (0 for a closed or detached handle). */
uint64_t qs_h5_dump_rows(const qs_h5_dump *d);
/* Closes the dataset and frees d. NULL is fine. Returns the close status. */
int qs_h5_dump_close(qs_h5_dump *d);

/* ---- tables ------------------------------------------------------------------------- */
typedef enum qs_h5_coltype {
    QS_H5_COL_I64 = 1, /* int64   -> numpy '<i8' */
    QS_H5_COL_F64,     /* double  -> numpy '<f8' */
    QS_H5_COL_STR,     /* fixed-length UTF-8 string of len bytes -> numpy 'S<len>' */
} qs_h5_coltype;

typedef struct qs_h5_col {
    const char *name; /* unique, non-empty; becomes the numpy field name */
    qs_h5_coltype type;
    size_t len; /* QS_H5_COL_STR: bytes, 1..65535 (no room kept for a NUL);
                   ignored otherwise */
} qs_h5_col;

/* One cell value for qs_h5_table_append, tagged with its type. A QS_H5_COL_I64 value may
 * go into a float64 column (converted); a float64 value goes into an int64 column only if
 * it is integral and in range; strings only into string columns. */
typedef struct qs_h5_value {
    qs_h5_coltype type;
    union {
        int64_t i;
        double f;
        const char *s; /* NUL-terminated UTF-8; NULL is "" */
    } u;
} qs_h5_value;

#define QS_H5_VI64(x) ((qs_h5_value){.type = QS_H5_COL_I64, .u.i = (int64_t)(x)})
#define QS_H5_VF64(x) ((qs_h5_value){.type = QS_H5_COL_F64, .u.f = (double)(x)})
#define QS_H5_VSTR(x) ((qs_h5_value){.type = QS_H5_COL_STR, .u.s = (x)})

typedef struct qs_h5_table qs_h5_table;

/* Creates a table (compound dataset, chunked, unlimited rows, uncompressed) at path in
 * this run, or reopens the one this run already has there: its columns must then equal
 * cols exactly (names, types, string lengths, order), else QS_ERR_FORMAT. cols is copied.
 * Errors: QS_ERR_ARG (no columns, duplicate/empty names, bad len, path taken by a
 * group), QS_ERR_FORMAT, QS_ERR_IO, QS_ERR_NOMEM. */
int qs_h5_table_open(qs_h5_table **out, qs_h5 *h, const char *path, const qs_h5_col *cols,
                     size_t ncols);

/* Appends one row: row[i] is the value of column i (ncols values, in column order), then
 * flushes the file so the row survives a later crash. A string longer than its column is
 * cut to the longest prefix that fits and does not split a UTF-8 sequence (a cut never
 * leaves a partial character; see qs_h5_table_truncated). Validation happens before
 * anything is written: a type mismatch (QS_ERR_ARG) appends nothing. QS_ERR_IO: no room
 * (nothing written, the handle stays usable) or a failed write (the row is not in the
 * file and the file is frozen, see Durability); rows appended before stay readable. */
int qs_h5_table_append(qs_h5_table *t, const qs_h5_value *row);

/* By-name row building (for bindings that hold rows as key/value maps): set cells of the
 * pending row, then qs_h5_table_commit() appends it like qs_h5_table_append and clears
 * it. Cells never set are 0 (int64), NaN (float64) or "" (string). Unknown column or
 * type mismatch: QS_ERR_ARG, the pending row keeps its other cells. */
int qs_h5_table_set_i64(qs_h5_table *t, const char *col, int64_t v);
int qs_h5_table_set_f64(qs_h5_table *t, const char *col, double v);
int qs_h5_table_set_str(qs_h5_table *t, const char *col, const char *v);
int qs_h5_table_commit(qs_h5_table *t);

/* Rows in the table (as stored in the file); 0 for a detached handle. */
uint64_t qs_h5_table_rows(const qs_h5_table *t);
/* How many string cells this handle has cut to fit their column. */
uint64_t qs_h5_table_truncated(const qs_h5_table *t);
/* Column index by name, or -1. */
int qs_h5_table_col(const qs_h5_table *t, const char *name);
/* Closes the dataset and frees t. NULL is fine. */
int qs_h5_table_close(qs_h5_table *t);

/* Longest prefix length <= max of the UTF-8 string s (of length n) that does not end
 * inside a multi-byte sequence. Exposed for tests and for callers that pre-size columns. */
size_t qs_h5_utf8_prefix(const char *s, size_t n, size_t max);

#endif
