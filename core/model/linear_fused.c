/* Fused kernels (linear.h): rows of a weight in its stored type times T activation rows,
 * the weights expanded in registers. AVX2 (8 lanes) and AVX-512 (16 lanes) versions for
 * f32, f16, bf16, Q8_0, Q4_0, Q4_K, Q6_K and packed 8- and 4-bit integers; linear.c sends
 * every other type, and every type on the scalar path, through its row-at-a-time fallback.
 *
 * A row is read in chunks of 32 values (a Q8_0/Q4_0 block, a K-quant sub-block, a run of
 * packed codes). Each chunk is turned into 4 (AVX2) or 2 (AVX-512) vectors with exactly the
 * operations of the type's scalar dequantizer — the same single roundings, so the very f32
 * values qs_tensor_rows gives — and multiplied into one accumulator per (row, token):
 * acc = fma(w, x, acc), chunks in order. Rows go in tiles of 4 (four weight streams in
 * flight, four independent FMA chains), tokens in tiles of up to 2 (AVX2) or 4 (AVX-512),
 * and since every output element has its own accumulator, the tiles change no bits: a
 * result depends only on its row and token. An accumulator ends in the tree
 * ((0+4)+(2+6))+((1+5)+(3+7)) over its lanes (16 lanes: the two halves added first); float
 * rows whose length is not a multiple of 32 add their last values in scalar code.
 *
 * Letters: C row length (in), RT rows and NT tokens of a tile. */
#include <string.h>

#include "cpu.h"
#include "dtype.h"
#include "fp16.h"
#include "gguf_dequant.h"
#include "linear_kernels.h"
#include "packed.h"

/* Packed layouts the register kernels take: integer grids of 8 or 4 bits with fp16 or f32
 * scales, rows and scale groups in whole runs of 32 codes. */
int qs__packed_fusable(const qs_packed_layout *p) {
    if (p->lut_n || p->scale_kind == QS_PACKED_SCALE_CODE8) return 0;
    if (p->bits != 8 && p->bits != 4) return 0;
    int64_t G = p->gran == QS_PACKED_TENSOR ? p->cols : p->group;
    return p->cols % 32 == 0 && G % 32 == 0;
}

#if QS_HAVE_X86_SIMD
#include <immintrin.h>

#define AI inline __attribute__((always_inline))

/* What a chunk decoder needs besides the row: the stored row index and, for packed
 * tensors, the layout, the tensor's bytes (scales and zero-points) and the scale and
 * zero-point of the group in use, kept until chunk `next` (a group's index takes a
 * division, which had cost more than the chunk's products). */
typedef struct wrow {
    const uint8_t *row;
    int64_t r;
    const qs_packed_layout *pk;
    const uint8_t *data;
    int64_t next;
    float s, z;
    float ks[8], km[8]; /* Q4_K: the current super-block's d·sc and dmin·mn per sub-block */
} wrow;

/* Bytes a chunk of 32 values takes in a stored row, for the types whose rows are read
 * ahead (prefetch_ahead), else 0. Measured on the 2048/5504 synthetic GGUFs, 2 threads:
 * Q4_0 decode 40.5 -> 44.4 tokens/s, Q8_0 34.4 -> 34.7, llama-quantize's Q4_0 file (its
 * classifier Q6_K) 37.7 -> 40.5; F32 streams at the bandwidth already and lost 5 % (23.9
 * -> 22.7), and Q4_K is bound by its decoding (17.5 either way), so those are left to the
 * hardware; packed codes are not measured. */
#define CHUNK_BYTES_f32    0
#define CHUNK_BYTES_f16    0
#define CHUNK_BYTES_bf16   0
#define CHUNK_BYTES_q8_0   34
#define CHUNK_BYTES_q4_0   18
#define CHUNK_BYTES_q4_k   0
#define CHUNK_BYTES_q6_k   26
#define CHUNK_BYTES_packed 0
/* Read-ahead of chunk c of a row (linear_kernels.h). */
static AI void prefetch_ahead(const uint8_t *row, int cb, int64_t c) {
    qs__prefetch_ahead(row + (size_t)cb * (size_t)c, cb);
}

/* ---- 8 lanes ---------------------------------------------------------------------------- */

