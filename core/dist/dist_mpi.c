/* The queue between ranks (dist.h), over MPI point-to-point messages. Only the main thread
 * of each rank calls MPI (MPI_THREAD_FUNNELED); rank 0's second thread computes items and
 * hands its rows to the main thread through a locked list.
 *
 * Messages (tags): a rank asks rank 0 for work (REQ: job number, grid size and digest);
 * rank 0 answers with a chunk of item indices (ITEMS; none: the job is over for that rank).
 * A rank asks for its next chunk as soon as it receives one, so the answer is there when
 * it finishes the chunk (rank 0 may be busy writing rows). Each computed row goes to rank
 * 0 as ROW (item, seconds, the row's bytes); an item that cannot be computed as FAIL
 * (item, code, message); after its last row a rank sends DONE. Rank 0 answers requests
 * before anything else: a rank waiting for work is a rank idle. Rank 0 of `qscope run`
 * sends JOB (a spec) before each distributed loop of its script and END when the script
 * is over.
 *
 * Chunks shrink as the queue drains (a rank gets remaining / (2 · ranks) items, at least
 * one, at most 64), so the ranks finish together and a slow item delays only its own rank.
 * Waiting ranks poll with short sleeps instead of blocking in MPI, whose blocking calls
 * spin and would take a core from the ranks that compute; rank 0 naps 2 ms when idle (a
 * row or request waits at most that long; 0.3 ms cost its main thread 12 % of a core). */
#include "dist_int.h"

#include "error.h"

#ifdef QS_HAVE_MPI

#include <mpi.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

enum { T_REQ = 101, T_ITEMS, T_ROW, T_FAIL, T_DONE, T_JOB, T_END };

#define CHUNK_MAX 64
#define MSG_MAX   512

static int job_seq; /* distributed jobs started, the same count on every rank */

int qs_dist_mpi_built(void) { return 1; }

int qs__dist_mpi_init(int *argc, char ***argv) {
    int provided;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return qs_error_set(QS_ERR_IO, "MPI_Init_thread failed");
    if (provided < MPI_THREAD_FUNNELED) {
        MPI_Finalize();
        return qs_error_set(QS_ERR_UNSUPPORTED, "this MPI gives no thread support (FUNNELED)");
    }
    qs__dist.mpi = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &qs__dist.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &qs__dist.size);
    qs__dist.hosts = calloc((size_t)qs__dist.size, sizeof *qs__dist.hosts);
    qs__dist.pids = calloc((size_t)qs__dist.size, sizeof *qs__dist.pids);
    if (!qs__dist.hosts || !qs__dist.pids) {
        MPI_Abort(MPI_COMM_WORLD, 1);
        return QS_ERR_NOMEM;
    }
    long pid = (long)getpid();
    MPI_Allgather(qs__dist.host, 64, MPI_CHAR, qs__dist.hosts, 64, MPI_CHAR, MPI_COMM_WORLD);
    MPI_Allgather(&pid, 1, MPI_LONG, qs__dist.pids, 1, MPI_LONG, MPI_COMM_WORLD);
    return QS_OK;
}

static void nap(long usec);

void qs__dist_mpi_finalize(void) {
    /* a rank that ends early (ranks > 0 of a command rank 0 runs alone) waits here with naps:
     * MPI_Finalize's own wait for the others polls, 12 % of a core */
    MPI_Request rq;
    int done = 0;
    if (MPI_Ibarrier(MPI_COMM_WORLD, &rq) == MPI_SUCCESS)
        while (MPI_Test(&rq, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done) nap(2000);
    MPI_Finalize();
}

void qs__dist_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code ? code : 1); }

static void nap(long usec) {
    struct timespec ts = {0, usec * 1000};
    nanosleep(&ts, NULL);
}

/* ---- script mode: specs ------------------------------------------------------------------ */

int qs__dist_mpi_send_spec(const char *spec) {
    int len = (int)strlen(spec) + 1;
    for (int r = 1; r < qs__dist.size; r++)
        MPI_Send(spec, len, MPI_CHAR, r, T_JOB, MPI_COMM_WORLD);
    return QS_OK;
}

void qs__dist_mpi_send_end(void) {
    char z = 0;
    for (int r = 1; r < qs__dist.size; r++) MPI_Send(&z, 1, MPI_CHAR, r, T_END, MPI_COMM_WORLD);
    qs__dist.serving = 0;
}

