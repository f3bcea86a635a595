/* Dequantization of every supported ggml type, on hand-built blocks.
 *
 * Each block is packed here from chosen integer codes and scales, following the *packing*
 * that ggml's quantizers use (the opposite direction from the dequantizer under test); the
 * expected floats come from the codes in double precision. A few values are also spelled
 * out literally. Half-precision scales are decoded by an independent formula. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "fp16.h"
#include "dtype.h"
#include "gguf_dequant.h"
#include "safetensors.h"

/* Named tolerances */
#define MAX_DEQUANT_REL_ERROR 1e-6 /* float rounding of the scale products */
#define MAX_DEQUANT_ABS_ERROR 1e-9 /* near zero, where a relative bound means nothing */

static uint32_t rng = 12345;
static int rnd(int n) { /* 0..n-1 */
    rng = rng * 1664525u + 1013904223u;
    return (int)((rng >> 8) % (uint32_t)n);
}

/* binary16 by the textbook formula, in double */
static double half_value(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 0)
        v = ldexp(m, -24);
    else if (e == 31)
        v = m ? NAN : INFINITY;
    else
        v = ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* Compares y[0..n) to want[0..n) with float rounding tolerance; returns the max abs error. */
static double compare(const float *y, const double *want, int n, const char *label) {
    double worst = 0;
    int bad = -1;
    for (int i = 0; i < n; i++) {
        double err = fabs((double)y[i] - want[i]);
        if (err > worst) worst = err;
        if (err > MAX_DEQUANT_REL_ERROR * fabs(want[i]) + MAX_DEQUANT_ABS_ERROR && bad < 0) bad = i;
    }
    CHECK_MSG(bad < 0, "%s: value %d is %.9g, expected %.9g", label, bad, bad >= 0 ? y[bad] : 0.0,
              bad >= 0 ? want[bad] : 0.0);
    return worst;
}

static void test_fp16(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        double want = half_value((uint16_t)h);
        float got = qs_fp16_to_f32((uint16_t)h);
        if (isnan(want) ? !isnan(got) : (double)got != want) bad++;
        if (!isnan(want) && !!signbit(got) != !!signbit(want)) bad++;
    }
    CHECK_MSG(bad == 0, "%d of 65536 half values decoded wrong", bad);
    CHECK(qs_fp16_to_f32(0x3c00) == 1.0f);
    CHECK(qs_fp16_to_f32(0xc000) == -2.0f);
    CHECK(qs_fp16_to_f32(0x7bff) == 65504.0f);
    CHECK(qs_fp16_to_f32(0x0001) == 0x1p-24f);
    CHECK(isinf(qs_fp16_to_f32(0x7c00)));
    CHECK(qs_bf16_to_f32(0x3f80) == 1.0f);
    CHECK(qs_bf16_to_f32(0xc040) == -3.0f);
    CHECK(qs_bf16_to_f32(0x4049) == 3.140625f);
}

static void test_plain(void) {
    uint8_t x[32];
    float y[8];
    /* F32 1.5, -2 ; F16 0.5, -65504 ; BF16 1, -3 */
    float f[2] = {1.5f, -2.0f};
    memcpy(x, f, 8);
    qs_dequant_f32_ref(y, x, 2);
    CHECK(y[0] == 1.5f && y[1] == -2.0f);
    put16(x, 0x3800);
    put16(x + 2, 0xfbff);
    qs_dequant_f16_ref(y, x, 2);
    CHECK(y[0] == 0.5f && y[1] == -65504.0f);
    put16(x, 0x3f80);
    put16(x + 2, 0xc040);
    qs_dequant_bf16_ref(y, x, 2);
    CHECK(y[0] == 1.0f && y[1] == -3.0f);
    double d = -0.25;
    memcpy(x, &d, 8);
    qs_dequant_f64_ref(y, x, 1);
    CHECK(y[0] == -0.25f);
    x[0] = 0xff;
    x[1] = 0x7f;
    qs_dequant_i8_ref(y, x, 2);
    CHECK(y[0] == -1.0f && y[1] == 127.0f);
    put16(x, 0x8000);
    qs_dequant_i16_ref(y, x, 1);
    CHECK(y[0] == -32768.0f);
    x[0] = 0xfe;
    x[1] = 0xff;
    x[2] = 0xff;
    x[3] = 0xff;
    qs_dequant_i32_ref(y, x, 1);
    CHECK(y[0] == -2.0f);
}

