/* Fuzz target: text decoding, qs_utf8_check and qs_utf8_replace (what qs_text_load runs on a
 * text file), checked against a plain reference decoder written from RFC 3629's table of
 * well-formed byte sequences. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fuzz_common.h"
#include "text.h"

/* Length of the well-formed sequence at s (RFC 3629, section 4), 0 if ill-formed. */
static size_t text_ref_seq(const uint8_t *s, size_t n) {
    uint8_t c = s[0];
    if (c <= 0x7F) return 1;
    uint8_t lo = 0x80, hi = 0xBF;
    size_t len;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c == 0xE0) {
        len = 3;
        lo = 0xA0;
    } else if (c >= 0xE1 && c <= 0xEC)
        len = 3;
    else if (c == 0xED) {
        len = 3;
        hi = 0x9F;
    } else if (c >= 0xEE && c <= 0xEF)
        len = 3;
    else if (c == 0xF0) {
        len = 4;
        lo = 0x90;
    } else if (c >= 0xF1 && c <= 0xF3)
        len = 4;
    else if (c == 0xF4) {
        len = 4;
        hi = 0x8F;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

int qs_fuzz_text(const uint8_t *data, size_t size) {
    /* reference: first invalid offset, and the replacement count (one U+FFFD per byte that
     * does not start a well-formed sequence, as qs_utf8_replace documents) */
    size_t ref_bad = size, ref_repl = 0;
    for (size_t i = 0; i < size;) {
        size_t l = text_ref_seq(data + i, size - i);
        if (l == 0) {
            if (ref_bad == size) ref_bad = i;
            ref_repl++;
            i++;
        } else {
            i += l;
        }
    }
    if (qs_utf8_check(data, size) != ref_bad) abort();
    char *out = NULL;
    size_t out_len = 0, n_repl = 0;
    if (qs_utf8_replace(data, size, &out, &out_len, &n_repl) != QS_OK) return 0;
    if (n_repl != ref_repl || out_len != size + 2 * n_repl || out[out_len] != '\0') abort();
    if (qs_utf8_check((const uint8_t *)out, out_len) != out_len) abort();
    if (n_repl == 0 && memcmp(out, data, size) != 0) abort();
    free(out);
    return ref_bad == size; /* accepted: valid UTF-8 */
}

QS_FUZZ_ENTRY(qs_fuzz_text)
