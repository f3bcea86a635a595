/* A Hugging Face model directory → qs_model.
 *
 *   DIR/config.json                              → qs_config (core/hf_config.c)
 *   DIR/model.safetensors, or
 *   DIR/model.safetensors.index.json + shards    → weights (core/safetensors.c)
 *   DIR/tokenizer.json (+ tokenizer_config.json) → m->tok, if present
 *
 * HF names map onto GGUF names. HF's q/k rows are ordered for rotate_half RoPE (pairs
 * (i, i + hd/2)); the loader reorders each head's rows into llama2.c's interleaved pairs
 * (2i, 2i + 1) — the inverse of llama2.c export.py's permute — so the same model gives
 * bit-identical logits from .bin, GGUF and HF files (a half-layout forward would agree
 * only to float rounding). The reordering happens when rows are expanded (tensor.h): every
 * tensor stays in its shard's read-only mapping in its stored dtype (F32, F16, BF16), and
 * the model keeps every shard mapped. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "error.h"
#include "fileio.h"
#include "tensor_finite.h"
#include "gguf_dequant.h"
#include "hf_config.h"
#include "json.h"
#include "model.h"
#include "safetensors.h"
#include "strmap.h"
#include "tok_hf.h"

#define MAX_SHARDS 4096

typedef struct {
    char path[PATH_MAX];
    void *map;
    size_t size;
    qs_safetensors st;
} shard;

typedef struct {
    char dir[PATH_MAX];
    qs_model *m; /* owns every shard's mapping once it is open */
    shard *shards;
    int n_shards;
    cJSON *index; /* weight_map of the sharded index, or NULL */
    char index_path[PATH_MAX];
    qs_strmap where; /* sharded: tensor name -> shard index (hashed: lookups stay O(1)) */
} hf_files;

/* dir/file into out, refusing to truncate */
static int join_path(char *out, size_t cap, const char *dir, const char *file) {
    int n = snprintf(out, cap, "%s/%s", dir, file);
    if (n < 0 || (size_t)n >= cap)
        return qs_error_set(QS_ERR_ARG, "%s/%s: path too long", dir, file);
    return QS_OK;
}

static void files_close(hf_files *f) {
    for (int i = 0; i < f->n_shards; i++) qs_safetensors_free(&f->shards[i].st);
    free(f->shards);
    f->shards = NULL;
    f->n_shards = 0;
    cJSON_Delete(f->index);
    f->index = NULL;
    qs_strmap_free(&f->where);
}

static int shard_open(hf_files *f, const char *file) {
    shard *s = &f->shards[f->n_shards];
    memset(s, 0, sizeof *s);
    if (join_path(s->path, sizeof s->path, f->dir, file)) return QS_ERR_ARG;
    if (access(s->path, F_OK) != 0)
        return qs_error_set(QS_ERR_IO, "%s names shard '%s', which is missing (%s)", f->index_path,
                            file, s->path);
    int rc = qs_file_map(s->path, &s->map, &s->size);
    if (rc) return rc;
    if ((rc = qs__model_add_map(f->m, s->map, s->size))) return rc; /* the model unmaps it */
    f->n_shards++;
    return qs_safetensors_parse(&s->st, s->map, s->size, s->path);
}

static int open_shards(hf_files *f, qs_strmap *shard_ids);

/* The shard file names of the index, each once, in first-seen order. */
static int open_sharded(hf_files *f) {
    cJSON *root;
    int rc = qs_json_read(&root, f->index_path);
    if (rc) return rc;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(wm)) {
        cJSON_Delete(root);
        return qs_error_set(QS_ERR_FORMAT, "%s: no 'weight_map' object", f->index_path);
    }
    f->index = cJSON_DetachItemViaPointer(root, (cJSON *)wm);
    cJSON_Delete(root);
    if ((rc = qs__hf_json_unique_keys(f->index, f->index_path, "weight_map entry"))) return rc;
    int n = cJSON_GetArraySize(f->index);
    f->shards = calloc((size_t)(n ? n : 1), sizeof *f->shards);
    qs_strmap shard_ids; /* shard file name -> index in f->shards */
    if (!f->shards || qs_strmap_init(&shard_ids, 64) || qs_strmap_init(&f->where, (size_t)n)) {
        if (f->shards) qs_strmap_free(&shard_ids);
        return qs_error_set(QS_ERR_NOMEM, "%s: out of memory", f->index_path);
    }
    rc = open_shards(f, &shard_ids);
    qs_strmap_free(&shard_ids);
    return rc;
}

