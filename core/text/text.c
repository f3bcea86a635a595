#include "text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "utf8.h"

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
