/* Sweeps past one process: MPI ranks, scheduler job arrays and resumable runs around one
 * results file.
 *
 * A distributed loop is a *job*: a grid of items, each one row of a result table (one
 * quantizer configuration on one tensor of a sweep; one evaluated config and scope), that
 * any process can compute from the model and text alone. Where items run:
 *   - one process: in grid order, in this process;
 *   - --shard I/N: only items i with i mod N == I - 1 (deterministic slices: a job array
 *     task writes its own file, `qscope merge` joins the files);
 *   - under mpirun or srun (when qscope was built with MPI): rank 0 serves a dynamic
 *     queue of the items (chunks that shrink as it drains, so a slow item holds back only
 *     the rank computing it); every rank computes, rank 0 on a second thread. Rows travel
 *     to rank 0, which alone appends them to the results file as they arrive, each flushed
 *     (h5store.h), and records which rank and host computed each row;
 *   - --resume: items whose row an earlier run of the same file holds are skipped. A row
 *     matches when its key columns (the full canonical configuration: target, tensor,
 *     layer and every quantizer word; or config and scope) are equal and the earlier table
 *     was computed from the same model and text (sha256) with the same parameters.
 *
 * What a distributed table carries (h5 paths relative to the run):
 *   <table>                        the rows; attributes dist_model_sha256,
 *                                  dist_text_sha256, dist_params (every option that
 *                                  changes a row's values, canonical; not the grid lists),
 *                                  dist_key_columns (comma-separated), dist_items (grid
 *                                  size), dist_shard ("I/N" or ""), dist_ranks
 *   provenance/rows/<table>        one row per result row: row (its index in <table>),
 *                                  item (its grid index), rank, host, pid, seconds (time
 *                                  to compute it)
 *
 * Every rank must run the same qscope on the same model and text files (a shared file
 * system, as on a cluster); the rows are bit-identical to a one-process run given the
 * same threads per process (a matrix product's sums depend on its thread count).
 *
 * Threads: rank 0's second thread only computes (no HDF5, Lua or MPI calls); its main
 * thread serves the queue, writes and calls the sink. */
#ifndef QS_DIST_H
#define QS_DIST_H

#include <stddef.h>

#include "fields.h"
#include "h5store.h"

/* ---- the process ------------------------------------------------------------------- */

/* Starts MPI when this process was launched by an MPI launcher (mpirun, mpiexec, srun
 * with PMI/PMIx) and qscope was built with MPI; otherwise a one-process run. Call once,
 * first thing in main. Returns QS_OK or an error (a launcher seen but no MPI built in). */
int qs_dist_init(int *argc, char ***argv);
/* Ends MPI (after telling any rank still serving jobs to stop). Safe without MPI. */
void qs_dist_finalize(void);
/* This process's rank and the number of ranks (0 and 1 without MPI), and its host name. */
int qs_dist_rank(void);
int qs_dist_size(void);
const char *qs_dist_host(void);
/* 1 when qscope was built with MPI. */
int qs_dist_mpi_built(void);
/* Ranks that share this host (OMPI_COMM_WORLD_LOCAL_SIZE, SLURM_NTASKS_PER_NODE...): for
 * splitting the cores between them (qs_dist_threads_default); 1 without MPI. */
int qs_dist_local_size(void);
/* The default threads per process: the cores divided among the ranks of this host. */
int qs_dist_threads_default(void);

/* Aborts every rank (MPI_Abort) with code; without MPI returns. For a rank that fails
 * outside a job while others wait on it. */
void qs_dist_abort(int code);

/* ---- options of a run ----------------------------------------------------------------- */

typedef struct qs_dist_opts {
    int shard_index, shard_count; /* I and N of --shard I/N (1 <= I <= N); N = 0: none */
    int resume;                   /* skip items whose rows the results file holds */
    int print_progress;           /* rank 0: progress on stderr (also when not a terminal) */
} qs_dist_opts;

/* Parses "I/N" (1 <= I <= N <= 1000000) into o; QS_ERR_ARG naming the option otherwise. */
int qs_dist_shard_parse(qs_dist_opts *o, const char *spec);

/* ---- jobs ----------------------------------------------------------------------------- */

typedef struct qs_dist_job qs_dist_job;

/* Receives one computed row (the job's row struct). */
typedef int (*qs_dist_emit_fn)(void *ctx, const void *row);

