/* Fused kernels (linear.h): rows of a weight in its stored type times T activation rows,
 * the weights expanded in registers. AVX2 (8 lanes) and AVX-512 (16 lanes) versions for
 * f32, f16, bf16, Q8_0, Q4_0, Q4_K, Q6_K and packed 8- and 4-bit integers; linear.c sends
 * every other type, and every type on the scalar path, through its row-at-a-time fallback.
 *
 * Each kernel turns 8 or 16 weights into a vector with exactly the operations of the type's
 * scalar dequantizer (the same single roundings, so the same f32 values as qs_tensor_rows),
 * then does acc = fma(w, x, acc) for each token. Tokens come in tiles of NT ≤ 4; each token
 * of a tile keeps A = 4 / NT accumulators (four independent chains for one token, enough to
 * hide the FMA latency), which end in a fixed tree: (a0 + a1) + (a2 + a3), then the lanes
 * ((0+4)+(2+6))+((1+5)+(3+7)) (16 lanes: the two halves added first). Values past the
 * last whole vector of a row are summed in scalar code and added last.
 *
 * Letters: C row length (in), NT tokens of a tile, A accumulators per token. */
#include <string.h>

#include "cpu.h"
#include "fp16.h"
#include "gguf_dequant.h"
#include "linear_kernels.h"
#include "packed.h"
#include "tensor.h"

#if QS_HAVE_X86_SIMD
#include <immintrin.h>

#define AI inline __attribute__((always_inline))

/* ---- 8 lanes ------------------------------------------------------------------------- */

QS_TARGET_AVX2 static AI float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* token t's accumulators are acc[t·A .. t·A + A); vector number s of a step goes to s % A */
QS_TARGET_AVX2 static AI void fma8(__m256 *acc, int s, __m256 w, const float *x, int64_t ldx,
                                   const int NT, const int A) {
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++)
        acc[t * A + s % A] = _mm256_fmadd_ps(w, _mm256_loadu_ps(x + t * ldx), acc[t * A + s % A]);
}

QS_TARGET_AVX2 static AI void finish8(float *y, int64_t ldy, const __m256 *acc, const float *tail,
                                      const int NT, const int A) {
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) {
        const __m256 *a = acc + t * A;
        __m256 v = A == 4   ? _mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3]))
                   : A == 2 ? _mm256_add_ps(a[0], a[1])
                            : a[0];
        y[t * ldy] = hsum8(v) + tail[t];
    }
}

#define ACC_PER(NT) ((NT) == 1 ? 4 : (NT) == 2 ? 2 : 1)

/* an fp16 broadcast, exactly converted (F16C) */
QS_TARGET_AVX2 static AI __m256 half8(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _mm256_cvtph_ps(_mm_set1_epi16((short)h));
}

/* one row of C floats (wr) */
QS_TARGET_AVX2 static AI void f32_row8(float *y, int64_t ldy, const float *wr, int64_t C,
                                       const float *x, int64_t ldx, const int NT) {
    const int A = ACC_PER(NT);
    __m256 acc[4];
    for (int i = 0; i < 4; i++) acc[i] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 32 <= C; k += 32)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++)
            fma8(acc, j, _mm256_loadu_ps(wr + k + 8 * j), x + k + 8 * j, ldx, NT, A);
    for (; k + 8 <= C; k += 8) fma8(acc, 0, _mm256_loadu_ps(wr + k), x + k, ldx, NT, A);
    float tail[4] = {0};
    for (; k < C; k++)
        for (int t = 0; t < NT; t++) tail[t] += wr[k] * x[t * ldx + k];
    finish8(y, ldy, acc, tail, NT, A);
}

/* 16-bit floats: 8 at a time through cvt (f16: F16C; bf16: a shift) */
#define HALF_ROW8(name, CVT, SCALAR)                                                              \
    QS_TARGET_AVX2 static AI void name(float *y, int64_t ldy, const uint8_t *wr, int64_t C,       \
                                       const float *x, int64_t ldx, const int NT) {               \
        const int A = ACC_PER(NT);                                                                \
        __m256 acc[4];                                                                            \
        for (int i = 0; i < 4; i++) acc[i] = _mm256_setzero_ps();                                 \
        int64_t k = 0;                                                                            \
        for (; k + 32 <= C; k += 32)                                                              \
            _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++)                                   \
                fma8(acc, j, CVT(_mm_loadu_si128((const __m128i *)(wr + 2 * (k + 8 * j)))),       \
                     x + k + 8 * j, ldx, NT, A);                                                  \
        for (; k + 8 <= C; k += 8)                                                                \
            fma8(acc, 0, CVT(_mm_loadu_si128((const __m128i *)(wr + 2 * k))), x + k, ldx, NT, A); \
        float tail[4] = {0};                                                                      \
        for (; k < C; k++) {                                                                      \
            float v = SCALAR((uint16_t)(wr[2 * k] | (wr[2 * k + 1] << 8)));                       \
            for (int t = 0; t < NT; t++) tail[t] += v * x[t * ldx + k];                           \
        }                                                                                         \
        finish8(y, ldy, acc, tail, NT, A);                                                        \
    }

