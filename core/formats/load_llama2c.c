/* llama2.c checkpoints: the legacy format (7 int32 header, then float32 arrays) and the
 * versioned float32 format (export.py version 1: magic "ak42", 256-byte header).
 * The file is mapped read-only and the weights point straight into the mapping (F32). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "error.h"
#include "tensor_finite.h"
#include "gguf_dequant.h"
#include "fileio.h"
#include "load_llama2c.h"
#include "model.h"

#define LLAMA2C_MAGIC     0x616b3432u /* "ak42" */
#define LLAMA2C_V1_HEADER 256

/* One float32 array in file order; dst receives a tensor per layer (or one tensor). */
typedef struct segment {
    const char *name;
    size_t rows, cols; /* one layer's slice (or the whole array if !layered); rows 1: vector */
    int layered;
    size_t field;          /* offsetof(qs_layer_weights, ...) for layered arrays */
    const qs_tensor **dst; /* for non-layered arrays; NULL: not a weight (RoPE tables) */
} segment;

#define LW(f) offsetof(qs_layer_weights, f)

/* Multiplies with overflow detection; returns 0 on overflow. */
static int mul_ok(size_t a, size_t b, size_t *out) {
    if (a && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

static int lay_out(qs_model *m, const segment *seg, int n_seg, const unsigned char *base,
                   size_t header, size_t size, const char *path) {
    const qs_config *c = &m->cfg;
    /* total expected bytes, overflow-checked */
    size_t total = header;
    for (int i = 0; i < n_seg; i++) {
        size_t n, bytes, per_layer;
        if (!mul_ok(seg[i].rows, seg[i].cols, &per_layer) ||
            !mul_ok(per_layer, seg[i].layered ? (size_t)c->n_layers : 1, &n) ||
            !mul_ok(n, sizeof(float), &bytes) || total > SIZE_MAX - bytes)
            return qs_error_set(QS_ERR_FORMAT, "%s: header dimensions overflow the size of %s",
                                path, seg[i].name);
        total += bytes;
    }
    if (size != total) {
        /* find where the file ends, to say which array is cut */
        if (size < total) {
            size_t off = header;
            for (int i = 0; i < n_seg; i++) {
                size_t bytes =
                    seg[i].rows * seg[i].cols * (seg[i].layered ? (size_t)c->n_layers : 1) * 4;
                if (off + bytes > size)
                    return qs_error_set(QS_ERR_FORMAT,
                                        "%s: truncated: array %s needs bytes [%zu, %zu) but the "
                                        "file has %zu bytes (header says %zu in total)",
                                        path, seg[i].name, off, off + bytes, size, total);
                off += bytes;
            }
        }
        return qs_error_set(QS_ERR_FORMAT,
                            "%s: file is %zu bytes but the header implies %zu (%zu extra bytes)",
                            path, size, total, size - total);
    }
    m->w.layers = calloc((size_t)c->n_layers, sizeof *m->w.layers);
    if (!m->w.layers) return qs_error_set(QS_ERR_NOMEM, "%s: out of memory", path);
    const unsigned char *p = base + header;
    for (int i = 0; i < n_seg; i++) {
        size_t bytes = seg[i].rows * seg[i].cols * sizeof(float);
        for (int l = 0; l < (seg[i].layered ? c->n_layers : 1); l++, p += bytes) {
            const qs_tensor **dst =
                seg[i].layered ? (const qs_tensor **)((char *)&m->w.layers[l] + seg[i].field)
                               : seg[i].dst;
            if (!dst || bytes == 0) continue;
            qs_tensor *t;
            int rc = qs__model_new_tensor(m, &t, seg[i].name, QS_GGML_F32, p, bytes,
                                          (int64_t)seg[i].rows, (int64_t)seg[i].cols, 0);
            if (rc) return rc;
            *dst = t;
        }
    }
    return QS_OK;
}

/* Validates the header against size and points m's weights into b (which must outlive m).
 * Shared by the file loader (b is the mapping) and qs__load_llama2c_buffer (fuzz target). */
static int parse(qs_model *m, const unsigned char *b, size_t size, const char *path) {
    int rc;
    int32_t h[7];
    size_t header;
    int version = 0, shared;
    uint32_t magic = 0;
    if (size >= 4) memcpy(&magic, b, 4);
    if (size >= 8 && magic == LLAMA2C_MAGIC) {
        int32_t v;
        memcpy(&v, b + 4, 4);
        if (v != 1) {
            return qs_error_set(QS_ERR_UNSUPPORTED,
                                "%s: llama2.c checkpoint version %d is not supported (only the "
                                "legacy format and float32 version 1)",
                                path, v);
        }
        if (size < LLAMA2C_V1_HEADER) {
            return qs_error_set(QS_ERR_FORMAT,
                                "%s: truncated: %zu bytes, shorter than the %d-byte "
                                "version-1 header",
                                path, size, LLAMA2C_V1_HEADER);
        }
        version = 1;
        memcpy(h, b + 8, sizeof h);
        shared = b[8 + sizeof h] != 0;
        header = LLAMA2C_V1_HEADER;
    } else {
        if (size < sizeof h) {
            return qs_error_set(QS_ERR_FORMAT,
                                "%s: truncated: %zu bytes, shorter than the 28-byte "
                                "llama2.c header",
                                path, size);
        }
        memcpy(h, b, sizeof h);
        /* a negative vocab_size marks an untied classifier; INT32_MIN has no positive
         * counterpart (negating it is undefined), so it is refused here */
        if (h[5] == INT32_MIN)
            return qs_error_set(QS_ERR_FORMAT, "%s: vocab_size = %d is out of range", path, h[5]);
        shared = h[5] > 0;
        if (h[5] < 0) h[5] = -h[5];
        header = sizeof h;
    }
    qs_config *c = &m->cfg;
    c->dim = h[0];
    c->hidden_dim = h[1];
    c->n_layers = h[2];
    c->n_heads = h[3];
    c->n_kv_heads = h[4];
    c->vocab_size = h[5];
    c->seq_len = h[6];
    c->tied_classifier = shared;
    c->bos_id = 1;
    c->eos_id = 2;
    if (c->n_heads > 0 && c->dim > 0 && c->dim % c->n_heads != 0) {
        return qs_error_set(QS_ERR_FORMAT, "%s: n_heads = %d does not divide dim = %d", path,
                            c->n_heads, c->dim);
    }
    c->head_dim = c->n_heads > 0 ? c->dim / c->n_heads : 0;
    if ((rc = qs_config_validate(c, path))) return rc;

    size_t D = (size_t)c->dim, H = (size_t)c->hidden_dim, V = (size_t)c->vocab_size;
    size_t KV = (size_t)c->n_kv_heads * (size_t)c->head_dim, S = (size_t)c->seq_len;
    size_t half = (size_t)c->head_dim / 2;
    if (version == 0) {
        segment seg[] = {
            {"token_embedding", V, D, 0, 0, &m->w.token_embd},
            {"rms_att", 1, D, 1, LW(attn_norm), NULL},
            {"wq", D, D, 1, LW(wq), NULL},
            {"wk", KV, D, 1, LW(wk), NULL},
            {"wv", KV, D, 1, LW(wv), NULL},
            {"wo", D, D, 1, LW(wo), NULL},
            {"rms_ffn", 1, D, 1, LW(ffn_norm), NULL},
            {"w1", H, D, 1, LW(w_gate), NULL},
            {"w2", D, H, 1, LW(w_down), NULL},
            {"w3", H, D, 1, LW(w_up), NULL},
            {"rms_final", 1, D, 0, 0, &m->w.output_norm},
            {"freq_cis_real", S, half, 0, 0, NULL},
            {"freq_cis_imag", S, half, 0, 0, NULL},
            {"wcls", shared ? 0 : V, D, 0, 0, &m->w.output},
        };
        rc = lay_out(m, seg, sizeof seg / sizeof seg[0], b, header, size, path);
    } else {
        segment seg[] = {
            {"attention_norm", 1, D, 1, LW(attn_norm), NULL},
            {"ffn_norm", 1, D, 1, LW(ffn_norm), NULL},
            {"norm", 1, D, 0, 0, &m->w.output_norm},
            {"tok_embeddings", V, D, 0, 0, &m->w.token_embd},
            {"wq", D, D, 1, LW(wq), NULL},
            {"wk", KV, D, 1, LW(wk), NULL},
            {"wv", KV, D, 1, LW(wv), NULL},
            {"wo", D, D, 1, LW(wo), NULL},
            {"w1", H, D, 1, LW(w_gate), NULL},
            {"w2", D, H, 1, LW(w_down), NULL},
            {"w3", H, D, 1, LW(w_up), NULL},
            {"output", shared ? 0 : V, D, 0, 0, &m->w.output},
        };
        rc = lay_out(m, seg, sizeof seg / sizeof seg[0], b, header, size, path);
    }
    if (rc) return rc;
    if (shared) m->w.output = m->w.token_embd;
    if ((rc = qs__model_index_weights(m))) return rc;
    for (int i = 0; i < m->n_tensors && rc == QS_OK; i++)
        rc = qs_tensor_check_finite(m->tensors[i]->data, QS_GGML_F32,
                                    qs_tensor_numel(m->tensors[i]), path, m->tensors[i]->name);
    return rc;
}

int qs__load_llama2c(qs_model **out, const char *path) {
    *out = NULL;
    qs_model *m = qs__model_new(path, "llama2c");
    if (!m) return qs_error_set(QS_ERR_NOMEM, "%s: out of memory", path);
    void *map = NULL;
    size_t size = 0;
    int rc = qs_file_map(path, &map, &size);
    if (rc == QS_OK) rc = qs__model_add_map(m, map, size);
    if (rc == QS_OK) rc = parse(m, m->map, m->map_size, path);
    if (rc) {
        qs_model_free(m);
        return rc;
    }
    *out = m;
    return QS_OK;
}

int qs__load_llama2c_buffer(qs_model **out, const unsigned char *buf, size_t size,
                            const char *path) {
    *out = NULL;
    qs_model *m = qs__model_new(path, "llama2c");
    if (!m) return qs_error_set(QS_ERR_NOMEM, "%s: out of memory", path);
    int rc = parse(m, buf, size, path);
    if (rc) {
        qs_model_free(m);
        return rc;
    }
    *out = m;
    return QS_OK;
}
