/* Private helpers shared by the store's files: h5util.c (errors, paths, groups,
 * attributes), h5file.c (open, room, flush, freeze, close), h5data.c, h5table.c and
 * provenance.c. Not part of the public API. */
#ifndef QS_H5STORE_INT_H
#define QS_H5STORE_INT_H

#include "h5store.h"

#include <hdf5.h>

/* A table or dump handle borrows the file; the file keeps a list of them so that closing
 * the file can close their HDF5 objects first (see "Ownership" in h5store.h). */
typedef struct qs__h5_child {
    struct qs__h5_child *next;
    qs_h5 *h;                                /* NULL once detached */
    void (*release)(struct qs__h5_child *c); /* closes the child's hid_t's */
} qs__h5_child;

struct qs_h5 {
    hid_t file;
    hid_t run; /* /runs/<n> */
    int n;
    char *path;      /* file name, for messages */
    char prefix[32]; /* "/runs/<n>" */
    char start_time[32];
    qs__h5_child *children;
    int frozen;      /* a write failed: nothing more reaches the file (qs__h5_freeze) */
    int lock_fd;     /* the writer lock (h5lock.c), -1 when not held */
    char *lock_path; /* "<path>.lock" */
};

/* After a failed write HDF5's in-memory state is ahead of the file, and any later flush
 * (including the one in H5Fclose) could publish metadata that points past what was
 * written. Freezing points HDF5's file descriptor at an anonymous in-memory file (memfd),
 * so the file keeps exactly what the last successful flush wrote, while HDF5's own closing
 * writes and truncation still succeed: H5Fclose then releases the handle completely (a
 * half-closed file makes HDF5's exit hook crash). Every later write through h fails. */
void qs__h5_freeze(qs_h5 *h);

/* QS_OK when h is open and not frozen, else QS_ERR_ARG / QS_ERR_IO naming fn. */
int qs__h5_writable(const qs_h5 *h, const char *fn);

/* Refuses (QS_ERR_IO, "nothing written") a write that could grow the file by up to need
 * bytes (plus QS__H5_META_MARGIN) when the file-size limit (RLIMIT_FSIZE) would not allow
 * it, and reserves that much disk space beyond the end of the file (fallocate with
 * FALLOC_FL_KEEP_SIZE) so the write that follows cannot meet a full disk: HDF5 cannot undo
 * a write that fails halfway. Where the file system cannot reserve (EOPNOTSUPP), the free
 * space is checked instead, which another process can still use up meanwhile. */
int qs__h5_room(qs_h5 *h, uint64_t need, const char *obj);
/* Tests switch the check off to exercise the failure path inside HDF5. */
extern int qs__h5_room_check;

/* A page of the kernel's page cache: a write within one page is never torn by a signal
 * that kills the process (Linux copies a write page by page and checks for a fatal signal
 * only between pages). */
#define QS__H5_PAGE 4096u

/* Margin for metadata that a write may add besides its data (B-tree nodes, object headers,
 * heaps, the attributes written at close). */
#define QS__H5_META_MARGIN (64u * 1024u)

/* Sets an error "<file>: <obj>: <what> (HDF5: <innermost HDF5 message>)" and returns
 * code. Call it right after the failing HDF5 call, before any other HDF5 call clears
 * the error stack. obj may be NULL. */
int qs__h5_fail(int code, const qs_h5 *h, const char *obj, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Whether HDF5's current error stack says the file is locked by another process (HDF5's
 * own file locking: a program such as h5py has it open). Leaves the stack as it is. */
int qs__h5_err_locked(void);

/* Offset of the first byte of s that is not valid UTF-8 (overlong forms and surrogates
 * included), or -1 when all of it is. */
long qs__h5_utf8_bad(const char *s);
/* QS_ERR_ARG naming `what` (e.g. "a column name") unless name is valid UTF-8: HDF5 stores
 * names and string attributes as UTF-8, and h5py cannot read a file whose names are not. */
int qs__h5_check_name(const qs_h5 *h, const char *what, const char *name);

/* Validates a run-relative path and builds "/runs/<n>/<rel>" (or "/runs/<n>" when rel is
 * "" or "/" and allow_root is set). *full is malloc'd; the caller frees it. */
int qs__h5_fullpath(const qs_h5 *h, const char *rel, int allow_root, char **full);

/* What sits at an absolute path: 0 nothing, 1 group, 2 dataset, 3 something else
 * (named datatype, or an intermediate component that is not a group); <0 HDF5 error
 * (message set). */
enum { QS__H5_NONE = 0, QS__H5_GROUP = 1, QS__H5_DATASET = 2, QS__H5_OTHER = 3 };
int qs__h5_kind(const qs_h5 *h, const char *full);

/* Creates every missing group along full (all components when whole is set, all but the
 * last otherwise). */
int qs__h5_make_groups(qs_h5 *h, const char *full, int whole);

/* Writes attribute name on obj (an open object id; objpath for messages), replacing an
 * existing one. space and types are borrowed. */
int qs__h5_attr_write(qs_h5 *h, hid_t obj, const char *objpath, const char *name, hid_t ftype,
                      hid_t mtype, hid_t space, const void *buf);
/* Variable-length UTF-8 string attribute on an open object. */
int qs__h5_attr_str_on(qs_h5 *h, hid_t obj, const char *objpath, const char *name,
                       const char *value);
int qs__h5_attr_i64_on(qs_h5 *h, hid_t obj, const char *objpath, const char *name, int64_t value);

void qs__h5_child_add(qs_h5 *h, qs__h5_child *c);
void qs__h5_child_remove(qs_h5 *h, qs__h5_child *c);

/* H5Fflush with a message on failure (and the file frozen). */
int qs__h5_flush(qs_h5 *h, const char *obj);
/* Flushes one dataset first (its chunks and its own metadata), then the file: a failing
 * chunk write then stops before the superblock records the new end of file. */
int qs__h5_flush_dataset(qs_h5 *h, hid_t ds, const char *obj);

/* h5lock.c: the single-writer guard, "<path>.lock" locked with flock() from open to close.
 * Take refuses (QS_ERR_IO) naming the holder when another process has it. */
int qs__h5_lock_take(qs_h5 *h);
void qs__h5_lock_release(qs_h5 *h);

/* The process's first HDF5 call turns off HDF5's exit-time cleanup and its error printing
 * (h5file.c); every entry point that may be the first calls it. */
void qs__h5_init(void);

/* provenance.c: the automatic attributes (at open) and end_time (at close). */
int qs__h5_provenance_begin(qs_h5 *h, const char *run_label);
int qs__h5_provenance_end(qs_h5 *h);

#endif
