/* Text generation with the KV cache: the prompt runs as one window, then one token at a time
 * (the decode path of forward.h: fused kernels on the weights' stored types). */
#ifndef QS_GENERATE_H
#define QS_GENERATE_H

#include "model.h"

/* What a generation measured: the prompt's window and the tokens decoded one at a time
 * (wall seconds, excluding loading and tokenizing). */
typedef struct qs_generate_stats {
    int prompt_tokens, decoded_tokens;
    double prefill_seconds, decode_seconds;
} qs_generate_stats;

typedef struct qs_generate_opts {
    int steps;         /* tokens to generate after the prompt */
    float temperature; /* 0 = greedy (argmax) */
    unsigned long long seed;
    int stop_at_eos;
    int path;                 /* products (linear.h): QS_LINEAR_FUSED (0, the default), ... */
    int per_token;            /* int8dot: one activation scale per token */
    qs_generate_stats *stats; /* filled when not NULL */
} qs_generate_opts;

/* Generates from prompt; *text is the decoded prompt + continuation (malloc'd, caller frees),
 * *ids/n_ids the generated ids including the prompt (may be NULL). on_token, if set, is
 * called with each new piece as it is produced (for streaming output). */
int qs_generate(const qs_model *m, const char *prompt, const qs_generate_opts *o, char **text,
                int **ids, int *n_ids, void (*on_token)(void *user, const char *piece, size_t len),
                void *user);

#endif
