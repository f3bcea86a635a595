/* SentencePiece-style BPE by piece scores: the algorithm of llama2.c's run.c encoder and
 * llama.cpp's SPM tokenizer. Candidate merges sit in a max-heap ordered by the merged
 * piece's score, ties to the leftmost pair, so a whole file encodes in O(n log n). */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "strmap.h"
#include "tokenizer.h"
#include "utf8.h"

typedef struct spm {
    int n;
    float *scores;     /* [n] */
    char **dec;        /* [n] text each id decodes to ("" for control pieces) */
    int *dec_len;      /* [n] */
    qs_strmap map;     /* piece text (as it appears in normalized text) -> id */
    int byte_ids[256]; /* id of <0xNN>, or -1 */
    int space_marker;  /* 1: spaces are U+2581 in pieces */
    int unk_id;
} spm;

typedef struct symbol {
    size_t start, len; /* span in the normalized text */
    int id;
    int prev, next; /* linked list; -1 at the ends */
    int mergeable;  /* 0 for byte-fallback symbols */
} symbol;

typedef struct candidate {
    float score;
    int left, right;
    size_t len; /* combined length when pushed; a mismatch marks it stale */
    int id;
} candidate;

typedef struct heap {
    candidate *a;
    int n, cap;
} heap;

static int cand_better(const candidate *x, const candidate *y, const symbol *s) {
    if (x->score != y->score) return x->score > y->score;
    return s[x->left].start < s[y->left].start;
}

static int heap_push(heap *h, candidate c, const symbol *s) {
    if (h->n == h->cap) {
        int cap = h->cap ? 2 * h->cap : 256;
        candidate *a = realloc(h->a, (size_t)cap * sizeof *a);
        if (!a) return QS_ERR_NOMEM;
        h->a = a;
        h->cap = cap;
    }
    int i = h->n++;
    while (i > 0 && cand_better(&c, &h->a[(i - 1) / 2], s)) {
        h->a[i] = h->a[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->a[i] = c;
    return QS_OK;
}

static candidate heap_pop(heap *h, const symbol *s) {
    candidate top = h->a[0], last = h->a[--h->n];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && cand_better(&h->a[c + 1], &h->a[c], s)) c++;
        if (!cand_better(&h->a[c], &last, s)) break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n > 0) h->a[i] = last;
    return top;
}

static int try_pair(const spm *p, const char *text, symbol *s, int l, heap *h) {
    if (l < 0) return QS_OK;
    int r = s[l].next;
    if (r < 0 || !s[l].mergeable || !s[r].mergeable) return QS_OK;
    size_t len = s[l].len + s[r].len;
    int id = qs_strmap_get(&p->map, text + s[l].start, len);
    if (id < 0) return QS_OK;
    candidate c = {p->scores[id], l, r, len, id};
    return heap_push(h, c, s);
}

static int spm_encode(const qs_tokenizer *t, const char *text, size_t len, int **ids, int *n,
                      int *cap) {
    const spm *p = t->impl;
    if (len == 0) return QS_OK;
    /* normalized text: dummy prefix space, spaces as the piece alphabet spells them */
    const char *sp = p->space_marker ? "\xE2\x96\x81" : " ";
    size_t spn = strlen(sp);
    size_t n_spaces = 1;
    for (size_t i = 0; i < len; i++) n_spaces += text[i] == ' ';
    size_t nlen = len + n_spaces * (spn - 1) + 1;
    char *norm = malloc(nlen + 1);
    symbol *s = malloc((nlen + 1) * sizeof *s);
    heap h = {0};
    int rc = QS_OK;
    if (!norm || !s) {
        rc = qs_error_set(QS_ERR_NOMEM, "out of memory encoding %zu bytes", len);
        goto done;
    }
    size_t k = 0;
    memcpy(norm, sp, spn);
    k = spn;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(norm + k, sp, spn);
            k += spn;
        } else {
            norm[k++] = text[i];
        }
    }
    /* one symbol per code point, or per byte where the code point is not a piece */
    int ns = 0;
    for (size_t i = 0; i < k;) {
        size_t cl = (size_t)qs_utf8_seq_len((unsigned char)norm[i]);
        if (i + cl > k) cl = k - i;
        int id = qs_strmap_get(&p->map, norm + i, cl);
        if (id >= 0) {
            s[ns] = (symbol){i, cl, id, ns - 1, ns + 1, 1};
            ns++;
        } else {
            for (size_t b = 0; b < cl; b++) {
                int bid = p->byte_ids[(unsigned char)norm[i + b]];
                s[ns] = (symbol){i + b, 1, bid >= 0 ? bid : p->unk_id, ns - 1, ns + 1, 0};
                ns++;
            }
        }
        i += cl;
    }
    if (ns > 0) s[ns - 1].next = -1;
    for (int i = 0; i < ns && rc == QS_OK; i++) rc = try_pair(p, norm, s, i, &h);
    while (rc == QS_OK && h.n > 0) {
        candidate c = heap_pop(&h, s);
        symbol *L = &s[c.left], *R = &s[c.right];
        if (L->len == 0 || R->len == 0 || L->next != c.right || L->len + R->len != c.len) continue;
        L->len += R->len;
        L->id = c.id;
        L->next = R->next;
        if (R->next >= 0) s[R->next].prev = c.left;
        R->len = 0;
        rc = try_pair(p, norm, s, L->prev, &h);
        if (rc == QS_OK) rc = try_pair(p, norm, s, c.left, &h);
    }
    if (rc) {
        rc = qs_error_set(QS_ERR_NOMEM, "out of memory encoding %zu bytes", len);
        goto done;
    }
    for (int i = ns > 0 ? 0 : -1; i >= 0; i = s[i].next) {
        if (*n == *cap) {
            int nc = 2 * *cap;
            int *g = realloc(*ids, (size_t)nc * sizeof *g);
            if (!g) {
                rc = qs_error_set(QS_ERR_NOMEM, "out of memory encoding %zu bytes", len);
                goto done;
            }
            *ids = g;
            *cap = nc;
        }
        (*ids)[(*n)++] = s[i].id;
    }
