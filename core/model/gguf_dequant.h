/* ggml tensor types as stored in GGUF files, and their dequantization to float32.
 *
 * The storage-type table (dtype.h: name, block size, block bytes, dequantizer) describes
 * every type id that ggml has defined, so the GGUF parser can size any tensor and name any
 * type, while only the types with a dequantizer can be loaded; this header holds the
 * kernels the table points to. Every dequantizer is a plain scalar
 * reference
 * (`_ref`) that turns n_blocks consecutive blocks into n_blocks·block_size floats; block
 * layouts follow ggml's public definitions (ggml-common.h). Multi-byte fields are read
 * little-endian byte by byte, so blocks need no alignment.
 */
#ifndef QS_GGUF_DEQUANT_H
#define QS_GGUF_DEQUANT_H

#include <stddef.h>
#include <stdint.h>

enum qs_ggml_type {
    QS_GGML_F32 = 0,
    QS_GGML_F16 = 1,
    QS_GGML_Q4_0 = 2,
    QS_GGML_Q4_1 = 3,
    /* 4, 5: Q4_2, Q4_3, removed from ggml */
    QS_GGML_Q5_0 = 6,
    QS_GGML_Q5_1 = 7,
    QS_GGML_Q8_0 = 8,
    QS_GGML_Q8_1 = 9,
    QS_GGML_Q2_K = 10,
    QS_GGML_Q3_K = 11,
    QS_GGML_Q4_K = 12,
    QS_GGML_Q5_K = 13,
    QS_GGML_Q6_K = 14,
    QS_GGML_Q8_K = 15,
    QS_GGML_IQ2_XXS = 16,
    QS_GGML_IQ2_XS = 17,
    QS_GGML_IQ3_XXS = 18,
    QS_GGML_IQ1_S = 19,
    QS_GGML_IQ4_NL = 20,
    QS_GGML_IQ3_S = 21,
    QS_GGML_IQ2_S = 22,
    QS_GGML_IQ4_XS = 23,
    QS_GGML_I8 = 24,
    QS_GGML_I16 = 25,
    QS_GGML_I32 = 26,
    QS_GGML_I64 = 27,
    QS_GGML_F64 = 28,
    QS_GGML_IQ1_M = 29,
    QS_GGML_BF16 = 30,
    /* 31-33: Q4_0_4_4, Q4_0_4_8, Q4_0_8_8, removed */
    QS_GGML_TQ1_0 = 34,
    QS_GGML_TQ2_0 = 35,
    /* 36-38: IQ4_NL_4_4, _4_8, _8_8, removed */
    QS_GGML_MXFP4 = 39,
    QS_GGML_TYPE_COUNT
};

/* y[0 .. n_blocks·block_size) ← the n_blocks blocks at x. */
typedef void (*qs_dequant_fn)(float *y, const uint8_t *x, int64_t n_blocks);

/* Scalar references, one per supported type (n_blocks blocks at x into y). */
void qs_dequant_f32_ref(float *y, const uint8_t *x, int64_t n_blocks);
void qs_dequant_f16_ref(float *y, const uint8_t *x, int64_t n_blocks);
void qs_dequant_bf16_ref(float *y, const uint8_t *x, int64_t n_blocks);
void qs_dequant_f64_ref(float *y, const uint8_t *x, int64_t n_blocks);
void qs_dequant_i8_ref(float *y, const uint8_t *x, int64_t n_blocks);
void qs_dequant_i16_ref(float *y, const uint8_t *x, int64_t n_blocks);
void qs_dequant_i32_ref(float *y, const uint8_t *x, int64_t n_blocks);
void qs_dequant_q4_0_ref(float *y, const uint8_t *x, int64_t n_blocks);
void qs_dequant_q4_1_ref(float *y, const uint8_t *x, int64_t n_blocks);
void qs_dequant_q5_0_ref(float *y, const uint8_t *x, int64_t n_blocks);
void qs_dequant_q5_1_ref(float *y, const uint8_t *x, int64_t n_blocks);
void qs_dequant_q8_0_ref(float *y, const uint8_t *x, int64_t n_blocks);
void qs_dequant_q8_1_ref(float *y, const uint8_t *x, int64_t n_blocks);
void qs_dequant_q2_k_ref(float *y, const uint8_t *x, int64_t n_blocks);
void qs_dequant_q3_k_ref(float *y, const uint8_t *x, int64_t n_blocks);
void qs_dequant_q4_k_ref(float *y, const uint8_t *x, int64_t n_blocks);
void qs_dequant_q5_k_ref(float *y, const uint8_t *x, int64_t n_blocks);
void qs_dequant_q6_k_ref(float *y, const uint8_t *x, int64_t n_blocks);
void qs_dequant_q8_k_ref(float *y, const uint8_t *x, int64_t n_blocks);
void qs_dequant_iq4_nl_ref(float *y, const uint8_t *x, int64_t n_blocks);
void qs_dequant_iq4_xs_ref(float *y, const uint8_t *x, int64_t n_blocks);

#endif
