/* Grids, fp16 scales, the traits table and the storage-cost accounting.
 * Expected values were worked out by hand and checked with numpy (np.float16, np.rint). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "fp16.h"
#include "quant.h"

/* Named tolerances */
#define MAX_HAND_ERROR 1e-12 /* closed forms in double */

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

static void test_fp16(void) {
    /* every fp16 value round-trips, and agrees with the compiler's _Float16 */
    int bad = 0, bad_cc = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = qs_fp16_to_f32((uint16_t)h);
        if (isnan(f)) continue;
        if (qs_fp16_from_f32(f) != h) bad++;
#ifdef __FLT16_MAX__
        _Float16 c;
        uint16_t hh = (uint16_t)h;
        memcpy(&c, &hh, sizeof c);
        if (!same_bits((float)c, f)) bad_cc++;
#endif
    }
    CHECK_MSG(bad == 0, "%d fp16 values do not round-trip", bad);
    CHECK_MSG(bad_cc == 0, "%d fp16 values decode differently from _Float16", bad_cc);
    CHECK(qs_fp16_to_f32(0x3c00) == 1.0f);
    CHECK(qs_fp16_to_f32(0x7bff) == 65504.0f);
    CHECK(qs_fp16_to_f32(0x0001) == ldexpf(1.0f, -24));
    /* rounding: 1/7 -> 0x1.248p-3 (nearest), ties to even, overflow, underflow */
    CHECK(qs_fp16_round(1.0f / 7.0f) == 0x1.248p-3f);
    CHECK(qs_fp16_round(1.0f + 0x1p-11f) == 1.0f);               /* tie -> even (1.0) */
    CHECK(qs_fp16_round(1.0f + 3 * 0x1p-11f) == 1.0f + 0x1p-9f); /* tie -> even (up) */
    CHECK(qs_fp16_round(65519.0f) == 65504.0f);
    CHECK(isinf(qs_fp16_round(65520.0f)));
    CHECK(qs_fp16_round(0x1p-25f) == 0.0f); /* tie -> 0 */
    CHECK(qs_fp16_round(0x1.1p-25f) == 0x1p-24f);
    CHECK(qs_fp16_round(-3e-8f) == -0x1p-24f);
    CHECK(isnan(qs_fp16_round(NAN)));
#ifdef __FLT16_MAX__
    /* random floats over the whole fp16 range (and beyond) agree with the compiler */
    srand(7);
    int bad_r = 0;
    for (int i = 0; i < 200000; i++) {
        uint32_t u = ((uint32_t)rand() << 16) ^ (uint32_t)rand();
        u = (u & 0x80000000u) | (0x30000000u + (u % 0x18000000u)); /* ~2^-31 .. 2^17 */
        float f;
        memcpy(&f, &u, sizeof f);
        if (!same_bits((float)(_Float16)f, qs_fp16_round(f))) bad_r++;
    }
    CHECK_MSG(bad_r == 0, "%d random floats round differently from _Float16", bad_r);
#endif
}

