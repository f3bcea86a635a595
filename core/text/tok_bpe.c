/* Merge-ranked BPE (Hugging Face tokenizers' BPE model, GPT-2's byte-level scheme).
 *
 * Encoding a text:
 *   1. added/special tokens are cut out literally (leftmost, then longest);
 *   2. each remaining segment is pre-tokenized: byte-level → split by the PCRE2 regex into
 *      chunks; SentencePiece-style → spaces become "▁" (plus one in front), one chunk;
 *   3. each chunk starts as one symbol per byte (byte-level, through GPT-2's byte-to-unicode
 *      table) or per code point (missing ones → <0xNN> byte pieces, or <unk>);
 *   4. the adjacent pair with the lowest merge rank is merged, leftmost first on ties, until
 *      no pair has a rank. A binary heap of candidate pairs over a linked list of symbols
 *      keeps this O(n log n) per chunk; stale heap entries are skipped when popped.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "tokenizer.h"
#include "utf8.h"

static const char gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* ---- hash maps ---------------------------------------------------------------------- */

/* piece text → id, open addressing; keys live in the tokenizer's piece table */
typedef struct {
    int *slots; /* id or -1 */
    size_t mask;
} strhash;

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* merge (left id, right id) → rank and merged id */
typedef struct {
    uint64_t key; /* (left << 32 | right) + 1; 0 = empty */
    int rank, merged;
} pairslot;

typedef struct {
    pairslot *slots;
    size_t mask;
} pairhash;

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static size_t pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < 2 * n) c <<= 1;
    return c;
}

/* ---- the tokenizer ------------------------------------------------------------------ */

typedef struct bpe {
    int n_vocab;
    char **pieces;          /* [V] NUL-terminated copies (NULL for a hole) */
    int *piece_len;         /* [V] */
    unsigned char *special; /* [V] */
    strhash vocab;
    pairhash merges;
    int byte_level, prepend_space, byte_fallback, match_special, ignore_merges;
    int unk_id;
    pcre2_code *re;   /* byte_level only */
    int byte_id[256]; /* byte-level: id of each byte's mapped char; SPM: <0xNN> id; -1 */
    int byte_cp[256]; /* GPT-2 byte → code point */
    int cp_byte[324]; /* code point → byte, -1 (the map's image is [0, 324)) */
    char **dec;       /* [V] decoded bytes */
    int *dec_len;
    int *specials; /* ids matched literally, longest first */
    int n_specials;
    unsigned char special_first[256]; /* first bytes of those, for a quick scan */
} bpe;

static int vocab_find(const bpe *b, const char *s, size_t n) {
    size_t i = fnv1a(s, n) & b->vocab.mask;
    for (;;) {
        int id = b->vocab.slots[i];
        if (id < 0) return -1;
        if ((size_t)b->piece_len[id] == n && memcmp(b->pieces[id], s, n) == 0) return id;
        i = (i + 1) & b->vocab.mask;
    }
}

static const pairslot *merge_find(const bpe *b, int left, int right) {
    uint64_t key = (((uint64_t)(uint32_t)left << 32) | (uint32_t)right) + 1;
    size_t i = mix64(key) & b->merges.mask;
    for (;;) {
        const pairslot *p = &b->merges.slots[i];
        if (p->key == key) return p;
        if (p->key == 0) return NULL;
        i = (i + 1) & b->merges.mask;
    }
}

static void merge_put(bpe *b, int left, int right, int rank, int merged) {
    uint64_t key = (((uint64_t)(uint32_t)left << 32) | (uint32_t)right) + 1;
    size_t i = mix64(key) & b->merges.mask;
    for (;;) {
        pairslot *p = &b->merges.slots[i];
        if (p->key == key) return; /* a repeated merge keeps its first (lowest) rank */
        if (p->key == 0) {
            p->key = key;
            p->rank = rank;
            p->merged = merged;
            return;
        }
        i = (i + 1) & b->merges.mask;
    }
}

