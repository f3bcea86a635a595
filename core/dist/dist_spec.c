/* Specs: a distributed loop described in JSON, so a rank that does not run the script that
 * started it (ranks > 0 of `qscope run`) can rebuild it from files: the model (loaded once
 * per rank and kept for later loops), the text, the windows, the options. The same
 * description without paths is the identity that --resume and merge compare. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist_int.h"
#include "dist_jobs.h"
#include "error.h"
#include "sha256.h"
#include "text.h"

cJSON *qs__dist_source_json(const qs_dist_source *src, int paths) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    int ok = 1;
    if (paths) {
        ok &= cJSON_AddStringToObject(j, "model", src->model_path) != NULL;
        if (src->tokenizer_path)
            ok &= cJSON_AddStringToObject(j, "tokenizer", src->tokenizer_path) != NULL;
        if (src->text_path) ok &= cJSON_AddStringToObject(j, "text", src->text_path) != NULL;
    } else if (src->tokenizer_path) {
        char hex[QS_SHA256_HEX_LEN + 1];
        if (qs_sha256_file(src->tokenizer_path, hex)) {
            cJSON_Delete(j);
            return NULL;
        }
        ok &= cJSON_AddStringToObject(j, "tokenizer_sha256", hex) != NULL;
    }
    ok &= cJSON_AddNumberToObject(j, "utf8", src->utf8_policy) != NULL;
    if (src->model_note) ok &= cJSON_AddStringToObject(j, "model_note", src->model_note) != NULL;
    if (src->has_wo) {
        const qs_window_opts *w = &src->wo;
        cJSON *o = cJSON_AddObjectToObject(j, "window");
        ok &= o != NULL;
        if (o) {
            ok &= cJSON_AddNumberToObject(o, "ctx", w->ctx) != NULL;
            ok &= cJSON_AddNumberToObject(o, "stride", w->stride) != NULL;
            ok &= cJSON_AddNumberToObject(o, "score", w->score) != NULL;
            ok &= cJSON_AddNumberToObject(o, "bos", w->bos) != NULL;
            ok &= cJSON_AddNumberToObject(o, "max_tokens", (double)w->max_tokens) != NULL;
            if (w->doc_sep) ok &= cJSON_AddStringToObject(o, "docs", w->doc_sep) != NULL;
            ok &= cJSON_AddNumberToObject(o, "skip_docs", w->skip_docs) != NULL;
        }
    }
    if (!ok) {
        cJSON_Delete(j);
        qs_error_set(QS_ERR_NOMEM, "out of memory for a job description");
        return NULL;
    }
    return j;
}

char *qs__dist_json_take(cJSON *j) {
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!s) qs_error_set(QS_ERR_NOMEM, "out of memory for a job description");
    return s;
}

/* The first difference between two JSON values, as "path: a vs b" (the path of object keys
 * from the root, dot-joined; array elements as [i]); 0 when equal. */
static int json_diff_at(const cJSON *a, const cJSON *b, char *path, size_t cap, char *buf,
                        size_t n) {
    size_t len = strlen(path);
    int differs = !a || !b || (a->type & 0xff) != (b->type & 0xff);
    if (!differs && cJSON_IsObject(a)) {
        /* keys of a, then keys only b holds */
        for (const cJSON *x = a->child; x; x = x->next) {
            snprintf(path + len, cap - len, "%s%s", len ? "." : "", x->string);
            if (json_diff_at(x, cJSON_GetObjectItemCaseSensitive(b, x->string), path, cap, buf, n))
                return 1;
        }
        for (const cJSON *y = b->child; y; y = y->next) {
            if (cJSON_GetObjectItemCaseSensitive(a, y->string)) continue;
            snprintf(path + len, cap - len, "%s%s", len ? "." : "", y->string);
            return json_diff_at(NULL, y, path, cap, buf, n);
        }
        path[len] = '\0';
        return 0;
    }
    if (!differs && cJSON_IsArray(a)) {
        int na = cJSON_GetArraySize(a), nb = cJSON_GetArraySize(b);
        for (int i = 0; i < na || i < nb; i++) {
            snprintf(path + len, cap - len, "[%d]", i);
            if (json_diff_at(cJSON_GetArrayItem(a, i), cJSON_GetArrayItem(b, i), path, cap, buf, n))
                return 1;
        }
        path[len] = '\0';
        return 0;
    }
    if (!differs) differs = !cJSON_Compare(a, b, 1);
    if (!differs) return 0;
    char *sa = a ? cJSON_PrintUnformatted(a) : NULL, *sb = b ? cJSON_PrintUnformatted(b) : NULL;
    snprintf(buf, n, "%s: %.120s vs %.120s", len ? path : "(the whole value)",
             a ? (sa ? sa : "?") : "(absent)", b ? (sb ? sb : "?") : "(absent)");
    free(sa);
    free(sb);
    return 1;
}

