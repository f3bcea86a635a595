/* Whole-tensor statistics: one accumulator over every element of a site×layer activation
 * (all windows) or of a weight matrix.
 *
 * Moments (count, mean, population var, skewness, Pearson kurtosis μ4/σ⁴ — not excess —,
 * min, max, mean |x|, mean x²) follow the conventions of moments.h. absmax is exact.
 *
 * |x| histogram, for percentiles: log-spaced bins from 1e-10 to 1e10 with
 * QS_TENSORSTATS_BINS_PER_DECADE (100) bins per decade, i.e. 2000 bins, each about 2.3 %
 * wide. Edge i is 10^(-10 + i/100), computed with pow() in double, i = 0..2000; bin i holds
 * edges[i] <= |x| < edges[i+1]. Zeros are counted apart (n_zero). Nonzero values below
 * 1e-10 go into bin 0 and are also counted in n_underflow; values >= 1e10 go into the last
 * bin and are counted in n_overflow. The counts live in a gsl_histogram whose ranges are
 * these edges (qs_tensorstats_histogram) so an HDF5 writer can store them as they are.
 *
 * Percentile p (0..100) of |x| over all N elements, zeros included: the target rank is
 * k = p/100 · N. If k <= n_zero (and n_zero > 0) the answer is 0. Otherwise the first bin i
 * whose cumulative count (zeros first) reaches k is found and the value interpolated
 * log-linearly inside it: lo · (hi/lo)^f, f = (k - before)/count_i, with lo, hi the bin's
 * edges — except that bin 0 starts at the smallest nonzero |x| when that is below 1e-10 and
 * the last bin ends at absmax when that is above 1e10, since they hold the clamped values.
 * The result is clamped to [smallest nonzero |x|, absmax] (both exact), so p = 100 gives
 * absmax exactly. Error: within one bin (2.3 %) of the exact order statistic.
 *
 * Determinism: elements are cut into fixed chunks of QS_TENSORSTATS_CHUNK values (not per
 * thread), each chunk's moments computed in two passes in 16 double lanes (element i of a
 * chunk in lane i mod 16, the lanes summed by halving: 8 + 8, 4 + 4, 2 + 2, 1 + 1), the
 * same operations in the same order on every SIMD path, and the chunks merged in order
 * with Pébay's formulas; histogram counts are integers. So the results are bit-identical
 * for any OpenMP thread count and any path, qs_tensorstats_add_ref included. A zero
 * extreme is reported as +0.0 whichever signed zero the tensor held. Streaming several adds equals
 * one add of the concatenation up to rounding (relative 1e-12 in the tests); merge(a, b) equals
 * adding b's data after a's up to rounding.
 *
 * Memory: persistent ~ 16·2000 + 8·2001 bytes (GSL bins and ranges) + 128 bytes; per add
 * transient 88 bytes per chunk of 4096 elements plus 5·8·2004 bytes per OpenMP thread, and
 * once per process a 256 KiB bin lookup table (tensorstats.c).
 *
 * Errors (core/error.h): QS_ERR_ARG (NULL, n < 0, p outside [0, 100], percentile of an
 * empty accumulator); QS_ERR_NUMERIC (NaN or infinity in x: the message names the first
 * index; checked before any parallel loop, accumulator unchanged); QS_ERR_NOMEM. */
#ifndef QS_TENSORSTATS_H
#define QS_TENSORSTATS_H

#include <gsl/gsl_histogram.h>
#include <stdint.h>

#include "moments.h"

#define QS_TENSORSTATS_LOG10_MIN       (-10)
#define QS_TENSORSTATS_LOG10_MAX       10
#define QS_TENSORSTATS_BINS_PER_DECADE 100
#define QS_TENSORSTATS_NBINS \
    ((QS_TENSORSTATS_LOG10_MAX - QS_TENSORSTATS_LOG10_MIN) * QS_TENSORSTATS_BINS_PER_DECADE)
#define QS_TENSORSTATS_CHUNK 4096

typedef struct qs_tensorstats qs_tensorstats; /* opaque */

typedef struct qs_tensorstats_summary {
    int64_t count, n_zero, n_underflow, n_overflow;
    double mean, var, std, skewness, kurtosis; /* kurtosis is Pearson μ4/σ⁴ */
    double min, max, absmax, min_abs_nonzero, mean_abs, mean_sq;
    double p50, p90, p99, p999, p9999; /* percentiles of |x| (histogram, see above) */
} qs_tensorstats_summary;

/* Creates an empty accumulator in *out (NULL on error); free with qs_tensorstats_free. */
int qs_tensorstats_create(qs_tensorstats **out);
void qs_tensorstats_free(qs_tensorstats *s); /* NULL is fine */

/* Adds n elements of x (any shape, read as a flat array). n = 0 is a no-op. */
int qs_tensorstats_add(qs_tensorstats *s, const float *x, int64_t n);

/* Scalar reference: one thread, the bins by search against the edges. The same results
 * as qs_tensorstats_add, bit for bit. */
int qs_tensorstats_add_ref(qs_tensorstats *s, const float *x, int64_t n);

/* a += b (b unchanged). Errors: QS_ERR_ARG (NULL or a == b). */
int qs_tensorstats_merge(qs_tensorstats *a, const qs_tensorstats *b);

/* Percentile p in [0, 100] of |x| into *out. */
int qs_tensorstats_percentile(const qs_tensorstats *s, double p, double *out);

/* All the statistics; with no elements the moments and percentiles are NaN. */
int qs_tensorstats_summarize(const qs_tensorstats *s, qs_tensorstats_summary *out);

qs_moments qs_tensorstats_moments(const qs_tensorstats *s);
int64_t qs_tensorstats_count(const qs_tensorstats *s);

/* The histogram, owned by s and valid until it is freed or next modified: h->n bins,
 * h->range (n + 1 edges), h->bin (n counts, as doubles holding integers). */
const gsl_histogram *qs_tensorstats_histogram(const qs_tensorstats *s);

/* Copies the edges (QS_TENSORSTATS_NBINS + 1) and the counts (QS_TENSORSTATS_NBINS,
 * exact integers) into caller-owned arrays; either pointer may be NULL. */
void qs_tensorstats_bins(const qs_tensorstats *s, double *edges, uint64_t *counts);

#endif
