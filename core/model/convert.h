/* Storing weights in another type: f32 values into F32, F16, BF16, Q8_0, Q4_0 or Q4_K, and
 * twins of a model whose matrices are stored that way (the speed bench's formats; packed
 * integer twins come from quant/'s weight quantization instead).
 *
 * Recipes (round to nearest, values clamped to the grid):
 *   F16, BF16  nearest even (fp16.h)
 *   Q8_0       d = amax/127, q = round(x·(1/d)) (halves away from 0), d stored as fp16
 *   Q4_0       d = (the value of largest magnitude)/−8, q = trunc(x·(1/d) + 8.5) clamped
 *              to 0..15, d stored as fp16
 *              (both the ggml reference recipes: the codes are computed with d before its
 *              rounding to fp16, and llama.cpp's quantizer writes the same bytes: test_convert)
 *   Q4_K       per sub-block of 32: min m = −min(0, min x); dmin = max m/63 (fp16, rounded
 *              up), mn = ceil(m/dmin); scale s = (max x + dmin·mn)/15, d = max s/63 (fp16,
 *              up), sc = ceil(s/d); q = round((x + dmin·mn)/(d·sc)) clamped to 0..15: the
 *              grid covers every value (error at most half a step d·sc), no search
 * They make realistic weights for speed and format studies, not the best codes each type can
 * hold (qscope's own quantization study is quant/). */
#ifndef QS_CONVERT_H
#define QS_CONVERT_H

#include <stdint.h>

#include "model.h"

/* 1 if f32 values can be stored as `type` here. */
int qs_convert_supported(uint32_t type);

/* dst ← n values of x stored as `type` (n a multiple of its block size; dst holds
 * qs_dtype_row_bytes(type, n) bytes). Deterministic: the same bytes on every machine. */
void qs_convert_values(uint8_t *dst, const float *x, int64_t n, uint32_t type);

/* A twin of base (model.h) whose matrices — every layer's projections and the classifier
 * (the embedding, when the classifier is tied to it) — are stored as `type`, converted from
 * base's values; base's other tensors are shared. Free with qs_model_free. Errors:
 * QS_ERR_UNSUPPORTED for a type qscope cannot store or rows that are not whole blocks
 * (naming the tensor), QS_ERR_NOMEM. */
int qs_model_twin_convert(qs_model **out, const qs_model *base, uint32_t type);

#endif
