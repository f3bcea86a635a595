/* Streaming per-channel statistics of one activation site at one layer.
 *
 * Windows x (T, C) are added one after another (T may change between windows, C may not);
 * nothing about individual tokens is kept. Letters: T tokens in a window, C channels,
 * n total tokens so far.
 *
 * Per channel c it accumulates
 *   count                       tokens seen (the same n for every channel)
 *   mean, var, std              population variance M2/n
 *   skewness                    sqrt(n)·M3/M2^(3/2)
 *   kurtosis                    Pearson μ4/σ⁴ = n·M4/M2² (3 for a normal), NOT excess;
 *                               qs_moments_excess_kurtosis() or kurtosis - 3 gives excess
 *   min, max, absmax            exact (the float values, widened to double)
 *   mean_abs, mean_sq           mean |x| and mean x²
 *   n_outlier_tokens            tokens t with r(t,c) >= tau, where
 *                                 r(t,c) = |x(t,c)| / m(t),  m(t) = median_c' |x(t,c')|
 *                               (select.h median). When m(t) = 0: r = +inf if |x(t,c)| > 0,
 *                               r = 0 if x(t,c) = 0 — no division by zero, and a token whose
 *                               channels are mostly zero flags every nonzero channel.
 *   n_int8_tokens               tokens with |x(t,c)| >= int8_threshold (LLM.int8's 6.0)
 *   n_windows                   windows added (the same for every channel)
 *   n_outlier_windows           windows in which channel c's fraction of outlier tokens,
 *                               n_out_in_window / T, is >= phi
 *
 * Numerics: each window's per-channel central moments are computed in two passes in double
 * and merged into the running ones with Pébay's formulas (moments.h); mean_abs and mean_sq
 * are sums of non-negative doubles. The AVX2 and AVX-512 paths (simd.h) do the same
 * operations 8 and 16 channels at a time and test r(t,c) >= tau as |x| >= a per-token float
 * threshold, the smallest float for which the division would pass: the same bits as the
 * definition on every path. Each channel is owned by one thread and per-token medians are
 * computed row by row, so the results are bit-identical for any OpenMP thread count. Adding windows
 * one by one equals adding their concatenation as one window up to rounding (relative 1e-12 in the
 * tests); the outlier-window counts of course differ.
 *
 * Memory: O(C), independent of the number of tokens:
 *   persistent  96 bytes per channel (9 doubles: mean, M2, M3, M4, min, max, absmax,
 *               Σ|x|, Σx²; 3 int64 counters) + sizeof(qs_chanstats) ≈ 96·C + 64 bytes
 *   per add     transient, freed before the add returns: 12·T bytes (per-token medians
 *               and outlier thresholds) + 88·C bytes (the window's statistics, merged
 *               only once the whole window proved finite; not on the scalar path, which
 *               validates first) + 8·(C + 64) bytes per OpenMP thread (selection
 *               scratch; not for add_scan) + 128·T bytes per OpenMP thread (a copy of
 *               32 channels' columns; vector paths).
 *
 * Errors (int codes of core/error.h, message via qs_error_message()):
 *   QS_ERR_ARG      bad shape, NULL, C mismatch, bad config (tau <= 0, phi outside [0,1],
 *                   int8_threshold <= 0 or any of them NaN)
 *   QS_ERR_NUMERIC  x holds a NaN or an infinity; the message names the first one in
 *                   row-major order, "(t=.., c=..)". The check runs before any parallel
 *                   loop and the accumulator is unchanged.
 *   QS_ERR_NOMEM    allocation failed; the accumulator is unchanged.
 */
#ifndef QS_CHANSTATS_H
#define QS_CHANSTATS_H

#include <stdint.h>

#include "moments.h"
#include "tokenscan.h"

typedef struct qs_chanstats_config {
    double tau;            /* outlier ratio threshold on r(t,c); default 20 */
    double phi;            /* outlier window: fraction of the window's tokens; default 0.5 */
    double int8_threshold; /* |x| threshold of LLM.int8 outlier features; default 6.0 */
} qs_chanstats_config;

/* {tau = 20, phi = 0.5, int8_threshold = 6.0} */
qs_chanstats_config qs_chanstats_config_default(void);

typedef struct qs_chanstats qs_chanstats; /* opaque */

