/* The batched, causal forward pass of a LLaMA-style block stack on the CPU.
 *
 * A window of T tokens goes through every projection as sgemm (T × in)·(in × out). A weight
 * held as aligned f32 is multiplied straight from its mapping; any other storage type is
 * expanded to f32 a block of rows at a time into a scratch buffer the state reuses, and each
 * block is one sgemm writing its columns of the output. The expansion is exact, so the
 * result is that of an f32 copy of the weights (up to how OpenBLAS splits the product),
 * and it is paid once per window: T tokens share it.
 * Keys and values are kept in a cache so the same call serves a whole window (pos0 = 0,
 * T = ctx) and incremental decoding (T = 1, pos0 = tokens so far).
 *
 * Short windows (T ≤ QS_FORWARD_FUSED_MAX_T, decoding) multiply with the fused kernels of
 * linear.h instead: every weight streams from memory once per token in its stored type,
 * expanded in registers, output rows shared among the OpenMP threads (q, k, v in one
 * parallel region, gate and up in another), and a single token's attention runs head by
 * head in parallel without BLAS. qs_forward_set_path picks the naive or int8dot path
 * instead (the speed bench's rows).
 *
 * Capture: a callback sees each named site's (T × C) matrix and may read it or replace it
 * in place (fake-quant does); another sees each head's attention probabilities. With no
 * callback the forward pays nothing for it.
 *
 * Letters: T tokens in the window, P = pos0 + T positions attended, D dim, Q query width,
 * K kv width, H hidden, V vocab. */
#ifndef QS_FORWARD_H
#define QS_FORWARD_H

#include "linear.h"
#include "model.h"
#include "sites.h"

/* Called at a site. x is (T, C), row t is position pos0 + t. Return QS_OK to continue;
 * any other code stops the forward pass and is returned by it (set the message first). */
typedef int (*qs_capture_fn)(void *user, int site, int layer, float *x, int T, int C, int pos0);

/* Called once per layer and query head, after the softmax: p (T, P) the attention
 * probabilities of the window's queries (row t is position pos0 + t and attends to keys
 * 0..pos0+t; the rest of the row is 0), row_max (T) each row's largest pre-softmax logit
 * (q·k/√hd), row_entropy (T) each row's entropy in nats from the softmax's own pass
 * (elementwise.h). Read only. Same return convention as qs_capture_fn. */
typedef int (*qs_attn_fn)(void *user, int layer, int head, const float *p, const float *row_max,
                          const double *row_entropy, int T, int P, int pos0);

typedef struct qs_hook {
    qs_capture_fn fn;
    void *user;
    unsigned site_mask; /* QS_SITE_BIT(...) of the sites to call fn at */
    qs_attn_fn attn;    /* NULL: the attention is not shown (and costs nothing) */
} qs_hook;

/* Floats of the expansion buffer: blocks of rows hold at most about this many (a block is
 * never fewer than 64 rows). 8 Mi floats = 32 MiB: on the Llama-2-7B shape (C_max 11008)
 * a block is 704 rows. At 4 Mi (320 rows) the window path's sgemm calls were narrower and
 * slower: prefill at T = 512 over f32's, same build, went bf16 0.85 -> 0.91, Q4_0 0.83 ->
 * 0.88, Q8_0 0.85 -> 0.91 (`bench --speed --phases prefill`, two runs each). */
#define QS_FORWARD_EXPAND_FLOATS (8 << 20)

/* Windows of up to this many tokens take the fused kernels (linear.h): each weight is read
 * once for all of them, which beats expanding blocks for sgemm while T is this small. */
#define QS_FORWARD_FUSED_MAX_T 4

/* Bytes a forward state holds: activations (with the RoPE tables and attention scores), KV
 * cache, and the weight-expansion scratch (the README's memory formula). */
typedef struct qs_forward_bytes {
    size_t activations, kv_cache, scratch;
} qs_forward_bytes;