static int open_shards(hf_files *f, qs_strmap *shard_ids) {
    int rc;
    const cJSON *e;
    cJSON_ArrayForEach(e, f->index) {
        if (!cJSON_IsString(e))
            return qs_error_set(QS_ERR_FORMAT, "%s: weight_map entry '%s' is not a file name",
                                f->index_path, e->string);
        const char *file = e->valuestring;
        /* shards live in the directory itself: no paths, no way out of it */
        if (!file[0] || strchr(file, '/') || strcmp(file, ".") == 0 || strcmp(file, "..") == 0)
            return qs_error_set(QS_ERR_FORMAT,
                                "%s: shard name '%s' for '%s' is not a plain file name",
                                f->index_path, file, e->string);
        int sh = qs_strmap_get(shard_ids, file, strlen(file));
        if (sh < 0) {
            if (f->n_shards == MAX_SHARDS)
                return qs_error_set(QS_ERR_FORMAT, "%s: more than %d shards", f->index_path,
                                    MAX_SHARDS);
            sh = f->n_shards;
            if ((rc = shard_open(f, file))) return rc;
            if (qs_strmap_put(shard_ids, file, strlen(file), sh))
                return qs_error_set(QS_ERR_NOMEM, "%s: out of memory", f->index_path);
        }
        if (qs_strmap_put(&f->where, e->string, strlen(e->string), sh))
            return qs_error_set(QS_ERR_NOMEM, "%s: out of memory", f->index_path);
    }
    if (f->n_shards == 0)
        return qs_error_set(QS_ERR_FORMAT, "%s: weight_map is empty", f->index_path);
    return QS_OK;
}

static int files_open(hf_files *f, const char *dir, qs_model *m) {
    memset(f, 0, sizeof *f);
    f->m = m;
    snprintf(f->dir, sizeof f->dir, "%s", dir);
    char single[PATH_MAX];
    if (join_path(f->index_path, sizeof f->index_path, dir, "model.safetensors.index.json") ||
        join_path(single, sizeof single, dir, "model.safetensors"))
        return QS_ERR_ARG;
    if (access(f->index_path, F_OK) == 0) return open_sharded(f);
    if (access(single, F_OK) != 0)
        return qs_error_set(QS_ERR_IO, "%s: no model.safetensors or model.safetensors.index.json",
                            dir);
    f->shards = calloc(1, sizeof *f->shards);
    if (!f->shards) return qs_error_set(QS_ERR_NOMEM, "out of memory");
    return shard_open(f, "model.safetensors");
}

/* Finds a tensor: through the index when sharded (which must then be right), else in the
 * one file. *sh gets the shard index. NULL if absent. */
static const qs_st_tensor *files_find(const hf_files *f, const char *name, int *sh, int *rc) {
    *rc = QS_OK;
    if (!f->index) {
        *sh = 0;
        return qs_safetensors_find(&f->shards[0].st, name);
    }
    int i = qs_strmap_get(&f->where, name, strlen(name));
    if (i < 0) return NULL;
    const qs_st_tensor *t = qs_safetensors_find(&f->shards[i].st, name);
    if (!t)
        *rc = qs_error_set(QS_ERR_FORMAT, "%s: weight_map puts '%s' in %s, which does not hold it",
                           f->index_path, name, strrchr(f->shards[i].path, '/') + 1);
    *sh = i;
    return t;
}

static void shape_str(char *buf, size_t cap, const int64_t *shape, int nd) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < nd && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

typedef struct {
    qs_model *m;
    hf_files *f;
} loader;

static uint32_t st_dtype(int dtype) {
    return dtype == QS_ST_F16 ? QS_GGML_F16 : dtype == QS_ST_BF16 ? QS_GGML_BF16 : QS_GGML_F32;
}

