/* Walsh–Hadamard transforms and randomized rotations (core/quant/hadamard.h): the WHT
 * against the Sylvester matrix written out, its own inverse; fast and reference kernels
 * agree bit for bit on every SIMD path this CPU has (the test re-runs itself under each
 * QS_CPU_PATH); rotations of power-of-two and fallback sizes (172 = 4·43, 96 = 32·3) are
 * orthogonal, invert, are reproducible from their seed, and flatten an outlier channel.
 *
 * With --dump DIR it writes rotation matrices for tests/ref/test_torch_remedies.py, which
 * rebuilds them from the description in hadamard.h alone. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpu.h"
#include "hadamard.h"

/* Named tolerances */
#define MAX_TRANSFORM_ERROR  1e-5 /* float32 transform vs the float64 matrix product */
#define MAX_ORTHOGONAL_ERROR 2e-6 /* |R Rᵀ - I|, float32 entries */

static uint64_t rng = 0x243F6A8885A308D3ull;
static double urand(void) { return (double)(qs_splitmix64(&rng) >> 11) * 0x1p-53; }
static float gauss(void) {
    double u = urand(), v = urand();
    return (float)(sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v));
}
static float *randn(long n) {
    float *x = malloc((size_t)n * sizeof *x);
    for (long i = 0; i < n; i++) x[i] = gauss();
    return x;
}

/* Sylvester H_n[i][j] = (-1)^popcount(i & j) */
static int sylvester(int i, int j) { return __builtin_popcount((unsigned)(i & j)) & 1 ? -1 : 1; }

static void test_wht_matrix(void) {
    for (int n = 1; n <= 512; n *= 2) {
        float *x = randn((long)3 * n), *y = malloc((size_t)3 * n * sizeof *y);
        memcpy(y, x, (size_t)3 * n * sizeof *y);
        qs_wht_rows_ref(y, 3, n);
        double worst = 0.0;
        for (int r = 0; r < 3; r++)
            for (int i = 0; i < n; i++) {
                double s = 0.0;
                for (int j = 0; j < n; j++) s += sylvester(i, j) * (double)x[(long)r * n + j];
                s /= sqrt((double)n);
                double e = fabs(s - y[(long)r * n + i]);
                worst = e > worst ? e : worst;
            }
        CHECK_MSG(worst < MAX_TRANSFORM_ERROR * sqrt((double)n), "n %d: WHT vs Sylvester matrix %g",
                  n, worst);
        /* orthogonal and symmetric: applying it twice gives the input back */
        qs_wht_rows_ref(y, 3, n);
        double back = 0.0;
        for (long i = 0; i < (long)3 * n; i++) back = fmax(back, fabs(y[i] - x[i]));
        CHECK_MSG(back < MAX_TRANSFORM_ERROR, "n %d: WHT twice %g", n, back);
        free(x), free(y);
    }
    CHECK(qs_is_pow2(1) && qs_is_pow2(4096) && !qs_is_pow2(172) && !qs_is_pow2(0));
}

/* fast == ref, bit for bit; called once per SIMD path by the parent process */
static void test_fast_vs_ref(void) {
    int sizes[] = {1, 2, 4, 8, 16, 32, 64, 256, 2048};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        int n = sizes[k], rows = 37;
        float *a = randn((long)rows * n), *b = malloc((size_t)rows * n * sizeof *b);
        memcpy(b, a, (size_t)rows * n * sizeof *b);
        qs_wht_rows(a, rows, n);
        qs_wht_rows_ref(b, rows, n);
        CHECK_MSG(memcmp(a, b, (size_t)rows * n * sizeof *a) == 0, "WHT fast != ref at n %d (%s)",
                  n, qs_cpu_path_name(qs_cpu_path()));
        free(a), free(b);
    }
    int rsizes[] = {1, 3, 64, 96, 172, 1376, 4096};
    for (size_t k = 0; k < sizeof rsizes / sizeof *rsizes; k++) {
        int n = rsizes[k], rows = 300; /* enough values for the parallel path */
        qs_rotation r;
        CHECK(qs_rotation_init(&r, n, 7) == 0);
        float *a = randn((long)rows * n), *b = malloc((size_t)rows * n * sizeof *b);
        memcpy(b, a, (size_t)rows * n * sizeof *b);
        qs_rotation_rows(&r, a, rows);
        qs_rotation_rows_ref(&r, b, rows);
        CHECK_MSG(memcmp(a, b, (size_t)rows * n * sizeof *a) == 0,
                  "rotation fast != ref at n %d (%s)", n, qs_cpu_path_name(qs_cpu_path()));
        free(a), free(b);
        qs_rotation_free(&r);
    }
}

