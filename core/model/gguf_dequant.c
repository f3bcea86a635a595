/* Dequantization of ggml tensor types to float32 (see gguf_dequant.h).
 *
 * Block layouts (ggml-common.h; "half" is IEEE binary16, all fields little-endian):
 *   Q4_0  32 values, 18 B: half d; u8 qs[16]          x = d·(nibble − 8)
 *   Q4_1  32 values, 20 B: half d, m; u8 qs[16]       x = d·nibble + m
 *   Q5_0  32 values, 22 B: half d; u32 qh; u8 qs[16]  x = d·((nibble | hbit<<4) − 16)
 *   Q5_1  32 values, 24 B: half d, m; u32 qh; qs[16]  x = d·(nibble | hbit<<4) + m
 *   Q8_0  32 values, 34 B: half d; i8 qs[32]          x = d·q
 *   Q8_1  32 values, 36 B: half d, s; i8 qs[32]       x = d·q
 *   In the 32-value types byte j's low nibble is value j and its high nibble value j + 16.
 *   Q2_K 256 values,  84 B: u8 scales[16]; u8 qs[64]; half d, dmin
 *   Q3_K 256 values, 110 B: u8 hmask[32]; u8 qs[64]; u8 scales[12]; half d
 *   Q4_K 256 values, 144 B: half d, dmin; u8 scales[12]; u8 qs[128]
 *   Q5_K 256 values, 176 B: half d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]
 *   Q6_K 256 values, 210 B: u8 ql[128]; u8 qh[64]; i8 scales[16]; half d
 *   Q8_K 256 values, 292 B: f32 d; i8 qs[256]; i16 bsums[16]
 *   IQ4_NL 32 values, 18 B: half d; u8 qs[16]          x = d·kv[nibble]
 *   IQ4_XS 256 values, 136 B: half d; u16 scales_h; u8 scales_l[4]; u8 qs[128]
 * The K-quant sub-block orders are spelled out beside each function.
 */
#include "gguf_dequant.h"

#include <math.h>
#include <string.h>

#include "error.h"
#include "fp16.h"

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t rd64(const uint8_t *p) {
    return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32);
}
static inline float half(const uint8_t *p) { return qs_fp16_to_f32(rd16(p)); }

/* ---- plain types (block size 1) ---- */

void qs_dequant_f32_ref(float *y, const uint8_t *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        uint32_t b = rd32(x + 4 * i);
        memcpy(&y[i], &b, 4);
    }
}
void qs_dequant_f16_ref(float *y, const uint8_t *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = qs_fp16_to_f32(rd16(x + 2 * i));
}
void qs_dequant_bf16_ref(float *y, const uint8_t *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = qs_bf16_to_f32(rd16(x + 2 * i));
}
void qs_dequant_f64_ref(float *y, const uint8_t *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        uint64_t b = rd64(x + 8 * i);
        double d;
        memcpy(&d, &b, 8);
        y[i] = (float)d;
    }
}
void qs_dequant_i8_ref(float *y, const uint8_t *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = (float)(int8_t)x[i];
}
void qs_dequant_i16_ref(float *y, const uint8_t *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = (float)(int16_t)rd16(x + 2 * i);
}
void qs_dequant_i32_ref(float *y, const uint8_t *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = (float)(int32_t)rd32(x + 4 * i);
}

/* ---- 32-value blocks ---- */

void qs_dequant_q4_0_ref(float *y, const uint8_t *x, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += 18, y += 32) {
        const float d = half(x);
        const uint8_t *qs = x + 2;
        for (int j = 0; j < 16; j++) {
            y[j] = (float)((qs[j] & 0x0f) - 8) * d;
            y[j + 16] = (float)((qs[j] >> 4) - 8) * d;
        }
    }
}

void qs_dequant_q4_1_ref(float *y, const uint8_t *x, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += 20, y += 32) {
        const float d = half(x), m = half(x + 2);
        const uint8_t *qs = x + 4;
        for (int j = 0; j < 16; j++) {
            y[j] = (float)(qs[j] & 0x0f) * d + m;
            y[j + 16] = (float)(qs[j] >> 4) * d + m;
        }
    }
}

/* qh bit j is the fifth bit of value j (j = 0..31). */
void qs_dequant_q5_0_ref(float *y, const uint8_t *x, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += 22, y += 32) {
        const float d = half(x);
        const uint32_t qh = rd32(x + 2);
        const uint8_t *qs = x + 6;
        for (int j = 0; j < 16; j++) {
            int lo = (qs[j] & 0x0f) | (int)(((qh >> j) & 1) << 4);
            int hi = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            y[j] = (float)(lo - 16) * d;
            y[j + 16] = (float)(hi - 16) * d;
        }
    }
}

