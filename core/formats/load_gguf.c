/* GGUF models (architecture `llama`, as written by llama.cpp's converters and quantizer).
 *
 * Hyperparameters come from `llama.*` keys; weights keep llama.cpp's names with the
 * ".weight" suffix dropped. GGUF stores ne[0] as the contiguous dimension, so a matrix
 * [ne0, ne1] is (rows = ne1, cols = ne0) here. q/k are not permuted in these files: llama.cpp
 * rotates interleaved pairs for `llama`, the layout llama2.c uses (QS_ROPE_INTERLEAVED).
 *
 * Every tensor stays in the type the file holds (F32, F16, BF16, the block types), read
 * from the file's read-only mapping; the forward pass expands it a block of rows at a time.
 * Only norm gains that are not aligned F32 get an f32 copy (tensor.h).
 *
 * seq_len is `llama.context_length` as the file says it, even where a converter wrote a
 * default smaller than the training context (stories260K.gguf says 128; the model was
 * trained with 512): the file is the only witness, so longer windows are refused upstream.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "tensor_finite.h"
#include "fileio.h"
#include "gguf.h"
#include "gguf_dequant.h"
#include "model.h"

/* One weight the model needs: where it goes and the shape it must have. */
typedef struct want {
    char name[64]; /* GGUF name, e.g. "blk.3.attn_q.weight" */
    const qs_tensor **dst;
    int64_t rows, cols; /* vectors: rows = 1 */
    int optional;
} want;

static int get_dim(const qs_gguf *g, const char *arch, const char *suffix, int64_t *out) {
    char key[96];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return qs_gguf_get_int(g, key, 1, INT32_MAX, out);
}

static int read_config(qs_model *m, const qs_gguf *g) {
    qs_config *c = &m->cfg;
    char arch[32];
    int rc = qs_gguf_get_cstr(g, "general.architecture", arch, sizeof arch);
    if (rc) return rc;
    /* Mistral 7B and friends are written as `llama` by llama.cpp's converter */
    if (strcmp(arch, "llama") != 0)
        return qs_error_set(QS_ERR_UNSUPPORTED,
                            "%s: unsupported architecture '%s' (qscope loads 'llama' GGUF files)",
                            g->path, arch);
    snprintf(c->arch, sizeof c->arch, "%s", arch);

    int64_t ctx, dim, layers, ffn, heads, kv_heads;
    if ((rc = get_dim(g, arch, "context_length", &ctx)) ||
        (rc = get_dim(g, arch, "embedding_length", &dim)) ||
        (rc = get_dim(g, arch, "block_count", &layers)) ||
        (rc = get_dim(g, arch, "feed_forward_length", &ffn)) ||
        (rc = get_dim(g, arch, "attention.head_count", &heads)))
        return rc;
    char key[96];
    kv_heads = heads;
    snprintf(key, sizeof key, "%s.attention.head_count_kv", arch);
    if ((rc = qs_gguf_get_int_opt(g, key, 1, INT32_MAX, &kv_heads))) return rc;
    if (dim % heads != 0)
        return qs_error_set(QS_ERR_FORMAT,
                            "%s: %s.attention.head_count = %" PRId64
                            " does not divide %s.embedding_length = %" PRId64,
                            g->path, arch, heads, arch, dim);
    int64_t head_dim = dim / heads, kl = head_dim, vl = head_dim, rope_dims = head_dim;
    snprintf(key, sizeof key, "%s.attention.key_length", arch);
    if ((rc = qs_gguf_get_int_opt(g, key, 1, INT32_MAX, &kl))) return rc;
    snprintf(key, sizeof key, "%s.attention.value_length", arch);
    if ((rc = qs_gguf_get_int_opt(g, key, 1, INT32_MAX, &vl))) return rc;
    if (kl != vl)
        return qs_error_set(QS_ERR_UNSUPPORTED,
                            "%s: key_length %" PRId64 " differs from value_length %" PRId64,
                            g->path, kl, vl);
    head_dim = kl;
    snprintf(key, sizeof key, "%s.rope.dimension_count", arch);
    if ((rc = qs_gguf_get_int_opt(g, key, 1, INT32_MAX, &rope_dims))) return rc;
    if (rope_dims != head_dim)
        return qs_error_set(QS_ERR_UNSUPPORTED,
                            "%s: '%s' = %" PRId64 " but head_dim is %" PRId64
                            " (partial RoPE is not supported)",
                            g->path, key, rope_dims, head_dim);

    double theta = 10000.0, eps = 1e-5;
    snprintf(key, sizeof key, "%s.rope.freq_base", arch);
    if ((rc = qs_gguf_get_float_opt(g, key, &theta))) return rc;
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", arch);
    if ((rc = qs_gguf_get_float_opt(g, key, &eps))) return rc;
    /* RoPE scaling changes what the model computes: refuse rather than run it wrong */
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    if (qs_gguf_find(g, key)) {
        char type[32];
        if ((rc = qs_gguf_get_cstr(g, key, type, sizeof type))) return rc;
        if (strcmp(type, "none") != 0)
            return qs_error_set(QS_ERR_UNSUPPORTED, "%s: RoPE scaling '%s' is not supported",
                                g->path, type);
    }
    double linear = 1.0;
    snprintf(key, sizeof key, "%s.rope.scale_linear", arch);
    if ((rc = qs_gguf_get_float_opt(g, key, &linear))) return rc;
    if (linear != 1.0)
        return qs_error_set(QS_ERR_UNSUPPORTED, "%s: linear RoPE scaling %g is not supported",
                            g->path, linear);

    /* vocabulary size: the token list, else <arch>.vocab_size, else the embedding's rows */
    int64_t vocab = 0;
    const qs_gguf_kv *tokens = qs_gguf_find(g, "tokenizer.ggml.tokens");
    if (tokens && tokens->v.type == QS_GGUF_ARRAY) {
        vocab = tokens->v.arr_n > INT32_MAX ? INT32_MAX : (int64_t)tokens->v.arr_n;
    } else {
        snprintf(key, sizeof key, "%s.vocab_size", arch);
        if ((rc = qs_gguf_get_int_opt(g, key, 1, INT32_MAX, &vocab))) return rc;
        const qs_gguf_tensor *te = qs_gguf_find_tensor(g, "token_embd.weight");
        if (!vocab && te) vocab = te->ne[1] > INT32_MAX ? INT32_MAX : te->ne[1];
    }

    c->dim = (int)dim;
    c->hidden_dim = (int)ffn;
    c->n_layers = (int)layers;
    c->n_heads = (int)heads;
    c->n_kv_heads = (int)kv_heads;
    c->head_dim = (int)head_dim;
    c->vocab_size = (int)vocab;
    c->seq_len = (int)ctx;
    c->rope_theta = (float)theta;
    c->norm_eps = (float)eps;
    c->rope_layout = QS_ROPE_INTERLEAVED;
    c->bos_id = m->tok ? m->tok->bos_id : -1;
    c->eos_id = m->tok ? m->tok->eos_id : -1;
    return qs_config_validate(c, g->path);
}

