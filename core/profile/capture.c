/* The capture session: one hook call = one scan, one chanstats add, one tensorstats add,
 * the massive-token test, and the dumps. Letters: T tokens in the window, C channels. */
#include "capture.h"

#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "error.h"
#include "stats_worker.h"

typedef struct pair_stats {
    qs_chanstats *cs;
    qs_tensorstats *ts;
} pair_stats;

typedef struct dump {
    int site, layer;
    long want, have; /* the first `want` rows; `have` passed on so far */
    qs_capture_dump_fn fn;
    void *user;
} dump;

struct qs_capture {
    qs_config cfg;
    qs_capture_opts o;
    unsigned char *layers;   /* (L + 1) */
    pair_stats *pairs;       /* (QS_SITE_COUNT, L + 1) */
    qs_token_stat *scan;     /* (cap_T) */
    qs_outlier_token *found; /* (cap_T) */
    int cap_T;
    qs_capture_token *tokens; /* (max_token_outliers) */
    int n_tokens;
    int64_t n_tokens_found;
    dump dumps[QS_CAPTURE_MAX_DUMPS];
    int n_dumps;
    /* the current window */
    int window;
    const int *win_tokens;
    int win_n;
    unsigned char *win_massive; /* (cap_T) 1 = a massive token at that position */
    qs_attnstats *attn;         /* NULL when attention is not captured */
    int attn_error;
    int64_t n_seen;
    qs_stats_worker *worker; /* NULL: the statistics run in the hook */
    int had_worker;          /* a worker ran at some point: its slots count in the memory */
};

/* Jobs the worker may hold: enough that the forward rarely waits, each a (T, C) copy. */
#define WORKER_SLOTS 8

qs_capture_opts qs_capture_opts_default(void) {
    qs_capture_opts o;
    memset(&o, 0, sizeof o);
    o.site_mask = QS_SITE_ALL;
    o.layers = NULL;
    o.chan = qs_chanstats_config_default();
    o.outl = qs_outlier_config_default();
    o.outl.min_token_frac = o.chan.phi;
    o.max_token_outliers = QS_CAPTURE_MAX_TOKEN_OUTLIERS;
    o.whole_tensor = 1;
    o.attention = 1;
    o.sink_threshold = QS_ATTN_SINK_THRESHOLD;
    return o;
}

int qs_capture_site_layers(const qs_capture *c, int site) { return qs_site_layers(&c->cfg, site); }

int qs_capture_site_width(const qs_capture *c, int site) { return qs_site_width(&c->cfg, site); }

static pair_stats *pair_at(const qs_capture *c, int site, int layer) {
    if (site < 0 || site >= QS_SITE_COUNT || layer < 0 || layer >= qs_capture_site_layers(c, site))
        return NULL;
    return &c->pairs[(size_t)site * (c->cfg.n_layers + 1) + layer];
}

void qs_capture_free(qs_capture *c) {
    if (!c) return;
    qs_stats_worker_free(c->worker); /* first: it may still be adding to the pairs */
    if (c->pairs)
        for (int i = 0; i < QS_SITE_COUNT * (c->cfg.n_layers + 1); i++) {
            qs_chanstats_free(c->pairs[i].cs);
            qs_tensorstats_free(c->pairs[i].ts);
        }
    free(c->pairs);
    free(c->layers);
    free(c->scan);
    free(c->found);
    free(c->tokens);
    free(c->win_massive);
    qs_attnstats_free(c->attn);
    free(c);
}

