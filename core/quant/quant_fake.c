/* Fake-quantization of a whole matrix: validate, find each scale group's range (clipping),
 * build its grid, quantize-dequantize. qs_quant_fake is the fast one (OpenMP over rows,
 * groups or columns; vectorised kernels), qs_quant_fake_ref the plain scalar one; they
 * agree bit for bit, and neither depends on the thread count.
 *
 * Letters: R rows, C cols, G group size, N scale groups. */
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "quant_internal.h"

/* ---- shared by both drivers ---------------------------------------------------------- */

static int check_args(const float *out, const float *x, int rows, int cols, const qs_quant_spec *sp,
                      const qs_quant_io *io) {
    int rc = qs_quant_spec_validate(sp);
    if (rc) return rc;
    if (!out || !x) return qs_error_set(QS_ERR_ARG, "quant: NULL matrix");
    if (rows < 1 || cols < 1)
        return qs_error_set(QS_ERR_ARG, "quant: matrix (%d, %d) is empty", rows, cols);
    if ((long)rows * cols > INT_MAX)
        return qs_error_set(QS_ERR_ARG, "quant: matrix (%d, %d) has more than %d values", rows,
                            cols, INT_MAX);
    if (sp->bits != QS_QUANT_BITS_NONE && io && io->ranges_in) {
        long n = qs_quant_n_scales(sp, rows, cols);
        for (long g = 0; g < n; g++) {
            float lo = io->ranges_in[2 * g], hi = io->ranges_in[2 * g + 1];
            if (!isfinite(lo) || !isfinite(hi) || lo > hi)
                return qs_error_set(QS_ERR_ARG,
                                    "quant: ranges_in[%ld] = [%g, %g]: expected finite lo <= hi", g,
                                    lo, hi);
        }
    }
    return QS_OK;
}

static inline int row_has_nonfinite(const float *x, int n) {
    unsigned bad = 0;
#pragma omp simd reduction(| : bad)
    for (int i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        bad |= (u & 0x7f800000u) == 0x7f800000u; /* exponent all ones: Inf or NaN */
    }
    return (int)bad;
}

/* The first NaN/Inf in row-major order, reported outside the parallel loop. */
static int check_finite(const float *x, int rows, int cols, int parallel) {
    int first = rows;
#pragma omp parallel for if (parallel) reduction(min : first) schedule(static)
    for (int r = 0; r < rows; r++)
        if (r < first && row_has_nonfinite(x + (long)r * cols, cols)) first = r;
    if (first == rows) return QS_OK;
    const float *row = x + (long)first * cols;
    int c = 0;
    while (isfinite(row[c])) c++;
    return qs_error_set(QS_ERR_NUMERIC, "quant: %s at row %d, col %d of a (%d, %d) matrix",
                        isnan(row[c]) ? "NaN" : "Inf", first, c, rows, cols);
}

static void passthrough(float *out, const float *x, int rows, int cols, qs_quant_report *rep) {
    if (out != x) memmove(out, x, (size_t)rows * cols * sizeof *out);
    if (rep) {
        memset(rep, 0, sizeof *rep);
        rep->n_values = (long)rows * cols;
        rep->bits_per_value = 16.0;
    }
}

/* Whether a call is worth waking the thread team: small matrices run faster on one thread
 * (a wake-up costs microseconds, more on a loaded machine). Searches cost ~100 passes. */
static int worth_parallel(const qs_quant_spec *sp, int rows, int cols, const qs_quant_io *io) {
    long work = (long)rows * cols;
    if (!(io && io->ranges_in) && sp->clip == QS_QUANT_MSE)
        work *= 100;
    else if (!(io && io->ranges_in) && sp->clip == QS_QUANT_PERCENTILE)
        work *= 8;
    return work >= (1L << 15);
}