QS_TARGET_AVX2 static AI float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* an fp16 value, exactly converted (F16C) */
QS_TARGET_AVX2 static AI float half1(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}

/* chunk c of a row as 32 signed bytes (the integer part of each value) — shared by both
 * widths; the float part follows per type */
QS_TARGET_AVX2 static AI __m128i lo_nibbles_minus8(const uint8_t *q) {
    __m128i v = _mm_loadu_si128((const __m128i *)q), m = _mm_set1_epi8(0x0f);
    return _mm_sub_epi8(_mm_and_si128(v, m), _mm_set1_epi8(8));
}
QS_TARGET_AVX2 static AI __m128i hi_nibbles_minus8(const uint8_t *q) {
    __m128i v = _mm_loadu_si128((const __m128i *)q), m = _mm_set1_epi8(0x0f);
    return _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_set1_epi8(8));
}

/* Q6_K group (h, k) of a super-block: 32 signed bytes q − 32 */
QS_TARGET_AVX2 static AI __m256i q6_k_codes(const uint8_t *sb, int h, int k) {
    const __m256i lo4 = _mm256_set1_epi8(0x0f), three = _mm256_set1_epi8(3);
    __m256i lb = _mm256_loadu_si256((const __m256i *)(sb + 64 * h + 32 * (k & 1)));
    __m256i nib =
        k < 2 ? _mm256_and_si256(lb, lo4) : _mm256_and_si256(_mm256_srli_epi16(lb, 4), lo4);
    __m256i hb = _mm256_loadu_si256((const __m256i *)(sb + 128 + 32 * h));
    __m256i h2 = _mm256_and_si256(_mm256_srl_epi16(hb, _mm_cvtsi32_si128(2 * k)), three);
    return _mm256_sub_epi8(_mm256_or_si256(nib, _mm256_slli_epi16(h2, 4)), _mm256_set1_epi8(32));
}

/* packed codes of chunk c of row r: 32 unsigned bytes in order */
QS_TARGET_AVX2 static AI __m256i packed_codes(const wrow *w, int64_t c) {
    const qs_packed_layout *p = w->pk;
    if (p->bits == 8)
        return _mm256_loadu_si256((const __m256i *)(w->data + (size_t)(w->r * p->cols + 32 * c)));
    __m128i q =
        _mm_loadu_si128((const __m128i *)(w->data + (size_t)((w->r * p->cols + 32 * c) / 2)));
    const __m128i lo4 = _mm_set1_epi8(0x0f);
    __m128i lo = _mm_and_si128(q, lo4), hi = _mm_and_si128(_mm_srli_epi16(q, 4), lo4);
    return _mm256_set_m128i(_mm_unpackhi_epi8(lo, hi), _mm_unpacklo_epi8(lo, hi));
}

/* scale and zero-point (as float) of the group holding chunk c of row r, into w->s and
 * w->z when c reaches w->next, the first chunk of the next group */
QS_TARGET_AVX2 static AI void packed_sz(wrow *w, int64_t c) {
    if (c < w->next) return;
    const qs_packed_layout *p = w->pk;
    float *s = &w->s, *z = &w->z;
    const int64_t in_row = p->gran == QS_PACKED_GROUP ? 32 * c / p->group : 0;
    w->next = p->gran == QS_PACKED_GROUP ? (in_row + 1) * (p->group / 32) : INT64_MAX;
    int64_t g = p->gran == QS_PACKED_TENSOR ? 0
                : p->gran == QS_PACKED_ROW  ? w->r
                                            : w->r * p->groups_per_row + in_row;
    const uint8_t *sc = w->data + p->codes_bytes;
    if (p->fp32_scales)
        memcpy(s, sc + 4 * g, 4);
    else
        *s = half1(sc + 2 * g);
    if (!p->affine) {
        *z = (float)(1 << (p->bits - 1));
    } else {
        const uint8_t *zp = w->data + p->codes_bytes + p->scales_bytes;
        *z = (float)(p->bits == 8 ? zp[g] : (zp[g / 2] >> (4 * (g & 1))) & 15);
    }
}

