/* Attention statistics (core/profile/attention.c) on hand-made probabilities whose means,
 * entropies and sinks are worked out below, and the forward's attention callback on the
 * shipped model: every row is a causal distribution and every layer × head is shown once. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "check.h"
#include "elementwise.h"
#include "error.h"
#include "forward.h"
#include "model.h"

static double ent(const double *p, int n) {
    double e = 0;
    for (int i = 0; i < n; i++)
        if (p[i] > 0) e -= p[i] * log(p[i]);
    return e;
}

static void test_hand(void) {
    enum { T = 4 };
    /* (T, P) causal rows; row 0 attends only to itself */
    static const float p[T * T] = {1,    0,    0,    0, 0.8f, 0.2f, 0,    0,
                                   0.6f, 0.2f, 0.2f, 0, 0.7f, 0.1f, 0.1f, 0.1f};
    static const float mx[T] = {1.5f, 2.0f, 9.0f, -1.0f};
    static const int tokens[T] = {1, 5, 1, 7}; /* BOS (id 1) at 0 and 2 */
    qs_attnstats *a;
    CHECK(qs_attnstats_create(&a, 2, 2, 1, 0.5) == QS_OK);
    CHECK(qs_attnstats_window(a, 0, tokens, T) == QS_OK);
    CHECK(qs_attnstats_add(a, 1, 0, p, mx, NULL, T, T, 0) == QS_OK);
    qs_attn_head s;
    qs_attnstats_head(a, 1, 0, &s);
    CHECK(s.rows == 3);
    CHECK_NEAR(s.mass_pos[0], (0.8 + 0.6 + 0.7) / 3, 1e-7);
    CHECK_NEAR(s.mass_pos[1], (0.2 + 0.2 + 0.1) / 3, 1e-7);
    CHECK_NEAR(s.mass_pos[2], (0.2 + 0.1) / 2, 1e-7); /* rows 2 and 3 see position 2 */
    CHECK_NEAR(s.mass_pos[3], 0.1, 1e-7);
    CHECK(s.sink_position == 0 && fabs(s.sink_mass - 0.7) < 1e-7);
    CHECK_NEAR(s.bos_mass, (0.8 + (0.6 + 0.2) + (0.7 + 0.1)) / 3, 1e-7);
    double r1[] = {0.8, 0.2}, r2[] = {0.6, 0.2, 0.2}, r3[] = {0.7, 0.1, 0.1, 0.1};
    CHECK_NEAR(s.entropy, (ent(r1, 2) + ent(r2, 3) + ent(r3, 4)) / 3, 1e-6);
    CHECK(s.max_logit == 9.0);
    CHECK(qs_attnstats_sink_fraction(a, 1) == 0.5); /* head 1 has no rows: not a sink */
    CHECK(qs_attnstats_sink_fraction(a, 0) == 0.0);
    qs_attnstats_head(a, 0, 1, &s);
    CHECK(s.rows == 0 && s.sink_mass == 0);
    /* too few later rows for a tie */
    CHECK(qs_attnstats_tie(a, 0) == QS_OK);
    int n;
    int64_t found;
    qs_attnstats_ties(a, &n, &found);
    CHECK(n == 0 && found == 0);
    CHECK(qs_attnstats_add(a, 2, 0, p, mx, NULL, T, T, 0) == QS_ERR_ARG);
    qs_attnstats_free(a);
    CHECK(qs_attnstats_create(&a, 1, 1, -1, 1.5) == QS_ERR_ARG);
}

