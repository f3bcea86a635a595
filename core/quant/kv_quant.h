/* KV-cache quantization: a forward hook (forward.h) at the k_cache and v_cache sites that
 * fake-quantizes the cache rows in place as the forward writes them, before any query reads
 * them, so every later position attends to the quantized keys and values (as a quantized
 * cache does). Online, from the rows of the write only: per-token scales use one position,
 * per-channel scales the positions written together (a whole window in eval, one position
 * when decoding token by token).
 *
 * Letters: T positions written, K = n_kv_heads · head_dim channels. */
#ifndef QS_KV_QUANT_H
#define QS_KV_QUANT_H

#include "forward.h"
#include "quant.h"

typedef struct qs_kvq {
    const qs_quant_kv *kv; /* borrowed: the specs of keys and values */
    /* what the hook did */
    long calls, clipped;
    double bits_sum; /* storage bits per value, summed over calls */
} qs_kvq;

/* Prepares the hook state for kv (borrowed, must outlive st). Errors: QS_ERR_ARG (bad
 * spec). A cache with bits 16 gives a hook that does nothing. */
int qs_kvq_init(qs_kvq *st, const qs_quant_kv *kv);

/* The hook to pass to qs_forward; its mask holds k_cache/v_cache when quantized, else 0. */
qs_hook qs_kvq_hook(qs_kvq *st);

/* Mean storage bits per cached value over the calls so far (16 if none). */
double qs_kvq_bits_per_value(const qs_kvq *st);

#endif
