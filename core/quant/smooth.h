/* SmoothQuant's per-channel migration scales (Xiao et al., "SmoothQuant: Accurate and
 * Efficient Post-Training Quantization for Large Language Models", ICML 2023). Pure
 * arithmetic on per-channel statistics; folding the scales into a model is remedy.h's.
 *
 * A linear layer y = x·Wᵀ computes the same thing as (x / s)·(W·diag(s))ᵀ for any positive
 * per-input-channel s. SmoothQuant picks
 *     s_j = max|X_j|^α / max|W_j|^(1−α)
 * from the calibration absmax of input channel j and the absmax of column j over every
 * weight that reads the input, so that a channel's range is split between the activation
 * and the weights: α = 0 leaves the activations alone up to the weights' ranges, α = 1 makes
 * every activation channel's calibrated absmax exactly 1 and moves all of its range into
 * the weights. The authors' scripts use α = 0.5 for OPT, 0.85 for Llama-2-7B/13B, 0.9 for
 * Llama-2-70B and 0.8 for Mistral-7B.
 *
 * A planted channel (DESIGN.md: channel j multiplied by K, the columns that read it divided
 * by K) has max|X_j| and max|W_j| scaled by K and 1/K, so its s_j is K times the unplanted
 * one for every α: smoothing undoes a plant exactly, whatever α is (up to float rounding). */
#ifndef QS_SMOOTH_H
#define QS_SMOOTH_H

/* s (C) ← max|X_j|^α / max|W_j|^(1−α), computed in double. A channel whose activation or
 * weight absmax is 0 (never active, or read by no weight) gets s = 1; s is clamped to
 * [1e-5, 1e5] (the published code clamps below at 1e-5) so that folding stays finite.
 * Errors: QS_ERR_ARG (C < 1, α outside [0, 1]), QS_ERR_NUMERIC (a negative or non-finite
 * statistic, naming its channel). */
int qs_smooth_scales(float *s, const float *act_absmax, const float *w_absmax, int C, double alpha);

#endif
