/* What the fuzz targets share. Each target is a function qs_fuzz_<name>(data, size) that
 * aborts on a broken invariant, so libFuzzer (and the replay test, which compiles every
 * target into one program with QS_FUZZ_REPLAY defined) reports it. */
#ifndef QS_FUZZ_COMMON_H
#define QS_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "tokenizer.h"

/* Encodes text with t (every id must lie in the vocabulary; a refusal must say why) and
 * decodes the ids back. */
static inline void qs_fuzz_exercise_tokenizer(const qs_tokenizer *t, const char *text) {
    int *ids = NULL, n = 0;
    if (qs_tokenizer_encode(t, text, strlen(text), 1, &ids, &n) == QS_OK) {
        for (int i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= t->n_vocab) abort();
        char *out = NULL;
        if (qs_tokenizer_decode(t, ids, n, &out) == QS_OK) free(out);
    } else if (qs_error_message()[0] == '\0') {
        abort();
    }
    free(ids);
}

/* libFuzzer's entry point, calling the target function fn. */
#ifdef QS_FUZZ_REPLAY
#define QS_FUZZ_ENTRY(fn)
#else
#define QS_FUZZ_ENTRY(fn)                                          \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { \
        fn(data, size);                                            \
        return 0;                                                  \
    }
#endif

#endif
