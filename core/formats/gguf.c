/* GGUF parser (see gguf.h). Every length, count and offset read from the file is checked
 * against the bytes that remain before anything is allocated or read from it; allocations
 * sized by counts are bounded by the file size divided by the smallest possible entry. */
#include "gguf.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"
#include "dtype.h"
#include "gguf_dequant.h"
#include "utf8.h"

/* Smallest possible encodings, used to bound counts by the bytes left:
 * a metadata entry is a key (u64 length, ≥ 1 byte), a u32 type and a value of ≥ 1 byte;
 * a tensor info is a name (u64 length, ≥ 1 byte), u32 n_dims, ≥ 1 u64 dim, u32 type, u64
 * offset; a string is its u64 length; an array is u32 type + u64 count. */
#define MIN_KV_BYTES     (8 + 1 + 4 + 1)
#define MIN_TENSOR_BYTES (8 + 1 + 4 + 8 + 4 + 8)
#define MIN_STRING_BYTES 8
#define MIN_ARRAY_BYTES  12
#define MAX_KEY_LEN      65535
#define MAX_ALIGNMENT    (1u << 30)

uint32_t qs_gguf_rd_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
uint64_t qs_gguf_rd_u64(const uint8_t *p) {
    return (uint64_t)qs_gguf_rd_u32(p) | ((uint64_t)qs_gguf_rd_u32(p + 4) << 32);
}
float qs_gguf_rd_f32(const uint8_t *p) {
    uint32_t b = qs_gguf_rd_u32(p);
    float f;
    memcpy(&f, &b, 4);
    return f;
}

