/* Attention statistics per layer and query head: where the attention goes, and which heads
 * park it on one token (an attention sink). Fed by the forward's attention callback
 * (forward.h) with each head's probabilities p (T, P) of a window; a capture session
 * (capture.h) owns one and ties it to the massive tokens it finds.
 *
 * Per (layer, head), over the query rows t >= 1 of every window (row 0 has only itself to
 * attend to and says nothing):
 *   mass_pos[k]   mean attention on key position k (k < QS_ATTN_NPOS), over rows t >= k
 *   bos_mass      mean attention on keys whose token is BOS (0 when the model has none)
 *   entropy       mean of -Σ_j p(t,j) ln p(t,j), in nats (ln(t+1) for uniform attention)
 *   max_logit     the largest pre-softmax logit q·k/√hd seen
 *   sink_mass     the largest mass_pos[k], at key position sink_position: the head is a sink
 *                 head when sink_mass >= sink_threshold (default 0.5)
 * and per layer the sink fraction: sink heads / heads.
 *
 * Received mass, for the tie to massive tokens: in the current window, key position j of
 * (layer, head) receives the mean over the rows t > j of p(t, j) (only where there are at
 * least QS_ATTN_TIE_MIN_ROWS such rows: a mean over a few queries at the end of a window
 * says little). qs_attnstats_tie records the heads whose received mass on a given position
 * reaches the sink threshold.
 *
 * Sums are in double, each row's entropy computed alone and added in row order, so results
 * do not depend on the thread count. Letters: L layers, H query heads, T rows, P keys. */
#ifndef QS_ATTENTION_H
#define QS_ATTENTION_H

#include <stdint.h>

#define QS_ATTN_NPOS           4
#define QS_ATTN_SINK_THRESHOLD 0.5
#define QS_ATTN_TIE_MIN_ROWS   16

typedef struct qs_attn_head {
    double mass_pos[QS_ATTN_NPOS];
    double bos_mass, entropy, max_logit, sink_mass;
    int sink_position;
    int64_t rows; /* query rows counted */
} qs_attn_head;

/* One (massive token, head) pair where the head sinks on the token. */
typedef struct qs_attn_tie {
    int window, position, token_id;
    int layer, head;
    double mass; /* received mass of the token's position in that head */
} qs_attn_tie;

typedef struct qs_attnstats qs_attnstats; /* opaque */

/* Errors: QS_ERR_ARG (sizes < 1, threshold outside (0, 1]), QS_ERR_NOMEM. */
int qs_attnstats_create(qs_attnstats **out, int n_layers, int n_heads, int bos_id,
                        double sink_threshold);
void qs_attnstats_free(qs_attnstats *a); /* NULL is fine */

/* Starts a window (forgets the received masses): tokens (n) borrowed until the next call.
 * QS_ERR_NOMEM is the only error. */
int qs_attnstats_window(qs_attnstats *a, int window, const int *tokens, int n);

/* Adds one head's probabilities of the current window (the qs_attn_fn arguments). Rows of a
 * call with pos0 > 0 count in the statistics but not in the received masses. row_entropy
 * may be NULL: the entropies are then computed from p (qs_entropy). */
int qs_attnstats_add(qs_attnstats *a, int layer, int head, const float *p, const float *row_max,
                     const double *row_entropy, int T, int P, int pos0);

/* Records, for key position `position` of the current window, every head whose received
 * mass reaches the threshold. At most max_ties are kept (more are counted). */
int qs_attnstats_tie(qs_attnstats *a, int position);

/* The summary of one head (zeros before any row). */
void qs_attnstats_head(const qs_attnstats *a, int layer, int head, qs_attn_head *out);
/* Sink heads / heads of a layer. */
double qs_attnstats_sink_fraction(const qs_attnstats *a, int layer);
int qs_attnstats_layers(const qs_attnstats *a);
int qs_attnstats_heads(const qs_attnstats *a);
double qs_attnstats_threshold(const qs_attnstats *a);
/* The ties recorded, in order (owned by a); *n_found counts those past the cap too. */
const qs_attn_tie *qs_attnstats_ties(const qs_attnstats *a, int *n_kept, int64_t *n_found);

#endif
