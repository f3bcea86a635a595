/* NaN and Inf in stored weights, found at load time.
 *
 * A weight that is NaN or ±Inf makes every logit it reaches NaN: perplexity prints
 * "nan ± nan" and the run still exits 0. Loaders call qs_tensor_check_finite on each
 * tensor's bytes as the file stores them, before anything uses them, so the check does not
 * depend on how (or whether) the model later expands them to float32. */
#ifndef QS_TENSOR_FINITE_H
#define QS_TENSOR_FINITE_H

#include <stdint.h>

/* Checks n elements stored at data as ggml type `type` (gguf_dequant.h: F32, F16, BF16,
 * F64, and every block type with a decoder, such as Q8_0 and Q4_K, whose scales are
 * checked through the values they decode to). data needs no alignment.
 * Returns QS_OK, or QS_ERR_NUMERIC naming file, tensor, the first bad element's index and
 * what it holds, e.g. "model.gguf: tensor 'blk.0.attn_q.weight' holds NaN at element 1234
 * (of 4096, stored F16)"; for block types the block index too; F64 values beyond float's
 * range are refused as well. A type without a decoder is QS_OK (the loader refuses it). */
int qs_tensor_check_finite(const void *data, uint32_t type, int64_t n, const char *file,
                           const char *tensor);

#endif
