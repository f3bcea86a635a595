/* GGUF loader on tiny hand-built models: every weight holds small integers that each tensor
 * type stores exactly, so the loaded f32 values check type dispatch and (rows, cols)
 * orientation exactly; then corrupted variants (missing keys and tensors, wrong shapes,
 * unknown architecture, bad vocabularies, truncation at every byte). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "tensor_util.h"
#include "error.h"
#include "forward.h"
#include "gguf.h"
#include "gguf_build.h"
#include "dtype.h"
#include "gguf_dequant.h"
#include "model.h"

enum { D = 32, NH = 4, HD = 8, H = 64, V = 8, CTX = 16 };

/* the value every tensor holds at (r, c): an integer in [-7, 7] */
static int fval(int k, int64_t r, int64_t c) { return (int)((r * 7 + c * 3 + k) % 15) - 7; }

typedef struct opts {
    int kv_heads; /* 0: omit the key (defaults to NH) */
    const char *arch;
    const char *skip_key;     /* a metadata key to leave out */
    const char *skip_tensor;  /* a tensor to leave out */
    const char *extra_tensor; /* an extra F32 vector of D values */
    int q_rows;               /* rows of attn_q (D unless testing a wrong shape) */
    int with_output;
    int n_scores; /* entries in tokenizer.ggml.scores */
    uint32_t bos;
    int head_count;
    const char *tok_model;
} opts;

static opts defaults(void) {
    return (opts){.kv_heads = 2,
                  .arch = "llama",
                  .q_rows = D,
                  .n_scores = V,
                  .bos = 1,
                  .head_count = NH,
                  .tok_model = "llama"};
}

typedef struct tspec {
    const char *name;
    int64_t rows, cols; /* vectors: rows 1, written as 1-D */
    uint32_t type;
    int k; /* fval salt */
} tspec;

/* binary16 bits of a small integer (exact) */
static uint16_t half_of_int(int v) {
    if (v == 0) return 0;
    uint16_t s = v < 0 ? 0x8000 : 0;
    int a = abs(v), e = 0;
    while ((a >> e) > 1) e++;
    uint16_t man = (uint16_t)(((a << 10) >> e) & 0x3ff);
    return (uint16_t)(s | ((e + 15) << 10) | man);
}

/* Packs row-major values (rows × cols) of tensor spec t in its type. */
static void pack(gb *b, const tspec *t) {
    for (int64_t r = 0; r < t->rows; r++) {
        for (int64_t c0 = 0; c0 < t->cols;
             c0 += (t->type == QS_GGML_F32 || t->type == QS_GGML_F16 || t->type == QS_GGML_BF16)
                       ? t->cols
                       : 32) {
            int v[64];
            int n = (t->type == QS_GGML_F32 || t->type == QS_GGML_F16 || t->type == QS_GGML_BF16)
                        ? (int)t->cols
                        : 32;
            for (int j = 0; j < n; j++) v[j] = fval(t->k, r, c0 + j);
            switch (t->type) {
            case QS_GGML_F32:
                for (int j = 0; j < n; j++) gb_f32(b, (float)v[j]);
                break;
            case QS_GGML_F16:
                for (int j = 0; j < n; j++) gb_u16(b, half_of_int(v[j]));
                break;
            case QS_GGML_BF16:
                for (int j = 0; j < n; j++) {
                    float f = (float)v[j];
                    uint32_t u;
                    memcpy(&u, &f, 4);
                    gb_u16(b, (uint16_t)(u >> 16));
                }
                break;
            case QS_GGML_Q8_0:
                gb_u16(b, 0x3c00);
                for (int j = 0; j < 32; j++) gb_u8(b, (uint8_t)(int8_t)v[j]);
                break;
            case QS_GGML_Q4_0: /* d = 1, code = v + 8 */
                gb_u16(b, 0x3c00);
                for (int j = 0; j < 16; j++)
                    gb_u8(b, (uint8_t)((v[j] + 8) | ((v[j + 16] + 8) << 4)));
                break;
            case QS_GGML_Q4_1: /* d = 1, m = −8 */
                gb_u16(b, 0x3c00);
                gb_u16(b, 0xc800);
                for (int j = 0; j < 16; j++)
                    gb_u8(b, (uint8_t)((v[j] + 8) | ((v[j + 16] + 8) << 4)));
                break;
            case QS_GGML_Q5_0:
            case QS_GGML_Q5_1: { /* d = 1, code = v + 16 (Q5_1: m = −16) */
                gb_u16(b, 0x3c00);
                if (t->type == QS_GGML_Q5_1) gb_u16(b, 0xcc00);
                uint32_t qh = 0;
                for (int j = 0; j < 32; j++) qh |= (uint32_t)(((v[j] + 16) >> 4) & 1) << j;
                gb_u32(b, qh);
                for (int j = 0; j < 16; j++)
                    gb_u8(b, (uint8_t)(((v[j] + 16) & 15) | (((v[j + 16] + 16) & 15) << 4)));
                break;
            }
            }
        }
    }
}

