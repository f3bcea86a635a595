/* The process, rank 0's writer (result rows, their origin, resume, progress) and the
 * one-process loop (dist.h). The queue between ranks is in dist_mpi.c. */
#define _GNU_SOURCE /* sched_getaffinity */
#include "dist_int.h"

#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "h5read.h"
#include "progress.h"
#include "provenance.h"
#include "strmap.h"

#include <sched.h>
#include <sys/stat.h>

qs__dist_proc qs__dist = {0, 1, 0, 0, 0, "", NULL, NULL};

/* qs_dist_sha256's memory */
typedef struct sha_entry {
    char *path;
    off_t size;
    time_t mtime;
    char hex[65];
} sha_entry;
static sha_entry *shas;
static int n_shas;


/* ---- the process ------------------------------------------------------------------- */

/* Environment variables that an MPI launcher sets in every process it starts. */
static int launched_by_mpi(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK",
                                       "PMI_SIZE", "MPI_LOCALNRANKS", NULL};
    for (int i = 0; vars[i]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

/* How many processes the launcher started, where it says (0: it does not). */
static long launched_size(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS",
                                       NULL};
    for (int i = 0; vars[i]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return strtol(v, NULL, 10);
    }
    return 0;
}

int qs_dist_init(int *argc, char ***argv) {
    if (gethostname(qs__dist.host, sizeof qs__dist.host) != 0) strcpy(qs__dist.host, "?");
    qs__dist.host[sizeof qs__dist.host - 1] = '\0';
    if (!launched_by_mpi()) return QS_OK;
    /* one task of a job array started by srun (which sets PMIx variables in every task) is
     * one process, MPI or not */
    if (!qs_dist_mpi_built() && launched_size() == 1) return QS_OK;
    if (!qs_dist_mpi_built())
        return qs_error_set(QS_ERR_UNSUPPORTED,
                            "launched by an MPI launcher, but this qscope was built without MPI "
                            "(install libopenmpi-dev and rebuild; without MPI use --shard I/N)");
    return qs__dist_mpi_init(argc, argv);
}

void qs_dist_finalize(void) {
    if (qs__dist.mpi && qs__dist.rank == 0 && qs__dist.serving) qs__dist_mpi_send_end();
    if (qs__dist.mpi) qs__dist_mpi_finalize();
    free(qs__dist.hosts);
    free(qs__dist.pids);
    for (int i = 0; i < n_shas; i++) free(shas[i].path);
    free(shas);
    shas = NULL;
    n_shas = 0;
    qs__dist.hosts = NULL;
    qs__dist.pids = NULL;
    qs__dist.mpi = 0;
}

void qs_dist_abort(int code) {
    if (qs__dist.mpi && qs__dist.size > 1) qs__dist_mpi_abort(code);
}

int qs_dist_rank(void) { return qs__dist.rank; }
int qs_dist_size(void) { return qs__dist.size; }
const char *qs_dist_host(void) { return qs__dist.host; }

int qs_dist_local_size(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS",
                                       "SLURM_NTASKS_PER_NODE", NULL};
    if (!qs__dist.mpi) return 1;
    for (int i = 0; vars[i]; i++) {
        const char *v = getenv(vars[i]);
        long n = v ? strtol(v, NULL, 10) : 0;
        if (n >= 1 && n <= 1 << 20) return (int)n;
    }
    return qs__dist.size;
}

int qs_dist_threads_default(void) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    /* a launcher that binds each rank (Open MPI binds to a core by default for 2 ranks)
     * has already divided the cores: use this rank's share */
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) < cores)
        return CPU_COUNT(&set) >= 1 ? CPU_COUNT(&set) : 1;
    int per = (int)(cores > 0 ? cores : 1) / qs_dist_local_size();
    return per >= 1 ? per : 1;
}

static qs_dist_opts script_opts;
static int script_set;

void qs_dist_script(const qs_dist_opts *o) {
    script_opts = *o;
    script_set = 1;
    qs__dist.script = qs__dist.rank == 0;
    qs__dist.serving = qs__dist.rank == 0 && qs__dist.size > 1;
}

const qs_dist_opts *qs_dist_script_opts(void) { return script_set ? &script_opts : NULL; }