static const char *vtype_names[QS_GGUF_VTYPE_COUNT] = {
    "uint8", "int8",   "uint16", "int16",  "uint32", "int32",   "float32",
    "bool",  "string", "array",  "uint64", "int64",  "float64",
};
static const int vtype_sizes[QS_GGUF_VTYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *qs_gguf_vtype_name(uint32_t t) {
    return t < QS_GGUF_VTYPE_COUNT ? vtype_names[t] : "?";
}

/* ---- reader: a cursor over the buffer; every read checks the bytes left ---- */

typedef struct reader {
    const uint8_t *buf;
    size_t size, pos;
    const char *path;
} reader;

static size_t left(const reader *r) { return r->size - r->pos; }

/* what: the thing being read, for the message ("key of metadata entry 3") */
static int need(const reader *r, uint64_t n, const char *what) {
    if (n > left(r))
        return qs_error_set(QS_ERR_FORMAT,
                            "%s: truncated at offset %zu: %s needs %" PRIu64
                            " bytes, %zu left (file size %zu)",
                            r->path, r->pos, what, n, left(r), r->size);
    return QS_OK;
}

static int rd_u32(reader *r, uint32_t *v, const char *what) {
    int rc = need(r, 4, what);
    if (rc) return rc;
    *v = qs_gguf_rd_u32(r->buf + r->pos);
    r->pos += 4;
    return QS_OK;
}

static int rd_u64(reader *r, uint64_t *v, const char *what) {
    int rc = need(r, 8, what);
    if (rc) return rc;
    *v = qs_gguf_rd_u64(r->buf + r->pos);
    r->pos += 8;
    return QS_OK;
}

static int rd_str(reader *r, qs_gguf_str *s, const char *what) {
    uint64_t len;
    size_t at = r->pos;
    int rc = rd_u64(r, &len, what);
    if (rc) return rc;
    if (len > left(r))
        return qs_error_set(QS_ERR_FORMAT,
                            "%s: %s at offset %zu: string length %" PRIu64
                            " runs past end of file (%zu bytes left)",
                            r->path, what, at, len, left(r));
    s->ptr = (const char *)r->buf + r->pos;
    s->len = len;
    r->pos += (size_t)len;
    return QS_OK;
}

/* One value of type t. Arrays are walked (nested ones recursively, up to a depth limit)
 * to check every element lies inside the buffer; their elements are not stored. */
static int rd_value(reader *r, uint32_t t, qs_gguf_value *v, int depth, const char *key) {
    size_t at = r->pos;
    int rc;
    char what[320];
    snprintf(what, sizeof what, "value of '%s'", key);
    v->type = t;
    if (t >= QS_GGUF_VTYPE_COUNT)
        return qs_error_set(QS_ERR_FORMAT, "%s: '%s' at offset %zu: unknown value type %u", r->path,
                            key, at, t);
    if (t == QS_GGUF_STRING) return rd_str(r, &v->str, what);
    if (t != QS_GGUF_ARRAY) {
        int sz = vtype_sizes[t];
        if ((rc = need(r, (uint64_t)sz, what))) return rc;
        const uint8_t *p = r->buf + r->pos;
        uint64_t u = sz == 1   ? p[0]
                     : sz == 2 ? (uint64_t)(p[0] | (p[1] << 8))
                     : sz == 4 ? qs_gguf_rd_u32(p)
                               : qs_gguf_rd_u64(p);
        switch (t) {
        case QS_GGUF_INT8: v->num.i = (int8_t)u; break;
        case QS_GGUF_INT16: v->num.i = (int16_t)u; break;
        case QS_GGUF_INT32: v->num.i = (int32_t)u; break;
        case QS_GGUF_INT64: v->num.i = (int64_t)u; break;
        case QS_GGUF_FLOAT32: v->num.f = qs_gguf_rd_f32(p); break;
        case QS_GGUF_FLOAT64: {
            double d;
            memcpy(&d, &u, 8);
            v->num.f = d;
            break;
        }
        case QS_GGUF_BOOL:
            if (u > 1)
                return qs_error_set(QS_ERR_FORMAT,
                                    "%s: '%s' at offset %zu: bool byte is %u, not 0 or 1", r->path,
                                    key, at, (unsigned)u);
            v->num.u = u;
            break;
        default: v->num.u = u; break;
        }
        r->pos += (size_t)sz;
        return QS_OK;
    }
    /* array */
    if (depth >= QS_GGUF_MAX_ARRAY_DEPTH)
        return qs_error_set(QS_ERR_FORMAT, "%s: '%s' at offset %zu: arrays nested deeper than %d",
                            r->path, key, at, QS_GGUF_MAX_ARRAY_DEPTH);
    uint32_t et;
    uint64_t n;
    if ((rc = rd_u32(r, &et, what)) || (rc = rd_u64(r, &n, what))) return rc;
    if (et >= QS_GGUF_VTYPE_COUNT)
        return qs_error_set(QS_ERR_FORMAT, "%s: '%s' at offset %zu: unknown array element type %u",
                            r->path, key, at, et);
    uint64_t min_elem = et == QS_GGUF_STRING  ? MIN_STRING_BYTES
                        : et == QS_GGUF_ARRAY ? MIN_ARRAY_BYTES
                                              : (uint64_t)vtype_sizes[et];
    if (n > left(r) / min_elem)
        return qs_error_set(QS_ERR_FORMAT,
                            "%s: '%s' at offset %zu: array of %" PRIu64
                            " %s runs past end of file (%zu bytes left)",
                            r->path, key, at, n, vtype_names[et], left(r));
    v->arr_type = et;
    v->arr_n = n;
    v->arr_data = r->buf + r->pos;
    size_t start = r->pos;
    if (et == QS_GGUF_STRING) {
        for (uint64_t i = 0; i < n; i++) {
            qs_gguf_str s;
            if ((rc = rd_str(r, &s, what))) return rc;
        }
    } else if (et == QS_GGUF_ARRAY) {
        for (uint64_t i = 0; i < n; i++) {
            qs_gguf_value inner;
            memset(&inner, 0, sizeof inner);
            if ((rc = rd_value(r, QS_GGUF_ARRAY, &inner, depth + 1, key))) return rc;
        }
    } else {
        r->pos += (size_t)(n * min_elem); /* n·size ≤ left: checked above */
    }
    v->arr_bytes = r->pos - start;
    return QS_OK;
}

/* ---- duplicate detection: sort names, compare neighbours (n log n even for huge counts) ---- */

typedef struct named {
    const char *name;
    size_t offset;
} named;

static int cmp_named(const void *a, const void *b) {
    return strcmp(((const named *)a)->name, ((const named *)b)->name);
}

/* Returns the index in the sorted array of the second of a duplicated pair, or -1. */
static int64_t find_duplicate(named *v, uint64_t n) {
    if (n < 2) return -1;
    qsort(v, (size_t)n, sizeof *v, cmp_named);
    for (uint64_t i = 1; i < n; i++)
        if (strcmp(v[i - 1].name, v[i].name) == 0) return (int64_t)i;
    return -1;
}

/* ---- parse ---- */

void qs_gguf_free(qs_gguf *g) {
    if (!g) return;
    if (g->kv)
        for (uint64_t i = 0; i < g->n_kv; i++) free(g->kv[i].key);
    free(g->kv);
    free(g->tensors);
    if (g->map) munmap(g->map, g->map_size);
    free(g);
}

static int parse_header(qs_gguf *g, reader *r) {
    int rc;
    if (r->size < 4 || memcmp(r->buf, "GGUF", 4) != 0)
        return qs_error_set(QS_ERR_FORMAT, "%s: not a GGUF file (no \"GGUF\" magic at offset 0)",
                            r->path);
    r->pos = 4;
    if ((rc = rd_u32(r, &g->version, "header (version)"))) return rc;
    if (g->version == 0x02000000u || g->version == 0x03000000u)
        return qs_error_set(QS_ERR_UNSUPPORTED, "%s: big-endian GGUF files are not supported",
                            r->path);
    if (g->version != 2 && g->version != 3)
        return qs_error_set(QS_ERR_UNSUPPORTED,
                            "%s: unsupported GGUF version %u (qscope reads versions 2 and 3)",
                            r->path, g->version);
    if ((rc = rd_u64(r, &g->n_tensors, "header (n_tensors)"))) return rc;
    if ((rc = rd_u64(r, &g->n_kv, "header (n_kv)"))) return rc;
    size_t rest = left(r);
    if (g->n_kv > rest / MIN_KV_BYTES)
        return qs_error_set(QS_ERR_FORMAT,
                            "%s: header at offset 16: n_kv = %" PRIu64
                            " is impossible: the remaining %zu bytes hold at most %zu entries",
                            r->path, g->n_kv, rest, rest / MIN_KV_BYTES);
    if (g->n_tensors > rest / MIN_TENSOR_BYTES)
        return qs_error_set(QS_ERR_FORMAT,
                            "%s: header at offset 8: n_tensors = %" PRIu64
                            " is impossible: the remaining %zu bytes hold at most %zu tensor infos",
                            r->path, g->n_tensors, rest, rest / MIN_TENSOR_BYTES);
    if (g->n_kv * MIN_KV_BYTES + g->n_tensors * MIN_TENSOR_BYTES > rest)
        return qs_error_set(QS_ERR_FORMAT,
                            "%s: header: %" PRIu64 " metadata entries and %" PRIu64
                            " tensor infos cannot fit in the remaining %zu bytes",
                            r->path, g->n_kv, g->n_tensors, rest);
    return QS_OK;
}

static int parse_kv(qs_gguf *g, reader *r) {
    int rc;
    g->kv = calloc(g->n_kv ? (size_t)g->n_kv : 1, sizeof *g->kv);
    if (!g->kv)
        return qs_error_set(QS_ERR_NOMEM, "%s: out of memory for %" PRIu64 " metadata entries",
                            r->path, g->n_kv);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        qs_gguf_kv *kv = &g->kv[i];
        char what[64];
        kv->offset = r->pos;
        snprintf(what, sizeof what, "key of metadata entry %" PRIu64, i);
        qs_gguf_str key;
        if ((rc = rd_str(r, &key, what))) return rc;
        if (key.len == 0 || key.len > MAX_KEY_LEN || memchr(key.ptr, 0, (size_t)key.len))
            return qs_error_set(
                QS_ERR_FORMAT,
                "%s: metadata entry %" PRIu64
                " at offset %zu: key is empty, longer than %d bytes or holds a NUL byte",
                r->path, i, kv->offset, MAX_KEY_LEN);
        /* GGUF strings are UTF-8; a key that is not cannot be named in a message or looked up */
        if (qs_utf8_check((const unsigned char *)key.ptr, (size_t)key.len) != key.len)
            return qs_error_set(QS_ERR_FORMAT,
                                "%s: metadata entry %" PRIu64
                                " at offset %zu: key is not valid UTF-8",
                                r->path, i, kv->offset);
        kv->key = malloc((size_t)key.len + 1);
        if (!kv->key) return qs_error_set(QS_ERR_NOMEM, "%s: out of memory", r->path);
        memcpy(kv->key, key.ptr, (size_t)key.len);
        kv->key[key.len] = '\0';
        uint32_t t;
        snprintf(what, sizeof what, "type of metadata entry %" PRIu64, i);
        if ((rc = rd_u32(r, &t, what))) return rc;
        if ((rc = rd_value(r, t, &kv->v, 0, kv->key))) return rc;
    }
    named *names = malloc((g->n_kv ? (size_t)g->n_kv : 1) * sizeof *names);
    if (!names) return qs_error_set(QS_ERR_NOMEM, "%s: out of memory", r->path);
    for (uint64_t i = 0; i < g->n_kv; i++) names[i] = (named){g->kv[i].key, g->kv[i].offset};
    int64_t d = find_duplicate(names, g->n_kv);
    if (d >= 0) {
        size_t a = names[d - 1].offset, b = names[d].offset;
        rc = qs_error_set(QS_ERR_FORMAT,
                          "%s: duplicated metadata key '%s' (entries at offsets %zu and %zu)",
                          r->path, names[d].name, a < b ? a : b, a < b ? b : a);
        free(names);
        return rc;
    }
    free(names);

    g->alignment = QS_GGUF_DEFAULT_ALIGNMENT;
    const qs_gguf_kv *al = qs_gguf_find(g, "general.alignment");
    if (al) {
        uint32_t t = al->v.type;
        if (t != QS_GGUF_UINT8 && t != QS_GGUF_UINT16 && t != QS_GGUF_UINT32 && t != QS_GGUF_UINT64)
            return qs_error_set(
                QS_ERR_FORMAT, "%s: 'general.alignment' at offset %zu has type %s, expected uint32",
                r->path, al->offset, qs_gguf_vtype_name(t));
        uint64_t a = al->v.num.u;
        if (a == 0 || (a & (a - 1)) != 0 || a > MAX_ALIGNMENT)
            return qs_error_set(QS_ERR_FORMAT,
                                "%s: 'general.alignment' at offset %zu is %" PRIu64
                                ", not a power of two up to 2^30",
                                r->path, al->offset, a);
        g->alignment = (size_t)a;
    }
    return QS_OK;
}