int qs__dist_json_diff(const char *a, const char *b, char *buf, size_t n) {
    buf[0] = '\0';
    /* whole texts only: a sha256 that starts with digits is no JSON number */
    cJSON *ja = cJSON_ParseWithOpts(a ? a : "", NULL, 1);
    cJSON *jb = cJSON_ParseWithOpts(b ? b : "", NULL, 1);
    char path[256] = "";
    int d = ja && jb ? json_diff_at(ja, jb, path, sizeof path, buf, n) : 0;
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    return d;
}

/* ---- rebuilding a job -------------------------------------------------------------------- */

/* Models loaded by this rank, kept for the next loops of the script. */
typedef struct cached_model {
    char *path, *tokenizer;
    qs_model *m;
} cached_model;
static cached_model *cache;
static int n_cache;

static int same_str(const char *a, const char *b) {
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int model_get(qs_model **m, const char *path, const char *tok) {
    for (int i = 0; i < n_cache; i++)
        if (same_str(cache[i].path, path) && same_str(cache[i].tokenizer, tok)) {
            *m = cache[i].m;
            return QS_OK;
        }
    cached_model *c = realloc(cache, ((size_t)n_cache + 1) * sizeof *c);
    if (!c) return qs_error_set(QS_ERR_NOMEM, "out of memory");
    cache = c;
    int rc = qs_model_load(m, path, tok);
    if (rc) return rc;
    c[n_cache] = (cached_model){strdup(path), tok ? strdup(tok) : NULL, *m};
    n_cache++;
    return QS_OK;
}

static void cache_free(void) {
    for (int i = 0; i < n_cache; i++) {
        qs_model_free(cache[i].m);
        free(cache[i].path);
        free(cache[i].tokenizer);
    }
    free(cache);
    cache = NULL;
    n_cache = 0;
}

struct qs_dist_built {
    qs_dist_job *job;
    qs_text text, ctext;
    qs_windows ws, cws;
    qs_windows head; /* the first windows of ws, for calibration (borrows ws) */
    cJSON *root; /* the spec, whose strings the job's source borrows */
};

static const char *str_of(const cJSON *o, const char *key) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

static double num_of(const cJSON *o, const char *key, double def) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(x) ? x->valuedouble : def;
}

/* The source of a spec; strings borrowed from it. */
static int source_of(const cJSON *o, qs_dist_source *src) {
    memset(src, 0, sizeof *src);
    if (!o || !(src->model_path = str_of(o, "model")))
        return qs_error_set(QS_ERR_FORMAT, "job spec without a model");
    src->tokenizer_path = str_of(o, "tokenizer");
    src->text_path = str_of(o, "text");
    src->utf8_policy = (int)num_of(o, "utf8", 0);
    src->model_note = str_of(o, "model_note");
    if (src->model_note)
        return qs_error_set(QS_ERR_UNSUPPORTED, "a job on a changed model (%s) cannot be rebuilt "
                                                "from files",
                            src->model_note);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "window");
    if (cJSON_IsObject(w)) {
        src->has_wo = 1;
        qs_window_opts_default(&src->wo);
        src->wo.ctx = (int)num_of(w, "ctx", src->wo.ctx);
        src->wo.stride = (int)num_of(w, "stride", 0);
        src->wo.score = (int)num_of(w, "score", src->wo.score);
        src->wo.bos = (int)num_of(w, "bos", src->wo.bos);
        src->wo.max_tokens = (long)num_of(w, "max_tokens", 0);
        src->wo.doc_sep = str_of(w, "docs");
        src->wo.skip_docs = (int)num_of(w, "skip_docs", 0);
    }
    return QS_OK;
}

static int sweep_of(const cJSON *o, qs_sweep_opts *so) {
    qs_sweep_opts_default(so);
    const char *v;
    int rc = QS_OK;
    if (!o) return qs_error_set(QS_ERR_FORMAT, "sweep spec without options");
    if ((v = str_of(o, "bits"))) rc = qs_sweep_parse_bits(so, v);
    if (rc == QS_OK && (v = str_of(o, "scheme"))) rc = qs_sweep_parse_schemes(so, v);
    if (rc == QS_OK && (v = str_of(o, "gran"))) rc = qs_sweep_parse_grans(so, v);
    if (rc == QS_OK && (v = str_of(o, "clip"))) rc = qs_sweep_parse_clips(so, v);
    so->site_mask = (unsigned)num_of(o, "sites", so->site_mask);
    so->weights = (int)num_of(o, "weights", so->weights);
    so->activations = (int)num_of(o, "activations", so->activations);
    so->tokens = (long)num_of(o, "tokens", (double)so->tokens);
    so->fp32_scales = (int)num_of(o, "fp32_scales", so->fp32_scales);
    so->decompose = num_of(o, "decompose", so->decompose);
    return rc;
}

