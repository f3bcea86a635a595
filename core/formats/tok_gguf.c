/* The vocabulary embedded in a GGUF file (tokenizer.ggml.* keys), turned into a qscope
 * tokenizer. `llama` vocabularies are SentencePiece pieces with scores ("▁" for a space,
 * <0xNN> byte-fallback pieces) and go through the shared SPM encoder; `gpt2` vocabularies
 * are byte-level pieces with ranked merges and go through the merge-ranked BPE encoder. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "gguf.h"
#include "tokenizer.h"

/* llama.cpp's token types (tokenizer.ggml.token_type) */
enum {
    TOKEN_NORMAL = 1,
    TOKEN_UNKNOWN = 2,
    TOKEN_CONTROL = 3,
    TOKEN_USER_DEFINED = 4,
    TOKEN_UNUSED = 5,
    TOKEN_BYTE = 6
};

#define MAX_VOCAB       (1 << 22)
#define MAX_PIECE_BYTES (1 << 16)

/* An optional token id: absent, -1 or 0xFFFFFFFF (llama.cpp's "none") give -1; anything else
 * must be a valid id. */
static int token_id(const qs_gguf *g, const char *key, int n_vocab, int dflt, int *out) {
    int64_t v = dflt;
    int rc = qs_gguf_get_int_opt(g, key, -1, UINT32_MAX, &v);
    if (rc) return rc;
    if (v == -1 || v == (int64_t)UINT32_MAX)
        v = -1;
    else if (v >= n_vocab)
        return qs_error_set(QS_ERR_FORMAT,
                            "%s: '%s' = %" PRId64 " is outside the vocabulary of %d tokens",
                            g->path, key, v, n_vocab);
    *out = (int)v;
    return QS_OK;
}

static int tok_llama(qs_tokenizer **out, const qs_gguf *g) {
    uint64_t n;
    const uint8_t *data;
    int rc = qs_gguf_get_array(g, "tokenizer.ggml.tokens", QS_GGUF_STRING, &n, &data);
    if (rc) return rc;
    if (n < 1 || n > MAX_VOCAB)
        return qs_error_set(QS_ERR_FORMAT,
                            "%s: 'tokenizer.ggml.tokens' has %" PRIu64 " tokens (expected 1..%d)",
                            g->path, n, MAX_VOCAB);
    int nv = (int)n;
    qs_gguf_str *strs = malloc((size_t)nv * sizeof *strs);
    const char **pieces = malloc((size_t)nv * sizeof *pieces);
    int *lens = malloc((size_t)nv * sizeof *lens);
    float *scores = calloc((size_t)nv, sizeof *scores);
    unsigned char *special = calloc((size_t)nv, 1);
    if (!strs || !pieces || !lens || !scores || !special) {
        rc = qs_error_set(QS_ERR_NOMEM, "%s: out of memory for %d tokens", g->path, nv);
        goto done;
    }
    if ((rc = qs_gguf_array_strings(g, "tokenizer.ggml.tokens", strs, n))) goto done;
    for (int i = 0; i < nv; i++) {
        if (strs[i].len > MAX_PIECE_BYTES) {
            rc = qs_error_set(QS_ERR_FORMAT, "%s: token %d is %" PRIu64 " bytes long (at most %d)",
                              g->path, i, strs[i].len, MAX_PIECE_BYTES);
            goto done;
        }
        pieces[i] = strs[i].ptr;
        lens[i] = (int)strs[i].len;
    }
    /* scores and token types are optional, but when present they cover every token */
    if (qs_gguf_find(g, "tokenizer.ggml.scores")) {
        uint64_t ns;
        if ((rc = qs_gguf_get_array(g, "tokenizer.ggml.scores", QS_GGUF_FLOAT32, &ns, &data)))
            goto done;
        if (ns != n) {
            rc = qs_error_set(QS_ERR_FORMAT,
                              "%s: 'tokenizer.ggml.scores' has %" PRIu64 " entries, tokens has %d",
                              g->path, ns, nv);
            goto done;
        }
        for (int i = 0; i < nv; i++) scores[i] = qs_gguf_rd_f32(data + 4 * (size_t)i);
    }
    if (qs_gguf_find(g, "tokenizer.ggml.token_type")) {
        uint64_t nt;
        if ((rc = qs_gguf_get_array(g, "tokenizer.ggml.token_type", QS_GGUF_INT32, &nt, &data)))
            goto done;
        if (nt != n) {
            rc = qs_error_set(QS_ERR_FORMAT,
                              "%s: 'tokenizer.ggml.token_type' has %" PRIu64
                              " entries, tokens has %d",
                              g->path, nt, nv);
            goto done;
        }
        /* control pieces (<s>, </s>, ...) never come out of text */
        for (int i = 0; i < nv; i++)
            special[i] = (int32_t)qs_gguf_rd_u32(data + 4 * (size_t)i) == TOKEN_CONTROL;
    }
    int bos, eos, unk, add_bos = 1;
    if ((rc = token_id(g, "tokenizer.ggml.bos_token_id", nv, 1, &bos)) ||
        (rc = token_id(g, "tokenizer.ggml.eos_token_id", nv, 2, &eos)) ||
        (rc = token_id(g, "tokenizer.ggml.unknown_token_id", nv, 0, &unk)) ||
        (rc = qs_gguf_get_bool_opt(g, "tokenizer.ggml.add_bos_token", &add_bos)))
        goto done;
    rc = qs__tokenizer_spm_new(out, nv, pieces, lens, scores, special, 1, bos, eos, unk,
                               "gguf-llama", g->path);
    if (rc == QS_OK) (*out)->add_bos = add_bos;
done:
    free(strs);
    free(pieces);
    free(lens);
    free(scores);
    free(special);
    return rc;
}

