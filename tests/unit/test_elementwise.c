/* The forward pass's elementwise kernels (model/elementwise.h): exp within 2 ulp of exp in
 * double over its whole range, its edges (0, the overflow and underflow thresholds, NaN),
 * log within 2 ulp over every binade, and every SIMD path this CPU has giving the scalar
 * reference's bits for exp, softmax rows, logsumexp, entropy, accumulate and SwiGLU, at every
 * length class of the 8- and 16-lane loops. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpu.h"
#include "elementwise.h"

#define EXP_MAX_ULP 2.0

static uint64_t rng = 0x2545f4914f6cdd1dull;
static double unif(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) * (1.0 / 9007199254740992.0);
}

/* |got - want| in units of the float spacing at want (want a normal float). */
static double ulps(float got, double want) {
    int e;
    frexp(want, &e);
    return fabs((double)got - want) / ldexp(1.0, e - 24);
}

static void test_exp_accuracy(void) {
    double worst = 0.0, at = 0.0;
    for (int i = 0; i <= 2000000; i++) {
        float x = (float)(-87.0 + (88.7 + 87.0) * i / 2000000.0);
        double u = ulps(qs_vexp_ref(x), exp((double)x));
        if (u > worst) worst = u, at = x;
    }
    CHECK_MSG(worst <= EXP_MAX_ULP, "exp: %.2f ulp at x = %.9g", worst, at);
    printf("exp: worst %.2f ulp over [-87, 88.7] (at %.6g)\n", worst, at);
    CHECK(qs_vexp_ref(0.0f) == 1.0f && qs_vexp_ref(-0.0f) == 1.0f);
    CHECK(qs_vexp_ref(1.0f) == (float)M_E);
    CHECK(isinf(qs_vexp_ref(88.8f)) && isinf(qs_vexp_ref(1e30f)) && isinf(qs_vexp_ref(INFINITY)));
    CHECK(qs_vexp_ref(-1e30f) == 0.0f && qs_vexp_ref(-INFINITY) == 0.0f);
    CHECK(ulps(qs_vexp_ref(88.7f), exp((double)88.7f)) <= EXP_MAX_ULP);
    /* 0 below e^-87, normal (and within the bound) from there */
    CHECK(qs_vexp_ref(-87.01f) == 0.0f && qs_vexp_ref(-95.0f) == 0.0f);
    CHECK(qs_vexp_ref(-87.0f) >= FLT_MIN && ulps(qs_vexp_ref(-87.0f), exp(-87.0)) <= EXP_MAX_ULP);
    CHECK(isnan(qs_vexp_ref(NAN)));
}

static void test_log_accuracy(void) {
    double worst = 0.0, at = 0.0;
    for (int i = 0; i <= 2000000; i++) { /* every binade, and densely around 1 */
        float x = i < 1000000 ? (float)exp(-87.0 + 175.0 * i / 1000000.0)
                              : (float)(0.5 + 1.5 * (i - 1000000) / 1000000.0);
        if (x < FLT_MIN || x == 1.0f) continue;
        double want = log((double)x);
        double u = fabs(qs_vlog_ref(x) - want) / ldexp(1.0, ilogb(want) - 23);
        if (u > worst) worst = u, at = x;
    }
    CHECK_MSG(worst <= EXP_MAX_ULP, "log: %.2f ulp at x = %.9g", worst, at);
    printf("log: worst %.2f ulp (at %.6g)\n", worst, at);
    CHECK(qs_vlog_ref(1.0f) == 0.0f && qs_vlog_ref(FLT_MIN) < -87.3f);
}

static const int lengths[] = {1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 255, 1000};
#define N_LENGTHS ((int)(sizeof lengths / sizeof *lengths))

