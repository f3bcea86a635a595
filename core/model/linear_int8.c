/* The int8dot path (linear.h): activations quantized to int8 on the fly, weights read as the
 * integers they store, exact integer dot products per block of 32, one float multiply per
 * block. The arithmetic is linear.h's; the scalar _ref code below spells it out and every
 * SIMD path gives its bits.
 *
 * The vector kernels take a row eight blocks (256 values) at a time: the eight blocks'
 * weight integers w (signed bytes) and |w| are decoded once, then for each token of a tile
 * each block's 32 products are summed by maddubs(|w|, sign(q, w)) and madd (AVX2), or by
 * dpbusd (AVX-VNNI, AVX-512 VNNI), the eight blocks' sums are gathered into one vector
 * (lane j = block 8m + j) and one FMA per eight blocks adds (dw·dx)·(float)i into the lanes.
 * |w| ≤ 128 and |q| ≤ 127, so no pair of products saturates 16 bits. One token against
 * Q8_0, Q4_0, Q6_K or packed rows (decode) has its own loop, which decodes each block where
 * it is used and asks for the row's bytes ahead of use: 1.4× (Q8_0) and 1.5× (Q4_0) the
 * decode tokens/s of the tiled kernel, 2.2× (Q6_K) its speed over rows in memory; packed
 * decode 2.1× (int8 per-channel) and 1.8× (int4 g128) its tokens/s; with the group scales,
 * activation scales and sums loaded as vectors where eight blocks share one or two groups,
 * or have one each (g32), rather than gathered through scalar stores, which a vector load
 * cannot forward from: int8 per-channel 31 -> 43-55, int4 g128 33 -> 57-67, int4 g32
 * affine 24 -> 43 tok/s on the 7B shape (`bench --speed --phases decode`). Windows of eight tokens
 * or more take the row-lane kernel instead (one row per lane, no horizontal sums; below):
 * prefill at T = 512 went Q8_0 95 -> 229-243 tok/s, Q4_0 83 -> 210-253, against f32's
 * sgemm at 200-217 on the same Zen 4 (`bench --speed --phases prefill`). Q6_K's weight
 * integers sc·(q − 32) do not fit a byte: its kernels sum the (q − 32)·q' pairs with
 * maddubs and multiply the pair sums by the scales in madd, on every path.
 *
 * Letters: C row length, nb = C/32 blocks, m a group of eight blocks, NT tokens of a tile. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "error.h"
#include "fp16.h"
#include "gguf_dequant.h"
#include "linear.h"
#include "linear_kernels.h"
#include "packed.h"

#if QS_HAVE_X86_SIMD
#include <immintrin.h>
#endif

/* ---- activation quantization ----------------------------------------------------------- */

static int act8_reserve(qs_act8 *a, int T, int C) {
    if (C <= 0 || C % 32 != 0 || T <= 0)
        return qs_error_set(QS_ERR_ARG, "int8 activations: %d x %d is not whole blocks of 32", T,
                            C);
    size_t nq = (size_t)T * (size_t)C, nbk = nq / 32;
    if (nq > a->cap_q) {
        int8_t *q = realloc(a->q, nq);
        if (q) a->q = q;
        uint8_t *qu = q ? realloc(a->qu, nq) : NULL;
        if (!q || !qu)
            return qs_error_set(QS_ERR_NOMEM, "int8 activations: out of memory (%zu B)", 2 * nq);
        a->qu = qu;
        a->cap_q = nq;
    }
    if (nbk > a->cap_b) {
        float *d = realloc(a->d, nbk * sizeof *d);
        if (d) a->d = d;
        int32_t *s = d ? realloc(a->sum, nbk * sizeof *s) : NULL;
        if (!d || !s)
            return qs_error_set(QS_ERR_NOMEM, "int8 activations: out of memory (%zu blocks)", nbk);
        a->sum = s;
        a->cap_b = nbk;
    }
    a->T = T;
    a->C = C;
    a->nb = C / 32;
    return QS_OK;
}

void qs_act8_free(qs_act8 *a) {
    free(a->q);
    free(a->qu);
    free(a->d);
    free(a->sum);
    memset(a, 0, sizeof *a);
}

static float absmax_ref(const float *x, int n) {
    float m = 0.0f;
    for (int i = 0; i < n; i++) {
        float v = fabsf(x[i]);
        m = v > m ? v : m;
    }
    return m;
}

/* one block of 32 with scale d; qu the codes + 128 */
static int32_t block_ref(int8_t *q, uint8_t *qu, const float *x, float d) {
    int32_t s = 0;
    for (int i = 0; i < 32; i++) {
        float v = d == 0.0f ? 0.0f : rintf(x[i] / d);
        v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
        q[i] = (int8_t)v;
        qu[i] = (uint8_t)(q[i] + 128);
        s += q[i];
    }
    return s;
}

int qs_act8_quantize_ref(qs_act8 *a, const float *x, int T, int C, int per_token) {
    int rc = act8_reserve(a, T, C);
    if (rc) return rc;
    a->per_token = per_token != 0;
    for (int t = 0; t < T; t++) {
        const float *xt = x + (size_t)t * C;
        float dt = per_token ? absmax_ref(xt, C) / 127.0f : 0.0f;
        for (int b = 0; b < a->nb; b++) {
            float d = per_token ? dt : absmax_ref(xt + 32 * b, 32) / 127.0f;
            size_t i = (size_t)t * a->nb + b;
            a->d[i] = d;
            a->sum[i] = block_ref(a->q + (size_t)t * C + 32 * b, a->qu + (size_t)t * C + 32 * b,
                                  xt + 32 * b, d);
        }
    }
    return QS_OK;
}

#if QS_HAVE_X86_SIMD
#define AI inline __attribute__((always_inline))

QS_TARGET_AVX2 static AI float absmax8(const float *x, int n) {
    const __m256 mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8)
        m = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + i), mask), m);
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* The same block as block_ref: a true division and round-to-nearest-even per value. */
QS_TARGET_AVX2 static AI int32_t block8(int8_t *q, uint8_t *qu, const float *x, float d) {
    if (d == 0.0f) {
        memset(q, 0, 32);
        memset(qu, 128, 32);
        return 0;
    }
    const __m256 vd = _mm256_set1_ps(d), hi = _mm256_set1_ps(127.0f), lo = _mm256_set1_ps(-127.0f);
    __m256i v[4];
    for (int j = 0; j < 4; j++) {
        __m256 r = _mm256_round_ps(_mm256_div_ps(_mm256_loadu_ps(x + 8 * j), vd),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        v[j] = _mm256_cvtps_epi32(_mm256_max_ps(_mm256_min_ps(r, hi), lo));
    }
    /* packs interleave 128-bit halves: undo with one permute */
    __m256i w16a = _mm256_packs_epi32(v[0], v[1]), w16b = _mm256_packs_epi32(v[2], v[3]);
    __m256i b8 = _mm256_packs_epi16(w16a, w16b);
    b8 = _mm256_permutevar8x32_epi32(b8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)q, b8);
    _mm256_storeu_si256((__m256i *)qu, _mm256_xor_si256(b8, _mm256_set1_epi8((char)0x80)));
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(v[0], v[1]), _mm256_add_epi32(v[2], v[3]));
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
    return _mm_cvtsi128_si32(h);
}

/* One token's row. The parallel loop stays outside target-attributed code: clang 14 does
 * not give an OpenMP region's outlined body its enclosing function's target features and
 * fails in the back end on the AVX2 code inlined there. */
QS_TARGET_AVX2 static void quantize_row_avx2(qs_act8 *a, const float *x, int t, int C,
                                             int per_token) {
    const float *xt = x + (size_t)t * C;
    float dt = per_token ? absmax8(xt, C) / 127.0f : 0.0f;
    for (int b = 0; b < a->nb; b++) {
        float d = per_token ? dt : absmax8(xt + 32 * b, 32) / 127.0f;
        size_t i = (size_t)t * a->nb + b;
        a->d[i] = d;
        a->sum[i] = block8(a->q + (size_t)t * C + 32 * b, a->qu + (size_t)t * C + 32 * b,
                           xt + 32 * b, d);
    }
}

static void quantize_avx2(qs_act8 *a, const float *x, int T, int C, int per_token) {
#pragma omp parallel for schedule(static) if ((size_t)T * C >= 65536)
    for (int t = 0; t < T; t++) quantize_row_avx2(a, x, t, C, per_token);
}
#endif

int qs_act8_quantize(qs_act8 *a, const float *x, int T, int C, int per_token) {
#if QS_HAVE_X86_SIMD
    if (qs_cpu_path() >= QS_CPU_AVX2) {
        int rc = act8_reserve(a, T, C);
        if (rc) return rc;
        a->per_token = per_token != 0;
        quantize_avx2(a, x, T, C, per_token);
        return QS_OK;
    }
#endif
    return qs_act8_quantize_ref(a, x, T, C, per_token);
}

/* ---- which weights have integer kernels ------------------------------------------------- */

