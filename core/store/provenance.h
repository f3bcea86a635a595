/* Provenance of a result run: where its numbers came from. The automatic part (qscope and
 * library versions, git revision, thread count, start and end times) is written by
 * qs_h5_open/qs_h5_close; the caller adds its inputs (command line, script, model, text,
 * each with its sha256, parameters, seed) with qs_h5_write_provenance. Everything lands as
 * attributes of /runs/<n>/provenance (the list is in h5store.h). */
#ifndef QS_PROVENANCE_H
#define QS_PROVENANCE_H

#include "h5store.h"

#include <stddef.h>
#include <stdint.h>

/* Caller-supplied provenance of this run; NULL/0 fields are skipped. */
typedef struct qs_provenance {
    const char *command_line;      /* argv joined by spaces, or NULL */
    const char *script_path;       /* Lua script; its sha256 is computed here */
    const char *model_path;        /* model file (sha256 of the file) or HF directory (sha256
                                      of the manifest "<sha256>  <name>\n" of its regular files,
                                      sorted by name; attr model_sha256_kind says which) */
    const char *model_sha256;      /* if non-NULL, used instead of hashing model_path */
    const char *text_path;         /* text file; its sha256 is computed here */
    const char *params;            /* "k=v; k=v" or NULL */
    const char *const *param_list; /* alternatively/additionally n_params "k=v" strings */
    size_t n_params;
    int64_t seed;
    int has_seed; /* write seed only when set */
    int threads;  /* thread count used; 0 writes omp_get_max_threads() */
} qs_provenance;

/* Writes p as attributes of /runs/<n>/provenance. A path that cannot be hashed is an
 * error (QS_ERR_IO naming it); nothing is half-written in that case, since hashing
 * happens before any attribute is written. May be called again (attributes replaced). */
int qs_h5_write_provenance(qs_h5 *h, const qs_provenance *p);

/* The sha256 that provenance records for a model path: of the file, or of the manifest of a
 * directory's regular files (as model_sha256 above); *kind is "file" or "dir-manifest". */
int qs_h5_sha256_path(const char *path, char hex[65], const char **kind);

/* ISO-8601 UTC timestamp "YYYY-MM-DDTHH:MM:SSZ" for the current time. */
void qs_h5_now_iso(char buf[32]);

#endif
