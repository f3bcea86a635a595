/* Floating-point formats (quant_float.c): every code round-trips, the OCP spec's values of
 * each element type, round-to-nearest-even and saturation at and beyond the max normal, the
 * MX E8M0 and NVFP4 scale rules, storage bits, and fast kernels (every SIMD path this CPU
 * runs) against the reference, bit for bit.
 *
 * --dump DIR writes inputs and qscope's outputs for tests/ref/test_quant_formats_numpy.py. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpu.h"
#include "error.h"
#include "quant.h"

/* Named tolerances */
#define MAX_HAND_ERROR    1e-12 /* closed forms in double */
#define MAX_TIE_REL_ERROR 1e-12 /* equal errors summed in another order */

/* quant_internal.h is private to quant/; the one test hook is declared here */
long qs__fp_fake_path(int path, int elem, float *y, int16_t *q, const float *x, int n,
                      const qs_quant_grid *g);

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

static void test_codes_round_trip(void) {
    for (int el = 0; el < QS_FP_ELEM_COUNT; el++) {
        const qs_fp_format *f = qs_fp_format_of(el);
        int bad = 0, bad_fast = 0, finite = 0;
        for (unsigned c = 0; c < (1u << f->bits); c++) {
            float v = qs_fp_decode(el, c);
            if (!qs_fp_code_is_finite(el, c)) {
                bad += isfinite(v); /* NaN/Inf codes decode to NaN/Inf */
                continue;
            }
            finite++;
            if (qs_fp_encode(el, v) != c || !same_bits(qs_fp_round(el, v), v)) bad++;
            /* the fast kernels with scale 1 give the value and the code back */
            qs_quant_grid g = {.scale = 1.0f};
            for (int p = QS_CPU_SCALAR; p <= qs_cpu_path_supported(); p++) {
                float y;
                int16_t q;
                if (qs__fp_fake_path(p, el, &y, &q, &v, 1, &g) != 0 || !same_bits(y, v) ||
                    (unsigned)q != c)
                    bad_fast++;
            }
        }
        CHECK_MSG(bad == 0 && bad_fast == 0, "%s: %d codes fail the round trip (%d fast)", f->name,
                  bad, bad_fast);
        int expect = el == QS_FP_E4M3 ? 254 : el == QS_FP_E5M2 ? 248 : 1 << f->bits;
        CHECK_MSG(finite == expect, "%s: %d finite codes", f->name, finite);
    }
}

