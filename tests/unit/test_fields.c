/* The field lists of result rows (fields.h): an evaluation's numbers (eval_fields.h) and a
 * sweep row (sweep.h). Names unique and as documented, percentile names spelled from
 * qs_kld_pct_names, every field read from the right member (each member gets a distinct
 * value and must come out under its own name and kind). */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "eval_fields.h"
#include "sweep.h"

static int n_fields = QS_EVAL_NFIELDS;

static const qs_field *find(const qs_field *f, const char *name) {
    for (int i = 0; i < n_fields; i++)
        if (strcmp(f[i].name, name) == 0) return &f[i];
    return NULL;
}

static double value(const qs_field *x) { return x->kind == QS_FIELD_INT ? (double)x->i : x->num; }

static void expect(const qs_field *f, const char *name, double v, int integer) {
    const qs_field *x = find(f, name);
    int is_int = x && x->kind == QS_FIELD_INT;
    CHECK_MSG(x && x->kind != QS_FIELD_STR && value(x) == v && is_int == integer,
              "%s: %g (integer %d), expected %g (%d)", name, x ? value(x) : -1, is_int, v, integer);
}

static void expect_str(const qs_field *f, const char *name, const char *v, size_t width) {
    const qs_field *x = find(f, name);
    CHECK_MSG(x && x->kind == QS_FIELD_STR && strcmp(x->str ? x->str : "", v) == 0 &&
                  x->width == width,
              "%s: '%s' (width %zu), expected '%s' (%zu)", name, x && x->str ? x->str : "",
              x ? x->width : 0, v, width);
}

static void unique_names(const qs_field *f, int n) {
    for (int i = 0; i < n; i++) {
        CHECK_MSG(f[i].name && f[i].name[0], "field %d named", i);
        for (int j = 0; j < i; j++)
            CHECK_MSG(strcmp(f[i].name, f[j].name) != 0, "%s twice", f[i].name);
    }
}

/* sweep rows: every member under its name, strings with their column widths */
static void sweep_fields(void) {
    n_fields = QS_SWEEP_NFIELDS;
    qs_field f[QS_SWEEP_NFIELDS];
    qs_sweep_row_fields(NULL, f);
    unique_names(f, QS_SWEEP_NFIELDS);
    CHECK(strcmp(f[0].name, "target") == 0 && strcmp(f[QS_SWEEP_NFIELDS - 1].name, "error") == 0);
    qs_sweep_row r;
    memset(&r, 0, sizeof r);
    r.target = "weight";
    strcpy(r.tensor, "ffn_down");
    r.layer = 3, r.rows = 64, r.cols = 172, r.bits = 4, r.scheme = QS_QUANT_AFFINE;
    r.gran = QS_SWEEP_GROUP, r.group = 32, r.clip = QS_QUANT_PERCENTILE, r.clip_value = 99.5;
    r.err.mse = 0.25, r.err.sqnr_db = 17.5, r.err.max_abs_err = 0.75, r.bits_per_value = 4.5;
    r.n_clipped = 7, r.levels_mean = 11.5, r.levels_min = 9, r.levels_max = 15;
    strcpy(r.error, "none");
    qs_sweep_row_fields(&r, f);
    expect_str(f, "target", "weight", 16);
    expect_str(f, "tensor", "ffn_down", 32);
    expect(f, "layer", 3, 1);
    expect(f, "rows", 64, 1);
    expect(f, "cols", 172, 1);
    expect(f, "bits", 4, 1);
    expect_str(f, "scheme", qs_quant_scheme_name(QS_QUANT_AFFINE), 16);
    expect_str(f, "granularity", qs_sweep_gran_name(QS_SWEEP_GROUP), 16);
    expect(f, "group", 32, 1);
    expect_str(f, "clip", qs_quant_clip_name(QS_QUANT_PERCENTILE), 16);
    expect(f, "clip_value", 99.5, 0);
    expect(f, "mse", 0.25, 0);
    expect(f, "sqnr_db", 17.5, 0);
    expect(f, "max_err", 0.75, 0);
    expect(f, "bits_per_value", 4.5, 0);
    expect(f, "n_clipped", 7, 1);
    expect(f, "levels_mean", 11.5, 0);
    expect(f, "levels_min", 9, 1);
    expect(f, "levels_max", 15, 1);
    expect_str(f, "error", "none", 256);
}

int main(void) {
    qs_field f[QS_EVAL_NFIELDS];
    qs_eval_fields(NULL, f);
    unique_names(f, QS_EVAL_NFIELDS);
    for (int i = 0; i < QS_EVAL_NFIELDS; i++)
        if (strcmp(f[i].name, "w_bits_per_value") != 0 && strcmp(f[i].name, "remedy_alpha") != 0)
            CHECK_MSG(value(&f[i]) == 0, "%s is 0 without a result", f[i].name);
    CHECK(strcmp(f[QS_EVAL_NFIXED - 1].name, "seconds") == 0);
    CHECK(isnan(value(&f[QS_EVAL_NFIELDS - 3])) && strcmp(f[QS_EVAL_NFIELDS - 3].name, "remedy_alpha") == 0);
    for (int i = 0; i < QS_KLD_NPCT; i++) {
        char want[32];
        snprintf(want, sizeof want, "kld_%s", qs_kld_pct_names[i]);
        CHECK_MSG(strcmp(f[QS_EVAL_NFIXED + i].name, want) == 0, "%s vs %s",
                  f[QS_EVAL_NFIXED + i].name, want);
        snprintf(want, sizeof want, "dp_%s", qs_kld_pct_names[i]);
        CHECK_MSG(strcmp(f[QS_EVAL_NFIXED + QS_KLD_NPCT + i].name, want) == 0, "%s vs %s",
                  f[QS_EVAL_NFIXED + QS_KLD_NPCT + i].name, want);
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
    const char *num[] = {"ppl_q",      "ppl_q_stderr",      "ppl_base",     "ppl_base_stderr",
                         "ppl_ratio",  "ppl_ratio_stderr",  "ln_ppl_ratio", "ln_ppl_ratio_stderr",
                         "nll_q",      "nll_base",          "kld_mean",     "kld_stderr",
                         "dp_mean",    "dp_stderr",         "dp_rms",       "dp_rms_stderr",
                         "top1_agree", "top1_agree_stderr", "top5_overlap", "top5_overlap_stderr"};
    for (int i = 0; i < (int)(sizeof num / sizeof *num); i++) expect(f, num[i], i + 1, 0);
    expect(f, "w_bits_per_value", 16, 0); /* no weight tensor quantized */
    expect(f, "a_bits_per_value", 21, 0);
    expect(f, "a_clipped", 22, 1);
    expect(f, "seconds", 23, 0);
    expect(f, "kld_p99.9", 101, 0);
    expect(f, "dp_min", 210, 0);
    r.w.n_tensors = 3, r.w.bits_per_value = 4.5;
    qs_eval_fields(&r, f);
    expect(f, "w_bits_per_value", 4.5, 0);
    sweep_fields();
    return check_summary("test_fields");
}