static void add_want(want *w, int *n, const char *name, const qs_tensor **dst, int64_t rows,
                     int64_t cols, int optional) {
    want *x = &w[(*n)++];
    snprintf(x->name, sizeof x->name, "%s", name);
    x->dst = dst;
    x->rows = rows;
    x->cols = cols;
    x->optional = optional;
}

/* One tensor as the model keeps it: its stored bytes, in the mapping or (no mapping: a
 * buffer the caller keeps) copied. */
static int tensor_bind(qs_model *m, const qs_gguf *g, const qs_gguf_tensor *t, int64_t rows,
                       int64_t cols, const qs_tensor **out) {
    qs_tensor *x;
    int rc = qs_tensor_check_finite(t->data, t->type, t->n_elements, g->path, t->name);
    if (rc) return rc;
    char what[4200];
    snprintf(what, sizeof what, "%s: tensor '%s'", g->path, t->name);
    rc =
        qs__model_new_tensor(m, &x, what, t->type, t->data, t->n_bytes, rows, cols, m->map == NULL);
    if (rc) return rc;
    *out = x;
    return QS_OK;
}

static int bind_weights(qs_model *m, const qs_gguf *g) {
    const qs_config *c = &m->cfg;
    int64_t D = c->dim, H = c->hidden_dim, V = c->vocab_size;
    int64_t Q = (int64_t)c->n_heads * c->head_dim, K = (int64_t)c->n_kv_heads * c->head_dim;
    m->w.layers = calloc((size_t)c->n_layers, sizeof *m->w.layers);
    want *w = calloc(3 + 9 * (size_t)c->n_layers, sizeof *w);
    unsigned char *used = calloc(g->n_tensors ? (size_t)g->n_tensors : 1, 1);
    int rc = QS_OK, n = 0;
    if (!m->w.layers || !w || !used) {
        rc = qs_error_set(QS_ERR_NOMEM, "%s: out of memory", g->path);
        goto done;
    }
    add_want(w, &n, "token_embd.weight", &m->w.token_embd, V, D, 0);
    add_want(w, &n, "output_norm.weight", &m->w.output_norm, 1, D, 0);
    add_want(w, &n, "output.weight", &m->w.output, V, D, 1);
    for (int l = 0; l < c->n_layers; l++) {
        qs_layer_weights *lw = &m->w.layers[l];
        struct {
            const char *n;
            const qs_tensor **p;
            int64_t r, k;
        } t[] = {
            {"attn_norm", &lw->attn_norm, 1, D}, {"attn_q", &lw->wq, Q, D},
            {"attn_k", &lw->wk, K, D},           {"attn_v", &lw->wv, K, D},
            {"attn_output", &lw->wo, D, Q},      {"ffn_norm", &lw->ffn_norm, 1, D},
            {"ffn_gate", &lw->w_gate, H, D},     {"ffn_down", &lw->w_down, D, H},
            {"ffn_up", &lw->w_up, H, D},
        };
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, t[i].n);
            add_want(w, &n, name, t[i].p, t[i].r, t[i].k, 0);
        }
    }
    /* tensors stay in the mapping; only a buffer load (no mapping) copies their bytes:
     * checked before any of it is allocated */
    uint64_t copy = 0;
    for (int i = 0; i < n && rc == QS_OK && !m->map; i++) {
        const qs_gguf_tensor *t = qs_gguf_find_tensor(g, w[i].name);
        if (t) copy += t->n_bytes;
    }
    if (rc == QS_OK && copy) rc = qs__model_check_memory(g->path, copy);
    for (int i = 0; i < n && rc == QS_OK; i++) {
        const qs_gguf_tensor *t = qs_gguf_find_tensor(g, w[i].name);
        if (!t) {
            if (!w[i].optional)
                rc = qs_error_set(QS_ERR_FORMAT, "%s: tensor '%s' is missing", g->path, w[i].name);
            continue;
        }
        used[t - g->tensors] = 1;
        /* ne = (cols, rows, 1, 1); a vector is (D, 1, 1, 1) */
        if (t->ne[0] != w[i].cols || t->ne[1] != w[i].rows || t->ne[2] != 1 || t->ne[3] != 1) {
            rc = qs_error_set(
                QS_ERR_FORMAT,
                "%s: tensor '%s' has shape [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64
                "], expected [%" PRId64 ", %" PRId64 "] (ne0 = cols, ne1 = rows) from the config",
                g->path, w[i].name, t->ne[0], t->ne[1], t->ne[2], t->ne[3], w[i].cols, w[i].rows);
            break;
        }
        rc = tensor_bind(m, g, t, w[i].rows, w[i].cols, w[i].dst);
    }
    /* a tensor the llama graph does not use would be silently ignored: refuse instead */
    for (uint64_t i = 0; i < g->n_tensors && rc == QS_OK; i++) {
        if (used[i]) continue;
        const char *name = g->tensors[i].name;
        if (strcmp(name, "rope_freqs.weight") == 0)
            rc = qs_error_set(
                QS_ERR_UNSUPPORTED,
                "%s: tensor 'rope_freqs.weight' (Llama 3.1 RoPE scaling) is not supported",
                g->path);
        else
            rc = qs_error_set(QS_ERR_UNSUPPORTED,
                              "%s: tensor '%s' is not part of a llama model of this shape", g->path,
                              name);
    }
    if (rc == QS_OK) {
        m->cfg.tied_classifier = m->w.output == NULL;
        if (m->cfg.tied_classifier) m->w.output = m->w.token_embd;
    }
