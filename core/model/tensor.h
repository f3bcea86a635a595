/* A tensor in its stored precision: bytes in the file's read-only mapping (or in memory a
 * model owns), a storage type (dtype.h), a shape, and the means to expand rows to f32.
 *
 * Shapes are row-major (rows, cols): a weight is (out, in), y = x · Wᵀ; a vector is
 * (1, n). Nothing is converted when a model loads: the forward pass expands one matrix at a
 * time, a block of rows at a time, into a scratch buffer and multiplies in f32.
 *
 * Two shortcuts keep full-precision files as fast and exact as before:
 *  - f32: when the values already sit in memory as aligned f32 in logical row order (an F32
 *    tensor of a llama2.c, GGUF or safetensors file), f32 points at them and the forward
 *    pass multiplies straight from the mapping;
 *  - vectors (norm gains, biases) always have f32: a copy the model owns when the file holds
 *    them in another type (a few KB per layer).
 *
 * Row order: Hugging Face stores q/k rows for rotate_half RoPE; qscope computes with
 * llama2.c's interleaved pairs. Such a tensor has perm_head_dim = head_dim and its logical
 * row l of head h is stored row h·hd + (l % 2)·hd/2 + l/2 (within the head); expanding rows
 * gives the logical order, so every consumer sees llama2.c's layout. */
#ifndef QS_TENSOR_H
#define QS_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "dtype.h"
#include "packed.h"

typedef struct qs_tensor {
    char name[64];       /* GGUF-style name: token_embd, blk.3.attn_q, ... */
    int64_t rows, cols;  /* logical shape; vectors have rows = 1 */
    uint32_t type;       /* storage type (dtype.h) */
    const uint8_t *data; /* the stored bytes: read-only mapping or owned memory */
    size_t n_bytes;      /* bytes at data */
    size_t row_bytes;    /* bytes of one stored row (block types; 0 for packed) */
    int perm_head_dim;   /* > 0: rows stored in rotate_half order within heads of this size */
    const qs_packed_layout *pk; /* type QS_DTYPE_PACKED: its layout, which lives as long
                                   as the tensor (a model allocates it with the data) */
    const float *f32;           /* the values as f32 in logical order, when available without
                                   expanding (see above); NULL otherwise */
    char stored_type[32];       /* for reports: "F32", "BF16", "Q4_K", "W4 g128" */
} qs_tensor;

/* Fills t for `n_bytes` stored bytes of `type` at data with shape (rows, cols), checking
 * the type can be expanded and that n_bytes is what the shape needs (QS_ERR_UNSUPPORTED,
 * QS_ERR_FORMAT; messages name `name`). For QS_DTYPE_PACKED pass the layout in pk (kept by
 * pointer: it must outlive t; else
 * NULL). Sets f32 when the data are aligned F32 (vectors get no copy here: see
 * qs__model_new_tensor). */
int qs_tensor_init(qs_tensor *t, const char *name, uint32_t type, const void *data, size_t n_bytes,
                   int64_t rows, int64_t cols, const qs_packed_layout *pk);

/* y (n, cols) ← logical rows [r0, r0 + n) of t as f32. The fast path (SIMD through the
 * traits table); _ref is the scalar twin and gives the same bits. Never fails: a tensor is
 * checked when it is made. */
void qs_tensor_rows(float *y, const qs_tensor *t, int64_t r0, int64_t n);
void qs_tensor_rows_ref(float *y, const qs_tensor *t, int64_t r0, int64_t n);

/* The whole tensor as f32 (rows·cols floats): *view points at t->f32 when set (then
 * *owned = NULL); otherwise a malloc'd expansion that the caller frees through *owned.
 * QS_ERR_NOMEM naming the tensor. */
int qs_tensor_f32(const qs_tensor *t, const float **view, float **owned);

/* rows·cols. */
static inline int64_t qs_tensor_numel(const qs_tensor *t) { return t->rows * t->cols; }

#endif
