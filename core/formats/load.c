/* Format detection by content, and the tokenizer that goes with a model. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"
#include "gguf.h"
#include "model.h"
#include "tok_hf.h"

/* "GGUF" at byte 0 is a GGUF file; a directory with config.json is a Hugging Face model;
 * anything else is tried as a llama2.c checkpoint, whose header checks are strict. */
static const char *detect_format(const char *path) {
    if (qs_path_is_dir(path)) return "hf";
    int fd;
    if (qs_file_open_regular(path, &fd, NULL)) return "llama2c"; /* the loader reports it */
    char magic[4] = {0};
    ssize_t n = read(fd, magic, 4);
    close(fd);
    if (n == 4 && memcmp(magic, "GGUF", 4) == 0) return "gguf";
    return "llama2c";
}

/* Looks for the llama2.c tokenizer next to a checkpoint: tok<V>.bin, then tokenizer.bin
 * when V is Llama 2's 32000. */
static int find_llama2c_tokenizer(const char *model_path, int vocab, char *out, size_t cap) {
    char dir[PATH_MAX - 32];
    snprintf(dir, sizeof dir, "%s", model_path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    snprintf(out, cap, "%s/tok%d.bin", dir, vocab);
    if (access(out, R_OK) == 0) return 1;
    if (vocab == 32000) {
        snprintf(out, cap, "%s/tokenizer.bin", dir);
        if (access(out, R_OK) == 0) return 1;
    }
    return 0;
}

/* --tokenizer MODEL.gguf: the vocabulary a GGUF model embeds (e.g. for a llama2.c copy of
 * it that `qscope plant` wrote). */
static int tokenizer_from_gguf(qs_tokenizer **t, const char *path) {
    qs_gguf *g = NULL;
    int rc = qs_gguf_open(&g, path);
    if (rc == QS_OK) rc = qs__gguf_tokenizer_new(t, g);
    if (rc == QS_OK && !*t)
        rc = qs_error_set(QS_ERR_FORMAT,
                          "%s: a GGUF file without a tokenizer (no "
                          "tokenizer.ggml.model)",
                          path);
    qs_gguf_free(g);
    return rc;
}

/* --tokenizer DIR/tokenizer.json: with DIR/tokenizer_config.json beside it when there is
 * one, as the Hugging Face loader reads them. */
static int tokenizer_from_json(qs_tokenizer **t, const char *path) {
    char cfg[PATH_MAX];
    const char *slash = strrchr(path, '/');
    int dir = slash ? (int)(slash - path) : 0;
    int n = slash ? snprintf(cfg, sizeof cfg, "%.*s/tokenizer_config.json", dir, path)
                  : snprintf(cfg, sizeof cfg, "tokenizer_config.json");
    int has_cfg = n > 0 && (size_t)n < sizeof cfg && access(cfg, F_OK) == 0;
    return qs_tokenizer_load_hf(t, path, has_cfg ? cfg : NULL);
}

int qs_model_load(qs_model **out, const char *path, const char *tokenizer_path) {
    *out = NULL;
    const char *fmt = detect_format(path);
    if (strcmp(fmt, "hf") == 0) {
        char cfg[PATH_MAX];
        snprintf(cfg, sizeof cfg, "%s/config.json", path);
        if (access(cfg, F_OK) != 0)
            return qs_error_set(QS_ERR_FORMAT,
                                "%s: is a directory without config.json, not a "
                                "Hugging Face model",
                                path);
    }
    qs_model *m = NULL;
    int rc;
    if (strcmp(fmt, "gguf") == 0)
        rc = qs__load_gguf(&m, path);
    else if (strcmp(fmt, "hf") == 0)
        rc = qs__load_hf(&m, path);
    else
        rc = qs__load_llama2c(&m, path);
    if (rc == QS_OK && (rc = qs_file_map_check(m->map))) qs_model_free(m); /* cut meanwhile */
    if (rc) return rc;

    char found[PATH_MAX];
    if (!tokenizer_path && !m->tok &&
        find_llama2c_tokenizer(path, m->cfg.vocab_size, found, sizeof found))
        tokenizer_path = found;
    if (tokenizer_path) {
        qs_tokenizer *t = NULL;
        /* tokenizer.json (content starts with '{'), the vocabulary of a GGUF model, or a
         * llama2.c tokenizer.bin */
        unsigned char head[64] = {0};
        size_t got = 0;
        int fd;
        if (qs_file_open_regular(tokenizer_path, &fd, NULL) == QS_OK) {
            ssize_t r = read(fd, head, sizeof head);
            got = r > 0 ? (size_t)r : 0;
            close(fd);
        }
        char first = 0;
        for (size_t i = 0; i < got && !first; i++)
            if (head[i] != ' ' && head[i] != '\n' && head[i] != '\r' && head[i] != '\t')
                first = (char)head[i];
        if (got >= 4 && memcmp(head, "GGUF", 4) == 0)
            rc = tokenizer_from_gguf(&t, tokenizer_path);
        else if (first == '{')
            rc = tokenizer_from_json(&t, tokenizer_path);
        else
            rc = qs_tokenizer_load_llama2c(&t, tokenizer_path, m->cfg.vocab_size);
        if (rc == QS_OK && t->n_vocab > m->cfg.vocab_size) {
            rc = qs_error_set(QS_ERR_FORMAT,
                              "%s: tokenizer has %d tokens, more than the model's "
                              "vocabulary (%d)",
                              tokenizer_path, t->n_vocab, m->cfg.vocab_size);
            qs_tokenizer_free(t);
        }
        if (rc) {
            qs_model_free(m);
            return rc;
        }
        qs_tokenizer_free(m->tok);
        m->tok = t;
    }
    *out = m;
    return QS_OK;
}
