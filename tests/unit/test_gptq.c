/* GPTQ on one matrix (core/quant/gptq.h): with a Hessian that is a multiple of the identity
 * no error moves and the result is round-to-nearest's, bit for bit; on correlated inputs it
 * lowers the layer-output error below round-to-nearest's; it agrees with a textbook version
 * written here (explicit inverse Hessian, one column at a time, no Cholesky, no blocks); the
 * block width and the thread count change nothing that matters; dead inputs, act-order,
 * static groups, the codes/scales it reports, and the errors it returns.
 *
 * With --dump DIR it writes a case for tests/ref/test_torch_remedies.py. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "gptq.h"
#include "hadamard.h" /* qs_splitmix64 */

/* Named tolerances */
#define MAX_HESSIAN_REL_ERROR   1e-9  /* XᵀX accumulated in double, in another order */
#define MAX_HESSIAN_ABS_ERROR   1e-9  /* for entries near zero */
#define MAX_REPORT_REL_ERROR    1e-9  /* the reported output error vs recomputed */
#define MAX_REORDER_REL_ERROR   1e-3  /* textbook / other block width: sums reordered */
#define MIN_SAME_CODES_FRACTION 0.999 /* the same, up to rounding ties */

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double urand(void) { return (double)(qs_splitmix64(&rng) >> 11) * 0x1p-53; }
static double gauss(void) {
    double u = urand(), v = urand();
    return sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
}

/* X (T, C): correlated inputs (a rank-8 mix plus noise) with one channel 20x larger */
static float *make_x(int T, int C) {
    int k = 8;
    double *mix = malloc((size_t)k * C * sizeof *mix);
    for (int i = 0; i < k * C; i++) mix[i] = gauss();
    float *x = malloc((size_t)T * C * sizeof *x);
    for (int t = 0; t < T; t++) {
        double z[8];
        for (int j = 0; j < k; j++) z[j] = gauss();
        for (int c = 0; c < C; c++) {
            double v = 0.3 * gauss();
            for (int j = 0; j < k; j++) v += z[j] * mix[j * C + c] / sqrt((double)k);
            x[(long)t * C + c] = (float)(c == 3 ? 20.0 * v : v);
        }
    }
    free(mix);
    return x;
}

static float *make_w(int R, int C) {
    float *w = malloc((size_t)R * C * sizeof *w);
    for (long i = 0; i < (long)R * C; i++) w[i] = (float)(0.05 * gauss());
    return w;
}

static float *copy(const float *x, long n) {
    float *y = malloc((size_t)n * sizeof *y);
    memcpy(y, x, (size_t)n * sizeof *y);
    return y;
}

static qs_quant_spec spec(int bits, int gran, int group, int scheme, int clip) {
    qs_quant_spec s = {0};
    s.bits = bits, s.gran = gran, s.group = group, s.scheme = scheme, s.clip = clip;
    return s;
}

/* H = c·I: GPTQ is round-to-nearest */
static void test_identity_is_rtn(void) {
    int R = 24, C = 80;
    qs_hessian hs;
    CHECK(qs_hessian_init(&hs, C) == 0);
    for (int i = 0; i < C; i++) hs.h[(long)i * C + i] = 3.0;
    hs.n = 10;
    qs_quant_spec specs[] = {
        spec(4, QS_QUANT_ROW, 0, QS_QUANT_SYMMETRIC, QS_QUANT_ABSMAX),
        spec(3, QS_QUANT_TENSOR, 0, QS_QUANT_AFFINE, QS_QUANT_ABSMAX),
        spec(4, QS_QUANT_GROUP, 32, QS_QUANT_SYMMETRIC, QS_QUANT_MSE),
        spec(2, QS_QUANT_GROUP, 7, QS_QUANT_AFFINE, QS_QUANT_ABSMAX),
    };
    for (size_t k = 0; k < sizeof specs / sizeof *specs; k++)
        for (int ao = 0; ao <= 1; ao++) {
            float *w = make_w(R, C), *a = copy(w, (long)R * C), *b = copy(w, (long)R * C);
            qs_gptq_opts o;
            qs_gptq_opts_default(&o);
            o.act_order = ao;
            o.block = 16;
            CHECK(qs_gptq_quantize(a, R, C, &hs, &specs[k], &o, NULL, NULL) == 0);
            CHECK(qs_quant_fake(b, w, R, C, &specs[k], NULL, NULL) == 0);
            CHECK_MSG(memcmp(a, b, (size_t)R * C * sizeof *a) == 0,
                      "spec %zu act_order %d: GPTQ with H = cI differs from RTN", k, ao);
            free(w), free(a), free(b);
        }
    qs_hessian_free(&hs);
}

