/* The reconstruction sweep as a distributed job (dist_jobs.h): one item per row, that is
 * per (weight matrix or activation site × layer, configuration), enumerated in the order
 * qs_sweep_weights and qs_sweep_activations write them. An item is the sweep of one
 * configuration on one matrix (qs_sweep_matrix with a one-configuration list), so its row
 * is the row the plain sweep writes, bit for bit. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist_int.h"
#include "dist_jobs.h"
#include "error.h"

typedef struct sweep_item {
    unsigned char act;                /* 0: a weight matrix, 1: activations */
    unsigned char site, mat;          /* the site; which of its weights (0..2) */
    unsigned char ib, is, ig, ic;     /* the configuration: indices into the option lists */
    int layer;
} sweep_item;

typedef struct sweep_job {
    qs_dist_job job;
    const qs_model *m;
    const qs_windows *ws;
    qs_sweep_opts o;
    sweep_item *items;
    qs_sweep_capture cap; /* this rank's activations, captured at the first activation item */
    int captured;
    char *params, *spec;
} sweep_job;

static const char *const sweep_keys[] = {"target", "tensor",      "layer", "bits",
                                         "scheme", "granularity", "group", "clip",
                                         "clip_value", NULL};

/* The options of one item: every list cut to its one configuration. */
static qs_sweep_opts one_config(const qs_sweep_opts *o, const sweep_item *it) {
    qs_sweep_opts one = *o;
    one.n_bits = one.n_schemes = one.n_grans = one.n_clips = 1;
    one.bits[0] = o->bits[it->ib];
    one.schemes[0] = o->schemes[it->is];
    one.grans[0] = o->grans[it->ig];
    one.groups[0] = o->groups[it->ig];
    one.clips[0] = o->clips[it->ic];
    one.percentiles[0] = o->percentiles[it->ic];
    return one;
}

typedef struct emit_ctx {
    qs_dist_emit_fn emit;
    void *ctx;
} emit_ctx;

static int on_row(void *user, const qs_sweep_row *r) {
    emit_ctx *e = user;
    return e->emit(e->ctx, r);
}

static int sweep_compute(qs_dist_job *j, int item, qs_dist_emit_fn emit, void *ctx) {
    sweep_job *s = j->state;
    const sweep_item *it = &s->items[item];
    qs_sweep_opts one = one_config(&s->o, it);
    emit_ctx e = {emit, ctx};
    if (!it->act) return qs_sweep_weight(s->m, it->site, it->layer, it->mat, &one, on_row, &e);
    if (!s->captured) {
        int rc = s->ws ? qs_sweep_capture_run(&s->cap, s->m, s->ws, s->o.site_mask, s->o.tokens)
                       : qs_error_set(QS_ERR_ARG, "sweep: activations need a text");
        if (rc) {
            qs_sweep_capture_free(&s->cap);
            return rc;
        }
        s->captured = 1;
    }
    const qs_sweep_capture *c = &s->cap;
    const float *x = c->x[it->site] + (size_t)it->layer * c->tokens * c->cols[it->site];
    return qs_sweep_matrix(x, (int)c->rows[it->site], c->cols[it->site], "activation",
                           qs_site_name(it->site), it->layer, &one, on_row, &e);
}

static void sweep_item_row(const qs_dist_job *j, int item, void *row) {
    const sweep_job *s = j->state;
    const sweep_item *it = &s->items[item];
    qs_sweep_row *r = row;
    r->target = it->act ? "activation" : "weight";
    if (it->act) {
        snprintf(r->tensor, sizeof r->tensor, "%s", qs_site_name(it->site));
    } else {
        const char *nm[3] = {0};
        int n = qs_sweep_weight_names(s->m, it->site, it->layer, nm);
        snprintf(r->tensor, sizeof r->tensor, "%s", it->mat < n ? nm[it->mat] : "?");
    }
    r->layer = it->layer;
    int fixed = qs_quant_traits_of(s->o.schemes[it->is])->fixed_bits;
    r->bits = fixed ? fixed : s->o.bits[it->ib];
    r->scheme = s->o.schemes[it->is];
    r->gran = s->o.grans[it->ig];
    r->group = r->gran == QS_SWEEP_GROUP ? s->o.groups[it->ig] : 0;
    r->clip = s->o.clips[it->ic];
    r->clip_value = r->clip == QS_QUANT_PERCENTILE ? s->o.percentiles[it->ic] : 0;
}

