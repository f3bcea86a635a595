/* config.json → qs_config. Field names and defaults follow transformers' LlamaConfig,
 * MistralConfig and Qwen2Config. */
#include "hf_config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "error.h"
#include "fileio.h"
#include "json.h"

static const struct {
    const char *hf_name, *arch;
    int qkv_bias;
} hf_archs[] = {
    {"LlamaForCausalLM", "llama", 0},
    {"MistralForCausalLM", "mistral", 0},
    {"Qwen2ForCausalLM", "qwen2", 1},
};

static const cJSON *cfg_get(const cJSON *root, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    return cJSON_IsNull(v) ? NULL : v;
}

/* An integer field in [lo, hi]; *present tells whether it was there (required fields pass
 * NULL and get an error when absent). */
static int cfg_int(const cJSON *root, const char *key, int *out, int *present, long lo, long hi,
                   const char *path) {
    const cJSON *v = cfg_get(root, key);
    if (present) *present = v != NULL;
    if (!v) {
        if (present) return QS_OK;
        return qs_error_set(QS_ERR_FORMAT, "%s: missing required field '%s'", path, key);
    }
    if (!cJSON_IsNumber(v) || floor(v->valuedouble) != v->valuedouble ||
        v->valuedouble < (double)lo || v->valuedouble > (double)hi)
        return qs_error_set(QS_ERR_FORMAT, "%s: field '%s' must be an integer in [%ld, %ld]", path,
                            key, lo, hi);
    *out = (int)v->valuedouble;
    return QS_OK;
}