void qs_dequant_q5_1_ref(float *y, const uint8_t *x, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += 24, y += 32) {
        const float d = half(x), m = half(x + 2);
        const uint32_t qh = rd32(x + 4);
        const uint8_t *qs = x + 8;
        for (int j = 0; j < 16; j++) {
            int lo = (qs[j] & 0x0f) | (int)(((qh >> j) & 1) << 4);
            int hi = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            y[j] = (float)lo * d + m;
            y[j + 16] = (float)hi * d + m;
        }
    }
}

void qs_dequant_q8_0_ref(float *y, const uint8_t *x, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += 34, y += 32) {
        const float d = half(x);
        for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)x[2 + j] * d;
    }
}

void qs_dequant_q8_1_ref(float *y, const uint8_t *x, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += 36, y += 32) {
        const float d = half(x); /* x + 2 holds s = d·Σq, not needed to dequantize */
        for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)x[4 + j] * d;
    }
}

/* The 4-bit non-linear grid shared by IQ4_NL and IQ4_XS. */
static const int8_t iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                        1,    13,   25,  38,  53,  69,  89,  113};

void qs_dequant_iq4_nl_ref(float *y, const uint8_t *x, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += 18, y += 32) {
        const float d = half(x);
        const uint8_t *qs = x + 2;
        for (int j = 0; j < 16; j++) {
            y[j] = d * (float)iq4nl_values[qs[j] & 0x0f];
            y[j + 16] = d * (float)iq4nl_values[qs[j] >> 4];
        }
    }
}

/* ---- 256-value super-blocks ---- */

/* Q2_K: 16 sub-blocks of 16 values; scales[s] low nibble scales sub-block s, high nibble is
 * its min; value = d·sc·q − dmin·mn, q two bits. Values 128h + 32j + l (h half, j = 0..3,
 * l = 0..31) take bits 2j..2j+1 of qs[32h + l]; sub-block index is 8h + 2j + l/16. */
void qs_dequant_q2_k_ref(float *y, const uint8_t *x, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += 84, y += 256) {
        const uint8_t *scales = x, *qs = x + 16;
        const float d = half(x + 80), dmin = half(x + 82);
        for (int h = 0; h < 2; h++)
            for (int j = 0; j < 4; j++)
                for (int l = 0; l < 32; l++) {
                    int s = 8 * h + 2 * j + l / 16;
                    const float dl = d * (float)(scales[s] & 0x0f);
                    const float ml = dmin * (float)(scales[s] >> 4);
                    int q = (qs[32 * h + l] >> (2 * j)) & 3;
                    y[128 * h + 32 * j + l] = dl * (float)q - ml;
                }
    }
}

/* Q3_K: 16 sub-blocks of 16 values with 6-bit signed scales (stored +32): the low 4 bits of
 * scale s are nibble (s / 8) of scales[s % 8], the high 2 bits are bits 2(s/4)..+1 of
 * scales[8 + s % 4]. Value 128h + 32j + l has low bits 2j..2j+1 of qs[32h + l] and its third
 * bit in bit (4h + j) of hmask[l]; a clear high bit means q − 4. */
void qs_dequant_q3_k_ref(float *y, const uint8_t *x, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += 110, y += 256) {
        const uint8_t *hmask = x, *qs = x + 32, *sc = x + 96;
        const float d = half(x + 108);
        int scale[16];
        for (int s = 0; s < 16; s++) {
            int lo = s < 8 ? (sc[s] & 0x0f) : (sc[s - 8] >> 4);
            int hi = (sc[8 + s % 4] >> (2 * (s / 4))) & 3;
            scale[s] = (lo | (hi << 4)) - 32;
        }
        for (int h = 0; h < 2; h++)
            for (int j = 0; j < 4; j++)
                for (int l = 0; l < 32; l++) {
                    const float dl = d * (float)scale[8 * h + 2 * j + l / 16];
                    int q = (qs[32 * h + l] >> (2 * j)) & 3;
                    if (!(hmask[l] & (1u << (4 * h + j)))) q -= 4;
                    y[128 * h + 32 * j + l] = dl * (float)q;
                }
    }
}

/* The 6-bit scale and min of sub-block s (0..7) packed in 12 bytes (Q4_K, Q5_K): for s < 4
 * the low 6 bits of bytes s and s + 4; otherwise the nibbles of byte s + 4 with the top two
 * bits of bytes s − 4 (scale) and s (min) as bits 4..5. */
static inline void k4_scale_min(int s, const uint8_t *q, int *sc, int *mn) {
    if (s < 4) {
        *sc = q[s] & 63;
        *mn = q[s + 4] & 63;
    } else {
        *sc = (q[s + 4] & 0x0f) | ((q[s - 4] >> 6) << 4);
        *mn = (q[s + 4] >> 4) | ((q[s] >> 6) << 4);
    }
}

/* Q4_K: 8 sub-blocks of 32; value = d·sc·q − dmin·mn. Values 64p + l (l < 32) are the low
 * nibbles of qs[32p + l] (sub-block 2p), values 64p + 32 + l the high nibbles (2p + 1). */