/* The textbook algorithm: explicit (H + λI)⁻¹, column by column, removing each column from
 * the inverse after it is fixed; per-row or per-tensor grids from the original weights. */
static void gptq_textbook(float *w, int R, int C, const qs_hessian *hs, const qs_quant_spec *sp,
                          double damp) {
    long CC = (long)C * C;
    double *A = malloc((size_t)CC * sizeof *A), *inv = calloc((size_t)CC, sizeof *inv);
    memcpy(A, hs->h, (size_t)CC * sizeof *A);
    double md = 0;
    for (int i = 0; i < C; i++) md += A[(long)i * C + i];
    for (int i = 0; i < C; i++) A[(long)i * C + i] += damp * md / C;
    for (int i = 0; i < C; i++) inv[(long)i * C + i] = 1.0;
    for (int p = 0; p < C; p++) { /* Gauss–Jordan, no pivoting needed (positive definite) */
        double d = A[(long)p * C + p];
        for (int j = 0; j < C; j++) A[(long)p * C + j] /= d, inv[(long)p * C + j] /= d;
        for (int i = 0; i < C; i++)
            if (i != p) {
                double f = A[(long)i * C + p];
                for (int j = 0; j < C; j++) {
                    A[(long)i * C + j] -= f * A[(long)p * C + j];
                    inv[(long)i * C + j] -= f * inv[(long)p * C + j];
                }
            }
    }
    long N = qs_quant_n_scales(sp, R, C);
    float *ranges = malloc((size_t)N * 2 * sizeof *ranges), *tmp = copy(w, (long)R * C);
    qs_quant_io io = {0};
    io.ranges = ranges;
    qs_quant_fake(tmp, w, R, C, sp, &io, NULL);
    const qs_quant_traits *tr = qs_quant_traits_of(sp->scheme);
    qs_quant_grid *g = malloc((size_t)N * sizeof *g);
    for (long i = 0; i < N; i++) /* integer grids: no tensor scale */
        tr->grid(&g[i], ranges[2 * i], ranges[2 * i + 1], sp->bits, 0, 0.0f);
    double *wd = malloc((size_t)R * C * sizeof *wd);
    for (long i = 0; i < (long)R * C; i++) wd[i] = w[i];
    for (int i = 0; i < C; i++) {
        double hii = inv[(long)i * C + i];
        for (int r = 0; r < R; r++) {
            float x = (float)wd[(long)r * C + i], y;
            int16_t q;
            tr->fake_ref(&y, &q, &x, 1, &g[sp->gran == QS_QUANT_TENSOR ? 0 : r]);
            double e = (wd[(long)r * C + i] - y) / hii;
            for (int j = i + 1; j < C; j++) wd[(long)r * C + j] -= e * inv[(long)i * C + j];
            wd[(long)r * C + i] = y;
        }
        for (int a = i + 1; a < C; a++) /* remove column i from the inverse */
            for (int b = i + 1; b < C; b++)
                inv[(long)a * C + b] -= inv[(long)a * C + i] * inv[(long)i * C + b] / hii;
    }
    for (long i = 0; i < (long)R * C; i++) w[i] = (float)wd[i];
    free(A), free(inv), free(ranges), free(tmp), free(g), free(wd);
}