static size_t tensor_bytes(const tspec *t) {
    const qs_ggml_type_traits *tr = qs_ggml_type_traits_get(t->type);
    return (size_t)(t->rows * (t->cols / tr->block_size) * tr->type_size);
}

static void build(gb *b, const opts *o) {
    int kvh = o->kv_heads ? o->kv_heads : NH;
    tspec all[] = {
        {"token_embd.weight", V, D, QS_GGML_F16, 1},
        {"output_norm.weight", 1, D, QS_GGML_F32, 2},
        {"output.weight", V, D, QS_GGML_Q8_0, 3},
        {"blk.0.attn_norm.weight", 1, D, QS_GGML_F32, 4},
        {"blk.0.attn_q.weight", o->q_rows, D, QS_GGML_Q8_0, 5},
        {"blk.0.attn_k.weight", kvh * HD, D, QS_GGML_Q4_0, 6},
        {"blk.0.attn_v.weight", kvh * HD, D, QS_GGML_Q4_1, 7},
        {"blk.0.attn_output.weight", D, D, QS_GGML_Q5_0, 8},
        {"blk.0.ffn_norm.weight", 1, D, QS_GGML_F32, 9},
        {"blk.0.ffn_gate.weight", H, D, QS_GGML_BF16, 10},
        {"blk.0.ffn_down.weight", D, H, QS_GGML_Q5_1, 11},
        {"blk.0.ffn_up.weight", H, D, QS_GGML_F32, 12},
        {o->extra_tensor ? o->extra_tensor : "", 1, D, QS_GGML_F32, 13},
    };
    tspec ts[16];
    int nt = 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (!all[i].name[0]) continue;
        if (o->skip_tensor && !strcmp(o->skip_tensor, all[i].name)) continue;
        if (!o->with_output && !strcmp(all[i].name, "output.weight")) continue;
        ts[nt++] = all[i];
    }

    gb kv = {0};
    int nkv = 0;