int qs_capture_create(qs_capture **out, const qs_config *cfg, const qs_capture_opts *o) {
    *out = NULL;
    qs_capture_opts opt = o ? *o : qs_capture_opts_default();
    qs_outlier_config_resolve(&opt.outl, cfg->dim); /* the massive rule for this width */
    if (!(opt.site_mask & QS_SITE_ALL))
        return qs_error_set(QS_ERR_ARG, "capture: no site selected");
    if (opt.max_token_outliers < 0)
        return qs_error_set(QS_ERR_ARG, "capture: max_token_outliers %d < 0",
                            opt.max_token_outliers);
    const int L = cfg->n_layers;
    qs_capture *c = calloc(1, sizeof *c);
    if (!c) return qs_error_set(QS_ERR_NOMEM, "capture: out of memory");
    c->cfg = *cfg;
    c->o = opt;
    c->layers = malloc((size_t)L + 1);
    c->pairs = calloc((size_t)QS_SITE_COUNT * (L + 1), sizeof *c->pairs);
    c->tokens =
        malloc(sizeof *c->tokens * (size_t)(opt.max_token_outliers ? opt.max_token_outliers : 1));
    if (!c->layers || !c->pairs || !c->tokens) {
        qs_capture_free(c);
        return qs_error_set(QS_ERR_NOMEM, "capture: out of memory");
    }
    for (int l = 0; l <= L; l++) c->layers[l] = opt.layers ? opt.layers[l] != 0 : 1;
    c->o.layers = c->layers;
    int rc = QS_OK, n_pairs = 0;
    for (int s = 0; s < QS_SITE_COUNT && rc == QS_OK; s++) {
        if (!(opt.site_mask & QS_SITE_BIT(s))) continue;
        for (int l = 0; l < qs_capture_site_layers(c, s) && rc == QS_OK; l++) {
            if (!c->layers[l]) continue;
            pair_stats *p = pair_at(c, s, l);
            rc = qs_chanstats_create(&p->cs, qs_capture_site_width(c, s), &opt.chan);
            if (rc == QS_OK && opt.whole_tensor) rc = qs_tensorstats_create(&p->ts);
            n_pairs++;
        }
    }
    if (rc == QS_OK && opt.attention)
        rc = qs_attnstats_create(&c->attn, L, cfg->n_heads, cfg->bos_id, opt.sink_threshold);
    if (rc == QS_OK && n_pairs == 0)
        rc = qs_error_set(QS_ERR_ARG,
                          "the selected layers exist at none of the selected "
                          "sites (layer %d is only at resid)",
                          L);
    if (rc) {
        qs_capture_free(c);
        return qs_error_prefix(rc, "capture");
    }
    c->window = -1;
    *out = c;
    return QS_OK;
}

int qs_capture_add_dump(qs_capture *c, int site, int layer, long max_tokens, qs_capture_dump_fn fn,
                        void *user) {
    pair_stats *p = pair_at(c, site, layer);
    if (!p || !p->cs)
        return qs_error_set(QS_ERR_ARG, "dump %s layer %d: that site and layer are not captured",
                            qs_site_name(site), layer);
    if (max_tokens < 1 || !fn)
        return qs_error_set(QS_ERR_ARG, "dump %s layer %d: need max_tokens >= 1 and a sink",
                            qs_site_name(site), layer);
    if (c->n_dumps == QS_CAPTURE_MAX_DUMPS)
        return qs_error_set(QS_ERR_ARG, "dump: at most %d dumps", QS_CAPTURE_MAX_DUMPS);
    c->dumps[c->n_dumps++] = (dump){site, layer, max_tokens, 0, fn, user};
    return QS_OK;
}

void qs_capture_clear_dumps(qs_capture *c) { c->n_dumps = 0; }

/* Ties the window just run: every massive position, the heads that sink on it. */
static int flush_window(qs_capture *c) {
    int rc = QS_OK;
    if (c->attn && c->window >= 0 && c->win_massive)
        for (int t = 0; t < c->win_n && t < c->cap_T && rc == QS_OK; t++)
            if (c->win_massive[t]) rc = qs_attnstats_tie(c->attn, t);
    if (c->win_massive) memset(c->win_massive, 0, (size_t)c->cap_T);
    return rc;
}

int qs_capture_end(qs_capture *c) {
    int rc = c->worker ? qs_stats_worker_wait(c->worker) : QS_OK;
    int rc2 = flush_window(c);
    c->window = -1;
    return rc ? rc : rc2;
}

