/* The background statistics thread (stats_worker.h): a ring of slots between one producer
 * (the forward's hook) and one consumer (the thread), under one mutex. */
#include "stats_worker.h"

#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

typedef struct slot {
    int site, layer, T, C, pos0;
    float *x; /* (T, C) copy */
    size_t cap;
} slot;

struct qs_stats_worker {
    qs_stats_job_fn fn;
    void *user;
    slot *slots;
    int n_slots;
    int head, count; /* jobs waiting or running: slots head .. head + count - 1 (mod n) */
    int stop;
    int rc;         /* the first job error, QS_OK if none */
    char msg[2048]; /* its message (error.c keeps as much), from the worker */
    pthread_mutex_t mu;
    pthread_cond_t changed; /* a job was queued or finished, or stop was set */
    pthread_t thread;
    int started;
};

static void *run(void *arg) {
    qs_stats_worker *w = arg;
    omp_set_num_threads(1); /* the other cores belong to the forward */
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->count == 0 && !w->stop) pthread_cond_wait(&w->changed, &w->mu);
        if (w->count == 0) break; /* stopped, and nothing left */
        slot *s = &w->slots[w->head];
        int skip = w->rc != QS_OK;
        pthread_mutex_unlock(&w->mu);
        int rc = skip ? QS_OK : w->fn(w->user, s->site, s->layer, s->x, s->T, s->C, s->pos0);
        pthread_mutex_lock(&w->mu);
        if (rc != QS_OK && w->rc == QS_OK) {
            w->rc = rc;
            snprintf(w->msg, sizeof w->msg, "%s", qs_error_message());
        }
        w->head = (w->head + 1) % w->n_slots;
        w->count--;
        pthread_cond_broadcast(&w->changed);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int qs_stats_worker_create(qs_stats_worker **out, qs_stats_job_fn fn, void *user, int slots) {
    *out = NULL;
    if (!fn || slots < 1) return qs_error_set(QS_ERR_ARG, "stats worker: no job or no slots");
    qs_stats_worker *w = calloc(1, sizeof *w);
    if (!w || !(w->slots = calloc((size_t)slots, sizeof *w->slots))) {
        free(w);
        return qs_error_set(QS_ERR_NOMEM, "stats worker: out of memory");
    }
    w->fn = fn;
    w->user = user;
    w->n_slots = slots;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->changed, NULL);
    /* a small stack: the statistics keep their scratch on the heap (address space is what
     * an address-space limit counts) */
    pthread_attr_t attr;
    int ok = pthread_attr_init(&attr) == 0;
    if (ok) pthread_attr_setstacksize(&attr, (size_t)1 << 20);
    ok = ok && pthread_create(&w->thread, &attr, run, w) == 0;
    pthread_attr_destroy(&attr);
    if (!ok) {
        qs_stats_worker_free(w);
        return qs_error_set(QS_ERR_NOMEM, "stats worker: cannot start a thread");
    }
    w->started = 1;
    *out = w;
    return QS_OK;
}

/* The first job error, set again on the calling thread; call with the lock held. */
static int job_error(const qs_stats_worker *w) {
    return w->rc == QS_OK ? QS_OK : qs_error_set(w->rc, "%s", w->msg);
}

int qs_stats_worker_push(qs_stats_worker *w, int site, int layer, const float *x, int T, int C,
                         int pos0) {
    pthread_mutex_lock(&w->mu);
    while (w->count == w->n_slots && w->rc == QS_OK) pthread_cond_wait(&w->changed, &w->mu);
    int rc = job_error(w);
    slot *s = &w->slots[(w->head + w->count) % w->n_slots];
    pthread_mutex_unlock(&w->mu);
    if (rc) return rc;
    /* the slot is the producer's until count covers it */
    size_t n = (size_t)T * (size_t)C;
    if (n > s->cap) {
        float *g = realloc(s->x, n * sizeof *g);
        if (!g) return qs_error_set(QS_ERR_NOMEM, "stats worker: a copy of %d x %d", T, C);
        s->x = g;
        s->cap = n;
    }
    memcpy(s->x, x, n * sizeof *x);
    s->site = site, s->layer = layer, s->T = T, s->C = C, s->pos0 = pos0;
    pthread_mutex_lock(&w->mu);
    w->count++;
    pthread_cond_broadcast(&w->changed);
    pthread_mutex_unlock(&w->mu);
    return QS_OK;
}

int qs_stats_worker_wait(qs_stats_worker *w) {
    pthread_mutex_lock(&w->mu);
    while (w->count > 0) pthread_cond_wait(&w->changed, &w->mu);
    int rc = job_error(w);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

void qs_stats_worker_free(qs_stats_worker *w) {
    if (!w) return;
    if (w->started) {
        pthread_mutex_lock(&w->mu);
        w->stop = 1;
        pthread_cond_broadcast(&w->changed);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
    }
    pthread_cond_destroy(&w->changed);
    pthread_mutex_destroy(&w->mu);
    for (int i = 0; i < w->n_slots; i++) free(w->slots[i].x);
    free(w->slots);
    free(w);
}

int64_t qs_stats_worker_memory_bytes(const qs_stats_worker *w) {
    int64_t b = 0;
    for (int i = 0; w && i < w->n_slots; i++) b += (int64_t)w->slots[i].cap * sizeof(float);
    return b;
}
