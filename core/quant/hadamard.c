/* Walsh–Hadamard transforms and randomized rotations (hadamard.h).
 *
 * One formulation serves both the plain WHT of a row and the WHT across the p runs of a
 * rotation: a (p, m) block, stage h = 1, 2, 4, .. p/2, pairs the contiguous segments
 * [i·m, (i+h)·m) and [(i+h)·m, (i+2h)·m) for i = 0, 2h, 4h, .. and replaces them by their
 * sum and difference. Every stage is a run of contiguous additions, so the SIMD kernels
 * vectorise it with no shuffles and give the scalar code's bits. */
#include "hadamard.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "error.h"

#if QS_HAVE_X86_SIMD
#include <immintrin.h>
#endif

/* products of F_m are summed in a fixed order; a fused multiply-add would round differently
 * in the fast and the reference code */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off") /* and -ffp-contract=off in core/CMakeLists.txt */
#endif

int qs_is_pow2(long n) { return n >= 1 && (n & (n - 1)) == 0; }

uint64_t qs_splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* 1/√p as the float every path multiplies by */
static float inv_sqrt(int p) { return (float)(1.0 / sqrt((double)p)); }

/* ---- the butterflies ----------------------------------------------------------------- */

/* a, b (len) ← a + b, a − b */
static void butterfly_ref(float *a, float *b, long len) {
    for (long j = 0; j < len; j++) {
        float u = a[j], v = b[j];
        a[j] = u + v;
        b[j] = u - v;
    }
}

static void scale_ref(float *v, long n, float s) {
    for (long j = 0; j < n; j++) v[j] *= s;
}

/* v (p, m) ← H_p · v (rows combined), unscaled */
static void wht_block_ref(float *v, int p, int m) {
    for (int h = 1; h < p; h *= 2)
        for (int i = 0; i < p; i += 2 * h)
            butterfly_ref(v + (long)i * m, v + (long)(i + h) * m, (long)h * m);
}

#if QS_HAVE_X86_SIMD
QS_TARGET_AVX2 static void butterfly_avx2(float *a, float *b, long len) {
    long j = 0;
    for (; j + 8 <= len; j += 8) {
        __m256 u = _mm256_loadu_ps(a + j), v = _mm256_loadu_ps(b + j);
        _mm256_storeu_ps(a + j, _mm256_add_ps(u, v));
        _mm256_storeu_ps(b + j, _mm256_sub_ps(u, v));
    }
    for (; j < len; j++) {
        float u = a[j], v = b[j];
        a[j] = u + v;
        b[j] = u - v;
    }
}

QS_TARGET_AVX2 static void scale_avx2(float *v, long n, float s) {
    __m256 sv = _mm256_set1_ps(s);
    long j = 0;
    for (; j + 8 <= n; j += 8) _mm256_storeu_ps(v + j, _mm256_mul_ps(_mm256_loadu_ps(v + j), sv));
    for (; j < n; j++) v[j] *= s;
}

QS_TARGET_AVX2 static void wht_block_avx2(float *v, int p, int m) {
    for (int h = 1; h < p; h *= 2)
        for (int i = 0; i < p; i += 2 * h)
            butterfly_avx2(v + (long)i * m, v + (long)(i + h) * m, (long)h * m);
}

QS_TARGET_AVX512 static void butterfly_avx512(float *a, float *b, long len) {
    long j = 0;
    for (; j + 16 <= len; j += 16) {
        __m512 u = _mm512_loadu_ps(a + j), v = _mm512_loadu_ps(b + j);
        _mm512_storeu_ps(a + j, _mm512_add_ps(u, v));
        _mm512_storeu_ps(b + j, _mm512_sub_ps(u, v));
    }
    for (; j < len; j++) {
        float u = a[j], v = b[j];
        a[j] = u + v;
        b[j] = u - v;
    }
}

QS_TARGET_AVX512 static void scale_avx512(float *v, long n, float s) {
    __m512 sv = _mm512_set1_ps(s);
    long j = 0;
    for (; j + 16 <= n; j += 16) _mm512_storeu_ps(v + j, _mm512_mul_ps(_mm512_loadu_ps(v + j), sv));
    for (; j < n; j++) v[j] *= s;
}

QS_TARGET_AVX512 static void wht_block_avx512(float *v, int p, int m) {
    for (int h = 1; h < p; h *= 2)
        for (int i = 0; i < p; i += 2 * h)
            butterfly_avx512(v + (long)i * m, v + (long)(i + h) * m, (long)h * m);
}
#endif

typedef void (*wht_block_fn)(float *v, int p, int m);
typedef void (*scale_fn)(float *v, long n, float s);

static void pick(wht_block_fn *w, scale_fn *s) {
    *w = wht_block_ref, *s = scale_ref;
#if QS_HAVE_X86_SIMD
    int path = qs_cpu_path();
    if (path >= QS_CPU_AVX512)
        *w = wht_block_avx512, *s = scale_avx512;
    else if (path >= QS_CPU_AVX2)
        *w = wht_block_avx2, *s = scale_avx2;
#endif
}

/* OpenMP pays off above this many values (a fork/join costs microseconds) */
#define PAR_MIN_WORK 32768

void qs_wht_rows_ref(float *x, int rows, int n) {
    QS_ASSERT(qs_is_pow2(n));
    float s = inv_sqrt(n);
    for (int r = 0; r < rows; r++) {
        float *v = x + (long)r * n;
        wht_block_ref(v, n, 1);
        if (n > 1) scale_ref(v, n, s);
    }
}