#define KEY(k) (!(o->skip_key && !strcmp(o->skip_key, k)) && ++nkv)
    if (KEY("general.architecture")) gb_kv_str(&kv, "general.architecture", o->arch);
    if (KEY("llama.context_length")) gb_kv_u32(&kv, "llama.context_length", CTX);
    if (KEY("llama.embedding_length")) gb_kv_u32(&kv, "llama.embedding_length", D);
    if (KEY("llama.block_count")) gb_kv_u32(&kv, "llama.block_count", 1);
    if (KEY("llama.feed_forward_length")) gb_kv_u32(&kv, "llama.feed_forward_length", H);
    if (KEY("llama.attention.head_count"))
        gb_kv_u32(&kv, "llama.attention.head_count", (uint32_t)o->head_count);
    if (o->kv_heads && KEY("llama.attention.head_count_kv"))
        gb_kv_u32(&kv, "llama.attention.head_count_kv", (uint32_t)o->kv_heads);
    if (KEY("llama.rope.freq_base")) gb_kv_f32(&kv, "llama.rope.freq_base", 500000.0f);
    if (KEY("llama.attention.layer_norm_rms_epsilon"))
        gb_kv_f32(&kv, "llama.attention.layer_norm_rms_epsilon", 1e-6f);
    if (KEY("tokenizer.ggml.model")) gb_kv_str(&kv, "tokenizer.ggml.model", o->tok_model);
    const char *toks[V] = {"<unk>",
                           "<s>",
                           "</s>",
                           "\xe2\x96\x81",
                           "a",
                           "b",
                           "\xe2\x96\x81"
                           "a",
                           "ab"};
    if (KEY("tokenizer.ggml.tokens")) {
        gb_str(&kv, "tokenizer.ggml.tokens");
        gb_u32(&kv, QS_GGUF_ARRAY);
        gb_u32(&kv, QS_GGUF_STRING);
        gb_u64(&kv, V);
        for (int i = 0; i < V; i++) gb_str(&kv, toks[i]);
    }
    if (KEY("tokenizer.ggml.scores")) {
        gb_str(&kv, "tokenizer.ggml.scores");
        gb_u32(&kv, QS_GGUF_ARRAY);
        gb_u32(&kv, QS_GGUF_FLOAT32);
        gb_u64(&kv, (uint64_t)o->n_scores);
        for (int i = 0; i < o->n_scores; i++) gb_f32(&kv, (float)-i);
    }
    if (KEY("tokenizer.ggml.token_type")) {
        int types[V] = {2, 3, 3, 1, 1, 1, 1, 1};
        gb_str(&kv, "tokenizer.ggml.token_type");
        gb_u32(&kv, QS_GGUF_ARRAY);
        gb_u32(&kv, QS_GGUF_INT32);
        gb_u64(&kv, V);
        for (int i = 0; i < V; i++) gb_u32(&kv, (uint32_t)types[i]);
    }
    if (KEY("tokenizer.ggml.bos_token_id")) gb_kv_u32(&kv, "tokenizer.ggml.bos_token_id", o->bos);
    if (KEY("tokenizer.ggml.eos_token_id")) gb_kv_u32(&kv, "tokenizer.ggml.eos_token_id", 2);
    if (KEY("tokenizer.ggml.add_bos_token")) gb_kv_bool(&kv, "tokenizer.ggml.add_bos_token", 0);
#undef KEY

    gb_bytes(b, "GGUF", 4);
    gb_u32(b, 3);
    gb_u64(b, (uint64_t)nt);
    gb_u64(b, (uint64_t)nkv);
    gb_bytes(b, kv.p, kv.n);
    gb_free(&kv);
    uint64_t off = 0;
    for (int i = 0; i < nt; i++) {
        uint64_t ne[2] = {(uint64_t)ts[i].cols, (uint64_t)ts[i].rows};
        gb_tensor_info(b, ts[i].name, ts[i].rows == 1 ? 1 : 2, ne, ts[i].type, off);
        off += (tensor_bytes(&ts[i]) + 31) / 32 * 32;
    }
    gb_pad(b, 32);
    for (int i = 0; i < nt; i++) {
        pack(b, &ts[i]);
        gb_pad(b, 32);
    }
}

static void expect_load_fail(const opts *o, int code, const char *needle, const char *label) {
    gb b = {0};
    build(&b, o);
    qs_model *m = NULL;
    int rc = qs__load_gguf_buffer(&m, b.p, b.n, "tiny.gguf");
    CHECK_MSG(rc == code, "%s: rc %d, expected %d (%s)", label, rc, code, qs_error_message());
    CHECK_MSG(strstr(qs_error_message(), needle) != NULL, "%s: message '%s' lacks '%s'", label,
              qs_error_message(), needle);
    CHECK_MSG(strstr(qs_error_message(), "tiny.gguf") != NULL, "%s: no file name in '%s'", label,
              qs_error_message());
    CHECK(m == NULL);
    qs_model_free(m);
    gb_free(&b);
}

