#include "safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "error.h"
#include "fp16.h"
#include "json.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader assumes a little-endian host"
#endif

/* JSON numbers arrive as doubles; integers above 2^53 cannot be told apart, so refuse them. */
#define ST_MAX_JSON_INT 9007199254740992.0

static const struct {
    const char *name;
    int dtype; /* -1: a real safetensors dtype that qscope does not read */
    int size;
} st_dtypes[] = {
    {"F32", QS_ST_F32, 4}, {"F16", QS_ST_F16, 2}, {"BF16", QS_ST_BF16, 2}, {"F64", -1, 8},
    {"I64", -1, 8},        {"U64", -1, 8},        {"I32", -1, 4},          {"U32", -1, 4},
    {"I16", -1, 2},        {"U16", -1, 2},        {"I8", -1, 1},           {"U8", -1, 1},
    {"BOOL", -1, 1},       {"F8_E4M3", -1, 1},    {"F8_E5M2", -1, 1},
};

const char *qs_st_dtype_name(int dtype) {
    switch (dtype) {
    case QS_ST_F32: return "F32";
    case QS_ST_F16: return "F16";
    case QS_ST_BF16: return "BF16";
    default: return "?";
    }
}

void qs_safetensors_free(qs_safetensors *st) {
    if (!st) return;
    for (int i = 0; i < st->n_tensors; i++) free(st->tensors[i].name);
    free(st->tensors);
    free(st->by_name);
    st->tensors = NULL;
    st->by_name = NULL;
    st->n_tensors = 0;
    st->data = NULL;
    st->data_size = 0;
}

/* A non-negative integral JSON number no larger than 2^53. */
static int st_json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0.0) || d > ST_MAX_JSON_INT || floor(d) != d) return 0;
    *out = (uint64_t)d;
    return 1;
}

static int st_parse_entry(qs_st_tensor *t, const cJSON *item, const char *path) {
    const char *name = item->string;
    if (!cJSON_IsObject(item))
        return qs_error_set(QS_ERR_FORMAT, "%s: header entry '%s' is not an object", path, name);
    const cJSON *dt = NULL, *shape = NULL, *offs = NULL, *f;
    cJSON_ArrayForEach(f, item) {
        if (strcmp(f->string, "dtype") == 0 && !dt)
            dt = f;
        else if (strcmp(f->string, "shape") == 0 && !shape)
            shape = f;
        else if (strcmp(f->string, "data_offsets") == 0 && !offs)
            offs = f;
        else
            return qs_error_set(QS_ERR_FORMAT,
                                "%s: tensor '%s' has an unexpected or repeated key '%s'", path,
                                name, f->string);
    }
    if (!cJSON_IsString(dt))
        return qs_error_set(QS_ERR_FORMAT, "%s: tensor '%s' has no string 'dtype'", path, name);
    if (!cJSON_IsArray(shape))
        return qs_error_set(QS_ERR_FORMAT, "%s: tensor '%s' has no array 'shape'", path, name);
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
        return qs_error_set(QS_ERR_FORMAT, "%s: tensor '%s' needs 'data_offsets' [begin, end]",
                            path, name);

    int size = 0;
    t->dtype = -2;
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (strcmp(dt->valuestring, st_dtypes[i].name) == 0) {
            t->dtype = st_dtypes[i].dtype;
            size = st_dtypes[i].size;
        }
    if (t->dtype < 0)
        return qs_error_set(
            QS_ERR_UNSUPPORTED,
            "%s: unsupported dtype %s for tensor '%s' (qscope reads F32, F16, BF16)", path,
            dt->valuestring, name);

    int nd = cJSON_GetArraySize(shape);
    if (nd > QS_ST_MAX_DIMS)
        return qs_error_set(QS_ERR_UNSUPPORTED, "%s: tensor '%s' has %d dimensions (at most %d)",
                            path, name, nd, QS_ST_MAX_DIMS);
    t->n_dims = nd;
    uint64_t n = 1;
    int d = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, shape) {
        uint64_t v;
        if (!st_json_uint(e, &v))
            return qs_error_set(QS_ERR_FORMAT,
                                "%s: tensor '%s' shape[%d] is not a non-negative integer", path,
                                name, d);
        if (v != 0 && n > UINT64_MAX / v)
            return qs_error_set(QS_ERR_FORMAT, "%s: tensor '%s' shape product overflows", path,
                                name);
        n *= v;
        t->shape[d++] = (int64_t)v;
    }
    if (n > (uint64_t)INT64_MAX / 8)
        return qs_error_set(QS_ERR_FORMAT, "%s: tensor '%s' shape product overflows", path, name);
    t->n_elems = (int64_t)n;

    uint64_t b, en;
    if (!st_json_uint(cJSON_GetArrayItem(offs, 0), &b) ||
        !st_json_uint(cJSON_GetArrayItem(offs, 1), &en))
        return qs_error_set(QS_ERR_FORMAT,
                            "%s: tensor '%s' data_offsets are not non-negative integers", path,
                            name);
    if (en < b)
        return qs_error_set(QS_ERR_FORMAT,
                            "%s: tensor '%s' data_offsets [%llu, %llu] end before begin", path,
                            name, (unsigned long long)b, (unsigned long long)en);
    t->begin = b;
    t->end = en;
    if (n * (uint64_t)size != en - b)
        return qs_error_set(
            QS_ERR_FORMAT,
            "%s: tensor '%s': shape gives %llu elements × %d bytes (%s) = %llu bytes, "
            "but data_offsets [%llu, %llu] span %llu bytes",
            path, name, (unsigned long long)n, size, dt->valuestring,
            (unsigned long long)(n * (uint64_t)size), (unsigned long long)b, (unsigned long long)en,
            (unsigned long long)(en - b));
    return QS_OK;
}