enum { F_NONE = 0, F_Q8_0, F_Q4_0, F_Q4_K, F_Q6_K, F_P8, F_P8A, F_P4, F_P4A };

/* The integer format of a weight of storage type `type`, cols values per row. */
static int dot8_format(uint32_t type, int64_t cols, const qs_packed_layout *p) {
    if (cols % 32 != 0) return F_NONE;
    switch (type) {
    case QS_GGML_Q8_0: return F_Q8_0;
    case QS_GGML_Q4_0: return F_Q4_0;
    case QS_GGML_Q4_K: return F_Q4_K;
    case QS_GGML_Q6_K: return F_Q6_K;
    case QS_DTYPE_PACKED: break;
    default: return F_NONE;
    }
    if (!p || p->lut_n || p->scale_kind == QS_PACKED_SCALE_CODE8) return F_NONE;
    if (p->gran == QS_PACKED_GROUP && p->group % 32 != 0) return F_NONE;
    if (p->bits == 8) return p->affine ? F_P8A : F_P8;
    if (p->bits == 4) return p->affine ? F_P4A : F_P4;
    return F_NONE;
}

/* A weight as the kernels see it: its bytes, row length, stored row bytes (block types),
 * packed layout (packed), and integer format. */
typedef struct wdesc {
    const uint8_t *data;
    int64_t cols;
    size_t row_bytes;
    const qs_packed_layout *pk;
    int fmt;
} wdesc;

int qs_linear_int8dot_defined(const qs_tensor *w) {
    return dot8_format(w->type, w->cols, w->pk) != F_NONE;
}

/* ---- the scalar reference ------------------------------------------------------------- */

static float pscale(const qs_packed_layout *p, const uint8_t *data, int64_t r, int64_t b) {
    int64_t g = p->gran == QS_PACKED_TENSOR ? 0
                : p->gran == QS_PACKED_ROW  ? r
                                            : r * p->groups_per_row + 32 * b / p->group;
    return qs_packed_scale(p, data, g);
}
static int pzero(const qs_packed_layout *p, const uint8_t *data, int64_t r, int64_t b) {
    int64_t g = p->gran == QS_PACKED_TENSOR ? 0
                : p->gran == QS_PACKED_ROW  ? r
                                            : r * p->groups_per_row + 32 * b / p->group;
    return qs_packed_zero(p, data, g);
}

static float half_at(const uint8_t *p) { return qs_fp16_to_f32((uint16_t)(p[0] | (p[1] << 8))); }

static void k4_sm(int s, const uint8_t *q, int *sc, int *mn) {
    if (s < 4) {
        *sc = q[s] & 63;
        *mn = q[s + 4] & 63;
    } else {
        *sc = (q[s + 4] & 0x0f) | ((q[s - 4] >> 6) << 4);
        *mn = (q[s + 4] >> 4) | ((q[s] >> 6) << 4);
    }
}

/* Block b of stored row r: its 32 weight integers and scale; Q4_K also its min term's
 * factor (dmin·mn) in *mnf. */
static void block_ints(int fmt, const wdesc *w, int64_t r, int64_t b, int *wi, float *dw,
                       float *mnf) {
    *mnf = 0.0f;
    if (fmt == F_Q6_K) {
        /* block b = 4h + k of its super-block: values 32k .. 32k + 31 of half h, two
         * sub-blocks of 16 with their own int8 scales; w = sc·(q − 32) */
        const uint8_t *sb = w->data + (size_t)r * w->row_bytes + 210 * (b / 8);
        const int h = (int)(b % 8) / 4, k = (int)(b % 4);
        const uint8_t *ql = sb + 64 * h + 32 * (k & 1), *qh = sb + 128 + 32 * h;
        const int8_t *sc = (const int8_t *)(sb + 192) + 8 * h + 2 * k;
        *dw = half_at(sb + 208);
        for (int j = 0; j < 32; j++) {
            int lo = k < 2 ? ql[j] & 15 : ql[j] >> 4;
            int q = lo | (((qh[j] >> (2 * k)) & 3) << 4);
            wi[j] = sc[j / 16] * (q - 32);
        }
        return;
    }
    if (fmt == F_Q8_0 || fmt == F_Q4_0 || fmt == F_Q4_K) {
        const uint8_t *row = w->data + (size_t)r * w->row_bytes;
        if (fmt == F_Q8_0) {
            const uint8_t *blk = row + 34 * b;
            *dw = half_at(blk);
            for (int j = 0; j < 32; j++) wi[j] = (int8_t)blk[2 + j];
        } else if (fmt == F_Q4_0) {
            const uint8_t *blk = row + 18 * b;
            *dw = half_at(blk);
            for (int j = 0; j < 16; j++) {
                wi[j] = (blk[2 + j] & 15) - 8;
                wi[j + 16] = (blk[2 + j] >> 4) - 8;
            }
        } else {
            const uint8_t *sb = row + 144 * (b / 8);
            int s = (int)(b % 8), sc, mn;
            k4_sm(s, sb + 4, &sc, &mn);
            *dw = half_at(sb) * (float)sc;
            *mnf = half_at(sb + 2) * (float)mn;
            const uint8_t *qs = sb + 16 + 32 * (s / 2);
            for (int j = 0; j < 32; j++) wi[j] = s % 2 ? qs[j] >> 4 : qs[j] & 15;
        }
        return;
    }
    const qs_packed_layout *p = w->pk;
    *dw = pscale(p, w->data, r, b);
    int z = pzero(p, w->data, r, b);
    int64_t i0 = r * p->cols + 32 * b;
    for (int j = 0; j < 32; j++) wi[j] = (int)qs_packed_get(w->data, i0 + j, p->bits) - z;
}

/* the lanes' tree: ((0+4)+(2+6)) + ((1+5)+(3+7)) */
static float tree8(const float *l) {
    return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
}

static int dot8_ref(float *y, int64_t ldy, const wdesc *w, int64_t r0, int64_t n,
                    const qs_act8 *a) {
    const int fmt = w->fmt;
    if (fmt == F_NONE || a->C != w->cols) return 0;
    const int64_t C = w->cols, nb = C / 32, ng = (nb + 7) / 8;
    int wi[32];
    for (int64_t i = 0; i < n; i++) {
        const int64_t r = r0 + i;
        for (int t = 0; t < a->T; t++) {
            const int8_t *q = a->q + (size_t)t * C;
            const float *dx = a->d + (size_t)t * nb;
            const int32_t *sx = a->sum + (size_t)t * nb;
            float acc[8] = {0}, macc[8] = {0};
            for (int64_t m = 0; m < ng; m++)
                for (int k = 0; k < 8; k++) {
                    const int64_t b = 8 * m + k;
                    float s = 0.0f, s2 = 0.0f;
                    int32_t isum = 0, asum = 0;
                    if (b < nb) {
                        float dw, mnf;
                        block_ints(fmt, w, r, b, wi, &dw, &mnf);
                        for (int j = 0; j < 32; j++) isum += wi[j] * q[32 * b + j];
                        s = dw * dx[b];
                        s2 = mnf * dx[b];
                        asum = sx[b];
                    }
                    acc[k] = fmaf(s, (float)isum, acc[k]);
                    if (fmt == F_Q4_K) macc[k] = fmaf(s2, (float)asum, macc[k]);
                }
            float v = tree8(acc);
            if (fmt == F_Q4_K) v -= tree8(macc);
            y[t * ldy + i] = v;
        }
    }
    return 1;
}

/* ---- vector kernels ------------------------------------------------------------------- */

#if QS_HAVE_X86_SIMD
/* Eight blocks of a row, decoded once for every token of a tile. w[k] holds block k's 32
 * weight integers as bytes, either unsigned codes c (then i = Σ c·q − zc·sum) or, when
 * `signed_w`, signed values (i = Σ w·q via the sign trick, then − zc·sum): Q8_0 is signed;
 * 4-bit codes are unsigned (zc = 8 or the zero-point; Q4_K 0, its min term apart); 8-bit
 * codes are unsigned under VNNI (zc = z) and code − 128 under maddubs (zc = z − 128), whose
 * u8 × s8 pairs must stay below 2^15. */
typedef struct grp8 {
    __m256i w[8];
    __m256i sc16[8]; /* Q6_K: block k's two sub-block scales, 8 int16 lanes each */
    __m256 dw, mn;   /* block scales; Q4_K's min factors */
    __m256i zc;    /* per-block zero correction */
    int nblk, signed_w, has_zc;
} grp8;

QS_TARGET_AVX2 static AI float half1(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}

/* scale and zero-point group of block b of row r */
static AI int64_t pgroup(const qs_packed_layout *p, int64_t r, int64_t b) {
    return p->gran == QS_PACKED_TENSOR ? 0
           : p->gran == QS_PACKED_ROW  ? r
                                       : r * p->groups_per_row + 32 * b / p->group;
}

