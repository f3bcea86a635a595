/* GPTQ on one matrix (gptq.h). The grids come from qs_quant_fake run on the values a grid
 * is defined by, so clipping, fp16 scale rounding and zero-points are exactly those of
 * round-to-nearest; what GPTQ changes is only which values reach the grid. */
#include "gptq.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "quant_internal.h"

/* LAPACK (OpenBLAS exports it); the trailing size_t is Fortran's hidden string length */
extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info, size_t);
extern void dpotri_(const char *uplo, const int *n, double *a, const int *lda, int *info, size_t);

int qs_hessian_init(qs_hessian *hs, int C) {
    memset(hs, 0, sizeof *hs);
    if (C < 1 || C > 65536) return qs_error_set(QS_ERR_ARG, "hessian: %d inputs (1..65536)", C);
    hs->h = calloc((size_t)C * C, sizeof *hs->h);
    if (!hs->h) return qs_error_set(QS_ERR_NOMEM, "hessian: out of memory for %d x %d", C, C);
    hs->C = C;
    return QS_OK;
}

int qs_hessian_add(qs_hessian *hs, const float *x, int T) {
    int C = hs->C;
    if (T < 1) return QS_OK;
    for (long i = 0; i < (long)T * C; i++)
        if (!isfinite(x[i]))
            return qs_error_set(QS_ERR_NUMERIC,
                                "hessian: %s at row %ld, col %ld of a (%d, %d) input",
                                isnan(x[i]) ? "NaN" : "Inf", i / C, i % C, T, C);
    /* in chunks of rows, widened to double for dsyrk */
    enum { CHUNK = 256 };
    double *xd = malloc((size_t)CHUNK * C * sizeof *xd); /* (CHUNK, C) */
    if (!xd) return qs_error_set(QS_ERR_NOMEM, "hessian: out of memory");
    for (int t0 = 0; t0 < T; t0 += CHUNK) {
        int nt = T - t0 < CHUNK ? T - t0 : CHUNK;
        for (long i = 0; i < (long)nt * C; i++) xd[i] = x[(long)t0 * C + i];
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, C, nt, 1.0, xd, C, 1.0, hs->h, C);
    }
    free(xd);
    for (int i = 0; i < C; i++) /* mirror the upper triangle */
        for (int j = 0; j < i; j++) hs->h[(long)i * C + j] = hs->h[(long)j * C + i];
    hs->n += T;
    return QS_OK;
}

void qs_hessian_free(qs_hessian *hs) {
    free(hs->h);
    memset(hs, 0, sizeof *hs);
}

void qs_gptq_opts_default(qs_gptq_opts *o) {
    memset(o, 0, sizeof *o);
    o->damp = 0.01;
    o->block = 128;
}

/* Σ_r d_r · H · d_rᵀ for d (R, C) double, H (C, C): one product, then a row-wise dot */
static int quad_err(double *out, const double *d, int R, int C, const double *H) {
    double *dh = malloc((size_t)R * C * sizeof *dh); /* (R, C) */
    if (!dh) return qs_error_set(QS_ERR_NOMEM, "gptq: out of memory for the error");
    cblas_dsymm(CblasRowMajor, CblasRight, CblasUpper, R, C, 1.0, H, C, d, C, 0.0, dh, C);
    double s = 0.0;
    for (long i = 0; i < (long)R * C; i++) s += d[i] * dh[i];
    free(dh);
    *out = s;
    return QS_OK;
}

/* The grids of rows x (R, n) per the spec with granularity gran (row: one per row, tensor:
 * one, group: R·ceil(n/G)), by qs_quant_fake's own clipping. ranges: (N, 2) scratch.
 * amax: the whole weight's absmax (two-level formats scale by it). */
