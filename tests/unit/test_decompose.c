/* Mixed-precision decomposition in the online activation quantizer (core/quant/act_quant.h,
 * LLM.int8()'s activation half): the columns holding any |x| >= the threshold pass through
 * exactly, the rest are quantized with ranges that no longer see them, and the hook counts
 * what took the wide path; a threshold above every value changes nothing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "act_quant.h"
#include "check.h"
#include "error.h"
#include "hadamard.h" /* qs_splitmix64 */

static uint64_t rng = 0xC0FFEEull;
static double gauss(void) {
    double u = (double)(qs_splitmix64(&rng) >> 11) * 0x1p-53;
    double v = (double)(qs_splitmix64(&rng) >> 11) * 0x1p-53;
    return sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
}

static qs_config config(void) {
    qs_config c;
    memset(&c, 0, sizeof c);
    c.dim = 64, c.hidden_dim = 172, c.n_layers = 2, c.n_heads = 8, c.n_kv_heads = 4;
    c.head_dim = 8;
    return c;
}

/* x (T, C): N(0, 1) with channels 5 and 40 carrying ±50 in a few tokens */
static float *make_x(int T, int C) {
    float *x = malloc((size_t)T * C * sizeof *x);
    for (long i = 0; i < (long)T * C; i++) x[i] = (float)gauss();
    for (int t = 0; t < T; t += 3) x[(long)t * C + 5] = 50.0f, x[(long)t * C + 40] = -47.0f;
    return x;
}

static double sse(const float *a, const float *b, long n) {
    double s = 0;
    for (long i = 0; i < n; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return s;
}

static void run(const char *name, double threshold, float *y, const float *x, int T, int C,
                qs_actq *st, qs_quant_config *qc) {
    qs_config c = config();
    CHECK(qs_quant_config_parse(qc, name) == 0);
    CHECK(qs_actq_init(st, &c, &qc->a, QS_SITE_ALL) == 0);
    CHECK(qs_actq_set_decompose(st, threshold) == 0);
    memcpy(y, x, (size_t)T * C * sizeof *y);
    qs_hook h = qs_actq_hook(st);
    CHECK(h.fn(h.user, QS_SITE_ATTN_IN, 0, y, T, C, 0) == 0);
}

int main(void) {
    int T = 32, C = 64;
    float *x = make_x(T, C);
    float *plain = malloc((size_t)T * C * sizeof *x), *dec = malloc((size_t)T * C * sizeof *x);
    float *same = malloc((size_t)T * C * sizeof *x);
    const char *names[] = {"W16A8 per-token", "W16A8 per-tensor", "W16A4 per-token affine"};
    for (int k = 0; k < 3; k++) {
        qs_actq a, b, c;
        qs_quant_config qa, qb, qcf;
        run(names[k], 0, plain, x, T, C, &a, &qa);
        run(names[k], 6.0, dec, x, T, C, &b, &qb);
        run(names[k], 1e9, same, x, T, C, &c, &qcf);
        int exact = 1;
        for (int t = 0; t < T; t++)
            exact &= dec[(long)t * C + 5] == x[(long)t * C + 5] &&
                     dec[(long)t * C + 40] == x[(long)t * C + 40];
        CHECK_MSG(exact, "%s: the wide columns are not passed through", names[k]);
        double e0 = sse(plain, x, (long)T * C), e1 = sse(dec, x, (long)T * C);
        printf("%s: error %.4g plain, %.4g decomposed at 6.0\n", names[k], e0, e1);
        CHECK_MSG(e1 < 0.25 * e0, "%s: decomposed %g vs plain %g", names[k], e1, e0);
        /* the rest is quantized as if the wide columns were 0 */
        float *z = malloc((size_t)T * C * sizeof *z);
        memcpy(z, x, (size_t)T * C * sizeof *z);
        for (int t = 0; t < T; t++) z[(long)t * C + 5] = z[(long)t * C + 40] = 0.0f;
        CHECK(qs_quant_fake(z, z, T, C, &qb.a.spec, NULL, NULL) == 0);
        int rest = 1;
        for (long i = 0; i < (long)T * C; i++)
            if (i % C != 5 && i % C != 40) rest &= z[i] == dec[i];
        CHECK_MSG(rest, "%s: the narrow columns differ from quantizing without the wide ones",
                  names[k]);
        CHECK(memcmp(same, plain, (size_t)T * C * sizeof *x) == 0);
        CHECK_NEAR(qs_actq_wide_cols_frac(&b), 2.0 / C, 1e-12);
        CHECK_NEAR(qs_actq_wide_values_frac(&b), 2.0 / C, 1e-12);
        CHECK(qs_actq_wide_cols_frac(&a) == 0 && qs_actq_wide_cols_frac(&c) == 0);
        double f = 2.0 / C;
        CHECK_NEAR(qs_actq_bits_per_value(&b), (1 - f) * qs_actq_bits_per_value(&a) + f * 16, 1e-9);
        free(z);
        qs_actq_free(&a), qs_actq_free(&b), qs_actq_free(&c);
    }
    qs_actq e;
    qs_config cfg = config();
    qs_quant_config qc;
    CHECK(qs_quant_config_parse(&qc, "W16A8") == 0 &&
          qs_actq_init(&e, &cfg, &qc.a, QS_SITE_ALL) == 0);
    CHECK(qs_actq_set_decompose(&e, -1) == QS_ERR_ARG &&
          qs_actq_set_decompose(&e, NAN) == QS_ERR_ARG);
    qs_actq_free(&e);
    free(x), free(plain), free(dec), free(same);
    return check_summary("test_decompose");
}
