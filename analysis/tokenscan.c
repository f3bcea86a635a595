#include "tokenscan.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "../core/error.h"
#include "finite.h"
#include "select.h"

static int validate(const qs_token_stat *out, const float *x, int T, int C) {
    if (!out || !x) return qs_error_set(QS_ERR_ARG, "tokenscan: NULL argument");
    if (T < 1 || C < 1)
        return qs_error_set(QS_ERR_ARG, "tokenscan: bad shape (T=%d, C=%d), need T, C >= 1", T, C);
    int64_t bad = qs__first_nonfinite(x, (int64_t)T * C);
    if (bad >= 0)
        return qs_error_set(QS_ERR_NUMERIC, "tokenscan: non-finite value %g at (t=%lld, c=%lld)",
                            (double)x[bad], (long long)(bad / C), (long long)(bad % C));
    return QS_OK;
}

/* absmax, argmax and signed value of one row; median filled by the caller */
static qs_token_stat row_max(const float *row, int C) {
    qs_token_stat s = {fabsf(row[0]), row[0], 0, 0.0};
    for (int c = 1; c < C; c++) {
        float a = fabsf(row[c]);
        if (a > s.absmax) {
            s.absmax = a;
            s.value = row[c];
            s.channel = c;
        }
    }
    return s;
}

int qs_tokenscan(qs_token_stat *out, const float *x, int T, int C) {
    int rc = validate(out, x, T, C);
    if (rc) return rc;
    int nt = omp_get_max_threads();
    float *scratch = malloc(sizeof(float) * (size_t)nt * (size_t)C); // (nt, C)
    if (!scratch) return qs_error_set(QS_ERR_NOMEM, "tokenscan: scratch of %d x %d floats", nt, C);
#pragma omp parallel num_threads(nt)
    {
        float *mine = scratch + (size_t)omp_get_thread_num() * (size_t)C;
#pragma omp for schedule(static)
        for (int t = 0; t < T; t++) {
            const float *row = x + (size_t)t * C;
            qs_token_stat s = row_max(row, C);
            s.median_abs = qs_select_median_abs(mine, row, C);
            out[t] = s;
        }
    }
    free(scratch);
    return QS_OK;
}

int qs_tokenscan_ref(qs_token_stat *out, const float *x, int T, int C) {
    int rc = validate(out, x, T, C);
    if (rc) return rc;
    float *scratch = malloc(sizeof(float) * (size_t)C); // (C)
    if (!scratch) return qs_error_set(QS_ERR_NOMEM, "tokenscan: scratch of %d floats", C);
    for (int t = 0; t < T; t++) {
        const float *row = x + (size_t)t * C;
        qs_token_stat s = row_max(row, C);
        s.median_abs = qs_select_median_abs_ref(scratch, row, C);
        out[t] = s;
    }
    free(scratch);
    return QS_OK;
}
