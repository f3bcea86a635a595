/* SIMD paths of the analysis kernels (not public API).
 *
 * The build targets baseline x86-64; fast kernels are compiled per function with cpu.h's
 * QS_TARGET_AVX2 / QS_TARGET_AVX512 and chosen on every call from qs_cpu_path(), so that
 * QS_CPU_PATH=scalar|avx2 in the environment (or qs_cpu_path_set) runs a lower path. Every
 * path gives the same bits as the portable code: exact results (counts, extremes, medians,
 * bins) by construction, and double sums in the same order with the same operations. This
 * library is built with -ffp-contract=off, so no compiler fuses a multiply and an add into
 * one FMA (which rounds once instead of twice) in the FMA-enabled AVX2/AVX-512 functions. */
#ifndef QS_SIMD_H
#define QS_SIMD_H

#include <stdint.h>

#include "cpu.h"

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

/* Median of |v[0..n)| with the definition of select.h, bit-identical to
 * qs_select_median_abs, by a sampled-band selection on the bits of |v| with the vectors of
 * `path` (a QS_CPU_* value; select.c). a and b are scratch of qs__select_buf_len(n) keys
 * each. A NaN in v gives a meaningless (but memory-safe) result. */
double qs__median_abs_keys(int path, const float *v, int n, uint32_t *a, uint32_t *b);

/* Rows of up to this many values take their medians by a network (median_net.c); above
 * it, selecting row by row is faster (172 values: 225 ns a row against 240-310). */
#define QS__MEDIAN_NET_MAX_C 64

/* med[t] <- the median of |x(t, .)| (select.h's definition, bit-identical to
 * qs_select_median_abs) for every row of x (T, C), 8 rows at a time by a selection
 * network with a row per vector lane (median_net.c). Returns 1 when done, 0 when the path
 * has no vectors, C is above QS__MEDIAN_NET_MAX_C or the network could not be allocated:
 * the caller then selects row by row. A NaN in x gives meaningless medians. */
int qs__median_abs_rows(int path, double *med, const float *x, int T, int C);

/* Below this many elements a kernel runs on the calling thread: waking OpenMP workers
 * (which wait passively, cli/main.c) costs more than the work, and a 64-wide model's
 * activations (T x 64 per call) are all below it. */
#define QS__PAR_MIN_ELEMENTS (1 << 16)

/* Keys each scratch buffer of qs__median_abs_keys needs for n values. */
static inline int qs__select_buf_len(int n) { return n + 64; }

#endif
