/* llama.cpp's tokenizer test vectors (tests/fixtures/<vocab>/<name>.gguf.inp and .out): the .inp
 * file holds the test strings separated by "\n__ggml_vocab_test__\n", the .out file one line
 * of reference ids per string. Include after check.h. */
#ifndef QS_TEST_VOCAB_VECTORS_H
#define QS_TEST_VOCAB_VECTORS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fileio.h"
#include "tokenizer.h"

/* Encodes every string of inp_path with t (no BOS) and compares with out_path's ids; with
 * roundtrip, decoding the ids must give the string back. Each failure is a CHECK naming the
 * string. Returns how many strings encoded to their reference ids; *n_strings = strings. */
static int vocab_vectors(const qs_tokenizer *t, const char *inp_path, const char *out_path,
                         int roundtrip, int *n_strings) {
    char *inp = NULL, *out = NULL;
    size_t il, ol;
    *n_strings = 0;
    int read = qs_file_read(inp_path, 0, &inp, &il) == QS_OK &&
               qs_file_read(out_path, 0, &out, &ol) == QS_OK;
    CHECK_MSG(read, "%s / %s: %s", inp_path, out_path, qs_error_message());
    if (!read) {
        free(inp);
        return 0;
    }
    const char *sep = "\n__ggml_vocab_test__\n";
    char *s = inp, *line = out;
    int agree = 0;
    static int ref[4096];
    for (char *e; (e = strstr(s, sep)); s = e + strlen(sep)) {
        char *nl = strchr(line, '\n');
        if (!nl) break;
        *nl = '\0';
        int nref = 0;
        for (char *p = line, *q;; p = q) { /* ids separated by spaces; an empty line is no id */
            long v = strtol(p, &q, 10);
            if (q == p || nref == (int)(sizeof ref / sizeof *ref)) break;
            ref[nref++] = (int)v;
        }
        int *ids = NULL, n = 0;
        size_t len = (size_t)(e - s);
        CHECK(qs_tokenizer_encode(t, s, len, 0, &ids, &n) == QS_OK);
        int d = 0;
        while (d < n && d < nref && ids[d] == ref[d]) d++;
        int same = n == nref && d == n;
        CHECK_MSG(same, "string %d '%.*s': %d ids, reference %d, first difference at %d",
                  *n_strings, (int)len, s, n, nref, d);
        agree += same;
        if (roundtrip) {
            char *dec = NULL;
            CHECK_MSG(qs_tokenizer_decode(t, ids, n, &dec) == QS_OK && dec && strlen(dec) == len &&
                          !memcmp(dec, s, len),
                      "round trip of string %d", *n_strings);
            free(dec);
        }
        free(ids);
        (*n_strings)++;
        line = nl + 1;
    }
    free(inp);
    free(out);
    return agree;
}

#endif