QS_TARGET_AVX2 static AI float pk_scale1(const qs_packed_layout *p, const uint8_t *data,
                                         int64_t g) {
    const uint8_t *s = data + p->codes_bytes;
    if (p->fp32_scales) {
        float f;
        memcpy(&f, s + 4 * g, 4);
        return f;
    }
    return half1(s + 2 * g);
}

static AI int pk_zero1(const qs_packed_layout *p, const uint8_t *data, int64_t g) {
    if (!p->affine) return 1 << (p->bits - 1);
    const uint8_t *z = data + p->codes_bytes + p->scales_bytes;
    return p->bits == 8 ? z[g] : (z[g / 2] >> (4 * (g & 1))) & 15;
}

/* 16 bytes of nibbles -> 32 codes: low nibbles first (GGUF) or interleaved (packed) */
QS_TARGET_AVX2 static AI __m256i nibbles(const uint8_t *p, int interleaved) {
    const __m128i lo4 = _mm_set1_epi8(0x0f);
    __m128i q = _mm_loadu_si128((const __m128i *)p);
    __m128i lo = _mm_and_si128(q, lo4), hi = _mm_and_si128(_mm_srli_epi16(q, 4), lo4);
    if (interleaved)
        return _mm256_set_m128i(_mm_unpackhi_epi8(lo, hi), _mm_unpacklo_epi8(lo, hi));
    return _mm256_set_m128i(hi, lo);
}

/* Q6_K block 4h + k of a super-block as 32 signed bytes q − 32: the low nibbles (k < 2) or
 * high nibbles of ql, the row of half h's 64 low-bit bytes that block takes (ql[k & 1]),
 * and bits 2k of qh, the half's 32 high-bit bytes */
QS_TARGET_AVX2 static AI __m256i q6_k_block(__m256i ql, __m256i qh, int k) {
    const __m256i lo4 = _mm256_set1_epi8(0x0f), three = _mm256_set1_epi8(3);
    __m256i lo = k < 2 ? _mm256_and_si256(ql, lo4)
                       : _mm256_and_si256(_mm256_srli_epi16(ql, 4), lo4);
    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), three);
    return _mm256_sub_epi8(_mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)), _mm256_set1_epi8(32));
}

static AI int is_packed(int fmt) {
    return fmt == F_P8 || fmt == F_P8A || fmt == F_P4 || fmt == F_P4A;
}

QS_TARGET_AVX2 static AI void group_decode(grp8 *g, int fmt, const wdesc *w, int64_t r,
                                           int64_t m, int64_t nb, const int vnni) {
    float dw[8] = {0}, mn[8] = {0};
    int32_t zc[8] = {0};
    const int nblk = nb - 8 * m < 8 ? (int)(nb - 8 * m) : 8;
    g->nblk = nblk;
    g->signed_w = fmt == F_Q8_0 || (!vnni && (fmt == F_P8 || fmt == F_P8A));
    g->has_zc = fmt == F_Q4_0 || fmt == F_P4 || fmt == F_P4A || fmt == F_P8A ||
                (vnni && fmt == F_P8);
    if (fmt == F_Q6_K) {
        /* a super-block is a group: half h's 128 low nibbles (ql), 32 bytes of high bits
         * (qh), block 4h + k takes ql's low (k < 2) or high nibbles and bits 2k of qh */
        const uint8_t *sb = w->data + (size_t)r * w->row_bytes + 210 * m;
        qs__prefetch_ahead(sb, 210);
        const int8_t *sc = (const int8_t *)(sb + 192);
        for (int h = 0; h < 2; h++) {
            __m256i ql[2] = {_mm256_loadu_si256((const __m256i *)(sb + 64 * h)),
                             _mm256_loadu_si256((const __m256i *)(sb + 64 * h + 32))};
            __m256i qh = _mm256_loadu_si256((const __m256i *)(sb + 128 + 32 * h));
            for (int k = 0; k < 4; k++) {
                g->w[4 * h + k] = q6_k_block(ql[k & 1], qh, k);
                g->sc16[4 * h + k] = _mm256_set_m128i(_mm_set1_epi16(sc[8 * h + 2 * k + 1]),
                                                      _mm_set1_epi16(sc[8 * h + 2 * k]));
            }
        }
        const float d = half1(sb + 208);
        for (int k = 0; k < 8; k++) dw[k] = d;
        g->signed_w = 1;
    } else if (fmt == F_Q4_K) {
        const uint8_t *sb = w->data + (size_t)r * w->row_bytes + 144 * m;
        const float d = half1(sb), dmin = half1(sb + 2);
        const __m256i lo4 = _mm256_set1_epi8(0x0f);
        for (int p = 0; p < 4; p++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(sb + 16 + 32 * p));
            g->w[2 * p] = _mm256_and_si256(q, lo4);
            g->w[2 * p + 1] = _mm256_and_si256(_mm256_srli_epi16(q, 4), lo4);
        }
        for (int s = 0; s < 8; s++) {
            int sc, mnv;
            k4_sm(s, sb + 4, &sc, &mnv);
            dw[s] = d * (float)sc;
            mn[s] = dmin * (float)mnv;
        }
    } else {
        const qs_packed_layout *p = w->pk;
        const uint8_t *row = w->data + (size_t)r * w->row_bytes;
        /* packed: the group of block 8m by one division, then counted along (a division per
         * block had cost more than the block's products) */
        int64_t gi = 0, bpg = 1, in_g = 0;
        if (is_packed(fmt)) {
            gi = pgroup(p, r, 8 * m);
            if (p->gran == QS_PACKED_GROUP) {
                bpg = p->group / 32;
                in_g = (8 * m) % bpg;
            } else {
                bpg = INT64_MAX;
            }
        }
        for (int k = 0; k < 8; k++) {
            const int64_t b = 8 * m + k;
            __m256i wv = _mm256_setzero_si256();
            if (k < nblk) {
                if (fmt == F_Q8_0) {
                    dw[k] = half1(row + 34 * b);
                    wv = _mm256_loadu_si256((const __m256i *)(row + 34 * b + 2));
                } else if (fmt == F_Q4_0) {
                    dw[k] = half1(row + 18 * b);
                    wv = nibbles(row + 18 * b + 2, 0);
                    zc[k] = 8;
                } else {
                    if (k > 0 && ++in_g == bpg) {
                        in_g = 0;
                        gi++;
                    }
                    const int z = pk_zero1(p, w->data, gi);
                    dw[k] = pk_scale1(p, w->data, gi);
                    if (fmt == F_P8 || fmt == F_P8A) {
                        wv = _mm256_loadu_si256(
                            (const __m256i *)(w->data + (size_t)(r * p->cols + 32 * b)));
                        if (!vnni) wv = _mm256_xor_si256(wv, _mm256_set1_epi8((char)0x80));
                        zc[k] = vnni ? z : z - 128;
                    } else {
                        wv = nibbles(w->data + (size_t)((r * p->cols + 32 * b) / 2), 1);
                        zc[k] = z;
                    }
                }
            }
            g->w[k] = wv;
        }
    }
    g->dw = _mm256_loadu_ps(dw);
    g->mn = _mm256_loadu_ps(mn);
    g->zc = _mm256_loadu_si256((const __m256i *)zc);
}

/* v[0..7] (eight int32 lanes each) -> one vector, lane j = the sum of v[j]'s lanes */
QS_TARGET_AVX2 static AI __m256i gather8(const __m256i *v) {
    __m256i h01 = _mm256_hadd_epi32(v[0], v[1]), h23 = _mm256_hadd_epi32(v[2], v[3]);
    __m256i h45 = _mm256_hadd_epi32(v[4], v[5]), h67 = _mm256_hadd_epi32(v[6], v[7]);
    __m256i a = _mm256_hadd_epi32(h01, h23), b = _mm256_hadd_epi32(h45, h67);
    return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20),
                            _mm256_permute2x128_si256(a, b, 0x31));
}