/* R written out by rotating the rows of the identity: row i of the result is e_i·R */
static float *rotation_matrix(const qs_rotation *r) {
    int n = r->n;
    float *m = calloc((size_t)n * n, sizeof *m);
    for (int i = 0; i < n; i++) m[(long)i * n + i] = 1.0f;
    qs_rotation_rows(r, m, n);
    return m;
}

static void test_rotation(void) {
    int sizes[] = {1, 2, 12, 64, 96, 172, 256};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        int n = sizes[k];
        qs_rotation r;
        CHECK(qs_rotation_init(&r, n, 42) == 0);
        CHECK(r.p * r.m == n && qs_is_pow2(r.p) && r.m % 2 == 1);
        CHECK((r.m == 1) == (r.q == NULL));
        float *R = rotation_matrix(&r);
        double worst = 0.0; /* R·Rᵀ = I */
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double s = 0.0;
                for (int c = 0; c < n; c++) s += (double)R[(long)i * n + c] * R[(long)j * n + c];
                worst = fmax(worst, fabs(s - (i == j)));
            }
        CHECK_MSG(worst < MAX_ORTHOGONAL_ERROR, "n %d: |R Rt - I| %g", n, worst);
        /* inverse, and the columns form: Rᵀ·X equals (Xᵀ·R)ᵀ written out */
        int cols = 5;
        float *x = randn((long)n * cols), *y = malloc((size_t)n * cols * sizeof *y);
        memcpy(y, x, (size_t)n * cols * sizeof *y);
        CHECK(qs_rotation_cols(&r, y, cols) == 0);
        double ce = 0.0;
        for (int i = 0; i < n; i++)
            for (int c = 0; c < cols; c++) {
                double s = 0.0; /* (Rᵀ X)[i][c] = Σ_j R[j][i] X[j][c] */
                for (int j = 0; j < n; j++) s += (double)R[(long)j * n + i] * x[(long)j * cols + c];
                ce = fmax(ce, fabs(s - y[(long)i * cols + c]));
            }
        CHECK_MSG(ce < MAX_TRANSFORM_ERROR, "n %d: rotation_cols vs R^T X %g", n, ce);
        float *z = randn((long)4 * n), *z0 = malloc((size_t)4 * n * sizeof *z0);
        memcpy(z0, z, (size_t)4 * n * sizeof *z0);
        qs_rotation_rows(&r, z, 4);
        qs_rotation_rows_inv(&r, z, 4);
        double ie = 0.0;
        for (long i = 0; i < (long)4 * n; i++) ie = fmax(ie, fabs(z[i] - z0[i]));
        CHECK_MSG(ie < MAX_TRANSFORM_ERROR, "n %d: R then R^T %g", n, ie);
        free(R), free(x), free(y), free(z), free(z0);
        qs_rotation_free(&r);
    }
    /* the seed decides everything; another seed gives another rotation */
    qs_rotation a, b, c;
    CHECK(qs_rotation_init(&a, 172, 1) == 0 && qs_rotation_init(&b, 172, 1) == 0 &&
          qs_rotation_init(&c, 172, 2) == 0);
    CHECK(memcmp(a.d, b.d, 172 * sizeof(float)) == 0 &&
          memcmp(a.q, b.q, 43 * 43 * sizeof(float)) == 0);
    CHECK(memcmp(a.d, c.d, 172 * sizeof(float)) != 0); /* F_m has no randomness of its own */
    qs_rotation_free(&a), qs_rotation_free(&b), qs_rotation_free(&c);
    /* errors: no size, an odd factor too large to build */
    qs_rotation e;
    CHECK(qs_rotation_init(&e, 0, 1) != 0);
    CHECK(qs_rotation_init(&e, 2 * 4099, 1) != 0 && e.d == NULL);
    qs_rotation_free(&e);
}

