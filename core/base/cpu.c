#include "cpu.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if QS_HAVE_X86_SIMD
#include <cpuid.h>
#endif

int qs_cpu_path_supported(void) {
    static atomic_int cached = -1;
    int v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (v >= 0) return v;
    v = QS_CPU_SCALAR;
#if QS_HAVE_X86_SIMD
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        __builtin_cpu_supports("popcnt"))
        v = QS_CPU_AVX2;
    if (v == QS_CPU_AVX2 && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq"))
        v = QS_CPU_AVX512;
#endif
    atomic_store_explicit(&cached, v, memory_order_relaxed);
    return v;
}

/* The cap from the environment; QS_CPU_AVX512 when none is set. */
static int env_cap(void) {
    const char *p = getenv("QS_CPU_PATH");
    if (p && *p) {
        if (strcmp(p, "scalar") == 0) return QS_CPU_SCALAR;
        if (strcmp(p, "avx2") == 0) return QS_CPU_AVX2;
    }
    const char *off = getenv("QS_NO_AVX512");
    if (off && *off && *off != '0') return QS_CPU_AVX2;
    return QS_CPU_AVX512;
}

/* the path in use; -1 until first asked for or set */
static atomic_int path_in_use = -1;

int qs_cpu_path(void) {
    int v = atomic_load_explicit(&path_in_use, memory_order_relaxed);
    if (v >= 0) return v;
    v = qs_cpu_path_supported();
    int cap = env_cap();
    if (v > cap) v = cap;
    atomic_store_explicit(&path_in_use, v, memory_order_relaxed);
    return v;
}

int qs_cpu_path_set(int path) {
    int v = qs_cpu_path_supported();
    if (path < QS_CPU_SCALAR) path = QS_CPU_SCALAR;
    if (v > path) v = path;
    atomic_store_explicit(&path_in_use, v, memory_order_relaxed);
    return v;
}

/* The feature bits the CPU reports, read once: CPUID traps to the hypervisor on a virtual
 * machine (microseconds), and qs_cpu_features is asked per kernel call. Read from CPUID
 * directly because compilers disagree on which names __builtin_cpu_supports knows (clang
 * 14 rejects "avxvnni" at compile time). */
static unsigned raw_features(void) {
    static atomic_int cached = -1;
    int v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (v >= 0) return (unsigned)v;
    unsigned f = 0;
#if QS_HAVE_X86_SIMD
    unsigned a, b, c, d;
    if (__get_cpuid_max(0, NULL) >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        if (c >> 11 & 1u) f |= QS_CPU_HAS_AVX512_VNNI;
        __cpuid_count(7, 1, a, b, c, d);
        if (a >> 4 & 1u) f |= QS_CPU_HAS_AVX_VNNI;
        if (a >> 5 & 1u) f |= QS_CPU_HAS_AVX512_BF16;
    }
#endif
    atomic_store_explicit(&cached, (int)f, memory_order_relaxed);
    return f;
}

/* The OS-saved-state check is in the path: these bits count only when the AVX2 or AVX-512
 * path is in use. */
unsigned qs_cpu_features(void) {
    unsigned f = raw_features();
    int path = qs_cpu_path();
    if (path < QS_CPU_AVX512) f &= ~(unsigned)(QS_CPU_HAS_AVX512_VNNI | QS_CPU_HAS_AVX512_BF16);
    if (path < QS_CPU_AVX2) f = 0;
    return f;
}

const char *qs_cpu_path_name(int path) {
    switch (path) {
    case QS_CPU_SCALAR: return "scalar";
    case QS_CPU_AVX2: return "avx2";
    case QS_CPU_AVX512: return "avx512";
    default: return "?";
    }
}
