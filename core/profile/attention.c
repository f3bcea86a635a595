#include "attention.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "elementwise.h"
#include "error.h"

#define MAX_TIES 100000

typedef struct head_acc {
    double sum_pos[QS_ATTN_NPOS];
    int64_t n_pos[QS_ATTN_NPOS];
    double sum_bos, sum_entropy, max_logit;
    int64_t rows;
} head_acc;

struct qs_attnstats {
    int L, H, bos_id;
    double threshold;
    head_acc *acc; /* (L, H) */
    /* the current window */
    int window, n_tokens;
    const int *tokens;
    float *recv; /* (L, H, recv_cap) received mass per key position; -1 = not seen */
    int recv_cap, recv_P;
    double *row_scratch; /* (T) per-row entropies */
    double *col;         /* (recv_cap) column sums */
    int *bos_pos;        /* (n_bos) positions of BOS tokens in the window, ascending */
    int n_bos, bos_cap;
    int scratch_cap;
    qs_attn_tie *ties;
    int n_ties;
    int64_t n_found;
};

int qs_attnstats_create(qs_attnstats **out, int n_layers, int n_heads, int bos_id,
                        double sink_threshold) {
    *out = NULL;
    if (n_layers < 1 || n_heads < 1)
        return qs_error_set(QS_ERR_ARG, "attention: %d layers, %d heads", n_layers, n_heads);
    if (!(sink_threshold > 0.0 && sink_threshold <= 1.0))
        return qs_error_set(QS_ERR_ARG, "attention: sink threshold %g outside (0, 1]",
                            sink_threshold);
    qs_attnstats *a = calloc(1, sizeof *a);
    if (!a || !(a->acc = calloc((size_t)n_layers * n_heads, sizeof *a->acc))) {
        free(a);
        return qs_error_set(QS_ERR_NOMEM, "attention: out of memory");
    }
    a->L = n_layers, a->H = n_heads, a->bos_id = bos_id, a->threshold = sink_threshold;
    for (int i = 0; i < n_layers * n_heads; i++) a->acc[i].max_logit = -INFINITY;
    a->window = -1;
    *out = a;
    return QS_OK;
}

void qs_attnstats_free(qs_attnstats *a) {
    if (!a) return;
    free(a->acc);
    free(a->recv);
    free(a->row_scratch);
    free(a->col);
    free(a->bos_pos);
    free(a->ties);
    free(a);
}

int qs_attnstats_window(qs_attnstats *a, int window, const int *tokens, int n) {
    a->window = window;
    a->tokens = tokens;
    a->n_tokens = n;
    a->recv_P = 0;
    a->n_bos = 0;
    if (a->bos_id < 0 || !tokens) return QS_OK;
    for (int t = 0; t < n; t++) {
        if (tokens[t] != a->bos_id) continue;
        if (a->n_bos == a->bos_cap) {
            int cap = a->bos_cap ? 2 * a->bos_cap : 8;
            int *b = realloc(a->bos_pos, (size_t)cap * sizeof *b);
            if (!b) return qs_error_set(QS_ERR_NOMEM, "attention: out of memory");
            a->bos_pos = b;
            a->bos_cap = cap;
        }
        a->bos_pos[a->n_bos++] = t;
    }
    return QS_OK;
}

static int grow(qs_attnstats *a, int P, int T) {
    if (P > a->recv_cap) {
        float *r = realloc(a->recv, (size_t)a->L * a->H * P * sizeof *r);
        if (r) a->recv = r;
        double *c = realloc(a->col, (size_t)P * sizeof *c);
        if (c) a->col = c;
        if (!r || !c) return qs_error_set(QS_ERR_NOMEM, "attention: out of memory");
        a->recv_cap = P;
    }
    if (T > a->scratch_cap) {
        double *d = realloc(a->row_scratch, (size_t)T * sizeof *d);
        if (!d) return qs_error_set(QS_ERR_NOMEM, "attention: out of memory");
        a->row_scratch = d;
        a->scratch_cap = T;
    }
    return QS_OK;
}