struct qs_dist_job {
    const char *kind; /* "sweep", "eval": for messages */
    int n_items;
    size_t row_size; /* bytes of one row struct */
    /* Computes item i (0 <= i < n_items) into exactly one row and emits it. A failing
     * configuration is a row with its error; a non-QS_OK return stops the whole run. */
    int (*compute)(qs_dist_job *j, int item, qs_dist_emit_fn emit, void *ctx);
    /* Fills the fields of item i's row that key_columns name, without computing it (the
     * rest zero): what --resume looks up. */
    void (*item_row)(const qs_dist_job *j, int item, void *row);
    /* The row's fields in table-column order (n_fields of them); strings borrowed from
     * the row. */
    void (*fields)(const qs_dist_job *j, const void *row, qs_field *f);
    size_t n_fields;
    const char *const *key_columns; /* NULL-terminated: the fields that name a row */
    /* Optional: a row that reports a failure its table has no column for (the message);
     * such a row goes to the sink only. NULL or "": a row for the table. */
    const char *(*row_failed)(const void *row);
    /* Optional: turn pointers in a row into values before it leaves the process, and back
     * after it arrives (rows travel as row_size bytes between identical binaries). */
    void (*pack)(void *row);
    void (*unpack)(void *row);
    /* The job's parameters that change a row's values, canonical (no grid lists, no
     * paths): the identity that resume and merge compare. */
    const char *params;
    /* For a rank that does not run the caller's code (a Lua script runs on rank 0 only):
     * a JSON description from which qs_dist_job_from_spec rebuilds the job; NULL when the
     * job cannot be described (it then runs on rank 0 alone). */
    const char *spec;
    void *state;
    void (*destroy)(qs_dist_job *j); /* frees the job (qs_dist_job_free) */
};

/* Where rank 0 puts the rows. */
typedef struct qs_dist_out {
    qs_h5 *h5;          /* results file, or NULL (rows go only to the sink) */
    qs_h5_table *table; /* the open result table of h5 (the job's columns) */
    const char *table_path;
    const char *model_sha256; /* identity of the table (model, text: sha256 hex or "") */
    const char *text_sha256;
    /* Called on rank 0 for every row after it is written (in arrival order). A non-QS_OK
     * return stops the run. May be NULL. */
    int (*sink)(void *user, const void *row);
    void *user;
} qs_dist_out;

typedef struct qs_dist_report {
    int items_total;   /* the grid */
    int items_mine;    /* after the shard slice */
    int items_skipped; /* already in the file (--resume) */
    int items_done;    /* computed and delivered */
    long rows_written;
    double seconds;
    int ranks;
} qs_dist_report;

/* Runs job: every rank calls it with the same job; rank 0 (alone) with out. Returns on
 * every rank when the job is done (QS_OK), or the first error: an item that failed (the
 * message names its rank and host), a write that failed, a rank that computed another
 * grid. With --resume, out->h5 must be open on the file to resume (a new run). report may
 * be NULL. */
int qs_dist_run(qs_dist_job *job, const qs_dist_opts *o, const qs_dist_out *out,
                qs_dist_report *report);

/* The key of a row from its fields: the values of the columns named in cols, joined (a
 * string cut to its column width, an integer in decimal, a number as %.17g). Writes
 * at most n bytes (always terminated). */
void qs_dist_row_key(char *buf, size_t n, const qs_field *f, size_t nf,
                     const char *const *cols);

/* Whether item i belongs to the shard of o (every item without a shard). */
int qs_dist_in_shard(const qs_dist_opts *o, int item);

/* ---- scripts ------------------------------------------------------------------------------ */

/* The options of `qscope run` (its --shard and --resume apply to each distributed loop of
 * the script that writes a results file). Rank 0 sets them before the script starts; under
 * MPI the other ranks then serve the script's loops (qs_dist_serve) until it ends. */
void qs_dist_script(const qs_dist_opts *o);
/* NULL outside `qscope run`. */
const qs_dist_opts *qs_dist_script_opts(void);

/* The sha256 of a model or text path as provenance records it (a directory: its
 * manifest), remembered per path, size and modification time: a model is hashed once per
 * process however many loops use it. */
int qs_dist_sha256(const char *path, char hex[65]);

/* ---- ranks that serve jobs -------------------------------------------------------------- */

/* A rank other than 0 of `qscope run`: waits for the jobs rank 0's script starts (its
 * distributed loops), builds each from its spec (loading each model once), computes its
 * share, and returns when rank 0 says the script has ended. */
int qs_dist_serve(void);
/* Builds a job from a spec (rank > 0 of qs_dist_serve); the job owns what it loads. */
typedef struct qs_dist_built qs_dist_built;
int qs_dist_job_from_spec(qs_dist_built **out, const char *spec);
qs_dist_job *qs_dist_built_job(qs_dist_built *b);
void qs_dist_built_free(qs_dist_built *b);

#endif