QS_TARGET_AVX2 static AI __m256 cvt_f16x8(__m128i h) { return _mm256_cvtph_ps(h); }
QS_TARGET_AVX2 static AI __m256 cvt_bf16x8(__m128i h) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
HALF_ROW8(f16_row8, cvt_f16x8, qs_fp16_to_f32)
HALF_ROW8(bf16_row8, cvt_bf16x8, qs_bf16_to_f32)

/* Q8_0: w = (float)q · d */
QS_TARGET_AVX2 static AI void q8_0_row8(float *y, int64_t ldy, const uint8_t *wr, int64_t C,
                                        const float *x, int64_t ldx, const int NT) {
    const int A = ACC_PER(NT);
    __m256 acc[4];
    for (int i = 0; i < 4; i++) acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < C / 32; b++, wr += 34, x += 32) {
        const __m256 d = half8(wr);
        __m128i q0 = _mm_loadu_si128((const __m128i *)(wr + 2));
        __m128i q1 = _mm_loadu_si128((const __m128i *)(wr + 18));
        __m128i p[4] = {q0, _mm_srli_si128(q0, 8), q1, _mm_srli_si128(q1, 8)};
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++)
            fma8(acc, j, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(p[j])), d),
                 x + 8 * j, ldx, NT, A);
    }
    float tail[4] = {0};
    finish8(y, ldy, acc, tail, NT, A);
}

/* Q4_0: w = (float)(nibble − 8) · d; byte j holds values j (low) and j + 16 (high) */
QS_TARGET_AVX2 static AI void q4_0_row8(float *y, int64_t ldy, const uint8_t *wr, int64_t C,
                                        const float *x, int64_t ldx, const int NT) {
    const int A = ACC_PER(NT);
    const __m128i lo4 = _mm_set1_epi8(0x0f), eight = _mm_set1_epi8(8);
    __m256 acc[4];
    for (int i = 0; i < 4; i++) acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < C / 32; b++, wr += 18, x += 32) {
        const __m256 d = half8(wr);
        __m128i q = _mm_loadu_si128((const __m128i *)(wr + 2));
        __m128i lo = _mm_sub_epi8(_mm_and_si128(q, lo4), eight);
        __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), lo4), eight);
        __m128i p[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++)
            fma8(acc, j, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(p[j])), d),
                 x + 8 * j, ldx, NT, A);
    }
    float tail[4] = {0};
    finish8(y, ldy, acc, tail, NT, A);
}

/* Q4_K's 6-bit scale and min of sub-block s (gguf_dequant.c's k4_scale_min) */
static AI void k4_sm(int s, const uint8_t *q, int *sc, int *mn) {
    if (s < 4) {
        *sc = q[s] & 63;
        *mn = q[s + 4] & 63;
    } else {
        *sc = (q[s + 4] & 0x0f) | ((q[s - 4] >> 6) << 4);
        *mn = (q[s + 4] >> 4) | ((q[s] >> 6) << 4);
    }
}