/* The values the OCP specifications list for each element type. */
static void test_spec_values(void) {
    struct {
        int el;
        unsigned code;
        float v;
    } known[] = {
        {QS_FP_E4M3, 0x7e, 448.0f},
        {QS_FP_E4M3, 0x08, 0x1p-6f},
        {QS_FP_E4M3, 0x07, 0.875f * 0x1p-6f},
        {QS_FP_E4M3, 0x01, 0x1p-9f},
        {QS_FP_E4M3, 0xfe, -448.0f},
        {QS_FP_E4M3, 0x38, 1.0f},
        {QS_FP_E5M2, 0x7b, 57344.0f},
        {QS_FP_E5M2, 0x04, 0x1p-14f},
        {QS_FP_E5M2, 0x03, 0.75f * 0x1p-14f},
        {QS_FP_E5M2, 0x01, 0x1p-16f},
        {QS_FP_E5M2, 0x3c, 1.0f},
        {QS_FP_E3M2, 0x1f, 28.0f},
        {QS_FP_E3M2, 0x04, 0.25f},
        {QS_FP_E3M2, 0x03, 0.1875f},
        {QS_FP_E3M2, 0x01, 0.0625f},
        {QS_FP_E3M2, 0x3f, -28.0f},
        {QS_FP_E2M3, 0x1f, 7.5f},
        {QS_FP_E2M3, 0x08, 1.0f},
        {QS_FP_E2M3, 0x07, 0.875f},
        {QS_FP_E2M3, 0x01, 0.125f},
        {QS_FP_E2M1, 0x7, 6.0f},
        {QS_FP_E2M1, 0x2, 1.0f},
        {QS_FP_E2M1, 0x1, 0.5f},
        {QS_FP_E2M1, 0xf, -6.0f},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        CHECK_MSG(qs_fp_decode(known[i].el, known[i].code) == known[i].v, "%s code 0x%x",
                  qs_fp_format_of(known[i].el)->name, known[i].code);
    CHECK(isnan(qs_fp_decode(QS_FP_E4M3, 0x7f)) && isnan(qs_fp_decode(QS_FP_E4M3, 0xff)));
    CHECK(qs_fp_decode(QS_FP_E5M2, 0x7c) == INFINITY &&
          qs_fp_decode(QS_FP_E5M2, 0xfc) == -INFINITY);
    CHECK(isnan(qs_fp_decode(QS_FP_E5M2, 0x7d)) && isnan(qs_fp_decode(QS_FP_E5M2, 0x7f)));
    CHECK(same_bits(qs_fp_decode(QS_FP_E2M1, 0x8), -0.0f));
    /* E2M1 has exactly these magnitudes */
    static const float e2m1[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
    for (unsigned c = 0; c < 8; c++) CHECK(qs_fp_decode(QS_FP_E2M1, c) == e2m1[c]);
    /* the format table matches the decoded extremes */
    for (int el = 0; el < QS_FP_ELEM_COUNT; el++) {
        const qs_fp_format *f = qs_fp_format_of(el);
        CHECK(qs_fp_decode(el, 1) == f->min_subnormal);
        CHECK(qs_fp_decode(el, 1u << f->mbits) == f->min_normal);
        float mx = 0;
        for (unsigned c = 0; c < (1u << f->bits); c++)
            if (qs_fp_code_is_finite(el, c) && qs_fp_decode(el, c) > mx) mx = qs_fp_decode(el, c);
        CHECK(mx == f->max_normal && frexpf(mx, &(int){0}) > 0 && ilogbf(mx) == f->emax);
    }
}

static void test_rounding_and_saturation(void) {
    struct {
        int el;
        float in, out;
        int sat; /* rounded magnitude above max normal */
    } cases[] = {
        {QS_FP_E4M3, 1.0625f, 1.0f, 0},         /* tie -> even mantissa 000 */
        {QS_FP_E4M3, 1.1875f, 1.25f, 0},        /* tie -> even mantissa 010 */
        {QS_FP_E4M3, 0x1p-10f, 0.0f, 0},        /* half the min subnormal -> 0 */
        {QS_FP_E4M3, 3 * 0x1p-10f, 0x1p-8f, 0}, /* subnormal tie -> even */
        {QS_FP_E4M3, 1.97f, 2.0f, 0},           /* rounds up into the next binade */
        {QS_FP_E4M3, 448.0f, 448.0f, 0},        /* max normal stays */
        {QS_FP_E4M3, 464.0f, 448.0f, 0},        /* tie between 448 and (480): even */
        {QS_FP_E4M3, 470.0f, 448.0f, 1},        /* beyond: saturates */
        {QS_FP_E4M3, 1e30f, 448.0f, 1},         /* far beyond */
        {QS_FP_E4M3, -1e30f, -448.0f, 1},
        {QS_FP_E5M2, 57344.0f, 57344.0f, 0},
        {QS_FP_E5M2, 61440.0f, 57344.0f, 1}, /* tie with (65536): even is above */
        {QS_FP_E5M2, 3e38f, 57344.0f, 1},
        {QS_FP_E3M2, 30.0f, 28.0f, 1},
        {QS_FP_E2M3, 7.75f, 7.5f, 1}, /* tie with (8), the even one: saturates */
        {QS_FP_E2M1, 5.0f, 4.0f, 0},  /* tie between 4 and 6 -> 4 (even) */
        {QS_FP_E2M1, 2.5f, 2.0f, 0},  /* tie between 2 and 3 -> 2 */
        {QS_FP_E2M1, 0.25f, 0.0f, 0}, /* tie between 0 and 0.5 -> 0 */
        {QS_FP_E2M1, 0.75f, 1.0f, 0}, /* tie between 0.5 and 1 -> 1 */
        {QS_FP_E2M1, 7.0f, 6.0f, 1},  /* tie with (8): saturates */
        {QS_FP_E2M1, -100.0f, -6.0f, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int el = cases[i].el;
        CHECK_MSG(qs_fp_round(el, cases[i].in) == cases[i].out, "%s(%g) = %g, expected %g",
                  qs_fp_format_of(el)->name, cases[i].in, qs_fp_round(el, cases[i].in),
                  cases[i].out);
        qs_quant_grid g = {.scale = 1.0f};
        for (int p = QS_CPU_SCALAR; p <= qs_cpu_path_supported(); p++) {
            float y;
            long over = qs__fp_fake_path(p, el, &y, NULL, &cases[i].in, 1, &g);
            CHECK_MSG(y == cases[i].out && over == cases[i].sat,
                      "%s path %s (%g) = %g, %ld saturated", qs_fp_format_of(el)->name,
                      qs_cpu_path_name(p), cases[i].in, y, over);
        }
    }
    /* a value that rounds to 0 keeps its sign */
    CHECK(same_bits(qs_fp_round(QS_FP_E4M3, -1e-9f), -0.0f));
    CHECK(qs_fp_encode(QS_FP_E4M3, -1e-9f) == 0x80);
}

/* Random values over the whole range each path handles, with ties and saturation. */
static void test_paths_agree(void) {
    enum { N = 4099 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *yr = malloc(N * sizeof *yr);
    int16_t *q = malloc(N * sizeof *q), *qr = malloc(N * sizeof *qr);
    srand(5);
    int bad = 0, runs = 0;
    for (int trial = 0; trial < 60; trial++) {
        int el = trial % QS_FP_ELEM_COUNT;
        const qs_fp_format *f = qs_fp_format_of(el);
        float scales[] = {1.0f, 0.37f, 0x1p-20f, 0.0f, 1e-3f, 3.0e4f};
        qs_quant_grid g = {.scale = scales[trial % 6]};
        for (int i = 0; i < N; i++) {
            unsigned c = (unsigned)rand() % (1u << f->bits);
            float v = qs_fp_code_is_finite(el, c) ? qs_fp_decode(el, c) : 1.0f;
            switch (i % 5) {
            case 0: x[i] = v * g.scale; break; /* on the grid */
            case 1:                            /* halfway to the next code: ties */
                x[i] = 0.5f * (v + qs_fp_round(el, v * 1.3f + f->min_subnormal)) * g.scale;
                break;
            case 2:
                x[i] = ((float)rand() / RAND_MAX - 0.5f) * 4.0f * f->max_normal * g.scale;
                break;
            case 3: x[i] = ldexpf((float)rand() / RAND_MAX - 0.5f, rand() % 60 - 40); break;
            default: x[i] = ((float)rand() / RAND_MAX - 0.5f) * 1e30f; break;
            }
        }
        long cr = qs__fp_fake_path(QS_CPU_SCALAR, el, yr, qr, x, N, &g);
        for (int p = QS_CPU_SCALAR; p <= qs_cpu_path_supported(); p++) {
            long c = qs__fp_fake_path(p, el, y, q, x, N, &g);
            runs++;
            if (c != cr || memcmp(y, yr, N * sizeof *y) || memcmp(q, qr, N * sizeof *q)) bad++;
        }
        /* the traits' fast and reference kernels */
        for (int sch = QS_QUANT_INT_SCHEMES; sch < QS_QUANT_SCHEME_COUNT; sch++) {
            const qs_quant_traits *tr = qs_quant_traits_of(sch);
            if (tr->elem != el) continue;
            long c1 = tr->fake(y, q, x, N, &g), c2 = tr->fake_ref(yr, qr, x, N, &g);
            runs++;
            if (c1 != c2 || memcmp(y, yr, N * sizeof *y) || memcmp(q, qr, N * sizeof *q)) bad++;
            tr->dequantize(yr, q, N, &g);
            if (memcmp(y, yr, N * sizeof *y)) bad++;
            break;
        }
    }
    CHECK_MSG(bad == 0, "%d of %d runs differ between paths (this CPU: up to %s)", bad, runs,
              qs_cpu_path_name(qs_cpu_path_supported()));
    free(x), free(y), free(yr), free(q), free(qr);
}

static void test_mx_scale(void) {
    /* E8M0 scale = 2^(floor(log2 amax) - emax_elem) */
    qs_quant_grid g;
    const qs_quant_traits *t = qs_quant_traits_of(QS_QUANT_MXFP4);
    t->grid(&g, -1.0f, 0.5f, 4, 0, 0.0f);
    CHECK(g.scale == 0.25f); /* floor(log2 1) - 2 */
    t->grid(&g, -0.3f, 7.9f, 4, 0, 0.0f);
    CHECK(g.scale == 1.0f); /* floor(log2 7.9) = 2: 7.9 then saturates at 6 */
    float x = 7.9f, y;
    CHECK(t->fake(&y, NULL, &x, 1, &g) == 1 && y == 6.0f);
    qs_quant_traits_of(QS_QUANT_MXFP8)->grid(&g, -1000.0f, 3.0f, 8, 0, 0.0f);
    CHECK(g.scale == 2.0f); /* floor(log2 1000) = 9, E4M3 emax 8 */
    qs_quant_traits_of(QS_QUANT_MXFP8_E5M2)->grid(&g, -1000.0f, 3.0f, 8, 0, 0.0f);
    CHECK(g.scale == 0x1p-6f); /* 9 - 15 */
    qs_quant_traits_of(QS_QUANT_MXFP6_E3M2)->grid(&g, -1.0f, 1.0f, 6, 0, 0.0f);
    CHECK(g.scale == 0x1p-4f);
    qs_quant_traits_of(QS_QUANT_MXFP6_E2M3)->grid(&g, 0.0f, 0.0f, 6, 0, 0.0f);
    CHECK(g.scale == 0.0f);
    t->grid(&g, -1e-40f, 1e-40f, 4, 0, 0.0f); /* clamped at E8M0's 2^-127 */
    CHECK(g.scale == 0x1p-127f && (g.flags & QS_QUANT_F_SUBNORMAL));

    /* a whole block through qs_quant_fake: the block of 32 shares one scale */
    enum { C = 64 };
    float xs[C], ys[C], sc[2];
    for (int i = 0; i < C; i++) xs[i] = (i < 32 ? 0.01f : 1.0f) * (float)(i % 7 - 3);
    qs_quant_spec sp = {.bits = 4, .scheme = QS_QUANT_MXFP4, .gran = QS_QUANT_GROUP, .group = 32};
    qs_quant_io io = {.scales = sc, .count_levels = 1};
    qs_quant_report rep;
    CHECK(qs_quant_fake(ys, xs, 1, C, &sp, &io, &rep) == QS_OK);
    CHECK(sc[0] == 0x1p-8f && sc[1] == 0.5f); /* 0.03: floor(log2) - 2 = -8; 3: -1 */
    CHECK(rep.bits_per_value == 4.25 && rep.n_scales == 2 && rep.levels_max <= 15);
    CHECK(ys[34] == 3.0f && ys[35] == -3.0f && ys[38] == 0.0f && ys[32] == 1.0f);
}

static void test_nvfp4(void) {
    const qs_quant_traits *t = qs_quant_traits_of(QS_QUANT_NVFP4);
    qs_quant_grid g;
    /* tensor amax 2688 = 448·6: tensor scale 1, block amax 6 -> E4M3 block scale 1 */
    t->grid(&g, -6.0f, 1.0f, 4, 0, 2688.0f);
    CHECK(g.scale == 1.0f);
    t->grid(&g, -3.0f, 1.0f, 4, 0, 2688.0f);
    CHECK(g.scale == 0.5f);
    /* block scale rounds to E4M3: (1.1 / 6) / 1 -> 0.1875 (E4M3 grid 2^-3·1.5) */
    t->grid(&g, -1.1f, 0.0f, 4, 0, 2688.0f);
    CHECK(g.scale == qs_fp_round(QS_FP_E4M3, 1.1f / 6.0f) && g.scale == 0.1875f);
    /* a block far below the tensor's largest: its E4M3 scale underflows to 0 */
    t->grid(&g, -1e-6f, 0.0f, 4, 0, 2688.0f);
    CHECK(g.scale == 0.0f && (g.flags & QS_QUANT_F_UNDERFLOW));
    /* through qs_quant_fake: the tensor absmax sets the second level */
    enum { R = 2, C = 32 };
    float x[R * C], y[R * C], sc[4];
    for (int i = 0; i < R * C; i++) x[i] = (float)(i % 13) * 0.5f - 3.0f;
    x[5] = 2688.0f; /* tensor absmax */
    qs_quant_spec sp = {.bits = 4, .scheme = QS_QUANT_NVFP4, .gran = QS_QUANT_GROUP, .group = 16};
    qs_quant_io io = {.scales = sc};
    qs_quant_report rep;
    CHECK(qs_quant_fake(y, x, R, C, &sp, &io, &rep) == QS_OK);
    CHECK(sc[0] == 448.0f && y[5] == 2688.0f);
    CHECK(sc[1] == 0.5f); /* block amax 3 */
    CHECK_NEAR(rep.bits_per_value, 4.5 + 32.0 / (R * C), MAX_HAND_ERROR);
}

static void test_spec_rules(void) {
    qs_quant_spec sp = {.bits = 8, .scheme = QS_QUANT_MXFP4, .gran = QS_QUANT_GROUP, .group = 32};
    CHECK(qs_quant_spec_validate(&sp) == QS_ERR_ARG && strstr(qs_error_message(), "4-bit"));
    sp.bits = 4, sp.fp32_scales = 1;
    CHECK(qs_quant_spec_validate(&sp) == QS_ERR_ARG);
    sp.scheme = QS_QUANT_FP8_E4M3, sp.bits = 8;
    CHECK(qs_quant_spec_validate(&sp) == QS_OK); /* fp8 takes fp32 scales */
    CHECK(qs_quant_bits_per_value(&sp, 4, 64) == 8.0 + 32.0 / 32);
    static const struct {
        int scheme, bits;
        double bpv;
    } cost[] = {{QS_QUANT_MXFP4, 4, 4.25},
                {QS_QUANT_MXFP6_E3M2, 6, 6.25},
                {QS_QUANT_MXFP6_E2M3, 6, 6.25},
                {QS_QUANT_MXFP8, 8, 8.25},
                {QS_QUANT_MXFP8_E5M2, 8, 8.25}};
    for (int i = 0; i < 5; i++) {
        qs_quant_spec m = {
            .bits = cost[i].bits, .scheme = cost[i].scheme, .gran = QS_QUANT_GROUP, .group = 32};
        CHECK(qs_quant_bits_per_value(&m, 16, 4096) == cost[i].bpv);
        CHECK(qs_quant_bits_nominal(&m, 32) == cost[i].bpv);
    }
    CHECK(qs_quant_scheme_from_name("mxfp4") == QS_QUANT_MXFP4 &&
          qs_quant_scheme_from_name("nvfp4") == QS_QUANT_NVFP4 &&
          qs_quant_scheme_from_name("fp8") == -1);
    CHECK(qs_quant_scheme_is_float(QS_QUANT_FP8_E5M2) &&
          !qs_quant_scheme_is_float(QS_QUANT_AFFINE));
}

/* qs_quant_fake and qs_quant_fake_ref agree for every format, granularity and clip. */
static void test_fake_matrix(void) {
    enum { R = 9, C = 100 };
    float *x = malloc(R * C * sizeof *x), *y = malloc(R * C * sizeof *y),
          *yr = malloc(R * C * sizeof *yr);
    int16_t *q = malloc(R * C * sizeof *q), *qr = malloc(R * C * sizeof *qr);
    srand(3);
    for (int i = 0; i < R * C; i++) x[i] = ((float)rand() / RAND_MAX - 0.5f) * 2.0f;
    for (int r = 0; r < R; r++) x[r * C + 17] *= 300.0f; /* an outlier channel */
    for (int c = 0; c < C; c++) x[4 * C + c] = 0.0f;     /* an all-zero token */
    int bad = 0, n = 0;
    for (int sch = QS_QUANT_INT_SCHEMES; sch < QS_QUANT_SCHEME_COUNT; sch++)
        for (int gr = 0; gr < QS_QUANT_GRAN_COUNT; gr++)
            for (int cl = 0; cl < QS_QUANT_CLIP_COUNT; cl++) {
                const qs_quant_traits *t = qs_quant_traits_of(sch);
                qs_quant_spec sp = {.bits = t->fixed_bits,
                                    .scheme = sch,
                                    .gran = gr,
                                    .group = t->default_group ? t->default_group : 24,
                                    .clip = cl,
                                    .percentile = 99.0};
                qs_quant_report a, b;
                qs_quant_io io = {.codes = q, .count_levels = 1};
                qs_quant_io ior = {.codes = qr, .count_levels = 1};
                int rc1 = qs_quant_fake(y, x, R, C, &sp, &io, &a);
                int rc2 = qs_quant_fake_ref(yr, x, R, C, &sp, &ior, &b);
                n++;
                if (rc1 || rc2 || memcmp(y, yr, R * C * sizeof *y) ||
                    memcmp(q, qr, R * C * sizeof *q) || a.n_clipped != b.n_clipped ||
                    a.levels_mean != b.levels_mean || a.levels_max > (1 << t->fixed_bits) - 1) {
                    bad++;
                    fprintf(stderr, "differs: %s %s %s\n", t->name, qs_quant_gran_name(gr),
                            qs_quant_clip_name(cl));
                }
                /* mse is never worse than absmax */
                if (cl == QS_QUANT_ABSMAX) {
                    double e0 = 0;
                    for (int i = 0; i < R * C; i++) e0 += (y[i] - x[i]) * (double)(y[i] - x[i]);
                    qs_quant_spec m = sp;
                    m.clip = QS_QUANT_MSE;
                    qs_quant_fake(yr, x, R, C, &m, NULL, NULL);
                    double e1 = 0;
                    for (int i = 0; i < R * C; i++) e1 += (yr[i] - x[i]) * (double)(yr[i] - x[i]);
                    if (e1 > e0 * (1 + MAX_TIE_REL_ERROR) && gr != QS_QUANT_TENSOR) bad++;
                }
            }
    CHECK_MSG(bad == 0, "%d of %d format configurations differ", bad, n);
    free(x), free(y), free(yr), free(q), free(qr);
}

/* ---- --dump: inputs and outputs for the numpy witness --------------------------------- */

static int write_file(const char *dir, const char *name, const void *p, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n) return 1;
    return fclose(f) != 0;
}

static int dump(const char *dir) {
    enum { R = 16, C = 96 };
    static float x[R * C], y[R * C], sc[R * C];
    static int16_t q[R * C];
    srand(17);
    for (int i = 0; i < R * C; i++) {
        float u = (float)rand() / RAND_MAX - 0.5f;
        x[i] = ldexpf(u, rand() % 24 - 12);
    }
    for (int r = 0; r < R; r++) x[r * C + 40] = 900.0f * (r % 2 ? 1 : -1); /* outlier channel */
    for (int c = 0; c < 32; c++) x[3 * C + c] = 0.0f;                      /* a zero block */
    if (write_file(dir, "x.f32", x, sizeof x)) return 1;
    char list[4096] = "";
    static const int grans[] = {QS_QUANT_TENSOR, QS_QUANT_ROW, QS_QUANT_COL, QS_QUANT_GROUP};
    for (int sch = QS_QUANT_INT_SCHEMES; sch < QS_QUANT_SCHEME_COUNT; sch++)
        for (int gi = 0; gi < 4; gi++) {
            const qs_quant_traits *t = qs_quant_traits_of(sch);
            qs_quant_spec sp = {.bits = t->fixed_bits,
                                .scheme = sch,
                                .gran = grans[gi],
                                .group = t->default_group ? t->default_group : 32};
            qs_quant_io io = {.codes = q, .scales = sc};
            qs_quant_report rep;
            if (qs_quant_fake(y, x, R, C, &sp, &io, &rep)) return 1;
            char name[128];
            snprintf(name, sizeof name, "%s_%s", t->name, qs_quant_gran_name(grans[gi]));
            char fy[160], fq[160], fs[160];
            snprintf(fy, sizeof fy, "%s.y.f32", name);
            snprintf(fq, sizeof fq, "%s.q.i16", name);
            snprintf(fs, sizeof fs, "%s.s.f32", name);
            if (write_file(dir, fy, y, sizeof y) || write_file(dir, fq, q, sizeof q) ||
                write_file(dir, fs, sc, (size_t)rep.n_scales * sizeof(float)))
                return 1;
            size_t len = strlen(list);
            snprintf(list + len, sizeof list - len, "%s %s %s %d %ld\n", name, t->name,
                     qs_quant_gran_name(grans[gi]), sp.group, rep.n_clipped);
        }
    char meta[64];
    snprintf(meta, sizeof meta, "%d %d\n", R, C);
    return write_file(dir, "shape.txt", meta, strlen(meta)) ||
           write_file(dir, "cases.txt", list, strlen(list));
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--dump") == 0) return dump(argv[2]);
    test_codes_round_trip();
    test_spec_values();
    test_rounding_and_saturation();
    test_paths_agree();
    test_mx_scale();
    test_nvfp4();
    test_spec_rules();
    test_fake_matrix();
    return check_summary("test_quant_float");
}