void qs_capture_window(qs_capture *c, int index, const int *tokens, int n) {
    /* the last window's jobs first: they read its tokens and mark its massive positions; a
     * failed one is reported again by the next push */
    if (c->worker) (void)qs_stats_worker_wait(c->worker);
    if (flush_window(c)) c->attn_error = 1; /* reported by the next hook call */
    if (c->attn && qs_attnstats_window(c->attn, index, tokens, n)) c->attn_error = 1;
    c->window = index;
    c->win_tokens = tokens;
    c->win_n = n;
    c->n_seen += n;
}

static int grow_scratch(qs_capture *c, int T) {
    if (T <= c->cap_T) return QS_OK;
    qs_token_stat *s = realloc(c->scan, sizeof *s * (size_t)T);
    if (s) c->scan = s;
    qs_outlier_token *f = realloc(c->found, sizeof *f * (size_t)T);
    if (f) c->found = f;
    unsigned char *m = realloc(c->win_massive, (size_t)T);
    if (m) {
        memset(m + c->cap_T, 0, (size_t)(T - c->cap_T));
        c->win_massive = m;
    }
    if (!s || !f || !m) return qs_error_set(QS_ERR_NOMEM, "capture: scratch for %d tokens", T);
    c->cap_T = T;
    return QS_OK;
}

static void record_tokens(qs_capture *c, int site, int layer, int n_found, int pos0) {
    for (int i = 0; i < n_found; i++) {
        c->n_tokens_found++;
        int t = (int)c->found[i].position - pos0;
        if (t >= 0 && t < c->cap_T) c->win_massive[t] = 1;
        if (c->n_tokens >= c->o.max_token_outliers) continue;
        const qs_outlier_token *f = &c->found[i];
        int pos = (int)f->position;
        qs_capture_token *r = &c->tokens[c->n_tokens++];
        r->site = site;
        r->layer = layer;
        r->window = c->window;
        r->position = pos;
        r->token_id = c->win_tokens && pos >= 0 && pos < c->win_n ? c->win_tokens[pos] : -1;
        r->channel = f->channel;
        r->value = f->value;
        r->ratio = f->ratio;
    }
}

static int run_dumps(qs_capture *c, int site, int layer, const float *x, int T, int C) {
    for (int i = 0; i < c->n_dumps; i++) {
        dump *d = &c->dumps[i];
        if (d->site != site || d->layer != layer) continue;
        int n = qs_site_rows_take(d->want, d->have, T);
        if (n == 0) continue;
        int rc = d->fn(d->user, site, layer, x, n, C);
        if (rc) return rc;
        d->have += n;
    }
    return QS_OK;
}

/* rc with the site, layer and window in front of its message. */
static int site_error(const qs_capture *c, int rc, int site, int layer) {
    return qs_error_prefix(rc, "blk.%d.%s, window %d", layer, qs_site_name(site), c->window);
}

/* The statistics of one site's window: in the hook, or on the worker (a qs_stats_job_fn). */
static int site_stats(void *user, int site, int layer, const float *x, int T, int C, int pos0) {
    qs_capture *c = user;
    pair_stats *p = pair_at(c, site, layer);
    int rc = grow_scratch(c, T);
    if (rc == QS_OK) rc = qs_tokenscan(c->scan, x, T, C);
    if (rc == QS_OK) rc = qs_chanstats_add_scan(p->cs, x, T, C, c->scan);
    if (rc == QS_OK && p->ts) rc = qs_tensorstats_add(p->ts, x, (int64_t)T * C);
    int n_found = 0;
    if (rc == QS_OK) rc = qs_outliers_tokens(c->found, &n_found, c->scan, T, pos0, &c->o.outl);
    if (rc == QS_OK) record_tokens(c, site, layer, n_found, pos0);
    return rc ? site_error(c, rc, site, layer) : QS_OK;
}