int qs_dist_sha256(const char *path, char hex[65]) {
    struct stat st;
    hex[0] = '\0';
    if (stat(path, &st) != 0) return qs_error_set(QS_ERR_IO, "%s: cannot stat", path);
    for (int i = 0; i < n_shas; i++)
        if (strcmp(shas[i].path, path) == 0 && shas[i].size == st.st_size &&
            shas[i].mtime == st.st_mtime) {
            memcpy(hex, shas[i].hex, 65);
            return QS_OK;
        }
    const char *kind;
    int rc = qs_h5_sha256_path(path, hex, &kind);
    if (rc) return rc;
    sha_entry *v = realloc(shas, ((size_t)n_shas + 1) * sizeof *v);
    if (v) {
        shas = v;
        shas[n_shas] = (sha_entry){strdup(path), st.st_size, st.st_mtime, ""};
        memcpy(shas[n_shas].hex, hex, 65);
        if (shas[n_shas].path) n_shas++;
    }
    return QS_OK;
}

/* ---- options ---------------------------------------------------------------------------- */

int qs_dist_shard_parse(qs_dist_opts *o, const char *spec) {
    char *end;
    errno = 0;
    long i = spec ? strtol(spec, &end, 10) : 0;
    long n = 0;
    if (spec && end != spec && *end == '/' && end[1] >= '0' && end[1] <= '9') {
        const char *p = end + 1;
        n = strtol(p, &end, 10);
    } else {
        end = (char *)"x";
    }
    if (errno || *end || i < 1 || n < 1 || i > n || n > 1000000)
        return qs_error_set(QS_ERR_ARG, "--shard '%s' must be I/N with 1 <= I <= N (e.g. 2/8)",
                            spec ? spec : "");
    o->shard_index = (int)i;
    o->shard_count = (int)n;
    return QS_OK;
}

int qs_dist_in_shard(const qs_dist_opts *o, int item) {
    return !o || o->shard_count <= 0 || item % o->shard_count == o->shard_index - 1;
}

/* ---- keys ----------------------------------------------------------------------------- */

void qs_dist_row_key(char *buf, size_t n, const qs_field *f, size_t nf,
                     const char *const *cols) {
    size_t k = 0;
    buf[0] = '\0';
    for (int c = 0; cols[c]; c++) {
        const qs_field *x = NULL;
        for (size_t i = 0; i < nf && !x; i++)
            if (strcmp(f[i].name, cols[c]) == 0) x = &f[i];
        char v[64];
        const char *s = v;
        size_t len;
        if (!x) {
            s = "";
            len = 0;
        } else if (x->kind == QS_FIELD_STR) {
            s = x->str ? x->str : "";
            /* as the table stores it: cut to the column at a UTF-8 boundary */
            len = qs_h5_utf8_prefix(s, strlen(s), x->width ? x->width : strlen(s));
        } else if (x->kind == QS_FIELD_INT) {
            len = (size_t)snprintf(v, sizeof v, "%lld", x->i);
        } else {
            len = (size_t)snprintf(v, sizeof v, "%.17g", x->num);
        }
        /* fields are joined by the unit separator, which no name or number holds */
        if (k + len + 2 >= n) len = k + 2 < n ? n - k - 2 : 0;
        memcpy(buf + k, s, len);
        k += len;
        if (k + 1 < n) buf[k++] = '\x1f';
        buf[k] = '\0';
    }
}

