/* QuaRot-style rotations of a whole model (Ashkboos et al., "QuaRot: Outlier-Free 4-Bit
 * Inference in Rotated LLMs", 2024), with the randomized Hadamard rotations of hadamard.h.
 * Every part computes the same function in full precision (up to float rounding); what
 * changes is what the activation sites hold, and so what a quantizer meets there.
 *
 * resid   The residual stream x becomes x·R (R of size D, seed `seed`). RMSNorm commutes
 *         with an orthogonal R only without a gain, so the gains are folded first into the
 *         weights that read the normed stream (column j of attn_q/k/v times attn_norm[j],
 *         of ffn_gate/up times ffn_norm[j], of the classifier times output_norm[j]; the
 *         gains become 1; a tied classifier is untied first). Then the embedding's rows and
 *         every reader (attn_q/k/v, ffn_gate/up, classifier: W ← W·R) and writer
 *         (attn_output, ffn_down: W ← Rᵀ·W) of the stream are rotated. attn_in and ffn_in
 *         then hold rotated activations.
 * down    An online rotation of ffn_down_in (R of size H, seed + 1): the forward pass
 *         rotates SiLU(gate)⊙up before the site's hook sees it (model.h's qs_online), and
 *         ffn_down ← ffn_down·R undoes it. This is the only part with a run-time cost
 *         (H·log H additions per token, plus the m × m Hartley products of a size like
 *         172 = 4·43), as in QuaRot.
 * heads   The values of each head rotated by R of size head_dim (seed + 2), folded into
 *         attn_v's rows (and bias) and attn_output's columns: attention mixes positions,
 *         not dimensions, so each head's output at attn_o_in arrives rotated. QuaRot does the
 *         same offline, plus an online Hadamard across heads that qscope leaves out.
 *
 * Letters: D dim, H hidden, V vocab, hd head_dim. */
#ifndef QS_ROTATE_H
#define QS_ROTATE_H

#include <stdint.h>

#include "model.h"

typedef struct qs_rotate_report {
    int parts;            /* QS_ROTATE_* done */
    int untied;           /* 1: the classifier was untied from the embedding */
    int n[3], p[3], m[3]; /* sizes of the resid, down, heads rotations: n = p·m (hadamard.h) */
} qs_rotate_report;

/* Rotates m in place (parts: QS_ROTATE_* bits of remedy_words.h). m must be a model the
 * caller may change (a twin, qs_model_twin): every tensor a rotation touches becomes an f32
 * copy m owns (qs_model_tensor_f32_own), so a whole-model rotation holds the model in f32.
 * Errors: QS_ERR_ARG (no part, m already has an online transform), those of
 * qs_rotation_init, QS_ERR_NOMEM. On error m is in an unspecified state: free it. report
 * may be NULL. */
int qs_rotate_model(qs_model *m, int parts, uint64_t seed, qs_rotate_report *report);

#endif
