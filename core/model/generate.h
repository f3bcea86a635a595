/* Text generation with the KV cache: the prompt runs as one window, then one token at a time. */
#ifndef QS_GENERATE_H
#define QS_GENERATE_H

#include "model.h"

typedef struct qs_generate_opts {
    int steps;         /* tokens to generate after the prompt */
    float temperature; /* 0 = greedy (argmax) */
    unsigned long long seed;
    int stop_at_eos;
} qs_generate_opts;

/* Generates from prompt; *text is the decoded prompt + continuation (malloc'd, caller frees),
 * *ids/n_ids the generated ids including the prompt (may be NULL). on_token, if set, is
 * called with each new piece as it is produced (for streaming output). */
int qs_generate(const qs_model *m, const char *prompt, const qs_generate_opts *o, char **text,
                int **ids, int *n_ids, void (*on_token)(void *user, const char *piece, size_t len),
                void *user);

#endif
