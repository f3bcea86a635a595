/* The storage-type table (dtype.h) and the fast dequantizers of the common types.
 *
 * Fast kernels exist where expansion speed matters most: bf16 and f16 (the formats of
 * released checkpoints), Q8_0 and Q4_0 (the common GGUF types); the other block types run
 * their scalar `_ref` code. Each fast kernel converts integers exactly and performs the same
 * single float multiply as its `_ref` twin, so both give the same bits (tested for every
 * path the CPU has). */
#include "dtype.h"

#include <string.h>

#include "cpu.h"
#include "error.h"
#include "fp16.h"
#include "linear_kernels.h"

#if QS_HAVE_X86_SIMD
#include <immintrin.h>
#endif

/* ---- fast dequantizers ---------------------------------------------------------------- */

static void f32_fast(float *y, const uint8_t *x, int64_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(y, x, (size_t)n * 4);
#else
    qs_dequant_f32_ref(y, x, n);
#endif
}

#if QS_HAVE_X86_SIMD
QS_TARGET_AVX2 static void bf16_avx2(float *y, const uint8_t *x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(x + 2 * i));
        __m256i u = _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16);
        _mm256_storeu_ps(y + i, _mm256_castsi256_ps(u));
    }
    qs_dequant_bf16_ref(y + i, x + 2 * i, n - i);
}

/* F16C converts every binary16 exactly, subnormals included; a signalling NaN comes out
 * quiet (the _ref keeps the payload bit for bit), which no weight file holds. */
QS_TARGET_AVX2 static void f16_avx2(float *y, const uint8_t *x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + 2 * i))));
    qs_dequant_f16_ref(y + i, x + 2 * i, n - i);
}

QS_TARGET_AVX2 static void q8_0_avx2(float *y, const uint8_t *x, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += 34, y += 32) {
        const __m256 d = _mm256_set1_ps(qs_fp16_to_f32((uint16_t)(x[0] | (x[1] << 8))));
        for (int j = 0; j < 32; j += 8) {
            __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(x + 2 + j)));
            _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_cvtepi32_ps(q), d));
        }
    }
}

QS_TARGET_AVX2 static void q4_0_avx2(float *y, const uint8_t *x, int64_t nb) {
    const __m128i lo4 = _mm_set1_epi8(0x0f);
    const __m256i eight = _mm256_set1_epi32(8);
    for (int64_t b = 0; b < nb; b++, x += 18, y += 32) {
        const __m256 d = _mm256_set1_ps(qs_fp16_to_f32((uint16_t)(x[0] | (x[1] << 8))));
        __m128i q = _mm_loadu_si128((const __m128i *)(x + 2));
        __m128i lo = _mm_and_si128(q, lo4), hi = _mm_and_si128(_mm_srli_epi16(q, 4), lo4);
        __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
        for (int j = 0; j < 4; j++) {
            __m256i v = _mm256_sub_epi32(_mm256_cvtepu8_epi32(parts[j]), eight);
            _mm256_storeu_ps(y + 8 * j, _mm256_mul_ps(_mm256_cvtepi32_ps(v), d));
        }
    }
}
#endif

void qs_dequant_bf16(float *y, const uint8_t *x, int64_t n) {
#if QS_HAVE_X86_SIMD
    if (qs_cpu_path() >= QS_CPU_AVX2) {
        bf16_avx2(y, x, n);
        return;
    }
#endif
    qs_dequant_bf16_ref(y, x, n);
}

void qs_dequant_f16(float *y, const uint8_t *x, int64_t n) {
#if QS_HAVE_X86_SIMD
    if (qs_cpu_path() >= QS_CPU_AVX2) {
        f16_avx2(y, x, n);
        return;
    }
#endif
    qs_dequant_f16_ref(y, x, n);
}

void qs_dequant_q8_0(float *y, const uint8_t *x, int64_t nb) {
#if QS_HAVE_X86_SIMD
    if (qs_cpu_path() >= QS_CPU_AVX2) {
        q8_0_avx2(y, x, nb);
        return;
    }
#endif
    qs_dequant_q8_0_ref(y, x, nb);
}

