/* Checkpoint plans, storage-type conversion, and saving a model in any format (save.h). */
#include "save.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fp16.h"
#include "gguf_dequant.h"

/* ---- names -------------------------------------------------------------------------- */

int qs_save_format_parse(const char *name) {
    if (!strcmp(name, "llama2c")) return QS_SAVE_LLAMA2C;
    if (!strcmp(name, "gguf")) return QS_SAVE_GGUF;
    if (!strcmp(name, "hf")) return QS_SAVE_HF;
    return -1;
}

int qs_save_dtype_parse(const char *name) {
    static const struct {
        const char *n;
        int t;
    } names[] = {{"f32", QS_GGML_F32},
                 {"f16", QS_GGML_F16},
                 {"bf16", QS_GGML_BF16},
                 {"q8_0", QS_GGML_Q8_0},
                 {"q4_0", QS_GGML_Q4_0}};
    char low[16];
    size_t i = 0;
    for (; name[i] && i < sizeof low - 1; i++) low[i] = (char)tolower((unsigned char)name[i]);
    low[i] = '\0';
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (!strcmp(low, names[k].n)) return names[k].t;
    return -1;
}

/* ---- conversion --------------------------------------------------------------------- */

/* Q8_0 and Q4_0 blocks of 32, by the usual recipe: d = absmax / 127 (Q8_0) or
 * max-magnitude value / -8 (Q4_0), codes rounded to nearest. Enough to make a realistic file;
 * qscope's own quantization study uses quant/. */
static void q8_0_block(uint8_t *b, const float *x) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
    uint16_t h = qs_fp16_from_f32(amax / 127.0f);
    float d = qs_fp16_to_f32(h), id = d > 0.0f ? 1.0f / d : 0.0f;
    b[0] = (uint8_t)h, b[1] = (uint8_t)(h >> 8);
    for (int j = 0; j < 32; j++) {
        float q = x[j] * id;
        int v = (int)(q < 0 ? q - 0.5f : q + 0.5f);
        b[2 + j] = (uint8_t)(int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    }
}

static void q4_0_block(uint8_t *b, const float *x) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++) {
        float a = x[j] < 0 ? -x[j] : x[j];
        if (a > amax) amax = a, max = x[j];
    }
    uint16_t h = qs_fp16_from_f32(max / -8.0f);
    float d = qs_fp16_to_f32(h), id = d != 0.0f ? 1.0f / d : 0.0f;
    b[0] = (uint8_t)h, b[1] = (uint8_t)(h >> 8);
    for (int j = 0; j < 16; j++) {
        int lo = (int)(x[j] * id + 8.5f), hi = (int)(x[j + 16] * id + 8.5f);
        lo = lo < 0 ? 0 : lo > 15 ? 15 : lo;
        hi = hi < 0 ? 0 : hi > 15 ? 15 : hi;
        b[2 + j] = (uint8_t)(lo | hi << 4);
    }
}

void qs_save_convert(uint8_t *dst, const float *x, int64_t n, uint32_t type) {
    switch (type) {
    case QS_GGML_F32:
        for (int64_t i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, &x[i], 4);
            for (int k = 0; k < 4; k++) dst[4 * i + k] = (uint8_t)(u >> (8 * k));
        }
        break;
    case QS_GGML_F16:
    case QS_GGML_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = type == QS_GGML_F16 ? qs_fp16_from_f32(x[i]) : qs_bf16_from_f32(x[i]);
            dst[2 * i] = (uint8_t)h, dst[2 * i + 1] = (uint8_t)(h >> 8);
        }
        break;
    case QS_GGML_Q8_0:
        for (int64_t b = 0; b < n / 32; b++) q8_0_block(dst + 34 * b, x + 32 * b);
        break;
    case QS_GGML_Q4_0:
        for (int64_t b = 0; b < n / 32; b++) q4_0_block(dst + 18 * b, x + 32 * b);
        break;
    default: break;
    }
}

/* ---- plans -------------------------------------------------------------------------- */

typedef struct plan {
    qs_save_tensor *t;
    int n;
} plan;

static void add(plan *p, const char *name, const char *qs_name, int64_t rows, int64_t cols,
                uint32_t type, int role) {
    qs_save_tensor *x = &p->t[p->n++];
    memset(x, 0, sizeof *x);
    snprintf(x->name, sizeof x->name, "%s", name);
    snprintf(x->qs_name, sizeof x->qs_name, "%s", qs_name);
    x->rows = rows;
    x->cols = cols;
    x->type = type;
    x->role = role;
}

