/* Clipping: the range [lo, hi] a scale group is quantized over, by absmax, a percentile
 * of the group, or the ratio of the absmax range that minimises the squared error
 * (grid search, then GSL's Brent minimiser around the best grid point). See quant.h for
 * the exact definitions; tests/ref/test_quant_numpy.py re-derives them with numpy. */
#include <gsl/gsl_errno.h>
#include <gsl/gsl_sort_float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant_internal.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off") /* and -ffp-contract=off in core/CMakeLists.txt */
#endif

/* mse grid: r = k/100, k = MSE_K_MAX down to MSE_K_MIN */
#define MSE_K_MIN      30
#define MSE_K_MAX      100
#define BRENT_MAX_ITER 50
#define BRENT_EPSABS   1e-4

/* Eight independent lanes: a plain reduction loop would not vectorise without
 * -ffast-math, and "omp simd reduction(max)" compiles to a slow lane array here. max is
 * exact, so the lane order changes nothing. */
#define LANES 8

void qs__quant_absmax_range(float *lo, float *hi, const float *x, int n, int affine) {
    float mn[LANES] = {0}, mx[LANES] = {0}; /* starting at 0 widens affine ranges to hold 0 */
    int i = 0;
    if (!affine) {
        for (; i + LANES <= n; i += LANES)
            for (int j = 0; j < LANES; j++) {
                float a = fabsf(x[i + j]);
                mx[j] = a > mx[j] ? a : mx[j];
            }
        for (; i < n; i++) {
            float a = fabsf(x[i]);
            mx[0] = a > mx[0] ? a : mx[0];
        }
    } else {
        for (; i + LANES <= n; i += LANES)
            for (int j = 0; j < LANES; j++) {
                mn[j] = x[i + j] < mn[j] ? x[i + j] : mn[j];
                mx[j] = x[i + j] > mx[j] ? x[i + j] : mx[j];
            }
        for (; i < n; i++) {
            mn[0] = x[i] < mn[0] ? x[i] : mn[0];
            mx[0] = x[i] > mx[0] ? x[i] : mx[0];
        }
    }
    for (int j = 1; j < LANES; j++) {
        mn[0] = mn[j] < mn[0] ? mn[j] : mn[0];
        mx[0] = mx[j] > mx[0] ? mx[j] : mx[0];
    }
    *lo = affine ? mn[0] : -mx[0];
    *hi = mx[0];
}

void qs__quant_absmax_range_ref(float *lo, float *hi, const float *x, int n, int affine) {
    float mn = 0.0f, mx = 0.0f;
    for (int i = 0; i < n; i++) {
        if (affine) {
            if (x[i] < mn) mn = x[i];
            if (x[i] > mx) mx = x[i];
        } else if (fabsf(x[i]) > mx)
            mx = fabsf(x[i]);
    }
    *lo = affine ? mn : -mx;
    *hi = mx;
}

double qs__quant_percentile_sorted(const float *a, int n, double p) {
    double h = (p / 100.0) * (double)(n - 1);
    double fl = floor(h);
    int i = (int)fl;
    if (i >= n - 1) return a[n - 1];
    double t = h - fl, lo = a[i], hi = a[i + 1], d = hi - lo;
    return t < 0.5 ? lo + d * t : hi - d * (1.0 - t);
}

static int cmp_float(const void *pa, const void *pb) {
    float a = *(const float *)pa, b = *(const float *)pb;
    return (a > b) - (a < b);
}

static void sort_floats(float *a, int n, int ref) {
    if (ref)
        qsort(a, (size_t)n, sizeof *a, cmp_float);
    else
        gsl_sort_float(a, 1, (size_t)n);
}

/* ---- the three methods --------------------------------------------------------------- */

typedef struct clip_args {
    const float *x;
    int n;
    const qs_quant_spec *sp;
    float *scratch; /* n floats */
    gsl_min_fminimizer *mz;
    int ref;
    float tensor_amax;
} clip_args;

static void clip_absmax(float *lo, float *hi, const clip_args *a) {
    int affine = a->sp->scheme == QS_QUANT_AFFINE;
    if (a->ref)
        qs__quant_absmax_range_ref(lo, hi, a->x, a->n, affine);
    else
        qs__quant_absmax_range(lo, hi, a->x, a->n, affine);
}