static int find_grids(qs_quant_grid *grids, float *ranges, const float *x, int R, int n,
                      const qs_quant_spec *sp, int gran, float *scratch, float amax) {
    qs_quant_spec s = *sp;
    s.gran = gran;
    qs_quant_io io = {0};
    io.ranges = ranges;
    int rc = qs_quant_fake(scratch, x, R, n, &s, &io, NULL);
    if (rc) return rc;
    const qs_quant_traits *tr = qs_quant_traits_of(sp->scheme);
    long N = qs_quant_n_scales(&s, R, n);
    for (long g = 0; g < N; g++)
        tr->grid(&grids[g], ranges[2 * g], ranges[2 * g + 1], sp->bits, sp->fp32_scales, amax);
    return QS_OK;
}

static int check(int R, int C, const qs_hessian *hs, const qs_quant_spec *sp, const qs_gptq_opts *o,
                 const qs_quant_io *io) {
    int rc = qs_quant_spec_validate(sp);
    if (rc) return qs_error_prefix(rc, "gptq");
    if (sp->bits == QS_QUANT_BITS_NONE)
        return qs_error_set(QS_ERR_ARG, "gptq: bits 16 quantizes nothing");
    if (sp->gran == QS_QUANT_COL)
        return qs_error_set(QS_ERR_ARG, "gptq: per-column weight scales are not supported");
    if (R < 1 || C < 1 || (long)R * C > (1L << 31))
        return qs_error_set(QS_ERR_ARG, "gptq: matrix (%d, %d)", R, C);
    if (!hs || !hs->h || hs->C != C || hs->n < 1)
        return qs_error_set(QS_ERR_ARG,
                            "gptq: the Hessian has %d inputs and %ld tokens, the "
                            "matrix %d inputs",
                            hs ? hs->C : 0, hs ? hs->n : 0, C);
    if (!(o->damp >= 0.0 && o->damp < 1e6) || o->block < 1)
        return qs_error_set(QS_ERR_ARG, "gptq: damp %g (>= 0) and block %d (>= 1)", o->damp,
                            o->block);
    if (io && io->ranges_in) return qs_error_set(QS_ERR_ARG, "gptq: ranges_in is not supported");
    return QS_OK;
}

