/* Perplexity over token windows (see windows.h for the protocol). */
#ifndef QS_PERPLEXITY_H
#define QS_PERPLEXITY_H

#include "forward.h"
#include "windows.h"

typedef struct qs_ppl_result {
    long n_scored; /* predictions scored */
    int n_windows;
    long n_processed; /* tokens run through the model */
    double nll;       /* mean negative log-likelihood, nats/token */
    double nll_se;    /* standard error of that mean: sqrt(var / (n - 1)) */
    double ppl;       /* exp(nll) */
    double ppl_se;    /* ppl · nll_se (first-order) */
    double seconds;
    double tokens_per_s; /* processed tokens per second */
} qs_ppl_result;

/* −log softmax(logits)[target] = logsumexp(logits) − logits[target], by qs_logsumexp
 * (elementwise.h: vector exps, the sum in double; within 1e-6 of double exps). logits: (V) */
double qs_nll(const float *logits, int V, int target);

/* Runs every window through the model (with hook, which may be NULL) and scores it.
 * Progress goes to stderr when it is a terminal. */
int qs_perplexity(const qs_model *m, const qs_windows *ws, const qs_hook *hook, qs_ppl_result *out);
/* The same through one product path of linear.h (QS_LINEAR_FUSED is qs_perplexity; int8dot
 * quantizes activations to int8 per block of 32, or per token, and changes the results:
 * `qscope ppl --path int8dot` reports that effect). */
int qs_perplexity_path(const qs_model *m, const qs_windows *ws, const qs_hook *hook, int path,
                       int per_token, qs_ppl_result *out);

/* Finishes a result from running sums of nll and nll². */
void qs_ppl_finish(qs_ppl_result *r, double sum, double sum_sq);

#endif