/* ---- 32-value types ---- */

static void test_q4_0(void) {
    uint8_t blk[18];
    float y[32];
    double want[32];
    /* literal: d = 0.5, byte 0 = 0x9f → y[0] = (15 − 8)·0.5 = 3.5, y[16] = (9 − 8)·0.5 = 0.5 */
    memset(blk, 0x88, sizeof blk); /* all codes 8 → 0 */
    put16(blk, 0x3800);
    blk[2] = 0x9f;
    blk[17] = 0x01; /* byte 15: value 15 low nibble 1 → −3.5, value 31 high nibble 0 → −4 */
    qs_dequant_q4_0_ref(y, blk, 1);
    CHECK(y[0] == 3.5f && y[16] == 0.5f && y[1] == 0.0f && y[15] == -3.5f && y[31] == -4.0f);
    /* random codes */
    for (int rep = 0; rep < 20; rep++) {
        int q[32];
        uint16_t dh = (uint16_t)(0x2000 + rnd(0x2000) + (rnd(2) << 15));
        put16(blk, dh);
        for (int i = 0; i < 32; i++) q[i] = rnd(16);
        for (int j = 0; j < 16; j++) blk[2 + j] = (uint8_t)(q[j] | (q[j + 16] << 4));
        for (int i = 0; i < 32; i++) want[i] = (q[i] - 8) * half_value(dh);
        qs_dequant_q4_0_ref(y, blk, 1);
        compare(y, want, 32, "Q4_0");
    }
}

static void test_q4_1(void) {
    uint8_t blk[20];
    float y[32];
    double want[32];
    for (int rep = 0; rep < 20; rep++) {
        int q[32];
        uint16_t dh = (uint16_t)(0x2000 + rnd(0x2000)), mh = (uint16_t)(0xa000 + rnd(0x2000));
        put16(blk, dh);
        put16(blk + 2, mh);
        for (int i = 0; i < 32; i++) q[i] = rnd(16);
        for (int j = 0; j < 16; j++) blk[4 + j] = (uint8_t)(q[j] | (q[j + 16] << 4));
        for (int i = 0; i < 32; i++) want[i] = q[i] * half_value(dh) + half_value(mh);
        qs_dequant_q4_1_ref(y, blk, 1);
        compare(y, want, 32, "Q4_1");
    }
}

/* Q5: value i's fifth bit is bit i of the u32 qh */
static void pack_q5(uint8_t *qh4, uint8_t *qs16, const int *q) {
    uint32_t qh = 0;
    for (int i = 0; i < 32; i++) qh |= (uint32_t)(q[i] >> 4) << i;
    for (int k = 0; k < 4; k++) qh4[k] = (uint8_t)(qh >> (8 * k));
    for (int j = 0; j < 16; j++) qs16[j] = (uint8_t)((q[j] & 15) | ((q[j + 16] & 15) << 4));
}

static void test_q5(void) {
    uint8_t b0[22], b1[24];
    float y[32];
    double want[32];
    /* literal Q5_0: d = 1, all codes 16 (→ 0) except value 0 = 31 (→ 15) and value 17 = 0 (→ −16)
     */
    int q[32];
    for (int i = 0; i < 32; i++) q[i] = 16;
    q[0] = 31;
    q[17] = 0;
    put16(b0, 0x3c00);
    pack_q5(b0 + 2, b0 + 6, q);
    qs_dequant_q5_0_ref(y, b0, 1);
    CHECK(y[0] == 15.0f && y[17] == -16.0f && y[1] == 0.0f && y[31] == 0.0f);
    for (int rep = 0; rep < 20; rep++) {
        uint16_t dh = (uint16_t)(0x2000 + rnd(0x2000)), mh = (uint16_t)(0x2000 + rnd(0x2000));
        for (int i = 0; i < 32; i++) q[i] = rnd(32);
        put16(b0, dh);
        pack_q5(b0 + 2, b0 + 6, q);
        for (int i = 0; i < 32; i++) want[i] = (q[i] - 16) * half_value(dh);
        qs_dequant_q5_0_ref(y, b0, 1);
        compare(y, want, 32, "Q5_0");
        put16(b1, dh);
        put16(b1 + 2, mh);
        pack_q5(b1 + 4, b1 + 8, q);
        for (int i = 0; i < 32; i++) want[i] = q[i] * half_value(dh) + half_value(mh);
        qs_dequant_q5_1_ref(y, b1, 1);
        compare(y, want, 32, "Q5_1");
    }
}