/* Chunk decoders, 8 lanes: w[0..3] ← values 32c .. 32c + 31 of the row. */
QS_TARGET_AVX2 static AI void dec8_f32(__m256 *w, const wrow *r, int64_t c) {
    const float *p = (const float *)r->row + 32 * c;
    for (int j = 0; j < 4; j++) w[j] = _mm256_loadu_ps(p + 8 * j);
}
QS_TARGET_AVX2 static AI void dec8_f16(__m256 *w, const wrow *r, int64_t c) {
    const uint8_t *p = r->row + 64 * c;
    for (int j = 0; j < 4; j++)
        w[j] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16 * j)));
}
QS_TARGET_AVX2 static AI void dec8_bf16(__m256 *w, const wrow *r, int64_t c) {
    const uint8_t *p = r->row + 64 * c;
    for (int j = 0; j < 4; j++)
        w[j] = _mm256_castsi256_ps(_mm256_slli_epi32(
            _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p + 16 * j))), 16));
}
/* (float)q · d */
QS_TARGET_AVX2 static AI void ints8_times(__m256 *w, __m128i a, __m128i b, __m256 d) {
    __m128i part[4] = {a, _mm_srli_si128(a, 8), b, _mm_srli_si128(b, 8)};
    for (int j = 0; j < 4; j++)
        w[j] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(part[j])), d);
}
QS_TARGET_AVX2 static AI void dec8_q8_0(__m256 *w, const wrow *r, int64_t c) {
    const uint8_t *b = r->row + 34 * c;
    ints8_times(w, _mm_loadu_si128((const __m128i *)(b + 2)),
                _mm_loadu_si128((const __m128i *)(b + 18)), _mm256_set1_ps(half1(b)));
}
QS_TARGET_AVX2 static AI void dec8_q4_0(__m256 *w, const wrow *r, int64_t c) {
    const uint8_t *b = r->row + 18 * c;
    ints8_times(w, lo_nibbles_minus8(b + 2), hi_nibbles_minus8(b + 2), _mm256_set1_ps(half1(b)));
}
/* Q4_K: a super-block's eight d·sc and dmin·mn, decoded at its first sub-block and kept in
 * the row state (a scalar unpacking and two fp16 conversions per sub-block had cost more
 * than its values' products); the products are the dequantizer's single roundings. */
QS_TARGET_AVX2 static AI void q4_k_scales(wrow *r, const uint8_t *sb) {
    uint32_t sc[2], mn[2];
    qs__q4_k_scale_bytes(sb + 4, sc, mn);
    const __m256 scf =
        _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_set_epi32(0, 0, (int)sc[1], (int)sc[0])));
    const __m256 mnf =
        _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_set_epi32(0, 0, (int)mn[1], (int)mn[0])));
    _mm256_storeu_ps(r->ks, _mm256_mul_ps(_mm256_set1_ps(half1(sb)), scf));
    _mm256_storeu_ps(r->km, _mm256_mul_ps(_mm256_set1_ps(half1(sb + 2)), mnf));
}

