/* AVX-512 kernels of the analysis modules (not public API).
 *
 * The build targets baseline x86-64, so the fast kernels are compiled per function with
 * QS_AVX512 and chosen at run time by qs__use_avx512(). Every kernel gives the same bits as
 * the portable code it replaces: exact results (counts, extremes, medians, bins) by
 * construction, and per-channel double sums in the same order with the same operations
 * (separate multiply and add, never a fused one). Setting QS_NO_AVX512=1 in the
 * environment (or QS_CPU_PATH=avx2/scalar, core/base/cpu.h) forces the portable code. */
#ifndef QS_SIMD_H
#define QS_SIMD_H

#include <stdint.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define QS_HAVE_AVX512 1
#define QS_AVX512      __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,popcnt")))
#else
#define QS_HAVE_AVX512 0
#define QS_AVX512
#endif

/* 1 when this CPU runs the AVX-512 kernels and QS_NO_AVX512 is unset; computed once. */
int qs__use_avx512(void);

/* Bits of |v| for a float v: for finite values and infinities, the unsigned order of these
 * bits is the order of |v|; NaNs sort above +inf. */
static inline uint32_t qs__abs_bits(float v) {
    union {
        float f;
        uint32_t u;
    } b = {v};
    return b.u & 0x7fffffffu;
}
static inline float qs__bits_float(uint32_t u) {
    union {
        uint32_t u;
        float f;
    } b = {u};
    return b.f;
}

#if QS_HAVE_AVX512
/* Median of |v[0..n)| with the definition of select.h, bit-identical to
 * qs_select_median_abs. a and b are scratch of qs__select_buf_len(n) keys each. */
double qs__median_abs_avx512(const float *v, int n, uint32_t *a, uint32_t *b);
#endif

/* Keys each scratch buffer of qs__median_abs_avx512 needs for n values. */
static inline int qs__select_buf_len(int n) { return n + 64; }

#endif
