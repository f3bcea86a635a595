#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

double qs_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void qs_progress_start(qs_progress *p, const char *label, long total) {
    p->label = label;
    p->total = total;
    p->done = 0;
    p->t_start = p->t_last_print = qs_now();
    p->enabled = isatty(2);
}

void qs_progress_add(qs_progress *p, long n) {
    p->done += n;
    if (!p->enabled) return;
    double now = qs_now();
    if (now - p->t_last_print < 0.25 && p->done < p->total) return;
    p->t_last_print = now;
    double el = now - p->t_start, rate = el > 0 ? p->done / el : 0;
    if (p->total > 0) {
        double eta = rate > 0 ? (p->total - p->done) / rate : 0;
        fprintf(stderr, "\r%s: %ld/%ld tokens  %.0f tok/s  ETA %.0fs   ", p->label, p->done,
                p->total, rate, eta);
    } else {
        fprintf(stderr, "\r%s: %ld tokens  %.0f tok/s   ", p->label, p->done, rate);
    }
    fflush(stderr);
}

double qs_progress_end(qs_progress *p) {
    if (p->enabled) fprintf(stderr, "\r\033[K");
    return qs_now() - p->t_start;
}