/* Q4_K sub-block s = c % 8: (d·sc)·q − dmin·mn, the products rounded as the dequantizer's */
QS_TARGET_AVX2 static AI void dec8_q4_k(__m256 *w, wrow *r, int64_t c) {
    const uint8_t *sb = r->row + 144 * (c / 8);
    const int s = (int)(c % 8);
    if (s == 0) q4_k_scales(r, sb);
    const __m256 d = _mm256_set1_ps(r->ks[s]);
    const __m256 m = _mm256_set1_ps(r->km[s]);
    __m256i q = _mm256_loadu_si256((const __m256i *)(sb + 16 + 32 * (s / 2)));
    if (s & 1) q = _mm256_srli_epi16(q, 4);
    q = _mm256_and_si256(q, _mm256_set1_epi8(0x0f));
    __m128i a = _mm256_castsi256_si128(q), b = _mm256_extracti128_si256(q, 1);
    __m128i part[4] = {a, _mm_srli_si128(a, 8), b, _mm_srli_si128(b, 8)};
    for (int j = 0; j < 4; j++)
        w[j] =
            _mm256_sub_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(part[j]))), m);
}
/* Q6_K group c % 8 = (h, k): (d·sc)·q, one scale per 16 values */
QS_TARGET_AVX2 static AI void dec8_q6_k(__m256 *w, const wrow *r, int64_t c) {
    const uint8_t *sb = r->row + 210 * (c / 8);
    const int h = (int)(c % 8) / 4, k = (int)(c % 4);
    const int8_t *sc = (const int8_t *)(sb + 192) + 8 * h + 2 * k;
    const float d = half1(sb + 208);
    __m256i q = q6_k_codes(sb, h, k);
    __m128i a = _mm256_castsi256_si128(q), b = _mm256_extracti128_si256(q, 1);
    const __m256 d0 = _mm256_set1_ps(d * (float)sc[0]), d1 = _mm256_set1_ps(d * (float)sc[1]);
    __m128i part[4] = {a, _mm_srli_si128(a, 8), b, _mm_srli_si128(b, 8)};
    for (int j = 0; j < 4; j++)
        w[j] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(part[j])), j < 2 ? d0 : d1);
}
/* packed: ((float)code − z)·s */
QS_TARGET_AVX2 static AI void dec8_packed(__m256 *w, wrow *r, int64_t c) {
    packed_sz(r, c);
    const __m256 vs = _mm256_set1_ps(r->s), vz = _mm256_set1_ps(r->z);
    __m256i q = packed_codes(r, c);
    __m128i a = _mm256_castsi256_si128(q), b = _mm256_extracti128_si256(q, 1);
    __m128i part[4] = {a, _mm_srli_si128(a, 8), b, _mm_srli_si128(b, 8)};
    for (int j = 0; j < 4; j++)
        w[j] =
            _mm256_mul_ps(_mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(part[j])), vz), vs);
}

/* scalar values of float rows past their last whole chunk */
static AI float tail_value(int type, const uint8_t *row, int64_t k) {
    if (type == QS_GGML_F32) {
        float f;
        memcpy(&f, row + 4 * k, 4);
        return f;
    }
    uint16_t h = (uint16_t)(row[2 * k] | (row[2 * k + 1] << 8));
    return type == QS_GGML_F16 ? qs_fp16_to_f32(h) : qs_bf16_to_f32(h);
}

/* One tile: rows r0 .. r0 + RT − 1 (stored), tokens 0 .. NT − 1 of x; y[t·ldy + i] for row
 * r0 + i. DEC decodes a chunk; `type` names float types for the scalar tail. */