static const struct {
    const char *qs, *hf;
    int role;
} layer_parts[] = {
    {"attn_norm", "input_layernorm.weight", QS_SAVE_NORM},
    {"attn_q", "self_attn.q_proj.weight", QS_SAVE_MATRIX},
    {"attn_q.bias", "self_attn.q_proj.bias", QS_SAVE_BIAS},
    {"attn_k", "self_attn.k_proj.weight", QS_SAVE_MATRIX},
    {"attn_k.bias", "self_attn.k_proj.bias", QS_SAVE_BIAS},
    {"attn_v", "self_attn.v_proj.weight", QS_SAVE_MATRIX},
    {"attn_v.bias", "self_attn.v_proj.bias", QS_SAVE_BIAS},
    {"attn_output", "self_attn.o_proj.weight", QS_SAVE_MATRIX},
    {"ffn_norm", "post_attention_layernorm.weight", QS_SAVE_NORM},
    {"ffn_gate", "mlp.gate_proj.weight", QS_SAVE_MATRIX},
    {"ffn_up", "mlp.up_proj.weight", QS_SAVE_MATRIX},
    {"ffn_down", "mlp.down_proj.weight", QS_SAVE_MATRIX},
};

/* (rows, cols) of a layer part */
static void part_shape(const qs_config *c, const char *qs, int64_t *r, int64_t *k) {
    int64_t D = c->dim, H = c->hidden_dim, Q = (int64_t)c->n_heads * c->head_dim;
    int64_t K = (int64_t)c->n_kv_heads * c->head_dim;
    *r = 1, *k = D;
    if (!strcmp(qs, "attn_q")) *r = Q;
    if (!strcmp(qs, "attn_k") || !strcmp(qs, "attn_v")) *r = K;
    if (!strcmp(qs, "attn_output")) *r = D, *k = Q;
    if (!strcmp(qs, "ffn_gate") || !strcmp(qs, "ffn_up")) *r = H;
    if (!strcmp(qs, "ffn_down")) *r = D, *k = H;
    if (!strcmp(qs, "attn_q.bias")) *k = Q;
    if (!strcmp(qs, "attn_k.bias") || !strcmp(qs, "attn_v.bias")) *k = K;
}

static int check_types(const qs_config *c, int format, uint32_t mat, uint32_t vec) {
    static const char *fmt_name[] = {"llama2.c", "GGUF", "Hugging Face"};
    int ok_mat = format == QS_SAVE_LLAMA2C ? mat == QS_GGML_F32
                 : format == QS_SAVE_HF
                     ? mat == QS_GGML_F32 || mat == QS_GGML_F16 || mat == QS_GGML_BF16
                     : mat == QS_GGML_F32 || mat == QS_GGML_F16 || mat == QS_GGML_BF16 ||
                           mat == QS_GGML_Q8_0 || mat == QS_GGML_Q4_0;
    int ok_vec = format == QS_SAVE_GGUF || format == QS_SAVE_LLAMA2C
                     ? vec == QS_GGML_F32
                     : vec == QS_GGML_F32 || vec == QS_GGML_F16 || vec == QS_GGML_BF16;
    if (!ok_mat || !ok_vec)
        return qs_error_set(QS_ERR_UNSUPPORTED, "the %s writer cannot store %s weights",
                            fmt_name[format], qs_dtype_name(ok_mat ? vec : mat));
    if ((mat == QS_GGML_Q8_0 || mat == QS_GGML_Q4_0) &&
        (c->dim % 32 || c->hidden_dim % 32 || (c->n_heads * c->head_dim) % 32))
        return qs_error_set(QS_ERR_UNSUPPORTED,
                            "%s needs every row length to be a multiple of 32 (dim %d, "
                            "hidden %d)",
                            qs_dtype_name(mat), c->dim, c->hidden_dim);
    return QS_OK;
}

static int check_format(const qs_config *c, int format) {
    const char *why = NULL;
    if (format == QS_SAVE_LLAMA2C) {
        if (c->n_heads * c->head_dim != c->dim)
            why = "n_heads * head_dim differs from dim";
        else if (c->has_qkv_bias)
            why = "q/k/v biases";
        else if (c->rope_theta != 10000.0f)
            why = "RoPE theta other than 10000";
        else if (c->rope_scale_factor > 0.0f)
            why = "RoPE scaling";
        else if (c->norm_eps != 1e-5f)
            why = "RMSNorm eps other than 1e-5";
        if (why)
            return qs_error_set(QS_ERR_UNSUPPORTED,
                                "the llama2.c format cannot hold this model (%s)", why);
    } else if (format == QS_SAVE_GGUF) {
        if (c->has_qkv_bias)
            why = "q/k/v biases (qscope reads llama-architecture GGUF files; write --format hf)";
        else if (c->rope_scale_factor > 0.0f)
            why = "RoPE scaling";
        if (why) return qs_error_set(QS_ERR_UNSUPPORTED, "GGUF cannot hold this model (%s)", why);
    } else if (format != QS_SAVE_HF) {
        return qs_error_set(QS_ERR_ARG, "unknown checkpoint format %d", format);
    }
    return QS_OK;
}

