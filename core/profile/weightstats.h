/* Whole-tensor statistics of every weight tensor of a model (tensorstats.h: moments,
 * absmax, |x| histogram and percentiles), so that weights and activations can be put side
 * by side: weights are near-Gaussian and quantize easily, activations are not.
 *
 * One entry per tensor of m->tensors (matrices and the norm gain vectors), in that order;
 * a tied classifier appears once (as token_embd). Memory: ≈ 48 KB per tensor. */
#ifndef QS_WEIGHTSTATS_H
#define QS_WEIGHTSTATS_H

#include "model.h"
#include "tensorstats.h"

typedef struct qs_weightstat {
    char name[64]; /* GGUF-style tensor name, e.g. "blk.0.attn_q" */
    int64_t rows, cols;
    qs_tensorstats *ts;
} qs_weightstat;

/* Computes the statistics of every tensor. *out (n entries) is caller-owned, freed with
 * qs_weightstats_free. Errors: QS_ERR_NUMERIC (a weight is NaN/inf; the message names
 * the tensor), QS_ERR_NOMEM. */
int qs_weightstats_compute(qs_weightstat **out, int *n, const qs_model *m);
void qs_weightstats_free(qs_weightstat *w, int n);

#endif
