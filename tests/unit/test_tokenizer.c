/* The llama2.c tokenizer: tok512 round trips, byte fallback, and the Llama 2 32k vocabulary
 * (tokenizer.bin) against the ids Hugging Face's Llama-2 tokenizer gives for llama.cpp's
 * 46 test strings (tests/fixtures/llama-spm-vocab-test). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "fileio.h"
#include "tokenizer.h"
#include "vocab_vectors.h"

static void check_roundtrip(qs_tokenizer *t, const char *s) {
    int *ids, n;
    char *back = NULL;
    CHECK(qs_tokenizer_encode(t, s, strlen(s), 1, &ids, &n) == 0);
    CHECK(qs_tokenizer_decode(t, ids, n, &back) == 0);
    CHECK_MSG(back && strcmp(back, s) == 0, "'%s' -> '%s'", s, back ? back : "(null)");
    free(ids);
    free(back);
}

static void llama_spm_vectors(qs_tokenizer *t) {
    int cases;
    int matched = vocab_vectors(
        t, "tests/fixtures/llama-spm-vocab-test/ggml-vocab-llama-spm.gguf.inp",
        "tests/fixtures/llama-spm-vocab-test/ggml-vocab-llama-spm.gguf.out", 0, &cases);
    printf("llama-spm vectors: %d/%d match\n", matched, cases);
    CHECK(cases == 46);
    CHECK(matched == cases);
}

int main(void) {
    qs_tokenizer *t;
    CHECK(qs_tokenizer_load_llama2c(&t, "data/models/tok512.bin", 512) == 0);
    if (t) {
        int *ids, n;
        const char *s = "Once upon a time";
        CHECK(qs_tokenizer_encode(t, s, strlen(s), 1, &ids, &n) == 0);
        CHECK(n >= 2 && ids[0] == 1);
        free(ids);
        check_roundtrip(t, "Once upon a time, there was a little girl named Lily.");
        check_roundtrip(t, "naïve café 日本語 🙂 tab\there\nnewline");
        /* bytes with no piece fall back to <0xNN> tokens: id = byte + 3 in tok512 */
        CHECK(qs_tokenizer_encode(t, "\xF0\x9F\x99\x82", 4, 0, &ids, &n) == 0);
        CHECK(n >= 4 && ids[n - 4] == 0xF0 + 3 && ids[n - 1] == 0x82 + 3);
        free(ids);
        CHECK(qs_tokenizer_encode(t, "", 0, 1, &ids, &n) == 0 && n == 1);
        free(ids);
        qs_tokenizer_free(t);
    }
    /* a tokenizer with fewer entries than the model's vocabulary is an error */
    CHECK(qs_tokenizer_load_llama2c(&t, "data/models/tok512.bin", 1000) != 0);
    CHECK(strstr(qs_error_message(), "tok512.bin") != NULL);
    CHECK(qs_tokenizer_load_llama2c(&t, "data/models/tok512.bin", 100) != 0);

    CHECK(qs_tokenizer_load_llama2c(&t, "data/models/tokenizer.bin", 32000) == 0);
    if (t) {
        llama_spm_vectors(t);
        qs_tokenizer_free(t);
    }
    return check_summary("test_tokenizer");
}
