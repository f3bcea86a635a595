/* Writing a profile into a run of the HDF5 result store (h5store.h). Paths are relative to
 * the run group /runs/<n>; the README's "Results (HDF5)" section documents the layout:
 *
 *   model                          attrs: the config (dim, hidden_dim, n_layers, ...)
 *   stats/<site>/<stat>            float64 [Ls, C] per captured site, Ls = n_layers
 *                                  (n_layers + 1 at resid); NaN rows for layers not
 *                                  captured. <stat>: mean, var, std, skewness, kurtosis
 *                                  (Pearson μ4/σ⁴), min, max, absmax, mean_abs, mean_sq,
 *                                  n_outlier_tokens, n_int8_tokens, token_fraction
 *                                  (= n_outlier_tokens / count), sequence_fraction
 *                                  (= n_outlier_windows / n_windows)
 *   stats/<site>/layers            int64 [n]: the captured layers
 *   stats/<site>/tensor            table, one row per captured layer: layer, count, n_zero,
 *                                  mean, var, std, skewness, kurtosis, min, max, absmax,
 *                                  mean_abs, mean_sq, p50, p90, p99, p999, p9999 (of |x|)
 *   stats/<site>/hist/edges        float64 [B + 1] |x| bin edges (tensorstats.h)
 *   stats/<site>/hist/counts       int64 [Ls, B] (rows of uncaptured layers are 0)
 *   weights/summary                table, one row per weight tensor: name, rows, cols and
 *                                  the columns of stats/<site>/tensor after layer
 *   weights/hist/edges, counts     as above, counts [n_tensors, B] in table order
 *   outliers/channels              table: layer, site, channel, absmax, ratio_to_median,
 *                                  token_fraction, sequence_fraction, n_shared_layers,
 *                                  shared_layers ("1,3")
 *   outliers/tokens                table: layer, site, window, position, token_id,
 *                                  token_text, channel, value, ratio
 *   dump/<site>/<layer>            float32 [T, C] raw activations (chunked, gzip)
 *   attention/...                  per layer and query head (attention.h): mass_first
 *                                  float64 [L, H, 4] (mass on key positions 0..3),
 *                                  bos_mass, entropy, max_logit, sink_mass [L, H],
 *                                  sink_position int64 [L, H], rows [L, H], sink_fraction
 *                                  [L]; attrs sink_threshold, n_positions,
 *                                  massive_sinks_found
 *   attention/massive_sinks        table, one row per (massive token, head that sinks on
 *                                  it): window, position, token_id, token_text, layer,
 *                                  head, mass (received by the token's position)
 */
#ifndef QS_PROFILE_H5_H
#define QS_PROFILE_H5_H

#include "h5store.h"
#include "profile.h"
#include "weightstats.h"

/* The model config as attributes of "model" (plus path and format). */
int qs_profile_h5_model(qs_h5 *h, const qs_model *m);

/* stats/<site>/... for every captured site. */
int qs_profile_h5_stats(qs_h5 *h, const qs_capture *c);

/* weights/summary and weights/hist. */
int qs_profile_h5_weights(qs_h5 *h, const qs_weightstat *w, int n);

/* outliers/channels (ch, n) and outliers/tokens (the capture's massive tokens; token text
 * from tok and the windows ws the capture ran, may be NULL), with the thresholds as
 * attributes of "outliers". Both tables are written even when empty. */
int qs_profile_h5_outliers(qs_h5 *h, const qs_capture *c, const qs_profile_channel *ch, int n,
                           const qs_tokenizer *tok, const qs_windows *ws);

/* attention/... when the capture kept attention statistics (else nothing). */
int qs_profile_h5_attention(qs_h5 *h, const qs_capture *c, const qs_tokenizer *tok,
                            const qs_windows *ws);

/* A dump sink for qs_capture_add_dump writing dump/<site>/<layer>: create with
 * qs_profile_h5_sink_open, pass qs_profile_h5_dump_fn and the sink, close after the run. */
typedef struct qs_profile_h5_sink qs_profile_h5_sink;
int qs_profile_h5_sink_open(qs_profile_h5_sink **out, qs_h5 *h, int site, int layer, int C);
int qs_profile_h5_dump_fn(void *sink, int site, int layer, const float *x, int T, int C);
long qs_profile_h5_sink_rows(const qs_profile_h5_sink *s); /* rows stored so far; NULL: 0 */
int qs_profile_h5_sink_close(qs_profile_h5_sink *s);       /* NULL is fine */

/* Printable UTF-8 for a token's bytes: invalid bytes and control characters become
 * <0xNN>. out (size n) is NUL-terminated. */
void qs_profile_token_text(const qs_tokenizer *tok, int prev_id, int id, char *out, size_t n);

#endif