static double out_err(const float *w, const float *q, int R, int C, const qs_hessian *hs) {
    double s = 0;
    for (int r = 0; r < R; r++)
        for (int i = 0; i < C; i++) {
            double di = (double)w[(long)r * C + i] - q[(long)r * C + i];
            if (di == 0) continue;
            for (int j = 0; j < C; j++)
                s +=
                    di * hs->h[(long)i * C + j] * ((double)w[(long)r * C + j] - q[(long)r * C + j]);
        }
    return s / hs->n;
}

static void test_correlated(void) {
    int R = 48, C = 96, T = 512;
    float *x = make_x(T, C), *w = make_w(R, C);
    qs_hessian hs;
    CHECK(qs_hessian_init(&hs, C) == 0);
    CHECK(qs_hessian_add(&hs, x, 200) == 0 && qs_hessian_add(&hs, x + 200L * C, T - 200) == 0);
    CHECK(hs.n == T);
    /* H = XᵀX, symmetric, checked at a few entries */
    for (int k = 0; k < 5; k++) {
        int i = (k * 37) % C, j = (k * 53 + 11) % C;
        double s = 0;
        for (int t = 0; t < T; t++) s += (double)x[(long)t * C + i] * x[(long)t * C + j];
        CHECK_NEAR(hs.h[(long)i * C + j], s,
                   MAX_HESSIAN_REL_ERROR * fabs(s) + MAX_HESSIAN_ABS_ERROR);
        CHECK(hs.h[(long)i * C + j] == hs.h[(long)j * C + i]);
    }
    qs_quant_spec sp = spec(3, QS_QUANT_ROW, 0, QS_QUANT_SYMMETRIC, QS_QUANT_ABSMAX);
    qs_gptq_opts o;
    qs_gptq_opts_default(&o);
    o.compare = 1;
    float *a = copy(w, (long)R * C);
    qs_gptq_report rep;
    CHECK(qs_gptq_quantize(a, R, C, &hs, &sp, &o, NULL, &rep) == 0);
    printf("W3 per-channel: GPTQ error %.4g, RTN %.4g (energy %.4g)\n", rep.err, rep.err_rtn,
           rep.ref_energy);
    CHECK_MSG(rep.err < 0.7 * rep.err_rtn, "GPTQ %g vs RTN %g", rep.err, rep.err_rtn);
    CHECK_NEAR(rep.err, out_err(w, a, R, C, &hs), MAX_REPORT_REL_ERROR * rep.err);
    CHECK(rep.n_dead == 0 && rep.damp_lambda > 0);
    /* the textbook version gives the same result, up to rounding ties */
    float *t = copy(w, (long)R * C);
    gptq_textbook(t, R, C, &hs, &sp, o.damp);
    long same = 0;
    for (long i = 0; i < (long)R * C; i++) same += a[i] == t[i];
    double et = out_err(w, t, R, C, &hs);
    CHECK_MSG(same >= MIN_SAME_CODES_FRACTION * R * C, "textbook agreement %ld of %d", same, R * C);
    CHECK_MSG(fabs(et - rep.err) < MAX_REORDER_REL_ERROR * rep.err, "textbook error %g vs %g", et,
              rep.err);
    /* block width: a reordering of sums only */
    o.block = 5;
    float *b5 = copy(w, (long)R * C);
    qs_gptq_report rep5;
    CHECK(qs_gptq_quantize(b5, R, C, &hs, &sp, &o, NULL, &rep5) == 0);
    same = 0;
    for (long i = 0; i < (long)R * C; i++) same += a[i] == b5[i];
    CHECK_MSG(same >= MIN_SAME_CODES_FRACTION * R * C &&
                  fabs(rep5.err - rep.err) < MAX_REORDER_REL_ERROR * rep.err,
              "block 5 vs 128: %ld same, error %g vs %g", same, rep5.err, rep.err);
    /* thread count: identical bits */
    o.block = 128;
    int nt = omp_get_max_threads();
    omp_set_num_threads(1);
    float *one = copy(w, (long)R * C);
    CHECK(qs_gptq_quantize(one, R, C, &hs, &sp, &o, NULL, NULL) == 0);
    omp_set_num_threads(nt > 1 ? nt : 2);
    CHECK(memcmp(one, a, (size_t)R * C * sizeof *a) == 0);
    omp_set_num_threads(nt);
    /* act-order and groups: still better than RTN; codes and scales reproduce the values */
    qs_quant_spec gs[] = {spec(4, QS_QUANT_GROUP, 32, QS_QUANT_SYMMETRIC, QS_QUANT_ABSMAX),
                          spec(3, QS_QUANT_GROUP, 20, QS_QUANT_AFFINE, QS_QUANT_MSE)};
    for (int k = 0; k < 2; k++)
        for (int ao = 0; ao <= 1; ao++) {
            o.act_order = ao;
            long N = qs_quant_n_scales(&gs[k], R, C);
            int16_t *codes = malloc((size_t)R * C * sizeof *codes);
            float *scales = malloc((size_t)N * sizeof *scales);
            int32_t *zeros = malloc((size_t)N * sizeof *zeros);
            qs_quant_io io = {0};
            io.codes = codes, io.scales = scales, io.zeros = zeros;
            float *g = copy(w, (long)R * C);
            qs_gptq_report gr;
            CHECK(qs_gptq_quantize(g, R, C, &hs, &gs[k], &o, &io, &gr) == 0);
            CHECK_MSG(gr.err < 0.8 * gr.err_rtn, "spec %d act_order %d: %g vs RTN %g", k, ao,
                      gr.err, gr.err_rtn);
            int ngc = (C + gs[k].group - 1) / gs[k].group, bad = 0;
            for (int r = 0; r < R; r++)
                for (int c = 0; c < C; c++) {
                    long gi = (long)r * ngc + c / gs[k].group;
                    float v = (float)(codes[(long)r * C + c] - zeros[gi]) * scales[gi];
                    bad += v != g[(long)r * C + c];
                }
            CHECK_MSG(bad == 0, "spec %d act_order %d: %d values differ from code·scale", k, ao,
                      bad);
            free(codes), free(scales), free(zeros), free(g);
        }
    free(x), free(w), free(a), free(t), free(b5), free(one);
    qs_hessian_free(&hs);
}