/* GPT-2's reversible byte → printable code point table */
static void gpt2_byte_map(int byte_cp[256]) {
    int extra = 0;
    for (int c = 0; c < 256; c++) {
        int printable =
            (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF);
        byte_cp[c] = printable ? c : 256 + extra++;
    }
}

static void bpe_free_impl(bpe *b) {
    if (!b) return;
    for (int i = 0; i < b->n_vocab; i++) {
        if (b->pieces) free(b->pieces[i]);
        if (b->dec) free(b->dec[i]);
    }
    free(b->pieces);
    free(b->piece_len);
    free(b->special);
    free(b->vocab.slots);
    free(b->merges.slots);
    free(b->dec);
    free(b->dec_len);
    free(b->specials);
    if (b->re) pcre2_code_free(b->re);
    free(b);
}

static void bpe_free(qs_tokenizer *t) {
    bpe_free_impl(t->impl);
    t->impl = NULL;
}

/* ---- encoding ----------------------------------------------------------------------- */

typedef struct {
    int id, prev, next; /* prev/next: neighbour index or -1; id -1: merged away */
} sym;

typedef struct {
    int rank, pos, left, right;
} cand;

typedef struct {
    sym *s;
    int n, cap;
    cand *h;
    int nh, caph;
    char *scratch; /* mapped chunk text, for ignore_merges */
    size_t cap_scratch;
} work;

static int cand_less(const cand *a, const cand *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static int heap_push(work *w, cand c) {
    if (w->nh == w->caph) {
        int cap = w->caph ? 2 * w->caph : 64;
        cand *g = realloc(w->h, (size_t)cap * sizeof *g);
        if (!g) return QS_ERR_NOMEM;
        w->h = g;
        w->caph = cap;
    }
    int i = w->nh++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!cand_less(&c, &w->h[p])) break;
        w->h[i] = w->h[p];
        i = p;
    }
    w->h[i] = c;
    return QS_OK;
}

static cand heap_pop(work *w) {
    cand top = w->h[0], last = w->h[--w->nh];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        const cand *best = &last;
        if (l < w->nh && cand_less(&w->h[l], best)) m = l, best = &w->h[l];
        if (r < w->nh && cand_less(&w->h[r], best)) m = r;
        if (m == i) break;
        w->h[i] = w->h[m];
        i = m;
    }
    if (w->nh > 0) w->h[i] = last;
    return top;
}

static int sym_push(work *w, int id) {
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 64;
        sym *g = realloc(w->s, (size_t)cap * sizeof *g);
        if (!g) return QS_ERR_NOMEM;
        w->s = g;
        w->cap = cap;
    }
    w->s[w->n] = (sym){id, w->n - 1, -1};
    if (w->n > 0) w->s[w->n - 1].next = w->n;
    w->n++;
    return QS_OK;
}

static int out_push(int **ids, int *n, int *cap, int id) {
    if (*n == *cap) {
        int c = *cap > 0 ? 2 * *cap : 64;
        int *g = realloc(*ids, (size_t)c * sizeof *g);
        if (!g) return qs_error_set(QS_ERR_NOMEM, "out of memory encoding text");
        *ids = g;
        *cap = c;
    }
    (*ids)[(*n)++] = id;
    return QS_OK;
}

static int try_pair(const bpe *b, work *w, int pos) {
    int nx = w->s[pos].next;
    if (nx < 0) return QS_OK;
    const pairslot *p = merge_find(b, w->s[pos].id, w->s[nx].id);
    if (!p) return QS_OK;
    return heap_push(w, (cand){p->rank, pos, w->s[pos].id, w->s[nx].id});
}