static void test_symmetric(void) {
    const qs_quant_traits *t = qs_quant_traits_of(QS_QUANT_SYMMETRIC);
    CHECK(t && strcmp(t->name, "symmetric") == 0 && !t->has_zero_point);
    qs_quant_grid g;
    /* 4 bits: qmax 7, s = fp16(1/7) = 0x1.248p-3 */
    t->grid(&g, -1.0f, 1.0f, 4, 0, 0.0f);
    CHECK(g.scale == 0x1.248p-3f && g.zero == 0 && g.qlo == -7.0f && g.qhi == 7.0f && g.flags == 0);
    float x[5] = {0.5f, -1.0f, 0.26f, 0.0f, 0.7f}, y[5], yr[5];
    int16_t q[5], qr[5];
    long clipped = t->fake(y, q, x, 5, &g);
    /* codes 4 -7 2 0 5; values checked with numpy */
    const int16_t qe[5] = {4, -7, 2, 0, 5};
    const float ye[5] = {0x1.248p-1f, -0x1.ffep-1f, 0x1.248p-2f, 0.0f, 0x1.6dap-1f};
    for (int i = 0; i < 5; i++)
        CHECK_MSG(q[i] == qe[i] && y[i] == ye[i], "i=%d q=%d y=%a", i, q[i], y[i]);
    CHECK(clipped == 0);
    CHECK(t->fake_ref(yr, qr, x, 5, &g) == 0);
    CHECK(memcmp(y, yr, sizeof y) == 0 && memcmp(q, qr, sizeof q) == 0);
    float yd[5];
    t->dequantize(yd, q, 5, &g);
    CHECK(memcmp(yd, y, sizeof y) == 0);
    int16_t q2[5];
    t->quantize(q2, x, 5, &g);
    CHECK(memcmp(q2, q, sizeof q) == 0);
    /* 8 bits: qmax 127; 2 bits: ternary */
    t->grid(&g, -127.0f, 127.0f, 8, 1, 0.0f);
    CHECK(g.scale == 1.0f && g.qhi == 127.0f);
    t->grid(&g, -3.0f, 2.0f, 2, 1, 0.0f); /* t = max(3, 2) = 3, qmax 1 */
    CHECK(g.scale == 3.0f && g.qlo == -1.0f && g.qhi == 1.0f);
    /* clipping counts values whose rounded code leaves the grid */
    t->grid(&g, -1.0f, 1.0f, 8, 1, 0.0f);     /* s = 1/127 */
    float xc[4] = {2.0f, -1.5f, 1.0f, 1.01f}; /* 1.01·127 = 128.3: clipped */
    float yc[4];
    CHECK(t->fake(yc, NULL, xc, 4, &g) == 3);
    CHECK(yc[0] == 127.0f * g.scale && yc[1] == -127.0f * g.scale);
    CHECK(t->fake_ref(yc, NULL, xc, 4, &g) == 3);
}

static void test_affine(void) {
    const qs_quant_traits *t = qs_quant_traits_of(QS_QUANT_AFFINE);
    CHECK(t && strcmp(t->name, "affine") == 0 && t->has_zero_point);
    qs_quant_grid g;
    /* 4 bits on [-0.3, 1.2]: s = fp16(0.1) = 0x1.998p-4, z = rint(0.3/s) = 3 */
    t->grid(&g, -0.3f, 1.2f, 4, 0, 0.0f);
    CHECK(g.scale == 0x1.998p-4f && g.zero == 3 && g.qlo == -3.0f && g.qhi == 12.0f);
    float x[4] = {-0.3f, 1.2f, 0.1f, 0.55f}, y[4], yr[4];
    int16_t q[4], qr[4];
    t->fake(y, q, x, 4, &g);
    t->fake_ref(yr, qr, x, 4, &g);
    const int16_t qe[4] = {0, 15, 4, 9};
    const float ye[4] = {-0x1.332p-2f, 0x1.332p+0f, 0x1.998p-4f, 0x1.332p-1f};
    for (int i = 0; i < 4; i++)
        CHECK_MSG(q[i] == qe[i] && y[i] == ye[i], "i=%d q=%d y=%a", i, q[i], y[i]);
    CHECK(memcmp(y, yr, sizeof y) == 0 && memcmp(q, qr, sizeof q) == 0);
    /* the range is widened to contain 0: all-positive [2, 4] becomes [0, 4], z = 0 */
    t->grid(&g, 2.0f, 4.0f, 2, 1, 0.0f);
    CHECK(g.zero == 0 && g.scale == 4.0f / 3.0f);
    /* all-negative: z = 2^b - 1 */
    t->grid(&g, -4.0f, -1.0f, 3, 1, 0.0f);
    CHECK(g.zero == 7 && g.qhi == 0.0f);
}

