#include "perplexity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "elementwise.h"
#include "error.h"
#include "memstat.h"
#include "progress.h"

double qs_nll(const float *logits, int V, int target) {
    return qs_logsumexp(logits, V) - (double)logits[target];
}

void qs_ppl_finish(qs_ppl_result *r, double sum, double sum_sq) {
    long n = r->n_scored;
    r->nll = n > 0 ? sum / n : NAN;
    double var = n > 1 ? (sum_sq / n - r->nll * r->nll) : 0.0;
    if (var < 0) var = 0;
    r->nll_se = n > 1 ? sqrt(var / (n - 1)) : NAN;
    r->ppl = exp(r->nll);
    r->ppl_se = r->ppl * r->nll_se;
    r->tokens_per_s = r->seconds > 0 ? r->n_processed / r->seconds : 0;
}

int qs_perplexity(const qs_model *m, const qs_windows *ws, const qs_hook *hook,
                  qs_ppl_result *out) {
    return qs_perplexity_path(m, ws, hook, QS_LINEAR_FUSED, 0, out);
}

int qs_perplexity_path(const qs_model *m, const qs_windows *ws, const qs_hook *hook, int path,
                       int per_token, qs_ppl_result *out) {
    memset(out, 0, sizeof *out);
    int max_n = 0;
    for (int i = 0; i < ws->n; i++) max_n = ws->w[i].n > max_n ? ws->w[i].n : max_n;
    if (max_n > m->cfg.seq_len)
        return qs_error_set(QS_ERR_ARG,
                            "window of %d tokens is longer than the model's context "
                            "(%d)",
                            max_n, m->cfg.seq_len);
    int V = m->cfg.vocab_size;
    qs_forward_state st;
    int rc = qs_forward_init(&st, m, max_n, max_n);
    if (rc) return rc;
    rc = qs_forward_set_path(&st, path, per_token);
    if (rc) {
        qs_forward_free(&st);
        return rc;
    }
    size_t lbytes = (size_t)max_n * V * sizeof(float);
    float *logits = qs_memstat_alloc(QS_MEMSTAT_ACTIVATIONS, lbytes); /* (T, V) */
    if (!logits) {
        qs_forward_free(&st);
        return qs_error_set(QS_ERR_NOMEM, "out of memory for logits");
    }
    long total = 0;
    for (int i = 0; i < ws->n; i++) total += ws->w[i].n;
    qs_progress pr;
    qs_progress_start(&pr, "ppl", total);
    double sum = 0, sum_sq = 0;
    for (int i = 0; i < ws->n && rc == QS_OK; i++) {
        const qs_window *w = &ws->w[i];
        rc = qs_forward(&st, w->tokens, w->n, 0, logits, 0, hook);
        if (rc) break;
        double wsum = 0, wsq = 0;
#pragma omp parallel for reduction(+ : wsum, wsq) if ((size_t)(w->score_to - w->score_from) * V >= 65536)
        for (int j = w->score_from; j < w->score_to; j++) {
            double nll = qs_nll(logits + (size_t)j * V, V, w->tokens[j + 1]);
            wsum += nll;
            wsq += nll * nll;
        }
        sum += wsum;
        sum_sq += wsq;
        out->n_scored += w->score_to - w->score_from;
        out->n_processed += w->n;
        out->n_windows++;
        qs_progress_add(&pr, w->n);
    }
    out->seconds = qs_progress_end(&pr);
    qs_ppl_finish(out, sum, sum_sq);
    qs_memstat_free(QS_MEMSTAT_ACTIVATIONS, logits, lbytes);
    qs_forward_free(&st);
    return rc;
}