QS_TARGET_AVX2 static AI float hsum8i(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* u8 × s8 sums of 32 bytes into 8 int32 lanes */
#define DOT32_AVX2(u, s)    _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1))
#define DOT32_AVXVNNI(u, s) _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), u, s)
#define DOT32_VNNI512(u, s) _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s)

/* The eight fp16 scales of blocks k = 0..7 at blk + bs·k, as floats (exactly: F16C). */
QS_TARGET_AVX2 static AI __m256 scales8(const uint8_t *blk, size_t bs) {
    uint16_t h[8];
    for (int k = 0; k < 8; k++) memcpy(&h[k], blk + bs * k, 2);
    __m128i v = _mm_cvtsi32_si128(h[0]);
    v = _mm_insert_epi16(v, h[1], 1);
    v = _mm_insert_epi16(v, h[2], 2);
    v = _mm_insert_epi16(v, h[3], 3);
    v = _mm_insert_epi16(v, h[4], 4);
    v = _mm_insert_epi16(v, h[5], 5);
    v = _mm_insert_epi16(v, h[6], 6);
    v = _mm_insert_epi16(v, h[7], 7);
    return _mm256_cvtph_ps(v);
}

/* One token (decode) against Q8_0 or Q4_0 rows: the block type's own loop, nothing decoded
 * ahead. The same operations in the same order as the tiled kernel below and dot8_ref:
 * lane k of the accumulator takes block 8m + k. GROUP: the nblk (≤ 8) blocks at blk times
 * the codes at q, into acc; nblk is a constant 8 in the main loop, so it unrolls. */
#define DOT8_T1_KERNEL(name, TARGET, DOT32, FMT, BS)                                            \
    TARGET static AI __m256 name##_group(__m256 acc, const uint8_t *blk, const qs_act8 *a,      \
                                         int64_t m, const int nblk) {                           \
        const int8_t *q = a->q + 256 * m;                                                        \
        __m256i v[8];                                                                            \
        _Pragma("GCC unroll 8") for (int k = 0; k < 8; k++) {                                    \
            if (k >= nblk) {                                                                     \
                v[k] = _mm256_setzero_si256();                                                   \
                continue;                                                                        \
            }                                                                                    \
            __m256i qa = _mm256_loadu_si256((const __m256i *)(q + 32 * k));                      \
            if ((FMT) == F_Q8_0) {                                                               \
                __m256i wv = _mm256_loadu_si256((const __m256i *)(blk + (BS) * k + 2));          \
                v[k] = DOT32(_mm256_abs_epi8(wv), _mm256_sign_epi8(qa, wv));                     \
            } else {                                                                             \
                v[k] = DOT32(nibbles(blk + (BS) * k + 2, 0), qa);                                \
            }                                                                                    \
        }                                                                                        \
        __m256i isum = gather8(v);                                                               \
        __m256 dw, dx;                                                                           \
        __m256i sx;                                                                              \
        if (nblk == 8) {                                                                         \
            dw = scales8(blk, BS);                                                               \
            dx = _mm256_loadu_ps(a->d + 8 * m);                                                  \
            sx = _mm256_loadu_si256((const __m256i *)(a->sum + 8 * m));                          \
        } else {                                                                                 \
            float dwp[8] = {0}, dxp[8] = {0};                                                    \
            int32_t sxp[8] = {0};                                                                \
            for (int k = 0; k < nblk; k++) {                                                     \
                dwp[k] = half1(blk + (BS) * k);                                                  \
                dxp[k] = a->d[8 * m + k];                                                        \
                sxp[k] = a->sum[8 * m + k];                                                      \
            }                                                                                    \
            dw = _mm256_loadu_ps(dwp);                                                           \
            dx = _mm256_loadu_ps(dxp);                                                           \
            sx = _mm256_loadu_si256((const __m256i *)sxp);                                       \
        }                                                                                        \
        if ((FMT) == F_Q4_0) isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(sx, 3));            \
        return _mm256_fmadd_ps(_mm256_mul_ps(dw, dx), _mm256_cvtepi32_ps(isum), acc);            \
    }                                                                                            \
    TARGET static void name(float *y, const wdesc *w, int64_t r0, int64_t n, const qs_act8 *a) { \
        const int64_t nb = w->cols / 32, full = nb / 8;                                          \
        const int rest = (int)(nb % 8);                                                          \
        for (int64_t i = 0; i < n; i++) {                                                        \
            const uint8_t *row = w->data + (size_t)(r0 + i) * w->row_bytes;                      \
            __m256 acc = _mm256_setzero_ps();                                                    \
            for (int64_t m = 0; m < full; m++) {                                                 \
                const uint8_t *blk = row + (BS) * 8 * m;                                         \
                qs__prefetch_ahead(blk, 8 * (BS));                                               \
                acc = name##_group(acc, blk, a, m, 8);                                           \
            }                                                                                    \
            if (rest) acc = name##_group(acc, row + (BS) * 8 * full, a, full, rest);             \
            y[i] = hsum8i(acc);                                                                  \
        }                                                                                        \
    }

/* One token against Q6_K rows: a super-block is eight blocks; each block's two sub-block
 * scales multiply its 16-bit pair sums (madd), so the lanes get the same integers as
 * dot8_ref's Σ sc·(q − 32)·q'. The scales for block j come from one vector of the
 * super-block's 16 scales: 32-bit lane j holds the pair (sc[2j], sc[2j+1]), broadcast, then
 * the low half takes sc[2j] and the high half sc[2j+1]. */
#define DOT8_T1_Q6_K_KERNEL(name, TARGET)                                                       \
    TARGET static void name(float *y, const wdesc *w, int64_t r0, int64_t n, const qs_act8 *a) { \
        const int64_t nsb = w->cols / 256;                                                       \
        const __m256i halves = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, \
                                                2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3); \
        for (int64_t i = 0; i < n; i++) {                                                        \
            const uint8_t *row = w->data + (size_t)(r0 + i) * w->row_bytes;                      \
            __m256 acc = _mm256_setzero_ps();                                                    \
            for (int64_t m = 0; m < nsb; m++) {                                                  \
                const uint8_t *sb = row + 210 * m;                                               \
                qs__prefetch_ahead(sb, 210);                                                     \
                const int8_t *q = a->q + 256 * m;                                                \
                const __m256i s16 =                                                              \
                    _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(sb + 192)));          \
                __m256i v[8];                                                                    \
                _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {                            \
                    const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(sb + 64 * h)),      \
                                  ql1 = _mm256_loadu_si256((const __m256i *)(sb + 64 * h + 32)), \
                                  qh = _mm256_loadu_si256((const __m256i *)(sb + 128 + 32 * h)); \
                    _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {                        \
                        __m256i wv = q6_k_block(k & 1 ? ql1 : ql0, qh, k);                       \
                        __m256i qa = _mm256_loadu_si256((const __m256i *)(q + 128 * h + 32 * k)); \
                        __m256i sc = _mm256_shuffle_epi8(                                        \
                            _mm256_permutevar8x32_epi32(s16, _mm256_set1_epi32(4 * h + k)),      \
                            halves);                                                             \
                        v[4 * h + k] = _mm256_madd_epi16(                                        \
                            _mm256_maddubs_epi16(_mm256_abs_epi8(wv), _mm256_sign_epi8(qa, wv)), \
                            sc);                                                                 \
                    }                                                                            \
                }                                                                                \
                __m256i isum = gather8(v);                                                       \
                __m256 dw = _mm256_set1_ps(half1(sb + 208));                                     \
                __m256 dx = _mm256_loadu_ps(a->d + 8 * m);                                       \
                acc = _mm256_fmadd_ps(_mm256_mul_ps(dw, dx), _mm256_cvtepi32_ps(isum), acc);     \
            }                                                                                    \
            y[i] = hsum8i(acc);                                                                  \
        }                                                                                        \
    }

/* One token against Q4_K rows: a super-block is eight blocks of 32 four-bit codes q with
 * 6-bit scales sc and mins mn packed in 12 bytes; block values are d·sc·q − dmin·mn. The
 * eight scales and mins are unpacked at once (qs__q4_k_scale_bytes), so lane k gets block
 * k's (d·sc)·dx and (dmin·mn)·dx as dot8_ref's fma operands: the same bits. (The tiled
 * kernel decoded them a block at a time into arrays and stalled reading them back as
 * vectors.) */
#define DOT8_T1_Q4_K_KERNEL(name, TARGET, DOT32)                                                \
    TARGET static void name(float *y, const wdesc *w, int64_t r0, int64_t n, const qs_act8 *a) { \
        const int64_t nsb = w->cols / 256;                                                       \
        const __m256i lo4 = _mm256_set1_epi8(0x0f);                                              \
        for (int64_t i = 0; i < n; i++) {                                                        \
            const uint8_t *row = w->data + (size_t)(r0 + i) * w->row_bytes;                      \
            __m256 acc = _mm256_setzero_ps(), macc = _mm256_setzero_ps();                        \
            for (int64_t m = 0; m < nsb; m++) {                                                  \
                const uint8_t *sb = row + 144 * m;                                               \
                qs__prefetch_ahead(sb, 144);                                                     \
                const int8_t *q = a->q + 256 * m;                                                \
                uint32_t sc[2], mn[2];                                                           \
                qs__q4_k_scale_bytes(sb + 4, sc, mn);                                            \
                const __m256 scf = _mm256_cvtepi32_ps(                                           \
                    _mm256_cvtepu8_epi32(_mm_set_epi32(0, 0, (int)sc[1], (int)sc[0])));          \
                const __m256 mnf = _mm256_cvtepi32_ps(                                           \
                    _mm256_cvtepu8_epi32(_mm_set_epi32(0, 0, (int)mn[1], (int)mn[0])));          \
                const __m256 dw = _mm256_mul_ps(_mm256_set1_ps(half1(sb)), scf);                 \
                const __m256 dm = _mm256_mul_ps(_mm256_set1_ps(half1(sb + 2)), mnf);             \
                __m256i v[8];                                                                    \
                _Pragma("GCC unroll 4") for (int p = 0; p < 4; p++) {                            \
                    const __m256i qs = _mm256_loadu_si256((const __m256i *)(sb + 16 + 32 * p));  \
                    v[2 * p] = DOT32(_mm256_and_si256(qs, lo4),                                  \
                                     _mm256_loadu_si256((const __m256i *)(q + 64 * p)));         \
                    v[2 * p + 1] = DOT32(_mm256_and_si256(_mm256_srli_epi16(qs, 4), lo4),        \
                                         _mm256_loadu_si256((const __m256i *)(q + 64 * p + 32))); \
                }                                                                                \
                const __m256 dx = _mm256_loadu_ps(a->d + 8 * m);                                 \
                const __m256i sx = _mm256_loadu_si256((const __m256i *)(a->sum + 8 * m));        \
                acc = _mm256_fmadd_ps(_mm256_mul_ps(dw, dx), _mm256_cvtepi32_ps(gather8(v)), acc); \
                macc = _mm256_fmadd_ps(_mm256_mul_ps(dm, dx), _mm256_cvtepi32_ps(sx), macc);     \
            }                                                                                    \
            y[i] = hsum8i(acc) - hsum8i(macc);                                                   \
        }                                                                                        \
    }

