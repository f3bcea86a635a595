/* Fuzz target: Hugging Face tokenizer.json, both BPE kinds (qs_tokenizer_parse_hf, the code
 * qs_tokenizer_load_hf runs on the files' bytes), then encode and decode a fixed text.
 * Input: tokenizer.json, optionally followed by a NUL byte and tokenizer_config.json
 * (a NUL can never be part of valid JSON text, so the split loses nothing). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fuzz_common.h"
#include "tok_hf.h"
#include "tokenizer.h"

static const char tok_hf_text[] =
    "Hello world! Once upon a time, 123 h\xC3\xA9llo \xE2\x96\x81 <s> </s> <|endoftext|>"
    "\n\n\t  end \xF0\x9F\x98\x80\xE4\xB8\xAD's I'm ";

int qs_fuzz_tok_hf(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t json_len = nul ? (size_t)(nul - data) : size;
    const char *cfg = nul ? (const char *)nul + 1 : NULL;
    size_t cfg_len = nul ? size - json_len - 1 : 0;
    qs_tokenizer *t = NULL;
    int rc = qs_tokenizer_parse_hf(&t, (const char *)data, json_len, cfg, cfg_len,
                                   "fuzz/tokenizer.json");
    if (rc != QS_OK) {
        if (t || qs_error_message()[0] == '\0') abort();
        return 0;
    }
    qs_fuzz_exercise_tokenizer(t, tok_hf_text);
    qs_tokenizer_free(t);
    return 1;
}

QS_FUZZ_ENTRY(qs_fuzz_tok_hf)