/* Q4_K: w = (d·sc)·q − dmin·mn, the products rounded as the scalar dequantizer rounds them */
QS_TARGET_AVX2 static AI void q4_k_row8(float *y, int64_t ldy, const uint8_t *wr, int64_t C,
                                        const float *x, int64_t ldx, const int NT) {
    const int A = ACC_PER(NT);
    const __m256i lo4 = _mm256_set1_epi8(0x0f);
    __m256 acc[4];
    for (int i = 0; i < 4; i++) acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < C / 256; b++, wr += 144, x += 256) {
        const float d = _mm256_cvtss_f32(half8(wr)), dmin = _mm256_cvtss_f32(half8(wr + 2));
        for (int p = 0; p < 4; p++) {
            int sc0, mn0, sc1, mn1;
            k4_sm(2 * p, wr + 4, &sc0, &mn0);
            k4_sm(2 * p + 1, wr + 4, &sc1, &mn1);
            const __m256 d0 = _mm256_set1_ps(d * (float)sc0),
                         m0 = _mm256_set1_ps(dmin * (float)mn0);
            const __m256 d1 = _mm256_set1_ps(d * (float)sc1),
                         m1 = _mm256_set1_ps(dmin * (float)mn1);
            __m256i q = _mm256_loadu_si256((const __m256i *)(wr + 16 + 32 * p));
            __m256i lo = _mm256_and_si256(q, lo4),
                    hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), lo4);
            __m128i l0 = _mm256_castsi256_si128(lo), l1 = _mm256_extracti128_si256(lo, 1);
            __m128i h0 = _mm256_castsi256_si128(hi), h1 = _mm256_extracti128_si256(hi, 1);
            __m128i part[8] = {l0, _mm_srli_si128(l0, 8), l1, _mm_srli_si128(l1, 8),
                               h0, _mm_srli_si128(h0, 8), h1, _mm_srli_si128(h1, 8)};
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) {
                __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(part[j]));
                __m256 w = j < 4 ? _mm256_sub_ps(_mm256_mul_ps(d0, f), m0)
                                 : _mm256_sub_ps(_mm256_mul_ps(d1, f), m1);
                fma8(acc, j, w, x + 64 * p + 8 * j, ldx, NT, A);
            }
        }
    }
    float tail[4] = {0};
    finish8(y, ldy, acc, tail, NT, A);
}

/* Q6_K six-bit codes of group (h, k) of a super-block: 32 signed bytes q − 32 */
QS_TARGET_AVX2 static AI __m256i q6_k_codes(const uint8_t *wr, int h, int k) {
    const __m256i lo4 = _mm256_set1_epi8(0x0f), three = _mm256_set1_epi8(3);
    __m256i lb = _mm256_loadu_si256((const __m256i *)(wr + 64 * h + 32 * (k & 1)));
    __m256i nib =
        k < 2 ? _mm256_and_si256(lb, lo4) : _mm256_and_si256(_mm256_srli_epi16(lb, 4), lo4);
    __m256i hb = _mm256_loadu_si256((const __m256i *)(wr + 128 + 32 * h));
    __m256i h2 = _mm256_and_si256(_mm256_srl_epi16(hb, _mm_cvtsi32_si128(2 * k)), three);
    __m256i q = _mm256_or_si256(nib, _mm256_slli_epi16(h2, 4));
    return _mm256_sub_epi8(q, _mm256_set1_epi8(32));
}

/* Q6_K: w = (d·sc)·q, sc one signed byte per 16 values */
QS_TARGET_AVX2 static AI void q6_k_row8(float *y, int64_t ldy, const uint8_t *wr, int64_t C,
                                        const float *x, int64_t ldx, const int NT) {
    const int A = ACC_PER(NT);
    __m256 acc[4];
    for (int i = 0; i < 4; i++) acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < C / 256; b++, wr += 210, x += 256) {
        const float d = _mm256_cvtss_f32(half8(wr + 208));
        const int8_t *sc = (const int8_t *)(wr + 192);
        for (int h = 0; h < 2; h++)
            for (int k = 0; k < 4; k++) {
                __m256i q = q6_k_codes(wr, h, k);
                const __m256 s0 = _mm256_set1_ps(d * (float)sc[8 * h + 2 * k]);
                const __m256 s1 = _mm256_set1_ps(d * (float)sc[8 * h + 2 * k + 1]);
                __m128i q0 = _mm256_castsi256_si128(q), q1 = _mm256_extracti128_si256(q, 1);
                __m128i part[4] = {q0, _mm_srli_si128(q0, 8), q1, _mm_srli_si128(q1, 8)};
                const float *xk = x + 128 * h + 32 * k;
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++) {
                    __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(part[j]));
                    fma8(acc, j, _mm256_mul_ps(j < 2 ? s0 : s1, f), xk + 8 * j, ldx, NT, A);
                }
            }
    }
    float tail[4] = {0};
    finish8(y, ldy, acc, tail, NT, A);
}

/* ---- packed integers ------------------------------------------------------------------ */

/* Scale and zero-point of group g as the expansion computes them (packed.c) */
QS_TARGET_AVX2 static AI float pk_scale(const qs_packed_layout *p, const uint8_t *data, int64_t g) {
    const uint8_t *s = data + p->codes_bytes;
    if (p->fp32_scales) {
        float f;
        memcpy(&f, s + 4 * g, 4);
        return f;
    }
    return _mm256_cvtss_f32(half8(s + 2 * g));
}

/* One row of a packed 8- or 4-bit layout (codes of row r start at a byte: see
 * qs__packed_fusable), group by group: w = ((float)code − z)·s. */