static void test_dead_and_errors(void) {
    int R = 8, C = 16, T = 64;
    float *x = make_x(T, C);
    for (int t = 0; t < T; t++) x[(long)t * C + 5] = 0.0f; /* input 5 never fires */
    qs_hessian hs;
    CHECK(qs_hessian_init(&hs, C) == 0 && qs_hessian_add(&hs, x, T) == 0);
    float *w = make_w(R, C);
    qs_quant_spec sp = spec(4, QS_QUANT_ROW, 0, QS_QUANT_SYMMETRIC, QS_QUANT_ABSMAX);
    qs_gptq_report rep;
    CHECK(qs_gptq_quantize(w, R, C, &hs, &sp, NULL, NULL, &rep) == 0);
    CHECK(rep.n_dead == 1);
    int zero = 1;
    for (int r = 0; r < R; r++) zero &= w[(long)r * C + 5] == 0.0f;
    CHECK(zero);
    float *w0 = make_w(R, C), *w1 = copy(w0, (long)R * C);
    qs_quant_spec col = spec(4, QS_QUANT_COL, 0, QS_QUANT_SYMMETRIC, QS_QUANT_ABSMAX);
    qs_quant_spec none = spec(16, QS_QUANT_ROW, 0, QS_QUANT_SYMMETRIC, QS_QUANT_ABSMAX);
    CHECK(qs_gptq_quantize(w1, R, C, &hs, &col, NULL, NULL, NULL) == QS_ERR_ARG);
    CHECK(qs_gptq_quantize(w1, R, C, &hs, &none, NULL, NULL, NULL) == QS_ERR_ARG);
    CHECK(qs_gptq_quantize(w1, R, C - 1, &hs, &sp, NULL, NULL, NULL) == QS_ERR_ARG);
    qs_gptq_opts o;
    qs_gptq_opts_default(&o);
    o.damp = -1;
    CHECK(qs_gptq_quantize(w1, R, C, &hs, &sp, &o, NULL, NULL) == QS_ERR_ARG);
    w1[3] = NAN;
    CHECK(qs_gptq_quantize(w1, R, C, &hs, &sp, NULL, NULL, NULL) == QS_ERR_NUMERIC);
    w1[3] = w0[3];
    CHECK(memcmp(w0, w1, (size_t)R * C * sizeof *w0) == 0); /* errors leave w alone */
    x[7] = INFINITY;
    CHECK(qs_hessian_add(&hs, x, 1) == QS_ERR_NUMERIC);
    /* a Hessian that damping cannot rescue: not positive semi-definite, damp 0 */
    qs_hessian bad;
    CHECK(qs_hessian_init(&bad, 2) == 0);
    bad.h[0] = 1, bad.h[1] = 2, bad.h[2] = 2, bad.h[3] = 1, bad.n = 1;
    float w2[4] = {1, 2, 3, 4};
    o.damp = 0;
    CHECK(qs_gptq_quantize(w2, 2, 2, &bad, &sp, &o, NULL, NULL) == QS_ERR_NUMERIC);
    qs_hessian_free(&bad);
    free(x), free(w), free(w0), free(w1);
    qs_hessian_free(&hs);
}

