/* Exact medians of |x| by selection (no full sort).
 *
 * Median definition used throughout qscope: for n values sorted ascending v[0..n),
 *   odd n:  v[n/2]
 *   even n: (v[n/2 - 1] + v[n/2]) / 2, the sum and the halving done in double.
 * This is numpy's np.median on the values cast to float64.
 *
 * Inputs must be finite (callers validate before their parallel loops); NaN breaks the
 * ordering and gives an unspecified (but memory-safe) result. */
#ifndef QS_SELECT_H
#define QS_SELECT_H

/* Median of |v[0..n)|. scratch (n) is caller-owned and overwritten (it receives |v|,
 * partially ordered); v is not modified. n >= 1. Deterministic: a fixed pivot rule
 * (median of three), so the same input gives the same answer on every thread. Worst case
 * falls back to a sort after too many partition rounds, so it stays O(n log n). */
double qs_select_median_abs(float *scratch, const float *v, int n);

/* Scalar reference: the same definition by a full qsort of scratch. */
double qs_select_median_abs_ref(float *scratch, const float *v, int n);

/* Rearranges a[0..n) so that a[k] holds the value a full sort would put there, with
 * a[i] <= a[k] for i < k and a[i] >= a[k] for i > k. 0 <= k < n. */
void qs_select_kth(float *a, int n, int k);

#endif