static int on_site(void *user, int site, int layer, float *x, int T, int C, int pos0) {
    qs_capture *c = user;
    if (c->attn_error) return qs_error_set(QS_ERR_NOMEM, "capture: out of memory for ties");
    pair_stats *p = pair_at(c, site, layer);
    if (!p || !p->cs) return QS_OK;
    int rc = c->worker ? qs_stats_worker_push(c->worker, site, layer, x, T, C, pos0)
                       : site_stats(c, site, layer, x, T, C, pos0);
    if (rc == QS_OK && (rc = run_dumps(c, site, layer, x, T, C)))
        return site_error(c, rc, site, layer);
    return rc;
}

int qs_capture_set_worker(qs_capture *c, int on) {
    if (!on) {
        int rc = c->worker ? qs_stats_worker_wait(c->worker) : QS_OK;
        qs_stats_worker_free(c->worker);
        c->worker = NULL;
        return rc;
    }
    if (c->worker) return QS_OK;
    int rc = qs_stats_worker_create(&c->worker, site_stats, c, WORKER_SLOTS);
    if (rc) return qs_error_prefix(rc, "capture");
    c->had_worker = 1;
    return QS_OK;
}

static int on_attention(void *user, int layer, int head, const float *p, const float *row_max,
                        const double *row_entropy, int T, int P, int pos0) {
    qs_capture *c = user;
    int rc = qs_attnstats_add(c->attn, layer, head, p, row_max, row_entropy, T, P, pos0);
    return rc ? qs_error_prefix(rc, "blk.%d attention head %d, window %d", layer, head, c->window)
              : QS_OK;
}

qs_hook qs_capture_hook(qs_capture *c) {
    qs_hook h = {on_site, c, c->o.site_mask & QS_SITE_ALL, c->attn ? on_attention : NULL};
    return h;
}

const struct qs_attnstats *qs_capture_attention(const qs_capture *c) { return c->attn; }

const qs_chanstats *qs_capture_chanstats(const qs_capture *c, int site, int layer) {
    pair_stats *p = pair_at(c, site, layer);
    return p ? p->cs : NULL;
}

const qs_tensorstats *qs_capture_tensorstats(const qs_capture *c, int site, int layer) {
    pair_stats *p = pair_at(c, site, layer);
    return p ? p->ts : NULL;
}

const qs_capture_token *qs_capture_tokens(const qs_capture *c, int *n_kept, int64_t *n_found) {
    if (n_kept) *n_kept = c->n_tokens;
    if (n_found) *n_found = c->n_tokens_found;
    return c->tokens;
}

int64_t qs_capture_token_count(const qs_capture *c) { return c->n_seen; }
const qs_capture_opts *qs_capture_get_opts(const qs_capture *c) { return &c->o; }

int64_t qs_capture_memory_bytes(const qs_capture *c, int max_T) {
    int64_t b = 0;
    for (int s = 0; s < QS_SITE_COUNT; s++)
        for (int l = 0; l < qs_capture_site_layers(c, s); l++) {
            const pair_stats *p = pair_at(c, s, l);
            if (!p->cs) continue;
            b += 96 * (int64_t)qs_capture_site_width(c, s) + 64;
            if (p->ts) b += 16 * 2000 + 8 * 2001 + 128;
        }
    b += (int64_t)(sizeof(qs_token_stat) + sizeof(qs_outlier_token)) * max_T;
    b += (int64_t)sizeof(qs_capture_token) * c->o.max_token_outliers;
    if (c->had_worker) {
        int widest = 0;
        for (int s = 0; s < QS_SITE_COUNT; s++)
            if ((c->o.site_mask & QS_SITE_BIT(s)) && qs_capture_site_width(c, s) > widest)
                widest = qs_capture_site_width(c, s);
        b += (int64_t)WORKER_SLOTS * max_T * widest * (int64_t)sizeof(float);
    }
    return b;
}