/* ---- overlap: sort the data ranges by start, compare neighbours ---- */

typedef struct span {
    uint64_t begin, end;
    uint64_t index;
} span;

static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    return (x->begin > y->begin) - (x->begin < y->begin);
}

/* Two tensors sharing bytes would alias each other's weights (llama.cpp writes them back to
 * back and its reader insists on it); empty tensors occupy nothing. Ranges are inside the
 * file already. */
static int check_overlap(const qs_gguf *g, const reader *r) {
    if (g->n_tensors < 2) return QS_OK;
    span *v = malloc((size_t)g->n_tensors * sizeof *v);
    if (!v) return qs_error_set(QS_ERR_NOMEM, "%s: out of memory", r->path);
    uint64_t n = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].n_bytes)
            v[n++] = (span){g->tensors[i].offset, g->tensors[i].offset + g->tensors[i].n_bytes, i};
    qsort(v, (size_t)n, sizeof *v, cmp_span);
    int rc = QS_OK;
    for (uint64_t i = 1; i < n && rc == QS_OK; i++)
        if (v[i].begin < v[i - 1].end)
            rc = qs_error_set(
                QS_ERR_FORMAT,
                "%s: tensors '%s' and '%s' overlap in the data section (bytes [%" PRIu64
                ", %" PRIu64 ") and [%" PRIu64 ", %" PRIu64 "))",
                r->path, g->tensors[v[i - 1].index].name, g->tensors[v[i].index].name,
                v[i - 1].begin, v[i - 1].end, v[i].begin, v[i].end);
    free(v);
    return rc;
}

