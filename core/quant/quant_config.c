/* Config names as the field writes them ("W4A16 g128", "W8A8 per-token"): parsing and
 * canonical printing. The grammar and the canonical form are documented in quant.h. One
 * word table drives both directions, so a word means the same thing when it is read and
 * when it is chosen for printing. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "quant.h"
#include "sites.h"

enum { SIDE_W = 1, SIDE_A = 2 };
enum prop { P_GRAN, P_SCHEME, P_CLIP, P_STATIC, P_SCALES, P_SITES, P_LAYERS, P_COUNT };
enum rule {
    R_EACH,     /* each quantized side where the word is meaningful */
    R_W_ELSE_A, /* the weights if quantized, else the activations */
};
enum arg { A_NONE, A_INT, A_TEXT }; /* "g128": digits follow; "percentile:99.9": text */
enum kind {
    K_PER_TENSOR,
    K_PER_CHANNEL,
    K_PER_TOKEN,
    K_GROUP,
    K_SYMMETRIC,
    K_AFFINE,
    K_ABSMAX,
    K_MSE,
    K_PERCENTILE,
    K_STATIC,
    K_DYNAMIC,
    K_FP32,
    K_FP16,
    K_SITES,
    K_LAYERS,
    K_FORMAT, /* a floating-point format: the word is the scheme's name */
};

typedef struct word_def {
    const char *text;
    enum arg arg;
    enum kind kind;
    enum prop prop;
    int sides;      /* where the word means something */
    enum rule rule; /* where it goes without a prefix */
} word_def;

static const word_def words[] = {
    {"per-tensor", A_NONE, K_PER_TENSOR, P_GRAN, SIDE_W | SIDE_A, R_EACH},
    {"per-channel", A_NONE, K_PER_CHANNEL, P_GRAN, SIDE_W | SIDE_A, R_W_ELSE_A},
    {"per-token", A_NONE, K_PER_TOKEN, P_GRAN, SIDE_A, R_EACH},
    {"g", A_INT, K_GROUP, P_GRAN, SIDE_W | SIDE_A, R_W_ELSE_A},
    {"symmetric", A_NONE, K_SYMMETRIC, P_SCHEME, SIDE_W | SIDE_A, R_EACH},
    {"affine", A_NONE, K_AFFINE, P_SCHEME, SIDE_W | SIDE_A, R_EACH},
    {"absmax", A_NONE, K_ABSMAX, P_CLIP, SIDE_W | SIDE_A, R_EACH},
    {"mse", A_NONE, K_MSE, P_CLIP, SIDE_W | SIDE_A, R_EACH},
    {"percentile:", A_TEXT, K_PERCENTILE, P_CLIP, SIDE_W | SIDE_A, R_EACH},
    {"static", A_NONE, K_STATIC, P_STATIC, SIDE_A, R_EACH},
    {"dynamic", A_NONE, K_DYNAMIC, P_STATIC, SIDE_A, R_EACH},
    {"fp32-scales", A_NONE, K_FP32, P_SCALES, SIDE_W | SIDE_A, R_EACH},
    {"fp16-scales", A_NONE, K_FP16, P_SCALES, SIDE_W | SIDE_A, R_EACH},
    {"sites:", A_TEXT, K_SITES, P_SITES, SIDE_A, R_EACH},
    {"layers:", A_TEXT, K_LAYERS, P_LAYERS, SIDE_W | SIDE_A, R_EACH},
    {"fp8_e4m3", A_NONE, K_FORMAT, P_SCHEME, SIDE_W | SIDE_A, R_EACH},
    {"fp8_e5m2", A_NONE, K_FORMAT, P_SCHEME, SIDE_W | SIDE_A, R_EACH},
    {"mxfp8", A_NONE, K_FORMAT, P_SCHEME, SIDE_W | SIDE_A, R_EACH},
    {"mxfp8_e5m2", A_NONE, K_FORMAT, P_SCHEME, SIDE_W | SIDE_A, R_EACH},
    {"mxfp6_e3m2", A_NONE, K_FORMAT, P_SCHEME, SIDE_W | SIDE_A, R_EACH},
    {"mxfp6_e2m3", A_NONE, K_FORMAT, P_SCHEME, SIDE_W | SIDE_A, R_EACH},
    {"mxfp4", A_NONE, K_FORMAT, P_SCHEME, SIDE_W | SIDE_A, R_EACH},
    {"nvfp4", A_NONE, K_FORMAT, P_SCHEME, SIDE_W | SIDE_A, R_EACH},
};
#define N_WORDS (int)(sizeof words / sizeof words[0])

