/* Integer grids: range -> (scale, zero-point) for each scheme, and the kernels that map
 * values to codes and back. The fast kernels clamp the rounded quotient in the "q - zero"
 * domain and round with the 1.5·2^23 trick so they vectorise on plain SSE2; the _ref
 * kernels are the textbook q = clamp(rint(x/s) + z, qmin, qmax), y = (q - z)·s. Both
 * round half to even and agree bit for bit (tests/unit/test_quant_grid.c). */
#include <float.h>
#include <math.h>
#include <string.h>

#include "fp16.h"
#include "quant_internal.h"

/* A fused multiply-add would round differently from the reference and from numpy. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off") /* and -ffp-contract=off in core/CMakeLists.txt */
#endif

#define QS__FP16_MAX        65504.0f
#define QS__FP16_MIN_NORMAL 6.103515625e-05f /* 2^-14 */

/* rint for |v| <= 2^22 in the default rounding mode; larger |v| stay far outside any grid
 * (what the clamp needs). Not folded away: we never build with -ffast-math. */
static inline float round_small(float v) {
    const float magic = 12582912.0f; /* 1.5·2^23 */
    return (v + magic) - magic;
}

float qs__quant_store_scale(float s, int nonzero, int fp32, int *flags) {
    *flags = 0;
    if (fp32) {
        if (s > FLT_MAX) { /* affine hi - lo overflowed */
            s = FLT_MAX;
            *flags |= QS_QUANT_F_OVERFLOW;
        }
    } else {
        s = qs_fp16_round(s);
        if (s > QS__FP16_MAX) {
            s = QS__FP16_MAX;
            *flags |= QS_QUANT_F_OVERFLOW;
        } else if (s > 0.0f && s < QS__FP16_MIN_NORMAL)
            *flags |= QS_QUANT_F_SUBNORMAL;
    }
    if (nonzero && s == 0.0f) *flags |= QS_QUANT_F_UNDERFLOW;
    return s;
}

void qs__quant_grid_symmetric(qs_quant_grid *g, float lo, float hi, int bits, int fp32_scales,
                              float tensor_amax) {
    (void)tensor_amax;
    const int qmax = (1 << (bits - 1)) - 1;
    float t = fmaxf(-lo, hi);
    g->scale = qs__quant_store_scale(t / (float)qmax, t > 0.0f, fp32_scales, &g->flags);
    g->zero = 0;
    g->qlo = (float)-qmax;
    g->qhi = (float)qmax;
}

void qs__quant_grid_affine(qs_quant_grid *g, float lo, float hi, int bits, int fp32_scales,
                           float tensor_amax) {
    (void)tensor_amax;
    const int qmax = (1 << bits) - 1;
    lo = fminf(lo, 0.0f); /* 0 must be a grid point */
    hi = fmaxf(hi, 0.0f);
    float s = qs__quant_store_scale((hi - lo) / (float)qmax, hi > lo, fp32_scales, &g->flags);
    int32_t z = 0;
    if (s > 0.0f) z = (int32_t)fminf(fmaxf(rintf(-lo / s), 0.0f), (float)qmax);
    g->scale = s;
    g->zero = z;
    g->qlo = (float)-z;
    g->qhi = (float)(qmax - z);
}

/* A zero scale divides by +Inf instead: every finite x gives +0, so the group outputs +0
 * and codes equal the zero-point, with no branch in the loop and no NaN. */
static inline float divisor(const qs_quant_grid *g) {
    return g->scale != 0.0f ? g->scale : INFINITY;
}

long qs__quant_fake_run(float *y, int16_t *q, const float *x, int n, const qs_quant_grid *g) {
    const float d = divisor(g), s = g->scale, lo = g->qlo, hi = g->qhi, z = (float)g->zero;
    int clipped = 0; /* int: a 64-bit lane count halves the vector width */
    if (q) {
#pragma omp simd reduction(+ : clipped)
        for (int i = 0; i < n; i++) {
            float r = round_small(x[i] / d);
            clipped += (r < lo) | (r > hi);
            r = r < lo ? lo : r;
            r = r > hi ? hi : r;
            q[i] = (int16_t)(r + z);
            y[i] = r * s;
        }
    } else {
#pragma omp simd reduction(+ : clipped)
        for (int i = 0; i < n; i++) {
            float r = round_small(x[i] / d);
            clipped += (r < lo) | (r > hi);
            r = r < lo ? lo : r;
            r = r > hi ? hi : r;
            y[i] = r * s;
        }
    }
    return clipped;
}

