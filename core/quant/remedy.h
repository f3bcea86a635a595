/* The remedies applied to a model (the words are remedy_words.h's): the function-preserving
 * transforms folded into a copy of the model — rotations (rotate.h), SmoothQuant's and AWQ's
 * per-channel scales — and GPTQ as the offline weight quantizer. Decomposition lives in the
 * online activation quantizer (act_quant.h) and needs nothing here.
 *
 * Scales s (C) of a linear input are folded so that the site holds x/s and the weights that
 * read it W·diag(s):
 *   attn_in      attn_norm[j] /= s_j;         columns j of attn_q, attn_k, attn_v *= s_j
 *   ffn_in       ffn_norm[j] /= s_j;          columns j of ffn_gate, ffn_up *= s_j
 *   ffn_down_in  row j of ffn_up /= s_j;      column j of ffn_down *= s_j
 *                (skipped when the site is rotated online: the rotation mixes channels
 *                after ffn_up, so no weight could carry the division)
 *   attn_o_in    row c of attn_v (and bias) /= s_c, c in the kv width; every query head
 *                reading that kv head sees it, so s is tied across them (the statistics are
 *                pooled over the group first: GQA care); columns h·hd + c % hd of
 *                attn_output *= s_c for each such head h
 * — the planting of DESIGN.md run backwards. Within a layer the sites are folded in the
 * order attn_o_in, attn_in, ffn_down_in, ffn_in: a site whose folding rescales the rows of
 * a weight that reads another site goes first, so the weight ranges every site's scales are
 * computed from are final. With that order smoothing undoes a plant at any site exactly, at
 * every α (smooth.h): smooth(planted) and smooth(shipped) are the same model.
 *
 * Calibration: the windows given are run through the model (after rotation, when both are
 * asked for) with a capture hook at the four linear inputs; per (site, layer) it keeps the
 * channel absmax (SmoothQuant), the channel mean |x| (AWQ) and, for AWQ's search, the first
 * QS_REMEDY_SAMPLE tokens. One pass suffices: folding scales into a layer does not change
 * what later layers see in full precision.
 *
 * GPTQ runs layer by layer, as published: the Hessians of layer l's four inputs come from
 * the calibration windows run through the model whose layers < l are already quantized
 * (the forward stops after layer l); then every selected weight of layer l is quantized.
 *
 * Letters: D dim, H hidden, Q query width, K kv width, hd head_dim, L layers. */
#ifndef QS_REMEDY_H
#define QS_REMEDY_H

#include "model.h"
#include "quant.h"
#include "rotate.h"
#include "weight_quant.h"
#include "windows.h"

#define QS_REMEDY_SAMPLE 1024 /* calibration tokens per (site, layer) kept for AWQ's search */

typedef struct qs_remedy_report {
    qs_rotate_report rotate;
    int has_alpha;      /* smooth or awq ran */
    double alpha;       /* smooth: the exponent; awq: the mean chosen over (site, layer) */
    int n_scaled;       /* (site, layer) pairs whose scales were folded */
    int calib_windows;  /* calibration windows run */
    long calib_tokens;  /* tokens in them */
    double gptq_err;    /* GPTQ: Σ over matrices of the output error per token (gptq.h) */
    double gptq_energy; /* Σ of the output energies, for a relative error */
    int gptq_dead;      /* inputs never activated (their weights set to 0) */
    double seconds;
} qs_remedy_report;

/* A copy of m with cfg's function-preserving remedies folded in: rotate, then smooth (with
 * its exponent; a search is qs_eval's job, which needs the evaluation) or awq (its
 * exponent, or the published search per (site, layer) with cfg's weight spec). Scales are
 * folded for every layer and the four linear inputs. calib: calibration windows (needed by
 * smooth and awq). The copy shares m's tokenizer. Errors: QS_ERR_ARG (no calibration
 * windows where needed, an exponent not given to smooth), those of the parts. */
int qs_remedy_transform(qs_model **out, const qs_model *m, const qs_quant_config *cfg,
                        const qs_windows *calib, qs_remedy_report *report);

/* Quantizes m's weights (a copy the caller owns) with GPTQ: the selection is
 * qs_wquant_apply's (side's layers, site_mask's sites), r gives damp and act-order. wrep is
 * filled as qs_wquant_apply fills it; report's gptq_* fields are added to. */
int qs_remedy_gptq(qs_model *m, const qs_quant_side *side, unsigned site_mask, const qs_remedy *r,
                   const qs_windows *calib, qs_wquant_report *wrep, qs_remedy_report *report);

#endif
