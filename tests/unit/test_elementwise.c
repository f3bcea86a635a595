/* The forward pass's elementwise kernels (model/elementwise.h): exp within 2 ulp of exp in
 * double over its whole range, its edges (0, the overflow and underflow thresholds, NaN),
 * and every SIMD path this CPU has giving the scalar reference's bits for exp, softmax rows
 * and SwiGLU, at every length class of the 8- and 16-lane loops. */
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

static const int lengths[] = {1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 255, 1000};
#define N_LENGTHS ((int)(sizeof lengths / sizeof *lengths))

static void test_paths(void) {
    const int best = qs_cpu_path_supported();
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
            /* exp */
            for (int i = 0; i < n; i++) want[i] = qs_vexp_ref(x[i]);
            qs_vexp(got, x, (size_t)n);
            bad += memcmp(got, want, sizeof(float) * n) != 0;
            /* softmax: against the scalar path's row */
            memcpy(got, x, sizeof(float) * P);
            qs_softmax_row(got, n, P);
            if (path == QS_CPU_SCALAR) memcpy(ref, got, sizeof(float) * P);
            bad += memcmp(got, ref, sizeof(float) * P) != 0;
            /* swiglu */
            for (int i = 0; i < n; i++) want[i] = x[i] / (1.0f + qs_vexp_ref(-x[i])) * u[i];
            memcpy(got, x, sizeof(float) * n);
            qs_swiglu(got, u, (size_t)n);
            bad += memcmp(got, want, sizeof(float) * n) != 0;
            runs += 3;
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
    test_paths();
    return check_summary("test_elementwise");
}