typedef struct qs_forward_state {
    const qs_model *m;
    int max_T;   /* largest window this state can run */
    int max_pos; /* cache length: positions 0..max_pos-1 */
    /* activations */
    float *x;            /* (T, D) residual stream */
    float *xn;           /* (T, D) normed */
    float *q;            /* (T, Q) */
    float *k, *v;        /* (T, K) new keys/values before they enter the cache */
    float *att_out;      /* (T, Q) */
    float *proj;         /* (T, D) */
    float *h1, *h3;      /* (T, H) */
    float *scores;       /* (max(T, heads), P) attention scratch: a window's rows, or one row
                            per head when a single token's heads run in parallel */
    float *row_max;      /* (T) largest logit of each attention row, for qs_hook.attn */
    double *row_entropy; /* (T) each attention row's entropy, for qs_hook.attn */
    int n_scores;
    /* cache */
    float *k_cache, *v_cache; /* (L, max_pos, K) */
    /* RoPE tables */
    float *rope_cos, *rope_sin; /* (max_pos, head_dim/2) */
    /* weight expansion */
    float *wbuf;     /* (expand_rows, widest in) rows of one weight as f32; NULL if all are f32 */
    int expand_rows; /* rows expanded per block, a multiple of 64 */
    size_t wbuf_floats;
    qs_forward_bytes counted; /* what init added to the memory counters */
    /* products (linear.h) */
    int path;          /* enum qs_linear_path; QS_LINEAR_FUSED by default */
    qs_linear_ctx lin; /* their scratch (counted as scratch when it grows) */
} qs_forward_state;

/* Allocates buffers for windows of up to max_T tokens and a cache of max_pos positions. */
int qs_forward_init(qs_forward_state *s, const qs_model *m, int max_T, int max_pos);
/* How products are computed from here on (linear.h):
 *   QS_LINEAR_FUSED    (the default) windows of up to QS_FORWARD_FUSED_MAX_T tokens take
 *                      the fused kernels; longer ones expand blocks of rows and call sgemm;
 *   QS_LINEAR_NAIVE    every product first expands its whole weight into f32 (scratch of
 *                      the largest weight's size), then sgemv / sgemm;
 *   QS_LINEAR_INT8DOT  every window's activations are quantized to int8 (per block of 32,
 *                      or per token with per_token) and weights with integer kernels take
 *                      them; the others as QS_LINEAR_FUSED. Results change by the
 *                      activations' rounding.
 * QS_ERR_ARG for another value. */
int qs_forward_set_path(qs_forward_state *s, int path, int per_token);

/* Bytes the state holds (counted in memstat.h while it lives), and what a state for model m
 * with those sizes would hold (nothing allocated):
 *   activations = 4·(T·(2D + 2Q + 2K + max(D, Q) + 2H + 3) + max(T, heads)·P + P·head_dim)
 *   kv_cache    = 4·2·L·P·K
 *   scratch     = 4·rows·(widest non-f32 weight's columns), rows ≈ 4 Mi floats / columns
 *                 rounded to 64 (0 when every weight is aligned f32)
 * plus what products add to scratch when first needed (linear.h's qs_linear_ctx: one row
 * per thread for weights without register kernels; the naive path's whole weight). */
qs_forward_bytes qs_forward_memory(const qs_forward_state *s);
qs_forward_bytes qs_forward_estimate(const qs_model *m, int max_T, int max_pos);
void qs_forward_free(qs_forward_state *s);

/* Runs tokens[0..T) at positions pos0..pos0+T-1 (the cache must already hold 0..pos0-1).
 * logits: (T, V) for every position, or (1, V) for the last one if last_only, or NULL.
 * hook may be NULL. Returns QS_OK, a hook's error code, or QS_ERR_ARG on bad sizes. */
int qs_forward(qs_forward_state *s, const int *tokens, int T, int pos0, float *logits,
               int last_only, const qs_hook *hook);

/* Cores a window of T tokens (from position 0) leaves idle: a model this small runs its
 * whole forward on one thread (forward.c), so all but one of omp_get_max_threads(); 0 for
 * any larger model, whose forward takes every core. A capture may put its statistics
 * there (capture.h, qs_capture_set_worker). */
int qs_forward_idle_cores(const qs_forward_state *s, int T);

/* FLOPs of one forward over T tokens at positions pos0.. (matmuls + attention), for the bench. */
double qs_forward_flops(const qs_config *c, int T, int pos0);

#endif
