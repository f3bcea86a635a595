/* Progress of a long run on stderr (tokens done, tokens/s, ETA), only when stderr is a
 * terminal, at most a few times a second. */
#ifndef QS_PROGRESS_H
#define QS_PROGRESS_H

typedef struct qs_progress {
    const char *label;
    long total; /* tokens expected (0 if unknown) */
    long done;
    double t_start, t_last_print;
    int enabled;
} qs_progress;

/* Monotonic seconds. */
double qs_now(void);
void qs_progress_start(qs_progress *p, const char *label, long total);
void qs_progress_add(qs_progress *p, long n);
/* Clears the progress line. Returns elapsed seconds. */
double qs_progress_end(qs_progress *p);

#endif