void qs_dist_built_free(qs_dist_built *b) {
    if (!b) return;
    qs_dist_job_free(b->job);
    qs_windows_free(&b->ws);
    qs_windows_free(&b->cws);
    qs_text_free(&b->text);
    qs_text_free(&b->ctext);
    cJSON_Delete(b->root);
    free(b);
}

qs_dist_job *qs_dist_built_job(qs_dist_built *b) { return b ? b->job : NULL; }

int qs_dist_job_from_spec(qs_dist_built **out, const char *spec) {
    *out = NULL;
    qs_dist_built *b = calloc(1, sizeof *b);
    if (!b) return qs_error_set(QS_ERR_NOMEM, "out of memory");
    int rc = QS_OK;
    b->root = cJSON_Parse(spec);
    const char *kind = b->root ? str_of(b->root, "kind") : NULL;
    if (!kind) rc = qs_error_set(QS_ERR_FORMAT, "a job spec that is not JSON with a kind");
    qs_dist_source src;
    if (rc == QS_OK) rc = source_of(cJSON_GetObjectItemCaseSensitive(b->root, "source"), &src);
    qs_model *m = NULL;
    if (rc == QS_OK) rc = model_get(&m, src.model_path, src.tokenizer_path);
    int need_text = rc == QS_OK && src.text_path && src.has_wo;
    if (need_text && !m->tok) rc = qs_error_set(QS_ERR_ARG, "%s: no tokenizer", m->path);
    if (need_text && rc == QS_OK) rc = qs_text_load(&b->text, src.text_path, src.utf8_policy);
    if (need_text && rc == QS_OK)
        rc = qs_windows_build(&b->ws, m->tok, b->text.data, b->text.len, &src.wo);
    if (rc == QS_OK && strcmp(kind, "sweep") == 0) {
        qs_sweep_opts so;
        rc = sweep_of(cJSON_GetObjectItemCaseSensitive(b->root, "sweep"), &so);
        if (rc == QS_OK) rc = qs_dist_sweep_job(&b->job, m, need_text ? &b->ws : NULL, &so, &src);
    } else if (rc == QS_OK && strcmp(kind, "eval") == 0) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(b->root, "eval");
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(e, "configs");
        int n = cJSON_GetArraySize(list);
        const char **names = calloc((size_t)n + 1, sizeof *names);
        if (!names) rc = qs_error_set(QS_ERR_NOMEM, "out of memory");
        for (int i = 0; i < n && rc == QS_OK; i++) {
            const cJSON *x = cJSON_GetArrayItem(list, i);
            if (!cJSON_IsString(x)) rc = qs_error_set(QS_ERR_FORMAT, "eval spec: a config");
            else names[i] = x->valuestring;
        }
        qs_dist_calib cal = {0};
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "calib");
        cal.text_path = str_of(c, "text");
        cal.utf8_policy = (int)num_of(c, "utf8", 0);
        cal.windows = (int)num_of(c, "windows", 8);
        cal.from_text = (int)num_of(c, "from_text", 0);
        const qs_windows *calib = NULL;
        if (rc == QS_OK && cal.text_path) {
            qs_window_opts co = src.wo;
            co.doc_sep = NULL;
            co.max_tokens = 0;
            rc = qs_text_load(&b->ctext, cal.text_path, cal.utf8_policy);
            if (rc == QS_OK)
                rc = qs_windows_build(&b->cws, m->tok, b->ctext.data, b->ctext.len, &co);
            if (rc == QS_OK && b->cws.n > cal.windows) b->cws.n = cal.windows;
            calib = &b->cws;
        } else if (rc == QS_OK && cal.from_text) {
            b->head = (qs_windows){b->ws.w, b->ws.n < cal.windows ? b->ws.n : cal.windows, 0, 0,
                                   NULL};
            calib = &b->head;
        }
        if (rc == QS_OK)
            rc = qs_dist_eval_job(&b->job, m, &b->ws, names, n, str_of(e, "attribute"), calib, &cal,
                                  &src);
        free(names);
    } else if (rc == QS_OK) {
        rc = qs_error_set(QS_ERR_FORMAT, "a job spec of unknown kind '%s'", kind);
    }
    if (rc) {
        qs_dist_built_free(b);
        return rc;
    }
    *out = b;
    return QS_OK;
}

int qs_dist_serve(void) {
    int rc = QS_OK;
    for (;;) {
        char *spec;
        if ((rc = qs__dist_mpi_recv_spec(&spec)) || !spec) break;
        qs_dist_built *b;
        rc = qs_dist_job_from_spec(&b, spec);
        free(spec);
        if (rc) break; /* the caller aborts: rank 0 waits for this rank */
        rc = qs__dist_mpi_work(qs_dist_built_job(b));
        qs_dist_built_free(b);
        if (rc) break;
    }
    cache_free();
    return rc;
}