/* --dump DIR: X, W and qscope's GPTQ result (W3 per-channel and W4 g32 act-order) */
static int dump(const char *dir) {
    int R = 48, C = 96, T = 512;
    float *x = make_x(T, C), *w = make_w(R, C);
    qs_hessian hs;
    if (qs_hessian_init(&hs, C) || qs_hessian_add(&hs, x, T)) return 1;
    struct {
        const char *name;
        qs_quant_spec sp;
        int act_order;
    } cases[] = {
        {"w3_row", spec(3, QS_QUANT_ROW, 0, QS_QUANT_SYMMETRIC, QS_QUANT_ABSMAX), 0},
        {"w4_g32_act", spec(4, QS_QUANT_GROUP, 32, QS_QUANT_SYMMETRIC, QS_QUANT_ABSMAX), 1},
        {"w4_g32", spec(4, QS_QUANT_GROUP, 32, QS_QUANT_SYMMETRIC, QS_QUANT_ABSMAX), 0}};
    char path[512];
    snprintf(path, sizeof path, "%s/gptq_x.f32", dir);
    FILE *f = fopen(path, "wb");
    if (!f) return 1;
    fwrite(x, sizeof *x, (size_t)T * C, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/gptq_w.f32", dir);
    if (!(f = fopen(path, "wb"))) return 1;
    fwrite(w, sizeof *w, (size_t)R * C, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/gptq.txt", dir);
    FILE *idx = fopen(path, "w");
    if (!idx) return 1;
    fprintf(idx, "shape %d %d %d\n", T, R, C);
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        qs_gptq_opts o;
        qs_gptq_opts_default(&o);
        o.act_order = cases[k].act_order;
        o.compare = 1;
        float *q = copy(w, (long)R * C);
        qs_gptq_report rep;
        if (qs_gptq_quantize(q, R, C, &hs, &cases[k].sp, &o, NULL, &rep)) return 1;
        snprintf(path, sizeof path, "%s/gptq_%s.f32", dir, cases[k].name);
        if (!(f = fopen(path, "wb"))) return 1;
        fwrite(q, sizeof *q, (size_t)R * C, f);
        fclose(f);
        fprintf(idx, "%s %d %d %d %.17g %.17g\n", cases[k].name, cases[k].sp.bits,
                cases[k].sp.gran == QS_QUANT_GROUP ? cases[k].sp.group : 0, cases[k].act_order,
                rep.err, rep.err_rtn);
        free(q);
    }
    fclose(idx);
    qs_hessian_free(&hs);
    free(x), free(w);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--dump") == 0) return dump(argv[2]);
    test_identity_is_rtn();
    test_correlated();
    test_dead_and_errors();
    return check_summary("test_gptq");
}