static void check_values(qs_model *m, const char *label) {
    /* every tensor (index name without ".weight") holds fval at (r, c) */
    struct {
        const char *name;
        int k;
        const char *type;
    } t[] = {
        {"token_embd", 1, "F16"},         {"output_norm", 2, "F32"},
        {"blk.0.attn_norm", 4, "F32"},    {"blk.0.attn_q", 5, "Q8_0"},
        {"blk.0.attn_k", 6, "Q4_0"},      {"blk.0.attn_v", 7, "Q4_1"},
        {"blk.0.attn_output", 8, "Q5_0"}, {"blk.0.ffn_norm", 9, "F32"},
        {"blk.0.ffn_gate", 10, "BF16"},   {"blk.0.ffn_down", 11, "Q5_1"},
        {"blk.0.ffn_up", 12, "F32"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        const qs_tensor *x = qs_model_tensor(m, t[i].name);
        CHECK_MSG(x != NULL, "%s: %s missing", label, t[i].name);
        if (!x) continue;
        CHECK_MSG(!strcmp(x->stored_type, t[i].type), "%s: %s stored as %s", label, t[i].name,
                  x->stored_type);
        float *v = tensor_values(x), *r = tensor_values(x);
        if (r) qs_tensor_rows_ref(r, x, 0, x->rows);
        int wrong = 0;
        for (int64_t rr = 0; v && rr < x->rows; rr++)
            for (int64_t c = 0; c < x->cols; c++)
                if (v[rr * x->cols + c] != (float)fval(t[i].k, rr, c)) wrong++;
        CHECK_MSG(wrong == 0, "%s: %s has %d wrong values", label, t[i].name, wrong);
        CHECK_MSG(v && r && !memcmp(v, r, (size_t)qs_tensor_numel(x) * 4),
                  "%s: %s: fast and _ref expansions differ", label, t[i].name);
        free(v);
        free(r);
    }
}

static void test_valid(void) {
    opts o = defaults();
    gb b = {0};
    build(&b, &o);
    qs_model *m = NULL;
    int rc = qs__load_gguf_buffer(&m, b.p, b.n, "tiny.gguf");
    CHECK_MSG(rc == QS_OK, "%s", qs_error_message());
    if (m) {
        const qs_config *c = &m->cfg;
        CHECK(c->dim == D && c->hidden_dim == H && c->n_layers == 1 && c->n_heads == NH &&
              c->n_kv_heads == 2);
        CHECK(c->head_dim == HD && c->vocab_size == V && c->seq_len == CTX);
        CHECK(c->rope_theta == 500000.0f && c->norm_eps == 1e-6f);
        CHECK(c->tied_classifier == 1 && m->w.output == m->w.token_embd);
        CHECK(qs_model_tensor(m, "output") == NULL);
        CHECK(c->bos_id == 1 && c->eos_id == 2);
        CHECK(m->tok && m->tok->add_bos == 0 && !strcmp(m->tok->kind, "gguf-llama"));
        CHECK(m->n_tensors == 11);
        check_values(m, "buffer");
        /* the tiny vocabulary: "▁a" then "b"; control pieces never appear */
        int *ids, n;
        CHECK(qs_tokenizer_encode(m->tok, "ab", 2, 0, &ids, &n) == QS_OK);
        CHECK_MSG(n == 2 && ids[0] == 6 && ids[1] == 5, "n %d", n);
        free(ids);
        qs_forward_state s;
        CHECK(qs_forward_init(&s, m, 4, CTX) == QS_OK);
        int tok[4] = {1, 6, 5, 4};
        float logits[4 * V];
        CHECK(qs_forward(&s, tok, 4, 0, logits, 0, NULL) == QS_OK);
        int finite = 1;
        for (int i = 0; i < 4 * V; i++) finite &= isfinite(logits[i]) != 0;
        CHECK(finite);
        qs_forward_free(&s);
    }
    qs_model_free(m);

    /* the same bytes from a file: mapped, every tensor's stored bytes point into the
     * mapping, whatever its type (nothing is converted at load) */
    char path[] = "/tmp/qs_tiny_XXXXXX.gguf";
    int fd = mkstemps(path, 5);
    CHECK(fd >= 0 && write(fd, b.p, b.n) == (ssize_t)b.n);
    close(fd);
    m = NULL;
    rc = qs_model_load(&m, path, NULL);
    CHECK_MSG(rc == QS_OK, "%s", qs_error_message());
    if (m) {
        check_values(m, "file");
        const char *names[] = {"blk.0.ffn_up", "blk.0.attn_q", "token_embd", "blk.0.ffn_gate"};
        for (int i = 0; i < 4; i++) {
            const qs_tensor *x = qs_model_tensor(m, names[i]);
            CHECK_MSG(x && (const char *)x->data > (char *)m->map &&
                          (const char *)x->data + x->n_bytes <= (char *)m->map + m->map_size,
                      "%s is not read from the mapping", names[i]);
        }
        CHECK(qs_model_weight_alloc_bytes(m) < 16384); /* tensor records only */
        CHECK(!strcmp(m->format, "gguf"));
    }
    qs_model_free(m);
    unlink(path);

    /* every truncation fails cleanly */
    int all_fail = 1;
    for (size_t len = 0; len < b.n; len += 3) {
        qs_model *t = NULL;
        if (qs__load_gguf_buffer(&t, b.p, len, "tiny.gguf") == QS_OK) all_fail = 0;
        qs_model_free(t);
    }
    CHECK(all_fail);
    gb_free(&b);

    /* with output.weight: a separate classifier; no head_count_kv: defaults to head_count */
    o.with_output = 1;
    o.kv_heads = 0;
    build(&b, &o);
    rc = qs__load_gguf_buffer(&m, b.p, b.n, "tiny.gguf");
    CHECK_MSG(rc == QS_OK, "%s", qs_error_message());
    if (m) {
        CHECK(m->cfg.tied_classifier == 0 && m->cfg.n_kv_heads == NH);
        const qs_tensor *out = qs_model_tensor(m, "output");
        CHECK(out && !strcmp(out->stored_type, "Q8_0") && out->rows == V && out->cols == D);
        float *ov = tensor_values(out);
        CHECK(ov && ov[3 * D + 5] == (float)fval(3, 3, 5));
        free(ov);
        CHECK(m->n_tensors == 12);
    }
    qs_model_free(m);
    gb_free(&b);
}

static void test_bad(void) {
    opts o = defaults();
    o.skip_key = "llama.block_count";
    expect_load_fail(&o, QS_ERR_FORMAT, "required metadata key 'llama.block_count' is missing",
                     "no block_count");
    o.skip_key = "llama.embedding_length";
    expect_load_fail(&o, QS_ERR_FORMAT, "'llama.embedding_length' is missing",
                     "no embedding_length");
    o.skip_key = "llama.context_length";
    expect_load_fail(&o, QS_ERR_FORMAT, "'llama.context_length' is missing", "no context_length");
    o.skip_key = "general.architecture";
    expect_load_fail(&o, QS_ERR_FORMAT, "'general.architecture' is missing", "no architecture");
    o = defaults();
    o.arch = "gpt2";
    expect_load_fail(&o, QS_ERR_UNSUPPORTED, "unsupported architecture 'gpt2'", "gpt2 arch");
    o = defaults();
    o.skip_tensor = "blk.0.ffn_up.weight";
    expect_load_fail(&o, QS_ERR_FORMAT, "tensor 'blk.0.ffn_up.weight' is missing",
                     "missing tensor");
    o = defaults();
    o.q_rows = 16;
    expect_load_fail(&o, QS_ERR_FORMAT,
                     "tensor 'blk.0.attn_q.weight' has shape [32, 16, 1, 1], expected [32, 32]",
                     "wrong shape");
    o = defaults();
    o.extra_tensor = "blk.0.attn_q.bias";
    expect_load_fail(&o, QS_ERR_UNSUPPORTED,
                     "tensor 'blk.0.attn_q.bias' is not part of a llama model", "extra");
    o.extra_tensor = "rope_freqs.weight";
    expect_load_fail(&o, QS_ERR_UNSUPPORTED, "rope_freqs.weight", "rope_freqs");
    o = defaults();
    o.n_scores = V - 1;
    expect_load_fail(&o, QS_ERR_FORMAT, "'tokenizer.ggml.scores' has 7 entries, tokens has 8",
                     "scores");
    o = defaults();
    o.bos = 99;
    expect_load_fail(&o, QS_ERR_FORMAT,
                     "'tokenizer.ggml.bos_token_id' = 99 is outside the vocabulary", "bos");
    o = defaults();
    o.head_count = 5;
    o.kv_heads = 5;
    expect_load_fail(&o, QS_ERR_FORMAT, "does not divide", "head_count 5");
    o = defaults();
    o.tok_model = "bert";
    expect_load_fail(&o, QS_ERR_UNSUPPORTED, "tokenizer model 'bert'", "bert");
    o.tok_model = "gpt2"; /* without merges */
    expect_load_fail(&o, QS_ERR_FORMAT, "'tokenizer.ggml.merges' is missing", "gpt2 vocab");
}

/* A vocabulary-only GGUF with a tiny byte-level BPE vocabulary. */
static int gpt2_vocab(const char *pre, qs_tokenizer **t) {
    const char *toks[] = {"a", "b", "\xc4\xa0",
                          "\xc4\xa0"
                          "b",
                          "<|end|>"};
    gb b = {0};
    gb_bytes(&b, "GGUF", 4);
    gb_u32(&b, 3);
    gb_u64(&b, 0);
    gb_u64(&b, 5);
    gb_kv_str(&b, "tokenizer.ggml.model", "gpt2");
    gb_kv_str(&b, "tokenizer.ggml.pre", pre);
    gb_str(&b, "tokenizer.ggml.tokens");
    gb_u32(&b, QS_GGUF_ARRAY);
    gb_u32(&b, QS_GGUF_STRING);
    gb_u64(&b, 5);
    for (int i = 0; i < 5; i++) gb_str(&b, toks[i]);
    gb_str(&b, "tokenizer.ggml.merges");
    gb_u32(&b, QS_GGUF_ARRAY);
    gb_u32(&b, QS_GGUF_STRING);
    gb_u64(&b, 1);
    gb_str(&b, "\xc4\xa0 b");
    gb_str(&b, "tokenizer.ggml.token_type");
    gb_u32(&b, QS_GGUF_ARRAY);
    gb_u32(&b, QS_GGUF_INT32);
    gb_u64(&b, 5);
    for (int i = 0; i < 5; i++) gb_u32(&b, i == 4 ? 3 : 1);
    qs_gguf *g = NULL;
    int rc = qs_gguf_parse(&g, b.p, b.n, "vocab.gguf");
    if (!rc) rc = qs__gguf_tokenizer_new(t, g);
    qs_gguf_free(g);
    gb_free(&b);
    return rc;
}

static void test_gpt2_vocab(void) {
    qs_tokenizer *t = NULL;
    int rc = gpt2_vocab("llama-bpe", &t);
    CHECK_MSG(rc == QS_OK && t, "%s", qs_error_message());
    if (t) {
        int *ids, n;
        CHECK(!strcmp(t->kind, "gguf-gpt2") && t->add_bos == 0 && t->bos_id == -1);
        CHECK(qs_tokenizer_encode(t, "a b<|end|>", 10, 1, &ids, &n) == QS_OK);
        CHECK_MSG(n == 3 && ids[0] == 0 && ids[1] == 3 && ids[2] == 4, "n %d", n);
        free(ids);
        qs_tokenizer_free(t);
    }
    t = NULL;
    CHECK(gpt2_vocab("gpt-2", &t) == QS_OK && t);
    qs_tokenizer_free(t);
    t = NULL;
    CHECK(gpt2_vocab("deepseek-coder", &t) == QS_ERR_UNSUPPORTED && !t);
    CHECK(strstr(qs_error_message(), "pre-tokenizer 'deepseek-coder' is not supported"));
}

int main(void) {
    test_valid();
    test_bad();
    test_gpt2_vocab();
    return check_summary("test_gguf_model");
}
