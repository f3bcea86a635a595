/* The Hugging Face writer (save.h): config.json and safetensors shards, each file written
 * whole or not at all, tensors in plan order with no gaps (what safetensors.c demands). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "error.h"
#include "fileio.h"
#include "gguf_dequant.h"
#include "save.h"

static const char *st_dtype(uint32_t type) {
    return type == QS_GGML_BF16 ? "BF16" : type == QS_GGML_F16 ? "F16" : "F32";
}

static const char *torch_dtype(uint32_t type) {
    return type == QS_GGML_BF16 ? "bfloat16" : type == QS_GGML_F16 ? "float16" : "float32";
}

/* Writes a JSON value to dir/name whole or not at all. */
static int write_json(const char *dir, const char *name, cJSON *j) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *s = cJSON_Print(j);
    if (!s) return qs_error_set(QS_ERR_NOMEM, "%s: out of memory", path);
    qs_file_out o;
    int rc = qs_file_out_open(&o, path);
    if (!rc) {
        if (fputs(s, o.f) < 0 || fputc('\n', o.f) < 0) {
            qs_file_out_abort(&o);
            rc = qs_error_set(QS_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        } else {
            rc = qs_file_out_commit(&o);
        }
    }
    free(s);
    return rc;
}

/* A float as the shortest decimal that reads back as it (1e-06, not 9.99999997e-07). */
static double dec(float f) {
    char b[32];
    snprintf(b, sizeof b, "%.9g", (double)f);
    for (int p = 1; p <= 9; p++) {
        snprintf(b, sizeof b, "%.*g", p, (double)f);
        if ((float)strtod(b, NULL) == f) break;
    }
    return strtod(b, NULL);
}

