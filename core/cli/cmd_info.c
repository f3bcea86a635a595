/* qscope info MODEL: what a checkpoint holds. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "forward.h"
#include "model.h"

static const char *rope_name(int layout) {
    return layout == QS_ROPE_HALF ? "half (rotate_half)" : "interleaved pairs";
}

int qs_cmd_info(int argc, char **argv) {
    qs_cli_opt opts[] = {
        {"tokenizer", "FILE", "tokenizer file (default: embedded, or tok<V>.bin beside the model)"},
        {"tensors", NULL, "list every tensor with its shape and stored type"},
        {"json", NULL, "print one JSON object on stdout"},
    };
    const char *pos[1];
    int n_pos;
    int r =
        qs_cli_parse(argc, argv, "info", "MODEL [options]", opts, QS_COUNT(opts), pos, 1, &n_pos);
    if (r) return r == 2 ? 0 : 1;
    if (n_pos != 1) {
        fprintf(stderr, "qscope info: error: expected one MODEL argument (see --help)\n");
        return 1;
    }
    qs_model *m;
    if (qs_model_load(&m, pos[0], qs_cli_get(opts, QS_COUNT(opts), "tokenizer")))
        return qs_cli_fail("info");
    const qs_config *c = &m->cfg;
    int64_t params = qs_model_param_count(m);
    /* distinct stored types, e.g. "F32" or "F32,F16,Q4_0" */
    char types[128] = "";
    for (int i = 0; i < m->n_tensors; i++) {
        const char *t = m->tensors[i]->stored_type;
        char needle[40];
        snprintf(needle, sizeof needle, ",%s,", t);
        char hay[132];
        snprintf(hay, sizeof hay, ",%s,", types);
        if (!strstr(hay, needle) && strlen(types) + strlen(t) + 2 < sizeof types) {
            if (types[0]) strcat(types, ",");
            strcat(types, t);
        }
    }
    const char *tok_kind = m->tok ? m->tok->kind : "none";
    /* memory: what the model holds, and what a window of the default ctx adds */
    int ctx = c->seq_len < 512 ? c->seq_len : 512;
    qs_forward_bytes fb = qs_forward_estimate(m, ctx, ctx);
    size_t logits = (size_t)ctx * c->vocab_size * sizeof(float);
    size_t mapped = qs_model_mapped_bytes(m), stored = qs_model_weight_bytes(m);
    size_t alloc = qs_model_weight_alloc_bytes(m);
    if (qs_cli_get(opts, QS_COUNT(opts), "json")) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path", m->path);
        cJSON_AddStringToObject(o, "format", m->format);
        cJSON_AddStringToObject(o, "arch", c->arch);
        cJSON_AddNumberToObject(o, "dim", c->dim);
        cJSON_AddNumberToObject(o, "hidden_dim", c->hidden_dim);
        cJSON_AddNumberToObject(o, "n_layers", c->n_layers);
        cJSON_AddNumberToObject(o, "n_heads", c->n_heads);
        cJSON_AddNumberToObject(o, "n_kv_heads", c->n_kv_heads);
        cJSON_AddNumberToObject(o, "head_dim", c->head_dim);
        cJSON_AddNumberToObject(o, "vocab_size", c->vocab_size);
        cJSON_AddNumberToObject(o, "seq_len", c->seq_len);
        cJSON_AddNumberToObject(o, "rope_theta", c->rope_theta);
        cJSON_AddNumberToObject(o, "norm_eps", c->norm_eps);
        cJSON_AddStringToObject(o, "rope_layout",
                                c->rope_layout == QS_ROPE_HALF ? "half" : "interleaved");
        cJSON_AddBoolToObject(o, "tied_classifier", c->tied_classifier);
        cJSON_AddNumberToObject(o, "params", (double)params);
        cJSON_AddNumberToObject(o, "f32_bytes", (double)params * 4);
        cJSON_AddNumberToObject(o, "weight_bytes", (double)stored);
        cJSON *mem = qs_cli_memory_json();
        cJSON_AddNumberToObject(mem, "file_bytes", (double)mapped);
        cJSON *win = cJSON_AddObjectToObject(mem, "window");
        cJSON_AddNumberToObject(win, "ctx", ctx);
        cJSON_AddNumberToObject(win, "activation_bytes", (double)fb.activations);
        cJSON_AddNumberToObject(win, "kv_cache_bytes", (double)fb.kv_cache);
        cJSON_AddNumberToObject(win, "scratch_bytes", (double)fb.scratch);
        cJSON_AddNumberToObject(win, "logits_bytes", (double)logits);
        cJSON_AddItemToObject(o, "memory", mem);
        cJSON_AddStringToObject(o, "stored_types", types);
        cJSON_AddStringToObject(o, "tokenizer", tok_kind);
        if (m->tok) cJSON_AddStringToObject(o, "tokenizer_path", m->tok->path);
        if (qs_cli_get(opts, QS_COUNT(opts), "tensors")) {
            cJSON *arr = cJSON_AddArrayToObject(o, "tensors");
            for (int i = 0; i < m->n_tensors; i++) {
                cJSON *t = cJSON_CreateObject();
                cJSON_AddStringToObject(t, "name", m->tensors[i]->name);
                cJSON_AddNumberToObject(t, "rows", (double)m->tensors[i]->rows);
                cJSON_AddNumberToObject(t, "cols", (double)m->tensors[i]->cols);
                cJSON_AddStringToObject(t, "stored_type", m->tensors[i]->stored_type);
                cJSON_AddItemToArray(arr, t);
            }
        }
        qs_cli_print_json(o);
    } else {
        printf("model       %s\n", m->path);
        printf("format      %s (%s)\n", m->format, c->arch);
        printf("shape       dim %d, hidden %d, layers %d, heads %d (kv %d, head_dim %d)\n", c->dim,
               c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim);
        printf("vocab       %d, context %d, classifier %s\n", c->vocab_size, c->seq_len,
               c->tied_classifier ? "tied to the embedding" : "separate");
        printf("rope        theta %g, %s; rms eps %g\n", (double)c->rope_theta,
               rope_name(c->rope_layout), (double)c->norm_eps);
        printf("parameters  %lld (%.2f MB as f32)\n", (long long)params, params * 4.0 / 1e6);
        printf("stored as   %s (%.2f MB of weights)\n", types, stored / 1e6);
        printf("memory      %.2f MB mapped read-only, %.2f MB allocated for weights; a %d-token "
               "window adds %.2f MB of activations, %.2f MB of KV cache, %.2f MB of expansion "
               "scratch, %.2f MB of logits\n",
               mapped / 1e6, alloc / 1e6, ctx, fb.activations / 1e6, fb.kv_cache / 1e6,
               fb.scratch / 1e6, logits / 1e6);
        printf("tokenizer   %s%s%s\n", tok_kind, m->tok ? " " : "", m->tok ? m->tok->path : "");
        if (qs_cli_get(opts, QS_COUNT(opts), "tensors"))
            for (int i = 0; i < m->n_tensors; i++)
                printf("  %-24s %8lld x %-8lld %s\n", m->tensors[i]->name,
                       (long long)m->tensors[i]->rows, (long long)m->tensors[i]->cols,
                       m->tensors[i]->stored_type);
    }
    qs_model_free(m);
    return 0;
}