static void test_paths(void) {
    const int best = qs_cpu_path(); /* the best path, capped by QS_CPU_PATH */
    int bad = 0, runs = 0;
    for (int li = 0; li < N_LENGTHS; li++) {
        const int n = lengths[li], P = n + 5;
        float *x = malloc(sizeof(float) * P), *u = malloc(sizeof(float) * P);
        float *ref = malloc(sizeof(float) * P), *got = malloc(sizeof(float) * P);
        for (int i = 0; i < P; i++) {
            x[i] = (float)((unif() - 0.5) * 60.0);
            u[i] = (float)(unif() - 0.5);
        }
        if (n > 3) x[3] = 95.0f, x[1] = -200.0f; /* overflow and underflow inside a row */
        for (int path = QS_CPU_SCALAR; path <= best; path++) {
            qs_cpu_path_set(path);
            float *want = malloc(sizeof(float) * P);
            static double ref_lse;
            /* exp */
            for (int i = 0; i < n; i++) want[i] = qs_vexp_ref(x[i]);
            qs_vexp(got, x, (size_t)n);
            bad += memcmp(got, want, sizeof(float) * n) != 0;
            /* softmax: against the scalar path's row */
            memcpy(got, x, sizeof(float) * P);
            double row_ent;
            float row_max = qs_softmax_row(got, n, P, &row_ent), want_max = x[0];
            for (int i = 1; i < n; i++) want_max = x[i] > want_max ? x[i] : want_max;
            bad += row_max != want_max;
            static double ref_row_ent;
            if (path == QS_CPU_SCALAR) {
                memcpy(ref, got, sizeof(float) * P);
                ref_row_ent = row_ent;
                double e = qs_entropy(got, n);
                CHECK_MSG(fabs(row_ent - e) <= 1e-6 * (1.0 + e),
                          "softmax entropy n=%d: %.12g vs %.12g", n, row_ent, e);
            }
            bad += memcmp(got, ref, sizeof(float) * P) != 0;
            bad += memcmp(&row_ent, &ref_row_ent, sizeof row_ent) != 0;
            memcpy(want, x, sizeof(float) * P); /* and the same row without the entropy */
            qs_softmax_row(want, n, P, NULL);
            bad += memcmp(want, got, sizeof(float) * P) != 0;
            /* logsumexp: the scalar path's bits, and near the sum of double exps */
            double lse = qs_logsumexp(x, n);
            if (path == QS_CPU_SCALAR) {
                double mx = x[0], sum = 0.0;
                for (int i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
                for (int i = 0; i < n; i++) sum += exp((double)x[i] - mx);
                CHECK_MSG(fabs(lse - (mx + log(sum))) <= 1e-6, "logsumexp n=%d: %.12g vs %.12g", n,
                          lse, mx + log(sum));
                ref_lse = lse;
            }
            bad += memcmp(&lse, &ref_lse, sizeof lse) != 0;
            /* entropy of a distribution with zeros and tiny values: the scalar path's bits,
             * and near -Σ p log p in double */
            static double ref_ent;
            double ps = 0.0;
            for (int i = 0; i < n; i++) {
                want[i] = i % 5 == 2 ? 0.0f : i % 7 == 3 ? 1e-39f : (float)exp(x[i] / 10.0);
                ps += want[i];
            }
            for (int i = 0; i < n; i++) want[i] = (float)(want[i] / ps);
            double ent = qs_entropy(want, n);
            if (path == QS_CPU_SCALAR) {
                double e = 0.0;
                for (int i = 0; i < n; i++)
                    if (want[i] > 0.0f) e -= (double)want[i] * log((double)want[i]);
                CHECK_MSG(fabs(ent - e) <= 1e-6 * (1.0 + e), "entropy n=%d: %.12g vs %.12g", n, ent,
                          e);
                ref_ent = ent;
            }
            bad += memcmp(&ent, &ref_ent, sizeof ent) != 0;
            /* accumulate */
            double *acc = malloc(sizeof(double) * P), *acc_want = malloc(sizeof(double) * P);
            for (int i = 0; i < P; i++) acc[i] = acc_want[i] = u[i] * 1e3;
            for (int i = 0; i < n; i++) acc_want[i] += x[i];
            qs_accumulate(acc, x, n);
            bad += memcmp(acc, acc_want, sizeof(double) * P) != 0; /* and nothing past n */
            free(acc), free(acc_want);
            /* swiglu */
            for (int i = 0; i < n; i++) want[i] = x[i] / (1.0f + qs_vexp_ref(-x[i])) * u[i];
            memcpy(got, x, sizeof(float) * n);
            qs_swiglu(got, u, (size_t)n);
            bad += memcmp(got, want, sizeof(float) * n) != 0;
            runs += 6;
            free(want);
        }
        /* the softmax row itself: a distribution, zero past n */
        double sum = 0.0;
        int zero = 1;
        for (int i = 0; i < n; i++) sum += ref[i];
        for (int i = n; i < P; i++) zero &= ref[i] == 0.0f;
        CHECK_MSG(fabs(sum - 1.0) < 1e-5 && zero, "softmax n=%d: sum %.9g", n, sum);
        free(x), free(u), free(ref), free(got);
    }
    CHECK_MSG(bad == 0, "%d of %d kernel runs differ from the scalar reference", bad, runs);
}

int main(void) {
    test_exp_accuracy();
    test_log_accuracy();
    test_paths();
    return check_summary("test_elementwise");
}