/* One channel's finished statistics (plain value, caller-owned). */
typedef struct qs_chanstats_channel {
    int64_t count;
    double mean, var, std, skewness, kurtosis; /* kurtosis is Pearson (see above) */
    double min, max, absmax, mean_abs, mean_sq;
    int64_t n_outlier_tokens, n_int8_tokens, n_windows, n_outlier_windows;
} qs_chanstats_channel;

/* Columns, for writing [L, C] datasets by name without a switch in the caller. */
enum qs_chanstats_field {
    QS_CHANSTATS_MEAN = 0,
    QS_CHANSTATS_VAR,
    QS_CHANSTATS_STD,
    QS_CHANSTATS_SKEWNESS,
    QS_CHANSTATS_KURTOSIS,
    QS_CHANSTATS_MIN,
    QS_CHANSTATS_MAX,
    QS_CHANSTATS_ABSMAX,
    QS_CHANSTATS_MEAN_ABS,
    QS_CHANSTATS_MEAN_SQ,
    QS_CHANSTATS_N_OUTLIER_TOKENS,
    QS_CHANSTATS_N_INT8_TOKENS,
    QS_CHANSTATS_N_WINDOWS,
    QS_CHANSTATS_N_OUTLIER_WINDOWS,
    QS_CHANSTATS_FIELD_COUNT
};

/* "mean", "var", "std", "skewness", "kurtosis", "min", "max", "absmax", "mean_abs",
 * "mean_sq", "n_outlier_tokens", "n_int8_tokens", "n_windows", "n_outlier_windows";
 * NULL for an unknown field. Static strings. */
const char *qs_chanstats_field_name(int field);

/* Creates an empty accumulator for C channels in *out (set to NULL on error). cfg may be
 * NULL for the defaults; it is copied. The caller owns *out and frees it with
 * qs_chanstats_free. Errors: QS_ERR_ARG (C < 1, bad config), QS_ERR_NOMEM. */
int qs_chanstats_create(qs_chanstats **out, int C, const qs_chanstats_config *cfg);
void qs_chanstats_free(qs_chanstats *s); /* NULL is fine */

/* Adds one window x (T, C), row-major; x is only read. T >= 1. */
int qs_chanstats_add(qs_chanstats *s, const float *x, int T, int C);

/* Scalar reference for qs_chanstats_add: one thread, medians by a full sort, a division
 * per element for r(t,c). Same results, bit for bit. */
int qs_chanstats_add_ref(qs_chanstats *s, const float *x, int T, int C);

/* The same, reusing the per-token medians of a qs_tokenscan of this very window (scan (T))
 * instead of selecting them again: the selection is most of the cost of an add, and a
 * capture pipeline that also looks for massive tokens has the scan already. Results are
 * bit-identical to qs_chanstats_add when scan came from qs_tokenscan(x). Errors as for
 * qs_chanstats_add, plus QS_ERR_ARG for a NULL scan. */
int qs_chanstats_add_scan(qs_chanstats *s, const float *x, int T, int C, const qs_token_stat *scan);

/* a += b: afterwards a holds the statistics of everything added to either (b unchanged).
 * Both must have the same C and the same config. Merging many accumulators in a fixed
 * order is deterministic. Errors: QS_ERR_ARG. */
int qs_chanstats_merge(qs_chanstats *a, const qs_chanstats *b);

int qs_chanstats_channels(const qs_chanstats *s);    /* C */
int64_t qs_chanstats_count(const qs_chanstats *s);   /* tokens added */
int64_t qs_chanstats_windows(const qs_chanstats *s); /* windows added */
qs_chanstats_config qs_chanstats_get_config(const qs_chanstats *s);

/* Finished statistics of channel c (0 <= c < C; QS_ERR_ARG otherwise). With no tokens yet,
 * the moments are NaN and min/max/absmax are NaN; counts are 0. */
int qs_chanstats_channel_get(const qs_chanstats *s, int c, qs_chanstats_channel *out);

/* Writes one field for all channels into out (C), as double (counts are exact below 2^53).
 * Errors: QS_ERR_ARG for an unknown field. */
int qs_chanstats_column(const qs_chanstats *s, int field, double *out);

/* Raw running moments of channel c (for tests and merging elsewhere). */
qs_moments qs_chanstats_moments(const qs_chanstats *s, int c);

#endif
