/* profile/stats_worker and the capture's background statistics: jobs run in push order on
 * copies the producer may overwrite, a failed job's error comes back (with its message) by
 * the next push and by wait and stops the later jobs, free runs what is queued; and a
 * profile of a planted stories260K on two threads (statistics on the worker) equals the
 * one on one thread (in the hook) bit for bit: every chanstats column, every tensorstats
 * summary, the massive tokens and the attention ties. A NaN activation is reported through
 * the worker with the site, layer and element. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attention.h"
#include "capture.h"
#include "check.h"
#include "error.h"
#include "forward.h"
#include "plant.h"
#include "profile.h"
#include "stats_worker.h"
#include "text.h"
#include "windows.h"

#define MODEL    "data/models/stories260K.bin"
#define TEXT     "data/text/tinystories_v1_valid_head.txt"
#define N_TOKENS 4096

typedef struct job_log {
    int n_run, fail_at, slow_us;
    int site[256], layer[256], ok[256];
} job_log;

/* x (T, C) was filled with site·1000 + layer + t·C + c at push time */
static int log_job(void *user, int site, int layer, const float *x, int T, int C, int pos0) {
    job_log *g = user;
    if (g->slow_us) usleep((useconds_t)g->slow_us);
    int ok = pos0 == layer;
    for (int i = 0; i < T * C; i++) ok &= x[i] == (float)(site * 1000 + layer + i);
    g->site[g->n_run] = site;
    g->layer[g->n_run] = layer;
    g->ok[g->n_run] = ok;
    g->n_run++;
    if (g->n_run == g->fail_at) return qs_error_set(QS_ERR_NUMERIC, "job %d failed", g->n_run);
    return QS_OK;
}

static void fill(float *x, int site, int layer, int n) {
    for (int i = 0; i < n; i++) x[i] = (float)(site * 1000 + layer + i);
}

static void test_order_and_copies(void) {
    job_log g = {0};
    g.slow_us = 50; /* the producer outruns it: pushes wait for slots */
    qs_stats_worker *w;
    CHECK(qs_stats_worker_create(&w, log_job, &g, 3) == QS_OK);
    float x[40 * 7];
    int rc = QS_OK;
    for (int j = 0; j < 100 && rc == QS_OK; j++) {
        int T = 1 + j % 40, C = 1 + j % 7;
        fill(x, j % 5, j, T * C);
        rc = qs_stats_worker_push(w, j % 5, j, x, T, C, j);
        memset(x, 0xff, sizeof x); /* the worker has its own copy */
    }
    CHECK(rc == QS_OK);
    CHECK(qs_stats_worker_memory_bytes(w) <= 3 * 40 * 7 * (int64_t)sizeof(float));
    CHECK(qs_stats_worker_wait(w) == QS_OK);
    CHECK(g.n_run == 100);
    int in_order = 1;
    for (int j = 0; j < g.n_run; j++) in_order &= g.site[j] == j % 5 && g.layer[j] == j && g.ok[j];
    CHECK(in_order);
    /* free runs what is still queued */
    g.n_run = 0;
    for (int j = 0; j < 3; j++) {
        fill(x, 1, j, 4);
        CHECK(qs_stats_worker_push(w, 1, j, x, 2, 2, j) == QS_OK);
    }
    qs_stats_worker_free(w);
    CHECK(g.n_run == 3);
    CHECK(qs_stats_worker_create(&w, NULL, &g, 3) == QS_ERR_ARG && w == NULL);
    CHECK(qs_stats_worker_create(&w, log_job, &g, 0) == QS_ERR_ARG);
}

