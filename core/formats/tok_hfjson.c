/* tokenizer.json (+ tokenizer_config.json) and vocab.json + merges.txt → qs_bpe_spec →
 * the BPE engine. Only what changes the ids is read; the decoder section is implied by the
 * flavour (byte-level or "▁"). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "error.h"
#include "fileio.h"
#include "json.h"
#include "tok_hf.h"
#include "tokenizer.h"

#define SPACE_MARKER "\xE2\x96\x81" /* U+2581 ▁ */
#define MAX_VOCAB    (1 << 24)

/* Everything a spec points to, owned here until the engine has copied it. */
typedef struct {
    qs_bpe_spec spec;
    const char **pieces;
    int *piece_len;
    unsigned char *special;
    char **merges;
    int n_merges;
    int space_to_marker; /* Replace " " → "▁" (or Metaspace) seen */
    int prepend_marker;  /* Prepend "▁" (or Metaspace prepending) seen */
    int ignore_merges;
} spec_build;

static void spec_build_free(spec_build *sb) {
    free(sb->pieces);
    free(sb->piece_len);
    free(sb->special);
    for (int i = 0; i < sb->n_merges; i++) free(sb->merges[i]);
    free(sb->merges);
}

static const cJSON *jget(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNull(v) ? NULL : v;
}

static int json_id(const cJSON *v, int *id) {
    if (!cJSON_IsNumber(v) || floor(v->valuedouble) != v->valuedouble || v->valuedouble < 0 ||
        v->valuedouble >= MAX_VOCAB)
        return 0;
    *id = (int)v->valuedouble;
    return 1;
}

static int find_piece(const spec_build *sb, const char *s) {
    size_t l = strlen(s);
    for (int i = 0; i < sb->spec.n_vocab; i++)
        if (sb->pieces[i] && (size_t)sb->piece_len[i] == l && memcmp(sb->pieces[i], s, l) == 0)
            return i;
    return -1;
}

/* vocab object + added_tokens → pieces, specials */
static int read_vocab(spec_build *sb, const cJSON *vocab, const cJSON *added, const char *path) {
    if (!cJSON_IsObject(vocab))
        return qs_error_set(QS_ERR_FORMAT, "%s: model.vocab is not an object", path);
    int V = 0, id;
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) {
        if (!json_id(e, &id))
            return qs_error_set(QS_ERR_FORMAT, "%s: vocab entry '%s' has no valid id", path,
                                e->string);
        if (id + 1 > V) V = id + 1;
    }
    if (added && !cJSON_IsArray(added))
        return qs_error_set(QS_ERR_FORMAT, "%s: added_tokens is not a list", path);
    cJSON_ArrayForEach(e, added) {
        if (!json_id(jget(e, "id"), &id) || !cJSON_IsString(jget(e, "content")))
            return qs_error_set(QS_ERR_FORMAT, "%s: an added_tokens entry lacks id or content",
                                path);
        if (id + 1 > V) V = id + 1;
    }
    if (V == 0) return qs_error_set(QS_ERR_FORMAT, "%s: empty vocabulary", path);
    sb->spec.n_vocab = V;
    sb->pieces = calloc((size_t)V, sizeof *sb->pieces);
    sb->piece_len = calloc((size_t)V, sizeof *sb->piece_len);
    sb->special = calloc((size_t)V, 1);
    if (!sb->pieces || !sb->piece_len || !sb->special)
        return qs_error_set(QS_ERR_NOMEM, "%s: out of memory for %d pieces", path, V);
    cJSON_ArrayForEach(e, vocab) {
        id = (int)e->valuedouble;
        if (sb->pieces[id])
            return qs_error_set(QS_ERR_FORMAT,
                                "%s: vocab ids repeat: '%s' and '%s' both have id %d", path,
                                sb->pieces[id], e->string, id);
        sb->pieces[id] = e->string;
        sb->piece_len[id] = (int)strlen(e->string);
    }
    cJSON_ArrayForEach(e, added) {
        id = (int)jget(e, "id")->valuedouble;
        sb->pieces[id] = jget(e, "content")->valuestring;
        sb->piece_len[id] = (int)strlen(sb->pieces[id]);
        sb->special[id] = 1; /* every added token is matched literally, as HF does */
    }
    return QS_OK;
}