/* Binds one expected tensor with shape (rows, cols) (rows 0: a vector of cols). */
static int load_tensor(loader *L, const qs_tensor **dst, const char *hf_name, int64_t rows,
                       int64_t cols, int optional) {
    int sh, rc;
    const qs_st_tensor *t = files_find(L->f, hf_name, &sh, &rc);
    if (rc) return rc;
    *dst = NULL;
    const char *where = L->f->index ? L->f->index_path : L->f->shards[0].path;
    if (!t) {
        if (optional) return QS_OK;
        return qs_error_set(QS_ERR_FORMAT, "%s: tensor '%s' is missing", where, hf_name);
    }
    int64_t want[2] = {rows, cols};
    int wnd = rows ? 2 : 1;
    const int64_t *ws = rows ? want : want + 1;
    int same = t->n_dims == wnd;
    for (int i = 0; same && i < wnd; i++) same = t->shape[i] == ws[i];
    if (!same) {
        char e[64], g[160];
        shape_str(e, sizeof e, ws, wnd);
        shape_str(g, sizeof g, t->shape, t->n_dims);
        return qs_error_set(QS_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s",
                            L->f->shards[sh].path, hf_name, g, e);
    }
    const qs_safetensors *st = &L->f->shards[sh].st;
    qs_tensor *x;
    rc = qs_tensor_check_finite(st->data + t->begin, st_dtype(t->dtype), t->n_elems,
                                L->f->shards[sh].path, hf_name);
    if (rc) return rc;
    rc = qs__model_new_tensor(L->m, &x, hf_name, st_dtype(t->dtype), st->data + t->begin,
                              (size_t)(t->end - t->begin), rows ? rows : 1, cols, 0);
    if (rc) return qs_error_prefix(rc, "%s", L->f->shards[sh].path);
    *dst = x;
    return QS_OK;
}

/* Old checkpoints carry rotary_emb.inv_freq buffers; they must agree with the config's
 * theta, or the config and weights disagree about RoPE. */
static int check_inv_freq(const hf_files *f, const qs_config *c) {
    for (int s = 0; s < f->n_shards; s++) {
        const qs_safetensors *st = &f->shards[s].st;
        for (int i = 0; i < st->n_tensors; i++) {
            const qs_st_tensor *t = &st->tensors[i];
            static const char suffix[] = "rotary_emb.inv_freq";
            size_t nl = strlen(t->name), sl = sizeof suffix - 1;
            if (nl < sl || strcmp(t->name + nl - sl, suffix) != 0) continue;
            if (c->rope_scale_factor > 0) continue; /* stored scaled or not: no single truth */
            if (t->n_elems != c->head_dim / 2)
                return qs_error_set(
                    QS_ERR_FORMAT, "%s: '%s' has %lld entries, expected head_dim/2 = %d",
                    f->shards[s].path, t->name, (long long)t->n_elems, c->head_dim / 2);
            float *v = malloc((size_t)t->n_elems * sizeof *v);
            if (!v) return qs_error_set(QS_ERR_NOMEM, "out of memory");
            qs_safetensors_to_f32(v, st, t);
            for (int k = 0; k < c->head_dim / 2; k++) {
                double want = 1.0 / pow((double)c->rope_theta, 2.0 * k / c->head_dim);
                double tol = t->dtype == QS_ST_F32 ? 1e-5 : 1e-2; /* relative */
                if (fabs(v[k] - want) > tol * want) {
                    int rc = qs_error_set(
                        QS_ERR_FORMAT,
                        "%s: '%s'[%d] = %g, but rope_theta %g gives %g: config.json and "
                        "the weights disagree about RoPE",
                        f->shards[s].path, t->name, k, (double)v[k], (double)c->rope_theta, want);
                    free(v);
                    return rc;
                }
            }
            free(v);
        }
    }
    return QS_OK;
}

/* Every tensor of the checkpoint must be one the model uses: a config that says 4 layers
 * over a 5-layer checkpoint, or a bias the architecture has no place for, would otherwise
 * load silently and compute something else (the GGUF loader refuses both too). Allowed
 * besides: rotary_emb.inv_freq buffers (checked against rope_theta above) and, with a tied
 * classifier, an lm_head.weight equal to the embedding. */
