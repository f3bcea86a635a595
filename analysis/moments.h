/* Central moments of a stream of values, held as (n, mean, M2, M3, M4) in double and
 * combined with the pairwise update formulas of Chan et al. / Pébay (2008), so that a
 * statistic built from many windows never goes through raw power sums Σx^k (which cancel
 * catastrophically when the mean is large against the spread).
 *
 *   Mk = Σ (x_i - mean)^k  over the n values seen.
 *
 * Definitions used everywhere in qscope (population, not sample, estimators):
 *   variance  = M2 / n
 *   skewness  = sqrt(n) · M3 / M2^(3/2)          (g1, population)
 *   kurtosis  = n · M4 / M2²  = μ4 / σ⁴           (Pearson; a normal gives 3, NOT 0)
 *   excess kurtosis = kurtosis - 3
 * With n = 0 the mean and variance are NaN; with M2 = 0 (all values equal) skewness and
 * kurtosis are NaN: they are undefined, and NaN says so in an HDF5 table.
 *
 * All functions are pure; the struct is a plain value that the caller owns. */
#ifndef QS_MOMENTS_H
#define QS_MOMENTS_H

#include <stdint.h>

typedef struct qs_moments {
    int64_t n; /* values seen */
    double mean;
    double m2, m3, m4; /* central sums Σ(x-mean)^k */
} qs_moments;

/* Moments of one window of n floats with stride `stride` between consecutive values,
 * computed in two passes (mean first, then central sums) in double. n may be 0. */
qs_moments qs_moments_of(const float *x, int64_t n, int64_t stride);

/* Returns the moments of the union of the two sets a and b (either may be empty).
 * The result depends on the order of the arguments only through rounding. */
qs_moments qs_moments_merge(qs_moments a, qs_moments b);

double qs_moments_variance(const qs_moments *m);
double qs_moments_skewness(const qs_moments *m);
/* Pearson kurtosis μ4/σ⁴ (3 for a normal distribution). */
double qs_moments_kurtosis(const qs_moments *m);
/* kurtosis - 3 (0 for a normal distribution); the convention scipy and pandas use. */
double qs_moments_excess_kurtosis(const qs_moments *m);

#endif
