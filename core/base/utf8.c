/* UTF-8, once (utf8.h). */
#include "utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

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

int qs_utf8_seq_len(unsigned char c) {
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) return 2;
    if ((c & 0xF0) == 0xE0) return 3;
    if ((c & 0xF8) == 0xF0) return 4;
    return 1;
}

int qs_utf8_encode(char *out, int cp) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

int qs_utf8_decode(const char *s, size_t n, int *cp) {
    const unsigned char *u = (const unsigned char *)s;
    int l = qs_utf8_seq_len(u[0]);
    if ((size_t)l > n) l = (int)n;
    if (l == 1) {
        *cp = u[0] < 0x80 ? u[0] : -1;
        return 1;
    }
    int v = u[0] & (0x7F >> l);
    for (int i = 1; i < l; i++) {
        if ((u[i] & 0xC0) != 0x80) {
            *cp = -1;
            return i;
        }
        v = v << 6 | (u[i] & 0x3F);
    }
    *cp = v;
    return l;
}