/* One token against packed 8- or 4-bit rows: each block's codes dotted where they are read,
 * the group's scale and zero correction carried along the row (one lookup per group), the
 * same integers and lanes as the tiled kernel and dot8_ref. 8-bit codes under maddubs go
 * as code − 128 with the sign trick (u8 × s8 pairs must stay below 2^15). */
#define DOT8_T1_PACKED_KERNEL(name, TARGET, DOT32, VNNI)                                         \
    TARGET static void name(float *y, const wdesc *w, int64_t r0, int64_t n, const qs_act8 *a) { \
        const qs_packed_layout *p = w->pk;                                                       \
        const int four = w->fmt == F_P4 || w->fmt == F_P4A;                                      \
        const int64_t C = w->cols, nb = C / 32;                                                  \
        const int64_t bpg = p->gran == QS_PACKED_GROUP ? p->group / 32 : INT64_MAX;              \
        const int zshift = four || (VNNI) ? 0 : 128;                                             \
        for (int64_t i = 0; i < n; i++) {                                                        \
            const int64_t r = r0 + i;                                                            \
            const uint8_t *codes = w->data + (size_t)(four ? r * C / 2 : r * C);                 \
            int64_t gi = pgroup(p, r, 0), in_g = 0;                                              \
            float dwc = pk_scale1(p, w->data, gi);                                               \
            int zc = pk_zero1(p, w->data, gi) - zshift;                                          \
            __m256 acc = _mm256_setzero_ps();                                                    \
            for (int64_t m = 0; 8 * m < nb; m++) {                                               \
                const int nblk = nb - 8 * m < 8 ? (int)(nb - 8 * m) : 8;                         \
                qs__prefetch_ahead(codes + (four ? 128 : 256) * m, four ? 128 : 256);            \
                /* eight whole blocks in one group (rows, tensors, groups of 8k blocks) or two   \
                 * (groups of 4 blocks, g128): the scales as broadcasts, the activations'       \
                 * scales and sums as vector loads (scalar stores then a vector load cannot     \
                 * forward and stalled every group) */                                         \
                const int halves = bpg == 4;                                                     \
                if (nblk == 8 && (bpg == INT64_MAX || bpg % 8 == 0 || halves)) {                 \
                    if (m > 0 && ++in_g == bpg) {                                                \
                        in_g = 0;                                                                \
                        gi++;                                                                    \
                        dwc = pk_scale1(p, w->data, gi);                                         \
                        zc = pk_zero1(p, w->data, gi) - zshift;                                  \
                    }                                                                            \
                    const float d0 = dwc;                                                        \
                    const int z0 = zc;                                                           \
                    in_g += 3;                                                                   \
                    if (halves && ++in_g == bpg) {                                               \
                        in_g = 0;                                                                \
                        gi++;                                                                    \
                        dwc = pk_scale1(p, w->data, gi);                                         \
                        zc = pk_zero1(p, w->data, gi) - zshift;                                  \
                    } else if (!halves) {                                                        \
                        in_g++;                                                                  \
                    }                                                                            \
                    in_g += 3;                                                                   \
                    __m256i v[8];                                                                \
                    _Pragma("GCC unroll 8") for (int k = 0; k < 8; k++) {                        \
                        const int64_t b = 8 * m + k;                                             \
                        __m256i qa = _mm256_loadu_si256((const __m256i *)(a->q + 32 * b));       \
                        if (four) {                                                              \
                            v[k] = DOT32(nibbles(codes + 16 * b, 1), qa);                        \
                        } else {                                                                 \
                            __m256i c8 = _mm256_loadu_si256((const __m256i *)(codes + 32 * b));  \
                            if (VNNI) {                                                          \
                                v[k] = DOT32(c8, qa);                                            \
                            } else {                                                             \
                                c8 = _mm256_xor_si256(c8, _mm256_set1_epi8((char)0x80));         \
                                v[k] = DOT32(_mm256_abs_epi8(c8), _mm256_sign_epi8(qa, c8));     \
                            }                                                                    \
                        }                                                                        \
                    }                                                                            \
                    const __m256 dwv = _mm256_set_m128(_mm_set1_ps(dwc), _mm_set1_ps(d0));       \
                    const __m256i zcv = _mm256_set_m128i(_mm_set1_epi32(zc), _mm_set1_epi32(z0)); \
                    __m256i isum = _mm256_sub_epi32(                                             \
                        gather8(v), _mm256_mullo_epi32(zcv, _mm256_loadu_si256(                  \
                                            (const __m256i *)(a->sum + 8 * m))));                  \
                    acc = _mm256_fmadd_ps(_mm256_mul_ps(dwv, _mm256_loadu_ps(a->d + 8 * m)),     \
                                          _mm256_cvtepi32_ps(isum), acc);                        \
                    continue;                                                                    \
                }                                                                                \
                if (nblk == 8 && bpg == 1) { /* a group per block (g32): eight of each at once */ \
                    if (m > 0) gi++;                                                             \
                    const int64_t g0 = gi;                                                       \
                    gi += 7;                                                                     \
                    const uint8_t *sp = w->data + p->codes_bytes;                                \
                    const __m256 dwv =                                                           \
                        p->fp32_scales                                                           \
                            ? _mm256_loadu_ps((const float *)(const void *)(sp + 4 * g0))        \
                            : _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(sp + 2 * g0)));  \
                    __m256i zcv;                                                                 \
                    if (!p->affine) {                                                            \
                        zcv = _mm256_set1_epi32((1 << (p->bits - 1)) - zshift);                  \
                    } else {                                                                     \
                        const uint8_t *zp = sp + p->scales_bytes;                                \
                        if (p->bits == 8) {                                                      \
                            zcv = _mm256_cvtepu8_epi32(                                            \
                                _mm_loadl_epi64((const __m128i *)(zp + g0)));                      \
                        } else { /* nibbles: group g at zp[g / 2] >> 4 (g & 1) */                \
                            uint64_t z8 = 0;                                                     \
                            memcpy(&z8, zp + g0 / 2, (g0 & 1) ? 5 : 4);                          \
                            const uint32_t z32 = (uint32_t)(z8 >> (4 * (g0 & 1)));               \
                            zcv = _mm256_and_si256(                                              \
                                _mm256_srlv_epi32(_mm256_set1_epi32((int)z32),                   \
                                                  _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28)), \
                                _mm256_set1_epi32(15));                                          \
                        }                                                                        \
                        zcv = _mm256_sub_epi32(zcv, _mm256_set1_epi32(zshift));                  \
                    }                                                                            \
                    __m256i v[8];                                                                \
                    _Pragma("GCC unroll 8") for (int k = 0; k < 8; k++) {                        \
                        const int64_t b = 8 * m + k;                                             \
                        __m256i qa = _mm256_loadu_si256((const __m256i *)(a->q + 32 * b));       \
                        if (four) {                                                              \
                            v[k] = DOT32(nibbles(codes + 16 * b, 1), qa);                        \
                        } else {                                                                 \
                            __m256i c8 = _mm256_loadu_si256((const __m256i *)(codes + 32 * b));  \
                            if (VNNI) {                                                          \
                                v[k] = DOT32(c8, qa);                                            \
                            } else {                                                             \
                                c8 = _mm256_xor_si256(c8, _mm256_set1_epi8((char)0x80));         \
                                v[k] = DOT32(_mm256_abs_epi8(c8), _mm256_sign_epi8(qa, c8));     \
                            }                                                                    \
                        }                                                                        \
                    }                                                                            \
                    __m256i isum = _mm256_sub_epi32(                                             \
                        gather8(v), _mm256_mullo_epi32(zcv, _mm256_loadu_si256(                  \
                                            (const __m256i *)(a->sum + 8 * m))));                  \
                    acc = _mm256_fmadd_ps(_mm256_mul_ps(dwv, _mm256_loadu_ps(a->d + 8 * m)),     \
                                          _mm256_cvtepi32_ps(isum), acc);                        \
                    continue;                                                                    \
                }                                                                                \
                float dwp[8] = {0}, dxp[8] = {0};                                                \
                int32_t zcp[8] = {0}, sxp[8] = {0};                                              \
                __m256i v[8];                                                                    \
                for (int k = 0; k < 8; k++) {                                                    \
                    const int64_t b = 8 * m + k;                                                 \
                    if (k >= nblk) {                                                             \
                        v[k] = _mm256_setzero_si256();                                           \
                        continue;                                                                \
                    }                                                                            \
                    if (b > 0 && ++in_g == bpg) {                                                \
                        in_g = 0;                                                                \
                        gi++;                                                                    \
                        dwc = pk_scale1(p, w->data, gi);                                         \
                        zc = pk_zero1(p, w->data, gi) - zshift;                                  \
                    }                                                                            \
                    __m256i qa = _mm256_loadu_si256((const __m256i *)(a->q + 32 * b));           \
                    if (four) {                                                                  \
                        v[k] = DOT32(nibbles(codes + 16 * b, 1), qa);                            \
                    } else {                                                                     \
                        __m256i c8 = _mm256_loadu_si256((const __m256i *)(codes + 32 * b));      \
                        if (VNNI) {                                                              \
                            v[k] = DOT32(c8, qa);                                                \
                        } else {                                                                 \
                            c8 = _mm256_xor_si256(c8, _mm256_set1_epi8((char)0x80));             \
                            v[k] = DOT32(_mm256_abs_epi8(c8), _mm256_sign_epi8(qa, c8));         \
                        }                                                                        \
                    }                                                                            \
                    dwp[k] = dwc;                                                                \
                    zcp[k] = zc;                                                                 \
                    dxp[k] = a->d[b];                                                            \
                    sxp[k] = a->sum[b];                                                          \
                }                                                                                \
                __m256i isum = _mm256_sub_epi32(                                                 \
                    gather8(v), _mm256_mullo_epi32(_mm256_loadu_si256((const __m256i *)zcp),     \
                                                   _mm256_loadu_si256((const __m256i *)sxp)));   \
                acc = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_loadu_ps(dwp), _mm256_loadu_ps(dxp)), \
                                      _mm256_cvtepi32_ps(isum), acc);                            \
            }                                                                                    \
            y[i] = hsum8i(acc);                                                                  \
        }                                                                                        \
    }