/* Group gi as a rectangle: rows [r0, r0+nr), cols [c0, c0+nc). */
static void group_rect(const qs_quant_spec *sp, int rows, int cols, long gi, int *r0, int *nr,
                       int *c0, int *nc) {
    *r0 = 0, *nr = rows, *c0 = 0, *nc = cols;
    if (sp->gran == QS_QUANT_ROW)
        *r0 = (int)gi, *nr = 1;
    else if (sp->gran == QS_QUANT_COL)
        *c0 = (int)gi, *nc = 1;
    else if (sp->gran == QS_QUANT_GROUP) {
        int ngc = (cols + sp->group - 1) / sp->group;
        *r0 = (int)(gi / ngc), *nr = 1;
        *c0 = (int)(gi % ngc) * sp->group;
        *nc = cols - *c0 < sp->group ? cols - *c0 : sp->group;
    }
}

/* Largest number of values a clip search sees at once. */
static long max_group_values(const qs_quant_spec *sp, int rows, int cols) {
    switch (sp->gran) {
    case QS_QUANT_ROW: return cols;
    case QS_QUANT_COL: return rows;
    case QS_QUANT_GROUP: return sp->group < cols ? sp->group : cols;
    default: return (long)rows * cols;
    }
}

/* Levels, io outputs and the report, once every group is done. Same code for both drivers. */
static void finish(float *out, int rows, int cols, const qs_quant_spec *sp, const qs_quant_io *io,
                   qs_quant_report *rep, const qs_quant_grid *grids, const float *ranges, long N,
                   long clipped, int parallel) {
    const qs_quant_traits *tr = qs_quant_traits_of(sp->scheme);
    int want_levels = io && (io->count_levels || io->levels);
    int *levels = NULL;
    if (want_levels) {
        levels = io->levels ? io->levels : malloc((size_t)N * sizeof *levels);
        if (levels) {
#pragma omp parallel for if (parallel) schedule(static)
            for (long g = 0; g < N; g++) {
                int r0, nr, c0, nc;
                group_rect(sp, rows, cols, g, &r0, &nr, &c0, &nc);
                const float *y = out + (long)r0 * cols + c0;
                /* a group is a run of one row, a column (stride C) or the whole matrix */
                levels[g] = nc == 1 && nr > 1
                                ? tr->levels(y, nr, cols, &grids[g], sp->bits)
                                : tr->levels(y, (long)nr * nc, 1, &grids[g], sp->bits);
            }
        }
    }
    if (io && io->scales)
        for (long g = 0; g < N; g++) io->scales[g] = grids[g].scale;
    if (io && io->zeros)
        for (long g = 0; g < N; g++) io->zeros[g] = grids[g].zero;
    if (io && io->ranges) memcpy(io->ranges, ranges, (size_t)N * 2 * sizeof *ranges);
    if (rep) {
        memset(rep, 0, sizeof *rep);
        rep->n_values = (long)rows * cols;
        rep->n_scales = N;
        rep->n_clipped = clipped;
        rep->bits_per_value = qs_quant_bits_per_value(sp, rows, cols);
        for (long g = 0; g < N; g++) {
            rep->n_zero_scale += grids[g].scale == 0.0f;
            rep->n_scale_overflow += (grids[g].flags & QS_QUANT_F_OVERFLOW) != 0;
            rep->n_scale_subnormal += (grids[g].flags & QS_QUANT_F_SUBNORMAL) != 0;
            rep->n_scale_underflow += (grids[g].flags & QS_QUANT_F_UNDERFLOW) != 0;
        }
        if (levels) {
            double sum = 0;
            rep->levels_min = INT_MAX;
            for (long g = 0; g < N; g++) {
                sum += levels[g];
                if (levels[g] < rep->levels_min) rep->levels_min = levels[g];
                if (levels[g] > rep->levels_max) rep->levels_max = levels[g];
            }
            rep->levels_mean = sum / (double)N;
        }
    }
    if (levels && (!io || levels != io->levels)) free(levels);
}