static int parse_tensor_infos(qs_gguf *g, reader *r) {
    int rc;
    g->tensors = calloc(g->n_tensors ? (size_t)g->n_tensors : 1, sizeof *g->tensors);
    if (!g->tensors)
        return qs_error_set(QS_ERR_NOMEM, "%s: out of memory for %" PRIu64 " tensor infos", r->path,
                            g->n_tensors);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        qs_gguf_tensor *t = &g->tensors[i];
        char what[128];
        t->info_offset = r->pos;
        snprintf(what, sizeof what, "name of tensor info %" PRIu64, i);
        qs_gguf_str name;
        if ((rc = rd_str(r, &name, what))) return rc;
        if (name.len == 0 || name.len > QS_GGUF_MAX_NAME || memchr(name.ptr, 0, (size_t)name.len))
            return qs_error_set(
                QS_ERR_FORMAT,
                "%s: tensor info %" PRIu64
                " at offset %zu: name is empty, longer than %d bytes or holds a NUL byte",
                r->path, i, t->info_offset, QS_GGUF_MAX_NAME);
        if (qs_utf8_check((const unsigned char *)name.ptr, (size_t)name.len) != name.len)
            return qs_error_set(
                QS_ERR_FORMAT, "%s: tensor info %" PRIu64 " at offset %zu: name is not valid UTF-8",
                r->path, i, t->info_offset);
        memcpy(t->name, name.ptr, (size_t)name.len);
        t->name[name.len] = '\0';
        snprintf(what, sizeof what, "tensor '%s' info", t->name);
        if ((rc = rd_u32(r, &t->n_dims, what))) return rc;
        if (t->n_dims < 1 || t->n_dims > QS_GGUF_MAX_DIMS)
            return qs_error_set(QS_ERR_FORMAT,
                                "%s: tensor '%s' at offset %zu: n_dims = %u, expected 1 to %d",
                                r->path, t->name, t->info_offset, t->n_dims, QS_GGUF_MAX_DIMS);
        int64_t count = 1;
        for (int d = 0; d < QS_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            uint64_t ne;
            if ((rc = rd_u64(r, &ne, what))) return rc;
            if (ne > (uint64_t)INT64_MAX || (ne != 0 && count > INT64_MAX / (int64_t)ne))
                return qs_error_set(
                    QS_ERR_FORMAT,
                    "%s: tensor '%s' at offset %zu: dimensions overflow (dim %u is %" PRIu64 ")",
                    r->path, t->name, t->info_offset, d, ne);
            t->ne[d] = (int64_t)ne;
            count *= (int64_t)ne;
        }
        t->n_elements = count;
        if ((rc = rd_u32(r, &t->type, what))) return rc;
        if ((rc = rd_u64(r, &t->offset, what))) return rc;
        const qs_ggml_type_traits *tr = qs_ggml_type_traits_get(t->type);
        if (!tr)
            return qs_error_set(QS_ERR_FORMAT,
                                "%s: tensor '%s' at offset %zu: unknown tensor type %u", r->path,
                                t->name, t->info_offset, t->type);
        if (t->ne[0] % tr->block_size != 0)
            return qs_error_set(QS_ERR_FORMAT,
                                "%s: tensor '%s' at offset %zu: row length %lld is not a multiple "
                                "of the %s block size %d",
                                r->path, t->name, t->info_offset, (long long)t->ne[0], tr->name,
                                tr->block_size);
        /* bytes = blocks per row · block bytes · rows, each step checked */
        uint64_t rows = (uint64_t)(t->ne[0] ? count / t->ne[0] : 0);
        uint64_t blocks = (uint64_t)(t->ne[0] / tr->block_size);
        uint64_t row_bytes = blocks * (uint64_t)tr->type_size; /* checked next */
        if (blocks > UINT64_MAX / (uint64_t)tr->type_size || (rows && row_bytes > SIZE_MAX / rows))
            return qs_error_set(QS_ERR_FORMAT, "%s: tensor '%s' at offset %zu: byte size overflows",
                                r->path, t->name, t->info_offset);
        t->n_bytes = (size_t)(row_bytes * rows);
        if (t->offset % g->alignment != 0)
            return qs_error_set(QS_ERR_FORMAT,
                                "%s: tensor '%s' at offset %zu: data offset %" PRIu64
                                " is not a multiple of the alignment %zu",
                                r->path, t->name, t->info_offset, t->offset, g->alignment);
    }
    /* the data section starts at the next multiple of the alignment */
    size_t end = r->pos, pad = (g->alignment - end % g->alignment) % g->alignment;
    g->data_offset = end + pad; /* end ≤ size, pad < 2^30: no overflow on 64-bit */
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        qs_gguf_tensor *t = &g->tensors[i];
        uint64_t start = t->offset;
        if (g->data_offset > r->size || start > r->size - g->data_offset ||
            t->n_bytes > r->size - g->data_offset - start)
            return qs_error_set(QS_ERR_FORMAT,
                                "%s: tensor '%s' data [offset %" PRIu64
                                ", %zu bytes] runs past end of file (size %zu)",
                                r->path, t->name, (uint64_t)g->data_offset + start, t->n_bytes,
                                r->size);
        t->data = r->buf + g->data_offset + start;
    }
    if ((rc = check_overlap(g, r))) return rc;
    named *names = malloc((g->n_tensors ? (size_t)g->n_tensors : 1) * sizeof *names);
    if (!names) return qs_error_set(QS_ERR_NOMEM, "%s: out of memory", r->path);
    for (uint64_t i = 0; i < g->n_tensors; i++)
        names[i] = (named){g->tensors[i].name, g->tensors[i].info_offset};
    int64_t d = find_duplicate(names, g->n_tensors);
    if (d >= 0) {
        size_t a = names[d - 1].offset, b = names[d].offset;
        rc = qs_error_set(QS_ERR_FORMAT,
                          "%s: duplicated tensor name '%s' (tensor infos at offsets %zu and %zu)",
                          r->path, names[d].name, a < b ? a : b, a < b ? b : a);
        free(names);
        return rc;
    }
    free(names);
    return QS_OK;
}