/* Decreasing diag, ties by index (a stable order). */
typedef struct diag_ix {
    double d;
    int i;
} diag_ix;
static int by_diag_desc(const void *a, const void *b) {
    const diag_ix *x = a, *y = b;
    if (x->d != y->d) return x->d > y->d ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

int qs_gptq_quantize(float *w, int R, int C, const qs_hessian *hs, const qs_quant_spec *sp,
                     const qs_gptq_opts *o, const qs_quant_io *io, qs_gptq_report *rep) {
    qs_gptq_opts def;
    if (!o) qs_gptq_opts_default(&def), o = &def;
    int rc = check(R, C, hs, sp, o, io);
    if (rc) return rc;
    for (long i = 0; i < (long)R * C; i++)
        if (!isfinite(w[i]))
            return qs_error_set(QS_ERR_NUMERIC, "gptq: %s at row %ld, col %ld of a (%d, %d) weight",
                                isnan(w[i]) ? "NaN" : "Inf", i / C, i % C, R, C);
    const qs_quant_traits *tr = qs_quant_traits_of(sp->scheme);
    const int grouped = sp->gran == QS_QUANT_GROUP, G = grouped ? sp->group : C;
    const int ngc = (C + G - 1) / G; /* groups per row */
    const long N = qs_quant_n_scales(sp, R, C);
    size_t RC = (size_t)R * C, CC = (size_t)C * C;
    double *U = malloc(CC * sizeof *U);   /* (C, C): H, then chol((H + λI)⁻¹) */
    double *wp = malloc(RC * sizeof *wp); /* (R, C): working weights, permuted order */
    int bw = o->block < C ? o->block : C;
    double *errb = malloc((size_t)R * bw * sizeof *errb); /* (R, B) scaled errors of a block */
    float *qv = malloc(RC * sizeof *qv);         /* (R, C): quantized values, original order */
    int16_t *codes = malloc(RC * sizeof *codes); /* (R, C) */
    float *fbuf = malloc(2 * RC * sizeof *fbuf); /* (R, C) ×2: grid inputs and fake output */
    int *perm = malloc((size_t)C * sizeof *perm);
    char *dead = calloc((size_t)C, 1);
    qs_quant_grid *grids = malloc((size_t)N * sizeof *grids);
    float *ranges = malloc((size_t)(N > R ? N : R) * 2 * sizeof *ranges);
    if (!U || !wp || !errb || !qv || !codes || !fbuf || !perm || !dead || !grids || !ranges) {
        rc = qs_error_set(QS_ERR_NOMEM, "gptq: out of memory for a (%d, %d) weight", R, C);
        goto done;
    }
    memcpy(U, hs->h, CC * sizeof *U);
    int n_dead = 0;
    for (int i = 0; i < C; i++)
        if (U[(long)i * C + i] == 0.0) dead[i] = 1, n_dead++, U[(long)i * C + i] = 1.0;
    /* the weights GPTQ starts from: dead inputs zeroed */
    float *w0 = fbuf; /* (R, C) */
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) w0[(long)r * C + c] = dead[c] ? 0.0f : w[(long)r * C + c];
    float amax = 0.0f;
    for (long i = 0; i < (long)RC; i++) amax = fabsf(w0[i]) > amax ? fabsf(w0[i]) : amax;
    for (int i = 0; i < C; i++) perm[i] = i;
    if (o->act_order) {
        diag_ix *dx = malloc((size_t)C * sizeof *dx);
        if (!dx) {
            rc = qs_error_set(QS_ERR_NOMEM, "gptq: out of memory");
            goto done;
        }
        for (int i = 0; i < C; i++) dx[i] = (diag_ix){U[(long)i * C + i], i};
        qsort(dx, (size_t)C, sizeof *dx, by_diag_desc);
        for (int i = 0; i < C; i++) perm[i] = dx[i].i;
        free(dx);
        double *hp = malloc(CC * sizeof *hp);
        if (!hp) {
            rc = qs_error_set(QS_ERR_NOMEM, "gptq: out of memory");
            goto done;
        }
        for (int i = 0; i < C; i++)
            for (int j = 0; j < C; j++) hp[(long)i * C + j] = U[(long)perm[i] * C + perm[j]];
        memcpy(U, hp, CC * sizeof *U);
        free(hp);
    }
    /* grids known before the pass: tensor, row, static groups (act-order) */
    if (!grouped || o->act_order) {
        rc = find_grids(grids, ranges, w0, R, C, sp, sp->gran, fbuf + RC, amax);
        if (rc) goto done;
    }
    for (int r = 0; r < R; r++)
        for (int i = 0; i < C; i++) wp[(long)r * C + i] = w0[(long)r * C + perm[i]];
    double mean_diag = 0.0;
    for (int i = 0; i < C; i++) mean_diag += U[(long)i * C + i];
    mean_diag /= C;
    double lambda = o->damp * mean_diag;
    for (int i = 0; i < C; i++) U[(long)i * C + i] += lambda;
    /* U: upper Cholesky factor of (H + λI)⁻¹. In LAPACK's column-major view the row-major
     * array is its transpose; 'L' three times leaves U in the row-major upper triangle. */
    int n = C, info = 0;
    dpotrf_("L", &n, U, &n, &info, 1);
    if (info == 0) dpotri_("L", &n, U, &n, &info, 1);
    if (info == 0) dpotrf_("L", &n, U, &n, &info, 1);
    if (info != 0) {
        rc = qs_error_set(QS_ERR_NUMERIC,
                          "gptq: the dampened Hessian (%d inputs, damp %g) is not positive "
                          "definite (LAPACK info %d); use a larger damp",
                          C, o->damp, info);
        goto done;
    }
    long clipped = 0;
    for (int i1 = 0; i1 < C;) {
        int i2 = i1 + bw < C ? i1 + bw : C;
        if (grouped && !o->act_order) {
            int next = (i1 / G + 1) * G; /* blocks never straddle a group's first column */
            if (next < i2) i2 = next;
            if (i1 % G == 0) { /* this group's grids, from its updated weights */
                int gl = C - i1 < G ? C - i1 : G;
                float *gx = fbuf; /* (R, gl) */
                for (int r = 0; r < R; r++)
                    for (int c = 0; c < gl; c++)
                        gx[(long)r * gl + c] = (float)wp[(long)r * C + i1 + c];
                qs_quant_grid *gg = malloc((size_t)R * sizeof *gg);
                if (!gg) {
                    rc = qs_error_set(QS_ERR_NOMEM, "gptq: out of memory");
                    goto done;
                }
                rc = find_grids(gg, ranges, gx, R, gl, sp, QS_QUANT_ROW, fbuf + RC, amax);
                for (int r = 0; r < R && rc == QS_OK; r++) grids[(long)r * ngc + i1 / G] = gg[r];
                free(gg);
                if (rc) goto done;
            }
        }
        int b = i2 - i1;
#pragma omp parallel for reduction(+ : clipped) schedule(static) if ((long)R * b * b > 32768)
        for (int r = 0; r < R; r++) {
            double *wr = wp + (long)r * C;
            double *er = errb + (long)r * b;
            for (int i = i1; i < i2; i++) {
                int c = perm[i];
                long gi = sp->gran == QS_QUANT_TENSOR ? 0 : grouped ? (long)r * ngc + c / G : r;
                float x = (float)wr[i], y;
                int16_t q;
                clipped += tr->fake_ref(&y, &q, &x, 1, &grids[gi]);
                qv[(long)r * C + c] = y;
                codes[(long)r * C + c] = q;
                const double *ui = U + (long)i * C;
                double e = (wr[i] - (double)y) / ui[i];
                for (int j = i + 1; j < i2; j++) wr[j] -= e * ui[j];
                er[i - i1] = e;
            }
        }
        if (i2 < C) /* W[:, i2:] −= Err (R, b) · U[i1:i2, i2:] (b, C − i2) */
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, C - i2, b, -1.0, errb, b,
                        U + (long)i1 * C + i2, C, 1.0, wp + i2, C);
        i1 = i2;
    }
    /* the report, against the undamped Hessian and the original weights */
    qs_gptq_report local;
    if (!rep) rep = &local;
    memset(rep, 0, sizeof *rep);
    double *d = wp; /* reused: (R, C) differences, original order */
    for (long i = 0; i < (long)RC; i++) d[i] = (double)w[i] - qv[i];
    double nt = (double)hs->n;
    if ((rc = quad_err(&rep->err, d, R, C, hs->h))) goto done;
    rep->err /= nt;
    for (long i = 0; i < (long)RC; i++) d[i] = w[i];
    if ((rc = quad_err(&rep->ref_energy, d, R, C, hs->h))) goto done;
    rep->ref_energy /= nt;
    if (o->compare) {
        float *rtn = fbuf; /* (R, C) */
        if ((rc = qs_quant_fake(rtn, w, R, C, sp, NULL, NULL))) goto done;
        for (long i = 0; i < (long)RC; i++) d[i] = (double)w[i] - rtn[i];
        if ((rc = quad_err(&rep->err_rtn, d, R, C, hs->h))) goto done;
        rep->err_rtn /= nt;
    }
    rep->n_dead = n_dead;
    rep->damp_lambda = lambda;
    rep->n_clipped = clipped;
    rep->bits_per_value = qs_quant_bits_per_value(sp, R, C);
    memcpy(w, qv, RC * sizeof *w);
    if (io && io->codes) memcpy(io->codes, codes, RC * sizeof *codes);
    if (io && io->scales)
        for (long g = 0; g < N; g++) io->scales[g] = grids[g].scale;
    if (io && io->zeros)
        for (long g = 0; g < N; g++) io->zeros[g] = grids[g].zero;
done:
    free(U), free(wp), free(errb), free(qv), free(codes), free(fbuf), free(perm), free(dead);
    free(grids), free(ranges);
    return rc;
}
