/* The tokenizer interface: BOS handling and whole-sequence decoding on top of each
 * implementation's encode/decode. */
#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

qs_tokenizer *qs__tokenizer_alloc(const qs_tokenizer_ops *ops, const char *kind, const char *path) {
    qs_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->ops = ops;
    snprintf(t->kind, sizeof t->kind, "%s", kind);
    snprintf(t->path, sizeof t->path, "%s", path ? path : "");
    t->bos_id = t->eos_id = -1;
    t->add_bos = 1;
    return t;
}

int qs_tokenizer_encode(const qs_tokenizer *t, const char *text, size_t len, int add_bos, int **ids,
                        int *n) {
    int cap = 64, count = 0;
    int *out = malloc((size_t)cap * sizeof *out);
    if (!out) return qs_error_set(QS_ERR_NOMEM, "out of memory encoding text");
    if (add_bos && t->bos_id >= 0) out[count++] = t->bos_id;
    int rc = t->ops->encode(t, text, len, &out, &count, &cap);
    if (rc) {
        free(out);
        return rc;
    }
    *ids = out;
    *n = count;
    return QS_OK;
}

const char *qs_tokenizer_piece(const qs_tokenizer *t, int prev_id, int id, char buf[8],
                               size_t *len) {
    if (id < 0 || id >= t->n_vocab) {
        *len = 0;
        return "";
    }
    return t->ops->decode(t, prev_id, id, buf, len);
}

int qs_tokenizer_decode(const qs_tokenizer *t, const int *ids, int n, char **out) {
    size_t cap = 64, len = 0;
    char *s = malloc(cap);
    if (!s) return qs_error_set(QS_ERR_NOMEM, "out of memory decoding");
    for (int i = 0; i < n; i++) {
        char buf[8];
        size_t pl;
        const char *p = qs_tokenizer_piece(t, i ? ids[i - 1] : -1, ids[i], buf, &pl);
        if (len + pl + 1 > cap) {
            while (len + pl + 1 > cap) cap *= 2;
            char *g = realloc(s, cap);
            if (!g) {
                free(s);
                return qs_error_set(QS_ERR_NOMEM, "out of memory decoding");
            }
            s = g;
        }
        memcpy(s + len, p, pl);
        len += pl;
    }
    s[len] = '\0';
    *out = s;
    return QS_OK;
}

void qs_tokenizer_free(qs_tokenizer *t) {
    if (!t) return;
    if (t->ops && t->ops->free) t->ops->free(t);
    free(t);
}