/* tokenizer.ggml.pre → the pre-tokenizer regex (NULL: GPT-2's own pattern). Llama 3's is
 * the one llama.cpp uses for "llama-bpe". */
static const char llama3_pattern[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
                                     "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
                                     "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static int tok_gpt2(qs_tokenizer **out, const qs_gguf *g) {
    const char *regex = NULL;
    if (qs_gguf_find(g, "tokenizer.ggml.pre")) {
        char pre[64];
        int rc = qs_gguf_get_cstr(g, "tokenizer.ggml.pre", pre, sizeof pre);
        if (rc) return rc;
        if (!strcmp(pre, "llama-bpe") || !strcmp(pre, "llama3"))
            regex = llama3_pattern;
        else if (strcmp(pre, "gpt-2") != 0 && strcmp(pre, "default") != 0)
            return qs_error_set(
                QS_ERR_UNSUPPORTED,
                "%s: pre-tokenizer '%s' is not supported (qscope knows 'gpt-2' and 'llama-bpe')",
                g->path, pre);
    }
    uint64_t n, nm;
    const uint8_t *data;
    int rc = qs_gguf_get_array(g, "tokenizer.ggml.tokens", QS_GGUF_STRING, &n, &data);
    if (!rc) rc = qs_gguf_get_array(g, "tokenizer.ggml.merges", QS_GGUF_STRING, &nm, &data);
    if (rc) return rc;
    if (n < 1 || n > MAX_VOCAB || nm > MAX_VOCAB)
        return qs_error_set(
            QS_ERR_FORMAT, "%s: %" PRIu64 " tokens and %" PRIu64 " merges (expected 1..%d of each)",
            g->path, n, nm, MAX_VOCAB);
    int nv = (int)n, nmi = (int)nm;
    qs_gguf_str *strs = malloc((size_t)(nv + nmi) * sizeof *strs);
    const char **pieces = malloc((size_t)nv * sizeof *pieces);
    int *lens = malloc((size_t)nv * sizeof *lens);
    unsigned char *special = calloc((size_t)nv, 1);
    char **merges = calloc(nmi ? (size_t)nmi : 1, sizeof *merges);
    if (!strs || !pieces || !lens || !special || !merges) {
        rc = qs_error_set(QS_ERR_NOMEM, "%s: out of memory for %d tokens", g->path, nv);
        goto done;
    }
    if ((rc = qs_gguf_array_strings(g, "tokenizer.ggml.tokens", strs, n)) ||
        (rc = qs_gguf_array_strings(g, "tokenizer.ggml.merges", strs + nv, nm)))
        goto done;
    for (int i = 0; i < nv; i++) {
        if (strs[i].len > MAX_PIECE_BYTES) {
            rc = qs_error_set(QS_ERR_FORMAT, "%s: token %d is %" PRIu64 " bytes long (at most %d)",
                              g->path, i, strs[i].len, MAX_PIECE_BYTES);
            goto done;
        }
        pieces[i] = strs[i].ptr;
        lens[i] = (int)strs[i].len;
    }
    /* the BPE constructor takes NUL-terminated "left right" merges */
    for (int i = 0; i < nmi; i++) {
        const qs_gguf_str *m = &strs[nv + i];
        if (m->len > MAX_PIECE_BYTES || memchr(m->ptr, 0, (size_t)m->len) ||
            !memchr(m->ptr, ' ', (size_t)m->len)) {
            rc = qs_error_set(QS_ERR_FORMAT, "%s: merge %d is not \"left right\"", g->path, i);
            goto done;
        }
        if (!(merges[i] = malloc((size_t)m->len + 1))) {
            rc = qs_error_set(QS_ERR_NOMEM, "%s: out of memory for merges", g->path);
            goto done;
        }
        memcpy(merges[i], m->ptr, (size_t)m->len);
        merges[i][m->len] = '\0';
    }
    /* control and user-defined pieces (<|endoftext|>, ...) are matched literally in text */
    if (qs_gguf_find(g, "tokenizer.ggml.token_type")) {
        uint64_t nt;
        if ((rc = qs_gguf_get_array(g, "tokenizer.ggml.token_type", QS_GGUF_INT32, &nt, &data)))
            goto done;
        if (nt != n) {
            rc = qs_error_set(QS_ERR_FORMAT,
                              "%s: 'tokenizer.ggml.token_type' has %" PRIu64
                              " entries, tokens has %d",
                              g->path, nt, nv);
            goto done;
        }
        for (int i = 0; i < nv; i++) {
            int32_t ty = (int32_t)qs_gguf_rd_u32(data + 4 * (size_t)i);
            special[i] = ty == TOKEN_CONTROL || ty == TOKEN_USER_DEFINED;
        }
    }
    qs_bpe_spec sp = {0};
    sp.n_vocab = nv;
    sp.pieces = pieces;
    sp.piece_len = lens;
    sp.special = special;
    sp.n_merges = nmi;
    sp.merges = (const char *const *)merges;
    sp.byte_level = 1;
    sp.pretok_regex = regex;
    sp.match_special = 1;
    sp.add_bos = 0; /* GPT-2 style vocabularies add no BOS unless the file says so */
    if ((rc = token_id(g, "tokenizer.ggml.bos_token_id", nv, -1, &sp.bos_id)) ||
        (rc = token_id(g, "tokenizer.ggml.eos_token_id", nv, -1, &sp.eos_id)) ||
        (rc = token_id(g, "tokenizer.ggml.unknown_token_id", nv, -1, &sp.unk_id)) ||
        (rc = qs_gguf_get_bool_opt(g, "tokenizer.ggml.add_bos_token", &sp.add_bos)))
        goto done;
    if (sp.bos_id < 0) sp.add_bos = 0;
    rc = qs__tokenizer_bpe_new(out, &sp, "gguf-gpt2", g->path);
    if (rc == QS_OK) (*out)->add_bos = sp.add_bos;
done:
    if (merges)
        for (int i = 0; i < nmi; i++) free(merges[i]);
    free(merges);
    free(strs);
    free(pieces);
    free(lens);
    free(special);
    return rc;
}

int qs__gguf_tokenizer_new(qs_tokenizer **out, const qs_gguf *g) {
    *out = NULL;
    if (!qs_gguf_find(g, "tokenizer.ggml.model")) return QS_OK;
    char model[32];
    int rc = qs_gguf_get_cstr(g, "tokenizer.ggml.model", model, sizeof model);
    if (rc) return rc;
    if (strcmp(model, "llama") == 0) return tok_llama(out, g);
    if (strcmp(model, "gpt2") == 0) return tok_gpt2(out, g);
    return qs_error_set(
        QS_ERR_UNSUPPORTED,
        "%s: tokenizer model '%s' is not supported (qscope reads 'llama' and 'gpt2')", g->path,
        model);
}
