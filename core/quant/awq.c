/* AWQ scales and their search (awq.h). */
#include "awq.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

int qs_awq_scales(float *s, const float *act_mean_abs, int C, double alpha) {
    if (C < 1) return qs_error_set(QS_ERR_ARG, "awq: %d channels", C);
    if (!(alpha >= 0.0 && alpha <= 1.0))
        return qs_error_set(QS_ERR_ARG, "awq: alpha %g outside [0, 1]", alpha);
    double lo = INFINITY, hi = 0.0;
    double *v = malloc((size_t)C * sizeof *v);
    if (!v) return qs_error_set(QS_ERR_NOMEM, "awq: out of memory");
    for (int j = 0; j < C; j++) {
        double a = act_mean_abs[j];
        if (!(isfinite(a) && a >= 0.0)) {
            free(v);
            return qs_error_set(QS_ERR_NUMERIC, "awq: channel %d has mean |x| %g", j, a);
        }
        double x = pow(a, alpha);
        v[j] = x < 1e-4 ? 1e-4 : x;
        lo = v[j] < lo ? v[j] : lo;
        hi = v[j] > hi ? v[j] : hi;
    }
    double norm = sqrt(hi * lo);
    for (int j = 0; j < C; j++) s[j] = (float)(v[j] / norm);
    free(v);
    return QS_OK;
}

static int check(const qs_awq_input *in, const qs_quant_spec *sp, int n_grid) {
    int rc = qs_quant_spec_validate(sp);
    if (rc) return qs_error_prefix(rc, "awq");
    if (sp->bits == QS_QUANT_BITS_NONE)
        return qs_error_set(QS_ERR_ARG, "awq: the weights are not quantized (16 bits)");
    if (n_grid < 1 || n_grid > 1000) return qs_error_set(QS_ERR_ARG, "awq: grid of %d", n_grid);
    if (!in->x || in->T < 1 || in->C < 1 || in->n_w < 1 || in->n_w > 4)
        return qs_error_set(QS_ERR_ARG, "awq: input (%d, %d) with %d weights", in->T, in->C,
                            in->n_w);
    for (int i = 0; i < in->n_w; i++)
        if (!in->w[i] || in->rows[i] < 1)
            return qs_error_set(QS_ERR_ARG, "awq: weight %d has %d rows", i, in->rows[i]);
    for (long i = 0; i < (long)in->T * in->C; i++)
        if (!isfinite(in->x[i]))
            return qs_error_set(QS_ERR_NUMERIC,
                                "awq: %s in the activations at token %ld, channel %ld",
                                isnan(in->x[i]) ? "NaN" : "Inf", i / in->C, i % in->C);
    return QS_OK;
}

int qs_awq_search(float *s_out, double *alpha_out, double *losses, const qs_awq_input *in,
                  const qs_quant_spec *sp, int n_grid) {
    int rc = check(in, sp, n_grid);
    if (rc) return rc;
    int T = in->T, C = in->C, maxr = 0;
    long sum_rows = 0;
    for (int i = 0; i < in->n_w; i++) {
        sum_rows += in->rows[i];
        maxr = in->rows[i] > maxr ? in->rows[i] : maxr;
    }
    float *y0 = malloc((size_t)T * sum_rows * sizeof *y0); /* (T, Σrows) reference outputs */
    float *y = malloc((size_t)T * maxr * sizeof *y);       /* (T, R) one weight's output */
    float *wq = malloc((size_t)maxr * C * sizeof *wq);     /* (R, C) scaled, quantized */
    float *s = malloc((size_t)C * sizeof *s), *mean = malloc((size_t)C * sizeof *mean);
    if (!y0 || !y || !wq || !s || !mean) {
        rc = qs_error_set(QS_ERR_NOMEM, "awq: out of memory (%d tokens, %ld rows)", T, sum_rows);
        goto done;
    }
    if (in->mean_abs)
        memcpy(mean, in->mean_abs, (size_t)C * sizeof *mean);
    else {
        for (int j = 0; j < C; j++) {
            double a = 0;
            for (int t = 0; t < T; t++) a += fabs(in->x[(long)t * C + j]);
            mean[j] = (float)(a / T);
        }
    }
    long off = 0;
    for (int i = 0; i < in->n_w; i++) { /* Y0 = X · Wᵀ */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, in->rows[i], C, 1.0f, in->x, C,
                    in->w[i], C, 0.0f, y0 + off, (int)sum_rows);
        off += in->rows[i];
    }
    double best = INFINITY;
    for (int k = 0; k < n_grid; k++) {
        double alpha = (double)k / n_grid;
        if ((rc = qs_awq_scales(s, mean, C, alpha))) goto done;
        double loss = 0.0;
        off = 0;
        for (int i = 0; i < in->n_w && rc == QS_OK; i++) {
            int R = in->rows[i];
            for (int r = 0; r < R; r++) /* W·diag(s) */
                for (int j = 0; j < C; j++) wq[(long)r * C + j] = in->w[i][(long)r * C + j] * s[j];
            if ((rc = qs_quant_fake(wq, wq, R, C, sp, NULL, NULL))) goto done;
            for (int r = 0; r < R; r++) /* Q(W·diag(s))·diag(1/s): the same as scaling X */
                for (int j = 0; j < C; j++) wq[(long)r * C + j] /= s[j];
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, R, C, 1.0f, in->x, C, wq, C,
                        0.0f, y, R);
            for (int t = 0; t < T; t++)
                for (int r = 0; r < R; r++) {
                    double e = (double)y[(long)t * R + r] - y0[(long)t * sum_rows + off + r];
                    loss += e * e;
                }
            off += R;
        }
        loss /= T;
        if (losses) losses[k] = loss;
        if (loss < best) {
            best = loss;
            *alpha_out = alpha;
            memcpy(s_out, s, (size_t)C * sizeof *s);
        }
    }
    if (!isfinite(best)) rc = qs_error_set(QS_ERR_NUMERIC, "awq: no finite loss on the grid");
done:
    free(y0), free(y), free(wq), free(s), free(mean);
    return rc;
}