done:
    free(norm);
    free(s);
    free(h.a);
    return rc;
}

static const char *spm_decode(const qs_tokenizer *t, int prev_id, int id, char buf[8],
                              size_t *len) {
    const spm *p = t->impl;
    const char *d = p->dec[id];
    size_t n = (size_t)p->dec_len[id];
    /* SentencePiece drops the dummy-prefix space of the first piece after BOS */
    if ((prev_id == t->bos_id || prev_id < 0) && n > 0 && d[0] == ' ') {
        d++;
        n--;
    }
    *len = n;
    return d;
}

static void spm_free(qs_tokenizer *t) {
    spm *p = t->impl;
    if (!p) return;
    for (int i = 0; i < p->n; i++) free(p->dec ? p->dec[i] : NULL);
    free(p->dec);
    free(p->dec_len);
    free(p->scores);
    qs_strmap_free(&p->map);
    free(p);
}

static const qs_tokenizer_ops spm_ops = {spm_encode, spm_decode, spm_free};

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* "<0xNN>" -> NN, else -1 */
static int byte_piece(const char *s, int len) {
    if (len != 6 || s[0] != '<' || s[1] != '0' || s[2] != 'x' || s[5] != '>') return -1;
    int hi = hexval(s[3]), lo = hexval(s[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

int qs__tokenizer_spm_new(qs_tokenizer **out, int n_vocab, const char *const *pieces,
                          const int *piece_len, const float *scores, const unsigned char *special,
                          int space_marker, int bos_id, int eos_id, int unk_id, const char *kind,
                          const char *path) {
    *out = NULL;
    /* the merge order compares scores: a NaN compares false both ways and silently changes
     * how every text is split */
    for (int i = 0; scores && i < n_vocab; i++)
        if (!isfinite(scores[i]))
            return qs_error_set(QS_ERR_NUMERIC,
                                "%s: token %d ('%.*s') has score %g; scores must "
                                "be finite",
                                path, i, pieces[i] ? (piece_len[i] < 40 ? piece_len[i] : 40) : 0,
                                pieces[i] ? pieces[i] : "", (double)scores[i]);
    qs_tokenizer *t = qs__tokenizer_alloc(&spm_ops, kind, path);
    spm *p = calloc(1, sizeof *p);
    if (!t || !p) {
        free(t);
        free(p);
        return qs_error_set(QS_ERR_NOMEM, "%s: out of memory", path);
    }
    t->impl = p;
    t->n_vocab = n_vocab;
    t->bos_id = bos_id;
    t->eos_id = eos_id;
    p->n = n_vocab;
    p->space_marker = space_marker;
    p->unk_id = unk_id >= 0 ? unk_id : 0;
    for (int b = 0; b < 256; b++) p->byte_ids[b] = -1;
    p->scores = malloc((size_t)n_vocab * sizeof *p->scores);
    p->dec = calloc((size_t)n_vocab, sizeof *p->dec);
    p->dec_len = calloc((size_t)n_vocab, sizeof *p->dec_len);
    int rc = (p->scores && p->dec && p->dec_len) ? qs_strmap_init(&p->map, (size_t)n_vocab)
                                                 : QS_ERR_NOMEM;
    for (int i = 0; i < n_vocab && rc == QS_OK; i++) {
        const char *s = pieces[i] ? pieces[i] : "";
        int len = pieces[i] ? piece_len[i] : 0;
        p->scores[i] = scores ? scores[i] : 0.0f;
        int byte = byte_piece(s, len);
        int is_special = (special && special[i]) || i == bos_id || i == eos_id || i == unk_id;
        /* decoded text: bytes for <0xNN>, nothing for control pieces, else the piece with
         * U+2581 turned back into spaces */
        char *d = malloc((size_t)len + 1);
        if (!d) {
            rc = QS_ERR_NOMEM;
            break;
        }
        int dl = 0;
        if (byte >= 0) {
            if (p->byte_ids[byte] < 0) p->byte_ids[byte] = i;
            d[dl++] = (char)byte;
        } else if (!is_special) {
            for (int j = 0; j < len;) {
                if (space_marker && j + 2 < len && memcmp(s + j, "\xE2\x96\x81", 3) == 0) {
                    d[dl++] = ' ';
                    j += 3;
                } else {
                    d[dl++] = s[j++];
                }
            }
        }
        d[dl] = '\0';
        p->dec[i] = d;
        p->dec_len[i] = dl;
        if (byte < 0 && !is_special && len > 0 && qs_strmap_get(&p->map, s, (size_t)len) < 0)
            rc = qs_strmap_put(&p->map, s, (size_t)len, i);
    }
    if (rc) {
        qs_tokenizer_free(t);
        return qs_error_set(QS_ERR_NOMEM, "%s: out of memory building the vocabulary", path);
    }
    *out = t;
    return QS_OK;
}
