/* Per-token scan of one activation window: for every token (row) its largest magnitude,
 * the channel holding it, and its median magnitude. Token-wise ("massive activation")
 * outlier detection reads this (outliers.h).
 *
 * Letters: T tokens in the window, C channels. x is row-major (T, C).
 *
 * Definitions:
 *   absmax(t)     = max_c |x(t,c)|; channel(t) = the smallest c attaining it
 *   value(t)      = x(t, channel(t)), signed
 *   median_abs(t) = median over c of |x(t,c)| (select.h: even C averages the two middle
 *                   values in double), computed exactly: by a sampled-band selection on
 *                   the bits of |x| (with AVX2 or AVX-512 vectors where the CPU has
 *                   them, simd.h; quickselect for rows of up to 256 on the scalar path);
 *                   never approximated by a histogram. Every path gives the same bits.
 *
 * Errors: QS_ERR_ARG for T < 1, C < 1 or NULL pointers; QS_ERR_NUMERIC when x holds a NaN or
 * infinity; the message names the first one in row-major order ("(t=.., c=..)"). Inputs
 * are checked in the same pass as the maxima and `out` is untouched on error. QS_ERR_NOMEM
 * when the scratch (24·T bytes plus 8·(C + 64) bytes per thread) cannot be allocated. */
#ifndef QS_TOKENSCAN_H
#define QS_TOKENSCAN_H

#include <stdint.h>

typedef struct qs_token_stat {
    float absmax;      /* max_c |x(t,c)| */
    float value;       /* x(t, channel), signed */
    int channel;       /* argmax_c |x(t,c)|, lowest index on ties */
    double median_abs; /* median_c |x(t,c)| */
} qs_token_stat;

/* Fills out (T) for x (T, C), parallel over tokens (each row owned by one thread, so the
 * result does not depend on the thread count). out is caller-owned. */
int qs_tokenscan(qs_token_stat *out, const float *x, int T, int C);

/* Scalar reference: one thread, median by full sort. Same results as qs_tokenscan. */
int qs_tokenscan_ref(qs_token_stat *out, const float *x, int T, int C);

#endif