/* Windows of ROW_LANES_MIN_T tokens or more: eight rows at a time, one row per lane. Each
 * row's blocks are decoded once per call (group_decode) into a tile whose vector s of block
 * b holds, in lane r, bytes 4s .. 4s + 3 of row r's block b (an 8 × 8 transpose of 32-bit
 * lanes); a step multiplies it by four activation bytes broadcast to every lane (dpbusd, or
 * maddubs + madd), so a block's eight steps leave row r's exact integer sum in lane r and
 * no horizontal sum is needed (the tiled kernel above spends as much on gather8 as on its
 * products). The int8dot lane j (blocks b ≡ j mod 8) is the loop over b = j, j + 8, ...,
 * the lanes' tree a vertical sum: the operations of dot8_ref on the same values. Signed
 * weights (Q8_0, Q6_K's q − 32, 8-bit codes under maddubs) multiply as |w| · sign(x, w)
 * under maddubs; under VNNI the activations go as unsigned x + 128 (qs_act8.qu) and
 * 128·Σ w, kept per block in the tile, is taken off. Q6_K sums its two sub-blocks of
 * 16 (steps 0-3 and 4-7) apart and weights them by their scales. Two tokens share each
 * load of the tile. */
#define ROW_LANES_MIN_T 8

typedef struct lane_blk {
    __m256i u[8];     /* unsigned operand of step s: codes, or |w| */
    __m256i w[8];     /* signed formats: w, whose signs go to the activations */
    __m256 dw, mn;    /* lane r: row r's block scale; Q4_K's min factor */
    __m256i zc;       /* lane r: zero correction (times the block's Σ q) */
    __m256i sc0, sc1; /* Q6_K: the sub-blocks' scales */
    __m256i ws0, ws1; /* signed, VNNI: 128·Σ w over steps 0-3 and 4-7 */
} lane_blk;

/* r[i] lane j -> r[j] lane i */
QS_TARGET_AVX2 static AI void transpose8x32(__m256i *r) {
    __m256i t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
        u[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
        u[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
        u[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x20);
        r[i + 4] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x31);
    }
}

/* group m (blocks 8m .. 8m + 7) of rows [r, r + nr) (nr <= 8; the other lanes zero) of w
 * into tile[0 .. 8) */
QS_TARGET_AVX2 static AI void lane_tile(lane_blk *tile, const wdesc *w, int64_t r, int nr,
                                        int64_t m, const int vnni) {
    const int fmt = w->fmt;
    const int64_t nb = w->cols / 32;
    {
        grp8 g[8];
        float dw[8][8], mn[8][8];
        int32_t zc[8][8], sc[8][16];
        for (int i = 0; i < 8; i++) {
            if (i < nr) {
                group_decode(&g[i], fmt, w, r + i, m, nb, vnni);
            } else {
                for (int k = 0; k < 8; k++) g[i].w[k] = _mm256_setzero_si256();
                g[i].dw = g[i].mn = _mm256_setzero_ps();
                g[i].zc = _mm256_setzero_si256();
            }
            _mm256_storeu_ps(dw[i], g[i].dw);
            _mm256_storeu_ps(mn[i], g[i].mn);
            _mm256_storeu_si256((__m256i *)zc[i], g[i].zc);
            if (fmt == F_Q6_K)
                for (int j = 0; j < 16; j++)
                    sc[i][j] = i < nr ? ((const int8_t *)(w->data + (size_t)(r + i) * w->row_bytes +
                                                          210 * m + 192))[j]
                                      : 0;
        }
        const int sgn = fmt == F_Q8_0 || fmt == F_Q6_K || (!vnni && (fmt == F_P8 || fmt == F_P8A));
        const int nblk = nb - 8 * m < 8 ? (int)(nb - 8 * m) : 8;
        for (int k = 0; k < nblk; k++) {
            lane_blk *L = &tile[k];
            __m256i v[8];
            for (int i = 0; i < 8; i++) v[i] = g[i].w[k];
            transpose8x32(v);
            __m256i ws[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
            for (int s2 = 0; s2 < 8; s2++) {
                L->w[s2] = v[s2];
                L->u[s2] = sgn ? _mm256_abs_epi8(v[s2]) : v[s2];
                /* Σ of the four signed bytes per lane (pairs of |w| ≤ 128: no saturation) */
                ws[s2 / 4] = _mm256_add_epi32(
                    ws[s2 / 4], _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), v[s2]),
                                                  _mm256_set1_epi16(1)));
            }
            L->ws0 = _mm256_slli_epi32(ws[0], 7);
            L->ws1 = _mm256_slli_epi32(ws[1], 7);
            L->dw = _mm256_setr_ps(dw[0][k], dw[1][k], dw[2][k], dw[3][k], dw[4][k], dw[5][k],
                                   dw[6][k], dw[7][k]);
            L->mn = _mm256_setr_ps(mn[0][k], mn[1][k], mn[2][k], mn[3][k], mn[4][k], mn[5][k],
                                   mn[6][k], mn[7][k]);
            L->zc = _mm256_setr_epi32(zc[0][k], zc[1][k], zc[2][k], zc[3][k], zc[4][k], zc[5][k],
                                      zc[6][k], zc[7][k]);
            if (fmt == F_Q6_K) {
                L->sc0 = _mm256_setr_epi32(sc[0][2 * k], sc[1][2 * k], sc[2][2 * k], sc[3][2 * k],
                                           sc[4][2 * k], sc[5][2 * k], sc[6][2 * k], sc[7][2 * k]);
                L->sc1 = _mm256_setr_epi32(sc[0][2 * k + 1], sc[1][2 * k + 1], sc[2][2 * k + 1],
                                           sc[3][2 * k + 1], sc[4][2 * k + 1], sc[5][2 * k + 1],
                                           sc[6][2 * k + 1], sc[7][2 * k + 1]);
            }
        }
    }
}

QS_TARGET_AVX2 static AI __m256 tree8v(const __m256 *l) {
    return _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(l[0], l[4]), _mm256_add_ps(l[2], l[6])),
                         _mm256_add_ps(_mm256_add_ps(l[1], l[5]), _mm256_add_ps(l[3], l[7])));
}

/* four activation bytes at p, to every lane */
static AI int32_t bytes4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* u8 × s8 groups of four bytes added into eight int32 lanes */
#define STEP_AVX2(acc, u, s)                                                                     \
    _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)))
#define STEP_AVXVNNI(acc, u, s) _mm256_dpbusd_avx_epi32(acc, u, s)
#define STEP_VNNI512(acc, u, s) _mm256_dpbusd_epi32(acc, u, s)