#define TILE8(FMT)                                                                                 \
    QS_TARGET_AVX2 static AI void tile8_##FMT(float *y, int64_t ldy, const uint8_t *data,          \
                                              size_t rb, int64_t r0, int64_t C,                    \
                                              const qs_packed_layout *pk, const float *x,          \
                                              int64_t ldx, int type, const int RT, const int NT) { \
        __m256 acc[4][4];                                                                          \
        wrow w[4];                                                                                 \
        for (int i = 0; i < RT; i++) {                                                             \
            w[i] = (wrow){data + (size_t)(r0 + i) * rb, r0 + i, pk, data, 0, 0.0f, 0.0f};          \
            for (int t = 0; t < NT; t++) acc[i][t] = _mm256_setzero_ps();                          \
        }                                                                                          \
        const int64_t nc = C / 32;                                                                 \
        for (int64_t c = 0; c < nc; c++) {                                                         \
            if (CHUNK_BYTES_##FMT)                                                  \
                for (int i = 0; i < RT; i++) prefetch_ahead(w[i].row, CHUNK_BYTES_##FMT, c); \
            _Pragma("GCC unroll 4") for (int i = 0; i < RT; i++) {                                 \
                __m256 v[4];                                                                       \
                dec8_##FMT(v, &w[i], c);                                                           \
                _Pragma("GCC unroll 4") for (int t = 0; t < NT; t++) {                             \
                    const float *xc = x + t * ldx + 32 * c;                                        \
                    for (int j = 0; j < 4; j++)                                                    \
                        acc[i][t] = _mm256_fmadd_ps(v[j], _mm256_loadu_ps(xc + 8 * j), acc[i][t]); \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        for (int i = 0; i < RT; i++)                                                               \
            for (int t = 0; t < NT; t++) {                                                         \
                float tail = 0.0f;                                                                 \
                for (int64_t k = 32 * nc; k < C; k++)                                              \
                    tail += tail_value(type, w[i].row, k) * x[t * ldx + k];                        \
                y[t * ldy + i] = hsum8(acc[i][t]) + tail;                                          \
            }                                                                                      \
    }
TILE8(f32)
TILE8(f16)
TILE8(bf16)
TILE8(q8_0)
TILE8(q4_0)
TILE8(q4_k)
TILE8(q6_k)
TILE8(packed)

/* ---- 16 lanes --------------------------------------------------------------------------- */

QS_TARGET_AVX512 static AI float hsum16(__m512 v) {
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v),
                             _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    return hsum8(h);
}

QS_TARGET_AVX512 static AI __m512 i8x16_times(__m128i q, __m512 d) {
    return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)), d);
}

/* Chunk decoders, 16 lanes: w[0..1] ← values 32c .. 32c + 31. */
QS_TARGET_AVX512 static AI void dec16_f32(__m512 *w, const wrow *r, int64_t c) {
    const float *p = (const float *)r->row + 32 * c;
    w[0] = _mm512_loadu_ps(p);
    w[1] = _mm512_loadu_ps(p + 16);
}
QS_TARGET_AVX512 static AI void dec16_f16(__m512 *w, const wrow *r, int64_t c) {
    const uint8_t *p = r->row + 64 * c;
    w[0] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
    w[1] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + 32)));
}
QS_TARGET_AVX512 static AI void dec16_bf16(__m512 *w, const wrow *r, int64_t c) {
    const uint8_t *p = r->row + 64 * c;
    for (int j = 0; j < 2; j++)
        w[j] = _mm512_castsi512_ps(_mm512_slli_epi32(
            _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p + 32 * j))), 16));
}
QS_TARGET_AVX512 static AI void dec16_q8_0(__m512 *w, const wrow *r, int64_t c) {
    const uint8_t *b = r->row + 34 * c;
    const __m512 d = _mm512_set1_ps(half1(b));
    w[0] = i8x16_times(_mm_loadu_si128((const __m128i *)(b + 2)), d);
    w[1] = i8x16_times(_mm_loadu_si128((const __m128i *)(b + 18)), d);
}
QS_TARGET_AVX512 static AI void dec16_q4_0(__m512 *w, const wrow *r, int64_t c) {
    const uint8_t *b = r->row + 18 * c;
    const __m512 d = _mm512_set1_ps(half1(b));
    w[0] = i8x16_times(lo_nibbles_minus8(b + 2), d);
    w[1] = i8x16_times(hi_nibbles_minus8(b + 2), d);
}
QS_TARGET_AVX512 static AI void dec16_q4_k(__m512 *w, wrow *r, int64_t c) {
    const uint8_t *sb = r->row + 144 * (c / 8);
    const int s = (int)(c % 8);
    if (s == 0) q4_k_scales(r, sb);
    const __m512 d = _mm512_set1_ps(r->ks[s]);
    const __m512 m = _mm512_set1_ps(r->km[s]);
    __m256i q = _mm256_loadu_si256((const __m256i *)(sb + 16 + 32 * (s / 2)));
    if (s & 1) q = _mm256_srli_epi16(q, 4);
    q = _mm256_and_si256(q, _mm256_set1_epi8(0x0f));
    __m128i part[2] = {_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1)};
    for (int j = 0; j < 2; j++)
        w[j] =
            _mm512_sub_ps(_mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(part[j]))), m);
}
QS_TARGET_AVX512 static AI void dec16_q6_k(__m512 *w, const wrow *r, int64_t c) {
    const uint8_t *sb = r->row + 210 * (c / 8);
    const int h = (int)(c % 8) / 4, k = (int)(c % 4);
    const int8_t *sc = (const int8_t *)(sb + 192) + 8 * h + 2 * k;
    const float d = half1(sb + 208);
    __m256i q = q6_k_codes(sb, h, k);
    w[0] = i8x16_times(_mm256_castsi256_si128(q), _mm512_set1_ps(d * (float)sc[0]));
    w[1] = i8x16_times(_mm256_extracti128_si256(q, 1), _mm512_set1_ps(d * (float)sc[1]));
}
QS_TARGET_AVX512 static AI void dec16_packed(__m512 *w, wrow *r, int64_t c) {
    packed_sz(r, c);
    const __m512 vs = _mm512_set1_ps(r->s), vz = _mm512_set1_ps(r->z);
    __m256i q = packed_codes(r, c);
    __m128i part[2] = {_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1)};
    for (int j = 0; j < 2; j++)
        w[j] =
            _mm512_mul_ps(_mm512_sub_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(part[j])), vz), vs);
}

