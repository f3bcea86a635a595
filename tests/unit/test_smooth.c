/* Per-channel migration scales: SmoothQuant (core/quant/smooth.h) and AWQ (awq.h). The
 * formulas against hand computation; the limits α = 0 and α = 1; a planted channel gives K
 * times the scale at every α (so smoothing undoes a plant); the product (X/s)(W·s)ᵀ equals
 * X·Wᵀ; smoothing an outlier channel makes per-tensor activation quantization far better;
 * AWQ's normalisation, its search never losing to round-to-nearest, and the errors. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "awq.h"
#include "check.h"
#include "error.h"
#include "hadamard.h" /* qs_splitmix64 */
#include "smooth.h"

static uint64_t rng = 0x0123456789ABCDEFull;
static double urand(void) { return (double)(qs_splitmix64(&rng) >> 11) * 0x1p-53; }
static double gauss(void) {
    double u = urand(), v = urand();
    return sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
}

/* X (T, C) with channel `out` K times larger; W (R, C) small Gaussian */
static float *make_x(int T, int C, int out, double K) {
    float *x = malloc((size_t)T * C * sizeof *x);
    for (long i = 0; i < (long)T * C; i++) x[i] = (float)(gauss() * ((int)(i % C) == out ? K : 1));
    return x;
}
static float *make_w(int R, int C) {
    float *w = malloc((size_t)R * C * sizeof *w);
    for (long i = 0; i < (long)R * C; i++) w[i] = (float)(0.05 * gauss());
    return w;
}

static void absmax_cols(float *out, const float *x, int rows, int C) {
    for (int j = 0; j < C; j++) out[j] = 0;
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < C; j++) out[j] = fmaxf(out[j], fabsf(x[(long)r * C + j]));
}

static void test_smooth_formula(void) {
    float a[4] = {8, 1, 0, 2}, w[4] = {0.5f, 2, 1, 0}, s[4];
    CHECK(qs_smooth_scales(s, a, w, 4, 0.5) == 0);
    CHECK_NEAR(s[0], sqrt(8.0) / sqrt(0.5), 1e-6);
    CHECK_NEAR(s[1], 1.0 / sqrt(2.0), 1e-7);
    CHECK(s[2] == 1.0f && s[3] == 1.0f); /* a dead channel, an unread channel */
    CHECK(qs_smooth_scales(s, a, w, 4, 0.0) == 0);
    CHECK_NEAR(s[0], 2.0, 1e-7); /* 1 / max|W| */
    CHECK(qs_smooth_scales(s, a, w, 4, 1.0) == 0);
    CHECK_NEAR(s[0], 8.0, 1e-7); /* max|X|: every smoothed channel's absmax becomes 1 */
    /* a planted channel: K times the scale, for every α */
    float ap[4] = {8 * 50.0f, 1, 0, 2}, wp[4] = {0.5f / 50.0f, 2, 1, 0}, sp[4];
    for (double alpha = 0.0; alpha <= 1.0; alpha += 0.25) {
        CHECK(qs_smooth_scales(s, a, w, 4, alpha) == 0 &&
              qs_smooth_scales(sp, ap, wp, 4, alpha) == 0);
        CHECK_MSG(fabs(sp[0] / s[0] - 50.0) < 50.0 * 1e-6, "alpha %g: %g / %g", alpha, sp[0], s[0]);
        CHECK(sp[1] == s[1]);
    }
    /* clamps and errors */
    float big[1] = {1e30f}, tiny[1] = {1e-30f};
    CHECK(qs_smooth_scales(s, big, tiny, 1, 0.5) == 0 && s[0] == 1e5f);
    CHECK(qs_smooth_scales(s, a, w, 4, 1.5) == QS_ERR_ARG);
    CHECK(qs_smooth_scales(s, a, w, 0, 0.5) == QS_ERR_ARG);
    float bad[2] = {1, NAN};
    CHECK(qs_smooth_scales(s, bad, w, 2, 0.5) == QS_ERR_NUMERIC);
    float neg[2] = {1, -1};
    CHECK(qs_smooth_scales(s, a, neg, 2, 0.5) == QS_ERR_NUMERIC);
}

/* (X/s)·(W·s)ᵀ = X·Wᵀ, and per-tensor A8 on X/s loses far less than on X */
static void test_smooth_effect(void) {
    int T = 256, C = 64, R = 32, out = 9;
    float *x = make_x(T, C, out, 60.0), *w = make_w(R, C);
    float amax[64], wmax[64], s[64];
    absmax_cols(amax, x, T, C);
    for (int j = 0; j < C; j++) wmax[j] = 0;
    for (int r = 0; r < R; r++)
        for (int j = 0; j < C; j++) wmax[j] = fmaxf(wmax[j], fabsf(w[(long)r * C + j]));
    CHECK(qs_smooth_scales(s, amax, wmax, C, 0.5) == 0);
    float *xs = malloc((size_t)T * C * sizeof *xs), *ws = malloc((size_t)R * C * sizeof *ws);
    for (int t = 0; t < T; t++)
        for (int j = 0; j < C; j++) xs[(long)t * C + j] = x[(long)t * C + j] / s[j];
    for (int r = 0; r < R; r++)
        for (int j = 0; j < C; j++) ws[(long)r * C + j] = w[(long)r * C + j] * s[j];
    float *y0 = malloc((size_t)T * R * sizeof *y0), *y1 = malloc((size_t)T * R * sizeof *y1);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, R, C, 1, x, C, w, C, 0, y0, R);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, R, C, 1, xs, C, ws, C, 0, y1, R);
    double worst = 0, ymax = 0;
    for (long i = 0; i < (long)T * R; i++)
        worst = fmax(worst, fabs(y0[i] - y1[i])), ymax = fmax(ymax, fabs(y0[i]));
    CHECK_MSG(worst < 1e-5 * ymax, "smoothing changed the product by %g (of %g)", worst, ymax);
    /* the product under per-tensor A8 activations, plain vs smoothed */
    qs_quant_spec a8 = {0};
    a8.bits = 8, a8.gran = QS_QUANT_TENSOR;
    float *xq = malloc((size_t)T * C * sizeof *xq), *yq = malloc((size_t)T * R * sizeof *yq);
    double err[2];
    for (int k = 0; k < 2; k++) {
        CHECK(qs_quant_fake(xq, k ? xs : x, T, C, &a8, NULL, NULL) == 0);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, R, C, 1, xq, C, k ? ws : w, C, 0,
                    yq, R);
        err[k] = 0;
        for (long i = 0; i < (long)T * R; i++) err[k] += (yq[i] - y0[i]) * (yq[i] - y0[i]);
    }
    printf("A8 per-tensor output error: plain %.4g, smoothed (alpha 0.5) %.4g\n", err[0], err[1]);
    CHECK_MSG(err[1] < 0.2 * err[0], "smoothed %g vs plain %g", err[1], err[0]);
    free(x), free(w), free(xs), free(ws), free(y0), free(y1), free(xq), free(yq);
}