static int cfg_float(const cJSON *root, const char *key, float *out, int required,
                     const char *path) {
    const cJSON *v = cfg_get(root, key);
    if (!v) {
        if (!required) return QS_OK;
        return qs_error_set(QS_ERR_FORMAT, "%s: missing required field '%s'", path, key);
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return qs_error_set(QS_ERR_FORMAT, "%s: field '%s' must be a finite number", path, key);
    *out = (float)v->valuedouble;
    return QS_OK;
}

static int cfg_bool(const cJSON *root, const char *key, int *out, const char *path) {
    const cJSON *v = cfg_get(root, key);
    if (!v) return QS_OK;
    if (!cJSON_IsBool(v))
        return qs_error_set(QS_ERR_FORMAT, "%s: field '%s' must be true or false", path, key);
    *out = cJSON_IsTrue(v);
    return QS_OK;
}

/* bos/eos ids: an integer, null, or (generation-style) a list whose first entry we use. */
static int cfg_token_id(const cJSON *root, const char *key, int *out, const char *path) {
    const cJSON *v = cfg_get(root, key);
    if (!v) {
        *out = -1;
        return QS_OK;
    }
    if (cJSON_IsArray(v)) v = cJSON_GetArrayItem(v, 0);
    if (!v) {
        *out = -1;
        return QS_OK;
    }
    if (!cJSON_IsNumber(v) || floor(v->valuedouble) != v->valuedouble || v->valuedouble < 0 ||
        v->valuedouble > 1e9)
        return qs_error_set(QS_ERR_FORMAT, "%s: field '%s' must be a token id", path, key);
    *out = (int)v->valuedouble;
    return QS_OK;
}

static int cfg_rope_scaling(qs_config *c, const cJSON *root, const char *path) {
    const cJSON *rs = cfg_get(root, "rope_scaling");
    if (!rs) return QS_OK;
    if (!cJSON_IsObject(rs))
        return qs_error_set(QS_ERR_FORMAT, "%s: rope_scaling must be an object or null", path);
    /* transformers renamed "type" to "rope_type"; accept either */
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
    if (!ty) ty = cJSON_GetObjectItemCaseSensitive(rs, "type");
    if (!cJSON_IsString(ty))
        return qs_error_set(QS_ERR_FORMAT, "%s: rope_scaling has no 'rope_type' (or 'type') string",
                            path);
    if (strcmp(ty->valuestring, "default") == 0) return QS_OK;
    if (strcmp(ty->valuestring, "llama3") != 0)
        return qs_error_set(
            QS_ERR_UNSUPPORTED,
            "%s: unsupported rope_scaling type '%s' (qscope handles null and 'llama3')", path,
            ty->valuestring);
    int rc;
    if ((rc = cfg_float(rs, "factor", &c->rope_scale_factor, 1, path)) ||
        (rc = cfg_float(rs, "low_freq_factor", &c->rope_low_freq_factor, 1, path)) ||
        (rc = cfg_float(rs, "high_freq_factor", &c->rope_high_freq_factor, 1, path)) ||
        (rc = cfg_int(rs, "original_max_position_embeddings", &c->rope_orig_max_pos, NULL, 1,
                      1 << 24, path)))
        return qs_error_prefix(rc, "rope_scaling");
    if (!(c->rope_scale_factor > 0) || !(c->rope_low_freq_factor > 0) ||
        !(c->rope_high_freq_factor > c->rope_low_freq_factor))
        return qs_error_set(QS_ERR_FORMAT,
                            "%s: rope_scaling llama3 needs factor > 0 and high_freq_factor > "
                            "low_freq_factor > 0 (got %g, %g, %g)",
                            path, (double)c->rope_scale_factor, (double)c->rope_low_freq_factor,
                            (double)c->rope_high_freq_factor);
    return QS_OK;
}

static int cfg_fill(qs_config *c, const cJSON *root, const char *path) {
    if (!cJSON_IsObject(root)) return qs_error_set(QS_ERR_FORMAT, "%s: not a JSON object", path);
    int rc = qs__hf_json_unique_keys(root, path, "field");
    if (rc) return rc;
    const cJSON *archs = cfg_get(root, "architectures");
    if (!archs)
        return qs_error_set(QS_ERR_FORMAT, "%s: missing required field 'architectures'", path);
    const cJSON *a0 = cJSON_IsArray(archs) ? cJSON_GetArrayItem(archs, 0) : NULL;
    if (!cJSON_IsString(a0))
        return qs_error_set(QS_ERR_FORMAT, "%s: 'architectures' must be a list of strings", path);
    int found = -1;
    for (size_t i = 0; i < sizeof hf_archs / sizeof hf_archs[0]; i++)
        if (strcmp(a0->valuestring, hf_archs[i].hf_name) == 0) found = (int)i;
    if (found < 0)
        return qs_error_set(QS_ERR_UNSUPPORTED,
                            "unsupported architecture '%s' in %s (qscope reads LlamaForCausalLM, "
                            "MistralForCausalLM, Qwen2ForCausalLM)",
                            a0->valuestring, path);
    snprintf(c->arch, sizeof c->arch, "%s", hf_archs[found].arch);
    c->has_qkv_bias = hf_archs[found].qkv_bias;

    const long big = 1L << 30;
    int have_kv = 0, have_hd = 0;
    if ((rc = cfg_int(root, "hidden_size", &c->dim, NULL, 1, big, path)) ||
        (rc = cfg_int(root, "intermediate_size", &c->hidden_dim, NULL, 1, big, path)) ||
        (rc = cfg_int(root, "num_hidden_layers", &c->n_layers, NULL, 1, big, path)) ||
        (rc = cfg_int(root, "num_attention_heads", &c->n_heads, NULL, 1, big, path)) ||
        (rc = cfg_int(root, "num_key_value_heads", &c->n_kv_heads, &have_kv, 1, big, path)) ||
        (rc = cfg_int(root, "head_dim", &c->head_dim, &have_hd, 1, big, path)) ||
        (rc = cfg_int(root, "vocab_size", &c->vocab_size, NULL, 1, big, path)) ||
        (rc = cfg_int(root, "max_position_embeddings", &c->seq_len, NULL, 1, big, path)))
        return rc;
    if (!have_kv) c->n_kv_heads = c->n_heads;
    if (!have_hd) {
        if (c->dim % c->n_heads != 0)
            return qs_error_set(QS_ERR_FORMAT,
                                "%s: hidden_size %d is not a multiple of num_attention_heads %d "
                                "and head_dim is not given",
                                path, c->dim, c->n_heads);
        c->head_dim = c->dim / c->n_heads;
    }
    c->norm_eps = 1e-6f; /* transformers' default for all three */
    c->rope_theta = 10000.0f;
    if ((rc = cfg_float(root, "rms_norm_eps", &c->norm_eps, 0, path)) ||
        (rc = cfg_float(root, "rope_theta", &c->rope_theta, 0, path)) ||
        (rc = cfg_bool(root, "tie_word_embeddings", &c->tied_classifier, path)) ||
        (rc = cfg_token_id(root, "bos_token_id", &c->bos_id, path)) ||
        (rc = cfg_token_id(root, "eos_token_id", &c->eos_id, path)) ||
        (rc = cfg_rope_scaling(c, root, path)))
        return rc;

    /* What the forward pass does not implement must not load silently. */
    const cJSON *act = cfg_get(root, "hidden_act");
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu") != 0))
        return qs_error_set(QS_ERR_UNSUPPORTED, "%s: unsupported hidden_act '%s' (only silu)", path,
                            cJSON_IsString(act) ? act->valuestring : "?");
    int attn_bias = 0, mlp_bias = 0;
    if ((rc = cfg_bool(root, "attention_bias", &attn_bias, path)) ||
        (rc = cfg_bool(root, "mlp_bias", &mlp_bias, path)))
        return rc;
    if (attn_bias || mlp_bias)
        return qs_error_set(QS_ERR_UNSUPPORTED, "%s: %s is true; qscope has no %s biases", path,
                            attn_bias ? "attention_bias" : "mlp_bias",
                            attn_bias ? "q/k/v/o" : "MLP");

    c->rope_layout = QS_ROPE_HALF;
    return qs_config_validate(c, path);
}

static int cmp_key(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int qs__hf_json_unique_keys(const cJSON *obj, const char *path, const char *what) {
    size_t n = 0;
    for (const cJSON *a = obj->child; a; a = a->next) n++;
    if (n < 2) return QS_OK;
    const char **keys = malloc(n * sizeof *keys);
    if (!keys) return qs_error_set(QS_ERR_NOMEM, "%s: out of memory", path);
    n = 0;
    for (const cJSON *a = obj->child; a; a = a->next) keys[n++] = a->string ? a->string : "";
    qsort(keys, n, sizeof *keys, cmp_key);
    int rc = QS_OK;
    for (size_t i = 1; i < n && rc == QS_OK; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0)
            rc = qs_error_set(QS_ERR_FORMAT, "%s: %s '%s' appears twice", path, what, keys[i]);
    free(keys);
    return rc;
}

int qs_hf_config_parse(qs_config *c, const char *json, size_t len, const char *path) {
    qs_config_defaults(c);
    if (!path) path = "config.json";
    cJSON *root;
    int rc = qs_json_parse(&root, json, len, path, NULL);
    if (rc) return rc;
    rc = cfg_fill(c, root, path);
    cJSON_Delete(root);
    return rc;
}

int qs_hf_config_load(qs_config *c, const char *path) {
    char *buf;
    size_t len;
    int rc = qs_file_read(path, 0, &buf, &len);
    if (rc) return rc;
    rc = qs_hf_config_parse(c, buf, len, path);
    free(buf);
    return rc;
}