int qs_gguf_parse(qs_gguf **out, const uint8_t *buf, size_t size, const char *path) {
    *out = NULL;
    if (!path) path = "<memory>";
    qs_gguf *g = calloc(1, sizeof *g);
    if (!g) return qs_error_set(QS_ERR_NOMEM, "%s: out of memory", path);
    snprintf(g->path, sizeof g->path, "%s", path);
    g->buf = buf;
    g->size = size;
    reader r = {buf, buf ? size : 0, 0, g->path};
    int rc = parse_header(g, &r);
    if (!rc) rc = parse_kv(g, &r);
    if (!rc) rc = parse_tensor_infos(g, &r);
    if (rc) {
        qs_gguf_free(g);
        return rc;
    }
    *out = g;
    return QS_OK;
}

int qs_gguf_open(qs_gguf **out, const char *path) {
    *out = NULL;
    int fd;
    size_t fsize;
    int orc = qs_file_open_regular(path, &fd, &fsize);
    if (orc) return orc;
    struct stat st = {.st_size = (off_t)fsize};
    if (st.st_size <= 0) {
        close(fd);
        return qs_error_set(QS_ERR_FORMAT, "%s: empty file, not a GGUF file", path);
    }
    size_t size = (size_t)st.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return qs_error_set(QS_ERR_IO, "%s: cannot mmap %zu bytes", path, size);
    qs_gguf *g;
    int rc = qs_gguf_parse(&g, map, size, path);
    if (rc) {
        munmap(map, size);
        return rc;
    }
    g->map = map;
    g->map_size = size;
    *out = g;
    return QS_OK;
}