static void test_job_error(void) {
    job_log g = {0};
    g.fail_at = 5;
    qs_stats_worker *w;
    CHECK(qs_stats_worker_create(&w, log_job, &g, 2) == QS_OK);
    float x[4];
    int rc = QS_OK, pushed = 0;
    for (int j = 0; j < 50 && rc == QS_OK; j++) {
        fill(x, 0, j, 4);
        if ((rc = qs_stats_worker_push(w, 0, j, x, 2, 2, j)) == QS_OK) pushed++;
        usleep(200);
    }
    CHECK(rc == QS_ERR_NUMERIC);
    CHECK_MSG(strstr(qs_error_message(), "job 5 failed") != NULL, "%s", qs_error_message());
    qs_error_clear();
    CHECK(qs_stats_worker_wait(w) == QS_ERR_NUMERIC);
    CHECK(strstr(qs_error_message(), "job 5 failed") != NULL);
    CHECK_MSG(g.n_run == 5, "%d jobs ran after the failure", g.n_run - 5); /* later ones skipped */
    CHECK(pushed >= 5 && pushed < 50);
    qs_stats_worker_free(w);
}

/* Everything a capture accumulated, as bytes, in a fixed order. */
typedef struct blob {
    unsigned char *b;
    size_t n, cap;
} blob;

