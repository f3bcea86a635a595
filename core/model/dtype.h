/* Storage types: how a tensor's values are held in memory, and how to expand them to f32.
 *
 * A tensor keeps the precision its file stored (f32, f16, bf16, the GGUF block types) or
 * the packed integers offline weight quantization writes (packed.h). One traits table
 * describes every type: its name, its block geometry, and the functions that expand it.
 * The forward pass, planting, statistics and savers go through this table only, so a new
 * type is one new entry, never a new switch.
 *
 * Type ids below QS_GGML_TYPE_COUNT are ggml's own (gguf_dequant.h), so a GGUF tensor's
 * type field is its storage type as it is; qscope's packed integers are QS_DTYPE_PACKED.
 *
 * Expanding a tensor: `rows` turns stored rows [r0, r0 + n) of a tensor into n·cols
 * floats, from its bytes (and its packed layout); tensor.h applies row orders. The
 * block types share one implementation that calls `dequant` on each row's blocks (a row
 * is always a whole number of blocks); packed tensors read their layout from the tensor.
 * `rows` may take a SIMD path (core/base/cpu.h); `rows_ref` is its plain scalar twin and
 * gives the same bits. Every expansion is exact: an f32 value is what the file's format
 * defines, never re-rounded.
 *
 * Row products for decoding (linear.h): `matvec` holds a type's fused kernels, one per CPU
 * path (scalar, AVX2, AVX-512): rows times T activation rows with the weights expanded in
 * registers; NULL on a path means "expand a row at a time into cache, then multiply".
 * `dot8` is the int8dot kernel (int8 activations, integer dot products) where the type has
 * one, `dot8_ref` its scalar twin. A kernel returns 0 without writing when it cannot take a
 * tensor (a packed layout it does not cover), and the caller falls back. */
#ifndef QS_DTYPE_H
#define QS_DTYPE_H

#include <stddef.h>
#include <stdint.h>

#include "gguf_dequant.h" /* the ggml type ids and block kernels */
#include "packed.h"

/* ggml's ids (enum qs_ggml_type) run below 64. */
enum {
    QS_DTYPE_PACKED = 64, /* qscope's packed integer codes + fp16 scales (packed.h) */
    QS_DTYPE_COUNT
};

/* y (n, cols) ← stored rows [r0, r0 + n) of a tensor of this type: data its stored bytes,
 * cols its row length, layout its packed layout (QS_DTYPE_PACKED) or NULL. */
typedef void (*qs_rows_fn)(float *y, const uint8_t *data, int64_t r0, int64_t n, int64_t cols,
                           const qs_packed_layout *layout);
/* y[t·ldy + i] = stored row (r0 + i) · x[t·ldx ..] (cols floats), i < n, t < T; the same
 * first arguments. Returns 0 (nothing written) for a layout the kernel does not take. */
typedef int (*qs_matvec_fn)(float *y, int64_t ldy, const uint8_t *data, int64_t r0, int64_t n,
                            int64_t cols, const qs_packed_layout *layout, const float *x,
                            int64_t ldx, int T);
/* The same with int8 activations (linear.h's qs_act8: T tokens, cols values each). */
struct qs_act8;
typedef int (*qs_dot8_fn)(float *y, int64_t ldy, const uint8_t *data, int64_t r0, int64_t n,
                          int64_t cols, const qs_packed_layout *layout, const struct qs_act8 *a);

typedef struct qs_dtype_traits {
    const char *name;           /* "F32", "BF16", "Q4_K", "PACKED" */
    int block_size;             /* values per block; 1 for plain types; 0: layout per tensor */
    int type_size;              /* bytes per block; 0: layout per tensor */
    qs_dequant_fn dequant;      /* scalar: n_blocks blocks -> floats; NULL: not expandable */
    qs_dequant_fn dequant_fast; /* the same through the CPU's SIMD path (same bits) */
    qs_rows_fn rows;            /* rows of a tensor, fast path; NULL: not expandable */
    qs_rows_fn rows_ref;        /* the same, scalar reference */
    qs_matvec_fn matvec[3];     /* fused row products per CPU path (cpu.h); NULL: none */
    qs_dot8_fn dot8, dot8_ref;  /* int8dot row products; NULL: not defined for the type */
} qs_dtype_traits;

/* Traits of a storage type id; NULL for an id no format defines. Static storage. */
const qs_dtype_traits *qs_dtype_traits_get(uint32_t type);
/* The type's name, or "?" for an unknown id. */
const char *qs_dtype_name(uint32_t type);
/* 1 if tensors of this type can be expanded to f32 (the forward pass can run them). */
int qs_dtype_expandable(uint32_t type);
/* Bytes of one row of `cols` values of a block type; 0 if cols is not a whole number of
 * blocks or the type has a per-tensor layout (packed). */
size_t qs_dtype_row_bytes(uint32_t type, int64_t cols);

/* A ggml type's entry of the storage-type table (dtype.h): name as ggml spells it, block
 * size and bytes, dequant NULL for a known type that qscope cannot dequantize. */
typedef qs_dtype_traits qs_ggml_type_traits;

/* Traits of a ggml type id; NULL for an id ggml never defined (or has removed). */
const qs_ggml_type_traits *qs_ggml_type_traits_get(uint32_t type);
/* Name of a type id, or "?" for an unknown id. */
const char *qs_ggml_type_name(uint32_t type);

/* Dequantizes n values of `type` at x into y (n floats). Checks the type has a dequantizer
 * (QS_ERR_UNSUPPORTED otherwise) and that n is a multiple of its block size (QS_ERR_FORMAT);
 * `what` names the tensor in messages. x must hold n / block_size blocks. Runs over blocks
 * in parallel (OpenMP); all checks happen before the parallel loop. */
int qs_gguf_dequant(float *y, const uint8_t *x, uint32_t type, int64_t n, const char *what);

/* Fast dequantizers (dispatched on qs_cpu_path(); bit-identical to the _ref ones). */
void qs_dequant_f16(float *y, const uint8_t *x, int64_t n_blocks);
void qs_dequant_bf16(float *y, const uint8_t *x, int64_t n_blocks);
void qs_dequant_q8_0(float *y, const uint8_t *x, int64_t n_blocks);
void qs_dequant_q4_0(float *y, const uint8_t *x, int64_t n_blocks);

#endif