static void test_zero_scale(void) {
    for (int sch = 0; sch < QS_QUANT_INT_SCHEMES; sch++) {
        const qs_quant_traits *t = qs_quant_traits_of(sch);
        qs_quant_grid g;
        t->grid(&g, 0.0f, 0.0f, 4, 0, 0.0f);
        CHECK(g.scale == 0.0f && g.zero == 0 && g.flags == 0);
        float x[3] = {0.0f, -0.0f, 0.0f}, y[3] = {1, 1, 1}, yr[3];
        int16_t q[3] = {9, 9, 9};
        CHECK(t->fake(y, q, x, 3, &g) == 0);
        t->fake_ref(yr, NULL, x, 3, &g);
        for (int i = 0; i < 3; i++)
            CHECK(same_bits(y[i], 0.0f) && same_bits(yr[i], 0.0f) && q[i] == 0);
        /* fp16 underflow: a tiny nonzero range rounds the scale to 0; output +0, never NaN */
        t->grid(&g, -1e-9f, 1e-9f, 8, 0, 0.0f);
        CHECK(g.scale == 0.0f && (g.flags & QS_QUANT_F_UNDERFLOW));
        float xt[2] = {1e-9f, -1e-9f}, yt[2], ytr[2];
        t->fake(yt, NULL, xt, 2, &g);
        t->fake_ref(ytr, NULL, xt, 2, &g);
        CHECK(same_bits(yt[0], 0.0f) && same_bits(yt[1], 0.0f));
        CHECK(memcmp(yt, ytr, sizeof yt) == 0);
    }
    qs_quant_grid g;
    const qs_quant_traits *t = qs_quant_traits_of(QS_QUANT_SYMMETRIC);
    /* subnormal fp16 scale: 1e-6/7 */
    t->grid(&g, -1e-6f, 1e-6f, 4, 0, 0.0f);
    CHECK(g.scale > 0.0f && (g.flags & QS_QUANT_F_SUBNORMAL));
    /* overflow: t/qmax = 1e6 > 65504 saturates, and the large value is clipped */
    t->grid(&g, -1e6f, 1e6f, 2, 0, 0.0f);
    CHECK(g.scale == 65504.0f && (g.flags & QS_QUANT_F_OVERFLOW));
    float x = 1e6f, y;
    CHECK(t->fake(&y, NULL, &x, 1, &g) == 1 && y == 65504.0f);
    /* fp32 scales are not rounded */
    t->grid(&g, -1.0f, 1.0f, 4, 1, 0.0f);
    CHECK(g.scale == 1.0f / 7.0f);
}

