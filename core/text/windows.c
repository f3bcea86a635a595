#define _GNU_SOURCE /* memmem */
#include "windows.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

void qs_window_opts_default(qs_window_opts *o) {
    memset(o, 0, sizeof *o);
    o->ctx = 512;
    o->score = QS_SCORE_HALF;
    o->bos = QS_BOS_REPLACE;
}

int qs_score_mode_parse(const char *s) {
    if (strcmp(s, "half") == 0) return QS_SCORE_HALF;
    if (strcmp(s, "all") == 0) return QS_SCORE_ALL;
    return -1;
}

int qs_bos_mode_parse(const char *s) {
    if (strcmp(s, "replace") == 0) return QS_BOS_REPLACE;
    if (strcmp(s, "prepend") == 0) return QS_BOS_PREPEND;
    if (strcmp(s, "none") == 0) return QS_BOS_NONE;
    return -1;
}

static int push_window(qs_windows *ws, int *cap, qs_window w) {
    if (ws->n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        qs_window *g = realloc(ws->w, (size_t)*cap * sizeof *g);
        if (!g) return qs_error_set(QS_ERR_NOMEM, "out of memory building windows");
        ws->w = g;
    }
    ws->w[ws->n++] = w;
    return QS_OK;
}

/* Caps the window's scored range so the total stays within max_tokens. Returns 1 when
 * the budget is spent. */
static int apply_budget(qs_windows *ws, qs_window *w, long max_tokens) {
    long n = w->score_to - w->score_from;
    if (max_tokens > 0 && ws->n_scored + n >= max_tokens) {
        w->score_to = w->score_from + (int)(max_tokens - ws->n_scored);
        ws->n_scored = max_tokens;
        return 1;
    }
    ws->n_scored += n;
    return 0;
}

static int build_docs(qs_windows *ws, const qs_tokenizer *tok, const char *text, size_t len,
                      const qs_window_opts *o) {
    size_t seplen = strlen(o->doc_sep);
    size_t cap_tokens = 0, used = 0;
    int cap = 0, doc = 0, rc = QS_OK;
    /* first pass: tokens per document, stored contiguously */
    const char *p = text, *end = text + len;
    while (p < end && rc == QS_OK) {
        /* memmem, not strstr: the text may hold NUL bytes, which must not end the search */
        const char *q = memmem(p, (size_t)(end - p), o->doc_sep, seplen);
        if (!q) q = end;
        const char *a = p, *b = q;
        while (a < b && (*a == ' ' || *a == '\n' || *a == '\r' || *a == '\t')) a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\n' || b[-1] == '\r' || b[-1] == '\t')) b--;
        p = q + (q < end ? seplen : 0);
        if (a == b) continue;
        if (doc++ < o->skip_docs) continue;
        int *ids, n;
        rc = qs_tokenizer_encode(tok, a, (size_t)(b - a), 1, &ids, &n);
        if (rc) break;
        ws->n_text_tokens += n;
        if (n > o->ctx) n = o->ctx;
        if (used + (size_t)n > cap_tokens) {
            size_t nc = cap_tokens ? 2 * cap_tokens : 4096;
            while (nc < used + (size_t)n) nc *= 2;
            int *g = realloc(ws->storage, nc * sizeof *g);
            if (!g) {
                free(ids);
                rc = qs_error_set(QS_ERR_NOMEM, "out of memory building windows");
                break;
            }
            ws->storage = g;
            cap_tokens = nc;
        }
        memcpy(ws->storage + used, ids, (size_t)n * sizeof *ids);
        free(ids);
        if (n >= 2) {
            /* token pointers are fixed up after the storage stops moving */
            qs_window w = {(int *)(uintptr_t)used, n, 0, n - 1};
            int stop = apply_budget(ws, &w, o->max_tokens);
            rc = push_window(ws, &cap, w);
            if (stop) break;
        }
        used += (size_t)n;
    }
    for (int i = 0; i < ws->n; i++) ws->w[i].tokens = ws->storage + (uintptr_t)ws->w[i].tokens;
    return rc;
}

/* Ids (the encoder's BOS included) that the windows need to score max_tokens predictions,
 * or -1 when that is not bounded (no budget, or windows that score nothing new). */
static double ids_needed(const qs_window_opts *o) {
    if (o->max_tokens <= 0) return -1;
    int ctx = o->ctx, stride = o->stride > 0 ? o->stride : ctx;
    int per = o->bos == QS_BOS_PREPEND ? ctx - 1 : ctx;
    int step = stride > per ? per : stride;
    int from0 = o->score == QS_SCORE_HALF ? ctx / 2 : 0, from1 = from0;
    if (step < per && from1 < ctx - 1 - step) from1 = ctx - 1 - step;
    double s0 = ctx - 1 - from0, s1 = ctx - 1 - from1; /* predictions of window 0, k > 0 */
    if (s0 <= 0 || s1 <= 0) return -1;
    double more = (double)o->max_tokens > s0 ? ceil(((double)o->max_tokens - s0) / s1) : 0;
    return more * step + per + (o->bos == QS_BOS_PREPEND ? 1 : 0);
}

/* Where a prefix of the text may end: just after the last newline in [lo, hi), else after
 * the last space, else at hi moved back to the start of a UTF-8 character. */
static size_t cut_at(const char *text, size_t lo, size_t hi) {
    for (size_t i = hi; i > lo; i--)
        if (text[i - 1] == '\n') return i;
    for (size_t i = hi; i > lo; i--)
        if (text[i - 1] == ' ') return i;
    while (hi > lo && ((unsigned char)text[hi] & 0xC0) == 0x80) hi--;
    return hi;
}

