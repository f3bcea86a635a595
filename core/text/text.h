/* Evaluation and calibration text: loaded whole, checked to be valid UTF-8. */
#ifndef QS_TEXT_H
#define QS_TEXT_H

#include <stddef.h>

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

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if invalid (overlong forms,
 * surrogates and code points above U+10FFFF are invalid). */
size_t qs_utf8_valid_prefix(const unsigned char *s, size_t n);
/* Returns the offset of the first invalid byte, or n if all of s[0..n) is valid. */
size_t qs_utf8_check(const unsigned char *s, size_t n);

/* Copies s[0..n) into a malloc'd NUL-terminated *out (caller frees), each invalid byte
 * replaced by U+FFFD (EF BF BD); *out_len bytes, *n_replaced substitutions. QS_ERR_NOMEM. */
int qs_utf8_replace(const unsigned char *s, size_t n, char **out, size_t *out_len,
                    size_t *n_replaced);

#endif
