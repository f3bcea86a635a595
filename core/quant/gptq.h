/* GPTQ: second-order weight quantization with error feedback (Frantar et al., "GPTQ:
 * Accurate Post-Training Quantization for Generative Pre-trained Transformers", ICLR 2023).
 * Pure numerics on one weight matrix and the Hessian of its calibration inputs.
 *
 * A linear layer y = x·Wᵀ seen on calibration inputs X (n, C) has the layer-output error
 *     E(Q) = Σ_r (w_r − q_r) · H · (w_r − q_r)ᵀ,     H = Xᵀ X (C, C),
 * for quantized rows q_r. GPTQ quantizes the columns one at a time, in order, and after
 * each one spreads its rounding error over the columns not yet quantized so that E stays
 * minimal (the Optimal Brain Surgeon update with the inverse Hessian):
 *     err_r = (w_r[i] − q_r[i]) / U[i][i];   w_r[j] −= err_r · U[i][j]   for j > i,
 * where U is the upper Cholesky factor of (H + λI)⁻¹ (H⁻¹ = Uᵀ U); row i of U is the
 * inverse Hessian of the columns i.. after columns < i are fixed. Updates to the columns
 * beyond the current block of B columns are batched into one matrix product per block
 * ("lazy batch"); that reorders sums only.
 *
 *  - dampening: λ = damp · mean(diag H) (GPTQ's percdamp, default 0.01), so that H + λI is
 *    positive definite and well conditioned;
 *  - dead inputs: a column whose diag H is 0 (never activated in calibration) gets
 *    H[i][i] = 1 and its weights are set to 0, as GPTQ does (they meet only zero inputs);
 *  - granularity (quant.h): per tensor and per row, the grid comes from the whole tensor /
 *    row before any update, as in GPTQ; for groups of G columns, the grid of each row's
 *    group is computed from the updated weights when the first column of the group is
 *    reached (blocks never straddle a group's first column, so those weights are final);
 *  - act-order: columns processed in order of decreasing diag H (ties by index), the
 *    published "desc_act" heuristic. With groups it uses static groups: every group's grid
 *    comes from the original weights before any update, so groups stay G consecutive
 *    input columns and the packed layout does not change (GPTQ's static_groups option);
 *  - the grids are qscope's (quant.h): the row/group range by the spec's clipping
 *    (absmax, percentile or mse, as qs_quant_fake finds it), the scheme's grid, fp16
 *    scales unless fp32_scales. With H a multiple of the identity no error moves and the
 *    result equals qs_quant_fake's, bit for bit.
 *
 * Letters: R rows (output channels), C columns (inputs), G group size, B block width,
 * N scale groups. */
#ifndef QS_GPTQ_H
#define QS_GPTQ_H

#include "quant.h"

/* H = Σ_t x_tᵀ x_t over calibration tokens, in double. */
typedef struct qs_hessian {
    int C;     /* inputs */
    long n;    /* tokens added */
    double *h; /* (C, C), symmetric */
} qs_hessian;

/* QS_ERR_ARG (C < 1), QS_ERR_NOMEM. */
int qs_hessian_init(qs_hessian *hs, int C);
/* H += Xᵀ X for x (T, C). QS_ERR_NUMERIC on a NaN/Inf (naming its row and column), else OK. */
int qs_hessian_add(qs_hessian *hs, const float *x, int T);
void qs_hessian_free(qs_hessian *hs);

typedef struct qs_gptq_opts {
    double damp;   /* λ / mean(diag H); default 0.01 */
    int act_order; /* 1: columns by decreasing diag H */
    int block;     /* B, columns per lazy batch; default 128 */
    int compare;   /* 1: also compute round-to-nearest's error (report.err_rtn) */
} qs_gptq_opts;

void qs_gptq_opts_default(qs_gptq_opts *o);

typedef struct qs_gptq_report {
    double err;         /* E(Q) / n: the summed squared output error per calibration token */
    double err_rtn;     /* the same for qs_quant_fake's round-to-nearest (with compare), else 0 */
    double ref_energy;  /* Σ_r w_r H w_rᵀ / n, the output energy, for a relative error */
    int n_dead;         /* inputs never activated, their weights set to 0 */
    double damp_lambda; /* λ added to the diagonal */
    long n_clipped;     /* values whose code fell outside the grid */
    double bits_per_value;
} qs_gptq_report;

/* Quantizes w (R, C) in place with GPTQ against hs (hs->C == C, hs->n >= 1). sp: bits 2..8,
 * granularity tensor, row or group (per-column weights are refused). io may be NULL; its
 * codes (R, C), scales (N) and zeros (N) are filled in qs_quant_fake's layout (quant.h);
 * ranges_in is refused. report may be NULL.
 * Errors (w unchanged): QS_ERR_ARG (spec, shapes, options), QS_ERR_NUMERIC (a NaN/Inf in w,
 * or H + λI not positive definite: the message suggests a larger damp), QS_ERR_NOMEM.
 * Memory: 2·C² + 2·R·C doubles. Rows run in parallel; the Cholesky factorisations and the
 * block products are LAPACK/BLAS (OpenBLAS) calls in double. */
int qs_gptq_quantize(float *w, int rows, int cols, const qs_hessian *hs, const qs_quant_spec *sp,
                     const qs_gptq_opts *o, const qs_quant_io *io, qs_gptq_report *report);

#endif
