/* qs_quant_fake over whole matrices: the fast and reference versions agree bit for bit in
 * every configuration (any thread count, in place or not), plus the edge cases: all-zero
 * and constant groups, a single huge value, NaN/Inf, a short last group, fp16 limits.
 *
 * With --dump DIR it writes its witness cases for tests/ref/test_quant_numpy.py. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "fp16.h"
#include "quant.h"

/* Named tolerances */
#define MAX_FP16_SCALE_REL_ERROR 0x1p-11 /* half an fp16 ulp */
#define MAX_PERCENTILE_ERROR     1e-5    /* interpolated ranks in float32 */
#define MAX_TIE_REL_ERROR        1e-12   /* equal errors summed in another order */

/* ---- data ---------------------------------------------------------------------------- */

static uint64_t rng = 88172645463325252ull;
static double urand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}
static float gauss(void) {
    double u = urand() + 1e-12, v = urand();
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

/* (R, C) heavy-tailed data: gaussian, a few 20x values, two outlier channels (x30) */
static float *make_data(int rows, int cols) {
    float *x = malloc((size_t)rows * cols * sizeof *x);
    for (long i = 0; i < (long)rows * cols; i++) {
        float v = gauss();
        if (urand() < 0.01) v *= 20.0f;
        if ((int)(i % cols) == 3 % cols || (int)(i % cols) == 101 % cols) v *= 30.0f;
        x[i] = v;
    }
    return x;
}

static int same(const void *a, const void *b, size_t n) { return memcmp(a, b, n) == 0; }

/* ---- fast vs reference --------------------------------------------------------------- */

typedef struct result {
    float *y, *scales, *ranges;
    int32_t *zeros;
    int16_t *codes;
    int *levels;
    qs_quant_report rep;
    int rc;
} result;

static void result_free(result *r) {
    free(r->y), free(r->scales), free(r->ranges), free(r->zeros), free(r->codes), free(r->levels);
}

/* mode 0 ref, 1 fast, 2 fast in place */
static result run(const qs_quant_spec *sp, const float *x, int rows, int cols, int mode) {
    result r;
    long N = qs_quant_n_scales(sp, rows, cols), n = (long)rows * cols;
    r.y = malloc(n * sizeof *r.y);
    r.codes = malloc(n * sizeof *r.codes);
    r.scales = malloc(N * sizeof *r.scales);
    r.zeros = malloc(N * sizeof *r.zeros);
    r.ranges = malloc(2 * N * sizeof *r.ranges);
    r.levels = malloc(N * sizeof *r.levels);
    qs_quant_io io = {r.codes, r.scales, r.zeros, r.ranges, NULL, r.levels, 1};
    if (mode == 2) {
        memcpy(r.y, x, n * sizeof *x);
        r.rc = qs_quant_fake(r.y, r.y, rows, cols, sp, &io, &r.rep);
    } else if (mode == 1)
        r.rc = qs_quant_fake(r.y, x, rows, cols, sp, &io, &r.rep);
    else
        r.rc = qs_quant_fake_ref(r.y, x, rows, cols, sp, &io, &r.rep);
    return r;
}

static int results_equal(const result *a, const result *b, long n, long N) {
    return a->rc == b->rc && same(a->y, b->y, n * sizeof(float)) &&
           same(a->codes, b->codes, n * sizeof(int16_t)) &&
           same(a->scales, b->scales, N * sizeof(float)) &&
           same(a->zeros, b->zeros, N * sizeof(int32_t)) &&
           same(a->ranges, b->ranges, 2 * N * sizeof(float)) &&
           same(a->levels, b->levels, N * sizeof(int)) && same(&a->rep, &b->rep, sizeof a->rep);
}

static void test_fast_equals_ref(void) {
    /* the last is large enough to run on several threads */
    static const int shapes[][2] = {{7, 172}, {5, 64}, {1, 1}, {33, 17}, {3, 300}, {40, 1000}};
    static const int bits[] = {2, 3, 4, 8};
    int n_configs = 0, n_bad = 0;
    int max_thr = omp_get_max_threads();
    for (int sh = 0; sh < 6; sh++) {
        int rows = shapes[sh][0], cols = shapes[sh][1];
        float *x = make_data(rows, cols);
        for (int sch = 0; sch < QS_QUANT_INT_SCHEMES; sch++)
            for (int gr = 0; gr < QS_QUANT_GRAN_COUNT; gr++)
                for (int cl = 0; cl < QS_QUANT_CLIP_COUNT; cl++)
                    for (int bi = 0; bi < 4; bi++)
                        for (int gs = 0; gs < (gr == QS_QUANT_GROUP ? 3 : 1); gs++) {
                            qs_quant_spec sp = {.bits = bits[bi],
                                                .scheme = sch,
                                                .gran = gr,
                                                .group = (int[]){32, 128, 5}[gs],
                                                .clip = cl,
                                                .percentile = 99.0,
                                                .fp32_scales = bi == 1};
                            long N = qs_quant_n_scales(&sp, rows, cols), n = (long)rows * cols;
                            result ref = run(&sp, x, rows, cols, 0);
                            result fast = run(&sp, x, rows, cols, 1);
                            result inpl = run(&sp, x, rows, cols, 2);
                            omp_set_num_threads(3); /* more threads than cores */
                            result thr3 = run(&sp, x, rows, cols, 1);
                            omp_set_num_threads(1);
                            result thr1 = run(&sp, x, rows, cols, 1);
                            omp_set_num_threads(max_thr);
                            int ok = ref.rc == 0 && results_equal(&ref, &fast, n, N) &&
                                     results_equal(&ref, &inpl, n, N) &&
                                     results_equal(&ref, &thr3, n, N) &&
                                     results_equal(&ref, &thr1, n, N) && ref.rep.n_scales == N;
                            if (!ok) {
                                n_bad++;
                                if (n_bad < 5)
                                    fprintf(stderr, "differs: (%d,%d) b%d %s %s g%d %s\n", rows,
                                            cols, sp.bits, qs_quant_scheme_name(sch),
                                            qs_quant_gran_name(gr), sp.group,
                                            qs_quant_clip_name(cl));
                            }
                            n_configs++;
                            result_free(&ref), result_free(&fast), result_free(&inpl);
                            result_free(&thr3), result_free(&thr1);
                        }
        free(x);
    }
    CHECK_MSG(n_bad == 0, "%d of %d configurations differ between fast and reference", n_bad,
              n_configs);
    CHECK(n_configs == 6 * 2 * 6 * 3 * 4);
}

/* ---- edge cases ---------------------------------------------------------------------- */

static int is_pos_zero(float v) { return v == 0.0f && !signbit(v); }

static void test_zero_and_constant_groups(void) {
    enum { R = 3, C = 172 };
    float x[R * C], y[R * C];
    for (int i = 0; i < R * C; i++) x[i] = 0.0f;
    for (int c = 0; c < C; c++) x[1 * C + c] = 0.3f; /* constant row */
    for (int c = 0; c < C; c++)
        x[2 * C + c] = c < 128 ? 0.0f : -0.01f * (float)(c - 127); /* zero group */
    for (int sch = 0; sch < QS_QUANT_INT_SCHEMES; sch++) {
        qs_quant_spec sp = {.bits = 4, .scheme = sch, .gran = QS_QUANT_GROUP, .group = 128};
        qs_quant_report rep;
        float scales[6];
        qs_quant_io io = {.scales = scales, .count_levels = 1};
        CHECK(qs_quant_fake(y, x, R, C, &sp, &io, &rep) == 0);
        int zeros_ok = 1, nan = 0;
        for (int c = 0; c < C; c++) zeros_ok &= is_pos_zero(y[c]); /* all-zero row */
        for (int c = 0; c < 128; c++) zeros_ok &= is_pos_zero(y[2 * C + c]);
        for (int i = 0; i < R * C; i++) nan |= isnan(y[i]);
        CHECK(zeros_ok && !nan);
        CHECK(rep.n_zero_scale == 3 && scales[0] == 0.0f && scales[1] == 0.0f && scales[4] == 0.0f);
        CHECK(rep.n_scales == 6 && rep.levels_min == 1);
        /* constant group: every value on one code, reconstructed within fp16 scale error */
        for (int c = 0; c < C; c++) CHECK_NEAR(y[C + c], 0.3f, 0.3 * MAX_FP16_SCALE_REL_ERROR);
        CHECK(y[C] == y[C + 100]);
        /* the short last group (44 values) has its own scale */
        float amax = 0.01f * 44;
        if (sch == QS_QUANT_SYMMETRIC)
            CHECK(scales[5] == qs_fp16_round(amax / 7.0f));
        else
            CHECK(scales[5] == qs_fp16_round(amax / 15.0f));
    }
}

/* "one outlier crushes the rest into a few levels" */
static void test_single_huge_value(void) {
    enum { C = 256 };
    float x[2 * C], y[2 * C];
    for (int c = 0; c < C; c++) x[c] = x[C + c] = 0.01f * gauss();
    x[C + 17] = 1000.0f; /* row 1 has one huge value */
    qs_quant_spec sp = {.bits = 4, .gran = QS_QUANT_ROW};
    int levels[2];
    qs_quant_io io = {.levels = levels};
    qs_quant_report rep;
    CHECK(qs_quant_fake(y, x, 2, C, &sp, &io, &rep) == 0);
    CHECK(levels[0] >= 12); /* plain row uses most of 15 */
    CHECK(levels[1] == 2);  /* 0 and +7 only */
    CHECK(y[C + 17] == 7.0f * qs_fp16_round(1000.0f / 7.0f));
    int crushed = 1;
    for (int c = 0; c < C; c++)
        if (c != 17) crushed &= y[C + c] == 0.0f;
    CHECK(crushed);
    CHECK(rep.levels_min == 2 && rep.levels_max == levels[0] &&
          rep.levels_mean == (levels[0] + 2) / 2.0);
    /* per-tensor: the outlier crushes both rows */
    sp.gran = QS_QUANT_TENSOR;
    CHECK(qs_quant_fake(y, x, 2, C, &sp, &io, &rep) == 0 && levels[0] == 2);
    /* mse clipping gives up the outlier to keep the rest: lower error, more levels */
    sp.gran = QS_QUANT_ROW;
    sp.clip = QS_QUANT_MSE;
    float ranges[4];
    qs_quant_io io2 = {.ranges = ranges, .levels = levels};
    CHECK(qs_quant_fake(y, x, 2, C, &sp, &io2, NULL) == 0);
    CHECK(ranges[3] <= 1000.0f && ranges[3] >= 300.0f); /* ratio grid starts at 0.30 */
}

static void test_nonfinite(void) {
    enum { R = 4, C = 9 };
    float x[R * C], y[R * C], keep[R * C];
    for (int i = 0; i < R * C; i++) x[i] = (float)i;
    qs_quant_spec sp = {.bits = 8, .gran = QS_QUANT_ROW};
    const float bad[2] = {NAN, -INFINITY};
    for (int b = 0; b < 2; b++)
        for (int fast = 0; fast < 2; fast++) {
            x[2 * C + 5] = bad[b];
            x[3 * C + 1] = NAN; /* a later one is not reported */
            memcpy(keep, x, sizeof x);
            for (int i = 0; i < R * C; i++) y[i] = -7.0f;
            int rc = fast ? qs_quant_fake(x, x, R, C, &sp, NULL, NULL)
                          : qs_quant_fake_ref(y, x, R, C, &sp, NULL, NULL);
            CHECK(rc == QS_ERR_NUMERIC);
            CHECK_MSG(strstr(qs_error_message(), "row 2, col 5") != NULL, "%s", qs_error_message());
            CHECK(strstr(qs_error_message(), b ? "Inf" : "NaN") != NULL);
            CHECK(same(x, keep, sizeof x) && y[0] == -7.0f); /* nothing written */
            x[2 * C + 5] = 0.0f, x[3 * C + 1] = 0.0f;
        }
}

static void test_percentile_and_clip_methods(void) {
    enum { C = 100 };
    float x[C], y[C], ranges[2];
    for (int c = 0; c < C; c++) x[c] = (c % 2 ? -1.0f : 1.0f) * (float)c; /* |x| = 0..99 */
    qs_quant_spec sp = {
        .bits = 8, .gran = QS_QUANT_ROW, .clip = QS_QUANT_PERCENTILE, .percentile = 90.0};
    qs_quant_io io = {.ranges = ranges};
    CHECK(qs_quant_fake(y, x, 1, C, &sp, &io, NULL) == 0);
    CHECK(ranges[1] == 89.1f && ranges[0] == -89.1f); /* h = 0.9·99 = 89.1 */
    /* affine: P10 and P90 of x itself (-0..-99 odd, 0..98 even) */
    sp.scheme = QS_QUANT_AFFINE;
    CHECK(qs_quant_fake(y, x, 1, C, &sp, &io, NULL) == 0);
    float s[C];
    for (int c = 0; c < C; c++) s[c] = x[c];
    /* sorted: -99,-97,..,-1,0,2,..,98; index 9.9 -> -81 + 0.9·2 = -79.2; 89.1 -> 78 + .1·2 */
    CHECK_NEAR(ranges[0], -79.2, MAX_PERCENTILE_ERROR);
    CHECK_NEAR(ranges[1], 78.2, MAX_PERCENTILE_ERROR);
    (void)s;
    /* percentile 100 is absmax, exactly */
    float *d = make_data(6, 172), ya[6 * 172], yp[6 * 172];
    for (int sch = 0; sch < 2; sch++) {
        qs_quant_spec a = {.bits = 4, .scheme = sch, .gran = QS_QUANT_GROUP, .group = 32};
        qs_quant_spec p = a;
        p.clip = QS_QUANT_PERCENTILE, p.percentile = 100.0;
        CHECK(qs_quant_fake(ya, d, 6, 172, &a, NULL, NULL) == 0);
        CHECK(qs_quant_fake(yp, d, 6, 172, &p, NULL, NULL) == 0);
        CHECK(same(ya, yp, sizeof ya));
    }
    /* mse is never worse than absmax, group by group, and better overall on heavy tails */
    for (int sch = 0; sch < 2; sch++) {
        qs_quant_spec a = {.bits = 3, .scheme = sch, .gran = QS_QUANT_GROUP, .group = 32};
        qs_quant_spec m = a;
        m.clip = QS_QUANT_MSE;
        CHECK(qs_quant_fake(ya, d, 6, 172, &a, NULL, NULL) == 0);
        CHECK(qs_quant_fake(yp, d, 6, 172, &m, NULL, NULL) == 0);
        int worse = 0;
        double ea_all = 0, em_all = 0;
        for (int g = 0; g < 6 * 6; g++) {
            int r = g / 6, c0 = (g % 6) * 32, n = 172 - c0 < 32 ? 172 - c0 : 32;
            double ea = 0, em = 0;
            for (int c = c0; c < c0 + n; c++) {
                double da = ya[r * 172 + c] - d[r * 172 + c], dm = yp[r * 172 + c] - d[r * 172 + c];
                ea += da * da, em += dm * dm;
            }
            worse += em > ea * (1 + MAX_TIE_REL_ERROR);
            ea_all += ea, em_all += em;
        }
        CHECK_MSG(worse == 0, "%d groups worse with mse", worse);
        CHECK_MSG(em_all < ea_all, "mse %g vs absmax %g", em_all, ea_all);
    }
    free(d);
    /* on plain gaussian rows, 3-bit mse clipping cuts the error clearly (about 0.8 of absmax) */
    enum { GR = 16, GC = 512 };
    float *gsn = malloc(GR * GC * sizeof *gsn), *ga = malloc(GR * GC * sizeof *ga),
          *gm = malloc(GR * GC * sizeof *gm);
    for (int i = 0; i < GR * GC; i++) gsn[i] = gauss();
    qs_quant_spec a = {.bits = 3, .gran = QS_QUANT_ROW}, m = a;
    m.clip = QS_QUANT_MSE;
    float rg[2 * GR];
    qs_quant_io iog = {.ranges = rg};
    CHECK(qs_quant_fake(ga, gsn, GR, GC, &a, NULL, NULL) == 0);
    CHECK(qs_quant_fake(gm, gsn, GR, GC, &m, &iog, NULL) == 0);
    double ea = 0, em = 0;
    for (int i = 0; i < GR * GC; i++)
        ea += (ga[i] - gsn[i]) * (double)(ga[i] - gsn[i]),
            em += (gm[i] - gsn[i]) * (double)(gm[i] - gsn[i]);
    CHECK_MSG(em < 0.85 * ea, "gaussian: mse %g vs absmax %g", em, ea);
    /* the chosen threshold sits well inside absmax (about 2.5 sigma of ~3.5) */
    CHECK(rg[1] > 1.5f && rg[1] < 3.2f);
    free(gsn), free(ga), free(gm);
}

static void test_static_ranges_and_args(void) {
    enum { R = 2, C = 8 };
    float x[R * C], y[R * C], y2[R * C];
    for (int i = 0; i < R * C; i++) x[i] = (float)i / 4.0f - 1.0f;
    qs_quant_spec sp = {.bits = 4, .gran = QS_QUANT_COL};
    float rin[2 * C], rout[2 * C];
    for (int c = 0; c < C; c++) rin[2 * c] = -1.0f, rin[2 * c + 1] = 1.0f;
    qs_quant_io io = {.ranges_in = rin, .ranges = rout};
    qs_quant_report rep;
    CHECK(qs_quant_fake(y, x, R, C, &sp, &io, &rep) == 0);
    CHECK(same(rin, rout, sizeof rin));
    qs_quant_spec t = {.bits = 4, .gran = QS_QUANT_TENSOR};
    float r1[2] = {-1.0f, 1.0f};
    qs_quant_io io1 = {.ranges_in = r1};
    CHECK(qs_quant_fake(y2, x, R, C, &t, &io1, NULL) == 0);
    CHECK(same(y, y2, sizeof y)); /* same range, same output */
    CHECK(rep.n_clipped == 7);    /* 1.25 .. 2.75 lie beyond 1 */
    rin[5] = NAN;
    CHECK(qs_quant_fake(y, x, R, C, &sp, &io, NULL) == QS_ERR_ARG);
    rin[5] = 1.0f, rin[6] = 2.0f, rin[7] = 1.0f; /* lo > hi */
    CHECK(qs_quant_fake_ref(y, x, R, C, &sp, &io, NULL) == QS_ERR_ARG);
    CHECK(strstr(qs_error_message(), "ranges_in[3]") != NULL);
    /* col scales are per column absmax */
    float scales[C];
    qs_quant_io ios = {.scales = scales};
    CHECK(qs_quant_fake(y, x, R, C, &sp, &ios, NULL) == 0);
    for (int c = 0; c < C; c++) {
        float a = fmaxf(fabsf(x[c]), fabsf(x[C + c]));
        CHECK(scales[c] == qs_fp16_round(a / 7.0f));
    }
    /* pass-through and bad arguments */
    qs_quant_spec none = {.bits = 16};
    x[3] = NAN; /* not checked when not quantizing */
    CHECK(qs_quant_fake(y, x, R, C, &none, NULL, &rep) == 0 && same(y, x, sizeof x));
    CHECK(rep.bits_per_value == 16.0 && rep.n_scales == 0);
    x[3] = 0.0f;
    CHECK(qs_quant_fake(y, x, 0, C, &sp, NULL, NULL) == QS_ERR_ARG);
    CHECK(qs_quant_fake(NULL, x, R, C, &sp, NULL, NULL) == QS_ERR_ARG);
    sp.bits = 12;
    CHECK(qs_quant_fake(y, x, R, C, &sp, NULL, NULL) == QS_ERR_ARG);
}

static void test_fp16_limits(void) {
    float x[4] = {1e6f, -2e5f, 3.0f, 0.0f}, y[4];
    qs_quant_spec sp = {.bits = 2, .gran = QS_QUANT_TENSOR};
    qs_quant_report rep;
    CHECK(qs_quant_fake(y, x, 1, 4, &sp, NULL, &rep) == 0);
    CHECK(rep.n_scale_overflow == 1 && y[0] == 65504.0f && y[1] == -65504.0f && rep.n_clipped == 2);
    sp.fp32_scales = 1;
    CHECK(qs_quant_fake(y, x, 1, 4, &sp, NULL, &rep) == 0);
    CHECK(rep.n_scale_overflow == 0 && y[0] == 1e6f && rep.n_clipped == 0);
    float t[4] = {1e-9f, -2e-9f, 0.0f, 1e-10f};
    sp.fp32_scales = 0, sp.bits = 8;
    CHECK(qs_quant_fake(y, t, 1, 4, &sp, NULL, &rep) == 0);
    CHECK(rep.n_scale_underflow == 1 && rep.n_zero_scale == 1);
    for (int i = 0; i < 4; i++) CHECK(is_pos_zero(y[i]));
}

/* ---- witness dump -------------------------------------------------------------------- */

static int write_file(const char *dir, int i, const char *what, const void *p, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/case%03d_%s.bin", dir, i, what);
    FILE *f = fopen(path, "wb");
    if (!f) return 1;
    size_t w = fwrite(p, 1, n, f);
    return fclose(f) != 0 || w != n;
}

static int dump(const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/cases.txt", dir);
    FILE *list = fopen(path, "w");
    if (!list) return 1;
    static const int shapes[][2] = {{16, 172}, {9, 256}, {64, 40}};
    int i = 0, err = 0;
    for (int sh = 0; sh < 3; sh++) {
        int rows = shapes[sh][0], cols = shapes[sh][1];
        float *x = make_data(rows, cols);
        for (int sch = 0; sch < 2; sch++)
            for (int gr = 0; gr < QS_QUANT_GRAN_COUNT; gr++)
                for (int cl = 0; cl < QS_QUANT_CLIP_COUNT; cl++)
                    for (int bits = 3; bits <= 8; bits += 5)
                        for (int fp32 = 0; fp32 < 2; fp32++) {
                            qs_quant_spec sp = {.bits = bits,
                                                .scheme = sch,
                                                .gran = gr,
                                                .group = sh == 0 ? 32 : 128,
                                                .clip = cl,
                                                .percentile = 99.5,
                                                .fp32_scales = fp32};
                            result r = run(&sp, x, rows, cols, 1);
                            long n = (long)rows * cols, N = r.rep.n_scales;
                            if (r.rc) err = 1;
                            fprintf(list, "%d %d %d %d %d %d %d %.17g %d %ld %ld\n", i, rows, cols,
                                    bits, sch, gr, sp.group, sp.percentile, fp32 * 100 + cl, N,
                                    r.rep.n_clipped);
                            err |= write_file(dir, i, "x", x, n * sizeof(float));
                            err |= write_file(dir, i, "y", r.y, n * sizeof(float));
                            err |= write_file(dir, i, "codes", r.codes, n * sizeof(int16_t));
                            err |= write_file(dir, i, "scales", r.scales, N * sizeof(float));
                            err |= write_file(dir, i, "zeros", r.zeros, N * sizeof(int32_t));
                            err |= write_file(dir, i, "ranges", r.ranges, 2 * N * sizeof(float));
                            result_free(&r);
                            i++;
                        }
        free(x);
    }
    err |= fclose(list) != 0;
    return err;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--dump") == 0) return dump(argv[2]);
    test_fast_equals_ref();
    test_zero_and_constant_groups();
    test_single_huge_value();
    test_nonfinite();
    test_percentile_and_clip_methods();
    test_static_ranges_and_args();
    test_fp16_limits();
    return check_summary("test_quant_fake");
}