/* Scratch for the clip searches: per thread 2·M floats (a gathered group and a sort copy)
 * and a Brent minimiser for mse. */
typedef struct scratch {
    int nthr;
    long m;
    float *buf;
    gsl_min_fminimizer **mz;
} scratch;

static void scratch_free(scratch *s) {
    if (s->mz)
        for (int t = 0; t < s->nthr; t++)
            if (s->mz[t]) gsl_min_fminimizer_free(s->mz[t]);
    free(s->mz);
    free(s->buf);
    memset(s, 0, sizeof *s);
}

static int scratch_init(scratch *s, const qs_quant_spec *sp, const qs_quant_io *io, int rows,
                        int cols, int nthr) {
    memset(s, 0, sizeof *s);
    s->nthr = nthr;
    if (sp->clip == QS_QUANT_ABSMAX || (io && io->ranges_in)) return QS_OK;
    s->m = max_group_values(sp, rows, cols);
    s->buf = malloc((size_t)nthr * 2 * (size_t)s->m * sizeof *s->buf);
    if (!s->buf) return qs_error_set(QS_ERR_NOMEM, "quant: no memory for clip scratch");
    if (sp->clip == QS_QUANT_MSE) {
        s->mz = calloc((size_t)nthr, sizeof *s->mz);
        if (!s->mz) {
            scratch_free(s);
            return qs_error_set(QS_ERR_NOMEM, "quant: no memory for minimisers");
        }
        for (int t = 0; t < nthr; t++)
            if (!(s->mz[t] = gsl_min_fminimizer_alloc(gsl_min_fminimizer_brent))) {
                scratch_free(s);
                return qs_error_set(QS_ERR_NOMEM, "quant: no memory for minimisers");
            }
    }
    return QS_OK;
}

/* The range of group g from n contiguous values v: ranges_in, or the clip method. */
static void group_range(float *range, const float *v, int n, long g, const qs_quant_spec *sp,
                        const qs_quant_io *io, const scratch *s, int tid, int ref,
                        float tensor_amax) {
    if (io && io->ranges_in) {
        range[0] = io->ranges_in[2 * g];
        range[1] = io->ranges_in[2 * g + 1];
        return;
    }
    float *sort = s->buf ? s->buf + ((long)tid * 2 + 1) * s->m : NULL;
    qs__quant_clip_range(&range[0], &range[1], v, n, sp, sort, s->mz ? s->mz[tid] : NULL, ref,
                         tensor_amax);
}

/* The matrix absmax a two-level format (nvfp4) scales its block scales by: that of x, or
 * the largest |lo|, |hi| of ranges_in. max is exact, so any order gives the same value. */
static float tensor_amax(const float *x, int rows, int cols, const qs_quant_spec *sp,
                         const qs_quant_io *io, int parallel, int ref) {
    float amax = 0.0f;
    if (io && io->ranges_in) {
        long n = qs_quant_n_scales(sp, rows, cols);
        for (long g = 0; g < 2 * n; g++)
            amax = fabsf(io->ranges_in[g]) > amax ? fabsf(io->ranges_in[g]) : amax;
        return amax;
    }
#pragma omp parallel for if (parallel) reduction(max : amax) schedule(static)
    for (int r = 0; r < rows; r++) {
        float lo, hi;
        if (ref)
            qs__quant_absmax_range_ref(&lo, &hi, x + (long)r * cols, cols, 0);
        else
            qs__quant_absmax_range(&lo, &hi, x + (long)r * cols, cols, 0);
        amax = hi > amax ? hi : amax;
    }
    return amax;
}

typedef struct buffers {
    float tensor_amax;    /* absmax of the matrix (of ranges_in), for two-level formats */
    qs_quant_grid *grids; /* (N) */
    float *ranges;        /* (N, 2) */
    float *cols;          /* (5, C) for granularity col */
} buffers;