/* fast and reference kernels agree bit for bit on random data, ties and big values */
static void test_kernels_agree(void) {
    enum { N = 4099 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *yr = malloc(N * sizeof *yr);
    int16_t *q = malloc(N * sizeof *q), *qr = malloc(N * sizeof *qr);
    srand(11);
    int mismatches = 0;
    for (int trial = 0; trial < 200; trial++) {
        int bits = 2 + trial % 7, sch = trial % 2;
        qs_quant_grid g;
        float lo = -(float)rand() / RAND_MAX * 3.0f, hi = (float)rand() / RAND_MAX * 3.0f;
        qs_quant_traits_of(sch)->grid(&g, lo, hi, bits, trial % 3 == 0, 0.0f);
        for (int i = 0; i < N; i++) {
            int k = rand() % 600 - 300;
            switch (i % 4) {
            case 0: x[i] = ((float)k + 0.5f) * g.scale; break; /* ties (when exact) */
            case 1: x[i] = (float)k * g.scale; break;
            case 2: x[i] = ((float)rand() / RAND_MAX - 0.5f) * 8.0f; break;
            default: x[i] = (float)k * 1e3f; break; /* far out of range */
            }
        }
        const qs_quant_traits *t = qs_quant_traits_of(sch);
        long c1 = t->fake(y, q, x, N, &g), c2 = t->fake_ref(yr, qr, x, N, &g);
        if (c1 != c2 || memcmp(y, yr, N * sizeof *y) || memcmp(q, qr, N * sizeof *q)) mismatches++;
        /* codes stay inside the grid and decode to the fake-quantized values */
        int16_t cmin = (int16_t)(g.qlo + g.zero), cmax = (int16_t)(g.qhi + g.zero);
        for (int i = 0; i < N; i++)
            if (q[i] < cmin || q[i] > cmax) mismatches++;
        t->dequantize(yr, q, N, &g);
        if (memcmp(y, yr, N * sizeof *y)) mismatches++;
        /* in place */
        memcpy(yr, x, N * sizeof *x);
        t->fake(yr, NULL, yr, N, &g);
        if (memcmp(y, yr, N * sizeof *y)) mismatches++;
    }
    CHECK_MSG(mismatches == 0, "%d trials differ between fast and reference kernels", mismatches);
    free(x), free(y), free(yr), free(q), free(qr);
}

static void test_bits(void) {
    qs_quant_spec sp = {
        .bits = 4, .scheme = QS_QUANT_SYMMETRIC, .gran = QS_QUANT_GROUP, .group = 128};
    CHECK(qs_quant_bits_per_value(&sp, 4096, 4096) == 4.125); /* 4 + 16/128 */
    CHECK(qs_quant_bits_nominal(&sp, 128) == 4.125);
    CHECK(qs_quant_n_scales(&sp, 4096, 4096) == 4096L * 32);
    /* a short last group still costs a whole scale: C = 172, G = 128 -> 2 scales per row */
    CHECK(qs_quant_n_scales(&sp, 3, 172) == 6);
    CHECK_NEAR(qs_quant_bits_per_value(&sp, 3, 172), 4.0 + 2 * 16.0 / 172, MAX_HAND_ERROR);
    sp.group = 32;
    CHECK(qs_quant_n_scales(&sp, 3, 172) == 18); /* ceil(172/32) = 6 */
    /* affine adds a b-bit zero-point: 4 + (16 + 4)/128 */
    sp.group = 128, sp.scheme = QS_QUANT_AFFINE;
    CHECK(qs_quant_bits_per_value(&sp, 8, 4096) == 4.15625);
    sp.fp32_scales = 1;
    CHECK(qs_quant_bits_per_value(&sp, 8, 4096) == 4.0 + 36.0 / 128);
    qs_quant_spec w8 = {.bits = 8, .gran = QS_QUANT_ROW};
    CHECK(qs_quant_bits_per_value(&w8, 4096, 4096) == 8.0 + 16.0 / 4096);
    qs_quant_spec t8 = {.bits = 8, .gran = QS_QUANT_TENSOR};
    CHECK(qs_quant_n_scales(&t8, 512, 4096) == 1);
    qs_quant_spec none = {.bits = 16};
    CHECK(qs_quant_bits_per_value(&none, 10, 10) == 16.0 && qs_quant_n_scales(&none, 10, 10) == 0);
}

static void test_validate_and_names(void) {
    qs_quant_spec sp = {.bits = 4};
    CHECK(qs_quant_spec_validate(&sp) == 0);
    sp.bits = 9;
    CHECK(qs_quant_spec_validate(&sp) != 0 && strstr(qs_error_message(), "bits 9"));
    sp.bits = 1;
    CHECK(qs_quant_spec_validate(&sp) != 0);
    sp.bits = 4, sp.gran = QS_QUANT_GROUP, sp.group = 0;
    CHECK(qs_quant_spec_validate(&sp) != 0 && strstr(qs_error_message(), "group size 0"));
    sp.group = 32, sp.clip = QS_QUANT_PERCENTILE, sp.percentile = 0.0;
    CHECK(qs_quant_spec_validate(&sp) != 0 && strstr(qs_error_message(), "percentile"));
    sp.percentile = 100.0;
    CHECK(qs_quant_spec_validate(&sp) == 0);
    sp.percentile = NAN;
    CHECK(qs_quant_spec_validate(&sp) != 0);
    CHECK(strcmp(qs_quant_gran_name(QS_QUANT_COL), "col") == 0);
    CHECK(strcmp(qs_quant_clip_name(QS_QUANT_PERCENTILE), "percentile") == 0);
    CHECK(strcmp(qs_quant_scheme_name(99), "?") == 0 && qs_quant_traits_of(-1) == NULL);
}

int main(void) {
    test_fp16();
    test_symmetric();
    test_affine();
    test_zero_scale();
    test_kernels_agree();
    test_bits();
    test_validate_and_names();
    return check_summary("test_quant_grid");
}
