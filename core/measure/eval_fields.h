/* The numbers of one quantized evaluation (eval.h), named once for every way out of qscope:
 * the JSON of `qscope eval --json`, the table m:eval returns in Lua, and the columns of the
 * HDF5 table ppl/<name> (restables.h). A researcher who reads `ppl_q_stderr` in one finds
 * the same name, meaning and value in the others. In order:
 *
 *   tokens, windows, ppl_q, ppl_q_stderr, ppl_base, ppl_base_stderr, ppl_ratio,
 *   ppl_ratio_stderr, ln_ppl_ratio, ln_ppl_ratio_stderr, nll_q, nll_base, kld_mean,
 *   kld_stderr, dp_mean, dp_stderr, dp_rms, dp_rms_stderr, top1_agree, top1_agree_stderr,
 *   top5_overlap, top5_overlap_stderr, w_bits_per_value, a_bits_per_value, a_clipped,
 *   kv_bits_per_value, kv_clipped, seconds,
 *   kld_<p> for p in max, p99.9, p99, p95, p90, median, p10, p5, p1, p0.1, min,
 *   dp_<p> for the same p,
 *   remedy_alpha, a_wide_cols_frac, a_wide_values_frac
 *
 * _q is the quantized model, _base the full-precision one; _stderr a standard error;
 * dp = p_q(correct) − p_base(correct); w_bits_per_value (kv_bits_per_value) is 16 when the
 * weights (the KV cache) stay unquantized.
 * The remedies' (remedy_words.h): remedy_alpha is the SmoothQuant or AWQ exponent used, given
 * or chosen by the search (NaN with neither); a_wide_cols_frac and a_wide_values_frac the
 * fractions of activation columns and values that decomposition kept in full precision. */
#ifndef QS_EVAL_FIELDS_H
#define QS_EVAL_FIELDS_H

#include <stddef.h>

#include "eval.h"
#include "fields.h"

#define QS_EVAL_NFIXED  28 /* the fields before the percentiles */
#define QS_EVAL_NREMEDY 3  /* the remedies' fields, after the percentiles */
#define QS_EVAL_NFIELDS (QS_EVAL_NFIXED + 2 * QS_KLD_NPCT + QS_EVAL_NREMEDY)

/* Fills f with r's QS_EVAL_NFIELDS fields in the order above (r may be NULL: names and
 * kinds only, values 0); counts are QS_FIELD_INT, the rest QS_FIELD_NUM. */
void qs_eval_fields(const qs_eval_result *r, qs_field f[QS_EVAL_NFIELDS]);

#endif
