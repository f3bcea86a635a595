/* AWQ's activation-aware weight scales (Lin et al., "AWQ: Activation-aware Weight
 * Quantization for LLM Compression and Acceleration", MLSys 2024). Pure numerics on one
 * linear input: its calibration activations and the weights that read it; folding the
 * scales into a model is remedy.h's.
 *
 * Weights are quantized per output row or group, so an input channel whose activations are
 * large matters more than its weights' share of the grid suggests. AWQ scales input channel
 * j of the weights up by s_j before quantizing (and the activation down by s_j, folded into
 * whatever produces it), with
 *     s_j = mean_t |X_tj|^α,   then s ← s / √(max s · min s),
 * α chosen on the grid k / n_grid (k = 0 .. n_grid − 1; the published n_grid is 20) to
 * minimise the output error on calibration tokens,
 *     L(α) = Σ_W ‖ X·Wᵀ − (X·diag(1/s))·Q(W·diag(s))ᵀ ‖²,
 * summed over the matrices W that read the input (q, k, v for attn_in; gate, up for ffn_in;
 * down for ffn_down_in; o for attn_o_in), Q the weight quantizer of the configuration.
 * α = 0 gives s = 1, round-to-nearest, so the search never does worse than it on these
 * tokens. The published method measures the error at the output of the whole block that
 * reads the input (the attention for q/k/v, the MLP for gate/up); qscope measures it at the
 * linear layers themselves, which needs no model code here.
 *
 * Letters: T calibration tokens, C input channels, R rows of one weight. */
#ifndef QS_AWQ_H
#define QS_AWQ_H

#include "quant.h"

#define QS_AWQ_GRID 20 /* the published grid: α = 0, 0.05, .., 0.95 */

/* s (C) ← max(mean|X_j|^α, 1e-4) normalised by √(max s · min s) (the published clamp keeps
 * s finite for dead channels). Errors: QS_ERR_ARG (C < 1, α
 * outside [0, 1]), QS_ERR_NUMERIC (a negative or non-finite statistic). */
int qs_awq_scales(float *s, const float *act_mean_abs, int C, double alpha);

/* One linear input: its calibration activations and the weights that read them. */
typedef struct qs_awq_input {
    const float *x; /* (T, C) calibration activations */
    int T, C;
    const float *mean_abs; /* (C) mean |x| per channel; NULL: computed from x. Give the
                              whole calibration set's when x is a sample of it */
    int n_w;               /* weights that read the input (1..4) */
    const float *w[4];     /* (rows[i], C) each */
    int rows[4];
} qs_awq_input;

/* Searches α over k / n_grid (k = 0 .. n_grid − 1) with the weight spec sp and writes the
 * best scales to s (C), α to *alpha; losses (n_grid, may be NULL) receives L(α) for each
 * grid point, divided by T (ties keep the smaller α). Errors: QS_ERR_ARG (shapes, n_grid
 * outside 1..1000, sp not quantizing), QS_ERR_NUMERIC (non-finite data), QS_ERR_NOMEM, and
 * qs_quant_fake's. Memory: T·Σrows + 2·max(rows)·C floats. */
int qs_awq_search(float *s, double *alpha, double *losses, const qs_awq_input *in,
                  const qs_quant_spec *sp, int n_grid);

#endif