static void clip_percentile(float *lo, float *hi, const clip_args *a) {
    float *s = a->scratch;
    double p = a->sp->percentile;
    if (a->sp->scheme != QS_QUANT_AFFINE) {
        for (int i = 0; i < a->n; i++) s[i] = fabsf(a->x[i]);
        sort_floats(s, a->n, a->ref);
        float t = (float)qs__quant_percentile_sorted(s, a->n, p);
        *lo = -t;
        *hi = t;
        return;
    }
    memcpy(s, a->x, (size_t)a->n * sizeof *s);
    sort_floats(s, a->n, a->ref);
    *lo = fminf((float)qs__quant_percentile_sorted(s, a->n, 100.0 - p), 0.0f);
    *hi = fmaxf((float)qs__quant_percentile_sorted(s, a->n, p), 0.0f);
}

typedef struct mse_ctx {
    const float *x;
    int n;
    const qs_quant_spec *sp;
    const qs_quant_traits *tr;
    float lo0, hi0; /* the absmax range that r scales */
    qs__quant_sse_fn sse;
    float tensor_amax;
} mse_ctx;

static void ratio_range(float *lo, float *hi, const mse_ctx *c, double r) {
    *lo = (float)(r * (double)c->lo0);
    *hi = (float)(r * (double)c->hi0);
}

static double mse_eval(double r, void *params) {
    const mse_ctx *c = params;
    float lo, hi;
    qs_quant_grid g;
    ratio_range(&lo, &hi, c, r);
    c->tr->grid(&g, lo, hi, c->sp->bits, c->sp->fp32_scales, c->tensor_amax);
    return c->sse(c->x, c->n, &g);
}

static void clip_mse(float *lo, float *hi, const clip_args *a) {
    const qs_quant_traits *tr = qs_quant_traits_of(a->sp->scheme);
    mse_ctx c = {a->x, a->n, a->sp, tr, 0, 0, a->ref ? tr->sse_ref : tr->sse, a->tensor_amax};
    clip_absmax(&c.lo0, &c.hi0, a);
    if (c.lo0 == 0.0f && c.hi0 == 0.0f) { /* all zero: nothing to search */
        *lo = *hi = 0.0f;
        return;
    }
    double f[MSE_K_MAX + 1];
    int best = MSE_K_MAX;
    for (int k = MSE_K_MAX; k >= MSE_K_MIN; k--) {
        f[k] = mse_eval(k / 100.0, &c);
        if (f[k] < f[best]) best = k; /* strict: ties keep the larger ratio */
    }
    double r = best / 100.0;
    /* Brent needs a strict bracket f(a) > f(r) < f(b); GSL would call its (aborting)
     * error handler otherwise, so check first. */
    if (a->mz && best > MSE_K_MIN && best < MSE_K_MAX && f[best - 1] > f[best] &&
        f[best + 1] > f[best]) {
        gsl_function F = {mse_eval, &c};
        gsl_min_fminimizer_set_with_values(a->mz, &F, r, f[best], (best - 1) / 100.0, f[best - 1],
                                           (best + 1) / 100.0, f[best + 1]);
        for (int it = 0; it < BRENT_MAX_ITER; it++) {
            if (gsl_min_fminimizer_iterate(a->mz) != GSL_SUCCESS) break;
            if (gsl_min_test_interval(gsl_min_fminimizer_x_lower(a->mz),
                                      gsl_min_fminimizer_x_upper(a->mz), BRENT_EPSABS,
                                      0.0) == GSL_SUCCESS)
                break;
        }
        if (gsl_min_fminimizer_f_minimum(a->mz) < f[best]) r = gsl_min_fminimizer_x_minimum(a->mz);
    }
    ratio_range(lo, hi, &c, r);
}

typedef void (*clip_fn)(float *lo, float *hi, const clip_args *a);
static const clip_fn clip_table[QS_QUANT_CLIP_COUNT] = {
    [QS_QUANT_ABSMAX] = clip_absmax,
    [QS_QUANT_MSE] = clip_mse,
    [QS_QUANT_PERCENTILE] = clip_percentile,
};

void qs__quant_clip_range(float *lo, float *hi, const float *x, int n, const qs_quant_spec *sp,
                          float *scratch, gsl_min_fminimizer *mz, int ref, float tensor_amax) {
    clip_args a = {x, n, sp, scratch, mz, ref, tensor_amax};
    clip_table[sp->clip](lo, hi, &a);
}