/* Encodes what the windows need rather than the whole text: a budget of 1000 tokens from
 * a 200 MB text tokenized all of it (416 s, 10 GB). Two prefixes cut at line ends are
 * encoded and only the ids on which both agree are kept, since the last ids of a prefix
 * may merge differently once more text follows; the prefix doubles until `need` ids are
 * certain, or the whole text is encoded. */
static int encode_needed(const qs_tokenizer *tok, const char *text, size_t len, int add_bos,
                         double need, int **ids, int *n) {
    for (double guess = need * 6.0 + 65536.0;; guess *= 2) { /* ~4 bytes per token */
        if (need < 0 || guess * 1.5 >= (double)len)
            return qs_tokenizer_encode(tok, text, len, add_bos, ids, n);
        size_t c1 = cut_at(text, (size_t)guess / 2, (size_t)guess);
        size_t c2 = cut_at(text, (size_t)guess, (size_t)(guess * 1.5));
        if (c1 == 0 || c2 <= c1) continue;
        int *a, na, *b, nb;
        int rc = qs_tokenizer_encode(tok, text, c1, add_bos, &a, &na);
        if (rc) return rc;
        rc = qs_tokenizer_encode(tok, text, c2, add_bos, &b, &nb);
        if (rc) {
            free(a);
            return rc;
        }
        int same = 0;
        while (same < na && same < nb && a[same] == b[same]) same++;
        free(a);
        if (same >= need) {
            *ids = b;
            *n = same;
            return QS_OK;
        }
        free(b);
    }
}

static int build_stream(qs_windows *ws, const qs_tokenizer *tok, const char *text, size_t len,
                        const qs_window_opts *o) {
    int *ids, n;
    int rc = encode_needed(tok, text, len, o->bos != QS_BOS_NONE, ids_needed(o), &ids, &n);
    if (rc) return rc;
    ws->n_text_tokens = n;
    int ctx = o->ctx, stride = o->stride > 0 ? o->stride : ctx;
    int text_per_window = o->bos == QS_BOS_PREPEND ? ctx - 1 : ctx;
    /* with PREPEND the text stream starts after the BOS the encoder added */
    const int *src = o->bos == QS_BOS_PREPEND ? ids + 1 : ids;
    int n_src = o->bos == QS_BOS_PREPEND ? n - 1 : n;
    int text_stride = stride > text_per_window ? text_per_window : stride;
    int n_win = 0;
    for (long start = 0; start + text_per_window <= n_src; start += text_stride) n_win++;
    if (n_win == 0) {
        free(ids);
        return qs_error_set(QS_ERR_ARG,
                            "text has %d tokens, fewer than one window of %d (use a smaller "
                            "--ctx)",
                            n, ctx);
    }
    ws->storage = malloc((size_t)n_win * ctx * sizeof(int));
    ws->w = calloc((size_t)n_win, sizeof *ws->w);
    if (!ws->storage || !ws->w) {
        free(ids);
        return qs_error_set(QS_ERR_NOMEM, "out of memory building %d windows", n_win);
    }
    for (int k = 0; k < n_win; k++) {
        int *w = ws->storage + (size_t)k * ctx;
        const int *s = src + (size_t)k * text_stride;
        if (o->bos == QS_BOS_PREPEND) {
            w[0] = tok->bos_id;
            memcpy(w + 1, s, (size_t)text_per_window * sizeof(int));
        } else {
            memcpy(w, s, (size_t)ctx * sizeof(int));
            if (o->bos == QS_BOS_REPLACE && tok->bos_id >= 0) w[0] = tok->bos_id;
        }
        qs_window win = {w, ctx, 0, ctx - 1};
        if (o->score == QS_SCORE_HALF) win.score_from = ctx / 2;
        /* overlapping windows score only predictions of tokens not scored before */
        if (k > 0 && text_stride < text_per_window) {
            int fresh_from = ctx - 1 - text_stride;
            if (win.score_from < fresh_from) win.score_from = fresh_from;
        }
        ws->w[ws->n++] = win;
        if (apply_budget(ws, &ws->w[ws->n - 1], o->max_tokens)) break;
    }
    free(ids);
    return QS_OK;
}

int qs_windows_build(qs_windows *out, const qs_tokenizer *tok, const char *text, size_t len,
                     const qs_window_opts *o) {
    memset(out, 0, sizeof *out);
    if (o->ctx < 2)
        return qs_error_set(QS_ERR_ARG, "--ctx %d: a window needs at least 2 tokens", o->ctx);
    if (o->stride < 0 || o->stride > o->ctx)
        return qs_error_set(QS_ERR_ARG, "--stride %d must be in 1..ctx (%d)", o->stride, o->ctx);
    if (o->max_tokens < 0) return qs_error_set(QS_ERR_ARG, "--max-tokens must be positive");
    if (o->doc_sep && !o->doc_sep[0])
        return qs_error_set(QS_ERR_ARG,
                            "--docs: the document separator is empty (give the text that "
                            "separates documents, e.g. '<|endoftext|>')");
    int rc = o->doc_sep ? build_docs(out, tok, text, len, o) : build_stream(out, tok, text, len, o);
    if (rc == QS_OK && out->n == 0)
        rc = qs_error_set(QS_ERR_ARG, "no window to evaluate (text too short?)");
    if (rc) qs_windows_free(out);
    return rc;
}

void qs_windows_free(qs_windows *w) {
    free(w->w);
    free(w->storage);
    memset(w, 0, sizeof *w);
}