static void test_awq(void) {
    float m[5] = {0.5f, 2, 8, 0, 1}, s[5];
    CHECK(qs_awq_scales(s, m, 5, 0.0) == 0);
    for (int j = 0; j < 5; j++) CHECK(s[j] == 1.0f);
    CHECK(qs_awq_scales(s, m, 5, 0.5) == 0);
    double mx = 0, mn = INFINITY;
    for (int j = 0; j < 5; j++) mx = fmax(mx, s[j]), mn = fmin(mn, s[j]);
    CHECK_NEAR(mx * mn, 1.0, 1e-6);                        /* normalised */
    CHECK_NEAR(s[2] / s[1], 2.0, 1e-6);                    /* √8 / √2 */
    CHECK_NEAR(s[3], 1e-4 / sqrt(sqrt(8.0) * 1e-4), 1e-6); /* the clamp */
    CHECK(qs_awq_scales(s, m, 5, -0.1) == QS_ERR_ARG);
    /* the search: a few salient channels (large mean |x|) under W3 per-channel */
    int T = 512, C = 64;
    float *x = make_x(T, C, -1, 1);
    for (int t = 0; t < T; t++)
        for (int j = 0; j < 4; j++) x[(long)t * C + 5 * j + 1] *= 12.0f;
    float *w1 = make_w(48, C), *w2 = make_w(16, C);
    qs_awq_input in = {x, T, C, NULL, 2, {w1, w2}, {48, 16}};
    qs_quant_spec w3 = {0};
    w3.bits = 3, w3.gran = QS_QUANT_ROW;
    double alpha, losses[QS_AWQ_GRID];
    float sb[64];
    CHECK(qs_awq_search(sb, &alpha, losses, &in, &w3, QS_AWQ_GRID) == 0);
    printf("AWQ W3 per-channel: alpha %.2f, loss %.4g vs RTN %.4g\n", alpha,
           losses[(int)lround(alpha * QS_AWQ_GRID)], losses[0]);
    CHECK(alpha > 0.0);
    CHECK(losses[(int)lround(alpha * QS_AWQ_GRID)] < 0.9 * losses[0]);
    for (int k = 0; k < QS_AWQ_GRID; k++) CHECK(losses[k] >= losses[(int)lround(alpha * 20)]);
    /* losses[0] is round-to-nearest's output error, computed here directly */
    double rtn = 0;
    float *q = malloc((size_t)48 * C * sizeof *q), *y = malloc((size_t)T * 48 * sizeof *y),
          *y0 = malloc((size_t)T * 48 * sizeof *y0);
    for (int i = 0; i < 2; i++) {
        int R = i ? 16 : 48;
        const float *wi = i ? w2 : w1;
        CHECK(qs_quant_fake(q, wi, R, C, &w3, NULL, NULL) == 0);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, R, C, 1, x, C, q, C, 0, y, R);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, R, C, 1, x, C, wi, C, 0, y0, R);
        for (long k = 0; k < (long)T * R; k++) rtn += (double)(y[k] - y0[k]) * (y[k] - y0[k]);
    }
    CHECK_NEAR(losses[0], rtn / T, 1e-6 * rtn / T);
    /* the scales are those of the chosen α */
    float sa[64];
    double mean[64];
    float meanf[64];
    for (int j = 0; j < C; j++) {
        mean[j] = 0;
        for (int t = 0; t < T; t++) mean[j] += fabs(x[(long)t * C + j]);
        meanf[j] = (float)(mean[j] / T);
    }
    CHECK(qs_awq_scales(sa, meanf, C, alpha) == 0);
    double d = 0;
    for (int j = 0; j < C; j++) d = fmax(d, fabs(sa[j] - sb[j]) / sa[j]);
    CHECK_MSG(d < 1e-5, "scales differ from qs_awq_scales at the chosen alpha by %g", d);
    /* errors */
    qs_quant_spec none = {0};
    none.bits = 16;
    CHECK(qs_awq_search(sb, &alpha, NULL, &in, &none, 20) == QS_ERR_ARG);
    CHECK(qs_awq_search(sb, &alpha, NULL, &in, &w3, 0) == QS_ERR_ARG);
    x[17] = NAN;
    CHECK(qs_awq_search(sb, &alpha, NULL, &in, &w3, 20) == QS_ERR_NUMERIC);
    free(x), free(w1), free(w2), free(q), free(y), free(y0);
}

int main(void) {
    test_smooth_formula();
    test_smooth_effect();
    test_awq();
    return check_summary("test_smooth");
}
