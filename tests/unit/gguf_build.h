/* A tiny GGUF writer for the tests: builds files byte by byte, independently of the parser,
 * so tests can make valid files and then corrupt chosen fields. */
#ifndef QS_TEST_GGUF_BUILD_H
#define QS_TEST_GGUF_BUILD_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct gb {
    uint8_t *p;
    size_t n, cap;
} gb;

static inline void gb_bytes(gb *b, const void *src, size_t len) {
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + len) cap *= 2;
        b->p = realloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->n, src, len);
    b->n += len;
}
static inline void gb_u8(gb *b, uint8_t v) { gb_bytes(b, &v, 1); }
static inline void gb_u16(gb *b, uint16_t v) {
    uint8_t t[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    gb_bytes(b, t, 2);
}
static inline void gb_u32(gb *b, uint32_t v) {
    uint8_t t[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    gb_bytes(b, t, 4);
}
static inline void gb_u64(gb *b, uint64_t v) {
    gb_u32(b, (uint32_t)v);
    gb_u32(b, (uint32_t)(v >> 32));
}
static inline void gb_f32(gb *b, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    gb_u32(b, u);
}
static inline void gb_f64(gb *b, double f) {
    uint64_t u;
    memcpy(&u, &f, 8);
    gb_u64(b, u);
}
static inline void gb_str(gb *b, const char *s) {
    gb_u64(b, strlen(s));
    gb_bytes(b, s, strlen(s));
}
static inline void gb_pad(gb *b, size_t align) {
    while (b->n % align) gb_u8(b, 0);
}
/* overwrite helpers, for corrupting a field at a recorded position */
static inline void gb_put_u32(gb *b, size_t at, uint32_t v) {
    for (int i = 0; i < 4; i++) b->p[at + i] = (uint8_t)(v >> (8 * i));
}
static inline void gb_put_u64(gb *b, size_t at, uint64_t v) {
    for (int i = 0; i < 8; i++) b->p[at + i] = (uint8_t)(v >> (8 * i));
}

/* key + type helpers */
static inline void gb_kv_u32(gb *b, const char *k, uint32_t v) {
    gb_str(b, k);
    gb_u32(b, 4);
    gb_u32(b, v);
}
static inline void gb_kv_f32(gb *b, const char *k, float v) {
    gb_str(b, k);
    gb_u32(b, 6);
    gb_f32(b, v);
}
static inline void gb_kv_str(gb *b, const char *k, const char *v) {
    gb_str(b, k);
    gb_u32(b, 8);
    gb_str(b, v);
}
static inline void gb_kv_bool(gb *b, const char *k, int v) {
    gb_str(b, k);
    gb_u32(b, 7);
    gb_u8(b, (uint8_t)v);
}

/* f32 (or any raw) tensor-info entry with up to 4 dims */
static inline void gb_tensor_info(gb *b, const char *name, int n_dims, const uint64_t *ne,
                                  uint32_t type, uint64_t offset) {
    gb_str(b, name);
    gb_u32(b, (uint32_t)n_dims);
    for (int i = 0; i < n_dims; i++) gb_u64(b, ne[i]);
    gb_u32(b, type);
    gb_u64(b, offset);
}

static inline void gb_free(gb *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

#endif