#define DEFAULT_SITES                                                                              \
    (QS_SITE_BIT(QS_SITE_ATTN_IN) | QS_SITE_BIT(QS_SITE_ATTN_O_IN) | QS_SITE_BIT(QS_SITE_FFN_IN) | \
     QS_SITE_BIT(QS_SITE_FFN_DOWN_IN))

static const word_def *find_word(const char *w) {
    for (int i = 0; i < N_WORDS; i++) {
        size_t n = strlen(words[i].text);
        if (words[i].arg == A_NONE) {
            if (strcmp(w, words[i].text) == 0) return &words[i];
        } else if (strncmp(w, words[i].text, n) == 0) {
            if (words[i].arg == A_TEXT) return &words[i];
            const char *p = w + n; /* A_INT: one or more digits only */
            if (!*p) continue;
            while (isdigit((unsigned char)*p)) p++;
            if (!*p) return &words[i];
        }
    }
    return NULL;
}

/* The sides an unprefixed word sets, given which sides are quantized. */
static int unprefixed_sides(const word_def *d, int quantized) {
    if (d->rule == R_W_ELSE_A)
        return (quantized & SIDE_W) ? SIDE_W : (quantized & SIDE_A) ? SIDE_A : 0;
    return d->sides & quantized;
}

static void side_default(qs_quant_side *s, int bits) {
    memset(s, 0, sizeof *s);
    s->spec.bits = bits;
    s->spec.scheme = QS_QUANT_SYMMETRIC;
    s->spec.gran = QS_QUANT_ROW; /* per-channel for weights, per-token for activations */
    s->spec.clip = QS_QUANT_ABSMAX;
    s->site_mask = DEFAULT_SITES;
}

void qs_quant_config_default(qs_quant_config *c) {
    side_default(&c->w, QS_QUANT_BITS_NONE);
    side_default(&c->a, QS_QUANT_BITS_NONE);
    c->kv.k = c->kv.v = c->a.spec; /* per-token symmetric absmax, not quantized */
    qs_remedy_default(&c->remedy);
}

