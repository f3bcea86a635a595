/* The GGUF writer (save.h): version 3, llama-architecture metadata, the plan's tensors
 * aligned to 32 bytes in plan order. No tokenizer is embedded: load the file with
 * --tokenizer, or let the loader size the vocabulary from token_embd. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "gguf.h"
#include "save.h"

#define ALIGN 32

typedef struct out {
    FILE *f;
    const char *path;
    int rc;
    uint64_t pos;
} out;

static void bytes(out *o, const void *p, size_t n) {
    if (o->rc || n == 0) return;
    if (fwrite(p, 1, n, o->f) != n)
        o->rc = qs_error_set(QS_ERR_IO, "%s: write failed: %s", o->path, strerror(errno));
    o->pos += n;
}
static void u32(out *o, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    bytes(o, b, 4);
}
static void u64(out *o, uint64_t v) {
    u32(o, (uint32_t)v);
    u32(o, (uint32_t)(v >> 32));
}
static void str(out *o, const char *s) {
    u64(o, strlen(s));
    bytes(o, s, strlen(s));
}
static void kv_u32(out *o, const char *k, uint32_t v) {
    str(o, k);
    u32(o, QS_GGUF_UINT32);
    u32(o, v);
}
static void kv_f32(out *o, const char *k, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    str(o, k);
    u32(o, QS_GGUF_FLOAT32);
    u32(o, u);
}
static void kv_str(out *o, const char *k, const char *v) {
    str(o, k);
    u32(o, QS_GGUF_STRING);
    str(o, v);
}
static void pad(out *o) {
    static const uint8_t zeros[ALIGN] = {0};
    bytes(o, zeros, (size_t)((ALIGN - o->pos % ALIGN) % ALIGN));
}

int qs_gguf_write(const char *path, const qs_config *c, const qs_save_tensor *t, int n,
                  qs_save_rows_fn fn, void *user) {
    qs_file_out fo;
    int rc = qs_file_out_open(&fo, path);
    if (rc) return rc;
    out o = {fo.f, path, QS_OK, 0};
    int head_dim_key = c->n_heads * c->head_dim != c->dim;
    bytes(&o, "GGUF", 4);
    u32(&o, 3);
    u64(&o, (uint64_t)n);
    u64(&o, 11 + (head_dim_key ? 2 : 0));
    kv_str(&o, "general.architecture", "llama");
    kv_str(&o, "general.name", "qscope synthetic");
    kv_u32(&o, "llama.context_length", (uint32_t)c->seq_len);
    kv_u32(&o, "llama.embedding_length", (uint32_t)c->dim);
    kv_u32(&o, "llama.block_count", (uint32_t)c->n_layers);
    kv_u32(&o, "llama.feed_forward_length", (uint32_t)c->hidden_dim);
    kv_u32(&o, "llama.attention.head_count", (uint32_t)c->n_heads);
    kv_u32(&o, "llama.attention.head_count_kv", (uint32_t)c->n_kv_heads);
    kv_f32(&o, "llama.rope.freq_base", c->rope_theta);
    kv_f32(&o, "llama.attention.layer_norm_rms_epsilon", c->norm_eps);
    kv_u32(&o, "llama.vocab_size", (uint32_t)c->vocab_size);
    if (head_dim_key) {
        kv_u32(&o, "llama.attention.key_length", (uint32_t)c->head_dim);
        kv_u32(&o, "llama.attention.value_length", (uint32_t)c->head_dim);
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        str(&o, t[i].name);
        int vec = t[i].rows == 1;
        u32(&o, vec ? 1 : 2);
        u64(&o, (uint64_t)t[i].cols); /* ne[0]: the contiguous dimension */
        if (!vec) u64(&o, (uint64_t)t[i].rows);
        u32(&o, t[i].type);
        u64(&o, off);
        off += (qs__save_tensor_bytes(&t[i]) + ALIGN - 1) / ALIGN * ALIGN;
    }
    pad(&o);
    for (int i = 0; i < n && !o.rc; i++) {
        o.rc = qs__save_put(o.f, path, &t[i], i, fn, user);
        o.pos += qs__save_tensor_bytes(&t[i]);
        pad(&o);
    }
    rc = o.rc;
    if (rc)
        qs_file_out_abort(&fo);
    else
        rc = qs_file_out_commit(&fo);
    return rc;
}