unsigned qs__dist_job_digest(const qs_dist_job *job) {
    unsigned h = 2166136261u;
    char head[64];
    snprintf(head, sizeof head, "%s:%d:%zu:", job->kind, job->n_items, job->row_size);
    for (const char *p = head; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
    for (const char *p = job->params ? job->params : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h;
}

/* ---- rank 0's writer -------------------------------------------------------------------- */

struct qs__dist_writer {
    qs_dist_job *job;
    const qs_dist_out *out;
    qs_h5_table *origin; /* provenance/rows/<table> */
    qs_dist_report *rep;
    qs_field *f;    /* (n_fields) scratch */
    long *per_rank; /* rows delivered per rank */
    int todo;       /* items to compute here */
    double t0, last_print;
    int tty, log;
};

static const qs_h5_col origin_cols[] = {
    {"row", QS_H5_COL_I64, 0},  {"item", QS_H5_COL_I64, 0}, {"rank", QS_H5_COL_I64, 0},
    {"host", QS_H5_COL_STR, 64}, {"pid", QS_H5_COL_I64, 0}, {"seconds", QS_H5_COL_F64, 0},
};

static int append_fields(qs_h5_table *t, const qs_field *f, size_t n) {
    qs_h5_value row[128];
    if (n > 128) return qs_error_set(QS_ERR_ARG, "a row of %zu fields: at most 128", n);
    for (size_t i = 0; i < n; i++)
        row[i] = f[i].kind == QS_FIELD_STR   ? QS_H5_VSTR(f[i].str)
                 : f[i].kind == QS_FIELD_INT ? QS_H5_VI64(f[i].i)
                                             : QS_H5_VF64(f[i].num);
    return qs_h5_table_append(t, row);
}

int qs__dist_deliver(qs__dist_writer *w, int item, const void *row, int rank, double seconds) {
    const qs_dist_out *out = w->out;
    int rc = QS_OK;
    const char *failed = w->job->row_failed ? w->job->row_failed(row) : NULL;
    if (out && out->table && !(failed && *failed)) {
        w->job->fields(w->job, row, w->f);
        rc = append_fields(out->table, w->f, w->job->n_fields);
        if (rc == QS_OK && w->origin) {
            const char *host = qs__dist.hosts && rank < qs__dist.size ? qs__dist.hosts[rank]
                                                                       : qs__dist.host;
            long pid = qs__dist.pids && rank < qs__dist.size ? qs__dist.pids[rank] : getpid();
            qs_h5_value o[6] = {QS_H5_VI64(qs_h5_table_rows(out->table) - 1), QS_H5_VI64(item),
                                QS_H5_VI64(rank),
                                QS_H5_VSTR(host),
                                QS_H5_VI64(pid),
                                QS_H5_VF64(seconds)};
            rc = qs_h5_table_append(w->origin, o);
        }
        if (rc) return rc;
        w->rep->rows_written++;
    }
    w->rep->items_done++;
    if (rank >= 0 && rank < qs__dist.size) w->per_rank[rank]++;
    if (out && out->sink) rc = out->sink(out->user, row);
    return rc;
}

void qs__dist_progress(qs__dist_writer *w, int final) {
    if (!w->tty && !w->log) return;
    double now = qs_now(), el = now - w->t0;
    if (!final && now - w->last_print < (w->tty ? 0.25 : 10.0)) return;
    w->last_print = now;
    int done = w->rep->items_done;
    double rate = el > 0 ? done / el : 0;
    double eta = rate > 0 ? (w->todo - done) / rate : 0;
    if (final) {
        if (w->tty) fprintf(stderr, "\r\033[K");
        if (!w->log) return;
        fprintf(stderr, "%s: %d/%d items done, %d skipped (already written), %d ranks, %.1f s, "
                        "%.1f rows/s;",
                w->job->kind, done, w->todo, w->rep->items_skipped, qs__dist.size, el, rate);
        for (int r = 0; r < qs__dist.size; r++) fprintf(stderr, " rank %d: %ld", r, w->per_rank[r]);
        fprintf(stderr, "\n");
        return;
    }
    fprintf(stderr, "%s%s: %d/%d items, %.1f rows/s, ETA %.0f s, %d ranks%s", w->tty ? "\r" : "",
            w->job->kind, done, w->todo, rate, eta, qs__dist.size, w->tty ? "   " : "\n");
    fflush(stderr);
}

/* Writes the table's identity and opens provenance/rows/<table>. */
static int writer_open_table(qs__dist_writer *w, const qs_dist_opts *o) {
    const qs_dist_out *out = w->out;
    qs_h5 *h = out->h5;
    const char *tp = out->table_path;
    char keys[512] = "", shard[32] = "";
    for (int c = 0; w->job->key_columns[c]; c++)
        snprintf(keys + strlen(keys), sizeof keys - strlen(keys), "%s%s", c ? "," : "",
                 w->job->key_columns[c]);
    if (o && o->shard_count > 0)
        snprintf(shard, sizeof shard, "%d/%d", o->shard_index, o->shard_count);
    int rc;
    if ((rc = qs_h5_attr_str(h, tp, "dist_model_sha256", out->model_sha256 ? out->model_sha256
                                                                          : "")) ||
        (rc = qs_h5_attr_str(h, tp, "dist_text_sha256", out->text_sha256 ? out->text_sha256
                                                                        : "")) ||
        (rc = qs_h5_attr_str(h, tp, "dist_params", w->job->params ? w->job->params : "")) ||
        (rc = qs_h5_attr_str(h, tp, "dist_key_columns", keys)) ||
        (rc = qs_h5_attr_i64(h, tp, "dist_items", w->job->n_items)) ||
        (rc = qs_h5_attr_str(h, tp, "dist_shard", shard)) ||
        (rc = qs_h5_attr_i64(h, tp, "dist_ranks", qs__dist.size)))
        return rc;
    char path[600];
    if ((size_t)snprintf(path, sizeof path, "provenance/rows/%s", tp) >= sizeof path)
        return qs_error_set(QS_ERR_ARG, "table path '%s' too long", tp);
    return qs_h5_table_open(&w->origin, h, path, origin_cols,
                            sizeof origin_cols / sizeof origin_cols[0]);
}

qs_field qs__dist_cell_field(const qs_h5_col *c, const qs_h5_value *v) {
    if (c->type == QS_H5_COL_STR) return QS_FSTR(c->name, v->u.s, c->len);
    if (c->type == QS_H5_COL_I64) return QS_FINT(c->name, v->u.i);
    return QS_FNUM(c->name, v->u.f);
}

static int same(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : "") == 0; }

/* --resume: the keys of every row that an earlier run of this file holds in the same
 * table, computed from the same model, text and parameters. */
static int resume_keys(qs__dist_writer *w, qs_strmap *keys, int *runs_used, int *runs_other) {
    qs_h5_reader *r;
    int rc = qs_h5_reader_borrow(&r, w->out->h5);
    if (rc) return rc;
    int *runs = NULL, n = 0, me = qs_h5_run(w->out->h5);
    rc = qs_h5_reader_runs(r, &runs, &n);
    const char *tp = w->out->table_path;
    const char *const *kc = w->job->key_columns;
    int nk = 0;
    while (kc[nk]) nk++;
    for (int i = 0; i < n && rc == QS_OK; i++) {
        if (runs[i] == me) continue;
        char *params = NULL, *msha = NULL, *tsha = NULL;
        rc = qs_h5_reader_attr(r, runs[i], tp, "dist_params", &params);
        if (rc == QS_OK) rc = qs_h5_reader_attr(r, runs[i], tp, "dist_model_sha256", &msha);
        if (rc == QS_OK) rc = qs_h5_reader_attr(r, runs[i], tp, "dist_text_sha256", &tsha);
        /* a model without a file identity (a copy made in a script) never matches */
        int match = rc == QS_OK && params && msha && tsha && *msha &&
                    same(params, w->job->params) && same(msha, w->out->model_sha256) &&
                    same(tsha, w->out->text_sha256);
        if (rc == QS_OK && params && !match) (*runs_other)++;
        qs_h5_rows *t = NULL;
        if (match) rc = qs_h5_reader_table(r, runs[i], tp, &t);
        if (t) {
            (*runs_used)++;
            int idx[32];
            for (int k = 0; k < nk && k < 32 && rc == QS_OK; k++)
                if ((idx[k] = qs_h5_rows_col(t, kc[k])) < 0)
                    rc = qs_error_set(QS_ERR_FORMAT, "%s: run %d: %s has no column '%s'",
                                      qs_h5_reader_path(r), runs[i], tp, kc[k]);
            for (size_t row = 0; row < t->nrows && rc == QS_OK; row++) {
                qs_field f[32];
                for (int k = 0; k < nk; k++)
                    f[k] =
                        qs__dist_cell_field(&t->cols[idx[k]], &t->cells[row * t->ncols + idx[k]]);
                char key[2048];
                qs_dist_row_key(key, sizeof key, f, (size_t)nk, kc);
                rc = qs_strmap_put(keys, key, strlen(key), 1);
            }
            qs_h5_rows_free(t);
        }
        free(params);
        free(msha);
        free(tsha);
    }
    free(runs);
    qs_h5_reader_close(r);
    return rc;
}

/* ---- the run ---------------------------------------------------------------------------- */

typedef struct local_emit {
    qs__dist_writer *w;
    int item, n;
    double t0;
    int rc;
} local_emit;

static int emit_here(void *ctx, const void *row) {
    local_emit *e = ctx;
    e->n++;
    return qs__dist_deliver(e->w, e->item, row, qs__dist.rank, qs_now() - e->t0);
}

/* Every item in this process, in order. */
static int run_here(qs_dist_job *job, const int *items, int n, qs__dist_writer *w) {
    int rc = QS_OK;
    for (int i = 0; i < n && rc == QS_OK; i++) {
        local_emit e = {w, items[i], 0, qs_now(), QS_OK};
        rc = job->compute(job, items[i], emit_here, &e);
        if (rc == QS_OK && e.n != 1)
            rc = qs_error_set(QS_ERR_ARG, "%s: item %d gave %d rows, expected 1", job->kind,
                              items[i], e.n);
        qs__dist_progress(w, 0);
    }
    return rc;
}

int qs_dist_run(qs_dist_job *job, const qs_dist_opts *o, const qs_dist_out *out,
                qs_dist_report *report) {
    qs_dist_report rep_local;
    qs_dist_report *rep = report ? report : &rep_local;
    memset(rep, 0, sizeof *rep);
    rep->items_total = job->n_items;
    rep->ranks = qs__dist.size;
    if (qs__dist.rank != 0) return qs__dist_mpi_work(job);

    double t0 = qs_now();
    qs__dist_writer w = {0};
    w.job = job;
    w.out = out;
    w.rep = rep;
    w.t0 = w.last_print = t0;
    w.tty = isatty(2);
    w.log = !w.tty && o && (o->print_progress || qs__dist.size > 1);
    int rc = QS_OK;
    int *items = malloc(((size_t)job->n_items + 1) * sizeof *items);
    unsigned char *row = calloc(1, job->row_size);
    w.f = malloc((job->n_fields + 1) * sizeof *w.f);
    w.per_rank = calloc((size_t)qs__dist.size, sizeof *w.per_rank);
    if (!items || !row || !w.f || !w.per_rank) rc = qs_error_set(QS_ERR_NOMEM, "out of memory");
    if (rc == QS_OK && o && o->resume && !(out && out->h5 && out->table))
        rc = qs_error_set(QS_ERR_ARG, "--resume needs a results file (-o FILE) to resume");
    if (rc == QS_OK && out && out->h5 && out->table) rc = writer_open_table(&w, o);
    qs_strmap keys = {0};
    int use_keys = rc == QS_OK && o && o->resume;
    if (use_keys) {
        int used = 0, other = 0;
        rc = qs_strmap_init(&keys, (size_t)job->n_items);
        if (rc == QS_OK) rc = resume_keys(&w, &keys, &used, &other);
        if (rc == QS_OK && other)
            fprintf(stderr, "%s: resume: %d earlier run(s) of %s hold %s from another model, text "
                            "or parameters; not reused\n",
                    job->kind, other, qs_h5_path(out->h5), out->table_path);
        if (rc == QS_OK && keys.count)
            fprintf(stderr, "%s: resume: %zu rows already in %s (%d earlier run(s))\n", job->kind,
                    keys.count, qs_h5_path(out->h5), used);
    }
    int n = 0;
    for (int i = 0; i < job->n_items && rc == QS_OK; i++) {
        if (!qs_dist_in_shard(o, i)) continue;
        rep->items_mine++;
        if (use_keys && keys.count) {
            memset(row, 0, job->row_size);
            job->item_row(job, i, row);
            job->fields(job, row, w.f);
            char key[2048];
            qs_dist_row_key(key, sizeof key, w.f, job->n_fields, job->key_columns);
            if (qs_strmap_get(&keys, key, strlen(key)) >= 0) {
                rep->items_skipped++;
                continue;
            }
        }
        items[n++] = i;
    }
    if (use_keys) qs_strmap_free(&keys);
    w.todo = n;
    int parallel = qs__dist.size > 1 && (!qs__dist.script || job->spec);
    if (rc == QS_OK && qs__dist.script && qs__dist.size > 1 && !job->spec)
        fprintf(stderr, "%s: runs on rank 0 alone: the other ranks cannot rebuild this model (a "
                        "copy made in the script)\n",
                job->kind);
    if (rc == QS_OK && parallel && qs__dist.script) rc = qs__dist_mpi_send_spec(job->spec);
    if (rc == QS_OK)
        rc = parallel ? qs__dist_mpi_root(job, items, n, &w) : run_here(job, items, n, &w);
    qs__dist_progress(&w, 1);
    int c = qs_h5_table_close(w.origin);
    if (rc == QS_OK) rc = c;
    rep->seconds = qs_now() - t0;
    free(items);
    free(row);
    free(w.f);
    free(w.per_rank);
    return rc;
}