QS_TARGET_AVX2 static AI void packed_row8(float *y, int64_t ldy, const qs_packed_layout *p,
                                          const uint8_t *data, int64_t r, const float *x,
                                          int64_t ldx, const int NT) {
    const int A = ACC_PER(NT);
    const int64_t C = p->cols;
    const int64_t gpr = p->gran == QS_PACKED_TENSOR ? 1 : p->groups_per_row;
    const int64_t G = p->gran == QS_PACKED_TENSOR ? C : p->group;
    const uint8_t *codes = data + (size_t)(r * C * p->bits / 8);
    const __m128i lo4 = _mm_set1_epi8(0x0f);
    __m256 acc[4];
    for (int i = 0; i < 4; i++) acc[i] = _mm256_setzero_ps();
    for (int64_t j = 0; j < gpr; j++) {
        int64_t g = p->gran == QS_PACKED_TENSOR ? 0 : r * gpr + j, c0 = j * G;
        int64_t len = C - c0 < G ? C - c0 : G;
        const __m256 vs = _mm256_set1_ps(pk_scale(p, data, g));
        const __m256 vz = _mm256_set1_ps((float)qs_packed_zero(p, data, g));
        if (p->bits == 8) {
            for (int64_t k = 0; k < len; k += 16) {
                __m128i q = _mm_loadu_si128((const __m128i *)(codes + c0 + k));
                __m256 f0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(q));
                __m256 f1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(q, 8)));
                fma8(acc, (int)(k >> 3) & 2, _mm256_mul_ps(_mm256_sub_ps(f0, vz), vs), x + c0 + k,
                     ldx, NT, A);
                fma8(acc, ((int)(k >> 3) & 2) + 1, _mm256_mul_ps(_mm256_sub_ps(f1, vz), vs),
                     x + c0 + k + 8, ldx, NT, A);
            }
        } else {
            for (int64_t k = 0; k < len; k += 16) {
                __m128i q = _mm_loadl_epi64((const __m128i *)(codes + (c0 + k) / 2));
                __m128i lo = _mm_and_si128(q, lo4), hi = _mm_and_si128(_mm_srli_epi16(q, 4), lo4);
                __m128i c = _mm_unpacklo_epi8(lo, hi); /* 16 codes in order */
                __m256 f0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c));
                __m256 f1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(c, 8)));
                fma8(acc, (int)(k >> 3) & 2, _mm256_mul_ps(_mm256_sub_ps(f0, vz), vs), x + c0 + k,
                     ldx, NT, A);
                fma8(acc, ((int)(k >> 3) & 2) + 1, _mm256_mul_ps(_mm256_sub_ps(f1, vz), vs),
                     x + c0 + k + 8, ldx, NT, A);
            }
        }
    }
    float tail[4] = {0};
    finish8(y, ldy, acc, tail, NT, A);
}

/* ---- 16 lanes ------------------------------------------------------------------------ */

QS_TARGET_AVX512 static AI float hsum16(__m512 v) {
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v),
                             _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    return hsum8(h);
}

QS_TARGET_AVX512 static AI void fma16(__m512 *acc, int s, __m512 w, const float *x, int64_t ldx,
                                      const int NT, const int A) {
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++)
        acc[t * A + s % A] = _mm512_fmadd_ps(w, _mm512_loadu_ps(x + t * ldx), acc[t * A + s % A]);
}

QS_TARGET_AVX512 static AI void finish16(float *y, int64_t ldy, const __m512 *acc,
                                         const float *tail, const int NT, const int A) {
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) {
        const __m512 *a = acc + t * A;
        __m512 v = A == 4   ? _mm512_add_ps(_mm512_add_ps(a[0], a[1]), _mm512_add_ps(a[2], a[3]))
                   : A == 2 ? _mm512_add_ps(a[0], a[1])
                            : a[0];
        y[t * ldy] = hsum16(v) + tail[t];
    }
}

QS_TARGET_AVX512 static AI __m512 half16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _mm512_cvtph_ps(_mm256_set1_epi16((short)h));
}

QS_TARGET_AVX512 static AI void f32_row16(float *y, int64_t ldy, const float *wr, int64_t C,
                                          const float *x, int64_t ldx, const int NT) {
    const int A = ACC_PER(NT);
    __m512 acc[4];
    for (int i = 0; i < 4; i++) acc[i] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 64 <= C; k += 64)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++)
            fma16(acc, j, _mm512_loadu_ps(wr + k + 16 * j), x + k + 16 * j, ldx, NT, A);
    for (; k + 16 <= C; k += 16) fma16(acc, 0, _mm512_loadu_ps(wr + k), x + k, ldx, NT, A);
    float tail[4] = {0};
    for (; k < C; k++)
        for (int t = 0; t < NT; t++) tail[t] += wr[k] * x[t * ldx + k];
    finish16(y, ldy, acc, tail, NT, A);
}

