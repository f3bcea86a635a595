/* Reading qscope results files back: the runs a file holds, their string attributes, and
 * whole tables. Merging runs (qscope merge) and resuming a sweep (--resume) read earlier
 * results this way. Nothing here writes.
 *
 * A reader either opens a file read-only (qs_h5_reader_open) or borrows the file that an
 * open qs_h5 writes (qs_h5_reader_borrow: its earlier runs and the current one, under the
 * writer's lock). Run numbers are those of /runs/<n>; paths are relative to the run
 * ("sweeps/sweep", "provenance"; "" is the run group itself).
 *
 * Errors: QS_OK or a qs_status code with a message naming the file and the object. */
#ifndef QS_H5READ_H
#define QS_H5READ_H

#include <stddef.h>

#include "h5store.h"

typedef struct qs_h5_reader qs_h5_reader;

/* Opens path read-only. Refuses (QS_ERR_FORMAT) a file that is not HDF5 or holds no
 * qscope results (/runs), QS_ERR_IO one that cannot be read. *out is NULL on error. */
int qs_h5_reader_open(qs_h5_reader **out, const char *path);
/* A reader on the file h writes. Close it before h. */
int qs_h5_reader_borrow(qs_h5_reader **out, qs_h5 *h);
/* Closes (or gives back) the file and frees r. NULL is fine. */
void qs_h5_reader_close(qs_h5_reader *r);
const char *qs_h5_reader_path(const qs_h5_reader *r);

/* The run numbers the file holds, ascending (*runs malloc'd, the caller frees it; NULL
 * when *n is 0). Groups under /runs whose names are not run numbers are left out. */
int qs_h5_reader_runs(qs_h5_reader *r, int **runs, int *n);

/* A string attribute (variable or fixed length) of the object at obj in a run. *value is
 * malloc'd, or NULL when the object or the attribute does not exist (QS_OK). A numeric
 * attribute is returned as its decimal text ("%lld" or "%.17g"). */
int qs_h5_reader_attr(qs_h5_reader *r, int run, const char *obj, const char *name, char **value);

/* The tables of a run: every compound dataset below the run group whose members are
 * int64, float64 or fixed-length strings (qs_h5_table's layout), as paths relative to the
 * run, sorted. *paths is one malloc'd block (free it with free()); *n may be 0. */
int qs_h5_reader_tables(qs_h5_reader *r, int run, char ***paths, int *n);

/* A whole table in memory. Cells are row-major (nrows × ncols); a string cell points into
 * memory the table owns, NUL-terminated (the padding NULs of the file removed). */
typedef struct qs_h5_rows {
    size_t ncols, nrows;
    qs_h5_col *cols;    /* (ncols) names owned */
    qs_h5_value *cells; /* (nrows, ncols) */
    char *strings;      /* storage of every string cell */
} qs_h5_rows;

/* Reads the table at path in run. *out is NULL (QS_OK) when nothing is there; QS_ERR_FORMAT
 * when the object is not a table of qs_h5_table's layout. */
int qs_h5_reader_table(qs_h5_reader *r, int run, const char *path, qs_h5_rows **out);
void qs_h5_rows_free(qs_h5_rows *t);
/* Column index by name, or -1. */
int qs_h5_rows_col(const qs_h5_rows *t, const char *name);

/* Copies the attributes of obj in a run of r onto dst_obj of dst's run (created as a
 * group when missing): scalar integers, floats and strings, and 1-D arrays of floats or
 * strings, with their types; others are left out. only: NULL-terminated names to copy
 * (NULL: all). A missing obj copies nothing. */
int qs_h5_copy_attrs(qs_h5 *dst, const char *dst_obj, qs_h5_reader *r, int run, const char *obj,
                     const char *const *only);

#endif