static cJSON *config_json(const qs_config *c, uint32_t mat_type) {
    const char *arch = !strcmp(c->arch, "mistral") ? "MistralForCausalLM"
                       : !strcmp(c->arch, "qwen2") ? "Qwen2ForCausalLM"
                                                   : "LlamaForCausalLM";
    cJSON *j = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(j, "architectures");
    cJSON_AddItemToArray(a, cJSON_CreateString(arch));
    cJSON_AddStringToObject(j, "model_type", !strcmp(c->arch, "llama") ? "llama" : c->arch);
    cJSON_AddNumberToObject(j, "hidden_size", c->dim);
    cJSON_AddNumberToObject(j, "intermediate_size", c->hidden_dim);
    cJSON_AddNumberToObject(j, "num_hidden_layers", c->n_layers);
    cJSON_AddNumberToObject(j, "num_attention_heads", c->n_heads);
    cJSON_AddNumberToObject(j, "num_key_value_heads", c->n_kv_heads);
    if (c->n_heads * c->head_dim != c->dim) cJSON_AddNumberToObject(j, "head_dim", c->head_dim);
    cJSON_AddNumberToObject(j, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(j, "max_position_embeddings", c->seq_len);
    cJSON_AddNumberToObject(j, "rms_norm_eps", dec(c->norm_eps));
    cJSON_AddNumberToObject(j, "rope_theta", dec(c->rope_theta));
    cJSON_AddBoolToObject(j, "tie_word_embeddings", c->tied_classifier);
    cJSON_AddStringToObject(j, "hidden_act", "silu");
    if (c->bos_id >= 0) cJSON_AddNumberToObject(j, "bos_token_id", c->bos_id);
    if (c->eos_id >= 0) cJSON_AddNumberToObject(j, "eos_token_id", c->eos_id);
    if (c->rope_scale_factor > 0.0f) {
        cJSON *r = cJSON_AddObjectToObject(j, "rope_scaling");
        cJSON_AddStringToObject(r, "rope_type", "llama3");
        cJSON_AddNumberToObject(r, "factor", dec(c->rope_scale_factor));
        cJSON_AddNumberToObject(r, "low_freq_factor", dec(c->rope_low_freq_factor));
        cJSON_AddNumberToObject(r, "high_freq_factor", dec(c->rope_high_freq_factor));
        cJSON_AddNumberToObject(r, "original_max_position_embeddings", c->rope_orig_max_pos);
    }
    cJSON_AddStringToObject(j, "torch_dtype", torch_dtype(mat_type));
    return j;
}

/* One safetensors file holding plan entries [a, b). */
static int write_shard(const char *path, const qs_save_tensor *t, int a, int b, qs_save_rows_fn fn,
                       void *user) {
    cJSON *h = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(h, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    uint64_t off = 0;
    for (int i = a; i < b; i++) {
        cJSON *e = cJSON_AddObjectToObject(h, t[i].name), *sh = cJSON_AddArrayToObject(e, "shape");
        cJSON_AddStringToObject(e, "dtype", st_dtype(t[i].type));
        if (t[i].role != QS_SAVE_NORM && t[i].role != QS_SAVE_BIAS) /* vectors are 1-D */
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t[i].rows));
        cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t[i].cols));
        uint64_t end = off + qs__save_tensor_bytes(&t[i]);
        cJSON *o = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)end));
        off = end;
    }
    char *js = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    if (!js) return qs_error_set(QS_ERR_NOMEM, "%s: out of memory", path);
    size_t len = strlen(js), padded = (len + 7) / 8 * 8;
    qs_file_out o;
    int rc = qs_file_out_open(&o, path);
    if (rc) {
        free(js);
        return rc;
    }
    uint8_t n8[8];
    for (int k = 0; k < 8; k++) n8[k] = (uint8_t)((uint64_t)padded >> (8 * k));
    if (fwrite(n8, 1, 8, o.f) != 8 || fwrite(js, 1, len, o.f) != len)
        rc = qs_error_set(QS_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    for (size_t k = len; k < padded && !rc; k++)
        if (fputc(' ', o.f) == EOF)
            rc = qs_error_set(QS_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    free(js);
    for (int i = a; i < b && !rc; i++) rc = qs__save_put(o.f, path, &t[i], i, fn, user);
    if (rc)
        qs_file_out_abort(&o);
    else
        rc = qs_file_out_commit(&o);
    return rc;
}

int qs_hf_write(const char *dir, const qs_config *c, const qs_save_tensor *t, int n,
                qs_save_rows_fn fn, void *user, uint64_t shard_bytes) {
    char path[PATH_MAX];
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return qs_error_set(QS_ERR_IO, "%s: cannot create the directory: %s", dir, strerror(errno));
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (access(path, F_OK) == 0)
        return qs_error_set(QS_ERR_IO, "%s already holds a model (config.json); remove it first",
                            dir);
    /* shards: consecutive runs of the plan of at most shard_bytes (a bigger tensor alone) */
    int *start = malloc(((size_t)n + 1) * sizeof *start), n_shards = 0;
    if (!start) return qs_error_set(QS_ERR_NOMEM, "out of memory");
    uint64_t in_shard = 0;
    for (int i = 0; i < n; i++) {
        uint64_t b = qs__save_tensor_bytes(&t[i]);
        if (i == 0 || (shard_bytes && in_shard > 0 && in_shard + b > shard_bytes)) {
            start[n_shards++] = i;
            in_shard = 0;
        }
        in_shard += b;
    }
    start[n_shards] = n;
    int rc = QS_OK;
    cJSON *wm = n_shards > 1 ? cJSON_CreateObject() : NULL;
    uint64_t total = 0;
    for (int s = 0; s < n_shards && !rc; s++) {
        char file[64];
        if (n_shards == 1)
            snprintf(file, sizeof file, "model.safetensors");
        else
            snprintf(file, sizeof file, "model-%05d-of-%05d.safetensors", s + 1, n_shards);
        snprintf(path, sizeof path, "%s/%s", dir, file);
        rc = write_shard(path, t, start[s], start[s + 1], fn, user);
        for (int i = start[s]; i < start[s + 1]; i++) {
            total += qs__save_tensor_bytes(&t[i]);
            if (wm) cJSON_AddStringToObject(wm, t[i].name, file);
        }
    }
    if (!rc && wm) {
        cJSON *idx = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(idx, "metadata");
        cJSON_AddNumberToObject(meta, "total_size", (double)total);
        cJSON_AddItemToObject(idx, "weight_map", wm);
        wm = NULL;
        rc = write_json(dir, "model.safetensors.index.json", idx);
        cJSON_Delete(idx);
    }
    cJSON_Delete(wm);
    /* config.json last: a directory without it is not a model, so a failed write leaves none */
    if (!rc) {
        cJSON *cfg = config_json(c, n ? t[0].type : QS_GGML_F32);
        rc = write_json(dir, "config.json", cfg);
        cJSON_Delete(cfg);
    }
    free(start);
    return rc;
}