void qs_wht_rows(float *x, int rows, int n) {
    QS_ASSERT(qs_is_pow2(n));
    wht_block_fn wb;
    scale_fn sc;
    pick(&wb, &sc);
    float s = inv_sqrt(n);
#pragma omp parallel for if ((long)rows * n >= PAR_MIN_WORK && !omp_in_parallel())
    for (int r = 0; r < rows; r++) {
        float *v = x + (long)r * n;
        wb(v, n, 1);
        if (n > 1) sc(v, n, s);
    }
}

/* ---- the rotation ------------------------------------------------------------------------ */

void qs_rotation_free(qs_rotation *r) {
    free(r->d);
    free(r->q);
    memset(r, 0, sizeof *r);
}

int qs_rotation_init(qs_rotation *r, int n, uint64_t seed) {
    memset(r, 0, sizeof *r);
    if (n < 1) return qs_error_set(QS_ERR_ARG, "rotation: size %d must be >= 1", n);
    int p = 1;
    while (n % (2 * p) == 0) p *= 2;
    int m = n / p;
    if (m > QS_ROTATION_MAX_M)
        return qs_error_set(QS_ERR_ARG,
                            "rotation: size %d = %d x %d has an odd factor above %d (its dense "
                            "random orthogonal factor would cost m^3)",
                            n, p, m, QS_ROTATION_MAX_M);
    r->n = n, r->p = p, r->m = m, r->seed = seed;
    r->d = malloc((size_t)n * sizeof *r->d);
    if (!r->d) return qs_error_set(QS_ERR_NOMEM, "rotation: out of memory (size %d)", n);
    uint64_t st = seed;
    for (int j = 0; j < n; j++) r->d[j] = (qs_splitmix64(&st) >> 63) ? -1.0f : 1.0f;
    if (m == 1) return QS_OK;
    r->q = malloc((size_t)m * m * sizeof *r->q);
    if (!r->q) {
        qs_rotation_free(r);
        return qs_error_set(QS_ERR_NOMEM, "rotation: out of memory for a %d x %d factor", m, m);
    }
    /* the Hartley matrix, the angle's argument reduced mod m so that it stays exact */
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++) {
            double a = 2.0 * M_PI * (double)(((long)i * j) % m) / m;
            r->q[(long)i * m + j] = (float)((cos(a) + sin(a)) / sqrt((double)m));
        }
    return QS_OK;
}

/* ---- applying a rotation ----------------------------------------------------------------- */

/* v (p, m): each run of m values ← run · F (transpose: run · Fᵀ); tmp (m) */
static void runs_q(float *v, const float *q, int p, int m, int transpose, float *tmp) {
    for (int a = 0; a < p; a++) {
        float *run = v + (long)a * m;
        if (!transpose) { /* tmp[c] = Σ_b run[b]·F[b][c], b ascending */
            for (int c = 0; c < m; c++) tmp[c] = 0.0f;
            for (int b = 0; b < m; b++) {
                float xb = run[b];
                const float *qb = q + (long)b * m;
                for (int c = 0; c < m; c++) tmp[c] += xb * qb[c];
            }
        } else { /* tmp[c] = Σ_b run[b]·F[c][b], b ascending */
            for (int c = 0; c < m; c++) {
                const float *qc = q + (long)c * m;
                float s = 0.0f;
                for (int b = 0; b < m; b++) s += run[b] * qc[b];
                tmp[c] = s;
            }
        }
        memcpy(run, tmp, (size_t)m * sizeof *tmp);
    }
}

static void signs(float *v, const float *d, int n) {
    for (int j = 0; j < n; j++) v[j] *= d[j];
}

/* one row, forward (x·R) or inverse (x·Rᵀ) */
static void rotate_row(const qs_rotation *r, float *v, int inverse, float *tmp, wht_block_fn wb,
                       scale_fn sc) {
    if (!inverse) signs(v, r->d, r->n);
    if (r->q) runs_q(v, r->q, r->p, r->m, inverse, tmp);
    wb(v, r->p, r->m);
    if (r->p > 1) sc(v, r->n, inv_sqrt(r->p));
    if (inverse) signs(v, r->d, r->n);
}

static void rotate_rows(const qs_rotation *r, float *x, int rows, int inverse, int fast) {
    wht_block_fn wb = wht_block_ref;
    scale_fn sc = scale_ref;
    if (fast) pick(&wb, &sc);
    int m = r->m;
    int par = fast && (long)rows * r->n * (r->q ? m : 1) >= PAR_MIN_WORK && !omp_in_parallel();
#pragma omp parallel if (par)
    {
        float tmp[QS_ROTATION_MAX_M]; /* (m): on the stack, so no allocation can fail here */
#pragma omp for schedule(static)
        for (int i = 0; i < rows; i++) rotate_row(r, x + (long)i * r->n, inverse, tmp, wb, sc);
    }
}

void qs_rotation_rows(const qs_rotation *r, float *x, int rows) { rotate_rows(r, x, rows, 0, 1); }
void qs_rotation_rows_ref(const qs_rotation *r, float *x, int rows) {
    rotate_rows(r, x, rows, 0, 0);
}
void qs_rotation_rows_inv(const qs_rotation *r, float *x, int rows) {
    rotate_rows(r, x, rows, 1, 1);
}

int qs_rotation_cols(const qs_rotation *r, float *x, int cols) {
    int n = r->n;
    float *t = malloc((size_t)n * cols * sizeof *t); /* (cols, n) = xᵀ */
    if (!t)
        return qs_error_set(QS_ERR_NOMEM, "rotation: out of memory for a (%d, %d) matrix", n, cols);
    for (int i = 0; i < n; i++)
        for (int c = 0; c < cols; c++) t[(long)c * n + i] = x[(long)i * cols + c];
    qs_rotation_rows(r, t, cols);
    for (int i = 0; i < n; i++)
        for (int c = 0; c < cols; c++) x[(long)i * cols + c] = t[(long)c * n + i];
    free(t);
    return QS_OK;
}