static void put(blob *o, const void *p, size_t n) {
    if (o->n + n > o->cap) { /* doubling: 100,000 token records go in field by field */
        o->cap = 2 * (o->n + n);
        o->b = realloc(o->b, o->cap);
        QS_ASSERT(o->b);
    }
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

static blob snapshot(const qs_capture *c) {
    blob o = {0};
    for (int s = 0; s < QS_SITE_COUNT; s++)
        for (int l = 0; l < qs_capture_site_layers(c, s); l++) {
            const qs_chanstats *cs = qs_capture_chanstats(c, s, l);
            int C = qs_capture_site_width(c, s);
            double *col = malloc(sizeof(double) * (size_t)C);
            for (int f = 0; f < QS_CHANSTATS_FIELD_COUNT; f++) {
                qs_chanstats_column(cs, f, col);
                put(&o, col, sizeof(double) * (size_t)C);
            }
            free(col);
            qs_tensorstats_summary ts;
            memset(&ts, 0, sizeof ts);
            qs_tensorstats_summarize(qs_capture_tensorstats(c, s, l), &ts);
            put(&o, &ts, sizeof ts);
        }
    int kept;
    int64_t found;
    const qs_capture_token *tok = qs_capture_tokens(c, &kept, &found);
    put(&o, &found, sizeof found);
    for (int i = 0; i < kept; i++) {
        const qs_capture_token *t = &tok[i];
        int ints[6] = {t->site, t->layer, t->window, t->position, t->token_id, t->channel};
        put(&o, ints, sizeof ints);
        put(&o, &t->value, sizeof t->value);
        put(&o, &t->ratio, sizeof t->ratio);
    }
    const qs_attn_tie *ties = qs_attnstats_ties(qs_capture_attention(c), &kept, &found);
    put(&o, &found, sizeof found);
    for (int i = 0; i < kept; i++) { /* member by member: padding is not compared */
        const qs_attn_tie *t = &ties[i];
        int ints[5] = {t->window, t->position, t->token_id, t->layer, t->head};
        put(&o, ints, sizeof ints);
        put(&o, &t->mass, sizeof t->mass);
    }
    return o;
}

static blob profile(const qs_model *m, const qs_windows *ws, int threads, int64_t *n_tokens) {
    omp_set_num_threads(threads);
    qs_capture *c;
    qs_capture_opts o = qs_capture_opts_default();
    o.outl.massive_rule = QS_MASSIVE_CUSTOM; /* the planted channel makes massive tokens */
    o.outl.massive_abs = 0.0;
    o.outl.massive_ratio = 5.0;
    QS_ASSERT(qs_capture_create(&c, &m->cfg, &o) == QS_OK);
    qs_profile_info info;
    CHECK(qs_profile_run(c, m, ws, N_TOKENS, &info) == QS_OK);
    int kept;
    qs_capture_tokens(c, &kept, n_tokens);
    blob b = snapshot(c);
    qs_capture_free(c);
    return b;
}

static void test_same_results(const qs_model *m, const qs_windows *ws) {
    qs_forward_state st;
    QS_ASSERT(qs_forward_init(&st, m, 256, 256) == QS_OK);
    omp_set_num_threads(2);
    CHECK(qs_forward_idle_cores(&st, 256) == 1); /* so profile() on 2 threads uses the worker */
    omp_set_num_threads(1);
    CHECK(qs_forward_idle_cores(&st, 256) == 0);
    qs_forward_free(&st);
    int64_t n1, n2;
    blob a = profile(m, ws, 1, &n1), b = profile(m, ws, 2, &n2);
    printf("%lld massive tokens, %zu bytes of statistics compared\n", (long long)n1, a.n);
    CHECK(n1 > 0 && n1 == n2);
    CHECK(a.n == b.n && memcmp(a.b, b.b, a.n) == 0);
    free(a.b);
    free(b.b);
}

static void test_nan_through_worker(const qs_model *m) {
    qs_capture *c;
    enum { T = 9 };
    QS_ASSERT(qs_capture_create(&c, &m->cfg, NULL) == QS_OK);
    int64_t bytes = qs_capture_memory_bytes(c, T);
    CHECK(qs_capture_set_worker(c, 1) == QS_OK);
    /* its 8 slots of the widest site, ffn_down_in */
    CHECK(qs_capture_memory_bytes(c, T) == bytes + 8 * T * m->cfg.hidden_dim * 4);
    qs_hook h = qs_capture_hook(c);
    const int C = m->cfg.dim;
    float *x = calloc((size_t)T * C, sizeof *x);
    for (int i = 0; i < T * C; i++) x[i] = (float)(i % 13) - 6.0f;
    int tok[T] = {0};
    qs_capture_window(c, 0, tok, T);
    CHECK(h.fn(h.user, QS_SITE_FFN_IN, 0, x, T, C, 0) == QS_OK);
    x[3 * C + 5] = NAN;
    CHECK(h.fn(h.user, QS_SITE_FFN_IN, 1, x, T, C, 0) == QS_OK); /* queued: found later */
    int rc = qs_capture_end(c);
    CHECK(rc == QS_ERR_NUMERIC);
    CHECK_MSG(strstr(qs_error_message(), "blk.1.ffn_in") && strstr(qs_error_message(), "t=3, c=5"),
              "%s", qs_error_message());
    CHECK(h.fn(h.user, QS_SITE_FFN_IN, 2, x, T, C, 0) == QS_ERR_NUMERIC); /* and again */
    CHECK(qs_chanstats_count(qs_capture_chanstats(c, QS_SITE_FFN_IN, 0)) == T);
    CHECK(qs_chanstats_count(qs_capture_chanstats(c, QS_SITE_FFN_IN, 1)) == 0);
    CHECK(qs_capture_set_worker(c, 0) == QS_ERR_NUMERIC);
    qs_capture_free(c);
    free(x);
}

int main(void) {
    test_order_and_copies();
    test_job_error();
    qs_model *m = NULL;
    QS_ASSERT(qs_model_load(&m, MODEL, NULL) == QS_OK);
    qs_plant_spec p = {QS_SITE_FFN_DOWN_IN, 2, 100, 100.0};
    QS_ASSERT(qs_plant_apply(m, &p, 1) == QS_OK);
    qs_text text;
    QS_ASSERT(qs_text_load(&text, TEXT, QS_UTF8_STRICT) == QS_OK);
    qs_window_opts wo;
    qs_window_opts_default(&wo);
    wo.ctx = 256;
    qs_windows ws;
    QS_ASSERT(qs_windows_build(&ws, m->tok, text.data, text.len, &wo) == QS_OK);
    test_same_results(m, &ws);
    test_nan_through_worker(m);
    qs_windows_free(&ws);
    qs_text_free(&text);
    qs_model_free(m);
    return check_summary("test_stats_worker");
}