#define TILE16(FMT)                                                                         \
    QS_TARGET_AVX512 static AI void tile16_##FMT(                                           \
        float *y, int64_t ldy, const uint8_t *data, size_t rb, int64_t r0, int64_t C,       \
        const qs_packed_layout *pk, const float *x, int64_t ldx, int type, const int RT,    \
        const int NT) {                                                                     \
        __m512 acc[4][4];                                                                   \
        wrow w[4];                                                                          \
        for (int i = 0; i < RT; i++) {                                                      \
            w[i] = (wrow){data + (size_t)(r0 + i) * rb, r0 + i, pk, data, 0, 0.0f, 0.0f};   \
            for (int t = 0; t < NT; t++) acc[i][t] = _mm512_setzero_ps();                   \
        }                                                                                   \
        const int64_t nc = C / 32;                                                          \
        for (int64_t c = 0; c < nc; c++) {                                                  \
            if (CHUNK_BYTES_##FMT)                                                  \
                for (int i = 0; i < RT; i++) prefetch_ahead(w[i].row, CHUNK_BYTES_##FMT, c); \
            _Pragma("GCC unroll 4") for (int i = 0; i < RT; i++) {                          \
                __m512 v[2];                                                                \
                dec16_##FMT(v, &w[i], c);                                                   \
                _Pragma("GCC unroll 4") for (int t = 0; t < NT; t++) {                      \
                    const float *xc = x + t * ldx + 32 * c;                                 \
                    acc[i][t] = _mm512_fmadd_ps(v[0], _mm512_loadu_ps(xc), acc[i][t]);      \
                    acc[i][t] = _mm512_fmadd_ps(v[1], _mm512_loadu_ps(xc + 16), acc[i][t]); \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
        for (int i = 0; i < RT; i++)                                                        \
            for (int t = 0; t < NT; t++) {                                                  \
                float tail = 0.0f;                                                          \
                for (int64_t k = 32 * nc; k < C; k++)                                       \
                    tail += tail_value(type, w[i].row, k) * x[t * ldx + k];                 \
                y[t * ldy + i] = hsum16(acc[i][t]) + tail;                                  \
            }                                                                               \
    }
TILE16(f32)
TILE16(f16)
TILE16(bf16)
TILE16(q8_0)
TILE16(q4_0)
TILE16(q4_k)
TILE16(q6_k)
TILE16(packed)

/* ---- drivers: rows in tiles of 4, tokens in tiles of NTMAX ------------------------------ */

/* the tile function for RT rows and up to NTMAX tokens, with NT a constant in each call */
#define TOKENS(TILE, RT, NTMAX)                                                                    \
    do {                                                                                           \
        int t = 0;                                                                                 \
        for (; t + (NTMAX) <= T; t += (NTMAX))                                                     \
            TILE(y + t * ldy + i, ldy, data, rb, r0 + i, cols, layout, x + t * ldx, ldx, type, RT, \
                 NTMAX);                                                                           \
        switch (T - t) {                                                                           \
        case 3:                                                                                    \
            TILE(y + t * ldy + i, ldy, data, rb, r0 + i, cols, layout, x + t * ldx, ldx, type, RT, \
                 3);                                                                               \
            break;                                                                                 \
        case 2:                                                                                    \
            TILE(y + t * ldy + i, ldy, data, rb, r0 + i, cols, layout, x + t * ldx, ldx, type, RT, \
                 2);                                                                               \
            break;                                                                                 \
        case 1:                                                                                    \
            TILE(y + t * ldy + i, ldy, data, rb, r0 + i, cols, layout, x + t * ldx, ldx, type, RT, \
                 1);                                                                               \
            break;                                                                                 \
        default: break;                                                                            \
        }                                                                                          \
    } while (0)

/* ROW_BYTES: bytes of a stored row; OK: whether the kernel takes the weight */
#define DRIVER(name, TARGET, TILE, NT4, TYPE, ROW_BYTES, OK) \
    TARGET QS__MATVEC(name) {                                \
        if (!(OK)) return 0;                                 \
        const int type = (TYPE);                             \
        const size_t rb = (ROW_BYTES);                       \
        int64_t i = 0;                                       \
        for (; i + 4 <= n; i += 4) TOKENS(TILE, 4, NT4);     \
        for (; i < n; i++) TOKENS(TILE, 1, 4);               \
        return 1;                                            \
    }

#define BLK(bs, ts) ((size_t)(cols / (bs)) * (ts))
#define ALIGNED     (((uintptr_t)data & 3) == 0)
#define FUSABLE     (layout && qs__packed_fusable(layout))

DRIVER(f32_avx2, QS_TARGET_AVX2, tile8_f32, 2, QS_GGML_F32, BLK(1, 4), ALIGNED)
DRIVER(f16_avx2, QS_TARGET_AVX2, tile8_f16, 2, QS_GGML_F16, BLK(1, 2), 1)
DRIVER(bf16_avx2, QS_TARGET_AVX2, tile8_bf16, 2, QS_GGML_BF16, BLK(1, 2), 1)
DRIVER(q8_0_avx2, QS_TARGET_AVX2, tile8_q8_0, 2, QS_GGML_Q8_0, BLK(32, 34), 1)
DRIVER(q4_0_avx2, QS_TARGET_AVX2, tile8_q4_0, 2, QS_GGML_Q4_0, BLK(32, 18), 1)
DRIVER(q4_k_avx2, QS_TARGET_AVX2, tile8_q4_k, 2, QS_GGML_Q4_K, BLK(256, 144), 1)
DRIVER(q6_k_avx2, QS_TARGET_AVX2, tile8_q6_k, 2, QS_GGML_Q6_K, BLK(256, 210), 1)
DRIVER(packed_avx2, QS_TARGET_AVX2, tile8_packed, 2, QS_DTYPE_PACKED, 0, FUSABLE)
DRIVER(f32_avx512, QS_TARGET_AVX512, tile16_f32, 4, QS_GGML_F32, BLK(1, 4), ALIGNED)
DRIVER(f16_avx512, QS_TARGET_AVX512, tile16_f16, 4, QS_GGML_F16, BLK(1, 2), 1)
DRIVER(bf16_avx512, QS_TARGET_AVX512, tile16_bf16, 4, QS_GGML_BF16, BLK(1, 2), 1)
DRIVER(q8_0_avx512, QS_TARGET_AVX512, tile16_q8_0, 4, QS_GGML_Q8_0, BLK(32, 34), 1)
DRIVER(q4_0_avx512, QS_TARGET_AVX512, tile16_q4_0, 4, QS_GGML_Q4_0, BLK(32, 18), 1)
DRIVER(q4_k_avx512, QS_TARGET_AVX512, tile16_q4_k, 4, QS_GGML_Q4_K, BLK(256, 144), 1)
DRIVER(q6_k_avx512, QS_TARGET_AVX512, tile16_q6_k, 4, QS_GGML_Q6_K, BLK(256, 210), 1)
DRIVER(packed_avx512, QS_TARGET_AVX512, tile16_packed, 4, QS_DTYPE_PACKED, 0, FUSABLE)

/* one f32 row (C values) with T tokens, for the row-at-a-time fallback and attention */
QS_TARGET_AVX2 static void dot_f32_8(float *y, int64_t ldy, const float *wr, int64_t cols,
                                     const float *x, int64_t ldx, int T) {
    const uint8_t *data = (const uint8_t *)wr;
    const qs_packed_layout *layout = NULL;
    const int type = QS_GGML_F32;
    const size_t rb = 0;
    const int64_t r0 = 0, i = 0;
    TOKENS(tile8_f32, 1, 4);
}
QS_TARGET_AVX512 static void dot_f32_16(float *y, int64_t ldy, const float *wr, int64_t cols,
                                        const float *x, int64_t ldx, int T) {
    const uint8_t *data = (const uint8_t *)wr;
    const qs_packed_layout *layout = NULL;
    const int type = QS_GGML_F32;
    const size_t rb = 0;
    const int64_t r0 = 0, i = 0;
    TOKENS(tile16_f32, 1, 4);
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