long qs__quant_fake_run_ref(float *y, int16_t *q, const float *x, int n, const qs_quant_grid *g) {
    const float s = g->scale, z = (float)g->zero;
    const float cmin = g->qlo + z, cmax = g->qhi + z; /* 0..2^b-1 or -qmax..qmax */
    long clipped = 0;
    for (int i = 0; i < n; i++) {
        if (s == 0.0f) {
            if (q) q[i] = (int16_t)g->zero;
            y[i] = 0.0f;
            continue;
        }
        float c = rintf(x[i] / s) + z;
        if (c < cmin) {
            c = cmin;
            clipped++;
        } else if (c > cmax) {
            c = cmax;
            clipped++;
        }
        if (q) q[i] = (int16_t)c;
        y[i] = (c - z) * s;
    }
    return clipped;
}

void qs__quant_codes(int16_t *q, const float *x, int n, const qs_quant_grid *g) {
    const float d = divisor(g), lo = g->qlo, hi = g->qhi, z = (float)g->zero;
#pragma omp simd
    for (int i = 0; i < n; i++) {
        float r = round_small(x[i] / d);
        r = r < lo ? lo : r;
        r = r > hi ? hi : r;
        q[i] = (int16_t)(r + z);
    }
}

void qs__quant_decode(float *y, const int16_t *q, int n, const qs_quant_grid *g) {
    const float s = g->scale, z = (float)g->zero;
#pragma omp simd
    for (int i = 0; i < n; i++) y[i] = ((float)q[i] - z) * s;
}

long qs__quant_fake_cols(float *y, int16_t *q, const float *x, int n, const float *div,
                         const float *qlo, const float *qhi, const float *scale,
                         const int32_t *zero) {
    int clipped = 0;
    if (q) {
#pragma omp simd reduction(+ : clipped)
        for (int c = 0; c < n; c++) {
            float r = round_small(x[c] / div[c]);
            clipped += (r < qlo[c]) | (r > qhi[c]);
            r = r < qlo[c] ? qlo[c] : r;
            r = r > qhi[c] ? qhi[c] : r;
            q[c] = (int16_t)(r + (float)zero[c]);
            y[c] = r * scale[c];
        }
    } else {
#pragma omp simd reduction(+ : clipped)
        for (int c = 0; c < n; c++) {
            float r = round_small(x[c] / div[c]);
            clipped += (r < qlo[c]) | (r > qhi[c]);
            r = r < qlo[c] ? qlo[c] : r;
            r = r > qhi[c] ? qhi[c] : r;
            y[c] = r * scale[c];
        }
    }
    return clipped;
}

int qs__quant_levels(const float *y, long n, long stride, const qs_quant_grid *g, int bits) {
    if (g->scale == 0.0f) return 1;
    unsigned char seen[1 << QS_QUANT_BITS_MAX];
    memset(seen, 0, sizeof seen);
    int count = 0;
    /* y = k·s exactly rounded with |k| <= 255, so y/s is within 1e-4 of k */
    for (long i = 0; i < n; i++) {
        int k = (int)rintf(y[i * stride] / g->scale) - (int)g->qlo;
        if (k < 0 || k >= (1 << bits)) continue; /* cannot happen for our own outputs */
        count += !seen[k];
        seen[k] = 1;
    }
    return count;
}

double qs__quant_sse(const float *x, int n, const qs_quant_grid *g) {
    const float d = divisor(g), s = g->scale, lo = g->qlo, hi = g->qhi;
    double acc = 0.0;
    for (int i = 0; i < n; i++) {
        float r = round_small(x[i] / d);
        r = r < lo ? lo : r;
        r = r > hi ? hi : r;
        float e = r * s - x[i];
        acc += (double)e * (double)e;
    }
    return acc;
}

double qs__quant_sse_ref(const float *x, int n, const qs_quant_grid *g) {
    double acc = 0.0;
    for (int i = 0; i < n; i++) {
        float y;
        qs__quant_fake_run_ref(&y, NULL, &x[i], 1, g);
        float e = y - x[i];
        acc += (double)e * (double)e;
    }
    return acc;
}
