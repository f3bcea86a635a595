/* The quantized evaluation of a list of configs as a distributed job (dist_jobs.h): one
 * item per (config, scope), each one qs_eval on the same windows. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist_int.h"
#include "dist_jobs.h"
#include "error.h"
#include "result_tables.h"
#include "sha256.h"

typedef struct eval_item {
    int config; /* index into the configs */
    int part;   /* -1: the whole config; else the site or layer of the attribution */
} eval_item;

typedef struct eval_job {
    qs_dist_job job;
    const qs_model *m;
    const qs_windows *ws, *calib;
    int n_configs, by_site;
    qs_quant_config *cfg; /* (n_configs) */
    char (*names)[256];   /* (n_configs) canonical */
    eval_item *items;
    char *params, *spec;
} eval_job;

static const char *const eval_keys[] = {"config", "scope", NULL};

static void scope_of(const eval_job *e, const eval_item *it, char *buf, size_t n) {
    if (it->part < 0)
        snprintf(buf, n, "all");
    else if (e->by_site)
        snprintf(buf, n, "site:%s", qs_site_name(it->part));
    else
        snprintf(buf, n, "layer:%d", it->part);
}

static void eval_item_row(const qs_dist_job *j, int item, void *row) {
    const eval_job *e = j->state;
    const eval_item *it = &e->items[item];
    qs_dist_eval_row *r = row;
    snprintf(r->config, sizeof r->config, "%s", e->names[it->config]);
    scope_of(e, it, r->scope, sizeof r->scope);
    /* the names were formatted once when the job was made: this cannot fail */
    qs_restable_side_names(r->w_config, r->a_config, sizeof r->w_config, &e->cfg[it->config]);
}

static int eval_compute(qs_dist_job *j, int item, qs_dist_emit_fn emit, void *ctx) {
    eval_job *e = j->state;
    const eval_item *it = &e->items[item];
    qs_dist_eval_row *r = calloc(1, sizeof *r);
    if (!r) return qs_error_set(QS_ERR_NOMEM, "out of memory");
    eval_item_row(j, item, r);
    qs_quant_config one = e->cfg[it->config];
    unsigned mask = QS_SITE_ALL;
    if (it->part >= 0)
        qs_eval_attribution_config(&one, &mask, &e->cfg[it->config], e->by_site, it->part);
    int rc = qs_eval(e->m, e->ws, &one, mask, e->calib, &r->r);
    if (rc == QS_ERR_NOMEM) {
        free(r);
        return rc;
    }
    if (rc) {
        /* this config cannot run here: a row that says why, and the loop goes on */
        snprintf(r->error, sizeof r->error, "%s", qs_error_message());
        memset(&r->r, 0, sizeof r->r);
    }
    rc = emit(ctx, r);
    free(r);
    return rc;
}

static void eval_fields(const qs_dist_job *j, const void *row, qs_field *f) {
    (void)j;
    const qs_dist_eval_row *r = row;
    qs_restable_ppl_fields(f, r->w_config, r->a_config, r->config, r->scope, &r->r);
}

static const char *eval_failed(const void *row) { return ((const qs_dist_eval_row *)row)->error; }

static void eval_destroy(qs_dist_job *j) {
    eval_job *e = j->state;
    free(e->cfg);
    free(e->names);
    free(e->items);
    free(e->params);
    free(e->spec);
    free(e);
}

