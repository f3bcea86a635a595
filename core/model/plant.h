/* Planted outliers: the controlled experiment. A channel of a linear layer's input is
 * multiplied by K and the weights that read it are divided by K, so the model computes the
 * same function in full precision (up to float rounding) while its activations at that
 * site carry a persistent outlier channel of factor K — the situation activation
 * quantization meets in large models, at a known place. It is SmoothQuant's migration run
 * backwards.
 *
 * For site s, layer l, channel c and scale K (weights are (out, in), so "column c" is
 * input c and "row c" is output c):
 *   attn_in      attn_norm[c] ·= K;  column c of wq, wk, wv /= K
 *   ffn_in       ffn_norm[c]  ·= K;  column c of w_gate, w_up /= K
 *   ffn_down_in  row c of w_up ·= K;  column c of w_down /= K
 *   attn_o_in    row c of wv (and bv[c]) ·= K, c indexing the kv width n_kv_heads·head_dim;
 *                every query head h reading kv head c / head_dim sees it, at attn_o_in
 *                channel h·head_dim + c % head_dim, and that column of wo /= K
 *                (with grouped-query attention one plant shows at n_heads/n_kv_heads
 *                channels of the site)
 *   resid        refused: the next RMSNorm divides by the norm of the whole stream, so a
 *                scaled channel changes every other channel — not function-preserving.
 * The channel range is the site's width: dim for attn_in and ffn_in, hidden_dim for
 * ffn_down_in, n_kv_heads·head_dim for attn_o_in. layer = QS_PLANT_ALL_LAYERS plants at
 * every layer. */
#ifndef QS_PLANT_H
#define QS_PLANT_H

#include "model.h"

#define QS_PLANT_ALL_LAYERS (-1)

typedef struct qs_plant_spec {
    int site;  /* enum qs_site */
    int layer; /* 0..n_layers-1, or QS_PLANT_ALL_LAYERS */
    int channel;
    double scale; /* K > 0, finite */
} qs_plant_spec;

/* Parses the parts of a spec: site name, layer ("all" or an integer), channel, scale.
 * Checks the syntax and what needs no model (site known and plantable, scale finite and
 * > 0). Errors: QS_ERR_ARG with a message naming the bad part. */
int qs_plant_parse_parts(qs_plant_spec *out, const char *site, const char *layer,
                         const char *channel, const char *scale);
/* The same from "site:layer:channel:scale" (e.g. "ffn_down_in:2:100:100"). */
int qs_plant_parse(qs_plant_spec *out, const char *text);

/* Width of a plantable site's channel index for config c (see above); 0 for resid. */
int qs_plant_width(const qs_config *c, int site);

/* Checks a spec against a model config: site plantable, layer and channel in range, scale
 * finite and > 0. Errors: QS_ERR_ARG. */
int qs_plant_check(const qs_config *c, const qs_plant_spec *p);

/* Applies n specs to m's weights in memory (in order; planting the same channel twice
 * multiplies the factors). Each tensor a plant touches is first copied to f32 in memory m
 * owns and put in its place (a twin's base and the file's mapping never change; untouched
 * tensors stay shared), then edited in f32 exactly as before stored types existed. Every
 * spec is checked first: on QS_ERR_ARG nothing is changed. QS_ERR_NUMERIC when a product
 * leaves float's range (a weight times K overflows), naming the tensor and element, and
 * QS_ERR_NOMEM: m is then partly planted and must be discarded. */
int qs_plant_apply(qs_model *m, const qs_plant_spec *specs, int n);

/* "attn_in:1:7:100" (layer "all" for QS_PLANT_ALL_LAYERS) into buf (size n). */
void qs_plant_format(const qs_plant_spec *p, char *buf, int n);

#endif