static void test_q8(void) {
    uint8_t b0[34 * 2], b1[36];
    float y[64];
    double want[64];
    /* literal Q8_0: d = 0.25, codes −128 and 127 → −32 and 31.75 */
    memset(b0, 0, sizeof b0);
    put16(b0, 0x3400);
    b0[2] = 0x80;
    b0[3] = 0x7f;
    qs_dequant_q8_0_ref(y, b0, 1);
    CHECK(y[0] == -32.0f && y[1] == 31.75f && y[2] == 0.0f);
    for (int rep = 0; rep < 20; rep++) {
        for (int b = 0; b < 2; b++) {
            uint16_t dh = (uint16_t)(0x1000 + rnd(0x3000) + (rnd(2) << 15));
            put16(b0 + 34 * b, dh);
            for (int i = 0; i < 32; i++) {
                int q = rnd(256) - 128;
                b0[34 * b + 2 + i] = (uint8_t)(int8_t)q;
                want[32 * b + i] = q * half_value(dh);
            }
        }
        qs_dequant_q8_0_ref(y, b0, 2);
        compare(y, want, 64, "Q8_0");
        memcpy(b1, b0, 2);
        put16(b1 + 2, 0x7bff); /* s: ignored */
        memcpy(b1 + 4, b0 + 2, 32);
        qs_dequant_q8_1_ref(y, b1, 1);
        compare(y, want, 32, "Q8_1");
    }
}

static const int iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                              1,    13,   25,  38,  53,  69,  89,  113};

static void test_iq4(void) {
    uint8_t b[136];
    float y[256];
    double want[256];
    int q[256];
    uint16_t dh = 0x2a00;
    put16(b, dh);
    for (int i = 0; i < 32; i++) q[i] = rnd(16);
    for (int j = 0; j < 16; j++) b[2 + j] = (uint8_t)(q[j] | (q[j + 16] << 4));
    for (int i = 0; i < 32; i++) want[i] = half_value(dh) * iq4nl[q[i]];
    qs_dequant_iq4_nl_ref(y, b, 1);
    compare(y, want, 32, "IQ4_NL");
    /* IQ4_XS: 8 six-bit scales, stored +32 */
    int ls[8];
    uint16_t sh = 0;
    memset(b, 0, sizeof b);
    put16(b, dh);
    for (int s = 0; s < 8; s++) {
        ls[s] = rnd(64);
        b[4 + s / 2] |= (uint8_t)((ls[s] & 15) << (4 * (s % 2)));
        sh |= (uint16_t)((ls[s] >> 4) << (2 * s));
    }
    put16(b + 2, sh);
    for (int i = 0; i < 256; i++) q[i] = rnd(16);
    for (int s = 0; s < 8; s++)
        for (int j = 0; j < 16; j++)
            b[8 + 16 * s + j] = (uint8_t)(q[32 * s + j] | (q[32 * s + j + 16] << 4));
    for (int i = 0; i < 256; i++) want[i] = half_value(dh) * (ls[i / 32] - 32) * iq4nl[q[i]];
    qs_dequant_iq4_xs_ref(y, b, 1);
    compare(y, want, 256, "IQ4_XS");
}

/* ---- K-quants (256 values) ---- */

/* Two-bit codes packed as ggml's Q2_K/Q3_K quantizers do: qs[32h + l] holds values
 * 128h + l, +32, +64, +96 in bits 0-1, 2-3, 4-5, 6-7. */
static void pack_2bit(uint8_t *qs, const int *L) {
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const int *v = L + 128 * h + l;
            qs[32 * h + l] = (uint8_t)((v[0] & 3) | ((v[32] & 3) << 2) | ((v[64] & 3) << 4) |
                                       ((v[96] & 3) << 6));
        }
}