#define DOT8_LANES_KERNEL(name, TARGET, STEP, VNNI)                                              \
    /* one block of row lanes for tokens q0 and q1: their integer sums, exact. off: signed       \
     * weights with activations as x + 128 (VNNI); else sgn: |w| · sign(x, w) */               \
    TARGET static AI void name##_isum(__m256i *out, const lane_blk *L, const int8_t *q0,         \
                                      const int8_t *q1, int fmt, int sgn, int off) {             \
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, b0 = a0, b1 = a0;                          \
        _Pragma("GCC unroll 8") for (int s = 0; s < 8; s++) {                                    \
            __m256i x0 = _mm256_set1_epi32(bytes4(q0 + 4 * s));                                   \
            __m256i x1 = _mm256_set1_epi32(bytes4(q1 + 4 * s));                                   \
            if (off) {                                                                           \
                if (s < 4) {                                                                     \
                    a0 = STEP(a0, x0, L->w[s]);                                                  \
                    a1 = STEP(a1, x1, L->w[s]);                                                  \
                } else {                                                                         \
                    b0 = STEP(b0, x0, L->w[s]);                                                  \
                    b1 = STEP(b1, x1, L->w[s]);                                                  \
                }                                                                                \
                continue;                                                                        \
            }                                                                                    \
            if (sgn) {                                                                           \
                x0 = _mm256_sign_epi8(x0, L->w[s]);                                              \
                x1 = _mm256_sign_epi8(x1, L->w[s]);                                              \
            }                                                                                    \
            if (s < 4) {                                                                         \
                a0 = STEP(a0, L->u[s], x0);                                                      \
                a1 = STEP(a1, L->u[s], x1);                                                      \
            } else {                                                                             \
                b0 = STEP(b0, L->u[s], x0);                                                      \
                b1 = STEP(b1, L->u[s], x1);                                                      \
            }                                                                                    \
        }                                                                                        \
        if (off) {                                                                               \
            a0 = _mm256_sub_epi32(a0, L->ws0), a1 = _mm256_sub_epi32(a1, L->ws0);                \
            b0 = _mm256_sub_epi32(b0, L->ws1), b1 = _mm256_sub_epi32(b1, L->ws1);                \
        }                                                                                        \
        if (fmt == F_Q6_K) {                                                                     \
            out[0] = _mm256_add_epi32(_mm256_mullo_epi32(a0, L->sc0),                              \
                                       _mm256_mullo_epi32(b0, L->sc1));                            \
            out[1] = _mm256_add_epi32(_mm256_mullo_epi32(a1, L->sc0),                              \
                                       _mm256_mullo_epi32(b1, L->sc1));                            \
        } else {                                                                                 \
            out[0] = _mm256_add_epi32(a0, b0);                                                   \
            out[1] = _mm256_add_epi32(a1, b1);                                                   \
        }                                                                                        \
    }                                                                                            \
    TARGET static int name(float *y, int64_t ldy, const wdesc *w, int64_t r0, int64_t n,         \
                           const qs_act8 *a) {                                                   \
        const int fmt = w->fmt, T = a->T;                                                        \
        const int64_t C = w->cols, nb = C / 32, ng = (nb + 7) / 8;                               \
        const int sgn =                                                                            \
            fmt == F_Q8_0 || fmt == F_Q6_K || (!(VNNI) && (fmt == F_P8 || fmt == F_P8A));          \
        const int off = sgn && (VNNI);                                                           \
        const int zcor = fmt == F_Q4_0 || fmt == F_P4 || fmt == F_P4A || fmt == F_P8A ||         \
                         ((VNNI) && fmt == F_P8);                                                \
        /* one group's tile, the lanes' accumulators (T, 8) and min terms */                     \
        const size_t tile_bytes = 8 * sizeof(lane_blk);                                            \
        const size_t acc_bytes = (size_t)T * 8 * sizeof(__m256);                                   \
        uint8_t *mem = aligned_alloc(64, tile_bytes + 2 * acc_bytes);                            \
        if (!mem) return 0;                                                                      \
        lane_blk *tile = (lane_blk *)mem;                                                        \
        __m256 *acc = (__m256 *)(mem + tile_bytes);                                                \
        __m256 *macc = (__m256 *)(mem + tile_bytes + acc_bytes);                                   \
        const int8_t *xq = off ? (const int8_t *)a->qu : a->q; /* off: the codes + 128 */       \
        for (int64_t i0 = 0; i0 < n; i0 += 8) {                                                  \
            const int nr = n - i0 < 8 ? (int)(n - i0) : 8;                                       \
            for (size_t i = 0; i < (size_t)T * 8; i++) acc[i] = macc[i] = _mm256_setzero_ps();   \
            /* group by group: its tile stays in L1 while every token passes through it; lane  \
             * j of a token's accumulator takes blocks j, j + 8, ... in order */                 \
            for (int64_t m = 0; m < ng; m++) {                                                   \
                lane_tile(tile, w, r0 + i0, nr, m, VNNI);                                        \
                const int nblk = nb - 8 * m < 8 ? (int)(nb - 8 * m) : 8;                         \
                for (int t = 0; t < T; t += 2) {                                                 \
                    const int two = t + 1 < T, t1 = two ? t + 1 : t; /* odd last token: twice */ \
                    const int8_t *q0 = xq + (size_t)t * C + 256 * m;                               \
                    const int8_t *q1 = xq + (size_t)t1 * C + 256 * m;                              \
                    const float *dx0 = a->d + (size_t)t * nb + 8 * m;                              \
                    const float *dx1 = a->d + (size_t)t1 * nb + 8 * m;                             \
                    const int32_t *sx0 = a->sum + (size_t)t * nb + 8 * m,                        \
                                  *sx1 = a->sum + (size_t)t1 * nb + 8 * m;                       \
                    __m256 *c0 = acc + (size_t)t * 8, *c1 = acc + (size_t)t1 * 8;                \
                    for (int k = 0; k < nblk; k++) {                                             \
                        const lane_blk *L = &tile[k];                                            \
                        __m256i is[2];                                                           \
                        name##_isum(is, L, q0 + 32 * k, q1 + 32 * k, fmt, sgn, off);              \
                        if (zcor) {                                                              \
                            is[0] = _mm256_sub_epi32(                                            \
                                is[0], _mm256_mullo_epi32(L->zc, _mm256_set1_epi32(sx0[k])));    \
                            is[1] = _mm256_sub_epi32(                                            \
                                is[1], _mm256_mullo_epi32(L->zc, _mm256_set1_epi32(sx1[k])));    \
                        }                                                                        \
                        const __m256 d0 = _mm256_set1_ps(dx0[k]), d1 = _mm256_set1_ps(dx1[k]);   \
                        const __m256 p0 = _mm256_fmadd_ps(_mm256_mul_ps(L->dw, d0),              \
                                                          _mm256_cvtepi32_ps(is[0]), c0[k]);     \
                        const __m256 p1 = _mm256_fmadd_ps(_mm256_mul_ps(L->dw, d1),              \
                                                          _mm256_cvtepi32_ps(is[1]), c1[k]);     \
                        c0[k] = p0;                                                              \
                        if (two) c1[k] = p1;                                                     \
                        if (fmt == F_Q4_K) {                                                     \
                            __m256 *n0 = macc + (size_t)t * 8, *n1 = macc + (size_t)t1 * 8;      \
                            const __m256 e0 = _mm256_fmadd_ps(_mm256_mul_ps(L->mn, d0),          \
                                                      _mm256_set1_ps((float)sx0[k]), n0[k]);       \
                            const __m256 e1 = _mm256_fmadd_ps(_mm256_mul_ps(L->mn, d1),          \
                                                      _mm256_set1_ps((float)sx1[k]), n1[k]);       \
                            n0[k] = e0;                                                          \
                            if (two) n1[k] = e1;                                                 \
                        }                                                                        \
                    }                                                                            \
                }                                                                                \
            }                                                                                    \
            for (int t = 0; t < T; t++) {                                                        \
                __m256 v = tree8v(acc + (size_t)t * 8);                                          \
                if (fmt == F_Q4_K) v = _mm256_sub_ps(v, tree8v(macc + (size_t)t * 8));           \
                float out[8];                                                                    \
                _mm256_storeu_ps(out, v);                                                        \
                for (int i = 0; i < nr; i++) y[(size_t)t * ldy + i0 + i] = out[i];              \
            }                                                                                    \
        }                                                                                        \
        free(mem);                                                                               \
        return 1;                                                                                \
    }