int qs_save_plan(qs_save_tensor **out, int *n, const qs_config *c, int format, uint32_t mat_type,
                 uint32_t vec_type) {
    *out = NULL;
    *n = 0;
    int rc = check_format(c, format);
    if (!rc) rc = check_types(c, format, mat_type, vec_type);
    if (rc) return rc;
    plan p = {calloc(3 + 12 * (size_t)c->n_layers, sizeof(qs_save_tensor)), 0};
    if (!p.t) return qs_error_set(QS_ERR_NOMEM, "out of memory planning a checkpoint");
    int64_t D = c->dim, V = c->vocab_size;
    const int n_parts = sizeof layer_parts / sizeof layer_parts[0];
    char name[96], qs[64];
    if (format == QS_SAVE_LLAMA2C) {
        /* array by array, every layer's slice in turn (load_llama2c.c) */
        static const char *order[] = {"attn_norm", "attn_q",   "attn_k",   "attn_v", "attn_output",
                                      "ffn_norm",  "ffn_gate", "ffn_down", "ffn_up"};
        add(&p, "token_embedding", "token_embd", V, D, QS_GGML_F32, QS_SAVE_EMBD);
        for (int k = 0; k < 9; k++)
            for (int l = 0; l < c->n_layers; l++) {
                int64_t r, cols;
                part_shape(c, order[k], &r, &cols);
                snprintf(name, sizeof name, "%s.%d", order[k], l);
                snprintf(qs, sizeof qs, "blk.%d.%s", l, order[k]);
                add(&p, name, qs, r, cols, QS_GGML_F32, r == 1 ? QS_SAVE_NORM : QS_SAVE_MATRIX);
            }
        add(&p, "rms_final", "output_norm", 1, D, QS_GGML_F32, QS_SAVE_NORM);
        if (!c->tied_classifier) add(&p, "wcls", "output", V, D, QS_GGML_F32, QS_SAVE_MATRIX);
    } else if (format == QS_SAVE_GGUF) {
        add(&p, "token_embd.weight", "token_embd", V, D, mat_type, QS_SAVE_EMBD);
        for (int l = 0; l < c->n_layers; l++)
            for (int k = 0; k < n_parts; k++) {
                if (layer_parts[k].role == QS_SAVE_BIAS) continue;
                int64_t r, cols;
                part_shape(c, layer_parts[k].qs, &r, &cols);
                snprintf(name, sizeof name, "blk.%d.%s.weight", l, layer_parts[k].qs);
                snprintf(qs, sizeof qs, "blk.%d.%s", l, layer_parts[k].qs);
                add(&p, name, qs, r, cols, r == 1 ? vec_type : mat_type, layer_parts[k].role);
            }
        add(&p, "output_norm.weight", "output_norm", 1, D, vec_type, QS_SAVE_NORM);
        if (!c->tied_classifier) add(&p, "output.weight", "output", V, D, mat_type, QS_SAVE_MATRIX);
    } else {
        add(&p, "model.embed_tokens.weight", "token_embd", V, D, mat_type, QS_SAVE_EMBD);
        for (int l = 0; l < c->n_layers; l++)
            for (int k = 0; k < n_parts; k++) {
                if (layer_parts[k].role == QS_SAVE_BIAS && !c->has_qkv_bias) continue;
                int64_t r, cols;
                part_shape(c, layer_parts[k].qs, &r, &cols);
                snprintf(name, sizeof name, "model.layers.%d.%s", l, layer_parts[k].hf);
                snprintf(qs, sizeof qs, "blk.%d.%s", l, layer_parts[k].qs);
                add(&p, name, qs, r, cols, r == 1 ? vec_type : mat_type, layer_parts[k].role);
            }
        add(&p, "model.norm.weight", "output_norm", 1, D, vec_type, QS_SAVE_NORM);
        if (!c->tied_classifier)
            add(&p, "lm_head.weight", "output", V, D, mat_type, QS_SAVE_MATRIX);
    }
    *out = p.t;
    *n = p.n;
    return QS_OK;
}

/* ---- a model's tensors as the callback ------------------------------------------------ */