static void test_q2_k(void) {
    uint8_t b[84];
    float y[256];
    double want[256];
    int L[256], sc[16], mn[16];
    for (int rep = 0; rep < 10; rep++) {
        uint16_t dh = (uint16_t)(0x2000 + rnd(0x1000)), mh = (uint16_t)(0x1c00 + rnd(0x1000));
        for (int s = 0; s < 16; s++) {
            sc[s] = rnd(16);
            mn[s] = rnd(16);
            b[s] = (uint8_t)(sc[s] | (mn[s] << 4));
        }
        for (int i = 0; i < 256; i++) L[i] = rnd(4);
        pack_2bit(b + 16, L);
        put16(b + 80, dh);
        put16(b + 82, mh);
        for (int i = 0; i < 256; i++)
            want[i] = half_value(dh) * sc[i / 16] * L[i] - half_value(mh) * mn[i / 16];
        qs_dequant_q2_k_ref(y, b, 1);
        compare(y, want, 256, "Q2_K");
    }
}

static void test_q3_k(void) {
    uint8_t b[110];
    float y[256];
    double want[256];
    int L[256], ls[16];
    for (int rep = 0; rep < 10; rep++) {
        memset(b, 0, sizeof b);
        uint16_t dh = (uint16_t)(0x2000 + rnd(0x1000) + (rnd(2) << 15));
        /* scales: 6 bits stored +32; low nibbles in bytes 0-7 (two per byte), high pairs in 8-11 */
        for (int s = 0; s < 16; s++) {
            ls[s] = rnd(64);
            if (s < 8)
                b[96 + s] = (uint8_t)(ls[s] & 15);
            else
                b[96 + s - 8] |= (uint8_t)((ls[s] & 15) << 4);
            b[96 + 8 + s % 4] |= (uint8_t)((ls[s] >> 4) << (2 * (s / 4)));
        }
        /* codes 0..7 standing for −4..3; the high bit of value i goes to hmask[i % 32] bit i / 32
         */
        int low[256];
        for (int i = 0; i < 256; i++) {
            L[i] = rnd(8);
            low[i] = L[i] & 3;
            if (L[i] > 3) b[i % 32] |= (uint8_t)(1 << (i / 32));
        }
        pack_2bit(b + 32, low);
        put16(b + 108, dh);
        for (int i = 0; i < 256; i++) want[i] = half_value(dh) * (ls[i / 16] - 32) * (L[i] - 4);
        qs_dequant_q3_k_ref(y, b, 1);
        compare(y, want, 256, "Q3_K");
    }
}

