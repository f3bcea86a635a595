/* Profiling: run token windows through the model with a capture session (capture.h)
 * attached, then read out the persistent outlier channels of every captured site × layer
 * and which layers of a site share a channel index.
 *
 * Windows follow the evaluation protocol of windows.h; only the forward's activations
 * matter here (no logits are computed). max_tokens > 0 stops after that many tokens, the
 * last window cut short. */
#ifndef QS_PROFILE_H
#define QS_PROFILE_H

#include "capture.h"
#include "windows.h"

typedef struct qs_profile_info {
    long tokens; /* tokens run through the model */
    int windows; /* windows run (the last one may be cut) */
    double seconds;
} qs_profile_info;

/* Whether a capture should run its statistics on a background thread (capture.h,
 * qs_capture_set_worker) for windows of T tokens: when the forward leaves a core idle
 * (forward.h, qs_forward_idle_cores) and no address-space limit (ulimit -v) is set, under
 * which the thread's stack and malloc arena (tens of MB of address space) could take the
 * room OpenBLAS needs for its buffers, whose allocation then retries forever.
 * qs_profile_run asks it. */
int qs_profile_worker_useful(const qs_forward_state *st, int T);

/* Runs ws (until max_tokens, 0 = all) through m with c's hook. Progress on stderr when it
 * is a terminal (label "profile"). Errors: those of qs_forward and of the capture hook
 * (the message names site, layer and window). */
int qs_profile_run(qs_capture *c, const qs_model *m, const qs_windows *ws, long max_tokens,
                   qs_profile_info *info);

/* One persistent outlier channel of one site × layer (outliers.h definitions). */
typedef struct qs_profile_channel {
    int site, layer;
    qs_outlier_channel ch;
    int n_shared;            /* layers of this site whose outlier set holds this channel
                                index, this one included */
    char shared_layers[256]; /* those layers, ascending, comma-separated ("1,3"; cut with
                                "..." when long) */
} qs_profile_channel;

/* Every persistent outlier channel of every captured pair, in (site, layer, channel)
 * order, with min_token_frac from the session's outlier config. *out is caller-owned
 * (free()); *n may be 0 (then *out is NULL). Errors: QS_ERR_NOMEM, QS_ERR_ARG (nothing
 * captured yet). */
int qs_profile_channels(qs_profile_channel **out, int *n, const qs_capture *c);

#endif