static int buffers_init(buffers *b, const qs_quant_spec *sp, long N, int cols) {
    b->tensor_amax = 0.0f;
    b->grids = malloc((size_t)N * sizeof *b->grids);
    b->ranges = malloc((size_t)N * 2 * sizeof *b->ranges);
    b->cols = sp->gran == QS_QUANT_COL ? malloc((size_t)5 * cols * sizeof *b->cols) : NULL;
    if (!b->grids || !b->ranges || (sp->gran == QS_QUANT_COL && !b->cols)) {
        free(b->grids), free(b->ranges), free(b->cols);
        return qs_error_set(QS_ERR_NOMEM, "quant: no memory for %ld scale groups", N);
    }
    return QS_OK;
}

static void buffers_free(buffers *b) { free(b->grids), free(b->ranges), free(b->cols); }

/* ---- fast ---------------------------------------------------------------------------- */

/* Row or group granularity: groups never span rows, so one pass per row finds the ranges
 * and quantizes while the row is in cache (in place is safe: a group is read before it is
 * written). */
static long fake_rows(float *out, const float *x, int rows, int cols, const qs_quant_spec *sp,
                      const qs_quant_io *io, const buffers *b, const scratch *s, int par) {
    const qs_quant_traits *tr = qs_quant_traits_of(sp->scheme);
    const int glen = sp->gran == QS_QUANT_ROW ? cols : sp->group;
    const int ngc = (cols + glen - 1) / glen;
    long clipped = 0;
#pragma omp parallel for if (par) reduction(+ : clipped) schedule(static)
    for (int r = 0; r < rows; r++) {
        int tid = omp_get_thread_num();
        for (int j = 0; j < ngc; j++) {
            long gi = (long)r * ngc + j, off = (long)r * cols + (long)j * glen;
            int n = cols - j * glen < glen ? cols - j * glen : glen;
            float *range = &b->ranges[2 * gi];
            group_range(range, x + off, n, gi, sp, io, s, tid, 0, b->tensor_amax);
            tr->grid(&b->grids[gi], range[0], range[1], sp->bits, sp->fp32_scales, b->tensor_amax);
            clipped += tr->fake(out + off, io && io->codes ? io->codes + off : NULL, x + off, n,
                                &b->grids[gi]);
        }
    }
    return clipped;
}

static long fake_tensor(float *out, const float *x, int rows, int cols, const qs_quant_spec *sp,
                        const qs_quant_io *io, const buffers *b, const scratch *s, int par) {
    const qs_quant_traits *tr = qs_quant_traits_of(sp->scheme);
    float *range = b->ranges;
    if (!(io && io->ranges_in) && sp->clip == QS_QUANT_ABSMAX) {
        /* min/max are exact, so the reduction order does not matter */
        float lo = 0.0f, hi = 0.0f;
        int affine = sp->scheme == QS_QUANT_AFFINE;
#pragma omp parallel for if (par) reduction(min : lo) reduction(max : hi) schedule(static)
        for (int r = 0; r < rows; r++) {
            float l, h;
            qs__quant_absmax_range(&l, &h, x + (long)r * cols, cols, affine);
            lo = l < lo ? l : lo;
            hi = h > hi ? h : hi;
        }
        range[0] = lo, range[1] = hi;
    } else
        group_range(range, x, rows * cols, 0, sp, io, s, 0, 0, b->tensor_amax); /* one thread */
    tr->grid(&b->grids[0], range[0], range[1], sp->bits, sp->fp32_scales, b->tensor_amax);
    long clipped = 0;
#pragma omp parallel for if (par) reduction(+ : clipped) schedule(static)
    for (int r = 0; r < rows; r++) {
        long off = (long)r * cols;
        clipped += tr->fake(out + off, io && io->codes ? io->codes + off : NULL, x + off, cols,
                            &b->grids[0]);
    }
    return clipped;
}

