/* The result tables qscope appends to an HDF5 store (h5store.h). Their columns are the
 * rows' field lists (fields.h), the same lists that make the JSON of the commands and the
 * Lua tables, so every writer (commands, Lua) uses the same names:
 *
 *   sweeps/<name>  one row per (target, tensor or site, layer, configuration) of a
 *                  reconstruction sweep: the fields of qs_sweep_row_fields (sweep.h):
 *                  target, tensor, layer, rows, cols, bits, scheme, granularity, group,
 *                  clip, clip_value, mse, sqnr_db, max_err, bits_per_value, n_clipped,
 *                  levels_mean, levels_min, levels_max, error
 *   ppl/<name>     one row per evaluated configuration and scope (eval.h): w_config,
 *                  a_config, config, scope (all | site:<name> | layer:<n>), then every
 *                  number of the evaluation under the names of eval_fields.h (tokens,
 *                  windows, ppl_q, ppl_q_stderr, ppl_base, …, kld_<p>, dp_<p>) — the same
 *                  names `qscope eval --json` and m:eval use
 *
 *   speed          one row per (format, path, phase) of the speed bench (speed.h): format,
 *                  path, phase, tokens_per_s, weight_bytes_per_token, gbs,
 *                  bandwidth_fraction, gflops, peak_fraction, predicted_tokens_per_s; the
 *                  limits they are fractions of are attributes of the table (sgemm_gflops,
 *                  bandwidth_gbs, triad_gbs)
 *
 * w_config and a_config are the canonical names of each side alone ("W4A16 g128",
 * "W16A8 per-token"); config is the name of the whole. A string longer than its column is
 * cut (h5store.h). Each append flushes, so rows written before a crash stay readable. */
#ifndef QS_RESTABLES_H
#define QS_RESTABLES_H

#include "eval.h"
#include "eval_fields.h"
#include "h5store.h"
#include "speed.h"
#include "sweep.h"

/* Opens (creates) the table sweeps/<name> in h's run. */
int qs_restable_sweep_open(qs_h5_table **t, qs_h5 *h, const char *name);
int qs_restable_sweep_append(qs_h5_table *t, const qs_sweep_row *r);

/* Opens (creates) the table ppl/<name> in h's run. */
int qs_restable_ppl_open(qs_h5_table **t, qs_h5 *h, const char *name);
/* Appends the row of one evaluation of cfg; scope as above. */
int qs_restable_ppl_append(qs_h5_table *t, const qs_quant_config *cfg, const char *scope,
                           const qs_eval_result *r);

/* The columns of a ppl/<name> row: the four labels, then qs_eval_fields (r may be NULL:
 * names and kinds only). */
#define QS_RESTABLE_PPL_NCOLS (4 + QS_EVAL_NFIELDS)
void qs_restable_ppl_fields(qs_field *f, const char *w, const char *a, const char *config,
                            const char *scope, const qs_eval_result *r);

/* The same with the names given: qscope eval BASE QUANT names the quantized file
 * ("file:model-Q4_K_M.gguf") where a config would go. */
int qs_restable_ppl_append_named(qs_h5_table *t, const char *w_config, const char *a_config,
                                 const char *config, const char *scope, const qs_eval_result *r);

/* Opens (creates) the table speed in h's run and sets the limits as its attributes. */
int qs_restable_speed_open(qs_h5_table **t, qs_h5 *h, const qs_speed_limits *lim);
int qs_restable_speed_append(qs_h5_table *t, const qs_speed_row *r);

/* The canonical names of cfg's weight side alone (activations A16) and activation side
 * alone (weights W16) into w and a (size n each). */
int qs_restable_side_names(char *w, char *a, size_t n, const qs_quant_config *cfg);

#endif