/* One channel 100x the others: after the rotation no channel stands out and the kurtosis of
 * the values is near a Gaussian's 3 (a power-of-two size) or the Hartley factor's 4.5
 * (hadamard.h), where before it was huge. */
static double kurtosis(const float *x, long n) {
    double m = 0, m2 = 0, m4 = 0;
    for (long i = 0; i < n; i++) m += x[i];
    m /= n;
    for (long i = 0; i < n; i++) {
        double d = x[i] - m;
        m2 += d * d, m4 += d * d * d * d;
    }
    m2 /= n, m4 /= n;
    return m4 / (m2 * m2);
}

static void test_outlier_spread(void) {
    int sizes[] = {64, 172};
    for (size_t k = 0; k < 2; k++) {
        int n = sizes[k], T = 256;
        float *x = randn((long)T * n);
        for (int t = 0; t < T; t++) x[(long)t * n + 7] *= 100.0f;
        double k0 = kurtosis(x, (long)T * n);
        qs_rotation r;
        CHECK(qs_rotation_init(&r, n, 3) == 0);
        qs_rotation_rows(&r, x, T);
        double k1 = kurtosis(x, (long)T * n);
        double amax = 0, ss = 0; /* largest channel absmax over the rms */
        for (long i = 0; i < (long)T * n; i++) amax = fmax(amax, fabs(x[i])), ss += x[i] * x[i];
        double rms = sqrt(ss / ((double)T * n));
        double kmax = qs_is_pow2(n) ? 3.8 : 5.0; /* 256 tokens: ±0.3 of noise */
        printf("n %d: kurtosis %.1f -> %.2f, absmax/rms %.2f\n", n, k0, k1, amax / rms);
        CHECK_MSG(k0 > 30 && k1 < kmax, "n %d: kurtosis %.1f -> %.2f", n, k0, k1);
        CHECK_MSG(amax / rms < 6.0, "n %d: absmax/rms after rotation %.2f", n, amax / rms);
        free(x);
        qs_rotation_free(&r);
    }
}

/* --dump DIR: rotation matrices for the Python witness, as float32 binaries with a header
 * "n p m seed" in a text file beside them */
static int dump(const char *dir) {
    struct {
        int n;
        uint64_t seed;
    } cases[] = {{64, 0}, {172, 0}, {172, 12345}, {96, 0xDEADBEEFull}};
    char path[512];
    snprintf(path, sizeof path, "%s/rotations.txt", dir);
    FILE *idx = fopen(path, "w");
    if (!idx) return 1;
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        qs_rotation r;
        if (qs_rotation_init(&r, cases[k].n, cases[k].seed)) return 1;
        float *R = rotation_matrix(&r);
        snprintf(path, sizeof path, "%s/rotation_%zu.f32", dir, k);
        FILE *f = fopen(path, "wb");
        if (!f) return 1;
        fwrite(R, sizeof(float), (size_t)r.n * r.n, f);
        fclose(f);
        fprintf(idx, "rotation_%zu.f32 %d %d %d %llu\n", k, r.n, r.p, r.m,
                (unsigned long long)cases[k].seed);
        free(R);
        qs_rotation_free(&r);
    }
    fclose(idx);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--dump") == 0) return dump(argv[2]);
    if (argc == 2 && strcmp(argv[1], "--fast-vs-ref") == 0) {
        test_fast_vs_ref();
        return check_summary(qs_cpu_path_name(qs_cpu_path()));
    }
    test_wht_matrix();
    test_rotation();
    test_outlier_spread();
    /* every SIMD path this CPU runs, each in a child with QS_CPU_PATH capping it */
    const char *paths[] = {"scalar", "avx2", "avx512"};
    for (int p = 0; p <= qs_cpu_path_supported(); p++) {
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "QS_CPU_PATH=%s '%s' --fast-vs-ref", paths[p], argv[0]);
        CHECK_MSG(system(cmd) == 0, "fast vs ref on the %s path", paths[p]);
    }
    return check_summary("test_hadamard");
}