/* Merges the symbols in w->s by rank and appends the result to ids. */
static int bpe_merge_emit(const bpe *b, work *w, int **ids, int *n, int *cap) {
    w->nh = 0;
    for (int i = 0; i + 1 < w->n; i++)
        if (try_pair(b, w, i)) return qs_error_set(QS_ERR_NOMEM, "out of memory encoding text");
    while (w->nh > 0) {
        cand c = heap_pop(w);
        sym *l = &w->s[c.pos];
        if (l->id != c.left || l->next < 0 || w->s[l->next].id != c.right) continue; /* stale */
        sym *r = &w->s[l->next];
        l->id = merge_find(b, c.left, c.right)->merged;
        r->id = -1;
        l->next = r->next;
        if (r->next >= 0) w->s[r->next].prev = c.pos;
        if ((l->prev >= 0 && try_pair(b, w, l->prev)) || try_pair(b, w, c.pos))
            return qs_error_set(QS_ERR_NOMEM, "out of memory encoding text");
    }
    for (int i = w->n ? 0 : -1; i >= 0; i = w->s[i].next) {
        int rc = out_push(ids, n, cap, w->s[i].id);
        if (rc) return rc;
    }
    return QS_OK;
}

/* One byte-level chunk: bytes → mapped symbols → merges. */
static int encode_bytelevel_chunk(const bpe *b, work *w, const char *s, size_t len, int **ids,
                                  int *n, int *cap) {
    if (len == 0) return QS_OK;
    if (b->ignore_merges) {
        /* the whole chunk as one piece, if the vocabulary has it (tiktoken does the same) */
        if (w->cap_scratch < 2 * len) {
            char *g = realloc(w->scratch, 2 * len);
            if (!g) return qs_error_set(QS_ERR_NOMEM, "out of memory encoding text");
            w->scratch = g;
            w->cap_scratch = 2 * len;
        }
        size_t m = 0;
        for (size_t i = 0; i < len; i++)
            m += (size_t)qs_utf8_encode(w->scratch + m, b->byte_cp[(unsigned char)s[i]]);
        int id = vocab_find(b, w->scratch, m);
        if (id >= 0) return out_push(ids, n, cap, id);
    }
    w->n = 0;
    for (size_t i = 0; i < len; i++) {
        int id = b->byte_id[(unsigned char)s[i]];
        if (id < 0) {
            if (b->unk_id < 0)
                return qs_error_set(QS_ERR_ARG, "byte 0x%02X has no token in %s",
                                    (unsigned char)s[i],
                                    "the byte-level vocabulary (and there is no unk token)");
            id = b->unk_id;
        }
        if (sym_push(w, id)) return qs_error_set(QS_ERR_NOMEM, "out of memory encoding text");
    }
    return bpe_merge_emit(b, w, ids, n, cap);
}

static int push_unk(const bpe *b, work *w, int cp) {
    if (b->unk_id < 0)
        return qs_error_set(QS_ERR_ARG,
                            "character U+%04X is not in the vocabulary, which has no "
                            "byte fallback and no unk token",
                            cp < 0 ? 0xFFFD : cp);
    /* consecutive unknowns fuse into one <unk> (fuse_unk) */
    if (w->n > 0 && w->s[w->n - 1].id == b->unk_id) return QS_OK;
    return sym_push(w, b->unk_id) ? qs_error_set(QS_ERR_NOMEM, "out of memory encoding text")
                                  : QS_OK;
}

/* Appends the symbols of one character: its piece, else its <0xNN> bytes, else <unk>. */
static int push_char(const bpe *b, work *w, const char *piece, size_t pl, int cp) {
    int id = cp >= 0 ? vocab_find(b, piece, pl) : -1;
    if (id >= 0)
        return sym_push(w, id) ? qs_error_set(QS_ERR_NOMEM, "out of memory encoding text") : QS_OK;
    if (b->byte_fallback) {
        int ok = 1;
        for (size_t k = 0; k < pl; k++) ok &= b->byte_id[(unsigned char)piece[k]] >= 0;
        if (ok) {
            for (size_t k = 0; k < pl; k++)
                if (sym_push(w, b->byte_id[(unsigned char)piece[k]]))
                    return qs_error_set(QS_ERR_NOMEM, "out of memory encoding text");
            return QS_OK;
        }
    }
    return push_unk(b, w, cp);
}

