/* qscope synth -o PATH: a checkpoint with random weights of a realistic shape, in any format
 * qscope reads, so memory and speed can be measured at the published shapes without a
 * download. Matrices (the embedding too) are N(0, 1/in), so activations and logits stay in a
 * normal range (a perplexity near the vocabulary size), norm gains 1, biases 0. Values are drawn
 * per row from a generator seeded by (seed, tensor, row): the same file for any thread count, and
 * rows are made in parallel.
 *
 * Presets (--shape) carry the published configs (config.json of each model on the hub):
 *   llama2-7b   Llama 2 7B      dim 4096, hidden 11008, 32 layers, 32 heads / 32 kv,
 *                               vocab 32000, theta 1e4, eps 1e-5, context 4096
 *   llama3-8b   Llama 3 8B      dim 4096, hidden 14336, 32 layers, 32 heads / 8 kv,
 *                               vocab 128256, theta 5e5, eps 1e-5, context 8192
 *   mistral-7b  Mistral 7B v0.1 dim 4096, hidden 14336, 32 layers, 32 heads / 8 kv,
 *                               vocab 32000, theta 1e4, eps 1e-5, context 32768
 *   qwen2.5-7b  Qwen2.5 7B      dim 3584, hidden 18944, 28 layers, 28 heads / 4 kv,
 *                               vocab 152064, theta 1e6, eps 1e-6, context 131072, q/k/v bias
 * All have a separate classifier (without --shape it is tied). --layers N cuts a preset short; any
 * other dimension option overrides the preset's. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "progress.h"
#include "save.h"

typedef struct preset {
    const char *name, *arch;
    long dim, hidden, layers, heads, kv_heads, vocab, seq;
    float theta, eps;
    int bias, tied;
} preset;

static const preset presets[] = {
    {"llama2-7b", "llama", 4096, 11008, 32, 32, 32, 32000, 4096, 10000.0f, 1e-5f, 0, 0},
    {"llama3-8b", "llama", 4096, 14336, 32, 32, 8, 128256, 8192, 500000.0f, 1e-5f, 0, 0},
    {"mistral-7b", "mistral", 4096, 14336, 32, 32, 8, 32000, 32768, 10000.0f, 1e-5f, 0, 0},
    {"qwen2.5-7b", "qwen2", 3584, 18944, 28, 28, 4, 152064, 131072, 1000000.0f, 1e-6f, 1, 0},
};
/* without --shape: a small realistic width, quick to write (tied classifier) */
static const preset plain = {"",    "llama", 2048,     5504,  4, 16, 16,
                             32000, 1024,    10000.0f, 1e-5f, 0, 1};

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

typedef struct gen {
    uint64_t seed;
    qs_progress progress;
} gen;

/* Rows of random values: N(0, 1/cols) matrices, ones (norms), zeros (biases). */
static int synth_rows(void *user, const qs_save_tensor *t, int index, int64_t r0, int64_t n,
                      float *out) {
    gen *g = user;
    float sd = 1.0f / sqrtf((float)t->cols);
#pragma omp parallel for schedule(static) if (n * t->cols >= 65536)
    for (int64_t r = 0; r < n; r++) {
        float *y = out + (size_t)r * t->cols;
        if (t->role == QS_SAVE_NORM || t->role == QS_SAVE_BIAS) {
            for (int64_t c = 0; c < t->cols; c++) y[c] = t->role == QS_SAVE_NORM ? 1.0f : 0.0f;
            continue;
        }
        uint64_t s = g->seed ^ ((uint64_t)index << 40) ^ (uint64_t)(r0 + r) * 0x2545F4914F6CDD1Dull;
        for (int64_t c = 0; c < t->cols; c += 2) { /* Box–Muller: two values per pair */
            double u1 = ((splitmix(&s) >> 11) + 1.0) / 9007199254740993.0;
            double u2 = (splitmix(&s) >> 11) / 9007199254740992.0, rad = sqrt(-2.0 * log(u1));
            y[c] = sd * (float)(rad * cos(2.0 * M_PI * u2));
            if (c + 1 < t->cols) y[c + 1] = sd * (float)(rad * sin(2.0 * M_PI * u2));
        }
    }
    qs_progress_add(&g->progress, (long)(n * t->cols / 1000));
    return QS_OK;
}