/* 6-bit scales and mins of 8 sub-blocks in 12 bytes, as ggml's Q4_K/Q5_K quantizers pack them */
static void pack_k4_scales(uint8_t *s12, const int *ls, const int *lm) {
    memset(s12, 0, 12);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            s12[j] = (uint8_t)ls[j];
            s12[j + 4] = (uint8_t)lm[j];
        } else {
            s12[j + 4] = (uint8_t)((ls[j] & 15) | ((lm[j] & 15) << 4));
            s12[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            s12[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
}

static void test_q4_k(void) {
    uint8_t b[144];
    float y[256];
    double want[256];
    int L[256], ls[8], lm[8];
    /* literal: d = 1, dmin = 0.5, sub-block 0 scale 3 min 2, value 0 code 5 → 3·5 − 0.5·2 = 14 */
    memset(b, 0, sizeof b);
    put16(b, 0x3c00);
    put16(b + 2, 0x3800);
    b[4] = 3;     /* scale of sub-block 0 */
    b[8] = 2;     /* min of sub-block 0 */
    b[16] = 0x05; /* value 0 low nibble */
    qs_dequant_q4_k_ref(y, b, 1);
    CHECK(y[0] == 14.0f && y[1] == -1.0f && y[32] == 0.0f);
    for (int rep = 0; rep < 10; rep++) {
        uint16_t dh = (uint16_t)(0x2000 + rnd(0x1000)), mh = (uint16_t)(0x1c00 + rnd(0x1000));
        for (int j = 0; j < 8; j++) {
            ls[j] = rnd(64);
            lm[j] = rnd(64);
        }
        put16(b, dh);
        put16(b + 2, mh);
        pack_k4_scales(b + 4, ls, lm);
        for (int i = 0; i < 256; i++) L[i] = rnd(16);
        /* qs: for each 64 values, byte l holds value l (low) and value l + 32 (high) */
        for (int p = 0; p < 4; p++)
            for (int l = 0; l < 32; l++)
                b[16 + 32 * p + l] = (uint8_t)(L[64 * p + l] | (L[64 * p + l + 32] << 4));
        for (int i = 0; i < 256; i++)
            want[i] = half_value(dh) * ls[i / 32] * L[i] - half_value(mh) * lm[i / 32];
        qs_dequant_q4_k_ref(y, b, 1);
        compare(y, want, 256, "Q4_K");
    }
}

static void test_q5_k(void) {
    uint8_t b[176];
    float y[256];
    double want[256];
    int L[256], ls[8], lm[8];
    for (int rep = 0; rep < 10; rep++) {
        memset(b, 0, sizeof b);
        uint16_t dh = (uint16_t)(0x2000 + rnd(0x1000)), mh = (uint16_t)(0x1c00 + rnd(0x1000));
        for (int j = 0; j < 8; j++) {
            ls[j] = rnd(64);
            lm[j] = rnd(64);
        }
        put16(b, dh);
        put16(b + 2, mh);
        pack_k4_scales(b + 4, ls, lm);
        for (int i = 0; i < 256; i++) L[i] = rnd(32);
        /* as ggml's quantizer: per 64 values, masks m1 = 1, m2 = 2 shifted left by 2 each time */
        uint8_t *qh = b + 16, *ql = b + 48;
        uint8_t m1 = 1, m2 = 2;
        for (int n = 0; n < 256; n += 64) {
            for (int j = 0; j < 32; j++) {
                int l1 = L[n + j], l2 = L[n + j + 32];
                if (l1 > 15) {
                    l1 -= 16;
                    qh[j] |= m1;
                }
                if (l2 > 15) {
                    l2 -= 16;
                    qh[j] |= m2;
                }
                ql[j] = (uint8_t)(l1 | (l2 << 4));
            }
            m1 = (uint8_t)(m1 << 2);
            m2 = (uint8_t)(m2 << 2);
            ql += 32;
        }
        for (int i = 0; i < 256; i++)
            want[i] = half_value(dh) * ls[i / 32] * L[i] - half_value(mh) * lm[i / 32];
        qs_dequant_q5_k_ref(y, b, 1);
        compare(y, want, 256, "Q5_K");
    }
}

static void test_q6_k(void) {
    uint8_t b[210];
    float y[256];
    double want[256];
    int L[256], sc[16];
    /* literal: d = 2, scale 0 = −3, value 0 code 32 + 5 → 2·(−3)·5 = −30 */
    memset(b, 0, sizeof b);
    put16(b + 208, 0x4000);
    b[192] = (uint8_t)(int8_t)-3;
    b[0] = 5;      /* low nibble of value 0 */
    b[128] = 0x02; /* its high two bits: 2 → code 5 | 32 = 37 */
    qs_dequant_q6_k_ref(y, b, 1);
    CHECK(y[0] == -30.0f);
    CHECK(y[1] == 2.0f * -3.0f * -32.0f); /* code 0 → −32 */
    for (int rep = 0; rep < 10; rep++) {
        memset(b, 0, sizeof b);
        uint16_t dh = (uint16_t)(0x2000 + rnd(0x1000));
        for (int s = 0; s < 16; s++) {
            sc[s] = rnd(256) - 128;
            b[192 + s] = (uint8_t)(int8_t)sc[s];
        }
        put16(b + 208, dh);
        for (int i = 0; i < 256; i++) L[i] = rnd(64);
        /* ggml's quantizer packing, per 128 values: ql[l] = v[l] | v[l+64] << 4,
         * ql[l+32] = v[l+32] | v[l+96] << 4, qh[l] = the four high pairs */
        uint8_t *ql = b, *qh = b + 128;
        for (int j = 0; j < 256; j += 128) {
            for (int l = 0; l < 32; l++) {
                const int *v = L + j + l;
                ql[l] = (uint8_t)((v[0] & 15) | ((v[64] & 15) << 4));
                ql[l + 32] = (uint8_t)((v[32] & 15) | ((v[96] & 15) << 4));
                qh[l] = (uint8_t)((v[0] >> 4) | ((v[32] >> 4) << 2) | ((v[64] >> 4) << 4) |
                                  ((v[96] >> 4) << 6));
            }
            ql += 64;
            qh += 32;
        }
        for (int i = 0; i < 256; i++) want[i] = half_value(dh) * sc[i / 16] * (L[i] - 32);
        qs_dequant_q6_k_ref(y, b, 1);
        compare(y, want, 256, "Q6_K");
    }
}

static void test_q8_k(void) {
    uint8_t b[292];
    float y[256];
    double want[256];
    float d = -0.03125f;
    memcpy(b, &d, 4);
    for (int i = 0; i < 256; i++) {
        int q = rnd(256) - 128;
        b[4 + i] = (uint8_t)(int8_t)q;
        want[i] = (double)d * q;
    }
    memset(b + 260, 0xab, 32); /* bsums: not used to dequantize */
    qs_dequant_q8_k_ref(y, b, 1);
    compare(y, want, 256, "Q8_K");
}

/* The dispatcher: checks, and chunked parallel runs equal one serial call. */
static void test_dispatch(void) {
    const qs_ggml_type_traits *t = qs_ggml_type_traits_get(QS_GGML_Q4_K);
    CHECK(t && t->block_size == 256 && t->type_size == 144 && !strcmp(t->name, "Q4_K"));
    CHECK(qs_ggml_type_traits_get(4) == NULL);
    CHECK(qs_ggml_type_traits_get(36) == NULL);
    CHECK(qs_ggml_type_traits_get(1000) == NULL);
    CHECK(!strcmp(qs_ggml_type_name(QS_GGML_BF16), "BF16"));
    CHECK(!strcmp(qs_ggml_type_name(77), "?"));
    /* block sizes in bytes, from ggml-common.h's static_asserts */
    struct {
        int type, bs, ts;
    } sizes[] = {
        {QS_GGML_Q4_0, 32, 18},     {QS_GGML_Q4_1, 32, 20},   {QS_GGML_Q5_0, 32, 22},
        {QS_GGML_Q5_1, 32, 24},     {QS_GGML_Q8_0, 32, 34},   {QS_GGML_Q8_1, 32, 36},
        {QS_GGML_Q2_K, 256, 84},    {QS_GGML_Q3_K, 256, 110}, {QS_GGML_Q4_K, 256, 144},
        {QS_GGML_Q5_K, 256, 176},   {QS_GGML_Q6_K, 256, 210}, {QS_GGML_Q8_K, 256, 292},
        {QS_GGML_BF16, 1, 2},       {QS_GGML_F16, 1, 2},      {QS_GGML_F32, 1, 4},
        {QS_GGML_IQ4_XS, 256, 136},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const qs_ggml_type_traits *tr = qs_ggml_type_traits_get((uint32_t)sizes[i].type);
        CHECK(tr && tr->block_size == sizes[i].bs && tr->type_size == sizes[i].ts && tr->dequant);
    }

    float y[64];
    uint8_t x[64] = {0};
    CHECK(qs_gguf_dequant(y, x, QS_GGML_Q8_0, 33, "w") == QS_ERR_FORMAT);
    CHECK(strstr(qs_error_message(), "33 values is not a multiple of the Q8_0 block size 32"));
    CHECK(qs_gguf_dequant(y, x, 5, 32, "w") == QS_ERR_FORMAT);
    CHECK(strstr(qs_error_message(), "unknown tensor type 5"));
    CHECK(qs_gguf_dequant(y, x, QS_GGML_IQ1_M, 256, "blk.0.w") == QS_ERR_UNSUPPORTED);
    CHECK(strstr(qs_error_message(), "blk.0.w") && strstr(qs_error_message(), "IQ1_M"));

    const int64_t nb = 20011; /* several chunks, last one partial */
    uint8_t *blocks = malloc((size_t)nb * 210);
    for (int64_t i = 0; i < nb * 210; i++) blocks[i] = (uint8_t)rnd(256);
    for (int64_t i = 0; i < nb; i++) put16(blocks + 210 * i + 208, 0x2c00); /* finite d */
    float *a = malloc((size_t)nb * 256 * sizeof(float)),
          *s = malloc((size_t)nb * 256 * sizeof(float));
    qs_dequant_q6_k_ref(s, blocks, nb);
    CHECK(qs_gguf_dequant(a, blocks, QS_GGML_Q6_K, nb * 256, "big") == QS_OK);
    CHECK(memcmp(a, s, (size_t)nb * 256 * sizeof(float)) == 0);
    free(blocks);
    free(a);
    free(s);
}

int main(void) {
    test_fp16();
    test_plain();
    test_q4_0();
    test_q4_1();
    test_q5();
    test_q8();
    test_iq4();
    test_q2_k();
    test_q3_k();
    test_q4_k();
    test_q5_k();
    test_q6_k();
    test_q8_k();
    test_dispatch();
    return check_summary("test_gguf_dequant");
}