/* A long window where head 1 of layer 0 sinks on position 3: the tie finds it. */
static void test_tie(void) {
    enum { T = 40 };
    float *p = calloc(T * T, sizeof *p), mx[T] = {0};
    for (int t = 0; t < T; t++)
        for (int j = 0; j <= t; j++) /* 0.9 on position 3 once visible, the rest spread */
            p[t * T + j] = t >= 3 ? (j == 3 ? 0.9f : 0.1f / t) : 1.0f / (t + 1);
    int tokens[T];
    for (int t = 0; t < T; t++) tokens[t] = 10 + t;
    qs_attnstats *a;
    CHECK(qs_attnstats_create(&a, 1, 2, -1, 0.5) == QS_OK);
    CHECK(qs_attnstats_window(a, 7, tokens, T) == QS_OK);
    CHECK(qs_attnstats_add(a, 0, 1, p, mx, NULL, T, T, 0) == QS_OK);
    for (int i = 0; i < T * T; i++) p[i] = 0;
    for (int t = 0; t < T; t++) p[t * T + t] = 1.0f; /* head 0: each token attends to itself */
    CHECK(qs_attnstats_add(a, 0, 0, p, mx, NULL, T, T, 0) == QS_OK);
    CHECK(qs_attnstats_tie(a, 3) == QS_OK && qs_attnstats_tie(a, 5) == QS_OK);
    int n;
    int64_t found;
    const qs_attn_tie *t = qs_attnstats_ties(a, &n, &found);
    CHECK(n == 1 && found == 1);
    CHECK(t[0].window == 7 && t[0].position == 3 && t[0].token_id == 13 && t[0].layer == 0 &&
          t[0].head == 1 && fabs(t[0].mass - 0.9) < 1e-6);
    qs_attn_head s;
    qs_attnstats_head(a, 0, 0, &s);
    CHECK(s.entropy == 0.0); /* one key per row */
    qs_attnstats_free(a);
    free(p);
}

typedef struct seen {
    int calls, bad_rows, L, H;
    unsigned char *once; /* (L, H) */
} seen;

/* every row: a distribution over its visible keys, zeros past them, a finite max, and the
 * entropy the softmax gave within 1e-6 of −Σ p log p computed apart (qs_entropy) */
static int on_attn(void *user, int layer, int head, const float *p, const float *row_max,
                   const double *row_entropy, int T, int P, int pos0) {
    seen *s = user;
    s->calls++;
    if (layer >= 0 && layer < s->L && head >= 0 && head < s->H) s->once[layer * s->H + head]++;
    for (int t = 0; t < T; t++) {
        double sum = 0;
        for (int j = 0; j < P; j++) {
            if (j > pos0 + t && p[(size_t)t * P + j] != 0.0f) s->bad_rows++;
            sum += p[(size_t)t * P + j];
        }
        if (fabs(sum - 1.0) > 1e-5 || !isfinite(row_max[t])) s->bad_rows++;
        double h = qs_entropy(p + (size_t)t * P, pos0 + t + 1);
        if (!row_entropy || !(fabs(row_entropy[t] - h) <= 1e-6)) s->bad_rows++;
    }
    return QS_OK;
}

static void test_forward(void) {
    qs_model *m;
    CHECK(qs_model_load(&m, "data/models/stories260K.bin", NULL) == QS_OK);
    if (!m) return;
    const qs_config *c = &m->cfg;
    int tok[32];
    for (int t = 0; t < 32; t++) tok[t] = (t * 37 + 1) % c->vocab_size;
    seen s = {0, 0, c->n_layers, c->n_heads, calloc((size_t)c->n_layers * c->n_heads, 1)};
    qs_hook h = {NULL, &s, 0, on_attn};
    qs_forward_state st;
    CHECK(qs_forward_init(&st, m, 32, 32) == QS_OK);
    CHECK(qs_forward(&st, tok, 32, 0, NULL, 0, &h) == QS_OK);
    CHECK(s.calls == c->n_layers * c->n_heads && s.bad_rows == 0);
    int all_once = 1;
    for (int i = 0; i < c->n_layers * c->n_heads; i++) all_once &= s.once[i] == 1;
    CHECK(all_once);
    qs_forward_free(&st);
    free(s.once);
    qs_model_free(m);
}

int main(void) {
    test_hand();
    test_tie();
    test_forward();
    return check_summary("test_attention");
}
