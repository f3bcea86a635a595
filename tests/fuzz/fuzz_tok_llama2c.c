/* Fuzz target: llama2.c tokenizer.bin, through qs_tokenizer_parse_llama2c (the code
 * qs_tokenizer_load_llama2c runs on the file's bytes), then encode and decode a fixed text.
 * Input: a little-endian u16 vocabulary size (the model's, which the file must match; 0
 * reads as 1), then the file. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fuzz_common.h"
#include "tokenizer.h"

static const char tok_llama2c_text[] =
    "Once upon a time, a girl named Lily saw a \xC3\xA9l\xC3\xA9phant. "
    "\xE2\x96\x81<s> \xF0\x9F\x98\x80 12345\n\n\t end";

int qs_fuzz_tok_llama2c(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    int vocab = data[0] | data[1] << 8;
    if (vocab == 0) vocab = 1;
    qs_tokenizer *t = NULL;
    int rc = qs_tokenizer_parse_llama2c(&t, data + 2, size - 2, vocab, "fuzz-tok.bin");
    if (rc != QS_OK) {
        if (t || qs_error_message()[0] == '\0') abort();
        return 0;
    }
    qs_fuzz_exercise_tokenizer(t, tok_llama2c_text);
    /* every piece decodes, whatever its bytes; read them all so ASan sees the ranges */
    char buf[8];
    size_t len;
    volatile unsigned sink = 0;
    for (int id = 0; id < t->n_vocab; id++) {
        const char *p = qs_tokenizer_piece(t, id - 1, id, buf, &len);
        if (len && !p) abort();
        for (size_t k = 0; k < len; k++) sink += (unsigned char)p[k];
    }
    (void)sink;
    qs_tokenizer_free(t);
    return 1;
}

QS_FUZZ_ENTRY(qs_fuzz_tok_llama2c)