static int read_merges(spec_build *sb, const cJSON *merges, const char *path) {
    if (!merges) return QS_OK;
    if (!cJSON_IsArray(merges))
        return qs_error_set(QS_ERR_FORMAT, "%s: model.merges is not a list", path);
    int n = cJSON_GetArraySize(merges);
    sb->merges = calloc((size_t)(n ? n : 1), sizeof *sb->merges);
    if (!sb->merges) return qs_error_set(QS_ERR_NOMEM, "%s: out of memory for %d merges", path, n);
    const cJSON *e;
    cJSON_ArrayForEach(e, merges) {
        char *m = NULL;
        if (cJSON_IsString(e)) {
            m = strdup(e->valuestring);
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 &&
                   cJSON_IsString(cJSON_GetArrayItem(e, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(e, 1))) {
            const char *a = cJSON_GetArrayItem(e, 0)->valuestring,
                       *b = cJSON_GetArrayItem(e, 1)->valuestring;
            size_t la = strlen(a), lb = strlen(b);
            if ((m = malloc(la + lb + 2))) {
                memcpy(m, a, la);
                m[la] = ' ';
                memcpy(m + la + 1, b, lb + 1);
            }
        } else {
            return qs_error_set(QS_ERR_FORMAT, "%s: merge %d is neither \"a b\" nor [\"a\", \"b\"]",
                                path, sb->n_merges);
        }
        if (!m) return qs_error_set(QS_ERR_NOMEM, "%s: out of memory", path);
        sb->merges[sb->n_merges++] = m;
    }
    return QS_OK;
}

static const char *jtype(const cJSON *o) {
    const cJSON *t = jget(o, "type");
    return cJSON_IsString(t) ? t->valuestring : "(no type)";
}

static int read_normalizer(spec_build *sb, const cJSON *n, const char *path) {
    if (!n) return QS_OK;
    const char *ty = jtype(n);
    if (strcmp(ty, "Sequence") == 0) {
        const cJSON *e;
        cJSON_ArrayForEach(e, jget(n, "normalizers")) {
            int rc = read_normalizer(sb, e, path);
            if (rc) return rc;
        }
        return QS_OK;
    }
    if (strcmp(ty, "Prepend") == 0) {
        const cJSON *p = jget(n, "prepend");
        if (cJSON_IsString(p) && strcmp(p->valuestring, SPACE_MARKER) == 0) {
            sb->prepend_marker = 1;
            return QS_OK;
        }
    } else if (strcmp(ty, "Replace") == 0) {
        const cJSON *pat = jget(jget(n, "pattern"), "String"), *c = jget(n, "content");
        if (cJSON_IsString(pat) && cJSON_IsString(c) && strcmp(pat->valuestring, " ") == 0 &&
            strcmp(c->valuestring, SPACE_MARKER) == 0) {
            sb->space_to_marker = 1;
            return QS_OK;
        }
    } else if (strcmp(ty, "NFC") == 0) {
        return QS_OK; /* input text is taken to be NFC already (almost all text is) */
    }
    return qs_error_set(QS_ERR_UNSUPPORTED, "unsupported normalizer '%s' in %s", ty, path);
}

static int read_pretokenizer(spec_build *sb, const cJSON *p, const char *path) {
    if (!p) return QS_OK;
    const char *ty = jtype(p);
    if (strcmp(ty, "Sequence") == 0) {
        const cJSON *e;
        cJSON_ArrayForEach(e, jget(p, "pretokenizers")) {
            int rc = read_pretokenizer(sb, e, path);
            if (rc) return rc;
        }
        return QS_OK;
    }
    if (strcmp(ty, "ByteLevel") == 0) {
        sb->spec.byte_level = 1;
        const cJSON *ur = jget(p, "use_regex"), *aps = jget(p, "add_prefix_space");
        int use_regex = ur ? cJSON_IsTrue(ur) : 1;
        /* without its own regex, ByteLevel after a Split leaves the chunks alone */
        if (!use_regex && !sb->spec.pretok_regex) sb->spec.pretok_regex = "[\\s\\S]+";
        if (cJSON_IsTrue(aps)) sb->spec.prepend_space = 1;
        return QS_OK;
    }
    if (strcmp(ty, "Split") == 0) {
        const cJSON *re = jget(jget(p, "pattern"), "Regex"), *beh = jget(p, "behavior"),
                    *inv = jget(p, "invert");
        if (!cJSON_IsString(re))
            return qs_error_set(QS_ERR_UNSUPPORTED,
                                "unsupported Split pre-tokenizer (only a Regex pattern) in %s",
                                path);
        if (!cJSON_IsString(beh) || strcmp(beh->valuestring, "Isolated") != 0 || cJSON_IsTrue(inv))
            return qs_error_set(
                QS_ERR_UNSUPPORTED,
                "unsupported Split pre-tokenizer behaviour '%s'%s in %s (only Isolated)",
                cJSON_IsString(beh) ? beh->valuestring : "?", cJSON_IsTrue(inv) ? " inverted" : "",
                path);
        sb->spec.pretok_regex = re->valuestring;
        return QS_OK;
    }
    if (strcmp(ty, "Metaspace") == 0) {
        const cJSON *rep = jget(p, "replacement"), *scheme = jget(p, "prepend_scheme"),
                    *aps = jget(p, "add_prefix_space");
        if (!cJSON_IsString(rep) || strcmp(rep->valuestring, SPACE_MARKER) != 0)
            return qs_error_set(QS_ERR_UNSUPPORTED, "unsupported Metaspace replacement in %s",
                                path);
        sb->space_to_marker = 1;
        if (cJSON_IsString(scheme))
            sb->prepend_marker |= strcmp(scheme->valuestring, "never") != 0;
        else
            sb->prepend_marker |= aps ? cJSON_IsTrue(aps) : 1;
        return QS_OK;
    }
    return qs_error_set(QS_ERR_UNSUPPORTED, "unsupported pre_tokenizer '%s' in %s", ty, path);
}

/* A TemplateProcessing whose single template starts with a special token → that is BOS. */
static int read_post_processor(spec_build *sb, const cJSON *pp, const cJSON *root) {
    if (!pp) return QS_OK;
    const char *ty = jtype(pp);
    if (strcmp(ty, "Sequence") == 0) {
        const cJSON *e;
        cJSON_ArrayForEach(e, jget(pp, "processors")) read_post_processor(sb, e, root);
        return QS_OK;
    }
    if (strcmp(ty, "TemplateProcessing") != 0) return QS_OK;
    const cJSON *first = cJSON_GetArrayItem(jget(pp, "single"), 0);
    const cJSON *tok = jget(jget(first, "SpecialToken"), "id");
    if (!cJSON_IsString(tok)) return QS_OK;
    int id = -1;
    const cJSON *ids = jget(jget(jget(pp, "special_tokens"), tok->valuestring), "ids");
    if (!json_id(cJSON_GetArrayItem(ids, 0), &id)) id = find_piece(sb, tok->valuestring);
    if (id >= 0 && id < sb->spec.n_vocab) {
        sb->spec.bos_id = id;
        sb->spec.add_bos = 1;
    }
    (void)root;
    return QS_OK;
}

/* bos_token / eos_token in tokenizer_config.json: a string or {"content": ...} */
static int config_token(const spec_build *sb, const cJSON *cfg, const char *key) {
    const cJSON *v = jget(cfg, key);
    if (cJSON_IsObject(v)) v = jget(v, "content");
    return cJSON_IsString(v) ? find_piece(sb, v->valuestring) : -1;
}

static int spec_from_json(spec_build *sb, const cJSON *root, const cJSON *cfg, const char *path) {
    qs_bpe_spec *sp = &sb->spec;
    sp->bos_id = sp->eos_id = sp->unk_id = -1;
    sp->match_special = 1;
    if (!cJSON_IsObject(root)) return qs_error_set(QS_ERR_FORMAT, "%s: not a JSON object", path);
    const cJSON *model = jget(root, "model");
    if (!cJSON_IsObject(model)) return qs_error_set(QS_ERR_FORMAT, "%s: no 'model' object", path);
    const cJSON *ty = jget(model, "type");
    if (ty && (!cJSON_IsString(ty) || strcmp(ty->valuestring, "BPE") != 0))
        return qs_error_set(QS_ERR_UNSUPPORTED,
                            "unsupported tokenizer model type '%s' in %s (only BPE)",
                            cJSON_IsString(ty) ? ty->valuestring : "?", path);
    if (!ty && !jget(model, "merges")) /* old files omit the type; BPE is the one with merges */
        return qs_error_set(QS_ERR_UNSUPPORTED,
                            "unsupported tokenizer model (no type, no merges) in %s", path);
    const cJSON *csp = jget(model, "continuing_subword_prefix"),
                *ews = jget(model, "end_of_word_suffix");
    if ((cJSON_IsString(csp) && csp->valuestring[0]) ||
        (cJSON_IsString(ews) && ews->valuestring[0]))
        return qs_error_set(
            QS_ERR_UNSUPPORTED,
            "unsupported BPE option continuing_subword_prefix/end_of_word_suffix in %s", path);
    int rc;
    if ((rc = read_vocab(sb, jget(model, "vocab"), jget(root, "added_tokens"), path)) ||
        (rc = read_merges(sb, jget(model, "merges"), path)))
        return rc;
    sp->byte_fallback = cJSON_IsTrue(jget(model, "byte_fallback"));
    sb->ignore_merges = cJSON_IsTrue(jget(model, "ignore_merges"));
    const cJSON *unk = jget(model, "unk_token");
    if (cJSON_IsString(unk)) sp->unk_id = find_piece(sb, unk->valuestring);

    if ((rc = read_normalizer(sb, jget(root, "normalizer"), path)) ||
        (rc = read_pretokenizer(sb, jget(root, "pre_tokenizer"), path)))
        return rc;
    if (sp->byte_level && (sb->space_to_marker || sb->prepend_marker))
        return qs_error_set(QS_ERR_UNSUPPORTED, "%s mixes ByteLevel with \"▁\" space handling",
                            path);
    if (!sp->byte_level && !sb->space_to_marker)
        return qs_error_set(
            QS_ERR_UNSUPPORTED,
            "unsupported BPE pre-processing in %s: neither ByteLevel nor spaces as \"▁\"", path);
    if (!sp->byte_level) sp->prepend_space = sb->prepend_marker;
    read_post_processor(sb, jget(root, "post_processor"), root);

    if (cfg) {
        const cJSON *ab = jget(cfg, "add_bos_token");
        int id;
        if ((id = config_token(sb, cfg, "bos_token")) >= 0) sp->bos_id = id;
        if ((id = config_token(sb, cfg, "eos_token")) >= 0) sp->eos_id = id;
        if (cJSON_IsBool(ab)) sp->add_bos = cJSON_IsTrue(ab);
    }
    if (sp->bos_id < 0) sp->add_bos = 0;
    sp->pieces = sb->pieces;
    sp->piece_len = sb->piece_len;
    sp->special = sb->special;
    sp->n_merges = sb->n_merges;
    sp->merges = (const char *const *)sb->merges;
    return QS_OK;
}

int qs_tokenizer_parse_hf(qs_tokenizer **out, const char *json, size_t len, const char *cfg,
                          size_t cfg_len, const char *path) {
    *out = NULL;
    if (!path) path = "tokenizer.json";
    cJSON *root = NULL, *croot = NULL;
    int rc = qs_json_parse(&root, json, len, path, NULL);
    if (!rc && cfg) rc = qs_json_parse(&croot, cfg, cfg_len, "tokenizer_config.json", NULL);
    spec_build sb = {0};
    if (!rc) rc = spec_from_json(&sb, root, croot, path);
    if (!rc)
        rc = qs__tokenizer_bpe_new(out, &sb.spec, sb.spec.byte_level ? "hf-bytelevel" : "hf-bpe",
                                   path);
    if (!rc) qs__tokenizer_bpe_set_ignore_merges(*out, sb.ignore_merges);
    spec_build_free(&sb);
    cJSON_Delete(root);
    cJSON_Delete(croot);
    return rc;
}

int qs_tokenizer_load_hf(qs_tokenizer **out, const char *json_path, const char *config_path) {
    *out = NULL;
    char *js = NULL, *cs = NULL;
    size_t jl = 0, cl = 0;
    int rc = qs_file_read(json_path, 0, &js, &jl);
    if (rc) return rc;
    if (config_path) {
        if (access(config_path, F_OK) == 0) { /* tokenizer_config.json is optional */
            if ((rc = qs_file_read(config_path, 0, &cs, &cl))) {
                free(js);
                return rc;
            }
        }
    }
    rc = qs_tokenizer_parse_hf(out, js, jl, cs, cl, json_path);
    free(js);
    free(cs);
    return rc;
}

int qs_tokenizer_load_bpe_files(qs_tokenizer **out, const char *vocab_json_path,
                                const char *merges_txt_path) {
    *out = NULL;
    char *vj = NULL, *mt = NULL;
    size_t vl, ml;
    cJSON *vocab = NULL;
    spec_build sb = {0};
    int rc = qs_file_read(vocab_json_path, 0, &vj, &vl);
    if (!rc) rc = qs_file_read(merges_txt_path, 0, &mt, &ml);
    if (!rc) rc = qs_json_parse(&vocab, vj, vl, vocab_json_path, NULL);
    if (!rc) rc = read_vocab(&sb, vocab, NULL, vocab_json_path);
    if (!rc) {
        /* count lines, then cut them in place */
        int cap = 1;
        for (size_t i = 0; i < ml; i++) cap += mt[i] == '\n';
        sb.merges = calloc((size_t)cap, sizeof *sb.merges);
        if (!sb.merges) rc = qs_error_set(QS_ERR_NOMEM, "%s: out of memory", merges_txt_path);
        char *line = mt;
        for (int ln = 1; !rc && line && *line; ln++) {
            char *nl = strchr(line, '\n');
            if (nl) *nl = '\0';
            size_t l = strlen(line);
            if (l && line[l - 1] == '\r') line[--l] = '\0';
            if (l && !(ln == 1 && strncmp(line, "#version", 8) == 0)) {
                if (!(sb.merges[sb.n_merges] = strdup(line)))
                    rc = qs_error_set(QS_ERR_NOMEM, "%s: out of memory", merges_txt_path);
                else
                    sb.n_merges++;
            }
            line = nl ? nl + 1 : NULL;
        }
    }
    if (!rc) {
        qs_bpe_spec *sp = &sb.spec;
        int eot = find_piece(&sb, "<|endoftext|>");
        if (eot >= 0) sb.special[eot] = 1;
        sp->pieces = sb.pieces;
        sp->piece_len = sb.piece_len;
        sp->special = sb.special;
        sp->n_merges = sb.n_merges;
        sp->merges = (const char *const *)sb.merges;
        sp->byte_level = 1;
        sp->match_special = 1;
        sp->bos_id = sp->eos_id = eot;
        sp->unk_id = -1;
        rc = qs__tokenizer_bpe_new(out, sp, "hf-bytelevel", vocab_json_path);
        if (rc) qs_error_prefix(rc, "%s", merges_txt_path);
    }
    spec_build_free(&sb);
    cJSON_Delete(vocab);
    free(vj);
    free(mt);
    return rc;
}
