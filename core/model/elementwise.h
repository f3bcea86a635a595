/* Elementwise kernels of the forward pass: exp, the softmax of an attention row, SwiGLU, the
 * attention's weighted sum of values.
 *
 * libm's expf is called one element at a time and cost a sixth of stories260K's forward
 * pass (softmax over T x T scores per head). These kernels run on the SIMD path of
 * qs_cpu_path() (scalar, AVX2, AVX-512), and every path does the same operations in the
 * same order, so the logits do not depend on the CPU: this file is built with
 * -ffp-contract=off (no fused multiply-add on any path) and sums run in fixed lanes.
 *
 * exp(x) = 2^n · p(r), n = round(x / ln 2), r = x − n·ln 2 (ln 2 in two parts, so r is
 * exact to 2^-30), p the degree-7 Taylor polynomial in Horner form, 2^n applied as two
 * halves so that results up to FLT_MAX come out; +inf above 88.72. Results below e^-87
 * (1.6e-38, near FLT_MIN) are 0: subnormal results cost microcode assists of a hundred
 * cycles each on Intel cores (softmax rows are full of them), and a softmax weight or a
 * SiLU of that size is 0 for every purpose here. NaN stays NaN. Error: within 2 ulp of
 * exp computed in double (test_elementwise). */
#ifndef QS_ELEMENTWISE_H
#define QS_ELEMENTWISE_H

#include <stddef.h>

/* y[i] = exp(x[i]), i < n; y may be x. */
void qs_vexp(float *y, const float *x, size_t n);

/* Scalar reference of one element: the same bits as qs_vexp on every path. */
float qs_vexp_ref(float x);

/* Softmax of row[0..n) in place: exp(row - max) / sum, the sum in double over 8 lanes
 * (element j in lane j mod 8, lanes folded 4 + 4, 2 + 2, 1 + 1) and applied as one float
 * reciprocal; then row[n..P) = 0 (the causal mask). 1 <= n <= P. Returns the max. When
 * entropy is not NULL, *entropy = −Σ p log p of the row in nats, from the same pass:
 * log S + Σ e_j·(max − z_j) / S, e_j = exp(z_j − max), S = Σ e_j (no log per element;
 * within 1e-6 of qs_entropy of the result). */
float qs_softmax_row(float *row, int n, int P, double *entropy);

/* log Σ exp(x[i]) over x[0..n), n >= 1, as max + log Σ exp(x[i] − max): the differences
 * in float, their exps as qs_vexp's, the sum in double over the 8 lanes of
 * qs_softmax_row. Within 1e-6 of the sum in double exps (test_elementwise). */
double qs_logsumexp(const float *x, int n);

/* Entropy −Σ p·log p of p[0..n) in nats, over the p >= FLT_MIN (smaller ones add under
 * 1e-36 each): log(p) in float (2^e · m, log m = 2·atanh((m − 1)/(m + 1)) by a degree-9
 * odd polynomial, within 2 ulp), p·log p in float, the sum in double over the 8 lanes of
 * qs_softmax_row. Same bits on every path. */
double qs_entropy(const float *p, int n);

/* log(x) for x >= FLT_MIN, finite: the scalar form of qs_entropy's log. */
float qs_vlog_ref(float x);

/* acc[i] += x[i], i < n, each in double (one add per element: the same bits on every
 * path). */
void qs_accumulate(double *acc, const float *x, int n);

/* y[i] += a·x[i], i < n: the product rounded, then the sum (no FMA: the same bits on every
 * path and as the plain C loop). */
void qs_axpy(float *y, float a, const float *x, int n);

/* h1[i] = SiLU(h1[i]) · h3[i] = h1 / (1 + exp(-h1)) · h3, i < n (SwiGLU's gate). */
void qs_swiglu(float *h1, const float *h3, size_t n);

#endif
