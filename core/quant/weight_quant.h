/* Offline weight quantization: the linear weights of a model copy are fake-quantized once,
 * with any clip search (MSE included), before any text is seen. The embedding, the
 * classifier and the norm gains stay in full precision (as in GPTQ/AWQ-style W4 models).
 *
 * Which weights a site owns: a site is a linear layer's input, and the weights that read it
 * are quantized with it — attn_in: attn_q, attn_k, attn_v; attn_o_in: attn_output;
 * ffn_in: ffn_gate, ffn_up; ffn_down_in: ffn_down. */
#ifndef QS_WQUANT_H
#define QS_WQUANT_H

#include "model.h"
#include "quant.h"

typedef struct qs_wquant_report {
    int n_tensors;         /* matrices quantized */
    double n_values;       /* weights quantized */
    double bits;           /* total storage bits of those weights incl. scales */
    double bits_per_value; /* bits / n_values */
    long n_clipped;
    double sum_sq_err, sum_sq_ref; /* reconstruction error over all quantized weights */
} qs_wquant_report;

/* The weight matrix pointers a site reads in layer l (up to 3); returns how many. */
int qs_wquant_site_weights(qs_model *m, int site, int layer, float **w, int *rows, int *cols,
                           const char **names);

/* Fake-quantizes, in place, the weights of m that side->spec selects: layers per
 * qs_quant_side_has_layer, sites per site_mask (QS_SITE_ALL = every linear weight).
 * m must be a copy the caller owns (qs_model_clone). report may be NULL. */
int qs_wquant_apply(qs_model *m, const qs_quant_side *side, unsigned site_mask,
                    qs_wquant_report *report);

#endif
