/* A background thread that computes a capture's per-site statistics while the forward pass
 * goes on (capture.h, qs_capture_set_worker).
 *
 * A small model's forward runs on one thread (forward.h, qs_forward_idle_cores): its
 * matrices are tens of values wide and waking a second thread for each short loop costs more
 * than it gives. The statistics of every site would then run on that same thread and, at
 * 64 channels, cost about as much as the forward itself. This worker takes them to an idle
 * core: the hook copies the site's activations (T, C) into a slot and returns; the worker
 * runs the jobs one at a time in the order they were pushed, so every accumulator sees the
 * same windows in the same order and the results are bit-identical to running them in the
 * hook. The forward waits only when every slot is taken.
 *
 * Errors: a job's error stops the worker's later jobs and is returned, with the job's
 * message, by the next push or wait (the forward then stops one or a few sites later than
 * it would have; the statistics already added stay).
 *
 * Memory: slots · T · C floats at the largest (T, C) pushed, allocated as they are needed. */
#ifndef QS_STATS_WORKER_H
#define QS_STATS_WORKER_H

#include <stdint.h>

/* One job: the statistics of x (T, C) at a site and layer, window position pos0. Runs on
 * the worker thread; returns a QS_ERR_* code and sets the message there. */
typedef int (*qs_stats_job_fn)(void *user, int site, int layer, const float *x, int T, int C,
                               int pos0);

typedef struct qs_stats_worker qs_stats_worker; /* opaque */

/* Starts the thread, which runs fn(user, ...) for every job with OpenMP limited to itself
 * (one thread). slots >= 1. Errors: QS_ERR_ARG, QS_ERR_NOMEM (also when the thread cannot
 * be started). */
int qs_stats_worker_create(qs_stats_worker **out, qs_stats_job_fn fn, void *user, int slots);

/* Copies x (T, C) into a free slot (waiting for one) and queues the job. Returns the error
 * of a job that failed since the last call, if any (x is then not queued). */
int qs_stats_worker_push(qs_stats_worker *w, int site, int layer, const float *x, int T, int C,
                         int pos0);

/* Waits until every queued job has run; returns the first error of one that failed. */
int qs_stats_worker_wait(qs_stats_worker *w);

/* Waits for the queued jobs, stops and joins the thread, frees everything. NULL is fine. */
void qs_stats_worker_free(qs_stats_worker *w);

/* Bytes the slots hold now. */
int64_t qs_stats_worker_memory_bytes(const qs_stats_worker *w);

#endif