#define DOT8_KERNEL(name, TARGET, DOT32, STEP, VNNI)                                             \
    DOT8_LANES_KERNEL(name##_lanes, TARGET, STEP, VNNI)                                          \
    DOT8_T1_KERNEL(name##_t1_q8_0, TARGET, DOT32, F_Q8_0, 34)                                    \
    DOT8_T1_KERNEL(name##_t1_q4_0, TARGET, DOT32, F_Q4_0, 18)                                    \
    DOT8_T1_Q6_K_KERNEL(name##_t1_q6_k, TARGET)                                                  \
    DOT8_T1_Q4_K_KERNEL(name##_t1_q4_k, TARGET, DOT32)                                           \
    DOT8_T1_PACKED_KERNEL(name##_t1_packed, TARGET, DOT32, VNNI)                                 \
    TARGET static int name(float *y, int64_t ldy, const wdesc *w, int64_t r0, int64_t n,         \
                           const qs_act8 *a) {                                                   \
        const int fmt = w->fmt;                                                                  \
        if (fmt == F_NONE || a->C != w->cols) return 0;                                          \
        if (a->T == 1 && fmt == F_Q8_0) {                                                        \
            name##_t1_q8_0(y, w, r0, n, a);                                                      \
            return 1;                                                                            \
        }                                                                                        \
        if (a->T == 1 && fmt == F_Q4_0) {                                                        \
            name##_t1_q4_0(y, w, r0, n, a);                                                      \
            return 1;                                                                            \
        }                                                                                        \
        if (a->T == 1 && fmt == F_Q6_K) {                                                        \
            name##_t1_q6_k(y, w, r0, n, a);                                                      \
            return 1;                                                                            \
        }                                                                                        \
        if (a->T == 1 && fmt == F_Q4_K) {                                                        \
            name##_t1_q4_k(y, w, r0, n, a);                                                      \
            return 1;                                                                            \
        }                                                                                        \
        if (a->T == 1 && is_packed(fmt)) {                                                       \
            name##_t1_packed(y, w, r0, n, a);                                                    \
            return 1;                                                                            \
        }                                                                                        \
        if (a->T >= ROW_LANES_MIN_T && name##_lanes(y, ldy, w, r0, n, a)) return 1;              \
        const int64_t C = w->cols, nb = C / 32, ng = (nb + 7) / 8;                               \
        for (int64_t i = 0; i < n; i++) {                                                        \
            const int64_t r = r0 + i;                                                            \
            for (int t0 = 0; t0 < a->T; t0 += 4) {                                               \
                const int NT = a->T - t0 < 4 ? a->T - t0 : 4;                                    \
                __m256 acc[4], macc[4];                                                          \
                for (int k = 0; k < 4; k++) acc[k] = macc[k] = _mm256_setzero_ps();              \
                for (int64_t m = 0; m < ng; m++) {                                               \
                    grp8 g;                                                                      \
                    group_decode(&g, fmt, w, r, m, nb, VNNI);                                    \
                    for (int tt = 0; tt < NT; tt++) {                                            \
                        const size_t t = (size_t)(t0 + tt);                                      \
                        const int8_t *q = a->q + t * C + 256 * m;                                \
                        __m256i v[8];                                                            \
                        for (int k = 0; k < 8; k++) {                                            \
                            if (k >= g.nblk) {                                                   \
                                v[k] = _mm256_setzero_si256();                                   \
                                continue;                                                        \
                            }                                                                    \
                            __m256i qa = _mm256_loadu_si256((const __m256i *)(q + 32 * k));      \
                            if (fmt == F_Q6_K) /* 16-bit pairs summed under their scales */      \
                                v[k] = _mm256_madd_epi16(                                        \
                                    _mm256_maddubs_epi16(_mm256_abs_epi8(g.w[k]),                \
                                                         _mm256_sign_epi8(qa, g.w[k])),          \
                                    g.sc16[k]);                                                  \
                            else                                                                 \
                                v[k] = g.signed_w ? DOT32(_mm256_abs_epi8(g.w[k]),               \
                                                          _mm256_sign_epi8(qa, g.w[k]))          \
                                                  : DOT32(g.w[k], qa);                           \
                        }                                                                        \
                        __m256i isum = gather8(v);                                               \
                        const float *dxp = a->d + t * nb + 8 * m;                                \
                        const int32_t *sxp = a->sum + t * nb + 8 * m;                            \
                        __m256 dx;                                                               \
                        __m256i sx;                                                              \
                        if (g.nblk == 8) {                                                       \
                            dx = _mm256_loadu_ps(dxp);                                           \
                            sx = _mm256_loadu_si256((const __m256i *)sxp);                       \
                        } else {                                                                 \
                            float dpad[8] = {0};                                                 \
                            int32_t spad[8] = {0};                                               \
                            memcpy(dpad, dxp, sizeof(float) * g.nblk);                           \
                            memcpy(spad, sxp, sizeof(int32_t) * g.nblk);                         \
                            dx = _mm256_loadu_ps(dpad);                                          \
                            sx = _mm256_loadu_si256((const __m256i *)spad);                      \
                        }                                                                        \
                        if (g.has_zc) isum = _mm256_sub_epi32(isum, _mm256_mullo_epi32(g.zc, sx)); \
                        acc[tt] = _mm256_fmadd_ps(_mm256_mul_ps(g.dw, dx),                       \
                                                  _mm256_cvtepi32_ps(isum), acc[tt]);            \
                        if (fmt == F_Q4_K)                                                       \
                            macc[tt] = _mm256_fmadd_ps(_mm256_mul_ps(g.mn, dx),                  \
                                                       _mm256_cvtepi32_ps(sx), macc[tt]);        \
                    }                                                                            \
                }                                                                                \
                for (int tt = 0; tt < NT; tt++) {                                                \
                    float v = hsum8i(acc[tt]);                                                   \
                    if (fmt == F_Q4_K) v -= hsum8i(macc[tt]);                                    \
                    y[(size_t)(t0 + tt) * ldy + i] = v;                                          \
                }                                                                                \
            }                                                                                    \
        }                                                                                        \
        return 1;                                                                                \
    }

DOT8_KERNEL(dot8_avx2, QS_TARGET_AVX2, DOT32_AVX2, STEP_AVX2, 0)
DOT8_KERNEL(dot8_avxvnni, __attribute__((target("avx2,fma,f16c,popcnt,avxvnni"))),
            DOT32_AVXVNNI, STEP_AVXVNNI, 1)
DOT8_KERNEL(dot8_vnni512,
            __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx512vnni,fma,f16c,popcnt"))),
            DOT32_VNNI512, STEP_VNNI512, 1)
#endif

static int vnni_allowed = 1;

void qs_linear_vnni_allow(int on) { vnni_allowed = on != 0; }

const char *qs_linear_int8dot_kernel_name(void) {
#if QS_HAVE_X86_SIMD
    int path = qs_cpu_path();
    unsigned f = qs_cpu_features();
    if (path >= QS_CPU_AVX512 && vnni_allowed && (f & QS_CPU_HAS_AVX512_VNNI)) return "avx512-vnni";
    if (path >= QS_CPU_AVX2 && vnni_allowed && (f & QS_CPU_HAS_AVX_VNNI)) return "avx-vnni";
    if (path >= QS_CPU_AVX2) return "avx2";
#endif
    return "scalar";
}

static int dot8_any(float *y, int64_t ldy, const wdesc *w, int64_t r0, int64_t n,
                    const qs_act8 *a) {
#if QS_HAVE_X86_SIMD
    int path = qs_cpu_path();
    unsigned f = qs_cpu_features();
    if (path >= QS_CPU_AVX512 && vnni_allowed && (f & QS_CPU_HAS_AVX512_VNNI))
        return dot8_vnni512(y, ldy, w, r0, n, a);
    if (path >= QS_CPU_AVX2 && vnni_allowed && (f & QS_CPU_HAS_AVX_VNNI))
        return dot8_avxvnni(y, ldy, w, r0, n, a);
    if (path >= QS_CPU_AVX2) return dot8_avx2(y, ldy, w, r0, n, a);
#endif
    return dot8_ref(y, ldy, w, r0, n, a);
}

/* the table's entries: one per type, fast and _ref */
#define DOT8_ENTRIES(tag, TYPE, BS, TS)                                                        \
    QS__DOT8(tag) {                                                                            \
        wdesc w = {data, cols, (BS) ? (size_t)(cols / ((BS) ? (BS) : 1)) * (TS) : 0, layout,   \
                   dot8_format(TYPE, cols, layout)};                                           \
        return dot8_any(y, ldy, &w, r0, n, a);                                                 \
    }                                                                                          \
    QS__DOT8(tag##_ref) {                                                                      \
        wdesc w = {data, cols, (BS) ? (size_t)(cols / ((BS) ? (BS) : 1)) * (TS) : 0, layout,   \
                   dot8_format(TYPE, cols, layout)};                                           \
        return dot8_ref(y, ldy, &w, r0, n, a);                                                 \
    }
DOT8_ENTRIES(q8_0, QS_GGML_Q8_0, 32, 34)
DOT8_ENTRIES(q4_0, QS_GGML_Q4_0, 32, 18)
DOT8_ENTRIES(q4_k, QS_GGML_Q4_K, 256, 144)
DOT8_ENTRIES(q6_k, QS_GGML_Q6_K, 256, 210)
DOT8_ENTRIES(packed, QS_DTYPE_PACKED, 0, 0)