void qs_dequant_q4_0(float *y, const uint8_t *x, int64_t nb) {
#if QS_HAVE_X86_SIMD
    if (qs_cpu_path() >= QS_CPU_AVX2) {
        q4_0_avx2(y, x, nb);
        return;
    }
#endif
    qs_dequant_q4_0_ref(y, x, nb);
}

/* ---- rows of a tensor ----------------------------------------------------------------- */

/* Block types: n stored rows are n·cols/block_size consecutive blocks. One function per
 * type, so the table's entries need no argument saying which. */
#define BLOCK_ROWS(tag, bs, ts, fn)                                                            \
    static void rows_##tag(float *y, const uint8_t *data, int64_t r0, int64_t n, int64_t cols, \
                           const qs_packed_layout *layout) {                                   \
        (void)layout;                                                                          \
        fn(y, data + (size_t)(r0 * (cols / (bs)) * (ts)), n * (cols / (bs)));                  \
    }
#define BLOCK_TYPE(tag, bs, ts, ref, fast) \
    BLOCK_ROWS(tag, bs, ts, fast)          \
    BLOCK_ROWS(tag##_ref, bs, ts, ref)
BLOCK_TYPE(f32, 1, 4, qs_dequant_f32_ref, f32_fast)
BLOCK_TYPE(f16, 1, 2, qs_dequant_f16_ref, qs_dequant_f16)
BLOCK_TYPE(bf16, 1, 2, qs_dequant_bf16_ref, qs_dequant_bf16)
BLOCK_TYPE(f64, 1, 8, qs_dequant_f64_ref, qs_dequant_f64_ref)
BLOCK_TYPE(i8, 1, 1, qs_dequant_i8_ref, qs_dequant_i8_ref)
BLOCK_TYPE(i16, 1, 2, qs_dequant_i16_ref, qs_dequant_i16_ref)
BLOCK_TYPE(i32, 1, 4, qs_dequant_i32_ref, qs_dequant_i32_ref)
BLOCK_TYPE(q4_0, 32, 18, qs_dequant_q4_0_ref, qs_dequant_q4_0)
BLOCK_TYPE(q4_1, 32, 20, qs_dequant_q4_1_ref, qs_dequant_q4_1_ref)
BLOCK_TYPE(q5_0, 32, 22, qs_dequant_q5_0_ref, qs_dequant_q5_0_ref)
BLOCK_TYPE(q5_1, 32, 24, qs_dequant_q5_1_ref, qs_dequant_q5_1_ref)
BLOCK_TYPE(q8_0, 32, 34, qs_dequant_q8_0_ref, qs_dequant_q8_0)
BLOCK_TYPE(q8_1, 32, 36, qs_dequant_q8_1_ref, qs_dequant_q8_1_ref)
BLOCK_TYPE(q2_k, 256, 84, qs_dequant_q2_k_ref, qs_dequant_q2_k_ref)
BLOCK_TYPE(q3_k, 256, 110, qs_dequant_q3_k_ref, qs_dequant_q3_k_ref)
BLOCK_TYPE(q4_k, 256, 144, qs_dequant_q4_k_ref, qs_dequant_q4_k_ref)
BLOCK_TYPE(q5_k, 256, 176, qs_dequant_q5_k_ref, qs_dequant_q5_k_ref)
BLOCK_TYPE(q6_k, 256, 210, qs_dequant_q6_k_ref, qs_dequant_q6_k_ref)
BLOCK_TYPE(q8_k, 256, 292, qs_dequant_q8_k_ref, qs_dequant_q8_k_ref)
BLOCK_TYPE(iq4_nl, 32, 18, qs_dequant_iq4_nl_ref, qs_dequant_iq4_nl_ref)
BLOCK_TYPE(iq4_xs, 256, 136, qs_dequant_iq4_xs_ref, qs_dequant_iq4_xs_ref)

static void packed_rows(float *y, const uint8_t *data, int64_t r0, int64_t n, int64_t cols,
                        const qs_packed_layout *layout) {
    (void)cols;
    qs_packed_rows(y, layout, data, r0, n);
}
static void packed_rows_ref(float *y, const uint8_t *data, int64_t r0, int64_t n, int64_t cols,
                            const qs_packed_layout *layout) {
    (void)cols;
    qs_packed_rows_ref(y, layout, data, r0, n);
}

/* ---- the table ------------------------------------------------------------------------ */

/* A block type qscope expands: scalar dequantizer, fast one (the same when there is none),
 * and its rows functions (BLOCK_TYPE above). */
#define BLOCK(nm, tag, bs, ts, ref, fast) \
    {nm, bs, ts, ref, fast, rows_##tag, rows_##tag##_ref, {NULL, NULL, NULL}, NULL, NULL}
#define PLAIN(nm, tag, bs, ts, ref) BLOCK(nm, tag, bs, ts, ref, ref)
/* ... with fused kernels (AVX2, AVX-512; linear_fused.c) and int8dot ones (or NULL) */
#define KERNELS(nm, tag, bs, ts, ref, fast, d8, d8ref)                              \
    {nm, bs, ts, ref, fast, rows_##tag, rows_##tag##_ref,                           \
     {NULL, qs__mv_##tag##_avx2, qs__mv_##tag##_avx512}, d8, d8ref}
/* A type whose sizes are known but that qscope cannot expand. */
#define SIZED(nm, bs, ts) \
    {nm, bs, ts, NULL, NULL, NULL, NULL, {NULL, NULL, NULL}, NULL, NULL}

static const qs_dtype_traits table[QS_DTYPE_COUNT] = {
    [QS_GGML_F32] = KERNELS("F32", f32, 1, 4, qs_dequant_f32_ref, f32_fast, NULL, NULL),
    [QS_GGML_F16] = KERNELS("F16", f16, 1, 2, qs_dequant_f16_ref, qs_dequant_f16, NULL, NULL),
    [QS_GGML_Q4_0] = KERNELS("Q4_0", q4_0, 32, 18, qs_dequant_q4_0_ref, qs_dequant_q4_0,
                             qs__dot8_q4_0, qs__dot8_q4_0_ref),
    [QS_GGML_Q4_1] = PLAIN("Q4_1", q4_1, 32, 20, qs_dequant_q4_1_ref),
    [QS_GGML_Q5_0] = PLAIN("Q5_0", q5_0, 32, 22, qs_dequant_q5_0_ref),
    [QS_GGML_Q5_1] = PLAIN("Q5_1", q5_1, 32, 24, qs_dequant_q5_1_ref),
    [QS_GGML_Q8_0] = KERNELS("Q8_0", q8_0, 32, 34, qs_dequant_q8_0_ref, qs_dequant_q8_0,
                             qs__dot8_q8_0, qs__dot8_q8_0_ref),
    [QS_GGML_Q8_1] = PLAIN("Q8_1", q8_1, 32, 36, qs_dequant_q8_1_ref),
    [QS_GGML_Q2_K] = PLAIN("Q2_K", q2_k, 256, 84, qs_dequant_q2_k_ref),
    [QS_GGML_Q3_K] = PLAIN("Q3_K", q3_k, 256, 110, qs_dequant_q3_k_ref),
    [QS_GGML_Q4_K] = KERNELS("Q4_K", q4_k, 256, 144, qs_dequant_q4_k_ref, qs_dequant_q4_k_ref,
                             qs__dot8_q4_k, qs__dot8_q4_k_ref),
    [QS_GGML_Q5_K] = PLAIN("Q5_K", q5_k, 256, 176, qs_dequant_q5_k_ref),
    [QS_GGML_Q6_K] =
        KERNELS("Q6_K", q6_k, 256, 210, qs_dequant_q6_k_ref, qs_dequant_q6_k_ref,
                qs__dot8_q6_k, qs__dot8_q6_k_ref),
    [QS_GGML_Q8_K] = PLAIN("Q8_K", q8_k, 256, 292, qs_dequant_q8_k_ref),
    /* the IQ grids (IQ1/2/3) need large lookup tables; known sizes, no dequantizer */
    [QS_GGML_IQ2_XXS] = SIZED("IQ2_XXS", 256, 66),
    [QS_GGML_IQ2_XS] = SIZED("IQ2_XS", 256, 74),
    [QS_GGML_IQ3_XXS] = SIZED("IQ3_XXS", 256, 98),
    [QS_GGML_IQ1_S] = SIZED("IQ1_S", 256, 50),
    [QS_GGML_IQ4_NL] = PLAIN("IQ4_NL", iq4_nl, 32, 18, qs_dequant_iq4_nl_ref),
    [QS_GGML_IQ3_S] = SIZED("IQ3_S", 256, 110),
    [QS_GGML_IQ2_S] = SIZED("IQ2_S", 256, 82),
    [QS_GGML_IQ4_XS] = PLAIN("IQ4_XS", iq4_xs, 256, 136, qs_dequant_iq4_xs_ref),
    [QS_GGML_I8] = PLAIN("I8", i8, 1, 1, qs_dequant_i8_ref),
    [QS_GGML_I16] = PLAIN("I16", i16, 1, 2, qs_dequant_i16_ref),
    [QS_GGML_I32] = PLAIN("I32", i32, 1, 4, qs_dequant_i32_ref),
    [QS_GGML_I64] = SIZED("I64", 1, 8),
    [QS_GGML_F64] = PLAIN("F64", f64, 1, 8, qs_dequant_f64_ref),
    [QS_GGML_IQ1_M] = SIZED("IQ1_M", 256, 56),
    [QS_GGML_BF16] =
        KERNELS("BF16", bf16, 1, 2, qs_dequant_bf16_ref, qs_dequant_bf16, NULL, NULL),
    [QS_GGML_TQ1_0] = SIZED("TQ1_0", 256, 54),
    [QS_GGML_TQ2_0] = SIZED("TQ2_0", 256, 66),
    [QS_GGML_MXFP4] = SIZED("MXFP4", 32, 17),
    [QS_DTYPE_PACKED] = {"PACKED", 0, 0, NULL, NULL, packed_rows, packed_rows_ref,
                         {NULL, qs__mv_packed_avx2, qs__mv_packed_avx512}, qs__dot8_packed,
                         qs__dot8_packed_ref},
};

const qs_dtype_traits *qs_dtype_traits_get(uint32_t type) {
    if (type >= QS_DTYPE_COUNT || table[type].name == NULL) return NULL;
    return &table[type];
}

const char *qs_dtype_name(uint32_t type) {
    const qs_dtype_traits *t = qs_dtype_traits_get(type);
    return t ? t->name : "?";
}

int qs_dtype_expandable(uint32_t type) {
    const qs_dtype_traits *t = qs_dtype_traits_get(type);
    return t && t->rows != NULL;
}

size_t qs_dtype_row_bytes(uint32_t type, int64_t cols) {
    const qs_dtype_traits *t = qs_dtype_traits_get(type);
    if (!t || t->block_size <= 0 || cols <= 0 || cols % t->block_size != 0) return 0;
    return (size_t)(cols / t->block_size) * (size_t)t->type_size;
}

/* ---- the ggml view of the table ------------------------------------------------------ */

const qs_ggml_type_traits *qs_ggml_type_traits_get(uint32_t type) {
    return type < QS_GGML_TYPE_COUNT ? qs_dtype_traits_get(type) : NULL;
}

const char *qs_ggml_type_name(uint32_t type) {
    const qs_ggml_type_traits *t = qs_ggml_type_traits_get(type);
    return t ? t->name : "?";
}

int qs_gguf_dequant(float *y, const uint8_t *x, uint32_t type, int64_t n, const char *what) {
    const qs_ggml_type_traits *t = qs_ggml_type_traits_get(type);
    if (!t) return qs_error_set(QS_ERR_FORMAT, "%s: unknown tensor type %u", what, type);
    if (!t->dequant)
        return qs_error_set(QS_ERR_UNSUPPORTED,
                            "%s: tensor type %s cannot be dequantized by qscope", what, t->name);
    if (n < 0 || n % t->block_size != 0)
        return qs_error_set(QS_ERR_FORMAT,
                            "%s: %lld values is not a multiple of the %s block size %d", what,
                            (long long)n, t->name, t->block_size);
    const int64_t nb = n / t->block_size;
    /* chunks of whole blocks, ~64K values each, so small tensors stay on one thread */
    const int64_t per = (65536 + t->block_size - 1) / t->block_size;
    const int64_t n_chunks = (nb + per - 1) / per;
#pragma omp parallel for schedule(static) if (n_chunks > 1)
    for (int64_t c = 0; c < n_chunks; c++) {
        int64_t b0 = c * per, b1 = b0 + per < nb ? b0 + per : nb;
        t->dequant(y + b0 * t->block_size, x + b0 * t->type_size, b1 - b0);
    }
    return QS_OK;
}