typedef struct model_src {
    const qs_model *m;
    int hf; /* q/k rows (and biases) go back to Hugging Face's rotate_half order */
} model_src;

static int model_rows(void *user, const qs_save_tensor *st, int index, int64_t r0, int64_t n,
                      float *out) {
    (void)index;
    const model_src *s = user;
    const qs_tensor *t = qs_model_tensor(s->m, st->qs_name);
    if (!t && !strcmp(st->qs_name, "output")) t = s->m->w.output; /* a tied classifier */
    if (!t || t->rows != st->rows || t->cols != st->cols)
        return qs_error_set(QS_ERR_ARG, "%s: no tensor %s of shape (%lld, %lld) to save",
                            s->m->path, st->qs_name, (long long)st->rows, (long long)st->cols);
    int qk = s->hf && (strstr(st->qs_name, ".attn_q") || strstr(st->qs_name, ".attn_k"));
    int hd = s->m->cfg.head_dim;
    if (!qk) {
        qs_tensor_rows(out, t, r0, n);
        return QS_OK;
    }
    /* rotate_half order: stored row j of a head is logical row 2j (j < hd/2) or
     * 2(j - hd/2) + 1; for a bias the same on its elements */
    if (t->rows == 1) {
        const float *v = t->f32;
        for (int64_t j = 0; j < t->cols; j++) {
            int64_t h = j / hd, i = j % hd;
            out[j] = v[h * hd + (i < hd / 2 ? 2 * i : 2 * (i - hd / 2) + 1)];
        }
        return QS_OK;
    }
    for (int64_t r = r0; r < r0 + n; r++) {
        int64_t h = r / hd, i = r % hd;
        qs_tensor_rows(out + (r - r0) * t->cols, t,
                       h * hd + (i < hd / 2 ? 2 * i : 2 * (i - hd / 2) + 1), 1);
    }
    return QS_OK;
}

int qs_model_save(const qs_model *m, const char *path, int format, uint32_t mat_type,
                  uint64_t shard_bytes) {
    qs_save_tensor *t;
    int n;
    /* no checkpoint format has a place for an online activation transform (a rotated
     * model's Hadamard before ffn_down): saving would silently change the function */
    if (m->online.fn)
        return qs_error_set(QS_ERR_UNSUPPORTED,
                            "%s: cannot save a model with an online activation transform "
                            "(a rotated ffn_down_in); no checkpoint format holds one",
                            m->path);
    uint32_t vec = format == QS_SAVE_HF ? mat_type : QS_GGML_F32;
    int rc = qs_save_plan(&t, &n, &m->cfg, format, mat_type, vec);
    if (rc) return qs_error_prefix(rc, "%s", m->path);
    model_src s = {m, format == QS_SAVE_HF};
    if (format == QS_SAVE_LLAMA2C)
        rc = qs_llama2c_write(path, &m->cfg, t, n, model_rows, &s);
    else if (format == QS_SAVE_GGUF)
        rc = qs_gguf_write(path, &m->cfg, t, n, model_rows, &s);
    else
        rc = qs_hf_write(path, &m->cfg, t, n, model_rows, &s, shard_bytes);
    free(t);
    return rc;
}

/* ---- shared by the writers ------------------------------------------------------------ */

/* Bytes tensor t takes in its storage type. */
size_t qs__save_tensor_bytes(const qs_save_tensor *t) {
    return qs_dtype_row_bytes(t->type, t->cols) * (size_t)t->rows;
}

/* Writes tensor `index` of the plan to f, a block of rows at a time. */
int qs__save_put(FILE *f, const char *path, const qs_save_tensor *t, int index, qs_save_rows_fn fn,
                 void *user) {
    int64_t block = t->cols >= (1 << 20) ? 1 : (1 << 20) / t->cols;
    if (block > t->rows) block = t->rows;
    size_t row_bytes = qs_dtype_row_bytes(t->type, t->cols);
    float *x = malloc((size_t)block * (size_t)t->cols * sizeof *x);
    uint8_t *b = malloc((size_t)block * row_bytes);
    int rc =
        x && b ? QS_OK : qs_error_set(QS_ERR_NOMEM, "%s: out of memory writing %s", path, t->name);
    for (int64_t r0 = 0; r0 < t->rows && rc == QS_OK; r0 += block) {
        int64_t n = t->rows - r0 < block ? t->rows - r0 : block;
        if ((rc = fn(user, t, index, r0, n, x))) break;
        qs_save_convert(b, x, n * t->cols, t->type);
        if (fwrite(b, row_bytes, (size_t)n, f) != (size_t)n)
            rc = qs_error_set(QS_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    }
    free(x);
    free(b);
    return rc;
}
