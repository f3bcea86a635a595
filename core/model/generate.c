#include "generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "forward.h"
#include "progress.h"

/* xorshift64*: reproducible sampling without global state */
static double rand_uniform(unsigned long long *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return ((*s * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
}

static int sample(const float *logits, int V, float temperature, unsigned long long *rng) {
    int best = 0;
    for (int i = 1; i < V; i++) best = logits[i] > logits[best] ? i : best;
    if (temperature <= 0.0f) return best;
    double sum = 0.0, r;
    for (int i = 0; i < V; i++) sum += exp((logits[i] - logits[best]) / temperature);
    r = rand_uniform(rng) * sum;
    for (int i = 0; i < V; i++) {
        r -= exp((logits[i] - logits[best]) / temperature);
        if (r <= 0) return i;
    }
    return V - 1;
}

int qs_generate(const qs_model *m, const char *prompt, const qs_generate_opts *o, char **text,
                int **ids_out, int *n_out, void (*on_token)(void *, const char *, size_t),
                void *user) {
    if (!m->tok) return qs_error_set(QS_ERR_ARG, "%s: no tokenizer (use --tokenizer)", m->path);
    if (o->steps < 0) return qs_error_set(QS_ERR_ARG, "--steps must be >= 0");
    int *ids, n;
    int rc = qs_tokenizer_encode(m->tok, prompt, strlen(prompt), 1, &ids, &n);
    if (rc) return rc;
    int max_pos = n + o->steps;
    if (max_pos > m->cfg.seq_len) max_pos = m->cfg.seq_len;
    if (n > max_pos) {
        free(ids);
        return qs_error_set(QS_ERR_ARG, "prompt of %d tokens is longer than the context (%d)", n,
                            m->cfg.seq_len);
    }
    int *all = realloc(ids, (size_t)(max_pos + 1) * sizeof *all);
    float *logits = malloc((size_t)m->cfg.vocab_size * sizeof *logits);
    qs_forward_state st;
    if (!all || !logits) {
        free(all ? all : ids);
        free(logits);
        return qs_error_set(QS_ERR_NOMEM, "out of memory");
    }
    rc = qs_forward_init(&st, m, n, max_pos);
    if (rc == QS_OK) rc = qs_forward_set_path(&st, o->path, o->per_token);
    unsigned long long rng = o->seed ? o->seed : 0x9E3779B97F4A7C15ull;
    qs_generate_stats gs = {n, 0, 0.0, 0.0};
    double t0 = qs_now();
    if (rc == QS_OK) rc = qs_forward(&st, all, n, 0, logits, 1, NULL);
    gs.prefill_seconds = qs_now() - t0;
    t0 = qs_now();
    while (rc == QS_OK && n < max_pos) {
        int next = sample(logits, m->cfg.vocab_size, o->temperature, &rng);
        if (o->stop_at_eos && next == m->cfg.eos_id) break;
        all[n++] = next;
        if (on_token) {
            char buf[8];
            size_t pl;
            const char *p = qs_tokenizer_piece(m->tok, all[n - 2], next, buf, &pl);
            on_token(user, p, pl);
        }
        if (n < max_pos) {
            rc = qs_forward(&st, all + n - 1, 1, n - 1, logits, 1, NULL);
            gs.decoded_tokens++;
        }
    }
    gs.decode_seconds = qs_now() - t0;
    if (o->stats) *o->stats = gs;
    qs_forward_free(&st);
    free(logits);
    if (rc == QS_OK && text) rc = qs_tokenizer_decode(m->tok, all, n, text);
    if (rc == QS_OK && ids_out) {
        *ids_out = all;
        *n_out = n;
    } else {
        free(all);
    }
    return rc;
}