/* {"kind": "eval", "source": ..., "eval": {"attribute", "calib": {...}, "configs" (spec)}} */
static char *describe(const eval_job *e, const char *attribute, const qs_dist_calib *cal,
                      const qs_dist_source *src, int paths) {
    cJSON *j = cJSON_CreateObject(), *o = NULL, *c = NULL;
    int ok = j && cJSON_AddStringToObject(j, "kind", "eval");
    if (ok && src) {
        cJSON *x = qs__dist_source_json(src, paths);
        ok = x && cJSON_AddItemToObject(j, "source", x);
    }
    ok = ok && (o = cJSON_AddObjectToObject(j, "eval")) &&
         cJSON_AddStringToObject(o, "attribute", attribute ? attribute : "") &&
         (c = cJSON_AddObjectToObject(o, "calib"));
    if (ok && cal && cal->text_path) {
        if (paths) {
            ok = cJSON_AddStringToObject(c, "text", cal->text_path) != NULL;
        } else {
            char hex[QS_SHA256_HEX_LEN + 1];
            ok = qs_sha256_file(cal->text_path, hex) == QS_OK &&
                 cJSON_AddStringToObject(c, "text_sha256", hex);
        }
        ok = ok && cJSON_AddNumberToObject(c, "utf8", cal->utf8_policy);
    }
    ok = ok && cJSON_AddNumberToObject(c, "windows", cal ? cal->windows : 0) &&
         cJSON_AddNumberToObject(c, "from_text", cal ? cal->from_text : 0);
    if (ok && paths) {
        cJSON *list = cJSON_AddArrayToObject(o, "configs");
        ok = list != NULL;
        for (int i = 0; ok && i < e->n_configs; i++) {
            cJSON *s = cJSON_CreateString(e->names[i]);
            ok = s && cJSON_AddItemToArray(list, s);
        }
    }
    if (!ok) {
        cJSON_Delete(j);
        if (qs_error_message()[0] == '\0') qs_error_set(QS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return qs__dist_json_take(j);
}

int qs_dist_eval_job(qs_dist_job **out, const qs_model *m, const qs_windows *ws,
                     const char *const *configs, int n_configs, const char *attribute,
                     const qs_windows *calib, const qs_dist_calib *cal,
                     const qs_dist_source *src) {
    *out = NULL;
    if (attribute && !*attribute) attribute = NULL;
    if (attribute && strcmp(attribute, "sites") && strcmp(attribute, "layers"))
        return qs_error_set(QS_ERR_ARG, "attribute '%s' must be sites or layers", attribute);
    if (n_configs < 1) return qs_error_set(QS_ERR_ARG, "no config to evaluate");
    eval_job *e = calloc(1, sizeof *e);
    if (!e) return qs_error_set(QS_ERR_NOMEM, "out of memory");
    e->m = m;
    e->ws = ws;
    e->calib = calib;
    e->n_configs = n_configs;
    e->by_site = attribute && strcmp(attribute, "sites") == 0;
    qs_dist_job *j = &e->job;
    *j = (qs_dist_job){.kind = "eval",
                       .row_size = sizeof(qs_dist_eval_row),
                       .compute = eval_compute,
                       .item_row = eval_item_row,
                       .fields = eval_fields,
                       .n_fields = QS_RESTABLE_PPL_NCOLS,
                       .key_columns = eval_keys,
                       .row_failed = eval_failed,
                       .state = e,
                       .destroy = eval_destroy};
    int rc = QS_OK;
    int parts = !attribute ? 0 : e->by_site ? QS_SITE_COUNT : m->cfg.n_layers;
    e->cfg = calloc((size_t)n_configs, sizeof *e->cfg);
    e->names = calloc((size_t)n_configs, sizeof *e->names);
    e->items = calloc((size_t)n_configs * ((size_t)parts + 1), sizeof *e->items);
    if (!e->cfg || !e->names || !e->items) rc = qs_error_set(QS_ERR_NOMEM, "out of memory");
    for (int c = 0; c < n_configs && rc == QS_OK; c++) {
        char w[128], a[128];
        rc = qs_quant_config_parse(&e->cfg[c], configs[c]);
        if (rc == QS_OK) rc = qs_quant_config_format(e->names[c], sizeof e->names[c], &e->cfg[c]);
        if (rc == QS_OK) rc = qs_restable_side_names(w, a, sizeof w, &e->cfg[c]);
        if (rc) break;
        e->items[j->n_items++] = (eval_item){c, -1};
        for (int p = 0; p < parts; p++) {
            qs_quant_config one;
            unsigned mask;
            if (qs_eval_attribution_config(&one, &mask, &e->cfg[c], e->by_site, p))
                e->items[j->n_items++] = (eval_item){c, p};
        }
    }
    if (rc == QS_OK && !(e->params = describe(e, attribute, cal, src, 0))) rc = QS_ERR_IO;
    if (rc == QS_OK && src && !(e->spec = describe(e, attribute, cal, src, 1))) rc = QS_ERR_IO;
    if (rc) {
        eval_destroy(j);
        return rc;
    }
    j->params = e->params;
    j->spec = e->spec;
    *out = j;
    return QS_OK;
}