/* Canonical site list, enum order. */
static void sites_string(char *buf, size_t n, unsigned mask) {
    buf[0] = '\0';
    for (int s = 0; s < QS_SITE_COUNT; s++)
        if (mask & QS_SITE_BIT(s)) {
            if (buf[0]) strncat(buf, ",", n - strlen(buf) - 1);
            strncat(buf, qs_site_name(s), n - strlen(buf) - 1);
        }
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* ---- parsing ------------------------------------------------------------------------- */

typedef struct parse_ctx {
    const char *name; /* the whole config, for messages */
    const char *word; /* the word as written, with its prefix */
} parse_ctx;

static int bad(const parse_ctx *p, const char *why) {
    return qs_error_set(QS_ERR_ARG, "%s '%s' in config '%s'", why, p->word, p->name);
}

static int parse_bits(const parse_ctx *p, const char *s, const char **end, int *bits) {
    if (!isdigit((unsigned char)*s)) return bad(p, "expected W<bits>A<bits>, found");
    long v = 0;
    while (isdigit((unsigned char)*s) && v < 1000) v = v * 10 + (*s++ - '0');
    *end = s;
    if (v < QS_QUANT_BITS_MIN || v > QS_QUANT_BITS_NONE)
        return qs_error_set(QS_ERR_ARG, "bits %ld in '%s' (config '%s'): expected 2..16", v,
                            p->word, p->name);
    if (v > QS_QUANT_BITS_MAX && v < QS_QUANT_BITS_NONE)
        return qs_error_set(QS_ERR_ARG,
                            "bits %ld in '%s' (config '%s'): quantized sides take 2..8 bits, "
                            "16 means not quantized",
                            v, p->word, p->name);
    *bits = (int)v;
    return QS_OK;
}

static int parse_wa(const parse_ctx *p, const char *w, int *wbits, int *abits) {
    const char *s = w;
    if (toupper((unsigned char)*s) != 'W') return bad(p, "expected W<bits>A<bits>, found");
    int rc = parse_bits(p, s + 1, &s, wbits);
    if (rc) return rc;
    if (toupper((unsigned char)*s) != 'A') return bad(p, "expected W<bits>A<bits>, found");
    if ((rc = parse_bits(p, s + 1, &s, abits))) return rc;
    if (*s) return bad(p, "expected W<bits>A<bits>, found");
    return QS_OK;
}

/* layers: in the one layer-list grammar (sites.h), bounded by the config's own storage */
static int parse_layers(const parse_ctx *p, const char *list, qs_quant_side *s) {
    if (qs_layer_list_parse(list, QS_LAYER_MAX, s->layers, QS_QUANT_MAX_LAYERS, &s->n_layers)) {
        char why[128];
        snprintf(why, sizeof why, "%s", qs_error_message());
        return bad(p, why);
    }
    return QS_OK;
}

/* Sets the word's property on side `side` (SIDE_W / SIDE_A) of c. */
static int apply(const parse_ctx *p, const word_def *d, const char *arg, int side,
                 qs_quant_side *s) {
    qs_quant_spec *sp = &s->spec;
    switch (d->kind) {
    case K_PER_TENSOR: sp->gran = QS_QUANT_TENSOR; break;
    case K_PER_CHANNEL: sp->gran = side == SIDE_W ? QS_QUANT_ROW : QS_QUANT_COL; break;
    case K_PER_TOKEN: sp->gran = QS_QUANT_ROW; break;
    case K_GROUP: {
        errno = 0;
        long g = strtol(arg, NULL, 10);
        if (g == 0) return bad(p, "zero group size");
        if (errno || g > (1L << 24)) return bad(p, "group size too large");
        sp->gran = QS_QUANT_GROUP;
        sp->group = (int)g;
        break;
    }
    case K_SYMMETRIC: sp->scheme = QS_QUANT_SYMMETRIC; break;
    case K_AFFINE: sp->scheme = QS_QUANT_AFFINE; break;
    case K_ABSMAX: sp->clip = QS_QUANT_ABSMAX; break;
    case K_MSE: sp->clip = QS_QUANT_MSE; break;
    case K_PERCENTILE: {
        char *end;
        double v = strtod(arg, &end);
        if (!*arg || *end) return bad(p, "bad percentile");
        if (!(v > 0.0 && v <= 100.0)) return bad(p, "percentile outside (0, 100]");
        sp->clip = QS_QUANT_PERCENTILE;
        sp->percentile = v;
        break;
    }
    case K_STATIC: s->is_static = 1; break;
    case K_DYNAMIC: s->is_static = 0; break;
    case K_FP32: sp->fp32_scales = 1; break;
    case K_FP16: sp->fp32_scales = 0; break;
    case K_SITES: {
        unsigned mask;
        if (qs_site_mask_parse(arg, &mask))
            return qs_error_prefix(QS_ERR_ARG, "word '%s' in config '%s'", p->word, p->name);
        /* "sites:" with nothing after it would quantize no site: a config no name prints */
        if (mask == 0) return bad(p, "empty site list");
        s->site_mask = mask;
        sites_string(s->sites, sizeof s->sites, mask);
        if (mask == DEFAULT_SITES) s->sites[0] = '\0';
        break;
    }
    case K_LAYERS: return parse_layers(p, arg, s);
    case K_FORMAT: sp->scheme = (enum qs_quant_scheme)qs_quant_scheme_from_name(d->text); break;
    }
    return QS_OK;
}

/* ---- the KV cache part --------------------------------------------------------------- */

enum { KV_K = 0, KV_V = 1 };

/* "KV4": returns 1 and the bits (0 when they are bad: the message is set) if w is one. */
static int kv_token(const parse_ctx *p, const char *w, int *bits) {
    if (toupper((unsigned char)w[0]) != 'K' || toupper((unsigned char)w[1]) != 'V' ||
        !isdigit((unsigned char)w[2]))
        return 0;
    const char *end;
    *bits = 0;
    if (parse_bits(p, w + 2, &end, bits) || *end) {
        if (!*end) return 1; /* message set by parse_bits */
        bad(p, "expected KV<bits>, found");
        *bits = 0;
    }
    return 1;
}

typedef struct kv_state {
    int set[2][P_COUNT];
    const char *set_by[2][P_COUNT];
} kv_state;

/* One word after KV<bits>. word is kept alive by the caller (for conflict messages). */
static int kv_word(const parse_ctx *p, qs_quant_kv *kv, const char *word, kv_state *st) {
    int targets = 3; /* bit 0 keys, bit 1 values */
    const char *core = word;
    if (strncmp(word, "k:", 2) == 0)
        targets = 1, core += 2;
    else if (strncmp(word, "v:", 2) == 0)
        targets = 2, core += 2;
    if (strcmp(core, "per-channel-k") == 0) {
        if (targets != 3) return bad(p, "per-channel-k names both keys and values; no prefix on");
        for (int t = KV_K; t <= KV_V; t++) {
            if (st->set[t][P_GRAN])
                return qs_error_set(QS_ERR_ARG, "'%s' conflicts with '%s' in config '%s'", word,
                                    st->set_by[t][P_GRAN], p->name);
            st->set[t][P_GRAN] = 1;
            st->set_by[t][P_GRAN] = word;
        }
        kv->k.gran = QS_QUANT_COL;
        kv->v.gran = QS_QUANT_ROW;
        return QS_OK;
    }
    const word_def *d = find_word(core);
    if (!d) return bad(p, "unknown word");
    switch (d->kind) {
    case K_PER_TENSOR:
    case K_PER_CHANNEL:
    case K_PER_TOKEN:
    case K_GROUP:
    case K_SYMMETRIC:
    case K_AFFINE:
    case K_ABSMAX:
    case K_PERCENTILE:
    case K_FP32:
    case K_FP16:
    case K_FORMAT: break;
    default:
        return bad(p, "not a KV-cache word (the cache takes granularity, scheme, format, "
                      "absmax/percentile and scales words)");
    }
    for (int t = KV_K; t <= KV_V; t++) {
        if (!(targets & (1 << t))) continue;
        if (st->set[t][d->prop])
            return qs_error_set(QS_ERR_ARG, "'%s' conflicts with '%s' in config '%s'", word,
                                st->set_by[t][d->prop], p->name);
        st->set[t][d->prop] = 1;
        st->set_by[t][d->prop] = word;
        qs_quant_side tmp;
        memset(&tmp, 0, sizeof tmp);
        tmp.spec = t == KV_K ? kv->k : kv->v;
        /* on the cache rows (T, K) words mean what they mean on activations */
        int rc = apply(p, d, core + strlen(d->text), SIDE_A, &tmp);
        if (rc) return rc;
        if (t == KV_K)
            kv->k = tmp.spec;
        else
            kv->v = tmp.spec;
    }
    return QS_OK;
}

/* Block defaults, element widths and spec checks of the cache, once every word is read. */
static int kv_finish(const parse_ctx *p, qs_quant_kv *kv, const kv_state *st) {
    for (int t = KV_K; t <= KV_V; t++) {
        qs_quant_spec *sp = t == KV_K ? &kv->k : &kv->v;
        const qs_quant_traits *tr = qs_quant_traits_of(sp->scheme);
        if (tr->default_group && !st->set[t][P_GRAN]) {
            sp->gran = QS_QUANT_GROUP;
            sp->group = tr->default_group;
        }
        if (tr->fixed_bits && tr->fixed_bits != sp->bits)
            return qs_error_set(QS_ERR_ARG,
                                "'%s' stores %d-bit elements, but the KV cache has %d bits in "
                                "config '%s'",
                                st->set_by[t][P_SCHEME], tr->fixed_bits, sp->bits, p->name);
        if (tr->fixed_scales && sp->fp32_scales)
            return qs_error_set(QS_ERR_ARG,
                                "'%s' conflicts with '%s' (its scales are fixed) in "
                                "config '%s'",
                                st->set_by[t][P_SCALES], st->set_by[t][P_SCHEME], p->name);
        int rc = qs_quant_spec_validate(sp);
        if (rc) return qs_error_prefix(rc, "KV cache of config '%s'", p->name);
    }
    return QS_OK;
}

static int parse(qs_quant_config *c, const char *name) {
    parse_ctx p = {name, name};
    char word[256];
    const char *s = name;
    int first = 1, set[3][P_COUNT] = {{0}}; /* set[side][prop]: which word set it (index+1) */
    const char *set_by[3][P_COUNT] = {{0}};
    char words_seen[64][256];
    int n_seen = 0, in_kv = 0, kv_words = 0;
    kv_state kv;
    memset(&kv, 0, sizeof kv);
    while (1) {
        while (*s == ' ' || *s == '\t') s++;
        if (!*s) break;
        size_t n = strcspn(s, " \t");
        if (n >= sizeof word) {
            return qs_error_set(QS_ERR_ARG, "word too long in config '%s'", name);
        }
        memcpy(word, s, n);
        word[n] = '\0';
        s += n;
        p.word = word;
        if (first) {
            first = 0;
            int wb, ab, rc = parse_wa(&p, word, &wb, &ab);
            if (rc) return rc;
            side_default(&c->w, wb);
            side_default(&c->a, ab);
            continue;
        }
        /* remedies (remedy_words.h): words about the model, not a side */
        int rw = qs_remedy_word(&c->remedy, word, name);
        if (rw < 0) return QS_ERR_ARG;
        if (rw > 0) continue;
        if (n_seen == 64) return qs_error_set(QS_ERR_ARG, "too many words in config '%s'", name);
        memcpy(words_seen[n_seen], word, n + 1);
        int kv_bits;
        if (!in_kv && kv_token(&p, word, &kv_bits)) {
            if (!kv_bits) return QS_ERR_ARG;
            in_kv = 1;
            c->kv.k.bits = c->kv.v.bits = kv_bits;
            n_seen++;
            continue;
        }
        if (in_kv) {
            int rc = kv_word(&p, &c->kv, words_seen[n_seen], &kv);
            if (rc) return rc;
            kv_words++;
            n_seen++;
            continue;
        }
        const char *core = word;
        int prefix = 0;
        if (strncmp(word, "w:", 2) == 0)
            prefix = SIDE_W, core += 2;
        else if (strncmp(word, "a:", 2) == 0)
            prefix = SIDE_A, core += 2;
        const word_def *d = find_word(core);
        if (!d) return bad(&p, "unknown word");
        int quantized = (c->w.spec.bits != QS_QUANT_BITS_NONE ? SIDE_W : 0) |
                        (c->a.spec.bits != QS_QUANT_BITS_NONE ? SIDE_A : 0);
        int target;
        if (prefix) {
            if (!(d->sides & prefix))
                return bad(&p, prefix == SIDE_W ? "activations-only word" : "weights-only word");
            if (!(quantized & prefix))
                return bad(&p, prefix == SIDE_W ? "word for unquantized weights (W16)"
                                                : "word for unquantized activations (A16)");
            target = prefix;
        } else if (!(target = unprefixed_sides(d, quantized)))
            return bad(&p, "no quantized side for");
        for (int side = SIDE_W; side <= SIDE_A; side++) {
            if (!(target & side)) continue;
            if (set[side][d->prop])
                return qs_error_set(QS_ERR_ARG, "'%s' conflicts with '%s' in config '%s'", word,
                                    set_by[side][d->prop], name);
            set[side][d->prop] = 1;
            set_by[side][d->prop] = words_seen[n_seen];
            int rc = apply(&p, d, core + strlen(d->text), side, side == SIDE_W ? &c->w : &c->a);
            if (rc) return rc;
        }
        n_seen++;
    }
    if (first) return qs_error_set(QS_ERR_ARG, "empty config '%s': expected W<bits>A<bits>", name);
    if (in_kv && c->kv.k.bits != QS_QUANT_BITS_NONE) {
        int rc = kv_finish(&p, &c->kv, &kv);
        if (rc) return rc;
    } else if (in_kv && kv_words)
        return qs_error_set(QS_ERR_ARG, "words for an unquantized KV cache (KV16) in config '%s'",
                            name);
    int rrc = qs_remedy_check(&c->remedy, c->w.spec.bits, c->a.spec.bits, name);
    if (rrc) return rrc;
    /* a block format (mxfp*: g32, nvfp4: g16) brings its block unless a word set one; its
     * element width must be the side's bits */
    for (int side = SIDE_W; side <= SIDE_A; side++) {
        qs_quant_side *qs = side == SIDE_W ? &c->w : &c->a;
        const qs_quant_traits *t = qs_quant_traits_of(qs->spec.scheme);
        if (qs->spec.bits == QS_QUANT_BITS_NONE) continue;
        if (t->default_group && !set[side][P_GRAN]) {
            qs->spec.gran = QS_QUANT_GROUP;
            qs->spec.group = t->default_group;
        }
        if (t->fixed_bits && t->fixed_bits != qs->spec.bits)
            return qs_error_set(QS_ERR_ARG,
                                "'%s' stores %d-bit elements, but the %s have %d bits in "
                                "config '%s'",
                                set_by[side][P_SCHEME], t->fixed_bits,
                                side == SIDE_W ? "weights" : "activations", qs->spec.bits, name);
        if (t->fixed_scales && qs->spec.fp32_scales)
            return qs_error_set(QS_ERR_ARG,
                                "'%s' conflicts with '%s' (its scales are fixed) in "
                                "config '%s'",
                                set_by[side][P_SCALES], set_by[side][P_SCHEME], name);
    }
    /* range searches need the data beforehand: mse on activations means static scales */
    if (c->a.spec.bits != QS_QUANT_BITS_NONE && c->a.spec.clip == QS_QUANT_MSE) {
        if (set[SIDE_A][P_STATIC] && !c->a.is_static)
            return qs_error_set(QS_ERR_ARG,
                                "'%s' conflicts with mse clipping of activations (needs static "
                                "scales) in config '%s'",
                                set_by[SIDE_A][P_STATIC], name);
        c->a.is_static = 1;
    }
    return QS_OK;
}

int qs_quant_config_parse(qs_quant_config *c, const char *name) {
    qs_quant_config_default(c);
    if (!name) return qs_error_set(QS_ERR_ARG, "config name is NULL");
    int rc = parse(c, name);
    if (rc) qs_quant_config_default(c);
    return rc;
}

/* ---- printing ------------------------------------------------------------------------ */

/* The word (without prefix) that gives side `side` its value of `prop`, or "" when the
 * value is the default and may be left out. Returns QS_ERR_ARG if no word can say it. */
static int word_for(char *w, size_t n, const qs_quant_side *s, int side, enum prop prop) {
    const qs_quant_spec *sp = &s->spec;
    w[0] = '\0';
    switch (prop) {
    case P_GRAN: {
        int block = qs_quant_traits_of(sp->scheme)->default_group;
        if (block && sp->gran == QS_QUANT_GROUP && sp->group == block) break; /* the format's */
        if (block && sp->gran == QS_QUANT_ROW) {
            snprintf(w, n, "%s", side == SIDE_W ? "per-channel" : "per-token");
            break;
        }
        if (sp->gran == QS_QUANT_GROUP)
            snprintf(w, n, "g%d", sp->group);
        else if (sp->gran == QS_QUANT_TENSOR)
            snprintf(w, n, "per-tensor");
        else if (sp->gran == QS_QUANT_COL) {
            if (side == SIDE_W)
                return qs_error_set(QS_ERR_ARG, "no config word for per-column weights");
            snprintf(w, n, "per-channel");
        }
        break;
    }
    case P_SCHEME:
        if (sp->scheme != QS_QUANT_SYMMETRIC)
            snprintf(w, n, "%s", qs_quant_scheme_name(sp->scheme));
        break;
    case P_CLIP:
        if (sp->clip == QS_QUANT_MSE)
            snprintf(w, n, "mse");
        else if (sp->clip == QS_QUANT_PERCENTILE)
            snprintf(w, n, "percentile:%.15g", sp->percentile);
        break;
    case P_STATIC:
        if (side == SIDE_A && sp->clip == QS_QUANT_MSE && !s->is_static)
            return qs_error_set(QS_ERR_ARG, "mse clipping of activations needs static scales");
        if (side == SIDE_A && s->is_static && sp->clip != QS_QUANT_MSE) snprintf(w, n, "static");
        break;
    case P_SCALES:
        if (sp->fp32_scales) snprintf(w, n, "fp32-scales");
        break;
    case P_SITES:
        if (side == SIDE_A && s->site_mask != DEFAULT_SITES) {
            char list[96];
            sites_string(list, sizeof list, s->site_mask);
            if (!list[0]) return qs_error_set(QS_ERR_ARG, "empty activation site mask");
            snprintf(w, n, "sites:%s", list);
        }
        break;
    case P_LAYERS:
        if (s->n_layers > 0) {
            size_t len = (size_t)snprintf(w, n, "layers:");
            if (len >= n) return qs_error_set(QS_ERR_ARG, "layer list too long to print");
            return qs_layer_list_format(w + len, n - len, s->layers, s->n_layers);
        }
        break;
    default: break;
    }
    return QS_OK;
}

/* The granularity that a name without granularity word would mean, spelled out. */
static void default_gran_word(char *w, size_t n, int side) {
    snprintf(w, n, "%s", side == SIDE_W ? "per-channel" : "per-token");
}

/* The cache's word for one property of k or v ("" when it is the default and may go). */
static void kv_word_for(char *w, size_t n, const qs_quant_spec *sp, enum prop prop) {
    w[0] = '\0';
    int block = qs_quant_traits_of(sp->scheme)->default_group;
    switch (prop) {
    case P_GRAN: /* always stated, unless a block format's own block */
        if (sp->gran == QS_QUANT_GROUP && !(block && sp->group == block))
            snprintf(w, n, "g%d", sp->group);
        else if (sp->gran == QS_QUANT_ROW)
            snprintf(w, n, "per-token");
        else if (sp->gran == QS_QUANT_COL)
            snprintf(w, n, "per-channel");
        else if (sp->gran == QS_QUANT_TENSOR)
            snprintf(w, n, "per-tensor");
        break;
    case P_SCHEME:
        if (sp->scheme != QS_QUANT_SYMMETRIC)
            snprintf(w, n, "%s", qs_quant_scheme_name(sp->scheme));
        break;
    case P_CLIP:
        if (sp->clip == QS_QUANT_PERCENTILE) snprintf(w, n, "percentile:%.15g", sp->percentile);
        break;
    case P_SCALES:
        if (sp->fp32_scales) snprintf(w, n, "fp32-scales");
        break;
    default: break;
    }
}

/* " KV<b> ..." after the W/A words; nothing when the cache is not quantized. */
static int format_kv(char *out, size_t cap, size_t *len, const qs_quant_kv *kv) {
    if (kv->k.bits == QS_QUANT_BITS_NONE) return QS_OK;
    if (kv->v.bits != kv->k.bits)
        return qs_error_set(QS_ERR_ARG, "KV cache: keys (%d) and values (%d) differ in bits",
                            kv->k.bits, kv->v.bits);
    int rc;
    if ((rc = qs_quant_spec_validate(&kv->k)) || (rc = qs_quant_spec_validate(&kv->v)))
        return qs_error_prefix(rc, "KV cache");
    if (kv->k.clip == QS_QUANT_MSE || kv->v.clip == QS_QUANT_MSE)
        return qs_error_set(QS_ERR_ARG, "KV cache: no config word for mse clipping");
    *len += (size_t)snprintf(out + *len, *len < cap ? cap - *len : 0, " KV%d", kv->k.bits);
    static const int order[] = {P_SCHEME, P_GRAN, P_SCHEME, P_CLIP, P_SCALES};
    for (int i = 0; i < (int)(sizeof order / sizeof order[0]); i++) {
        char wk[64], wv[64];
        kv_word_for(wk, sizeof wk, &kv->k, order[i]);
        kv_word_for(wv, sizeof wv, &kv->v, order[i]);
        if (order[i] == P_SCHEME) { /* formats first, affine after the granularity */
            if (qs_quant_scheme_is_float(kv->k.scheme) != (i == 0)) wk[0] = '\0';
            if (qs_quant_scheme_is_float(kv->v.scheme) != (i == 0)) wv[0] = '\0';
        }
        char part[160] = "";
        if (order[i] == P_GRAN && strcmp(wk, "per-channel") == 0 && strcmp(wv, "per-token") == 0)
            snprintf(part, sizeof part, " per-channel-k");
        else if (strcmp(wk, wv) == 0) {
            if (wk[0]) snprintf(part, sizeof part, " %s", wk);
        } else
            snprintf(part, sizeof part, "%s%s%s%s", wk[0] ? " k:" : "", wk, wv[0] ? " v:" : "", wv);
        *len += (size_t)snprintf(out + *len, *len < cap ? cap - *len : 0, "%s", part);
    }
    if (*len >= cap) return qs_error_set(QS_ERR_ARG, "config name too long");
    return QS_OK;
}

int qs_quant_config_format(char *buf, size_t n, const qs_quant_config *c) {
    const qs_quant_side *sides[3] = {NULL, &c->w, &c->a};
    for (int side = SIDE_W; side <= SIDE_A; side++) {
        const qs_quant_spec *sp = &sides[side]->spec;
        int rc = qs_quant_spec_validate(sp);
        if (rc) return qs_error_prefix(rc, "config %s", side == SIDE_W ? "weights" : "activations");
    }
    int quantized = (c->w.spec.bits != QS_QUANT_BITS_NONE ? SIDE_W : 0) |
                    (c->a.spec.bits != QS_QUANT_BITS_NONE ? SIDE_A : 0);
    char out[1024];
    size_t len = (size_t)snprintf(out, sizeof out, "W%dA%d", c->w.spec.bits, c->a.spec.bits);
    /* a format word comes first ("W16A8 fp8_e4m3 per-token"), affine after the granularity */
    static const int order[] = {P_SCHEME, P_GRAN,   P_SCHEME, P_CLIP,
                                P_STATIC, P_SCALES, P_SITES,  P_LAYERS};
    for (int k = 0; k < (int)(sizeof order / sizeof order[0]); k++) {
        int prop = order[k];
        char w[3][600] = {"", "", ""};
        for (int side = SIDE_W; side <= SIDE_A; side++)
            if (quantized & side) {
                int rc = word_for(w[side], sizeof w[side], sides[side], side, prop);
                if (rc) return rc;
                int fmt = qs_quant_scheme_is_float(sides[side]->spec.scheme);
                if (prop == P_SCHEME && fmt != (k == 0)) w[side][0] = '\0';
            }
        /* a name always states one granularity ("W8A8 per-token", not "W8A8"), unless every
         * quantized side's format brings its block ("W4A4 mxfp4") */
        int fixed_w = qs_quant_traits_of(c->w.spec.scheme)->default_group != 0;
        int fixed_a = qs_quant_traits_of(c->a.spec.scheme)->default_group != 0;
        if (prop == P_GRAN && quantized && !w[SIDE_W][0] && !w[SIDE_A][0]) {
            int side = (quantized & SIDE_A) && !fixed_a   ? SIDE_A
                       : (quantized & SIDE_W) && !fixed_w ? SIDE_W
                                                          : 0;
            if (side) default_gran_word(w[side], sizeof w[side], side);
        }
        int both = w[SIDE_W][0] && w[SIDE_A][0] && strcmp(w[SIDE_W], w[SIDE_A]) == 0;
        for (int side = SIDE_W; side <= SIDE_A; side++) {
            if (!w[side][0]) continue;
            const word_def *d = find_word(w[side]);
            QS_ASSERT(d != NULL);
            int u = unprefixed_sides(d, quantized);
            const char *prefix = "";
            if (both && u == (SIDE_W | SIDE_A)) {
                if (side == SIDE_A) continue; /* printed once for both */
            } else if (u != side)
                prefix = side == SIDE_W ? "w:" : "a:";
            len += (size_t)snprintf(out + len, len < sizeof out ? sizeof out - len : 0, " %s%s",
                                    prefix, w[side]);
            if (len >= sizeof out) return qs_error_set(QS_ERR_ARG, "config name too long");
        }
    }
    int rrc = qs_remedy_format(out, sizeof out, &len, &c->remedy);
    if (rrc) return rrc;
    int krc = format_kv(out, sizeof out, &len, &c->kv);
    if (krc) return krc;
    if (len + 1 > n)
        return qs_error_set(QS_ERR_ARG, "config name '%s' needs %zu bytes, buffer has %zu", out,
                            len + 1, n);
    memcpy(buf, out, len + 1);
    return QS_OK;
}

int qs_quant_side_has_layer(const qs_quant_side *s, int layer) {
    if (s->spec.bits == QS_QUANT_BITS_NONE) return 0;
    if (s->n_layers == 0) return 1;
    return bsearch(&layer, s->layers, (size_t)s->n_layers, sizeof layer, cmp_int) != NULL;
}