/* One SentencePiece-style segment: ' ' → "▁", "▁" in front, code points → merges. */
static int encode_spm_segment(const bpe *b, work *w, const char *s, size_t len, int **ids, int *n,
                              int *cap) {
    if (len == 0) return QS_OK;
    static const char marker[] = "\xE2\x96\x81";
    w->n = 0;
    int rc = b->prepend_space ? push_char(b, w, marker, 3, 0x2581) : QS_OK;
    for (size_t i = 0; i < len && !rc;) {
        int cp;
        int l = qs_utf8_decode(s + i, len - i, &cp);
        rc = cp == ' ' ? push_char(b, w, marker, 3, 0x2581) : push_char(b, w, s + i, (size_t)l, cp);
        i += (size_t)l;
    }
    return rc ? rc : bpe_merge_emit(b, w, ids, n, cap);
}

static int encode_bytelevel_segment(const bpe *b, work *w, pcre2_match_data *md, const char *s,
                                    size_t len, int **ids, int *n, int *cap) {
    if (len == 0) return QS_OK;
    size_t pos = 0;
    uint32_t opts = 0; /* the first call checks the UTF-8; later ones skip the O(n) check */
    while (pos < len) {
        int r = pcre2_match(b->re, (PCRE2_SPTR)s, len, pos, opts, md, NULL);
        opts = PCRE2_NO_UTF_CHECK;
        if (r == PCRE2_ERROR_NOMATCH) break;
        if (r < 0) {
            PCRE2_UCHAR msg[128];
            pcre2_get_error_message(r, msg, sizeof msg);
            return qs_error_set(QS_ERR_ARG, "pre-tokenizer regex failed at byte %zu: %s", pos,
                                (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        int rc;
        /* text the regex skipped is a chunk of its own (Split's "Isolated" behaviour) */
        if (ms > pos && (rc = encode_bytelevel_chunk(b, w, s + pos, ms - pos, ids, n, cap)))
            return rc;
        if (me == ms) { /* empty match: step one code point so the loop advances */
            size_t step = (size_t)qs_utf8_seq_len((unsigned char)s[ms]);
            if (ms + step > len) step = len - ms;
            if ((rc = encode_bytelevel_chunk(b, w, s + ms, step, ids, n, cap))) return rc;
            pos = ms + step;
            continue;
        }
        if ((rc = encode_bytelevel_chunk(b, w, s + ms, me - ms, ids, n, cap))) return rc;
        pos = me;
    }
    return pos < len ? encode_bytelevel_chunk(b, w, s + pos, len - pos, ids, n, cap) : QS_OK;
}

static int encode_segment(const bpe *b, work *w, pcre2_match_data *md, const char *s, size_t len,
                          int **ids, int *n, int *cap) {
    if (!b->byte_level) return encode_spm_segment(b, w, s, len, ids, n, cap);
    if (b->prepend_space && len > 0) {
        /* add_prefix_space: the segment is encoded as if it began with a space */
        char *tmp = malloc(len + 1);
        if (!tmp) return qs_error_set(QS_ERR_NOMEM, "out of memory encoding text");
        tmp[0] = ' ';
        memcpy(tmp + 1, s, len);
        int rc = encode_bytelevel_segment(b, w, md, tmp, len + 1, ids, n, cap);
        free(tmp);
        return rc;
    }
    return encode_bytelevel_segment(b, w, md, s, len, ids, n, cap);
}

/* The longest special token starting at s, or -1. */
static int special_at(const bpe *b, const char *s, size_t left) {
    for (int k = 0; k < b->n_specials; k++) { /* sorted longest first */
        int id = b->specials[k];
        size_t l = (size_t)b->piece_len[id];
        if (l <= left && memcmp(s, b->pieces[id], l) == 0) return id;
    }
    return -1;
}

static int bpe_encode(const qs_tokenizer *t, const char *text, size_t len, int **ids, int *n,
                      int *cap) {
    const bpe *b = t->impl;
    work w = {0};
    pcre2_match_data *md = NULL;
    if (b->byte_level) {
        md = pcre2_match_data_create_from_pattern(b->re, NULL);
        if (!md) return qs_error_set(QS_ERR_NOMEM, "out of memory encoding text");
    }
    int rc = QS_OK;
    size_t seg = 0;
    if (b->match_special && b->n_specials > 0) {
        for (size_t i = 0; i < len && !rc;) {
            int id =
                b->special_first[(unsigned char)text[i]] ? special_at(b, text + i, len - i) : -1;
            if (id < 0) {
                i++;
                continue;
            }
            rc = encode_segment(b, &w, md, text + seg, i - seg, ids, n, cap);
            if (!rc) rc = out_push(ids, n, cap, id);
            i += (size_t)b->piece_len[id];
            seg = i;
        }
    }
    if (!rc) rc = encode_segment(b, &w, md, text + seg, len - seg, ids, n, cap);
    free(w.s);
    free(w.h);
    free(w.scratch);
    if (md) pcre2_match_data_free(md);
    return rc;
}

static const char *bpe_decode(const qs_tokenizer *t, int prev_id, int id, char buf[8],
                              size_t *len) {
    const bpe *b = t->impl;
    (void)buf;
    if (id < 0 || id >= b->n_vocab || !b->dec[id]) {
        *len = 0;
        return "";
    }
    const char *p = b->dec[id];
    size_t l = (size_t)b->dec_len[id];
    /* SentencePiece drops the space it added in front of the text */
    if (!b->byte_level && b->prepend_space && (prev_id < 0 || prev_id == t->bos_id) && l > 0 &&
        p[0] == ' ' && !b->special[id])
        p++, l--;
    *len = l;
    return p;
}

static const qs_tokenizer_ops bpe_ops = {bpe_encode, bpe_decode, bpe_free};

/* ---- construction ------------------------------------------------------------------- */

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* "<0xNN>" → NN, else -1 */
static int byte_piece(const char *p, int l) {
    if (l != 6 || p[0] != '<' || p[1] != '0' || p[2] != 'x' || p[5] != '>') return -1;
    int hi = hex_digit(p[3]), lo = hex_digit(p[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* Decoded bytes of every piece: reverse byte map, or ▁ → space and <0xNN> → byte. */
static int build_decode_table(bpe *b) {
    b->dec = calloc((size_t)b->n_vocab, sizeof *b->dec);
    b->dec_len = calloc((size_t)b->n_vocab, sizeof *b->dec_len);
    if (!b->dec || !b->dec_len) return QS_ERR_NOMEM;
    for (int id = 0; id < b->n_vocab; id++) {
        const char *p = b->pieces[id];
        int l = b->piece_len[id];
        if (!p) continue;
        char *d = malloc((size_t)l + 1);
        if (!d) return QS_ERR_NOMEM;
        int m = 0;
        if (b->special[id]) {
            memcpy(d, p, (size_t)l);
            m = l;
        } else if (b->byte_level) {
            int ok = 1;
            for (int i = 0; i < l && ok;) {
                int cp;
                i += qs_utf8_decode(p + i, (size_t)(l - i), &cp);
                if (cp < 0 || cp >= 324 || b->cp_byte[cp] < 0)
                    ok = 0;
                else
                    d[m++] = (char)b->cp_byte[cp];
            }
            if (!ok) { /* not a mapped piece (an added token): its text as is */
                memcpy(d, p, (size_t)l);
                m = l;
            }
        } else if (byte_piece(p, l) >= 0 && b->byte_fallback) {
            d[m++] = (char)byte_piece(p, l);
        } else {
            for (int i = 0; i < l;) {
                if (i + 3 <= l && memcmp(p + i, "\xE2\x96\x81", 3) == 0) {
                    d[m++] = ' ';
                    i += 3;
                } else {
                    d[m++] = p[i++];
                }
            }
        }
        d[m] = '\0';
        b->dec[id] = d;
        b->dec_len[id] = m;
    }
    return QS_OK;
}

/* Splits "left right" at the space where both halves are pieces whose concatenation is
 * one too (pieces may themselves contain spaces in odd vocabularies). */
static int parse_merge(const bpe *b, const char *m, int *left, int *right, int *merged) {
    size_t len = strlen(m);
    char *cat = malloc(len + 1);
    if (!cat) return QS_ERR_NOMEM;
    int found = 0;
    for (size_t i = 0; i < len && !found; i++) {
        if (m[i] != ' ') continue;
        int l = vocab_find(b, m, i), r = vocab_find(b, m + i + 1, len - i - 1);
        if (l < 0 || r < 0) continue;
        memcpy(cat, m, i);
        memcpy(cat + i, m + i + 1, len - i - 1);
        int mg = vocab_find(b, cat, len - 1);
        if (mg < 0) continue;
        *left = l, *right = r, *merged = mg;
        found = 1;
    }
    free(cat);
    return found ? QS_OK : QS_ERR_FORMAT;
}

static _Thread_local const bpe *sort_ctx; /* qsort has no context argument */
static int cmp_special_len(const void *x, const void *y) {
    int a = *(const int *)x, c = *(const int *)y;
    int la = sort_ctx->piece_len[a], lc = sort_ctx->piece_len[c];
    return la != lc ? lc - la : a - c;
}

static int bpe_build(bpe *b, const qs_bpe_spec *sp, const char *path) {
    int V = sp->n_vocab;
    b->n_vocab = V;
    b->pieces = calloc((size_t)V, sizeof *b->pieces);
    b->piece_len = calloc((size_t)V, sizeof *b->piece_len);
    b->special = calloc((size_t)V, 1);
    b->vocab.mask = pow2_at_least((size_t)V) - 1;
    b->vocab.slots = malloc((b->vocab.mask + 1) * sizeof *b->vocab.slots);
    if (!b->pieces || !b->piece_len || !b->special || !b->vocab.slots) return QS_ERR_NOMEM;
    memset(b->vocab.slots, 0xff, (b->vocab.mask + 1) * sizeof *b->vocab.slots);
    for (int id = 0; id < V; id++) {
        if (!sp->pieces[id]) continue;
        int l = sp->piece_len ? sp->piece_len[id] : (int)strlen(sp->pieces[id]);
        if (l < 0) return qs_error_set(QS_ERR_ARG, "%s: piece %d has negative length", path, id);
        if (!(b->pieces[id] = malloc((size_t)l + 1))) return QS_ERR_NOMEM;
        memcpy(b->pieces[id], sp->pieces[id], (size_t)l);
        b->pieces[id][l] = '\0';
        b->piece_len[id] = l;
        b->special[id] = sp->special ? sp->special[id] != 0 : 0;
        if (vocab_find(b, b->pieces[id], (size_t)l) >= 0) continue; /* first id wins */
        size_t i = fnv1a(b->pieces[id], (size_t)l) & b->vocab.mask;
        while (b->vocab.slots[i] >= 0) i = (i + 1) & b->vocab.mask;
        b->vocab.slots[i] = id;
    }

    b->merges.mask = pow2_at_least((size_t)(sp->n_merges > 0 ? sp->n_merges : 1)) - 1;
    b->merges.slots = calloc(b->merges.mask + 1, sizeof *b->merges.slots);
    if (!b->merges.slots) return QS_ERR_NOMEM;
    for (int r = 0; r < sp->n_merges; r++) {
        int l, rt, mg;
        if (!sp->merges[r]) return qs_error_set(QS_ERR_ARG, "%s: merge %d is NULL", path, r);
        int rc = parse_merge(b, sp->merges[r], &l, &rt, &mg);
        if (rc == QS_ERR_NOMEM) return rc;
        if (rc)
            return qs_error_set(
                QS_ERR_FORMAT,
                "%s: merge %d \"%s\" does not split into two vocabulary pieces whose "
                "concatenation is in the vocabulary",
                path, r, sp->merges[r]);
        merge_put(b, l, rt, r, mg);
    }

    for (int c = 0; c < 256; c++) b->byte_id[c] = -1;
    memset(b->cp_byte, 0xff, sizeof b->cp_byte);
    gpt2_byte_map(b->byte_cp);
    for (int c = 0; c < 256; c++) b->cp_byte[b->byte_cp[c]] = c;
    if (b->byte_level) {
        for (int c = 0; c < 256; c++) {
            char u[4];
            int l = qs_utf8_encode(u, b->byte_cp[c]);
            b->byte_id[c] = vocab_find(b, u, (size_t)l);
        }
        const char *pat = sp->pretok_regex ? sp->pretok_regex : gpt2_pattern;
        int err;
        PCRE2_SIZE eoff;
        b->re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err,
                              &eoff, NULL);
        if (!b->re) {
            PCRE2_UCHAR msg[128];
            pcre2_get_error_message(err, msg, sizeof msg);
            return qs_error_set(QS_ERR_FORMAT,
                                "%s: pre-tokenizer regex does not compile at offset %zu: %s", path,
                                (size_t)eoff, (const char *)msg);
        }
        (void)pcre2_jit_compile(b->re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
    } else if (b->byte_fallback) {
        char name[8];
        for (int c = 0; c < 256; c++) {
            snprintf(name, sizeof name, "<0x%02X>", c);
            b->byte_id[c] = vocab_find(b, name, 6);
        }
    }

    int ns = 0;
    for (int id = 0; id < V; id++) ns += b->special[id] && b->piece_len[id] > 0;
    b->specials = malloc((size_t)(ns ? ns : 1) * sizeof *b->specials);
    if (!b->specials) return QS_ERR_NOMEM;
    for (int id = 0; id < V; id++)
        if (b->special[id] && b->piece_len[id] > 0) {
            b->specials[b->n_specials++] = id;
            b->special_first[(unsigned char)b->pieces[id][0]] = 1;
        }
    sort_ctx = b;
    qsort(b->specials, (size_t)b->n_specials, sizeof *b->specials, cmp_special_len);
    return build_decode_table(b);
}

int qs__tokenizer_bpe_new(qs_tokenizer **out, const qs_bpe_spec *spec, const char *kind,
                          const char *path) {
    *out = NULL;
    if (!path) path = "(bpe)";
    if (!spec || spec->n_vocab <= 0 || !spec->pieces || spec->n_merges < 0 ||
        (spec->n_merges > 0 && !spec->merges))
        return qs_error_set(QS_ERR_ARG, "%s: BPE spec needs a vocabulary and merges", path);
    int V = spec->n_vocab;
    if ((spec->bos_id >= V) || (spec->eos_id >= V) || (spec->unk_id >= V))
        return qs_error_set(QS_ERR_ARG, "%s: bos/eos/unk id (%d/%d/%d) outside the vocabulary (%d)",
                            path, spec->bos_id, spec->eos_id, spec->unk_id, V);
    bpe *b = calloc(1, sizeof *b);
    if (!b) return qs_error_set(QS_ERR_NOMEM, "%s: out of memory", path);
    b->byte_level = spec->byte_level != 0;
    b->prepend_space = spec->prepend_space != 0;
    b->byte_fallback = spec->byte_fallback != 0;
    b->match_special = spec->match_special != 0;
    b->unk_id = spec->unk_id >= 0 ? spec->unk_id : -1;
    qs_error_clear();
    int rc = bpe_build(b, spec, path);
    if (rc) {
        if (rc == QS_ERR_NOMEM && !qs_error_message()[0])
            qs_error_set(rc, "%s: out of memory building the BPE tokenizer", path);
        bpe_free_impl(b);
        return rc;
    }
    qs_tokenizer *t = qs__tokenizer_alloc(&bpe_ops, kind, path);
    if (!t) {
        bpe_free_impl(b);
        return qs_error_set(QS_ERR_NOMEM, "%s: out of memory", path);
    }
    t->impl = b;
    t->n_vocab = V;
    t->bos_id = spec->bos_id >= 0 ? spec->bos_id : -1;
    t->eos_id = spec->eos_id >= 0 ? spec->eos_id : -1;
    t->add_bos = spec->add_bos && t->bos_id >= 0;
    *out = t;
    return QS_OK;
}

void qs__tokenizer_bpe_set_ignore_merges(qs_tokenizer *t, int on) {
    if (t && t->ops == &bpe_ops) ((bpe *)t->impl)->ignore_merges = on != 0;
}
