/* Private pieces shared by dist.c (the process, rank 0's writer, the one-process loop) and
 * dist_mpi.c (the queue between ranks). Not part of the public API. */
#ifndef QS_DIST_INT_H
#define QS_DIST_INT_H

#include "dist.h"

/* The process: rank, size, host; filled by qs_dist_init. */
typedef struct qs__dist_proc {
    int rank, size;
    int mpi;       /* MPI was started */
    int script;    /* rank 0 of `qscope run` under MPI: the other ranks serve jobs */
    int serving;   /* the other ranks are in qs_dist_serve and not yet told to stop */
    char host[64]; /* this host */
    char (*hosts)[64]; /* (size) every rank's host */
    long *pids;        /* (size) every rank's pid */
} qs__dist_proc;
extern qs__dist_proc qs__dist;

/* Rank 0's end of a job: the result table, the rows' provenance, the sink, progress. */
typedef struct qs__dist_writer qs__dist_writer;

/* Delivers item's row (computed on rank `rank` in `seconds`): appends it to the table
 * and its origin to provenance/rows/<table>, then calls the sink. Main thread only. */
int qs__dist_deliver(qs__dist_writer *w, int item, const void *row, int rank, double seconds);
/* Progress: called after deliveries; prints at most a few times a second (a terminal) or
 * every few seconds (a log). */
void qs__dist_progress(qs__dist_writer *w, int final);

/* The queue between ranks (dist_mpi.c; stubs without MPI). */
int qs__dist_mpi_init(int *argc, char ***argv);
void qs__dist_mpi_finalize(void);
void qs__dist_mpi_abort(int code);
/* Rank 0: serves items[0..n) to every rank and computes on a second thread; delivers each
 * row through w. Every other rank: qs__dist_mpi_work. */
int qs__dist_mpi_root(qs_dist_job *job, const int *items, int n, qs__dist_writer *w);
int qs__dist_mpi_work(qs_dist_job *job);
/* Script mode: rank 0 sends a job's spec to the serving ranks (before qs__dist_mpi_root),
 * and tells them the script has ended. */
int qs__dist_mpi_send_spec(const char *spec);
void qs__dist_mpi_send_end(void);
/* A serving rank: waits for the next spec (*spec malloc'd) or the end (*spec NULL). */
int qs__dist_mpi_recv_spec(char **spec);

/* dist_spec.c: the source of a job as JSON: with paths for a spec that another rank
 * loads, or (paths = 0) as identity, with sha256 digests where files matter beyond the
 * model's and text's own (tokenizer, calibration text). NULL when out of memory or a file
 * cannot be hashed (message set). */
struct cJSON;
struct qs_dist_source;
struct cJSON *qs__dist_source_json(const struct qs_dist_source *src, int paths);
/* Prints j unformatted into a malloc'd string and frees j; NULL on failure. */
char *qs__dist_json_take(struct cJSON *j);

/* Where two JSON texts (job identities) first differ: "sweep.tokens: 64 vs 128" into buf;
 * 0 when equal or either does not parse. */
int qs__dist_json_diff(const char *a, const char *b, char *buf, size_t n);

/* The field of a table cell named as its column (for qs_dist_row_key). */
qs_field qs__dist_cell_field(const qs_h5_col *c, const qs_h5_value *v);

/* A 32-bit digest of a job (items and parameters): ranks that would compute another grid
 * are refused. */
unsigned qs__dist_job_digest(const qs_dist_job *job);

#endif