#define HALF_ROW16(name, CVT, SCALAR)                                                             \
    QS_TARGET_AVX512 static AI void name(float *y, int64_t ldy, const uint8_t *wr, int64_t C,     \
                                         const float *x, int64_t ldx, const int NT) {             \
        const int A = ACC_PER(NT);                                                                \
        __m512 acc[4];                                                                            \
        for (int i = 0; i < 4; i++) acc[i] = _mm512_setzero_ps();                                 \
        int64_t k = 0;                                                                            \
        for (; k + 64 <= C; k += 64)                                                              \
            _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++)                                   \
                fma16(acc, j, CVT(_mm256_loadu_si256((const __m256i *)(wr + 2 * (k + 16 * j)))),  \
                      x + k + 16 * j, ldx, NT, A);                                                \
        for (; k + 16 <= C; k += 16)                                                              \
            fma16(acc, 0, CVT(_mm256_loadu_si256((const __m256i *)(wr + 2 * k))), x + k, ldx, NT, \
                  A);                                                                             \
        float tail[4] = {0};                                                                      \
        for (; k < C; k++) {                                                                      \
            float v = SCALAR((uint16_t)(wr[2 * k] | (wr[2 * k + 1] << 8)));                       \
            for (int t = 0; t < NT; t++) tail[t] += v * x[t * ldx + k];                           \
        }                                                                                         \
        finish16(y, ldy, acc, tail, NT, A);                                                       \
    }

QS_TARGET_AVX512 static AI __m512 cvt_f16x16(__m256i h) { return _mm512_cvtph_ps(h); }
QS_TARGET_AVX512 static AI __m512 cvt_bf16x16(__m256i h) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
HALF_ROW16(f16_row16, cvt_f16x16, qs_fp16_to_f32)
HALF_ROW16(bf16_row16, cvt_bf16x16, qs_bf16_to_f32)

QS_TARGET_AVX512 static AI void q8_0_row16(float *y, int64_t ldy, const uint8_t *wr, int64_t C,
                                           const float *x, int64_t ldx, const int NT) {
    const int A = ACC_PER(NT);
    __m512 acc[4];
    for (int i = 0; i < 4; i++) acc[i] = _mm512_setzero_ps();
    for (int64_t b = 0; b < C / 32; b++, wr += 34, x += 32) {
        const __m512 d = half16(wr);
        __m128i q0 = _mm_loadu_si128((const __m128i *)(wr + 2));
        __m128i q1 = _mm_loadu_si128((const __m128i *)(wr + 18));
        const int s = (int)(b & 1) * 2;
        fma16(acc, s, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0)), d), x, ldx, NT,
              A);
        fma16(acc, s + 1, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1)), d), x + 16,
              ldx, NT, A);
    }
    float tail[4] = {0};
    finish16(y, ldy, acc, tail, NT, A);
}

QS_TARGET_AVX512 static AI void q4_0_row16(float *y, int64_t ldy, const uint8_t *wr, int64_t C,
                                           const float *x, int64_t ldx, const int NT) {
    const int A = ACC_PER(NT);
    const __m128i lo4 = _mm_set1_epi8(0x0f), eight = _mm_set1_epi8(8);
    __m512 acc[4];
    for (int i = 0; i < 4; i++) acc[i] = _mm512_setzero_ps();
    for (int64_t b = 0; b < C / 32; b++, wr += 18, x += 32) {
        const __m512 d = half16(wr);
        __m128i q = _mm_loadu_si128((const __m128i *)(wr + 2));
        __m128i lo = _mm_sub_epi8(_mm_and_si128(q, lo4), eight);
        __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), lo4), eight);
        const int s = (int)(b & 1) * 2;
        fma16(acc, s, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(lo)), d), x, ldx, NT,
              A);
        fma16(acc, s + 1, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(hi)), d), x + 16,
              ldx, NT, A);
    }
    float tail[4] = {0};
    finish16(y, ldy, acc, tail, NT, A);
}