static int check_unused(const hf_files *f, const qs_config *c) {
    static const char *const layer_parts[] = {
        "input_layernorm.weight",  "self_attn.q_proj.weight", "self_attn.k_proj.weight",
        "self_attn.v_proj.weight", "self_attn.o_proj.weight", "post_attention_layernorm.weight",
        "mlp.gate_proj.weight",    "mlp.down_proj.weight",    "mlp.up_proj.weight"};
    static const char *const bias_parts[] = {"self_attn.q_proj.bias", "self_attn.k_proj.bias",
                                             "self_attn.v_proj.bias"};
    for (int s = 0; s < f->n_shards; s++) {
        const qs_safetensors *st = &f->shards[s].st;
        for (int i = 0; i < st->n_tensors; i++) {
            const char *name = st->tensors[i].name;
            static const char inv[] = "rotary_emb.inv_freq";
            size_t nl = strlen(name), il = sizeof inv - 1;
            if (nl >= il && strcmp(name + nl - il, inv) == 0) continue;
            if (strcmp(name, "model.embed_tokens.weight") == 0 ||
                strcmp(name, "model.norm.weight") == 0)
                continue;
            if (strcmp(name, "lm_head.weight") == 0) {
                if (!c->tied_classifier) continue;
                int sh, rc;
                const qs_st_tensor *e = files_find(f, "model.embed_tokens.weight", &sh, &rc);
                const qs_st_tensor *t = &st->tensors[i];
                if (e && e->dtype == t->dtype && e->end - e->begin == t->end - t->begin &&
                    memcmp(f->shards[sh].st.data + e->begin, st->data + t->begin,
                           (size_t)(t->end - t->begin)) == 0)
                    continue;
                return qs_error_set(QS_ERR_FORMAT,
                                    "%s: holds lm_head.weight, but config.json ties the "
                                    "classifier to the embedding (tie_word_embeddings) and the "
                                    "two differ; which one is meant?",
                                    f->shards[s].path);
            }
            int l, at = 0;
            if (sscanf(name, "model.layers.%d.%n", &l, &at) == 1 && at > 0 && l >= 0) {
                const char *part = name + at;
                if (l >= c->n_layers)
                    return qs_error_set(QS_ERR_FORMAT,
                                        "%s: holds tensor '%s' of layer %d, but config.json says "
                                        "num_hidden_layers = %d; the two disagree",
                                        f->shards[s].path, name, l, c->n_layers);
                int known = 0;
                for (size_t k = 0; k < sizeof layer_parts / sizeof *layer_parts && !known; k++)
                    known = strcmp(part, layer_parts[k]) == 0;
                for (size_t k = 0; k < 3 && !known && c->has_qkv_bias; k++)
                    known = strcmp(part, bias_parts[k]) == 0;
                if (known) continue;
                int is_bias = nl > 5 && strcmp(name + nl - 5, ".bias") == 0;
                if (is_bias)
                    return qs_error_set(QS_ERR_FORMAT,
                                        "%s: holds tensor '%s', but the architecture in "
                                        "config.json (%s) has no such bias; it would be ignored",
                                        f->shards[s].path, name, c->arch);
            }
            return qs_error_set(QS_ERR_FORMAT,
                                "%s: holds tensor '%s', which a %s model does not have; it "
                                "would be ignored (a different architecture or config?)",
                                f->shards[s].path, name, c->arch);
        }
    }
    return QS_OK;
}

