/* Offline weight quantization: the linear weights of a model are quantized once, with any
 * clip search (MSE included), before any text is seen, into packed tensors (packed.h) that
 * a twin of the model owns (model.h): the twin shares every other tensor with its base, so
 * quantizing W4 costs the packed bytes, not a copy of the model. A packed weight expands to
 * exactly the fake-quantized matrix, so results equal those of fake-quantizing a copy. The
 * embedding, the classifier and the norm gains stay in full precision (as in GPTQ/AWQ-style W4
 * models).
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
    double packed_bytes;           /* bytes of the packed tensors made */
} qs_wquant_report;

/* The weight tensors a site reads in layer l (up to 3) and their short names ("attn_q");
 * returns how many. */
int qs_wquant_site_weights(const qs_model *m, int site, int layer, const qs_tensor **w,
                           const char **names);

/* Quantizes the weights of m that side->spec selects (layers per qs_quant_side_has_layer,
 * sites per site_mask; QS_SITE_ALL = every linear weight), each into a packed tensor m owns
 * that takes the original's place. m is a twin (qs_model_twin) or a model the caller may
 * change; a tensor it shares is never written. report may be NULL. On error m may be
 * partly quantized. */
int qs_wquant_apply(qs_model *m, const qs_quant_side *side, unsigned site_mask,
                    qs_wquant_report *report);

/* Quantizes one tensor t of m (a twin's, or one m may change) into a packed tensor m owns,
 * in t's place everywhere m uses it (the speed bench quantizes the classifier this way);
 * report, if not NULL, accumulates as qs_wquant_apply's. */
int qs_wquant_tensor(qs_model *m, const qs_tensor *t, const qs_quant_spec *sp,
                     qs_wquant_report *report);

/* A twin of base with side's weights quantized (qs_model_twin + qs_wquant_apply); free
 * with qs_model_free. */
int qs_wquant_twin(qs_model **out, const qs_model *base, const qs_quant_side *side,
                   unsigned site_mask, qs_wquant_report *report);

#endif
