/* GGUF (llama.cpp's model container), versions 2 and 3: header, metadata, tensor infos.
 *
 * File layout (all little-endian):
 *   "GGUF" u32 version, u64 n_tensors, u64 n_kv
 *   n_kv ×      { string key, u32 value_type, value }
 *   n_tensors × { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset }
 *   padding to `general.alignment` (default 32), then the data section; each tensor's
 *   offset is relative to the data section and a multiple of the alignment.
 * A string is u64 length + bytes (no NUL); an array is u32 element type, u64 count, elements.
 *
 * qs_gguf_parse() validates the whole structure against the buffer size before it allocates
 * anything sized by the file, so a fuzz target can feed it arbitrary bytes. After a
 * successful parse every string, array and tensor it reports lies inside the buffer.
 * The parsed view points into the buffer: keep the buffer alive while the qs_gguf lives.
 */
#ifndef QS_GGUF_H
#define QS_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

/* Metadata value types, numbered as in the file. */
enum qs_gguf_vtype {
    QS_GGUF_UINT8 = 0,
    QS_GGUF_INT8 = 1,
    QS_GGUF_UINT16 = 2,
    QS_GGUF_INT16 = 3,
    QS_GGUF_UINT32 = 4,
    QS_GGUF_INT32 = 5,
    QS_GGUF_FLOAT32 = 6,
    QS_GGUF_BOOL = 7,
    QS_GGUF_STRING = 8,
    QS_GGUF_ARRAY = 9,
    QS_GGUF_UINT64 = 10,
    QS_GGUF_INT64 = 11,
    QS_GGUF_FLOAT64 = 12,
    QS_GGUF_VTYPE_COUNT
};

#define QS_GGUF_DEFAULT_ALIGNMENT 32
#define QS_GGUF_MAX_DIMS          4
#define QS_GGUF_MAX_NAME          63 /* tensor names, as ggml's GGML_MAX_NAME - 1 */
#define QS_GGUF_MAX_ARRAY_DEPTH   8  /* nested arrays deeper than this are rejected */

/* A string inside the buffer: not NUL-terminated. */
typedef struct qs_gguf_str {
    const char *ptr;
    uint64_t len;
} qs_gguf_str;

typedef struct qs_gguf_value {
    uint32_t type; /* enum qs_gguf_vtype */
    union {
        uint64_t u; /* UINT8..UINT64, BOOL (0/1) */
        int64_t i;  /* INT8..INT64 */
        double f;   /* FLOAT32, FLOAT64 */
    } num;
    qs_gguf_str str;         /* STRING */
    uint32_t arr_type;       /* ARRAY: element type */
    uint64_t arr_n;          /* ARRAY: element count */
    const uint8_t *arr_data; /* ARRAY: first element's bytes */
    size_t arr_bytes;        /* ARRAY: bytes of all elements */
} qs_gguf_value;

typedef struct qs_gguf_kv {
    char *key;     /* NUL-terminated copy */
    size_t offset; /* file offset of the entry, for messages */
    qs_gguf_value v;
} qs_gguf_kv;

typedef struct qs_gguf_tensor {
    char name[QS_GGUF_MAX_NAME + 1];
    uint32_t n_dims;
    int64_t ne[QS_GGUF_MAX_DIMS]; /* ggml order: ne[0] is the contiguous row length; unused = 1 */
    uint32_t type;                /* ggml type id (see qs_gguf_type_name) */
    uint64_t offset;              /* relative to the data section */
    int64_t n_elements;
    size_t n_bytes;
    const uint8_t *data; /* buf + data_offset + offset */
    size_t info_offset;  /* file offset of the tensor-info entry, for messages */
} qs_gguf_tensor;

typedef struct qs_gguf {
    char path[4096]; /* for messages */
    uint32_t version;
    uint64_t n_kv, n_tensors;
    qs_gguf_kv *kv;          /* [n_kv] in file order */
    qs_gguf_tensor *tensors; /* [n_tensors] in file order */
    size_t alignment;
    size_t data_offset; /* start of the data section */
    const uint8_t *buf;
    size_t size;
    /* set by qs_gguf_open: the read-only mapping it owns */
    void *map;
    size_t map_size;
} qs_gguf;

