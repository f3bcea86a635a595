/* analysis/metrics: hand-computed MSE / SQNR / max error, the ±inf conventions, parallel ==
 * scalar _ref bit for bit at several thread counts, merge of pieces, non-finite inputs.
 * `--dump DIR` writes a reference, a reconstruction and the metrics for the numpy witness. */
#include <omp.h>
#include <string.h>

#include "analysis_synth.h"
#include "check.h"
#include "error.h"
#include "metrics.h"

/* Named tolerances */
#define MAX_HAND_ERROR    1e-12 /* closed forms in double */
#define MAX_PRINTED_ERROR 1e-8  /* a constant written with 10 digits */

#define MAX_MERGE_REL_ERROR 1e-12

enum { W = 4, TW = 1000, C = 50, N = W * TW * C };

/* A reconstruction that looks like 4-bit per-tensor rounding of x. */
static void fake_quant(float *y, const float *x, int64_t n) {
    float amax = 0;
    for (int64_t i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) amax = fabsf(x[i]);
    float scale = amax / 7.0f;
    for (int64_t i = 0; i < n; i++) y[i] = scale * rintf(x[i] / scale);
}

static void test_hand(void) {
    const float x[4] = {1, -2, 3, 0}, y[4] = {1.5f, -2, 2, 0.5f};
    qs_error_metrics m;
    CHECK(qs_metrics_compute(&m, x, y, 4) == QS_OK);
    /* errors -0.5, 0, 1, -0.5: Σe² = 1.5, Σx² = 14 */
    CHECK(m.n == 4 && m.sum_sq_err == 1.5 && m.sum_sq_ref == 14.0);
    CHECK(m.mse == 0.375);
    CHECK(m.max_abs_err == 1.0);
    CHECK_NEAR(m.sqnr_db, 10.0 * log10(14.0 / 1.5), MAX_HAND_ERROR);
    CHECK_NEAR(m.sqnr_db, 9.700367766, MAX_PRINTED_ERROR);
    qs_error_metrics r;
    CHECK(qs_metrics_compute_ref(&r, x, y, 4) == QS_OK);
    CHECK(memcmp(&m, &r, sizeof m) == 0);
    /* identical: SQNR +inf, errors 0 */
    CHECK(qs_metrics_compute(&m, x, x, 4) == QS_OK);
    CHECK(isinf(m.sqnr_db) && m.sqnr_db > 0 && m.mse == 0.0 && m.max_abs_err == 0.0);
    /* all-zero reference: +inf if the reconstruction is zero too, -inf otherwise */
    const float z[4] = {0, 0, 0, 0};
    CHECK(qs_metrics_compute(&m, z, z, 4) == QS_OK && isinf(m.sqnr_db) && m.sqnr_db > 0);
    CHECK(qs_metrics_compute(&m, z, y, 4) == QS_OK && isinf(m.sqnr_db) && m.sqnr_db < 0);
    CHECK(qs_metrics_sqnr_db(100.0, 1.0) == 20.0);
}

static void test_parallel(const float *x, const float *y) {
    qs_error_metrics r, m[3];
    CHECK(qs_metrics_compute_ref(&r, x, y, N) == QS_OK);
    int saved = omp_get_max_threads();
    for (int i = 0; i < 3; i++) {
        omp_set_num_threads(i + 1);
        CHECK(qs_metrics_compute(&m[i], x, y, N) == QS_OK);
        CHECK(memcmp(&m[i], &r, sizeof r) == 0);
    }
    omp_set_num_threads(saved);
    /* an independent plain loop (different summation order): agreement to rounding */
    double se = 0, sx = 0, mx = 0;
    for (int i = 0; i < N; i++) {
        double e = (double)x[i] - y[i];
        se += e * e;
        sx += (double)x[i] * x[i];
        if (fabs(e) > mx) mx = fabs(e);
    }
    CHECK(syn_rel(r.sum_sq_err, se, 0) < MAX_HAND_ERROR &&
          syn_rel(r.sum_sq_ref, sx, 0) < MAX_HAND_ERROR);
    CHECK(r.max_abs_err == mx);
    printf("4-bit per-tensor fake quant of the synthetic tensor: SQNR %.3f dB, MSE %.6g\n",
           r.sqnr_db, r.mse);
    /* pieces merged */
    qs_error_metrics a, b;
    CHECK(qs_metrics_compute(&a, x, y, 12345) == QS_OK);
    CHECK(qs_metrics_compute(&b, x + 12345, y + 12345, N - 12345) == QS_OK);
    qs_metrics_merge(&a, &b);
    CHECK(a.n == N && a.max_abs_err == r.max_abs_err);
    CHECK(syn_rel(a.mse, r.mse, 0) < MAX_MERGE_REL_ERROR &&
          syn_rel(a.sqnr_db, r.sqnr_db, 0) < MAX_MERGE_REL_ERROR);
}

static void test_errors(float *x, const float *y) {
    qs_error_metrics m = {0, 0, 0, 0, 0, 0};
    float keep = x[777];
    x[777] = NAN;
    CHECK(qs_metrics_compute(&m, x, y, N) == QS_ERR_NUMERIC);
    CHECK_MSG(strstr(qs_error_message(), "reference at index 777") != NULL, "message: %s",
              qs_error_message());
    CHECK(m.n == 0); /* untouched */
    CHECK(qs_metrics_compute_ref(&m, x, y, N) == QS_ERR_NUMERIC);
    x[777] = keep;
    CHECK(qs_metrics_compute(&m, y, x, N) == QS_OK);
    float *bad = malloc(sizeof(float) * 10);
    memcpy(bad, x, sizeof(float) * 10);
    bad[9] = INFINITY;
    CHECK(qs_metrics_compute(&m, x, bad, 10) == QS_ERR_NUMERIC);
    CHECK_MSG(strstr(qs_error_message(), "reconstruction at index 9") != NULL, "message: %s",
              qs_error_message());
    free(bad);
    CHECK(qs_metrics_compute(&m, x, y, 0) == QS_ERR_ARG);
    CHECK(qs_metrics_compute(&m, NULL, y, 3) == QS_ERR_ARG);
}

static int dump(const char *dir, const float *x, const float *y) {
    if (syn_mkdir(dir)) return 1;
    qs_error_metrics m;
    if (qs_metrics_compute(&m, x, y, N) != QS_OK) return 1;
    double v[6] = {(double)m.n, m.sum_sq_ref, m.sum_sq_err, m.mse, m.sqnr_db, m.max_abs_err};
    char meta[32];
    int len = snprintf(meta, sizeof meta, "N %d\n", N);
    int bad = syn_write(dir, "meta.txt", meta, (size_t)len);
    bad |= syn_write(dir, "ref.f32", x, sizeof(float) * N);
    bad |= syn_write(dir, "rec.f32", y, sizeof(float) * N);
    bad |= syn_write(dir, "metrics.f64", v, sizeof v);
    return bad;
}

int main(int argc, char **argv) {
    float *x = malloc(sizeof(float) * N), *y = malloc(sizeof(float) * N);
    syn_fill(x, W, TW, C, 555);
    fake_quant(y, x, N);
    const char *dir = syn_dump_dir(argc, argv);
    int rc;
    if (dir) {
        rc = dump(dir, x, y);
    } else {
        qs_error_clear();
        test_hand();
        test_parallel(x, y);
        test_errors(x, y);
        rc = check_summary("test_metrics");
    }
    free(x);
    free(y);
    return rc;
}
