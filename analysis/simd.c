#include "simd.h"

#include <stdatomic.h>
#include <stdlib.h>

int qs__use_avx512(void) {
    static atomic_int cached = -1;
    int v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (v >= 0) return v;
    v = 0;
#if QS_HAVE_AVX512
    __builtin_cpu_init();
    v = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("popcnt");
    const char *off = getenv("QS_NO_AVX512");
    if (off && *off && *off != '0') v = 0;
#endif
    atomic_store_explicit(&cached, v, memory_order_relaxed);
    return v;
}