static _Thread_local const qs_st_tensor *st_sort_base; /* qsort has no context argument */
static int st_cmp_range(const void *a, const void *b) {
    const qs_st_tensor *x = &st_sort_base[*(const int *)a], *y = &st_sort_base[*(const int *)b];
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}
static int st_cmp_name(const void *a, const void *b) {
    return strcmp(st_sort_base[*(const int *)a].name, st_sort_base[*(const int *)b].name);
}

/* Names are unique; ranges must tile the data section: no overlap, no gap, nothing left
 * over. Keeps the name order in st->by_name for qs_safetensors_find. */
static int st_check_layout(qs_safetensors *st, const char *path) {
    int n = st->n_tensors;
    int *ord = malloc((size_t)(n ? n : 1) * sizeof *ord);
    if (!ord) return qs_error_set(QS_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < n; i++) ord[i] = i;
    st_sort_base = st->tensors;

    qsort(ord, (size_t)n, sizeof *ord, st_cmp_name);
    for (int i = 1; i < n; i++)
        if (strcmp(st->tensors[ord[i - 1]].name, st->tensors[ord[i]].name) == 0) {
            int rc = qs_error_set(QS_ERR_FORMAT, "%s: tensor '%s' appears twice in the header",
                                  path, st->tensors[ord[i]].name);
            free(ord);
            return rc;
        }

    st->by_name = malloc((size_t)(n ? n : 1) * sizeof *st->by_name);
    if (!st->by_name) {
        free(ord);
        return qs_error_set(QS_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(st->by_name, ord, (size_t)n * sizeof *ord);

    /* a range past the end is the first thing to report: in range order it sorts last, so
     * the walk below would otherwise blame the gap it leaves behind */
    int rc = QS_OK;
    for (int i = 0; i < n && rc == QS_OK; i++) {
        const qs_st_tensor *t = &st->tensors[i];
        if (t->end > st->data_size)
            rc = qs_error_set(QS_ERR_FORMAT,
                              "%s: tensor '%s' data_offsets [%llu, %llu] run past the data section "
                              "(%llu bytes)",
                              path, t->name, (unsigned long long)t->begin,
                              (unsigned long long)t->end, (unsigned long long)st->data_size);
    }
    qsort(ord, (size_t)n, sizeof *ord, st_cmp_range);
    uint64_t cursor = 0;
    const char *prev = NULL;
    for (int i = 0; i < n && rc == QS_OK; i++) {
        const qs_st_tensor *t = &st->tensors[ord[i]];
        if (t->begin == t->end)
            continue; /* empty tensors occupy nothing */
        else if (t->begin < cursor)
            rc = qs_error_set(
                QS_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap (data offset %llu < %llu)", path,
                prev, t->name, (unsigned long long)t->begin, (unsigned long long)cursor);
        else if (t->begin > cursor)
            rc = qs_error_set(QS_ERR_FORMAT,
                              "%s: gap of %llu unused bytes in the data section at offset %llu "
                              "(before tensor '%s'); tensors must cover it exactly",
                              path, (unsigned long long)(t->begin - cursor),
                              (unsigned long long)cursor, t->name);
        else {
            cursor = t->end;
            prev = t->name;
        }
    }
    if (rc == QS_OK && cursor != st->data_size)
        rc =
            qs_error_set(QS_ERR_FORMAT,
                         "%s: gap of %llu unused bytes at the end of the data section (offset %llu "
                         "of %llu); tensors must cover it exactly",
                         path, (unsigned long long)(st->data_size - cursor),
                         (unsigned long long)cursor, (unsigned long long)st->data_size);
    free(ord);
    return rc;
}

int qs_safetensors_parse(qs_safetensors *st, const unsigned char *buf, size_t size,
                         const char *path) {
    memset(st, 0, sizeof *st);
    if (!path) path = "(memory)";
    snprintf(st->path, sizeof st->path, "%s", path);
    if (size < 8)
        return qs_error_set(QS_ERR_FORMAT, "%s: %zu bytes is too short for a safetensors file",
                            path, size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | buf[i];
    if (hlen > size - 8)
        return qs_error_set(
            QS_ERR_FORMAT,
            "%s: header length %llu is larger than the file allows (%zu bytes after "
            "the 8-byte length)",
            path, (unsigned long long)hlen, size - 8);
    if (hlen < 2)
        return qs_error_set(QS_ERR_FORMAT, "%s: header length %llu is too short for a JSON object",
                            path, (unsigned long long)hlen);
    const char *hdr = (const char *)buf + 8;
    /* the one JSON entry point; its faults reworded with header and file offsets */
    cJSON *root;
    qs_json_error je;
    int prc = qs_json_parse(&root, hdr, (size_t)hlen, path, &je);
    if (prc == QS_ERR_FORMAT && je.fault == QS_JSON_NUL)
        return qs_error_set(QS_ERR_FORMAT, "%s: NUL byte inside the JSON header", path);
    if (prc == QS_ERR_FORMAT && je.fault == QS_JSON_UTF8)
        return qs_error_set(QS_ERR_FORMAT,
                            "%s: invalid UTF-8 in the JSON header at header byte %zu "
                            "(file byte %zu)",
                            path, je.offset, je.offset + 8);
    if (prc == QS_ERR_FORMAT && je.fault == QS_JSON_SYNTAX)
        return qs_error_set(QS_ERR_FORMAT,
                            "%s: malformed JSON header near header byte %zu (file byte %zu)", path,
                            je.offset, je.offset + 8);
    if (prc) return prc;
    int rc = QS_OK;
    if (!cJSON_IsObject(root)) {
        rc = qs_error_set(QS_ERR_FORMAT, "%s: JSON header is not an object", path);
        goto done;
    }
    int n = 0, seen_meta = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        if (strcmp(item->string, "__metadata__") == 0) {
            if (seen_meta++) {
                rc = qs_error_set(QS_ERR_FORMAT, "%s: __metadata__ appears twice", path);
                goto done;
            }
            if (!cJSON_IsObject(item)) {
                rc = qs_error_set(QS_ERR_FORMAT, "%s: __metadata__ is not an object", path);
                goto done;
            }
            const cJSON *kv;
            cJSON_ArrayForEach(kv, item) if (!cJSON_IsString(kv)) {
                rc = qs_error_set(QS_ERR_FORMAT, "%s: __metadata__ value '%s' is not a string",
                                  path, kv->string);
                goto done;
            }
            continue;
        }
        n++;
    }
    st->tensors = calloc((size_t)(n ? n : 1), sizeof *st->tensors);
    if (!st->tensors) {
        rc = qs_error_set(QS_ERR_NOMEM, "%s: out of memory for %d tensors", path, n);
        goto done;
    }
    cJSON_ArrayForEach(item, root) {
        if (strcmp(item->string, "__metadata__") == 0) continue;
        qs_st_tensor *t = &st->tensors[st->n_tensors];
        t->name = strdup(item->string);
        if (!t->name) {
            rc = qs_error_set(QS_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
        st->n_tensors++;
        if ((rc = st_parse_entry(t, item, path)) != QS_OK) goto done;
    }
    st->data = buf + 8 + hlen;
    st->data_size = size - 8 - hlen;
    rc = st_check_layout(st, path);
done:
    cJSON_Delete(root);
    if (rc != QS_OK) qs_safetensors_free(st);
    return rc;
}

const qs_st_tensor *qs_safetensors_find(const qs_safetensors *st, const char *name) {
    /* binary search: a loader looks every tensor up, so a linear scan made loading a file
     * of n tensors O(n^2) */
    int lo = 0, hi = st->by_name ? st->n_tensors : 0;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(st->tensors[st->by_name[mid]].name, name);
        if (c == 0) return &st->tensors[st->by_name[mid]];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

float *qs_safetensors_f32_view(const qs_safetensors *st, const qs_st_tensor *t) {
    const unsigned char *p = st->data + t->begin;
    if (t->dtype != QS_ST_F32 || ((uintptr_t)p & 3u)) return NULL;
    return (float *)(uintptr_t)p;
}

void qs_safetensors_to_f32(float *out, const qs_safetensors *st, const qs_st_tensor *t) {
    const unsigned char *p =
        st->data + t->begin; /* (n_elems × dtype size) bytes, maybe unaligned */
    int64_t n = t->n_elems;
    switch (t->dtype) {
    case QS_ST_F32: memcpy(out, p, (size_t)n * 4); break;
    case QS_ST_F16:
        for (int64_t i = 0; i < n; i++)
            out[i] = qs_fp16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        break;
    case QS_ST_BF16:
        for (int64_t i = 0; i < n; i++)
            out[i] = qs_bf16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        break;
    default: QS_ASSERT(0);
    }
}