static long fake_cols(float *out, const float *x, int rows, int cols, const qs_quant_spec *sp,
                      const qs_quant_io *io, const buffers *b, const scratch *s, int par) {
    const qs_quant_traits *tr = qs_quant_traits_of(sp->scheme);
    float *div = b->cols, *qlo = div + cols, *qhi = qlo + cols, *scale = qhi + cols;
    int32_t *zero = (int32_t *)(scale + cols);
    if (io && io->ranges_in)
        memcpy(b->ranges, io->ranges_in, (size_t)cols * 2 * sizeof(float));
    else if (sp->clip == QS_QUANT_ABSMAX) {
        /* blocks of columns: the inner loop runs along a row, vectorised */
        enum { CB = 256 };
        int affine = sp->scheme == QS_QUANT_AFFINE;
#pragma omp parallel for if (par) schedule(static)
        for (int c0 = 0; c0 < cols; c0 += CB) {
            int nc = cols - c0 < CB ? cols - c0 : CB;
            float lo[CB], hi[CB];
            for (int c = 0; c < nc; c++) lo[c] = hi[c] = 0.0f;
            for (int r = 0; r < rows; r++) {
                const float *xr = x + (long)r * cols + c0;
                if (affine) {
#pragma omp simd
                    for (int c = 0; c < nc; c++) {
                        lo[c] = xr[c] < lo[c] ? xr[c] : lo[c];
                        hi[c] = xr[c] > hi[c] ? xr[c] : hi[c];
                    }
                } else {
#pragma omp simd
                    for (int c = 0; c < nc; c++) {
                        float a = fabsf(xr[c]);
                        hi[c] = a > hi[c] ? a : hi[c];
                    }
                }
            }
            for (int c = 0; c < nc; c++) {
                b->ranges[2 * (c0 + c)] = affine ? lo[c] : -hi[c];
                b->ranges[2 * (c0 + c) + 1] = hi[c];
            }
        }
    } else {
#pragma omp parallel for if (par) schedule(dynamic, 1)
        for (int c = 0; c < cols; c++) {
            int tid = omp_get_thread_num();
            float *col = s->buf + (long)tid * 2 * s->m; /* (R) gathered column */
            for (int r = 0; r < rows; r++) col[r] = x[(long)r * cols + c];
            group_range(&b->ranges[2 * c], col, rows, c, sp, io, s, tid, 0, b->tensor_amax);
        }
    }
    for (int c = 0; c < cols; c++) {
        qs_quant_grid *g = &b->grids[c];
        tr->grid(g, b->ranges[2 * c], b->ranges[2 * c + 1], sp->bits, sp->fp32_scales,
                 b->tensor_amax);
        div[c] = g->scale != 0.0f ? g->scale : INFINITY; /* as the run kernel: +0 out */
        qlo[c] = g->qlo, qhi[c] = g->qhi, scale[c] = g->scale, zero[c] = g->zero;
    }
    long clipped = 0;
    if (tr->elem >= 0) { /* formats: one value at a time with its column's grid */
#pragma omp parallel for if (par) reduction(+ : clipped) schedule(static)
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                long i = (long)r * cols + c;
                clipped += tr->fake(out + i, io && io->codes ? io->codes + i : NULL, x + i, 1,
                                    &b->grids[c]);
            }
        return clipped;
    }
#pragma omp parallel for if (par) reduction(+ : clipped) schedule(static)
    for (int r = 0; r < rows; r++) {
        long off = (long)r * cols;
        clipped += qs__quant_fake_cols(out + off, io && io->codes ? io->codes + off : NULL, x + off,
                                       cols, div, qlo, qhi, scale, zero);
    }
    return clipped;
}

