#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

int qs_strmap_init(qs_strmap *m, size_t expected) {
    memset(m, 0, sizeof *m);
    size_t cap = 16;
    while (cap < 2 * expected + 1) cap *= 2;
    m->keys = calloc(cap, sizeof *m->keys);
    m->lens = calloc(cap, sizeof *m->lens);
    m->vals = calloc(cap, sizeof *m->vals);
    m->cap = cap;
    if (!m->keys || !m->lens || !m->vals) {
        qs_strmap_free(m);
        return qs_error_set(QS_ERR_NOMEM, "out of memory for a map of %zu strings", expected);
    }
    return QS_OK;
}

static size_t find_slot(const qs_strmap *m, const char *key, size_t len) {
    size_t i = (size_t)fnv1a(key, len) & (m->cap - 1);
    while (m->keys[i] && !(m->lens[i] == len && memcmp(m->keys[i], key, len) == 0))
        i = (i + 1) & (m->cap - 1);
    return i;
}

static int grow(qs_strmap *m) {
    qs_strmap bigger;
    int rc = qs_strmap_init(&bigger, m->cap);
    if (rc) return rc;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        size_t j = find_slot(&bigger, m->keys[i], m->lens[i]);
        bigger.keys[j] = m->keys[i];
        bigger.lens[j] = m->lens[i];
        bigger.vals[j] = m->vals[i];
        bigger.count++;
    }
    free(m->keys);
    free(m->lens);
    free(m->vals);
    *m = bigger;
    return QS_OK;
}

int qs_strmap_put(qs_strmap *m, const char *key, size_t len, int val) {
    if (2 * (m->count + 1) > m->cap) {
        int rc = grow(m);
        if (rc) return rc;
    }
    size_t i = find_slot(m, key, len);
    if (!m->keys[i]) {
        char *k = malloc(len + 1);
        if (!k) return qs_error_set(QS_ERR_NOMEM, "out of memory");
        memcpy(k, key, len);
        k[len] = '\0';
        m->keys[i] = k;
        m->lens[i] = len;
        m->count++;
    }
    m->vals[i] = val;
    return QS_OK;
}

int qs_strmap_get(const qs_strmap *m, const char *key, size_t len) {
    if (!m->cap) return -1;
    size_t i = find_slot(m, key, len);
    return m->keys[i] ? m->vals[i] : -1;
}

void qs_strmap_free(qs_strmap *m) {
    if (m->keys)
        for (size_t i = 0; i < m->cap; i++) free(m->keys[i]);
    free(m->keys);
    free(m->lens);
    free(m->vals);
    memset(m, 0, sizeof *m);
}