int qs_cmd_synth(int argc, char **argv) {
    qs_cli_opt opts[] = {
        {"output", "PATH", "checkpoint to write: a file (llama2c, gguf) or a directory (hf)"},
        {"format", "llama2c|gguf|hf", "checkpoint format", "llama2c"},
        {"dtype", "T",
         "weight storage type: f32 (llama2c), f32|f16|bf16 (hf), f32|f16|bf16|q8_0|q4_0 (gguf)",
         "f32"},
        {"shape", "NAME", "published shape: llama2-7b, llama3-8b, mistral-7b, qwen2.5-7b"},
        {"layers", "N", "blocks (cuts a preset short)", "4"},
        {"dim", "N", "model width", "2048"},
        {"hidden", "N", "feed-forward width", "5504"},
        {"heads", "N", "attention heads", "16"},
        {"kv-heads", "N", "key/value heads (GQA when fewer than heads)", "16"},
        {"vocab", "N", "vocabulary size", "32000"},
        {"seq", "N", "context length", "1024"},
        {"shard-gb", "G", "hf: largest safetensors shard in GB (0: one file)", "5"},
        {"seed", "N", "random seed", "1"},
        {"dry-run", NULL, "write nothing: report the shape, parameters and bytes"},
        {"json", NULL, "print one JSON object on stdout"},
    };
    const int n = QS_COUNT(opts);
    const char *pos[1];
    int n_pos;
    int r = qs_cli_parse(argc, argv, "synth", "-o PATH [options]", opts, n, pos, 0, &n_pos);
    if (r) return r == 2 ? 0 : 1;
    const char *path = qs_cli_get(opts, n, "output");
    int dry = qs_cli_get(opts, n, "dry-run") != NULL;
    if (!path && dry) path = "(dry run)";
    if (!path) {
        fprintf(stderr, "qscope synth: error: -o PATH is required\n");
        return 1;
    }
    int format = qs_save_format_parse(qs_cli_get(opts, n, "format"));
    int dtype = qs_save_dtype_parse(qs_cli_get(opts, n, "dtype"));
    if (format < 0 || dtype < 0) {
        fprintf(stderr, "qscope synth: error: unknown %s '%s'\n",
                format < 0 ? "--format" : "--dtype",
                qs_cli_get(opts, n, format < 0 ? "format" : "dtype"));
        return 1;
    }
    const preset *p = &plain;
    const char *shape = qs_cli_get(opts, n, "shape");
    if (shape) {
        p = NULL;
        for (int i = 0; i < QS_COUNT(presets); i++)
            if (!strcmp(shape, presets[i].name)) p = &presets[i];
        if (!p) {
            fprintf(stderr,
                    "qscope synth: error: unknown --shape '%s' (llama2-7b, llama3-8b, "
                    "mistral-7b, qwen2.5-7b)\n",
                    shape);
            return 1;
        }
    }
    /* a dimension given on the command line wins over the preset's */
    struct {
        const char *opt;
        long lo, hi, preset_value;
        long *out;
    } dims[] = {
        {"dim", 2, 65536, p->dim, NULL},          {"hidden", 1, 262144, p->hidden, NULL},
        {"layers", 1, 1024, p->layers, NULL},     {"heads", 1, 4096, p->heads, NULL},
        {"kv-heads", 1, 4096, p->kv_heads, NULL}, {"vocab", 1, 1 << 22, p->vocab, NULL},
        {"seq", 2, 1 << 22, p->seq, NULL},
    };
    long v[7];
    for (int i = 0; i < 7; i++) {
        v[i] = dims[i].preset_value;
        int given = 0;
        for (int k = 0; k < n; k++)
            if (!strcmp(opts[k].name, dims[i].opt)) given = opts[k].repeat_count > 0;
        if (given && qs_cli_int(opts, n, dims[i].opt, dims[i].lo, dims[i].hi, &v[i]))
            return qs_cli_fail("synth");
    }
    long seed = 1;
    double shard_gb = 5;
    if (qs_cli_int(opts, n, "seed", 1, 1L << 62, &seed) ||
        qs_cli_double(opts, n, "shard-gb", 0, 1e6, &shard_gb))
        return qs_cli_fail("synth");
    long d = v[0], nh = v[3], nkv = v[4];
    if (d % nh || nh % nkv || (d / nh) % 2) {
        fprintf(stderr, "qscope synth: error: heads must divide dim, kv-heads must divide heads, "
                        "head_dim must be even\n");
        return 1;
    }
    qs_config c;
    qs_config_defaults(&c);
    snprintf(c.arch, sizeof c.arch, "%s", p->arch);
    c.dim = (int)d;
    c.hidden_dim = (int)v[1];
    c.n_layers = (int)v[2];
    c.n_heads = (int)nh;
    c.n_kv_heads = (int)nkv;
    c.head_dim = (int)(d / nh);
    c.vocab_size = (int)v[5];
    c.seq_len = (int)v[6];
    c.rope_theta = p->theta;
    c.norm_eps = p->eps;
    c.has_qkv_bias = p->bias;
    c.tied_classifier = p->tied;
    c.bos_id = c.vocab_size > 2 ? 1 : -1;
    c.eos_id = c.vocab_size > 2 ? 2 : -1;
    qs_save_tensor *plan;
    int n_t;
    uint32_t vec = format == QS_SAVE_HF ? (uint32_t)dtype : QS_GGML_F32;
    if (format == QS_SAVE_HF && (dtype == QS_GGML_Q8_0 || dtype == QS_GGML_Q4_0))
        vec = QS_GGML_F32; /* refused below with the type named */
    if (qs_save_plan(&plan, &n_t, &c, format, (uint32_t)dtype, vec)) return qs_cli_fail("synth");
    uint64_t bytes = 0, params = 0;
    for (int i = 0; i < n_t; i++) {
        bytes += qs__save_tensor_bytes(&plan[i]);
        params += (uint64_t)(plan[i].rows * plan[i].cols);
    }
    gen g = {(uint64_t)seed * 0x9E3779B97F4A7C15ull};
    qs_progress_start(&g.progress, "synth (k values)", (long)(params / 1000));
    int rc = QS_OK;
    if (dry)
        ;
    else if (format == QS_SAVE_LLAMA2C)
        rc = qs_llama2c_write(path, &c, plan, n_t, synth_rows, &g);
    else if (format == QS_SAVE_GGUF)
        rc = qs_gguf_write(path, &c, plan, n_t, synth_rows, &g);
    else
        rc = qs_hf_write(path, &c, plan, n_t, synth_rows, &g, (uint64_t)(shard_gb * 1e9));
    double secs = qs_progress_end(&g.progress);
    free(plan);
    if (rc) return qs_cli_fail("synth");
    fprintf(stderr,
            "%s %s (%s, %s): dim %ld, hidden %ld, layers %ld, heads %ld/%ld, vocab %ld; "
            "%.3g params, %.3g GB of weights in %.0f s\n",
            dry ? "would write" : "wrote", path, qs_cli_get(opts, n, "format"),
            qs_dtype_name((uint32_t)dtype), d, v[1], v[2], nh, nkv, v[5], (double)params,
            bytes / 1e9, secs);
    if (qs_cli_get(opts, n, "json")) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "output", path);
        cJSON_AddStringToObject(o, "format", qs_cli_get(opts, n, "format"));
        cJSON_AddStringToObject(o, "dtype", qs_dtype_name((uint32_t)dtype));
        cJSON_AddStringToObject(o, "shape", shape ? shape : "custom");
        cJSON_AddStringToObject(o, "arch", c.arch);
        cJSON_AddNumberToObject(o, "dim", c.dim);
        cJSON_AddNumberToObject(o, "hidden_dim", c.hidden_dim);
        cJSON_AddNumberToObject(o, "n_layers", c.n_layers);
        cJSON_AddNumberToObject(o, "n_heads", c.n_heads);
        cJSON_AddNumberToObject(o, "n_kv_heads", c.n_kv_heads);
        cJSON_AddNumberToObject(o, "vocab_size", c.vocab_size);
        cJSON_AddNumberToObject(o, "params", (double)params);
        cJSON_AddNumberToObject(o, "weight_bytes", (double)bytes);
        cJSON_AddNumberToObject(o, "seconds", secs);
        qs_cli_print_json(o);
    }
    return 0;
}
