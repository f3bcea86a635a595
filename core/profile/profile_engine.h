/* The profile engine: the whole profile pipeline, one function for every front end (the
 * `qscope profile` command and Lua's m:profile), so that both do the same steps in the
 * same order:
 *
 *   check the request (sites, layers, dumps) against the model; nothing written yet
 *   open the results run, when the caller asked for one (open_results)
 *   model attributes → dump sinks → capture over the windows (statistics, token-wise
 *   outliers, raw dumps) → persistent outlier channels → weight statistics →
 *   stats/…, weights/…, outliers/…, attention/… in the run (profile_h5.h)
 *
 * Without a results run only the statistics are computed (dumps need one). */
#ifndef QS_PROFILE_ENGINE_H
#define QS_PROFILE_ENGINE_H

#include "profile_h5.h"

/* One raw dump: the first max_tokens rows of (site, layer), stored as dump/<site>/<layer>. */
typedef struct qs_profile_dump {
    int site, layer;
    long max_tokens;
} qs_profile_dump;

typedef struct qs_profile_request {
    qs_capture_opts capture; /* sites, layers (NULL = all), thresholds (capture.h) */
    long max_tokens;         /* stop after that many tokens; 0 = every window */
    qs_profile_dump dumps[QS_CAPTURE_MAX_DUMPS];
    int n_dumps;
    qs_h5 *results; /* the run to write into (borrowed), or NULL */
    /* Or: opens the run once every input is checked, so that a bad request writes nothing;
     * the engine stores it in the result, the caller closes it. NULL when not wanted. */
    int (*open_results)(void *user, qs_h5 **h);
    void *open_user;
} qs_profile_request;

typedef struct qs_profile_result {
    qs_capture *capture; /* the statistics and token-wise outliers */
    qs_profile_info info;
    qs_profile_channel *channels; /* persistent outlier channels (profile.h) */
    int n_channels;
    qs_weightstat *weights; /* one per weight tensor (weightstats.h) */
    int n_weights;
    long dump_rows[QS_CAPTURE_MAX_DUMPS]; /* rows stored per dump (fewer than max_tokens
                                             when the windows held fewer tokens) */
    int dump_cols[QS_CAPTURE_MAX_DUMPS];
    qs_h5 *results; /* the run written: req->results, or the one open_results opened */
} qs_profile_result;

/* Runs the pipeline above for model m over the windows ws. On success *out owns its parts
 * (free with qs_profile_result_free; a run from open_results is the caller's to close).
 * On failure *out holds nothing, except a run opened by open_results (out->results, also
 * the caller's to close). Errors: QS_ERR_ARG (a dump's site or layer out of range or not
 * profiled, max_tokens < 1, too many dumps, dumps without a results run, a selection
 * that captures nothing), and those of the capture, the forward pass and the writer. */
int qs_profile_engine_run(qs_profile_result *out, const qs_model *m, const qs_windows *ws,
                          const qs_profile_request *req);

/* Frees the capture, channels and weight statistics (not the results run). NULL is fine. */
void qs_profile_result_free(qs_profile_result *r);

#endif