int qs_attnstats_add(qs_attnstats *a, int layer, int head, const float *p, const float *row_max,
                     const double *row_entropy, int T, int P, int pos0) {
    if (layer < 0 || layer >= a->L || head < 0 || head >= a->H || T < 1 || P < pos0 + T)
        return qs_error_set(QS_ERR_ARG, "attention: layer %d head %d (T %d, P %d) out of range",
                            layer, head, T, P);
    int rc = grow(a, P, T);
    if (rc) return rc;
    head_acc *h = &a->acc[(size_t)layer * a->H + head];
    /* entropies row by row, unless the softmax gave them: one log per visible key */
    const double *ent = row_entropy;
    if (!ent) {
        double *e = a->row_scratch; /* (T) */
#pragma omp parallel for if ((size_t)T * P >= 65536) schedule(static)
        for (int t = 0; t < T; t++) e[t] = qs_entropy(p + (size_t)t * P, pos0 + t + 1);
        ent = e;
    }
    double *col = a->col; /* (P) received mass, summed row by row */
    if (pos0 == 0)
        for (int j = 0; j < P; j++) col[j] = 0.0;
    for (int t = 0; t < T; t++) {
        int pos = pos0 + t;
        const float *row = p + (size_t)t * P;
        if ((double)row_max[t] > h->max_logit) h->max_logit = row_max[t];
        if (pos < 1) continue;
        h->rows++;
        h->sum_entropy += ent[t];
        for (int k = 0; k < QS_ATTN_NPOS && k <= pos; k++) {
            h->sum_pos[k] += row[k];
            h->n_pos[k]++;
        }
        double m = 0.0;
        for (int i = 0; i < a->n_bos && a->bos_pos[i] <= pos; i++) m += row[a->bos_pos[i]];
        h->sum_bos += m;
        if (pos0 == 0) qs_accumulate(col, row, t);
    }
    /* received mass per key position, for whole windows (pos0 = 0) */
    if (pos0 == 0) {
        float *r = a->recv + ((size_t)layer * a->H + head) * a->recv_cap; /* (P) */
        for (int j = 0; j < P; j++)
            r[j] = T - 1 - j >= QS_ATTN_TIE_MIN_ROWS ? (float)(col[j] / (T - 1 - j)) : -1.0f;
        if (P > a->recv_P) {
            /* a wider call than before in this window: older heads have no value there */
            for (int i = 0; i < a->L * a->H; i++)
                if (i != layer * a->H + head)
                    for (int j = a->recv_P; j < P; j++) a->recv[(size_t)i * a->recv_cap + j] = -1;
            a->recv_P = P;
        }
    }
    return QS_OK;
}

int qs_attnstats_tie(qs_attnstats *a, int position) {
    if (position < 0 || position >= a->recv_P) return QS_OK;
    for (int l = 0; l < a->L; l++)
        for (int h = 0; h < a->H; h++) {
            float m = a->recv[((size_t)l * a->H + h) * a->recv_cap + position];
            if (!(m >= a->threshold)) continue;
            a->n_found++;
            if (a->n_ties >= MAX_TIES) continue;
            if (!a->ties && !(a->ties = malloc(MAX_TIES * sizeof *a->ties)))
                return qs_error_set(QS_ERR_NOMEM, "attention: out of memory");
            int id = a->tokens && position < a->n_tokens ? a->tokens[position] : -1;
            a->ties[a->n_ties++] = (qs_attn_tie){a->window, position, id, l, h, m};
        }
    return QS_OK;
}

void qs_attnstats_head(const qs_attnstats *a, int layer, int head, qs_attn_head *out) {
    memset(out, 0, sizeof *out);
    const head_acc *h = &a->acc[(size_t)layer * a->H + head];
    if (h->rows == 0) return;
    out->rows = h->rows;
    out->entropy = h->sum_entropy / (double)h->rows;
    out->bos_mass = h->sum_bos / (double)h->rows;
    out->max_logit = h->max_logit;
    out->sink_position = 0;
    for (int k = 0; k < QS_ATTN_NPOS; k++) {
        out->mass_pos[k] = h->n_pos[k] ? h->sum_pos[k] / (double)h->n_pos[k] : 0.0;
        if (out->mass_pos[k] > out->sink_mass) {
            out->sink_mass = out->mass_pos[k];
            out->sink_position = k;
        }
    }
}

double qs_attnstats_sink_fraction(const qs_attnstats *a, int layer) {
    int n = 0;
    for (int h = 0; h < a->H; h++) {
        qs_attn_head s;
        qs_attnstats_head(a, layer, h, &s);
        n += s.rows > 0 && s.sink_mass >= a->threshold;
    }
    return (double)n / a->H;
}

int qs_attnstats_layers(const qs_attnstats *a) { return a->L; }
int qs_attnstats_heads(const qs_attnstats *a) { return a->H; }
double qs_attnstats_threshold(const qs_attnstats *a) { return a->threshold; }

const qs_attn_tie *qs_attnstats_ties(const qs_attnstats *a, int *n_kept, int64_t *n_found) {
    *n_kept = a->n_ties;
    *n_found = a->n_found;
    return a->ties;
}