static int load_weights(loader *L) {
    qs_model *m = L->m;
    const qs_config *c = &m->cfg;
    int64_t D = c->dim, H = c->hidden_dim, V = c->vocab_size;
    int64_t Q = (int64_t)c->n_heads * c->head_dim, K = (int64_t)c->n_kv_heads * c->head_dim;
    m->w.layers = calloc((size_t)c->n_layers, sizeof *m->w.layers);
    if (!m->w.layers) return qs_error_set(QS_ERR_NOMEM, "out of memory");
    int rc;
    if ((rc = load_tensor(L, &m->w.token_embd, "model.embed_tokens.weight", V, D, 0)) ||
        (rc = load_tensor(L, &m->w.output_norm, "model.norm.weight", 0, D, 0)))
        return rc;
    if (!c->tied_classifier && (rc = load_tensor(L, &m->w.output, "lm_head.weight", V, D, 1)))
        return rc;
    if (!m->w.output) {
        /* tie_word_embeddings, or no lm_head at all: the classifier is the embedding */
        m->w.output = m->w.token_embd;
        m->cfg.tied_classifier = 1;
    }
    for (int l = 0; l < c->n_layers; l++) {
        qs_layer_weights *w = &m->w.layers[l];
        struct {
            const qs_tensor **dst;
            const char *suffix;
            int64_t r, k;
        } t[] = {
            {&w->attn_norm, "input_layernorm.weight", 0, D},
            {&w->wq, "self_attn.q_proj.weight", Q, D},
            {&w->wk, "self_attn.k_proj.weight", K, D},
            {&w->wv, "self_attn.v_proj.weight", K, D},
            {&w->wo, "self_attn.o_proj.weight", D, Q},
            {&w->ffn_norm, "post_attention_layernorm.weight", 0, D},
            {&w->w_gate, "mlp.gate_proj.weight", H, D},
            {&w->w_down, "mlp.down_proj.weight", D, H},
            {&w->w_up, "mlp.up_proj.weight", H, D},
            {&w->bq, "self_attn.q_proj.bias", 0, Q},
            {&w->bk, "self_attn.k_proj.bias", 0, K},
            {&w->bv, "self_attn.v_proj.bias", 0, K},
        };
        int n = c->has_qkv_bias ? 12 : 9;
        for (int i = 0; i < n; i++) {
            char name[128];
            snprintf(name, sizeof name, "model.layers.%d.%s", l, t[i].suffix);
            if ((rc = load_tensor(L, t[i].dst, name, t[i].r, t[i].k, 0))) return rc;
        }
    }
    return QS_OK;
}

/* q and k (and their biases) hold rotate_half rows: expand them interleaved (tensor.h). */
static int qk_to_interleaved(qs_model *m) {
    qs_config *c = &m->cfg;
    int rc = QS_OK;
    for (int l = 0; l < c->n_layers && rc == QS_OK; l++) {
        qs_layer_weights *w = &m->w.layers[l];
        const qs_tensor *t[4] = {w->wq, w->wk, w->bq, w->bk};
        for (int i = 0; i < 4 && rc == QS_OK; i++)
            if (t[i]) rc = qs__model_tensor_permute(m, (qs_tensor *)t[i], c->head_dim);
    }
    c->rope_layout = QS_ROPE_INTERLEAVED;
    return rc;
}

int qs__load_hf(qs_model **out, const char *dir) {
    *out = NULL;
    char path[PATH_MAX];
    qs_model *m = qs__model_new(dir, "hf");
    if (!m) return qs_error_set(QS_ERR_NOMEM, "out of memory");
    int rc = join_path(path, sizeof path, dir, "config.json");
    if (!rc) rc = qs_hf_config_load(&m->cfg, path);
    if (rc) {
        qs_model_free(m);
        return rc;
    }
    hf_files f;
    loader L = {.m = m, .f = &f};
    rc = files_open(&f, dir, m);
    if (!rc) rc = check_inv_freq(&f, &m->cfg);
    if (!rc) rc = check_unused(&f, &m->cfg);
    if (!rc) rc = load_weights(&L);
    if (!rc) rc = qk_to_interleaved(m);
    if (!rc) rc = qs__model_index_weights(m);
    files_close(&f);
    if (!rc) {
        char cfg_path[PATH_MAX];
        rc = join_path(path, sizeof path, dir, "tokenizer.json");
        if (!rc) rc = join_path(cfg_path, sizeof cfg_path, dir, "tokenizer_config.json");
        if (!rc && access(path, F_OK) == 0) {
            rc = qs_tokenizer_load_hf(&m->tok, path, cfg_path);
            if (!rc && m->tok->n_vocab > m->cfg.vocab_size)
                rc =
                    qs_error_set(QS_ERR_FORMAT, "%s: %d tokens, but config.json says vocab_size %d",
                                 path, m->tok->n_vocab, m->cfg.vocab_size);
        }
    }
    if (rc) {
        qs_model_free(m);
        return rc;
    }
    *out = m;
    return QS_OK;
}
