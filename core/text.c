#include "text.h"

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
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
    else return 0;
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
        if (s[i] < 0x80) { i++; continue; }
        size_t l = qs_utf8_valid_prefix(s + i, n - i);
        if (l == 0) return i;
        i += l;
    }
    return n;
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
    /* replacement can grow the text up to 3x (one byte -> EF BF BD) */
    char *out = malloc(3 * size + 1);
    if (!out) {
        free(data);
        return qs_error_set(QS_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t o = 0, i = 0;
    while (i < size) {
        size_t l = (unsigned char)data[i] < 0x80 ? 1
                   : qs_utf8_valid_prefix((const unsigned char *)data + i, size - i);
        if (l == 0) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += 1;
            t->n_replaced++;
        } else {
            memcpy(out + o, data + i, l);
            o += l;
            i += l;
        }
    }
    out[o] = '\0';
    free(data);
    t->data = out;
    t->len = o;
    return QS_OK;
}

void qs_text_free(qs_text *t) {
    free(t->data);
    t->data = NULL;
    t->len = 0;
}
