/* Helpers shared by the quant_*.c files; not part of the public API. */
#ifndef QS_QUANT_INTERNAL_H
#define QS_QUANT_INTERNAL_H

#include <gsl/gsl_min.h>

#include "quant.h"

/* grids (quant_grid.c) */
void qs__quant_grid_symmetric(qs_quant_grid *g, float lo, float hi, int bits, int fp32_scales,
                              float tensor_amax);
void qs__quant_grid_affine(qs_quant_grid *g, float lo, float hi, int bits, int fp32_scales,
                           float tensor_amax);
/* A scale stored as fp16 (or fp32), with the QS_QUANT_F_* flags of what that did. nonzero:
 * the range was not empty, so a zero stored scale is an underflow. */
float qs__quant_store_scale(float s, int nonzero, int fp32, int *flags);
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

/* floating-point formats (quant_float.c): the traits rows of schemes QS_QUANT_INT_SCHEMES..,
 * and one element kernel on a chosen SIMD path (-1 when this CPU lacks it), for tests. */
extern const qs_quant_traits qs__quant_float_traits[QS_QUANT_SCHEME_COUNT - QS_QUANT_INT_SCHEMES];
long qs__fp_fake_path(int path, int elem, float *y, int16_t *q, const float *x, int n,
                      const qs_quant_grid *g);

/* clipping (quant_clip.c): the range [lo, hi] of n contiguous values of x.
 * scratch: n floats (percentile sorts a copy); mz: a Brent minimiser (mse), else NULL.
 * tensor_amax: the matrix absmax, for two-level formats (grid of the mse search). */
typedef double (*qs__quant_sse_fn)(const float *x, int n, const qs_quant_grid *g);
void qs__quant_clip_range(float *lo, float *hi, const float *x, int n, const qs_quant_spec *sp,
                          float *scratch, gsl_min_fminimizer *mz, int ref, float tensor_amax);
/* absmax range of n contiguous values (affine: widened to contain 0; symmetric: [-t, t]) */
void qs__quant_absmax_range(float *lo, float *hi, const float *x, int n, int affine);
void qs__quant_absmax_range_ref(float *lo, float *hi, const float *x, int n, int affine);
/* The linear-interpolated p-th percentile (0 < p <= 100) of n sorted values, the formula
 * numpy uses (a + (b-a)t for t < 0.5, b - (b-a)(1-t) otherwise). */
double qs__quant_percentile_sorted(const float *a, int n, double p);

#endif
