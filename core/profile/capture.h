/* A capture session: the qs_hook callback that turns activations into statistics.
 *
 * For every selected site × layer it keeps, across any number of windows,
 *   - a qs_chanstats (per-channel moments, extremes, outlier-token counts; chanstats.h)
 *   - a qs_tensorstats (whole-tensor moments and |x| histogram; tensorstats.h)
 * and it records the token-wise ("massive") outliers of every window (outliers.h) with the
 * window index, the position in the window and the token id, and with opts.attention the
 * attention of every layer and head (attention.h), each massive token tied to the heads
 * that sink on it when its window ends. Each window is scanned once
 * (qs_tokenscan) and the per-token medians are shared by the massive-token test and the
 * chanstats add. Optional dumps hand the raw (T, C) rows of a chosen site × layer to a
 * sink, up to a bound.
 *
 * Usage: create, then for each window call qs_capture_window() (so token ids are known)
 * and run qs_forward() with qs_capture_hook(); read the accumulators afterwards.
 *
 * Memory does not grow with the number of tokens. With S the selected (site, layer) pairs,
 * C_s the width of the pair's site, T the longest window seen and N the token-outlier cap:
 *   bytes ≈ Σ_S (96·C_s + 48,200)          chanstats (96·C + 64) + tensorstats (≈ 48,136)
 *         + 48·T                            per-window scan and token-outlier scratch
 *         + 40·N                            token-outlier records (default N = 100,000)
 * qs_capture_memory_bytes() evaluates it. stories260K, all seven sites, all layers, T 512,
 * N 10,000: 36 pairs, 2.4 MB; a 7B model (32 layers, D 4096, H 11008, K 4096, T 4096):
 * ≈ 115 MB.
 * Attention statistics (opts.attention) add L·H·T floats (attention.h), a worker
 * (qs_capture_set_worker) 8·T·max C_s floats.
 *
 * Errors (core/error.h) come back from the hook through qs_forward (with a worker, from a
 * later site's hook call or from qs_capture_end): QS_ERR_NUMERIC when an activation is
 * NaN/inf (the message names the site, layer and element), QS_ERR_NOMEM, or a dump sink's
 * code. */
#ifndef QS_CAPTURE_H
#define QS_CAPTURE_H

#include <stdint.h>

#include "chanstats.h"
#include "forward.h"
#include "outliers.h"
#include "tensorstats.h"

#define QS_CAPTURE_MAX_TOKEN_OUTLIERS 100000
/* Dumps one capture can feed (qs_capture_add_dump): the bound of every front end. */
#define QS_CAPTURE_MAX_DUMPS 16

typedef struct qs_capture_opts {
    unsigned site_mask;          /* QS_SITE_BIT of the sites to profile */
    const unsigned char *layers; /* (n_layers + 1): nonzero = profile that layer; NULL =
                                    all. Entry n_layers is the stream after the last block
                                    and exists only at resid. Copied. */
    qs_chanstats_config chan;    /* tau, phi, int8 threshold */
    qs_outlier_config outl;      /* min_token_frac, massive_abs, massive_ratio, the
                                    massive rule (resolved for the model's width by
                                    qs_capture_create; qs_capture_get_opts shows it) */
    int max_token_outliers;      /* records kept; more are only counted */
    int whole_tensor;            /* also keep a qs_tensorstats per pair (1 by default) */
    int attention;               /* also keep attention statistics (attention.h; 1 by default) */
    double sink_threshold;       /* attention mass that makes a sink (0.5) */
} qs_capture_opts;

/* All sites, all layers, the analysis defaults, phi shared by both configs. */
qs_capture_opts qs_capture_opts_default(void);

/* One massive token, as found. */
typedef struct qs_capture_token {
    int site, layer;
    int window;   /* index passed to qs_capture_window */
    int position; /* in the window */
    int token_id; /* -1 when the window's tokens were not given */
    int channel;
    float value;  /* signed x(t, channel) */
    double ratio; /* absmax / median |x| of the token */
} qs_capture_token;

/* A dump sink: receives rows x (T, C) of one site × layer, in window order, already cut
 * to the dump's bound. Return QS_OK or an error code (with its message set). */
typedef int (*qs_capture_dump_fn)(void *user, int site, int layer, const float *x, int T, int C);

typedef struct qs_capture qs_capture; /* opaque */

/* Creates a session for a model of config cfg (copied). Errors: QS_ERR_ARG (bad config
 * values, empty site mask or layer selection), QS_ERR_NOMEM. *out is NULL on error; the
 * caller frees it with qs_capture_free. */
int qs_capture_create(qs_capture **out, const qs_config *cfg, const qs_capture_opts *o);
void qs_capture_free(qs_capture *c); /* NULL is fine */

/* Asks for the first max_tokens rows of (site, layer) to be passed to fn. The pair must
 * be captured (QS_ERR_ARG otherwise). At most QS_CAPTURE_MAX_DUMPS dumps. */
int qs_capture_add_dump(qs_capture *c, int site, int layer, long max_tokens, qs_capture_dump_fn fn,
                        void *user);
/* Forgets every dump, so that sinks may be freed while the capture (its statistics) lives on. */
void qs_capture_clear_dumps(qs_capture *c);

/* Announces the next window: its index and tokens (n; borrowed until the next call). */
void qs_capture_window(qs_capture *c, int index, const int *tokens, int n);

/* The hook to pass to qs_forward (borrows c): the sites, and the attention when kept. */
qs_hook qs_capture_hook(qs_capture *c);

/* on = 1 moves the per-site statistics to a background thread (stats_worker.h) that runs
 * them while the forward goes on, with the same results bit for bit; meant for a forward
 * that leaves cores idle (forward.h, qs_forward_idle_cores). on = 0 waits for it and goes
 * back to the hook. Call between windows. Adds WORKER_SLOTS (8) copies of the widest site's
 * (T, C) to the memory (qs_capture_memory_bytes counts them). Returns a failed job's error
 * (on = 0) or QS_ERR_NOMEM. */
int qs_capture_set_worker(qs_capture *c, int on);

/* Ends the last window: waits for the worker's jobs (returning a failed one's error), then
 * ties its massive tokens to the heads that sink on them (attention.h). Call once after the
 * last forward (qs_profile_run does), and before reading the accumulators. */
int qs_capture_end(qs_capture *c);

/* The attention statistics, or NULL when opts.attention was 0. Owned by c. */
const struct qs_attnstats *qs_capture_attention(const qs_capture *c);

/* qs_site_layers and qs_site_width (sites.h) of the capture's config. */
int qs_capture_site_layers(const qs_capture *c, int site);
int qs_capture_site_width(const qs_capture *c, int site);
/* Accumulators of a pair, owned by c; NULL when the pair is not captured. */
const qs_chanstats *qs_capture_chanstats(const qs_capture *c, int site, int layer);
const qs_tensorstats *qs_capture_tensorstats(const qs_capture *c, int site, int layer);

/* The recorded massive tokens, in the order found (owned by c); *n_kept how many are
 * stored, *n_found how many there were in all (more than kept past the cap). */
const qs_capture_token *qs_capture_tokens(const qs_capture *c, int *n_kept, int64_t *n_found);

/* Tokens announced through qs_capture_window so far. */
int64_t qs_capture_token_count(const qs_capture *c);
const qs_capture_opts *qs_capture_get_opts(const qs_capture *c);

/* The memory formula above, for this session with windows of up to max_T tokens; the
 * worker's slots included once one has run (they are freed with it). */
int64_t qs_capture_memory_bytes(const qs_capture *c, int max_T);

#endif