int qs__dist_mpi_recv_spec(char **spec) {
    *spec = NULL;
    MPI_Status st;
    int flag = 0;
    /* rank 0 may run script code for hours between loops: wait without spinning */
    while (MPI_Iprobe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st) == MPI_SUCCESS && !flag)
        nap(2000);
    int count;
    MPI_Get_count(&st, MPI_CHAR, &count);
    char *buf = malloc((size_t)count + 1);
    if (!buf) return qs_error_set(QS_ERR_NOMEM, "out of memory for a job spec");
    MPI_Recv(buf, count, MPI_CHAR, 0, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    buf[count] = '\0';
    if (st.MPI_TAG == T_END) {
        free(buf);
        return QS_OK;
    }
    if (st.MPI_TAG != T_JOB) {
        free(buf);
        return qs_error_set(QS_ERR_FORMAT, "rank %d: unexpected message %d from rank 0",
                            qs__dist.rank, st.MPI_TAG);
    }
    *spec = buf;
    return QS_OK;
}

/* ---- a computing rank ------------------------------------------------------------------- */

typedef struct row_head {
    int item;
    int pad;
    double seconds;
} row_head;

typedef struct work_emit {
    qs_dist_job *job;
    unsigned char *buf; /* row_head + row */
    int item, n;
    double t0;
} work_emit;

static int emit_send(void *ctx, const void *row) {
    work_emit *e = ctx;
    row_head h = {e->item, 0, qs_now() - e->t0};
    memcpy(e->buf, &h, sizeof h);
    memcpy(e->buf + sizeof h, row, e->job->row_size);
    if (e->job->pack) e->job->pack(e->buf + sizeof h);
    e->n++;
    MPI_Send(e->buf, (int)(sizeof h + e->job->row_size), MPI_BYTE, 0, T_ROW, MPI_COMM_WORLD);
    return QS_OK;
}

static void send_fail(int item, int code, const char *msg) {
    char buf[2 * sizeof(int) + MSG_MAX];
    memcpy(buf, &item, sizeof item);
    memcpy(buf + sizeof item, &code, sizeof code);
    snprintf(buf + 2 * sizeof(int), MSG_MAX, "%s", msg);
    MPI_Send(buf, (int)sizeof buf, MPI_CHAR, 0, T_FAIL, MPI_COMM_WORLD);
}

static void request(const qs_dist_job *job) {
    int req[3] = {job_seq, job->n_items, (int)qs__dist_job_digest(job)};
    MPI_Send(req, 3, MPI_INT, 0, T_REQ, MPI_COMM_WORLD);
}