static void sweep_fields(const qs_dist_job *j, const void *row, qs_field *f) {
    (void)j;
    qs_sweep_row_fields(row, f);
}

/* The target is a pointer to one of two static strings: it travels as 1 or 2. */
static void sweep_pack(void *row) {
    qs_sweep_row *r = row;
    r->target = (const char *)(uintptr_t)(r->target && strcmp(r->target, "weight") == 0 ? 1 : 2);
}

static void sweep_unpack(void *row) {
    qs_sweep_row *r = row;
    r->target = (uintptr_t)r->target == 1 ? "weight" : "activation";
}

static void sweep_destroy(qs_dist_job *j) {
    sweep_job *s = j->state;
    qs_sweep_capture_free(&s->cap);
    free(s->items);
    free(s->params);
    free(s->spec);
    free(s);
}

/* ---- description --------------------------------------------------------------------- */

/* The option lists as the parsers read them. */
static void lists(const qs_sweep_opts *o, char *bits, char *schemes, char *grans, char *clips,
                  size_t n) {
    bits[0] = schemes[0] = grans[0] = clips[0] = '\0';
    for (int i = 0; i < o->n_bits; i++)
        snprintf(bits + strlen(bits), n - strlen(bits), "%s%d", i ? "," : "", o->bits[i]);
    for (int i = 0; i < o->n_schemes; i++)
        snprintf(schemes + strlen(schemes), n - strlen(schemes), "%s%s", i ? "," : "",
                 qs_quant_scheme_name(o->schemes[i]));
    for (int i = 0; i < o->n_grans; i++) {
        size_t k = strlen(grans);
        if (o->grans[i] == QS_SWEEP_GROUP)
            snprintf(grans + k, n - k, "%sgroup:%d", i ? "," : "", o->groups[i]);
        else
            snprintf(grans + k, n - k, "%s%s", i ? "," : "", qs_sweep_gran_name(o->grans[i]));
    }
    for (int i = 0; i < o->n_clips; i++) {
        size_t k = strlen(clips);
        if (o->clips[i] == QS_QUANT_PERCENTILE)
            snprintf(clips + k, n - k, "%spercentile:%.17g", i ? "," : "", o->percentiles[i]);
        else
            snprintf(clips + k, n - k, "%s%s", i ? "," : "", qs_quant_clip_name(o->clips[i]));
    }
}