/* ---- lookups and typed getters ---- */

const qs_gguf_kv *qs_gguf_find(const qs_gguf *g, const char *key) {
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (g->kv[i].key && strcmp(g->kv[i].key, key) == 0) return &g->kv[i];
    return NULL;
}

const qs_gguf_tensor *qs_gguf_find_tensor(const qs_gguf *g, const char *name) {
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0) return &g->tensors[i];
    return NULL;
}

static int missing(const qs_gguf *g, const char *key) {
    return qs_error_set(QS_ERR_FORMAT, "%s: required metadata key '%s' is missing", g->path, key);
}

static int wrong_type(const qs_gguf *g, const qs_gguf_kv *kv, const char *expected) {
    return qs_error_set(QS_ERR_FORMAT, "%s: '%s' at offset %zu has type %s, expected %s", g->path,
                        kv->key, kv->offset, qs_gguf_vtype_name(kv->v.type), expected);
}

static int is_unsigned(uint32_t t) {
    return t == QS_GGUF_UINT8 || t == QS_GGUF_UINT16 || t == QS_GGUF_UINT32 || t == QS_GGUF_UINT64;
}
static int is_signed(uint32_t t) {
    return t == QS_GGUF_INT8 || t == QS_GGUF_INT16 || t == QS_GGUF_INT32 || t == QS_GGUF_INT64;
}