int qs_quant_fake(float *out, const float *x, int rows, int cols, const qs_quant_spec *sp,
                  const qs_quant_io *io, qs_quant_report *rep) {
    int rc = check_args(out, x, rows, cols, sp, io);
    if (rc) return rc;
    if (sp->bits == QS_QUANT_BITS_NONE) {
        passthrough(out, x, rows, cols, rep);
        return QS_OK;
    }
    int par = worth_parallel(sp, rows, cols, io);
    if ((rc = check_finite(x, rows, cols, (long)rows * cols >= (1L << 15)))) return rc;
    long N = qs_quant_n_scales(sp, rows, cols);
    buffers b;
    scratch s;
    if ((rc = buffers_init(&b, sp, N, cols))) return rc;
    if (qs_quant_traits_of(sp->scheme)->tensor_meta_bits)
        b.tensor_amax = tensor_amax(x, rows, cols, sp, io, par, 0);
    if ((rc = scratch_init(&s, sp, io, rows, cols, omp_get_max_threads()))) {
        buffers_free(&b);
        return rc;
    }
    long clipped;
    if (sp->gran == QS_QUANT_TENSOR)
        clipped = fake_tensor(out, x, rows, cols, sp, io, &b, &s, par);
    else if (sp->gran == QS_QUANT_COL)
        clipped = fake_cols(out, x, rows, cols, sp, io, &b, &s, par);
    else
        clipped = fake_rows(out, x, rows, cols, sp, io, &b, &s, par);
    finish(out, rows, cols, sp, io, rep, b.grids, b.ranges, N, clipped, par);
    scratch_free(&s);
    buffers_free(&b);
    return QS_OK;
}

/* ---- reference ----------------------------------------------------------------------- */

int qs_quant_fake_ref(float *out, const float *x, int rows, int cols, const qs_quant_spec *sp,
                      const qs_quant_io *io, qs_quant_report *rep) {
    int rc = check_args(out, x, rows, cols, sp, io);
    if (rc) return rc;
    if (sp->bits == QS_QUANT_BITS_NONE) {
        passthrough(out, x, rows, cols, rep);
        return QS_OK;
    }
    if ((rc = check_finite(x, rows, cols, 0))) return rc;
    const qs_quant_traits *tr = qs_quant_traits_of(sp->scheme);
    long N = qs_quant_n_scales(sp, rows, cols);
    buffers b;
    scratch s;
    if ((rc = buffers_init(&b, sp, N, cols))) return rc;
    if (tr->tensor_meta_bits) b.tensor_amax = tensor_amax(x, rows, cols, sp, io, 0, 1);
    if ((rc = scratch_init(&s, sp, io, rows, cols, 1))) {
        buffers_free(&b);
        return rc;
    }
    float *group = malloc((size_t)max_group_values(sp, rows, cols) * sizeof *group);
    if (!group) {
        scratch_free(&s);
        buffers_free(&b);
        return qs_error_set(QS_ERR_NOMEM, "quant: no memory for a group");
    }
    long clipped = 0;
    for (long g = 0; g < N; g++) {
        int r0, nr, c0, nc, n = 0;
        group_rect(sp, rows, cols, g, &r0, &nr, &c0, &nc);
        for (int r = r0; r < r0 + nr; r++) /* gather, row-major (read before written) */
            for (int c = c0; c < c0 + nc; c++) group[n++] = x[(long)r * cols + c];
        group_range(&b.ranges[2 * g], group, n, g, sp, io, &s, 0, 1, b.tensor_amax);
        tr->grid(&b.grids[g], b.ranges[2 * g], b.ranges[2 * g + 1], sp->bits, sp->fp32_scales,
                 b.tensor_amax);
        n = 0;
        for (int r = r0; r < r0 + nr; r++)
            for (int c = c0; c < c0 + nc; c++) {
                long i = (long)r * cols + c;
                clipped += tr->fake_ref(&out[i], io && io->codes ? &io->codes[i] : NULL,
                                        &group[n++], 1, &b.grids[g]);
            }
    }
    free(group);
    finish(out, rows, cols, sp, io, rep, b.grids, b.ranges, N, clipped, 0);
    scratch_free(&s);
    buffers_free(&b);
    return QS_OK;
}
