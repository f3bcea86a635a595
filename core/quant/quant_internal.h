/* Helpers shared by the quant_*.c files; not part of the public API. */
#ifndef QS_QUANT_INTERNAL_H
#define QS_QUANT_INTERNAL_H

#include <gsl/gsl_min.h>

#include "quant.h"

/* grids (quant_grid.c) */
void qs__quant_grid_symmetric(qs_quant_grid *g, float lo, float hi, int bits, int fp32_scales);
void qs__quant_grid_affine(qs_quant_grid *g, float lo, float hi, int bits, int fp32_scales);
void qs__quant_codes(int16_t *q, const float *x, int n, const qs_quant_grid *g);
void qs__quant_decode(float *y, const int16_t *q, int n, const qs_quant_grid *g);
long qs__quant_fake_run(float *y, int16_t *q, const float *x, int n, const qs_quant_grid *g);
long qs__quant_fake_run_ref(float *y, int16_t *q, const float *x, int n, const qs_quant_grid *g);
/* Per-column grids (granularity col): row of C values, column c uses div[c], lo[c], hi[c],
 * scale[c], zero[c] (div = scale, or +Inf for a zero scale). */
long qs__quant_fake_cols(float *y, int16_t *q, const float *x, int n, const float *div,
                         const float *qlo, const float *qhi, const float *scale,
                         const int32_t *zero);
/* Distinct codes used by n values of y already fake-quantized with g (stride apart). */
int qs__quant_levels(const float *y, long n, long stride, const qs_quant_grid *g, int bits);
/* Sum of squared reconstruction errors of x (n contiguous) under g, in double, in index
 * order (so the fast and the reference search see the same numbers). */
double qs__quant_sse(const float *x, int n, const qs_quant_grid *g);
double qs__quant_sse_ref(const float *x, int n, const qs_quant_grid *g);

/* clipping (quant_clip.c): the range [lo, hi] of n contiguous values of x.
 * scratch: n floats (percentile sorts a copy); mz: a Brent minimiser (mse), else NULL. */
typedef double (*qs__quant_sse_fn)(const float *x, int n, const qs_quant_grid *g);
void qs__quant_clip_range(float *lo, float *hi, const float *x, int n, const qs_quant_spec *sp,
                          float *scratch, gsl_min_fminimizer *mz, int ref);
/* absmax range of n contiguous values (affine: widened to contain 0; symmetric: [-t, t]) */
void qs__quant_absmax_range(float *lo, float *hi, const float *x, int n, int affine);
void qs__quant_absmax_range_ref(float *lo, float *hi, const float *x, int n, int affine);
/* The linear-interpolated p-th percentile (0 < p <= 100) of n sorted values, the formula
 * numpy uses (a + (b-a)t for t < 0.5, b - (b-a)(1-t) otherwise). */
double qs__quant_percentile_sorted(const float *a, int n, double p);

#endif