/* Parses buf[0..size). path only names the file in messages. On success *out owns its
 * tables (free with qs_gguf_free) but not buf. Errors: QS_ERR_FORMAT (malformed: the
 * message names the file, the key or tensor and the byte offset), QS_ERR_UNSUPPORTED
 * (GGUF version other than 2/3, big-endian file), QS_ERR_NOMEM. */
int qs_gguf_parse(qs_gguf **out, const uint8_t *buf, size_t size, const char *path);
/* Maps the file read-only and parses it; the qs_gguf owns the mapping. QS_ERR_IO if the
 * file cannot be opened or mapped. */
int qs_gguf_open(qs_gguf **out, const char *path);
void qs_gguf_free(qs_gguf *g);

/* Lookups; NULL when absent. */
const qs_gguf_kv *qs_gguf_find(const qs_gguf *g, const char *key);
const qs_gguf_tensor *qs_gguf_find_tensor(const qs_gguf *g, const char *name);

/* Typed getters. Each returns QS_OK, or QS_ERR_FORMAT naming the key if it is absent or of
 * a type that cannot hold the value. get_int accepts any integer type and checks the value
 * fits in [lo, hi]; get_float accepts FLOAT32/FLOAT64 and integers; get_bool accepts BOOL
 * and integers. The *_opt variants leave *out untouched and return QS_OK when the key is
 * absent (a present key of the wrong type is still an error). */
int qs_gguf_get_int(const qs_gguf *g, const char *key, int64_t lo, int64_t hi, int64_t *out);
int qs_gguf_get_int_opt(const qs_gguf *g, const char *key, int64_t lo, int64_t hi, int64_t *out);
int qs_gguf_get_float_opt(const qs_gguf *g, const char *key, double *out);
int qs_gguf_get_bool_opt(const qs_gguf *g, const char *key, int *out);
/* The string value (pointer into the buffer, not NUL-terminated). */
int qs_gguf_get_str(const qs_gguf *g, const char *key, qs_gguf_str *out);
/* Copies a string value into dst (NUL-terminated); QS_ERR_FORMAT if it is longer than cap-1
 * or holds a NUL byte. */
int qs_gguf_get_cstr(const qs_gguf *g, const char *key, char *dst, size_t cap);
/* An array whose elements are all of elem_type; *n and *data (first element) set. */
int qs_gguf_get_array(const qs_gguf *g, const char *key, uint32_t elem_type, uint64_t *n,
                      const uint8_t **data);
/* The strings of an array of strings, into strs[0..n) (caller allocates n entries). */
int qs_gguf_array_strings(const qs_gguf *g, const char *key, qs_gguf_str *strs, uint64_t n);

/* Element reads for array data (little-endian, unaligned-safe). */
uint32_t qs_gguf_rd_u32(const uint8_t *p);
uint64_t qs_gguf_rd_u64(const uint8_t *p);
float qs_gguf_rd_f32(const uint8_t *p);

const char *qs_gguf_vtype_name(uint32_t t);

/* The vocabulary embedded in a GGUF (tokenizer.ggml.*), as a qscope tokenizer (core/tok_gguf.c).
 *  - tokenizer.ggml.model "llama": tokens, scores, token_type (CONTROL pieces are special),
 *    bos/eos/unknown ids, add_bos_token (default true); SentencePiece-style merging by score
 *    with "▁" for spaces (qs__tokenizer_spm_new); kind "gguf-llama".
 *  - "gpt2": tokens, merges, token_type (CONTROL and USER_DEFINED pieces matched literally),
 *    tokenizer.ggml.pre "gpt-2"/"default"/absent (GPT-2 regex) or "llama-bpe" (Llama 3 regex),
 *    bos/eos ids, add_bos_token (default false); byte-level merge-ranked BPE
 *    (qs__tokenizer_bpe_new); kind "gguf-gpt2".
 * Sets *out = NULL and returns QS_OK when the file has no tokenizer.ggml.model. Errors:
 * QS_ERR_FORMAT (missing or inconsistent arrays, ids out of range), QS_ERR_UNSUPPORTED
 * (other tokenizer models or pre-tokenizers). The tokenizer copies what it needs. */
int qs__gguf_tokenizer_new(qs_tokenizer **out, const qs_gguf *g);
/* The loader's core, from a buffer (copies every tensor; used by tests and fuzz targets). */
struct qs_model;
int qs__load_gguf_buffer(struct qs_model **out, const uint8_t *buf, size_t size, const char *path);

#endif
