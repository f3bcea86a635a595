/* Memory accounting (memstat.h). */
#include "memstat.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

static atomic_llong current[QS_MEMSTAT_KINDS], peak[QS_MEMSTAT_KINDS], heap_now, heap_peak;

static void raise_to(atomic_llong *p, long long v) {
    long long old = atomic_load(p);
    while (v > old && !atomic_compare_exchange_weak(p, &old, v)) {}
}

void qs_memstat_add(int kind, long long delta) {
    if (kind < 0 || kind >= QS_MEMSTAT_KINDS || delta == 0) return;
    long long v = atomic_fetch_add(&current[kind], delta) + delta;
    raise_to(&peak[kind], v);
    if (kind != QS_MEMSTAT_MAPPED) raise_to(&heap_peak, atomic_fetch_add(&heap_now, delta) + delta);
}

size_t qs_memstat_current(int kind) {
    long long v = kind >= 0 && kind < QS_MEMSTAT_KINDS ? atomic_load(&current[kind]) : 0;
    return v > 0 ? (size_t)v : 0;
}

size_t qs_memstat_peak(int kind) {
    return kind >= 0 && kind < QS_MEMSTAT_KINDS ? (size_t)atomic_load(&peak[kind]) : 0;
}

size_t qs_memstat_peak_heap(void) { return (size_t)atomic_load(&heap_peak); }

void *qs_memstat_alloc(int kind, size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (p) qs_memstat_add(kind, (long long)bytes);
    return p;
}

void qs_memstat_free(int kind, void *p, size_t bytes) {
    if (!p) return;
    free(p);
    qs_memstat_add(kind, -(long long)bytes);
}

size_t qs_memstat_peak_rss(void) {
    struct rusage u;
    if (getrusage(RUSAGE_SELF, &u) != 0) return 0;
    return (size_t)u.ru_maxrss * 1024; /* Linux: kilobytes */
}

size_t qs_memstat_current_rss(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long long pages = 0, rss = 0;
    if (!f) return 0;
    if (fscanf(f, "%lld %lld", &pages, &rss) != 2) rss = 0;
    fclose(f);
    return (size_t)rss * (size_t)sysconf(_SC_PAGESIZE);
}

const char *qs_memstat_kind_name(int kind) {
    static const char *names[QS_MEMSTAT_KINDS] = {"mapped", "weights", "activations", "kv_cache",
                                                  "scratch"};
    return kind >= 0 && kind < QS_MEMSTAT_KINDS ? names[kind] : "?";
}