static int kv_int(const qs_gguf *g, const qs_gguf_kv *kv, int64_t lo, int64_t hi, int64_t *out) {
    uint32_t t = kv->v.type;
    int in_range;
    int64_t v = 0;
    if (is_unsigned(t)) {
        in_range = kv->v.num.u <= (uint64_t)INT64_MAX && (int64_t)kv->v.num.u >= lo &&
                   (int64_t)kv->v.num.u <= hi;
        v = (int64_t)kv->v.num.u;
    } else if (is_signed(t)) {
        in_range = kv->v.num.i >= lo && kv->v.num.i <= hi;
        v = kv->v.num.i;
    } else {
        return wrong_type(g, kv, "an integer");
    }
    if (!in_range) {
        if (is_unsigned(t))
            return qs_error_set(
                QS_ERR_FORMAT, "%s: '%s' at offset %zu is %" PRIu64 ", expected %lld to %lld",
                g->path, kv->key, kv->offset, kv->v.num.u, (long long)lo, (long long)hi);
        return qs_error_set(QS_ERR_FORMAT, "%s: '%s' at offset %zu is %lld, expected %lld to %lld",
                            g->path, kv->key, kv->offset, (long long)kv->v.num.i, (long long)lo,
                            (long long)hi);
    }
    *out = v;
    return QS_OK;
}

int qs_gguf_get_int(const qs_gguf *g, const char *key, int64_t lo, int64_t hi, int64_t *out) {
    const qs_gguf_kv *kv = qs_gguf_find(g, key);
    if (!kv) return missing(g, key);
    return kv_int(g, kv, lo, hi, out);
}

