/* What qscope holds in memory, by kind, for the memory report of `qscope info` and every
 * command's --json: bytes of model files mapped, bytes allocated for weights (packed twins,
 * f32 copies of planted or vector tensors), activations (forward buffers, logits), KV cache
 * and weight-expansion scratch; for each the bytes held now and the most held at once,
 * process-wide (atomic counters), and the process's peak resident set size.
 *
 * The README's memory formula is in these terms: peak RSS ≈ the mapped pages the run
 * touches (at most the file bytes) + weights + activations + KV + scratch + the code and
 * libraries (a few tens of MB). */
#ifndef QS_MEMSTAT_H
#define QS_MEMSTAT_H

#include <stddef.h>

enum qs_memstat_kind {
    QS_MEMSTAT_MAPPED = 0, /* read-only file mappings of models */
    QS_MEMSTAT_WEIGHTS,    /* weight bytes models allocated */
    QS_MEMSTAT_ACTIVATIONS,
    QS_MEMSTAT_KV,
    QS_MEMSTAT_SCRATCH,
    QS_MEMSTAT_KINDS
};

/* Counts bytes of a kind in (delta > 0) or out. */
void qs_memstat_add(int kind, long long delta);
/* Bytes of a kind held now, and the most held at once since the process started. */
size_t qs_memstat_current(int kind);
size_t qs_memstat_peak(int kind);
/* The most held at once of weights + activations + KV + scratch together. */
size_t qs_memstat_peak_heap(void);
/* malloc / free that count (free(NULL) is harmless; pass the bytes allocated). */
void *qs_memstat_alloc(int kind, size_t bytes);
void qs_memstat_free(int kind, void *p, size_t bytes);
/* The process's peak resident set size in bytes (getrusage), and its current one. */
size_t qs_memstat_peak_rss(void);
size_t qs_memstat_current_rss(void);
/* "mapped", "weights", "activations", "kv_cache", "scratch". */
const char *qs_memstat_kind_name(int kind);

#endif