void qs_dequant_q4_k_ref(float *y, const uint8_t *x, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += 144, y += 256) {
        const float d = half(x), dmin = half(x + 2);
        const uint8_t *scales = x + 4, *qs = x + 16;
        for (int p = 0; p < 4; p++) {
            int sc0, mn0, sc1, mn1;
            k4_scale_min(2 * p, scales, &sc0, &mn0);
            k4_scale_min(2 * p + 1, scales, &sc1, &mn1);
            const float d0 = d * (float)sc0, m0 = dmin * (float)mn0;
            const float d1 = d * (float)sc1, m1 = dmin * (float)mn1;
            for (int l = 0; l < 32; l++) {
                y[64 * p + l] = d0 * (float)(qs[32 * p + l] & 0x0f) - m0;
                y[64 * p + 32 + l] = d1 * (float)(qs[32 * p + l] >> 4) - m1;
            }
        }
    }
}

/* Q5_K: as Q4_K, plus a fifth bit for value 32s + l (sub-block s) in bit s of qh[l]. */
void qs_dequant_q5_k_ref(float *y, const uint8_t *x, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += 176, y += 256) {
        const float d = half(x), dmin = half(x + 2);
        const uint8_t *scales = x + 4, *qh = x + 16, *qs = x + 48;
        for (int p = 0; p < 4; p++) {
            int sc0, mn0, sc1, mn1;
            k4_scale_min(2 * p, scales, &sc0, &mn0);
            k4_scale_min(2 * p + 1, scales, &sc1, &mn1);
            const float d0 = d * (float)sc0, m0 = dmin * (float)mn0;
            const float d1 = d * (float)sc1, m1 = dmin * (float)mn1;
            for (int l = 0; l < 32; l++) {
                int q0 = (qs[32 * p + l] & 0x0f) | (((qh[l] >> (2 * p)) & 1) << 4);
                int q1 = (qs[32 * p + l] >> 4) | (((qh[l] >> (2 * p + 1)) & 1) << 4);
                y[64 * p + l] = d0 * (float)q0 - m0;
                y[64 * p + 32 + l] = d1 * (float)q1 - m1;
            }
        }
    }
}

/* Q6_K: 16 sub-blocks of 16 with signed 8-bit scales; q is 6 bits, stored +32. In each half
 * h (128 values), for l < 32 and k = 0..3 value 128h + 32k + l takes the low nibble (k < 2)
 * or high nibble (k >= 2) of ql[64h + l + 32(k & 1)] and bits 2k..2k+1 of qh[32h + l]; its
 * scale is scales[8h + 2k + l/16]. */
void qs_dequant_q6_k_ref(float *y, const uint8_t *x, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += 210, y += 256) {
        const uint8_t *ql = x, *qh = x + 128;
        const int8_t *scales = (const int8_t *)(x + 192);
        const float d = half(x + 208);
        for (int h = 0; h < 2; h++)
            for (int k = 0; k < 4; k++)
                for (int l = 0; l < 32; l++) {
                    uint8_t lbyte = ql[64 * h + l + 32 * (k & 1)];
                    int lo = (k < 2) ? (lbyte & 0x0f) : (lbyte >> 4);
                    int hi = (qh[32 * h + l] >> (2 * k)) & 3;
                    int q = (lo | (hi << 4)) - 32;
                    y[128 * h + 32 * k + l] = d * (float)scales[8 * h + 2 * k + l / 16] * (float)q;
                }
    }
}

void qs_dequant_q8_k_ref(float *y, const uint8_t *x, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += 292, y += 256) {
        uint32_t bits = rd32(x);
        float d;
        memcpy(&d, &bits, 4);
        for (int j = 0; j < 256; j++) y[j] = d * (float)(int8_t)x[4 + j];
    }
}

/* IQ4_XS: 8 sub-blocks of 32; 6-bit scale (stored +32) = nibble (s & 1) of scales_l[s/2]
 * with bits 2s..2s+1 of scales_h on top; values as IQ4_NL within each sub-block. */
void qs_dequant_iq4_xs_ref(float *y, const uint8_t *x, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += 136, y += 256) {
        const float d = half(x);
        const uint16_t sh = rd16(x + 2);
        const uint8_t *sl = x + 4, *qs = x + 8;
        for (int s = 0; s < 8; s++) {
            int ls = ((sl[s / 2] >> (4 * (s & 1))) & 0x0f) | (((sh >> (2 * s)) & 3) << 4);
            const float dl = d * (float)(ls - 32);
            for (int j = 0; j < 16; j++) {
                y[32 * s + j] = dl * (float)iq4nl_values[qs[16 * s + j] & 0x0f];
                y[32 * s + j + 16] = dl * (float)iq4nl_values[qs[16 * s + j] >> 4];
            }
        }
    }
}

