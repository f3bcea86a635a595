/* The one list of an evaluation's numbers (eval_fields.h): names unique and as documented,
 * percentile names spelled from qs_kld_pct_names, every field read from the right member
 * (each member gets a distinct value and must come out under its own name). */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "eval_fields.h"

static const qs_eval_field *find(const qs_eval_field *f, const char *name) {
    for (int i = 0; i < QS_EVAL_NFIELDS; i++)
        if (strcmp(f[i].name, name) == 0) return &f[i];
    return NULL;
}

static void expect(const qs_eval_field *f, const char *name, double v, int integer) {
    const qs_eval_field *x = find(f, name);
    CHECK_MSG(x && x->value == v && x->integer == integer, "%s: %g (integer %d), expected %g (%d)", name,
              x ? x->value : -1, x ? x->integer : -1, v, integer);
}

int main(void) {
    qs_eval_field f[QS_EVAL_NFIELDS];
    qs_eval_fields(NULL, f);
    for (int i = 0; i < QS_EVAL_NFIELDS; i++) {
        CHECK_MSG(f[i].name && f[i].name[0], "field %d named", i);
        if (strcmp(f[i].name, "w_bits_per_value") != 0)
            CHECK_MSG(f[i].value == 0, "%s is 0 without a result", f[i].name);
        for (int j = 0; j < i; j++) CHECK_MSG(strcmp(f[i].name, f[j].name) != 0, "%s twice", f[i].name);
    }
    CHECK(strcmp(f[QS_EVAL_NFIXED - 1].name, "seconds") == 0);
    for (int i = 0; i < QS_KLD_NPCT; i++) {
        char want[32];
        snprintf(want, sizeof want, "kld_%s", qs_kld_pct_names[i]);
        CHECK_MSG(strcmp(f[QS_EVAL_NFIXED + i].name, want) == 0, "%s vs %s", f[QS_EVAL_NFIXED + i].name, want);
        snprintf(want, sizeof want, "dp_%s", qs_kld_pct_names[i]);
        CHECK_MSG(strcmp(f[QS_EVAL_NFIXED + QS_KLD_NPCT + i].name, want) == 0, "%s vs %s", f[QS_EVAL_NFIXED + QS_KLD_NPCT + i].name, want);
    }

    qs_eval_result r;
    memset(&r, 0, sizeof r);
    qs_kld_report *k = &r.kld;
    k->n = 1000, r.n_windows = 7;
    k->ppl_q = 1, k->ppl_q_se = 2, k->ppl_base = 3, k->ppl_base_se = 4, k->ppl_ratio = 5;
    k->ppl_ratio_se = 6, k->ln_ratio = 7, k->ln_ratio_se = 8, k->nll_q = 9, k->nll_base = 10;
    k->kld_mean = 11, k->kld_se = 12, k->dp_mean = 13, k->dp_se = 14, k->dp_rms = 15;
    k->dp_rms_se = 16, k->top1 = 17, k->top1_se = 18, k->top5 = 19, k->top5_se = 20;
    r.a_bits_per_value = 21, r.a_clipped = 22, r.seconds = 23;
    for (int i = 0; i < QS_KLD_NPCT; i++) k->kld_pct[i] = 100 + i, k->dp_pct[i] = 200 + i;
    qs_eval_fields(&r, f);
    expect(f, "tokens", 1000, 1);
    expect(f, "windows", 7, 1);
    const char *num[] = {"ppl_q", "ppl_q_stderr", "ppl_base", "ppl_base_stderr", "ppl_ratio",
                         "ppl_ratio_stderr", "ln_ppl_ratio", "ln_ppl_ratio_stderr", "nll_q", "nll_base",
                         "kld_mean", "kld_stderr", "dp_mean", "dp_stderr", "dp_rms", "dp_rms_stderr",
                         "top1_agree", "top1_agree_stderr", "top5_overlap", "top5_overlap_stderr"};
    for (int i = 0; i < (int)(sizeof num / sizeof *num); i++) expect(f, num[i], i + 1, 0);
    expect(f, "w_bits_per_value", 16, 0);   /* no weight tensor quantized */
    expect(f, "a_bits_per_value", 21, 0);
    expect(f, "a_clipped", 22, 1);
    expect(f, "seconds", 23, 0);
    expect(f, "kld_p99.9", 101, 0);
    expect(f, "dp_min", 210, 0);
    r.w.n_tensors = 3, r.w.bits_per_value = 4.5;
    qs_eval_fields(&r, f);
    expect(f, "w_bits_per_value", 4.5, 0);
    return check_summary("test_eval_fields");
}
