/* UTF-8, once: validation (strict, RFC 3629: no overlong forms, no surrogates, nothing
 * above U+10FFFF), replacement of invalid bytes by U+FFFD, and the encoding and decoding
 * of one code point that the tokenizers use. Texts, JSON documents, GGUF names and token
 * texts all go through these functions. */
#ifndef QS_UTF8_H
#define QS_UTF8_H

#include <stddef.h>

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if invalid (overlong forms,
 * surrogates and code points above U+10FFFF are invalid). */
size_t qs_utf8_valid_prefix(const unsigned char *s, size_t n);
/* Returns the offset of the first invalid byte, or n if all of s[0..n) is valid. */
size_t qs_utf8_check(const unsigned char *s, size_t n);

/* Copies s[0..n) into a malloc'd NUL-terminated *out (caller frees), each invalid byte
 * replaced by U+FFFD (EF BF BD); *out_len bytes, *n_replaced substitutions. QS_ERR_NOMEM. */
int qs_utf8_replace(const unsigned char *s, size_t n, char **out, size_t *out_len,
                    size_t *n_replaced);

/* The length a lead byte announces: 1 for ASCII, 2..4 for a multi-byte lead, and 1 for a
 * byte that starts no sequence (a continuation byte, 0xF8..0xFF). */
int qs_utf8_seq_len(unsigned char c);
/* Writes code point cp (0..0x10FFFF) to out (room for 4); returns the bytes written. */
int qs_utf8_encode(char *out, int cp);
/* Decodes the sequence at s (n bytes left) as its lead byte announces, without the strict
 * checks (callers validate text first); returns the bytes consumed. *cp = -1 when a byte
 * that should continue the sequence does not, or the lead byte starts no sequence; a
 * sequence cut short by n decodes from the bytes there are. n >= 1. */
int qs_utf8_decode(const char *s, size_t n, int *cp);

#endif