QS_TARGET_AVX512 static AI void q4_k_row16(float *y, int64_t ldy, const uint8_t *wr, int64_t C,
                                           const float *x, int64_t ldx, const int NT) {
    const int A = ACC_PER(NT);
    const __m256i lo4 = _mm256_set1_epi8(0x0f);
    __m512 acc[4];
    for (int i = 0; i < 4; i++) acc[i] = _mm512_setzero_ps();
    for (int64_t b = 0; b < C / 256; b++, wr += 144, x += 256) {
        const float d = _mm512_cvtss_f32(half16(wr)), dmin = _mm512_cvtss_f32(half16(wr + 2));
        for (int p = 0; p < 4; p++) {
            int sc0, mn0, sc1, mn1;
            k4_sm(2 * p, wr + 4, &sc0, &mn0);
            k4_sm(2 * p + 1, wr + 4, &sc1, &mn1);
            const __m512 d0 = _mm512_set1_ps(d * (float)sc0),
                         m0 = _mm512_set1_ps(dmin * (float)mn0);
            const __m512 d1 = _mm512_set1_ps(d * (float)sc1),
                         m1 = _mm512_set1_ps(dmin * (float)mn1);
            __m256i q = _mm256_loadu_si256((const __m256i *)(wr + 16 + 32 * p));
            __m256i lo = _mm256_and_si256(q, lo4),
                    hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), lo4);
            __m128i part[4] = {_mm256_castsi256_si128(lo), _mm256_extracti128_si256(lo, 1),
                               _mm256_castsi256_si128(hi), _mm256_extracti128_si256(hi, 1)};
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                __m512 f = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(part[j]));
                __m512 w = j < 2 ? _mm512_sub_ps(_mm512_mul_ps(d0, f), m0)
                                 : _mm512_sub_ps(_mm512_mul_ps(d1, f), m1);
                fma16(acc, j, w, x + 64 * p + 16 * j, ldx, NT, A);
            }
        }
    }
    float tail[4] = {0};
    finish16(y, ldy, acc, tail, NT, A);
}

QS_TARGET_AVX512 static AI void q6_k_row16(float *y, int64_t ldy, const uint8_t *wr, int64_t C,
                                           const float *x, int64_t ldx, const int NT) {
    const int A = ACC_PER(NT);
    __m512 acc[4];
    for (int i = 0; i < 4; i++) acc[i] = _mm512_setzero_ps();
    for (int64_t b = 0; b < C / 256; b++, wr += 210, x += 256) {
        const float d = _mm512_cvtss_f32(half16(wr + 208));
        const int8_t *sc = (const int8_t *)(wr + 192);
        for (int h = 0; h < 2; h++)
            for (int k = 0; k < 4; k++) {
                __m256i q = q6_k_codes(wr, h, k);
                const __m512 s0 = _mm512_set1_ps(d * (float)sc[8 * h + 2 * k]);
                const __m512 s1 = _mm512_set1_ps(d * (float)sc[8 * h + 2 * k + 1]);
                const float *xk = x + 128 * h + 32 * k;
                __m512 f0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(q)));
                __m512 f1 =
                    _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(q, 1)));
                fma16(acc, (k & 1) * 2, _mm512_mul_ps(s0, f0), xk, ldx, NT, A);
                fma16(acc, (k & 1) * 2 + 1, _mm512_mul_ps(s1, f1), xk + 16, ldx, NT, A);
            }
    }
    float tail[4] = {0};
    finish16(y, ldy, acc, tail, NT, A);
}

QS_TARGET_AVX512 static AI void packed_row16(float *y, int64_t ldy, const qs_packed_layout *p,
                                             const uint8_t *data, int64_t r, const float *x,
                                             int64_t ldx, const int NT) {
    const int A = ACC_PER(NT);
    const int64_t C = p->cols;
    const int64_t gpr = p->gran == QS_PACKED_TENSOR ? 1 : p->groups_per_row;
    const int64_t G = p->gran == QS_PACKED_TENSOR ? C : p->group;
    const uint8_t *codes = data + (size_t)(r * C * p->bits / 8);
    const __m128i lo4 = _mm_set1_epi8(0x0f);
    __m512 acc[4];
    for (int i = 0; i < 4; i++) acc[i] = _mm512_setzero_ps();
    for (int64_t j = 0; j < gpr; j++) {
        int64_t g = p->gran == QS_PACKED_TENSOR ? 0 : r * gpr + j, c0 = j * G;
        int64_t len = C - c0 < G ? C - c0 : G;
        const __m512 vs = _mm512_set1_ps(pk_scale(p, data, g));
        const __m512 vz = _mm512_set1_ps((float)qs_packed_zero(p, data, g));
        for (int64_t k = 0; k < len; k += 16) {
            __m128i c;
            if (p->bits == 8) {
                c = _mm_loadu_si128((const __m128i *)(codes + c0 + k));
            } else {
                __m128i q = _mm_loadl_epi64((const __m128i *)(codes + (c0 + k) / 2));
                __m128i lo = _mm_and_si128(q, lo4), hi = _mm_and_si128(_mm_srli_epi16(q, 4), lo4);
                c = _mm_unpacklo_epi8(lo, hi);
            }
            __m512 f = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(c));
            fma16(acc, (int)(k >> 4) & 3, _mm512_mul_ps(_mm512_sub_ps(f, vz), vs), x + c0 + k, ldx,
                  NT, A);
        }
    }
    float tail[4] = {0};
    finish16(y, ldy, acc, tail, NT, A);
}