done:
    free(w);
    free(used);
    return rc;
}

static int load_from(qs_model *m, const qs_gguf *g) {
    int rc = qs__gguf_tokenizer_new(&m->tok, g);
    if (!rc) rc = read_config(m, g);
    if (!rc && m->tok && m->tok->n_vocab != m->cfg.vocab_size)
        rc = qs_error_set(QS_ERR_FORMAT, "%s: the vocabulary has %d tokens, the model %d", g->path,
                          m->tok->n_vocab, m->cfg.vocab_size);
    if (!rc) rc = bind_weights(m, g);
    if (!rc) rc = qs__model_index_weights(m);
    return rc;
}

int qs__load_gguf(qs_model **out, const char *path) {
    *out = NULL;
    qs_model *m = qs__model_new(path, "gguf");
    if (!m) return qs_error_set(QS_ERR_NOMEM, "%s: out of memory", path);
    qs_gguf *g = NULL;
    void *map = NULL;
    size_t size = 0;
    int rc = qs_file_map(path, &map, &size);
    if (!rc) rc = qs__model_add_map(m, map, size);
    if (!rc) rc = qs_gguf_parse(&g, m->map, m->map_size, path);
    if (!rc) rc = load_from(m, g);
    qs_gguf_free(g);
    if (rc) {
        qs_model_free(m);
        return rc;
    }
    *out = m;
    return QS_OK;
}

int qs__load_gguf_buffer(qs_model **out, const uint8_t *buf, size_t size, const char *path) {
    *out = NULL;
    qs_model *m = qs__model_new(path, "gguf");
    if (!m) return qs_error_set(QS_ERR_NOMEM, "%s: out of memory", path);
    qs_gguf *g = NULL;
    int rc = qs_gguf_parse(&g, buf, size, path);
    if (!rc) rc = load_from(m, g); /* no mapping: every tensor's bytes are copied */
    qs_gguf_free(g);
    if (rc) {
        qs_model_free(m);
        return rc;
    }
    *out = m;
    return QS_OK;
}
