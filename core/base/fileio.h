/* Reading model and text files safely: every failure names the file and the reason. */
#ifndef QS_FILEIO_H
#define QS_FILEIO_H

#include <stddef.h>
#include <stdio.h>

/* Opens path read-only, refusing anything but a regular file (a directory, a named pipe, a
 * device) before a read could block on it: QS_ERR_IO naming path and what it is. On
 * success *fd is a blocking descriptor the caller closes and *size (if size is not NULL)
 * the file's size; empty files are fine here. */
int qs_file_open_regular(const char *path, int *fd, size_t *size);

/* Maps a regular file read-only: a model's weights are read from it in place and never
 * written through it (an edit makes a copy first). Refuses missing files, directories and
 * empty files. On success *map and *size describe the mapping; release with qs_file_unmap. */
int qs_file_map(const char *path, void **map, size_t *size);

/* ---- mappings that a truncated file cannot crash ---------------------------------------
 * Truncating a mapped file makes every later read past its new end a SIGBUS, which used to
 * kill a run without a word. Mappings made by qs_file_map are registered; the first of them
 * installs a SIGBUS handler that, for an address inside one, maps a page of zeros there,
 * marks the mapping damaged and lets the read go on (any thread, any time: weights read
 * lazily during a forward pass included). A SIGBUS elsewhere keeps its usual effect. The
 * code that used the mapping then asks qs_file_map_check and discards what it computed. */

/* Releases a mapping made by qs_file_map (and its registration). */
void qs_file_unmap(void *map, size_t size);
/* QS_ERR_IO "<path>: the file changed while in use (truncated: a read at byte N found no
 * data); ..." when a read from the mapping at map met the end of a truncated file, else
 * QS_OK (also for NULL or an unregistered address). */
int qs_file_map_check(const void *map);

/* Reads a whole regular file into a malloc'd buffer with a NUL byte appended (not counted
 * in *size). max_size bounds what it will read (0 = no bound). */
int qs_file_read(const char *path, size_t max_size, char **data, size_t *size);

/* 1 if path is a directory, 0 otherwise. */
int qs_path_is_dir(const char *path);

/* ---- writing a file whole or not at all ---------------------------------------------
 * The data go to "<path>.tmpXXXXXX" in path's directory, which commit flushes, syncs and
 * renames over path. Whatever ends the write early removes the temporary file: an error
 * (a full disk, a file-size limit: qscope ignores SIGXFSZ, so the write fails with EFBIG
 * and is reported), qs_file_out_abort, and SIGINT, SIGTERM or SIGHUP (a handler removes
 * every temporary file still open, then dies of the signal as before). Only SIGKILL and a
 * power loss can leave one behind. path itself is never touched unless commit succeeds. */
typedef struct qs_file_out {
    FILE *f;    /* write here (fwrite, fprintf); errors show at commit */
    char *path; /* the target */
    char *tmp;  /* the temporary file */
    int slot;   /* registry slot for the signal handler, or -1 */
} qs_file_out;

/* Creates the temporary file (mode 0666 & ~umask, like fopen). QS_ERR_IO names path and
 * the reason (missing directory, no permission). */
int qs_file_out_open(qs_file_out *o, const char *path);
/* Flushes, fsyncs, closes and renames; on failure removes the temporary file and returns
 * QS_ERR_IO naming path and the reason (e.g. "File too large", "No space left"). */
int qs_file_out_commit(qs_file_out *o);
/* Closes and removes the temporary file. Safe on a zeroed or finished qs_file_out. */
void qs_file_out_abort(qs_file_out *o);
/* Removes every temporary file still open; async-signal-safe, for paths that end the
 * process with _exit (a watchdog). */
void qs_file_out_remove_all(void);

#endif
