/* One list of an evaluation's numbers, so that JSON, Lua and HDF5 cannot drift apart. */
#include "eval_fields.h"

#include <math.h>

/* "kld_" / "dp_" + qs_kld_pct_names[i], spelled out so the names are static strings;
 * test_fields checks them against qs_kld_pct_names. */
static const char *const kld_pct_fields[] = {"kld_max", "kld_p99.9",  "kld_p99", "kld_p95",
                                             "kld_p90", "kld_median", "kld_p10", "kld_p5",
                                             "kld_p1",  "kld_p0.1",   "kld_min"};
static const char *const dp_pct_fields[] = {"dp_max", "dp_p99.9",  "dp_p99", "dp_p95",
                                            "dp_p90", "dp_median", "dp_p10", "dp_p5",
                                            "dp_p1",  "dp_p0.1",   "dp_min"};
_Static_assert(sizeof kld_pct_fields / sizeof *kld_pct_fields == QS_KLD_NPCT, "one name per level");
_Static_assert(sizeof dp_pct_fields / sizeof *dp_pct_fields == QS_KLD_NPCT, "one name per level");

void qs_eval_fields(const qs_eval_result *r, qs_field f[QS_EVAL_NFIELDS]) {
    static const qs_eval_result none;
    if (!r) r = &none;
    const qs_kld_report *k = &r->kld;
    size_t n = 0;
#define NUM(name, v) f[n++] = QS_FNUM(name, v)
#define INT(name, v) f[n++] = QS_FINT(name, v)
    INT("tokens", k->n);
    INT("windows", r->n_windows);
    NUM("ppl_q", k->ppl_q);
    NUM("ppl_q_stderr", k->ppl_q_se);
    NUM("ppl_base", k->ppl_base);
    NUM("ppl_base_stderr", k->ppl_base_se);
    NUM("ppl_ratio", k->ppl_ratio);
    NUM("ppl_ratio_stderr", k->ppl_ratio_se);
    NUM("ln_ppl_ratio", k->ln_ratio);
    NUM("ln_ppl_ratio_stderr", k->ln_ratio_se);
    NUM("nll_q", k->nll_q);
    NUM("nll_base", k->nll_base);
    NUM("kld_mean", k->kld_mean);
    NUM("kld_stderr", k->kld_se);
    NUM("dp_mean", k->dp_mean);
    NUM("dp_stderr", k->dp_se);
    NUM("dp_rms", k->dp_rms);
    NUM("dp_rms_stderr", k->dp_rms_se);
    NUM("top1_agree", k->top1);
    NUM("top1_agree_stderr", k->top1_se);
    NUM("top5_overlap", k->top5);
    NUM("top5_overlap_stderr", k->top5_se);
    NUM("w_bits_per_value", r->w.n_tensors ? r->w.bits_per_value : 16.0);
    NUM("a_bits_per_value", r->a_bits_per_value);
    INT("a_clipped", r->a_clipped);
    NUM("kv_bits_per_value", r->kv_bits_per_value);
    INT("kv_clipped", r->kv_clipped);
    NUM("seconds", r->seconds);
    for (int i = 0; i < QS_KLD_NPCT; i++) NUM(kld_pct_fields[i], k->kld_pct[i]);
    for (int i = 0; i < QS_KLD_NPCT; i++) NUM(dp_pct_fields[i], k->dp_pct[i]);
    NUM("remedy_alpha", r->has_alpha ? r->remedy_alpha : NAN);
    NUM("a_wide_cols_frac", r->a_wide_cols_frac);
    NUM("a_wide_values_frac", r->a_wide_values_frac);
#undef NUM
#undef INT
}
