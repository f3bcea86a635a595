/* Evaluation and calibration text: loaded whole, checked to be valid UTF-8 (utf8.h). */
#ifndef QS_TEXT_H
#define QS_TEXT_H

#include <stddef.h>

#include "utf8.h" /* the validation and replacement a text load applies */

enum qs_utf8_policy {
    QS_UTF8_STRICT = 0,  /* invalid UTF-8 is an error naming the file and byte offset */
    QS_UTF8_REPLACE = 1, /* each invalid sequence becomes U+FFFD */
};

typedef struct qs_text {
    char path[4096];
    char *data; /* NUL-terminated, valid UTF-8 */
    size_t len;
    size_t n_replaced; /* invalid sequences replaced (QS_UTF8_REPLACE) */
} qs_text;

int qs_text_load(qs_text *t, const char *path, int utf8_policy);
void qs_text_free(qs_text *t);

#endif