/* The answer to the request outstanding: a chunk of items (count 0: no more). */
static int receive_chunk(int *items) {
    MPI_Status st;
    int flag = 0, count;
    while (MPI_Iprobe(0, T_ITEMS, MPI_COMM_WORLD, &flag, &st) == MPI_SUCCESS && !flag) nap(500);
    MPI_Get_count(&st, MPI_INT, &count);
    MPI_Recv(items, CHUNK_MAX, MPI_INT, 0, T_ITEMS, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    return count;
}

int qs__dist_mpi_work(qs_dist_job *job) {
    job_seq++;
    unsigned char *buf = malloc(sizeof(row_head) + job->row_size);
    int items[CHUNK_MAX];
    int failed = 0;
    if (!buf) {
        send_fail(-1, QS_ERR_NOMEM, "out of memory for a row");
        failed = 1;
    }
    request(job);
    int count = receive_chunk(items);
    while (count > 0) {
        int now[CHUNK_MAX], n = count;
        memcpy(now, items, (size_t)n * sizeof *now);
        request(job); /* the next chunk, asked for before this one is computed */
        for (int i = 0; i < n && !failed; i++) {
            work_emit e = {job, buf, now[i], 0, qs_now()};
            int rc = job->compute(job, now[i], emit_send, &e);
            if (rc == QS_OK && e.n != 1)
                rc = qs_error_set(QS_ERR_ARG, "item %d gave %d rows, expected 1", now[i], e.n);
            if (rc) {
                send_fail(now[i], rc, qs_error_message());
                failed = 1;
            }
        }
        count = receive_chunk(items);
    }
    int done = failed;
    MPI_Send(&done, 1, MPI_INT, 0, T_DONE, MPI_COMM_WORLD); /* after every row of this rank */
    free(buf);
    /* rank 0 reports a failure (naming this rank); this rank ends normally */
    return QS_OK;
}

/* ---- rank 0 ----------------------------------------------------------------------------- */

typedef struct local_row {
    struct local_row *next;
    int item;
    double seconds;
    unsigned char row[];
} local_row;

typedef struct root_state {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    qs_dist_job *job;
    const int *items;
    int n, next;
    int stop;                /* an error: no more items handed out */
    local_row *head, *tail;  /* rows from the computing thread */
    int local_done;          /* the computing thread has finished */
    int local_rc, local_item;
    char local_msg[MSG_MAX];
    int threads;             /* OpenMP threads of the main thread, for the second one */
} root_state;

/* The next chunk of the queue (caller holds the lock). */
static int take(root_state *s, int *first) {
    int left = s->n - s->next;
    if (s->stop || left <= 0) return 0;
    int c = left / (2 * qs__dist.size);
    c = c < 1 ? 1 : c > CHUNK_MAX ? CHUNK_MAX : c;
    *first = s->next;
    s->next += c;
    return c;
}

typedef struct local_ctx {
    root_state *s;
    int item, n;
    double t0;
} local_ctx;

static int emit_local(void *ctx, const void *row) {
    local_ctx *c = ctx;
    root_state *s = c->s;
    local_row *r = malloc(sizeof *r + s->job->row_size);
    if (!r) return qs_error_set(QS_ERR_NOMEM, "out of memory for a row");
    r->next = NULL;
    r->item = c->item;
    r->seconds = qs_now() - c->t0;
    memcpy(r->row, row, s->job->row_size);
    c->n++;
    pthread_mutex_lock(&s->mu);
    if (s->tail)
        s->tail->next = r;
    else
        s->head = r;
    s->tail = r;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return QS_OK;
}

static void *local_main(void *arg) {
    root_state *s = arg;
    omp_set_num_threads(s->threads); /* a new thread starts from the default count */
    int rc = QS_OK, item = -1;
    while (rc == QS_OK) {
        int first, count;
        pthread_mutex_lock(&s->mu);
        count = take(s, &first);
        pthread_mutex_unlock(&s->mu);
        if (count == 0) break;
        for (int i = 0; i < count && rc == QS_OK; i++) {
            item = s->items[first + i];
            local_ctx c = {s, item, 0, qs_now()};
            rc = s->job->compute(s->job, item, emit_local, &c);
            if (rc == QS_OK && c.n != 1)
                rc = qs_error_set(QS_ERR_ARG, "item %d gave %d rows, expected 1", item, c.n);
            pthread_mutex_lock(&s->mu);
            if (s->stop) rc = rc ? rc : -1; /* someone failed: stop here too */
            pthread_mutex_unlock(&s->mu);
        }
    }
    pthread_mutex_lock(&s->mu);
    if (rc > 0) {
        s->local_rc = rc;
        s->local_item = item;
        snprintf(s->local_msg, sizeof s->local_msg, "%s", qs_error_message());
        s->stop = 1;
    }
    s->local_done = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* No more items for anyone. */
static void stop(root_state *s) {
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_mutex_unlock(&s->mu);
}

/* Records the first failure of the run. */
static int fail_first(int *rc, int code) {
    if (*rc == QS_OK) *rc = code;
    return code;
}

int qs__dist_mpi_root(qs_dist_job *job, const int *items, int n, qs__dist_writer *w) {
    job_seq++;
    root_state s;
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    s.job = job;
    s.items = items;
    s.n = n;
    s.threads = omp_get_max_threads();
    int rc = QS_OK, write_failed = 0;
    unsigned digest = qs__dist_job_digest(job);
    size_t msg_size = sizeof(row_head) + job->row_size;
    unsigned char *buf = malloc(msg_size > MSG_MAX + 8 ? msg_size : MSG_MAX + 8);
    pthread_t th;
    int started = buf && pthread_create(&th, NULL, local_main, &s) == 0;
    if (!started) {
        s.stop = 1;
        s.local_done = 1;
        rc = qs_error_set(QS_ERR_NOMEM, "cannot start rank 0's computing thread");
    }
    int finished = 0, workers = qs__dist.size - 1;
    for (;;) {
        int busy = 0;
        /* requests first: the rank that sent one is (or soon will be) without work */
        for (;;) {
            int flag = 0;
            MPI_Status st;
            MPI_Iprobe(MPI_ANY_SOURCE, T_REQ, MPI_COMM_WORLD, &flag, &st);
            if (!flag) break;
            busy = 1;
            int src = st.MPI_SOURCE, req[3];
            MPI_Recv(req, 3, MPI_INT, src, T_REQ, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            if (req[0] != job_seq || req[1] != job->n_items || (unsigned)req[2] != digest) {
                fail_first(&rc, qs_error_set(QS_ERR_ARG,
                                             "rank %d (%s) computes another grid: job %d with %d "
                                             "items (rank 0: job %d, %d items)",
                                             src, qs__dist.hosts[src], req[0], req[1], job_seq,
                                             job->n_items));
                stop(&s);
            }
            int chunk[CHUNK_MAX], first = 0;
            pthread_mutex_lock(&s.mu);
            int count = take(&s, &first);
            pthread_mutex_unlock(&s.mu);
            for (int i = 0; i < count; i++) chunk[i] = items[first + i];
            MPI_Send(chunk, count, MPI_INT, src, T_ITEMS, MPI_COMM_WORLD);
        }
        /* one row, failure or end from another rank (in the order each rank sent them) */
        int flag = 0;
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
        if (flag && st.MPI_TAG != T_REQ) {
            busy = 1;
            int src = st.MPI_SOURCE;
            if (st.MPI_TAG == T_ROW) {
                MPI_Recv(buf, (int)msg_size, MPI_BYTE, src, T_ROW, MPI_COMM_WORLD,
                         MPI_STATUS_IGNORE);
                row_head h;
                memcpy(&h, buf, sizeof h);
                if (job->unpack) job->unpack(buf + sizeof h);
                if (!write_failed) {
                    int e = qs__dist_deliver(w, h.item, buf + sizeof h, src, h.seconds);
                    if (e) {
                        write_failed = 1;
                        fail_first(&rc, e);
                        stop(&s);
                    }
                }
            } else if (st.MPI_TAG == T_FAIL) {
                char m[2 * sizeof(int) + MSG_MAX];
                MPI_Recv(m, (int)sizeof m, MPI_CHAR, src, T_FAIL, MPI_COMM_WORLD,
                         MPI_STATUS_IGNORE);
                int item, code;
                memcpy(&item, m, sizeof item);
                memcpy(&code, m + sizeof item, sizeof code);
                m[sizeof m - 1] = '\0';
                fail_first(&rc, qs_error_set(code, "rank %d (%s), item %d: %s", src,
                                             qs__dist.hosts[src], item, m + 2 * sizeof(int)));
                stop(&s);
            } else if (st.MPI_TAG == T_DONE) {
                int d;
                MPI_Recv(&d, 1, MPI_INT, src, T_DONE, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                finished++;
            } else {
                char junk[8];
                MPI_Recv(junk, 0, MPI_BYTE, src, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                fail_first(&rc, qs_error_set(QS_ERR_FORMAT, "unexpected message %d from rank %d",
                                             st.MPI_TAG, src));
            }
        }
        /* a few rows computed here, then the other ranks again */
        pthread_mutex_lock(&s.mu);
        local_row *list = s.head;
        int taken = 0;
        local_row *last = NULL;
        for (local_row *r = list; r && taken < 8; r = r->next) last = r, taken++;
        if (last) {
            s.head = last->next;
            if (!s.head) s.tail = NULL;
            last->next = NULL;
        }
        int local_done = s.local_done && !s.head;
        pthread_mutex_unlock(&s.mu);
        while (list && taken) {
            local_row *next = list->next;
            if (!write_failed) {
                int e = qs__dist_deliver(w, list->item, list->row, 0, list->seconds);
                if (e) {
                    write_failed = 1;
                    fail_first(&rc, e);
                    stop(&s);
                }
            }
            free(list);
            list = next;
            busy = 1;
        }
        if (busy) {
            qs__dist_progress(w, 0);
            continue;
        }
        if (finished == workers && local_done) break;
        /* nothing to do: wait for the computing thread's next row, or a moment for MPI */
        pthread_mutex_lock(&s.mu);
        if (!s.head && !s.local_done) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 2 * 1000 * 1000;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&s.cv, &s.mu, &until);
        }
        pthread_mutex_unlock(&s.mu);
        if (local_done) nap(2000);
    }
    if (started) pthread_join(th, NULL);
    if (s.local_rc)
        fail_first(&rc, qs_error_set(s.local_rc, "rank 0 (%s), item %d: %s", qs__dist.host,
                                     s.local_item, s.local_msg));
    pthread_mutex_destroy(&s.mu);
    pthread_cond_destroy(&s.cv);
    free(buf);
    return rc;
}

#else /* no MPI: one process */

int qs_dist_mpi_built(void) { return 0; }
int qs__dist_mpi_init(int *argc, char ***argv) {
    (void)argc, (void)argv;
    return qs_error_set(QS_ERR_UNSUPPORTED, "built without MPI");
}
void qs__dist_mpi_finalize(void) {}
void qs__dist_mpi_abort(int code) { (void)code; }
int qs__dist_mpi_root(qs_dist_job *job, const int *items, int n, qs__dist_writer *w) {
    (void)job, (void)items, (void)n, (void)w;
    return qs_error_set(QS_ERR_UNSUPPORTED, "built without MPI");
}
int qs__dist_mpi_work(qs_dist_job *job) {
    (void)job;
    return qs_error_set(QS_ERR_UNSUPPORTED, "built without MPI");
}
int qs__dist_mpi_send_spec(const char *spec) {
    (void)spec;
    return qs_error_set(QS_ERR_UNSUPPORTED, "built without MPI");
}
void qs__dist_mpi_send_end(void) {}
int qs__dist_mpi_recv_spec(char **spec) {
    *spec = NULL;
    return qs_error_set(QS_ERR_UNSUPPORTED, "built without MPI");
}

#endif