/* {"kind": "sweep", "source": ..., "sweep": {...}}; grid lists only with paths (a spec). */
static char *describe(const qs_sweep_opts *o, const qs_dist_source *src, int paths) {
    cJSON *j = cJSON_CreateObject(), *s = NULL;
    int ok = j && cJSON_AddStringToObject(j, "kind", "sweep");
    if (ok && src) {
        cJSON *x = qs__dist_source_json(src, paths);
        ok = x && cJSON_AddItemToObject(j, "source", x);
    }
    ok = ok && (s = cJSON_AddObjectToObject(j, "sweep"));
    if (ok && paths) {
        char b[1024], sc[1024], g[1024], c[1024];
        lists(o, b, sc, g, c, sizeof b);
        ok = cJSON_AddStringToObject(s, "bits", b) && cJSON_AddStringToObject(s, "scheme", sc) &&
             cJSON_AddStringToObject(s, "gran", g) && cJSON_AddStringToObject(s, "clip", c);
    }
    ok = ok && cJSON_AddNumberToObject(s, "sites", o->site_mask) &&
         cJSON_AddNumberToObject(s, "weights", o->weights) &&
         cJSON_AddNumberToObject(s, "activations", o->activations) &&
         cJSON_AddNumberToObject(s, "tokens", (double)o->tokens) &&
         cJSON_AddNumberToObject(s, "fp32_scales", o->fp32_scales) &&
         cJSON_AddNumberToObject(s, "decompose", o->decompose);
    if (!ok) {
        cJSON_Delete(j);
        if (qs_error_message()[0] == '\0') qs_error_set(QS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return qs__dist_json_take(j);
}

/* ---- the job -------------------------------------------------------------------------- */

static int push(sweep_job *s, int *cap, sweep_item it) {
    if (s->job.n_items == *cap) {
        int c = *cap ? 2 * *cap : 256;
        sweep_item *v = realloc(s->items, (size_t)c * sizeof *v);
        if (!v) return qs_error_set(QS_ERR_NOMEM, "out of memory for the sweep's items");
        s->items = v;
        *cap = c;
    }
    s->items[s->job.n_items++] = it;
    return QS_OK;
}

/* Every configuration of the lists for one matrix, in qs_sweep_matrix's order. */
static int push_configs(sweep_job *s, int *cap, sweep_item it) {
    const qs_sweep_opts *o = &s->o;
    int rc = QS_OK;
    for (int ib = 0; ib < o->n_bits && rc == QS_OK; ib++)
        for (int is = 0; is < o->n_schemes && rc == QS_OK; is++)
            for (int ig = 0; ig < o->n_grans && rc == QS_OK; ig++)
                for (int ic = 0; ic < o->n_clips && rc == QS_OK; ic++) {
                    /* a format fixes its bits: one item per format, at the first bit width */
                    if (qs_quant_traits_of(o->schemes[is])->fixed_bits && ib > 0) continue;
                    it.ib = (unsigned char)ib, it.is = (unsigned char)is;
                    it.ig = (unsigned char)ig, it.ic = (unsigned char)ic;
                    rc = push(s, cap, it);
                }
    return rc;
}

int qs_dist_sweep_job(qs_dist_job **out, const qs_model *m, const qs_windows *ws,
                      const qs_sweep_opts *o, const qs_dist_source *src) {
    *out = NULL;
    sweep_job *s = calloc(1, sizeof *s);
    if (!s) return qs_error_set(QS_ERR_NOMEM, "out of memory");
    s->m = m;
    s->ws = ws;
    s->o = *o;
    qs_dist_job *j = &s->job;
    *j = (qs_dist_job){.kind = "sweep",
                       .row_size = sizeof(qs_sweep_row),
                       .compute = sweep_compute,
                       .item_row = sweep_item_row,
                       .fields = sweep_fields,
                       .n_fields = QS_SWEEP_NFIELDS,
                       .key_columns = sweep_keys,
                       .pack = sweep_pack,
                       .unpack = sweep_unpack,
                       .state = s,
                       .destroy = sweep_destroy};
    int rc = QS_OK, cap = 0;
    if (o->weights)
        for (int l = 0; l < m->cfg.n_layers && rc == QS_OK; l++)
            for (int site = 0; site < QS_SITE_COUNT && rc == QS_OK; site++) {
                if (!(o->site_mask & QS_SITE_BIT(site))) continue;
                const char *nm[3];
                int n = qs_sweep_weight_names(m, site, l, nm);
                for (int i = 0; i < n && rc == QS_OK; i++)
                    rc = push_configs(s, &cap, (sweep_item){0, (unsigned char)site,
                                                            (unsigned char)i, 0, 0, 0, 0, l});
            }
    if (o->activations && ws)
        for (int site = 0; site < QS_SITE_COUNT && rc == QS_OK; site++) {
            if (!(o->site_mask & QS_SITE_ALL & QS_SITE_BIT(site))) continue;
            int nl = site == QS_SITE_RESID ? m->cfg.n_layers + 1 : m->cfg.n_layers;
            for (int l = 0; l < nl && rc == QS_OK; l++)
                rc = push_configs(s, &cap, (sweep_item){1, (unsigned char)site, 0, 0, 0, 0, 0, l});
        }
    if (rc == QS_OK && !(s->params = describe(o, src, 0))) rc = QS_ERR_NOMEM;
    if (rc == QS_OK && src && !(s->spec = describe(o, src, 1))) rc = QS_ERR_NOMEM;
    if (rc) {
        sweep_destroy(j);
        return rc;
    }
    j->params = s->params;
    j->spec = s->spec;
    *out = j;
    return QS_OK;
}

void qs_dist_job_free(qs_dist_job *j) {
    if (j && j->destroy) j->destroy(j);
}
