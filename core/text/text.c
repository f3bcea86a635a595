#include "text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"

size_t qs_utf8_valid_prefix(const unsigned char *s, size_t n) {
    if (n == 0) return 0;
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned cp, min;
    if ((c & 0xE0) == 0xC0) {
        len = 2;
        cp = c & 0x1F;
        min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3;
        cp = c & 0x0F;
        min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4;
        cp = c & 0x07;
        min = 0x10000;
    } else
        return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

size_t qs_utf8_check(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = qs_utf8_valid_prefix(s + i, n - i);
        if (l == 0) return i;
        i += l;
    }
    return n;
}

int qs_utf8_replace(const unsigned char *s, size_t n, char **out, size_t *out_len,
                    size_t *n_replaced) {
    *out = NULL;
    *out_len = 0;
    *n_replaced = 0;
    /* each invalid byte becomes 3 bytes (EF BF BD): at most 3n + 1 with the NUL */
    if (n > (SIZE_MAX - 1) / 3) return qs_error_set(QS_ERR_NOMEM, "text too large");
    char *o = malloc(3 * n + 1);
    if (!o) return qs_error_set(QS_ERR_NOMEM, "out of memory");
    size_t k = 0, i = 0;
    while (i < n) {
        size_t l = s[i] < 0x80 ? 1 : qs_utf8_valid_prefix(s + i, n - i);
        if (l == 0) {
            memcpy(o + k, "\xEF\xBF\xBD", 3);
            k += 3;
            i += 1;
            (*n_replaced)++;
        } else {
            memcpy(o + k, s + i, l);
            k += l;
            i += l;
        }
    }
    o[k] = '\0';
    *out = o;
    *out_len = k;
    return QS_OK;
}

int qs_text_load(qs_text *t, const char *path, int utf8_policy) {
    memset(t, 0, sizeof *t);
    snprintf(t->path, sizeof t->path, "%s", path);
    char *data;
    size_t size;
    int rc = qs_file_read(path, 0, &data, &size);
    if (rc) return rc;
    size_t bad = qs_utf8_check((const unsigned char *)data, size);
    if (bad == size) {
        t->data = data;
        t->len = size;
        return QS_OK;
    }
    if (utf8_policy != QS_UTF8_REPLACE) {
        size_t line = 1;
        for (size_t i = 0; i < bad; i++) line += data[i] == '\n';
        rc = qs_error_set(QS_ERR_FORMAT,
                          "%s: invalid UTF-8 at byte offset %zu (line %zu, byte 0x%02X); "
                          "use --utf8 replace to substitute U+FFFD",
                          path, bad, line, (unsigned char)data[bad]);
        free(data);
        return rc;
    }
    rc = qs_utf8_replace((const unsigned char *)data, size, &t->data, &t->len, &t->n_replaced);
    free(data);
    if (rc) return qs_error_prefix(rc, "%s", path);
    return QS_OK;
}

void qs_text_free(qs_text *t) {
    free(t->data);
    t->data = NULL;
    t->len = 0;
}
