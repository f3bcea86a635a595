/* Which SIMD path the fast kernels take on this CPU.
 *
 * The build targets baseline x86-64; fast kernels are compiled per function with the
 * QS_TARGET_* attributes below and chosen at run time from qs_cpu_path(). Every path gives
 * the bits of its scalar `_ref` twin unless its header names a tolerance.
 *
 * QS_CPU_PATH=scalar|avx2|avx512 in the environment caps the path (a higher one than the
 * CPU has is ignored), so one machine tests every lower path. QS_NO_AVX512=1 (older name)
 * caps it at avx2. */
#ifndef QS_CPU_H
#define QS_CPU_H

enum {
    QS_CPU_SCALAR = 0, /* portable C */
    QS_CPU_AVX2 = 1,   /* AVX2 + FMA + F16C (Haswell, Zen 1-3) */
    QS_CPU_AVX512 = 2, /* AVX-512 F/VL/BW/DQ (Skylake-X, Ice Lake, Zen 4-5) */
};

/* Optional features beyond a path's baseline, as a bit set (qs_cpu_features). */
enum {
    QS_CPU_HAS_AVX512_VNNI = 1 << 0, /* vpdpbusd on 512/256-bit vectors */
    QS_CPU_HAS_AVX_VNNI = 1 << 1,    /* VEX-encoded vpdpbusd (Alder Lake, Zen 5) */
    QS_CPU_HAS_AVX512_BF16 = 1 << 2,
};

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define QS_HAVE_X86_SIMD 1
#define QS_TARGET_AVX2   __attribute__((target("avx2,fma,f16c,popcnt")))
#define QS_TARGET_AVX512 \
    __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,fma,f16c,popcnt")))
#else
#define QS_HAVE_X86_SIMD 0
#define QS_TARGET_AVX2
#define QS_TARGET_AVX512
#endif

/* The path in use: the best this CPU runs, capped by QS_CPU_PATH. Computed once. */
int qs_cpu_path(void);
/* Makes `path` (capped at the best this CPU runs) the path in use, whatever the
 * environment says, and returns it. For tests and benchmarks that compare paths in one
 * process: kernels read the path once per call, so call it between kernel calls. */
int qs_cpu_path_set(int path);
/* The best path this CPU runs, ignoring the environment. */
int qs_cpu_path_supported(void);
/* QS_CPU_HAS_* bits this CPU has (only those whose path is in use). */
unsigned qs_cpu_features(void);
/* "scalar", "avx2", "avx512" (static storage). */
const char *qs_cpu_path_name(int path);

#endif
