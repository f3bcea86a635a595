/* Token windows for evaluation, with which positions each window scores. One protocol,
 * used by perplexity, KL divergence, profiling and calibration alike:
 *
 *  - stream mode (default): the text is tokenized once (BOS first; with max_tokens only
 *    as far as the windows need, see windows.c); windows of ctx
 *    tokens start every `stride` tokens (stride = ctx: non-overlapping). With bos =
 *    REPLACE the first token of each window becomes BOS (llama.cpp's llama-perplexity),
 *    with PREPEND each window is BOS + ctx-1 text tokens, with NONE nothing is changed.
 *    score = HALF scores the second half of each window (predictions at positions
 *    ctx/2 .. ctx-2, llama.cpp's default); ALL scores every prediction (0 .. n-2). With a
 *    stride < ctx, windows after the first score only predictions of tokens not scored
 *    before.
 *  - document mode (doc_sep set): the text is split on doc_sep, each document is tokenized
 *    with BOS and cut to ctx tokens, and every prediction is scored (llama2.c's validation
 *    protocol; SOURCES.md's 1.316 nats/token uses it with skip_docs = 1, ctx = 512).
 *
 * A prediction at position j scores token j+1 from logits j. */
#ifndef QS_WINDOWS_H
#define QS_WINDOWS_H

#include "tokenizer.h"

enum qs_score_mode { QS_SCORE_HALF = 0, QS_SCORE_ALL = 1 };
enum qs_bos_mode { QS_BOS_REPLACE = 0, QS_BOS_PREPEND = 1, QS_BOS_NONE = 2 };

typedef struct qs_window_opts {
    int ctx;             /* tokens per window (default 512, at most the model's seq_len) */
    int stride;          /* 0 = ctx */
    int score;           /* enum qs_score_mode */
    int bos;             /* enum qs_bos_mode */
    long max_tokens;     /* stop after this many scored predictions (0 = all) */
    const char *doc_sep; /* document mode when set */
    int skip_docs;       /* documents skipped at the start (document mode) */
} qs_window_opts;

typedef struct qs_window {
    int *tokens; /* (n) */
    int n;
    int score_from, score_to; /* score predictions j in [score_from, score_to) */
} qs_window;

typedef struct qs_windows {
    qs_window *w;
    int n;
    long n_scored;      /* predictions scored over all windows */
    long n_text_tokens; /* tokens the text encoded to; with max_tokens in stream mode only
                           the prefix the windows needed is encoded (a lower bound) */
    int *storage;       /* backing for the window tokens */
} qs_windows;

void qs_window_opts_default(qs_window_opts *o);
/* Names for --score/--bos values; return -1 on an unknown word. */
int qs_score_mode_parse(const char *s);
int qs_bos_mode_parse(const char *s);

int qs_windows_build(qs_windows *out, const qs_tokenizer *tok, const char *text, size_t len,
                     const qs_window_opts *o);
void qs_windows_free(qs_windows *w);

#endif
