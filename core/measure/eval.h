/* Quantized evaluation: the full-precision model and its quantized twin run on the same
 * windows in one pass, and every scored position feeds perplexity and KL statistics
 * (kld.h). The asymmetry of the field is explicit here:
 *  - weights are quantized offline, once, into packed tensors of a twin that shares every
 *    other tensor with the model (weight_quant.h), with any clip search;
 *  - activations are quantized online, inside each forward pass, through the capture hook
 *    at the linear-input sites, from cheap statistics: the current window's absmax (or
 *    percentile) — dynamic — or ranges calibrated beforehand on calibration windows —
 *    static (qs_quant_side.is_static). The hook and its calibration live in actq.h;
 *  - the KV cache (cfg->kv) is quantized online too, as the forward writes it (kv_quant.h),
 *    so every later query reads the quantized keys and values. */
#ifndef QS_EVAL_H
#define QS_EVAL_H

#include "forward.h"
#include "kld.h"
#include "quant.h"
#include "windows.h"
#include "weight_quant.h"

typedef struct qs_eval_result {
    qs_kld_report kld;        /* PPL(Q), PPL(base), ratios, KLD, Δp, top-1, top-5 */
    qs_wquant_report w;       /* what weight quantization did */
    long a_calls;             /* activation fake-quant calls */
    long a_clipped;           /* activation values clipped */
    double a_bits_per_value;  /* activation storage bits per value (mean over calls) */
    long kv_clipped;          /* KV-cache values clipped */
    double kv_bits_per_value; /* KV-cache storage bits per value (mean over writes) */
    int n_windows;
    double seconds;
    /* remedies (remedy_words.h) */
    int has_alpha;             /* 1: smooth or awq ran with exponent remedy_alpha */
    double remedy_alpha;       /* given, or chosen by the search */
    double a_wide_cols_frac;   /* decomposition: activation columns kept in full precision */
    double a_wide_values_frac; /* ... and values */
} qs_eval_result;

#define QS_EVAL_CALIB_WINDOWS 8 /* remedies' calibration without calib: ws's first 8 */

/* Evaluates cfg on ws. site_mask limits both sides to those sites (QS_SITE_ALL: every
 * linear input; weights of a site are the matrices that read it). calib: windows for static
 * activation ranges and for the remedies' calibration (NULL: the first window of ws for
 * static ranges, the first QS_EVAL_CALIB_WINDOWS for the remedies).
 * Remedies (remedy_words.h, remedy.h): rotate/smooth/awq are folded into a copy of m that
 * the quantized side runs (the base is m itself); gptq quantizes the weights instead of
 * round-to-nearest; decompose splits the activations. "smooth" without an exponent is
 * searched: every α = 0.05, 0.10, .. 0.95 is evaluated with the whole config on the
 * calibration windows and the lowest mean KLD wins (out->remedy_alpha). */
int qs_eval(const qs_model *m, const qs_windows *ws, const qs_quant_config *cfg, unsigned site_mask,
            const qs_windows *calib, qs_eval_result *out);

/* SmoothQuant's exponent for cfg by the search qs_eval runs (the grid 0.05 .. 0.95, lowest
 * mean KLD on the calibration windows, which serve as evaluation and calibration windows). */
int qs_eval_smooth_search(const qs_model *m, const qs_quant_config *cfg, unsigned site_mask,
                          const qs_windows *calib, double *alpha);

/* After an evaluation of cfg that searched an exponent (smooth), fixes it in cfg to the one
 * chosen, so that the attribution runs use it instead of searching again. */
void qs_eval_fix_search(qs_quant_config *cfg, const qs_eval_result *r);

/* A quantized model evaluated against its base: two models that share a shape and a
 * tokenizer (e.g. llama.cpp's Q4_K_M GGUF or a GPTQ export against the bf16 original) run
 * on the same windows, and the full report is filled as for a config; out->w describes
 * quant's linear weights against base's: the bits per value they are stored in and their
 * reconstruction error (both expanded in logical row order, so a GGUF against a Hugging
 * Face directory compares like with like). No activation quantization. Errors: QS_ERR_ARG
 * when the shapes differ (the message names the field). */
int qs_eval_pair(const qs_model *base, const qs_model *quant, const qs_windows *ws,
                 qs_eval_result *out);
/* The checks of qs_eval_pair, plus, when both models have a tokenizer and text is given,
 * that both encode the text's first 4 KB to the same ids. */
int qs_eval_pair_check(const qs_model *base, const qs_model *quant, const char *text, size_t len);

/* Attribution: the config that applies cfg to one part of the model only. by_site: site
 * `index` (its activations and the weights that read it; *site_mask is set to that site);
 * else layer `index` on each side that quantizes it (a side whose config leaves that layer
 * alone is not quantized at all in this run; *site_mask = QS_SITE_ALL). Returns 1 and
 * fills *one, or 0 when that part has nothing to quantize (resid; a layer neither side
 * quantizes). */
int qs_eval_attribution_config(qs_quant_config *one, unsigned *site_mask,
                               const qs_quant_config *cfg, int by_site, int index);

#endif