/* ---- drivers: rows one by one, tokens in tiles of up to 4 ------------------------------ */

/* ROW(y, ldy, <row>, x, ldx, NT) for NT = 4, then 3, 2 or 1 for the rest of the tokens */
#define TILES(ROW_CALL)                         \
    do {                                        \
        int t = 0;                              \
        for (; t + 4 <= T; t += 4) ROW_CALL(4); \
        switch (T - t) {                        \
        case 3: ROW_CALL(3); break;             \
        case 2: ROW_CALL(2); break;             \
        case 1: ROW_CALL(1); break;             \
        default: break;                         \
        }                                       \
    } while (0)

/* rows of a block type: bs values in ts bytes per block */
#define BLOCK_DRIVER(name, TARGET, bs, ts)                                                     \
    TARGET QS__MATVEC(name) {                                                                  \
        (void)layout;                                                                          \
        const size_t rb = (size_t)(cols / (bs)) * (ts);                                        \
        for (int64_t i = 0; i < n; i++) {                                                      \
            const uint8_t *row = data + (size_t)(r0 + i) * rb;                                 \
            float *yi = y + i;                                                                 \
            TILES(ROW_##name);                                                                 \
        }                                                                                      \
        return 1;                                                                              \
    }

#define ROW_CALL_BYTES(ROWFN, NT) ROWFN(yi + t * ldy, ldy, row, cols, x + t * ldx, ldx, NT)
#define ROW_CALL_F32(ROWFN, NT) \
    ROWFN(yi + t * ldy, ldy, (const float *)row, cols, x + t * ldx, ldx, NT)

#define ROW_f32_avx2(NT)    ROW_CALL_F32(f32_row8, NT)
#define ROW_f16_avx2(NT)    ROW_CALL_BYTES(f16_row8, NT)
#define ROW_bf16_avx2(NT)   ROW_CALL_BYTES(bf16_row8, NT)
#define ROW_q8_0_avx2(NT)   ROW_CALL_BYTES(q8_0_row8, NT)
#define ROW_q4_0_avx2(NT)   ROW_CALL_BYTES(q4_0_row8, NT)
#define ROW_q4_k_avx2(NT)   ROW_CALL_BYTES(q4_k_row8, NT)
#define ROW_q6_k_avx2(NT)   ROW_CALL_BYTES(q6_k_row8, NT)
#define ROW_f32_avx512(NT)  ROW_CALL_F32(f32_row16, NT)
#define ROW_f16_avx512(NT)  ROW_CALL_BYTES(f16_row16, NT)
#define ROW_bf16_avx512(NT) ROW_CALL_BYTES(bf16_row16, NT)
#define ROW_q8_0_avx512(NT) ROW_CALL_BYTES(q8_0_row16, NT)
#define ROW_q4_0_avx512(NT) ROW_CALL_BYTES(q4_0_row16, NT)
#define ROW_q4_k_avx512(NT) ROW_CALL_BYTES(q4_k_row16, NT)
#define ROW_q6_k_avx512(NT) ROW_CALL_BYTES(q6_k_row16, NT)

/* f32 rows are read as floats: unaligned data take the fallback */
#define F32_DRIVER(name, TARGET)                                                               \
    TARGET QS__MATVEC(name) {                                                                  \
        (void)layout;                                                                          \
        if ((uintptr_t)data & 3) return 0;                                                     \
        for (int64_t i = 0; i < n; i++) {                                                      \
            const uint8_t *row = data + (size_t)(r0 + i) * (size_t)cols * 4;                   \
            float *yi = y + i;                                                                 \
            TILES(ROW_##name);                                                                 \
        }                                                                                      \
        return 1;                                                                              \
    }

F32_DRIVER(f32_avx2, QS_TARGET_AVX2)
BLOCK_DRIVER(f16_avx2, QS_TARGET_AVX2, 1, 2)
BLOCK_DRIVER(bf16_avx2, QS_TARGET_AVX2, 1, 2)
BLOCK_DRIVER(q8_0_avx2, QS_TARGET_AVX2, 32, 34)
BLOCK_DRIVER(q4_0_avx2, QS_TARGET_AVX2, 32, 18)
BLOCK_DRIVER(q4_k_avx2, QS_TARGET_AVX2, 256, 144)
BLOCK_DRIVER(q6_k_avx2, QS_TARGET_AVX2, 256, 210)
F32_DRIVER(f32_avx512, QS_TARGET_AVX512)
BLOCK_DRIVER(f16_avx512, QS_TARGET_AVX512, 1, 2)
BLOCK_DRIVER(bf16_avx512, QS_TARGET_AVX512, 1, 2)
BLOCK_DRIVER(q8_0_avx512, QS_TARGET_AVX512, 32, 34)
BLOCK_DRIVER(q4_0_avx512, QS_TARGET_AVX512, 32, 18)
BLOCK_DRIVER(q4_k_avx512, QS_TARGET_AVX512, 256, 144)
BLOCK_DRIVER(q6_k_avx512, QS_TARGET_AVX512, 256, 210)

#define ROW_packed_avx2(NT) \
    packed_row8(yi + t * ldy, ldy, layout, data, r0 + i, x + t * ldx, ldx, NT)
#define ROW_packed_avx512(NT) \
    packed_row16(yi + t * ldy, ldy, layout, data, r0 + i, x + t * ldx, ldx, NT)

#define PACKED_DRIVER(name, TARGET)                                                            \
    TARGET QS__MATVEC(name) {                                                                  \
        (void)cols;                                                                            \
        if (!layout || !qs__packed_fusable(layout)) return 0;                                  \
        for (int64_t i = 0; i < n; i++) {                                                      \
            float *yi = y + i;                                                                 \
            TILES(ROW_##name);                                                                 \
        }                                                                                      \
        return 1;                                                                              \
    }
PACKED_DRIVER(packed_avx2, QS_TARGET_AVX2)
PACKED_DRIVER(packed_avx512, QS_TARGET_AVX512)

/* dot products of one f32 row (C values) with T tokens, for the row-at-a-time fallback */
QS_TARGET_AVX2 static void dot_f32_8(float *y, int64_t ldy, const float *wr, int64_t C,
                                     const float *x, int64_t ldx, int T) {
#define ROW_dot8(NT) f32_row8(y + t * ldy, ldy, wr, C, x + t * ldx, ldx, NT)
    TILES(ROW_dot8);
}
QS_TARGET_AVX512 static void dot_f32_16(float *y, int64_t ldy, const float *wr, int64_t C,
                                        const float *x, int64_t ldx, int T) {
#define ROW_dot16(NT) f32_row16(y + t * ldy, ldy, wr, C, x + t * ldx, ldx, NT)
    TILES(ROW_dot16);
}
#endif /* QS_HAVE_X86_SIMD */

/* Scalar: 8 partial sums by k % 8, folded as the vector lanes are. */
static void dot_f32_scalar(float *y, int64_t ldy, const float *wr, int64_t C, const float *x,
                           int64_t ldx, int T) {
    for (int t = 0; t < T; t++) {
        const float *xt = x + t * ldx;
        float l[8] = {0};
        int64_t k = 0;
        for (; k + 8 <= C; k += 8)
            for (int j = 0; j < 8; j++) l[j] += wr[k + j] * xt[k + j];
        float tail = 0.0f;
        for (; k < C; k++) tail += wr[k] * xt[k];
        y[t * ldy] = (((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]))) + tail;
    }
}

void qs__linear_dot_f32(float *y, int64_t ldy, const float *wr, int64_t C, const float *x,
                        int64_t ldx, int T) {
#if QS_HAVE_X86_SIMD
    int path = qs_cpu_path();
    if (path >= QS_CPU_AVX512) return dot_f32_16(y, ldy, wr, C, x, ldx, T);
    if (path == QS_CPU_AVX2) return dot_f32_8(y, ldy, wr, C, x, ldx, T);
#endif
    dot_f32_scalar(y, ldy, wr, C, x, ldx, T);
}

/* Packed layouts the register kernels take: integer grids of 8 or 4 bits with fp16 or f32
 * scales, each row's codes starting at a byte, groups (and rows) in whole runs of 16 codes. */
int qs__packed_fusable(const qs_packed_layout *p) {
    if (p->lut_n || p->scale_kind == QS_PACKED_SCALE_CODE8) return 0;
    if (p->bits != 8 && p->bits != 4) return 0;
    int64_t G = p->gran == QS_PACKED_TENSOR ? p->cols : p->group;
    return p->cols % 16 == 0 && G % 16 == 0;
}
