/* llama2.c tokenizer.bin: int32 max_token_length, then for each of the model's vocab_size
 * tokens a float32 score, an int32 byte length and the bytes. Spaces are plain ' '. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "tokenizer.h"

int qs_tokenizer_parse_llama2c(qs_tokenizer **out, const unsigned char *buf, size_t size,
                               int vocab_size, const char *path) {
    *out = NULL;
    /* ids 0, 1, 2 are <unk>, <s>, </s> in every llama2.c vocabulary: below 3 entries BOS
     * and EOS would be ids the tokenizer does not have */
    if (vocab_size < 3 || vocab_size > (1 << 22))
        return qs_error_set(QS_ERR_ARG, "%s: vocabulary size %d out of range (3..%d)", path,
                            vocab_size, 1 << 22);
    if (size < 4)
        return qs_error_set(QS_ERR_FORMAT, "%s: truncated: %zu bytes, no max_token_length header",
                            path, size);
    int32_t max_len;
    memcpy(&max_len, buf, 4);
    if (max_len <= 0 || max_len > 1 << 16)
        return qs_error_set(QS_ERR_FORMAT, "%s: max_token_length = %d is out of range (1..65536)",
                            path, max_len);
    const char **pieces = calloc((size_t)vocab_size, sizeof *pieces);
    int *lens = calloc((size_t)vocab_size, sizeof *lens);
    float *scores = calloc((size_t)vocab_size, sizeof *scores);
    int rc = QS_OK;
    if (!pieces || !lens || !scores) {
        rc = qs_error_set(QS_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    size_t off = 4;
    for (int i = 0; i < vocab_size; i++) {
        if (size - off < 8) {
            rc = qs_error_set(QS_ERR_FORMAT,
                              "%s: truncated at byte %zu: token %d of %d has no score/length", path,
                              off, i, vocab_size);
            goto done;
        }
        int32_t len;
        memcpy(&scores[i], buf + off, 4);
        memcpy(&len, buf + off + 4, 4);
        off += 8;
        if (len < 0 || len > max_len) {
            rc = qs_error_set(QS_ERR_FORMAT,
                              "%s: token %d at byte %zu has length %d (expected 0..%d)", path, i,
                              off - 4, len, max_len);
            goto done;
        }
        if ((size_t)len > size - off) {
            rc = qs_error_set(QS_ERR_FORMAT,
                              "%s: truncated: token %d needs bytes [%zu, %zu), file has %zu", path,
                              i, off, off + (size_t)len, size);
            goto done;
        }
        pieces[i] = (const char *)buf + off;
        lens[i] = len;
        off += (size_t)len;
    }
    if (off != size) {
        rc = qs_error_set(QS_ERR_FORMAT,
                          "%s: %zu bytes after the %d tokens the model expects (file has more "
                          "tokens than the model's vocabulary?)",
                          path, size - off, vocab_size);
        goto done;
    }
    rc = qs__tokenizer_spm_new(out, vocab_size, pieces, lens, scores, NULL, 0, 1, 2, 0, "llama2c",
                               path);
done:
    free(pieces);
    free(lens);
    free(scores);
    return rc;
}

int qs_tokenizer_load_llama2c(qs_tokenizer **out, const char *path, int vocab_size) {
    char *data;
    size_t size;
    int rc = qs_file_read(path, (size_t)1 << 30, &data, &size);
    if (rc) return rc;
    rc = qs_tokenizer_parse_llama2c(out, (const unsigned char *)data, size, vocab_size, path);
    free(data);
    return rc;
}
