/* KLD statistics on hand-computed cases: identical logits give zero KLD and ratio 1; a
 * two-token vocabulary gives the closed form; top-1/top-5 agreement counts. */
#include <math.h>

#include "check.h"
#include "kld.h"

/* Named tolerances */
#define MAX_IDENTICAL_ERROR   1e-15 /* identical logits: only the last bit may differ */
#define MAX_CLOSED_FORM_ERROR 1e-7  /* float32 logits vs the closed form in double */
#define MAX_ROUNDING_ERROR    1e-12 /* the same quantity computed two ways in double */

int main(void) {
    qs_kld_acc a;
    qs_kld_init(&a);
    float x[6] = {1, 2, 3, 4, 5, 6};
    for (int i = 0; i < 10; i++) CHECK(qs_kld_add(&a, x, x, 6, i % 6) == 0);
    qs_kld_report r;
    CHECK(qs_kld_report_compute(&r, &a) == 0);
    CHECK_NEAR(r.kld_mean, 0, MAX_IDENTICAL_ERROR);
    CHECK_NEAR(r.ppl_ratio, 1, MAX_IDENTICAL_ERROR);
    CHECK_NEAR(r.top1, 1, 0);
    CHECK_NEAR(r.top5, 1, 0);
    CHECK_NEAR(r.dp_rms, 0, MAX_IDENTICAL_ERROR);
    qs_kld_free(&a);

    /* V = 2: p = softmax(0, 0) = (1/2, 1/2); q = softmax(0, ln 3) = (1/4, 3/4)
     * KL(p||q) = 1/2 ln(2) + 1/2 ln(2/3) ; target 0: dp = 1/4 − 1/2 */
    qs_kld_init(&a);
    float p[2] = {0, 0}, q[2] = {0, (float)log(3.0)};
    CHECK(qs_kld_add(&a, p, q, 2, 0) == 0);
    CHECK(qs_kld_add(&a, p, q, 2, 0) == 0);
    CHECK(qs_kld_report_compute(&r, &a) == 0);
    CHECK_NEAR(r.kld_mean, 0.5 * log(2.0) + 0.5 * log(2.0 / 3.0), MAX_CLOSED_FORM_ERROR);
    CHECK_NEAR(r.dp_mean, -0.25, MAX_CLOSED_FORM_ERROR);
    CHECK_NEAR(r.ln_ratio, log(4.0) - log(2.0),
               MAX_CLOSED_FORM_ERROR);                           /* nll_q = ln 4, nll_base = ln 2 */
    CHECK_NEAR(r.kld_pct[0], r.kld_pct[10], MAX_ROUNDING_ERROR); /* max == min */
    CHECK_NEAR(r.top1, 0, 0); /* base argmax 0 (tie → first), quant argmax 1 */
    qs_kld_free(&a);

    /* top-5 overlap: swap the 5th and 6th largest → 4 of 5 shared */
    qs_kld_init(&a);
    float b[8] = {8, 7, 6, 5, 4, 3, 2, 1}, c[8] = {8, 7, 6, 5, 3, 4, 2, 1};
    CHECK(qs_kld_add(&a, b, c, 8, 0) == 0);
    CHECK(qs_kld_report_compute(&r, &a) == 0);
    CHECK_NEAR(r.top5, 0.8, MAX_ROUNDING_ERROR);
    CHECK_NEAR(r.top1, 1, 0);
    float nan_row[2] = {NAN, 0};
    CHECK(qs_kld_add(&a, nan_row, p, 2, 0) != 0);
    CHECK(qs_kld_add(&a, p, p, 2, 5) != 0);
    qs_kld_free(&a);
    return check_summary("test_kld");
}
