/* Error metrics between a reference x and its reconstruction x̂ (a fake-quantized tensor):
 *
 *   mse          Σ(x - x̂)² / n
 *   sqnr_db      10·log10(Σx² / Σ(x - x̂)²)   signal-to-quantization-noise ratio in dB;
 *                +inf when x̂ equals x exactly (Σ(x - x̂)² = 0, including x all zero);
 *                -inf when x is all zero but x̂ is not
 *   max_abs_err  max |x - x̂|
 * Differences and squares are formed in double from the float inputs and summed in double.
 *
 * The sums are kept in the struct so partial results over pieces of a tensor combine with
 * qs_metrics_merge (mse and sqnr_db are then recomputed).
 *
 * qs_metrics_compute runs in parallel over fixed chunks of QS_METRICS_CHUNK elements whose
 * partial sums are added in chunk order; qs_metrics_compute_ref is the plain scalar loop
 * with the same chunked summation order, so the two agree bit for bit, for any thread
 * count.
 *
 * Errors (core/error.h): QS_ERR_ARG (NULL, n < 1); QS_ERR_NUMERIC (NaN or infinity in
 * either input; the message names the array and the first index; checked before the
 * parallel loop, *out untouched); QS_ERR_NOMEM. */
#ifndef QS_METRICS_H
#define QS_METRICS_H

#include <stdint.h>

#define QS_METRICS_CHUNK 4096

typedef struct qs_error_metrics {
    int64_t n;
    double sum_sq_ref; /* Σx² */
    double sum_sq_err; /* Σ(x - x̂)² */
    double mse;
    double sqnr_db;
    double max_abs_err;
} qs_error_metrics;

/* ref and rec are (n) floats, only read; *out is caller-owned. */
int qs_metrics_compute(qs_error_metrics *out, const float *ref, const float *rec, int64_t n);
int qs_metrics_compute_ref(qs_error_metrics *out, const float *ref, const float *rec, int64_t n);

/* a += b: sums and counts added, max taken, mse and sqnr_db recomputed. */
void qs_metrics_merge(qs_error_metrics *a, const qs_error_metrics *b);

/* 10·log10(sum_sq_ref / sum_sq_err) with the ±inf conventions above. */
double qs_metrics_sqnr_db(double sum_sq_ref, double sum_sq_err);

#endif