int qs_gguf_get_int_opt(const qs_gguf *g, const char *key, int64_t lo, int64_t hi, int64_t *out) {
    const qs_gguf_kv *kv = qs_gguf_find(g, key);
    return kv ? kv_int(g, kv, lo, hi, out) : QS_OK;
}

int qs_gguf_get_float_opt(const qs_gguf *g, const char *key, double *out) {
    const qs_gguf_kv *kv = qs_gguf_find(g, key);
    if (!kv) return QS_OK;
    uint32_t t = kv->v.type;
    if (t == QS_GGUF_FLOAT32 || t == QS_GGUF_FLOAT64)
        *out = kv->v.num.f;
    else if (is_unsigned(t))
        *out = (double)kv->v.num.u;
    else if (is_signed(t))
        *out = (double)kv->v.num.i;
    else
        return wrong_type(g, kv, "a number");
    return QS_OK;
}

int qs_gguf_get_bool_opt(const qs_gguf *g, const char *key, int *out) {
    const qs_gguf_kv *kv = qs_gguf_find(g, key);
    if (!kv) return QS_OK;
    uint32_t t = kv->v.type;
    if (t == QS_GGUF_BOOL || is_unsigned(t))
        *out = kv->v.num.u != 0;
    else if (is_signed(t))
        *out = kv->v.num.i != 0;
    else
        return wrong_type(g, kv, "bool");
    return QS_OK;
}

int qs_gguf_get_str(const qs_gguf *g, const char *key, qs_gguf_str *out) {
    const qs_gguf_kv *kv = qs_gguf_find(g, key);
    if (!kv) return missing(g, key);
    if (kv->v.type != QS_GGUF_STRING) return wrong_type(g, kv, "string");
    *out = kv->v.str;
    return QS_OK;
}

int qs_gguf_get_cstr(const qs_gguf *g, const char *key, char *dst, size_t cap) {
    qs_gguf_str s;
    int rc = qs_gguf_get_str(g, key, &s);
    if (rc) return rc;
    if (s.len >= cap || memchr(s.ptr, 0, (size_t)s.len))
        return qs_error_set(QS_ERR_FORMAT, "%s: '%s' is longer than %zu bytes or holds a NUL byte",
                            g->path, key, cap - 1);
    memcpy(dst, s.ptr, (size_t)s.len);
    dst[s.len] = '\0';
    return QS_OK;
}

int qs_gguf_get_array(const qs_gguf *g, const char *key, uint32_t elem_type, uint64_t *n,
                      const uint8_t **data) {
    const qs_gguf_kv *kv = qs_gguf_find(g, key);
    if (!kv) return missing(g, key);
    if (kv->v.type != QS_GGUF_ARRAY || kv->v.arr_type != elem_type) {
        char exp[48];
        snprintf(exp, sizeof exp, "array of %s", qs_gguf_vtype_name(elem_type));
        if (kv->v.type == QS_GGUF_ARRAY)
            return qs_error_set(QS_ERR_FORMAT,
                                "%s: '%s' at offset %zu is an array of %s, expected %s", g->path,
                                key, kv->offset, qs_gguf_vtype_name(kv->v.arr_type), exp);
        return wrong_type(g, kv, exp);
    }
    *n = kv->v.arr_n;
    *data = kv->v.arr_data;
    return QS_OK;
}

int qs_gguf_array_strings(const qs_gguf *g, const char *key, qs_gguf_str *strs, uint64_t n) {
    uint64_t have;
    const uint8_t *p;
    int rc = qs_gguf_get_array(g, key, QS_GGUF_STRING, &have, &p);
    if (rc) return rc;
    if (have < n)
        return qs_error_set(QS_ERR_ARG, "%s: '%s' has %" PRIu64 " strings, asked for %" PRIu64,
                            g->path, key, have, n);
    /* the parse checked every length against the buffer */
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len = qs_gguf_rd_u64(p);
        strs[i].ptr = (const char *)p + 8;
        strs[i].len = len;
        p += 8 + len;
    }
    return QS_OK;
}
