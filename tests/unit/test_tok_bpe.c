/* Merge-ranked BPE and the Hugging Face tokenizer files:
 *  - GPT-2 vocab.json + merges.txt against tiktoken's ids (four texts, corpus.en included)
 *    and HF's ids for llama.cpp's 46 test strings;
 *  - stories260K tokenizer.json (string merges) and the bf16 copy (pair merges) against
 *    each other on every line of tinystories_v2_valid_head100.txt, and against
 *    sentencepiece's ids stored in reference_logits.h5;
 *  - small hand-made vocabularies for ties, specials, byte fallback and unknowns;
 *  - unsupported tokenizer.json files, each with its code and message. */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "fileio.h"
#include "hf_config.h"
#include "tok_hf.h"
#include "tokenizer.h"
#include "vocab_vectors.h"

static int *read_ids(const char *path, int *n) {
    char *s;
    size_t len;
    *n = 0;
    if (qs_file_read(path, 0, &s, &len)) return NULL;
    int cap = 1024, *ids = malloc((size_t)cap * sizeof *ids);
    char *p = s, *end;
    for (;;) {
        long v = strtol(p, &end, 10);
        if (end == p) break;
        if (*n == cap) ids = realloc(ids, (size_t)(cap *= 2) * sizeof *ids);
        ids[(*n)++] = (int)v;
        p = end;
    }
    free(s);
    return ids;
}

static int same_ids(const int *a, int na, const int *b, int nb) {
    return na == nb && (na == 0 || memcmp(a, b, (size_t)na * sizeof *a) == 0);
}

static int first_diff(const int *a, int na, const int *b, int nb) {
    int i = 0;
    while (i < na && i < nb && a[i] == b[i]) i++;
    return i;
}

static void check_roundtrip(const qs_tokenizer *t, const char *text, size_t len, const int *ids,
                            int n) {
    char *back = NULL;
    CHECK(qs_tokenizer_decode(t, ids, n, &back) == QS_OK);
    CHECK_MSG(back && strlen(back) == len && memcmp(back, text, len) == 0, "round trip of '%.40s'",
              text);
    free(back);
}

static void test_gpt2_files(void) {
    qs_tokenizer *t = NULL;
    int rc = qs_tokenizer_load_bpe_files(&t, "tests/fixtures/gpt2-bpe/gpt2_vocab.json",
                                         "tests/fixtures/gpt2-bpe/gpt2_merges.txt");
    CHECK_MSG(rc == QS_OK, "%s", qs_error_message());
    if (rc) return;
    CHECK(t->n_vocab == 50257 && t->eos_id == 50256 && t->add_bos == 0);
    CHECK(strcmp(t->kind, "hf-bytelevel") == 0);

    const char *texts[] = {"address", "german", "tinystories_sample", "corpus.en"};
    const int counts[] = {320, 190, 923, 30854};
    for (int k = 0; k < 4; k++) {
        char tp[256], ip[256];
        snprintf(tp, sizeof tp, "tests/fixtures/gpt2-bpe/%s%s", texts[k], k == 3 ? "" : ".txt");
        snprintf(ip, sizeof ip, "tests/fixtures/gpt2-bpe/%s.tiktoken-gpt2.ids", texts[k]);
        char *text;
        size_t len;
        int nref, n = 0, *ids = NULL;
        int *ref = read_ids(ip, &nref);
        CHECK(qs_file_read(tp, 0, &text, &len) == QS_OK);
        CHECK(ref && nref == counts[k]);
        CHECK(qs_tokenizer_encode(t, text, len, 0, &ids, &n) == QS_OK);
        CHECK_MSG(same_ids(ids, n, ref, nref), "%s: %d ids vs %d, first difference at %d", texts[k],
                  n, nref, first_diff(ids, n, ref, nref));
        check_roundtrip(t, text, len, ids, n);
        free(ids);
        free(ref);
        free(text);
    }
    /* <|endoftext|> is one special token in the text */
    int *ids, n;
    CHECK(qs_tokenizer_encode(t, "a<|endoftext|>b", 15, 0, &ids, &n) == QS_OK);
    CHECK(n == 3 && ids[0] == 64 && ids[1] == 50256 && ids[2] == 65);
    free(ids);

    /* llama.cpp's 46 strings with HF's ids for openai-community/gpt2 */
    int strings;
    int agree = vocab_vectors(t, "tests/fixtures/gpt2-bpe/ggml-vocab-gpt-2.gguf.inp",
                              "tests/fixtures/gpt2-bpe/ggml-vocab-gpt-2.gguf.out", 1, &strings);
    CHECK_MSG(strings == 46 && agree == 46, "%d of %d strings agree", agree, strings);
    qs_tokenizer_free(t);
}

/* reference_logits.h5: seqN/tokens (sentencepiece ids with BOS) and the text attribute */
static int h5_seq(int k, int *tokens, int cap, char *text, size_t text_cap) {
    hid_t f = H5Fopen("tests/fixtures/reference_logits.h5", H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return -1;
    char g[16];
    snprintf(g, sizeof g, "seq%d", k);
    int n = -1;
    hid_t grp = H5Gopen2(f, g, H5P_DEFAULT);
    hid_t ds = grp >= 0 ? H5Dopen2(grp, "tokens", H5P_DEFAULT) : -1;
    hid_t sp = ds >= 0 ? H5Dget_space(ds) : -1;
    if (sp >= 0 && H5Sget_simple_extent_npoints(sp) <= cap) {
        n = (int)H5Sget_simple_extent_npoints(sp);
        if (H5Dread(ds, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, tokens) < 0) n = -1;
    }
    hid_t at = grp >= 0 ? H5Aopen(grp, "text", H5P_DEFAULT) : -1;
    if (at >= 0) {
        hid_t ty = H5Aget_type(at);
        if (H5Tis_variable_str(ty) > 0) {
            char *vs = NULL;
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, H5T_VARIABLE);
            H5Tset_cset(mt, H5Tget_cset(ty));
            if (H5Aread(at, mt, &vs) >= 0 && vs)
                snprintf(text, text_cap, "%s", vs);
            else
                n = -1;
            hid_t asp = H5Aget_space(at);
            if (vs) H5Dvlen_reclaim(mt, asp, H5P_DEFAULT, &vs);
            H5Sclose(asp);
            H5Tclose(mt);
        } else {
            size_t sz = H5Tget_size(ty);
            char *buf = calloc(sz + 1, 1);
            if (H5Aread(at, ty, buf) >= 0)
                snprintf(text, text_cap, "%s", buf);
            else
                n = -1;
            free(buf);
        }
        H5Tclose(ty);
        H5Aclose(at);
    } else {
        n = -1;
    }
    if (sp >= 0) H5Sclose(sp);
    if (ds >= 0) H5Dclose(ds);
    if (grp >= 0) H5Gclose(grp);
    H5Fclose(f);
    return n;
}

static void test_stories(void) {
    qs_tokenizer *a = NULL, *b = NULL;
    int rc = qs_tokenizer_load_hf(&a, "tests/fixtures/hf-stories260K/tokenizer.json",
                                  "tests/fixtures/hf-stories260K/tokenizer_config.json");
    CHECK_MSG(rc == QS_OK, "%s", qs_error_message());
    rc = qs_tokenizer_load_hf(&b, "tests/fixtures/hf-stories260K-bf16/tokenizer.json",
                              "tests/fixtures/hf-stories260K-bf16/tokenizer_config.json");
    CHECK_MSG(rc == QS_OK, "%s", qs_error_message());
    if (!a || !b) return;
    CHECK(strcmp(a->kind, "hf-bpe") == 0 && a->n_vocab == 512);
    CHECK(a->bos_id == 1 && a->eos_id == 2 && a->add_bos == 1);

    /* sentencepiece's ids, stored with the reference logits */
    for (int k = 0; k < 3; k++) {
        int ref[128], *ids, n;
        char text[1024] = "";
        int nref = h5_seq(k, ref, 128, text, sizeof text);
        CHECK_MSG(nref > 0 && text[0], "seq%d unreadable", k);
        if (nref <= 0) continue;
        CHECK(qs_tokenizer_encode(a, text, strlen(text), 1, &ids, &n) == QS_OK);
        CHECK_MSG(same_ids(ids, n, ref, nref), "seq%d: %d ids vs %d, first difference at %d", k, n,
                  nref, first_diff(ids, n, ref, nref));
        free(ids);
    }
    /* the fixture README's example of the documented whitespace difference */
    int *ids, n;
    CHECK(qs_tokenizer_encode(a, "two  spaces", 11, 0, &ids, &n) == QS_OK);
    int has410 = 0;
    for (int i = 0; i < n; i++) has410 |= ids[i] == 410;
    CHECK(has410);
    free(ids);

    /* string-form and pair-form merges agree on every line; decode gives the line back */
    char *text;
    size_t len;
    CHECK(qs_file_read("data/text/tinystories_v2_valid_head100.txt", 0, &text, &len) == QS_OK);
    /* core/tok_llama2c.c with tok512.bin: llama2.c's score-based SentencePiece encoder */
    qs_tokenizer *l2 = NULL;
    CHECK(qs_tokenizer_load_llama2c(&l2, "data/models/tok512.bin", 512) == QS_OK);
    int lines = 0, agree = 0, roundtrip = 0, same_llama2c = 0, same_raw = 0;
    long total = 0;
    for (char *line = text, *nl; line < text + len; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl) nl = text + len;
        /* sentencepiece's remove_extra_whitespaces (the fixture README's documented
         * difference): strip the ends, collapse runs of spaces */
        char st[4096];
        size_t l = 0;
        for (char *p = line; p < nl && l < sizeof st; p++)
            if (*p != ' ' || (l > 0 && st[l - 1] != ' ')) st[l++] = *p;
        while (l && st[l - 1] == ' ') l--;
        if (l == 0) continue;
        int *ia, *ib, na, nb;
        CHECK(qs_tokenizer_encode(a, st, l, 0, &ia, &na) == QS_OK);
        CHECK(qs_tokenizer_encode(b, st, l, 0, &ib, &nb) == QS_OK);
        agree += same_ids(ia, na, ib, nb);
        if (l2) {
            int *ic, nc;
            CHECK(qs_tokenizer_encode(l2, st, l, 0, &ic, &nc) == QS_OK);
            same_llama2c += same_ids(ia, na, ic, nc);
            free(ic);
            /* neither strips or collapses spaces, so raw lines agree too */
            int *ra, *rc2, nra, nrc;
            CHECK(qs_tokenizer_encode(a, line, (size_t)(nl - line), 0, &ra, &nra) == QS_OK);
            CHECK(qs_tokenizer_encode(l2, line, (size_t)(nl - line), 0, &rc2, &nrc) == QS_OK);
            same_raw += same_ids(ra, nra, rc2, nrc);
            free(ra);
            free(rc2);
        }
        char *back;
        qs_tokenizer_decode(a, ia, na, &back);
        roundtrip += strlen(back) == l && memcmp(back, st, l) == 0;
        free(back);
        total += na;
        lines++;
        free(ia);
        free(ib);
    }
    CHECK_MSG(lines == 547 && agree == lines, "%d of %d lines agree", agree, lines);
    CHECK_MSG(same_llama2c == lines, "%d of %d lines agree with the llama2.c tokenizer",
              same_llama2c, lines);
    CHECK_MSG(same_raw == lines, "%d of %d raw lines agree with the llama2.c tokenizer", same_raw,
              lines);
    CHECK_MSG(roundtrip == lines, "%d of %d lines round-trip", roundtrip, lines);
    /* the fixture README counts 39,954 tokens (no BOS) for these lines, from sentencepiece */
    CHECK_MSG(total == 39954, "%ld tokens", total);
    free(text);
    qs_tokenizer_free(l2);

    /* byte fallback: CJK is not in the 512-piece vocab (<0xNN> is id 3 + NN); decoding
     * restores it */
    const char *cjk = "猫 cat";
    CHECK(qs_tokenizer_encode(a, cjk, strlen(cjk), 0, &ids, &n) == QS_OK);
    CHECK(n >= 5 && ids[1] == 3 + 0xE7 && ids[2] == 3 + 0x8C && ids[3] == 3 + 0xAB);
    check_roundtrip(a, cjk, strlen(cjk), ids, n);
    free(ids);
    /* special tokens written in the text are matched literally */
    CHECK(qs_tokenizer_encode(a, "</s>", 4, 0, &ids, &n) == QS_OK);
    CHECK(n == 1 && ids[0] == 2);
    free(ids);
    qs_tokenizer_free(a);
    qs_tokenizer_free(b);
}

/* A tiny tokenizer.json. */
static qs_tokenizer *tiny(const char *model_extra, const char *normalizer, const char *pretok,
                          int *rc) {
    char js[4096];
    snprintf(js, sizeof js,
             "{\"added_tokens\":[{\"id\":0,\"content\":\"<unk>\",\"special\":true},"
             "{\"id\":1,\"content\":\"<s>\",\"special\":true}],"
             "\"normalizer\":%s,\"pre_tokenizer\":%s,"
             "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{"
             "\"id\":\"<s>\",\"type_id\":0}},"
             "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"special_tokens\":{\"<s>\":{\"id\":\"<"
             "s>\",\"ids\":[1]}}},"
             "\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\"%s}}",
             normalizer, pretok, model_extra);
    qs_tokenizer *t = NULL;
    qs_error_clear();
    *rc = qs_tokenizer_parse_hf(&t, js, strlen(js), NULL, 0, "T/tokenizer.json");
    return t;
}

static void test_synthetic(void) {
    const char *norm =
        "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":"
        "\"\xE2\x96\x81\"},"
        "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\xE2\x96\x81\"}]}";
    /* ids: 2 ▁, 3 a, 4 b, 5 aa, 6 ▁a, 7 ab, 8 ▁aa */
    int rc;
    qs_tokenizer *t =
        tiny(",\"vocab\":{\"<unk>\":0,\"<s>\":1,\"\xE2\x96\x81\":2,\"a\":3,\"b\":4,\"aa\":5,"
             "\"\xE2\x96\x81"
             "a\":6,\"ab\":7,\"\xE2\x96\x81"
             "aa\":8},"
             "\"merges\":[\"a a\",\"a b\",\"\xE2\x96\x81 a\",\"\xE2\x96\x81 aa\"]",
             norm, "null", &rc);
    CHECK_MSG(rc == QS_OK, "%s", qs_error_message());
    if (t) {
        int *ids, n;
        /* "aaab": ▁ a a a b. Rank 0 "a a" fires leftmost first: ▁ aa a b; then "a b" → ▁ aa ab;
         * then "▁ aa" → ▁aa ab. Score-free, rank-ordered, leftmost on ties. */
        CHECK(qs_tokenizer_encode(t, "aaab", 4, 1, &ids, &n) == QS_OK);
        CHECK(n == 3 && ids[0] == 1 && ids[1] == 8 && ids[2] == 7);
        free(ids);
        /* unknown characters fuse into one <unk> (no byte fallback here) */
        CHECK(qs_tokenizer_encode(t,
                                  "a\xC3\xA9\xC3\xA9"
                                  "b",
                                  6, 0, &ids, &n) == QS_OK);
        CHECK(n == 3 && ids[0] == 6 && ids[1] == 0 && ids[2] == 4);
        free(ids);
        CHECK(qs_tokenizer_encode(t, "", 0, 0, &ids, &n) == QS_OK && n == 0);
        free(ids);
        CHECK(t->bos_id == 1 && t->add_bos == 1 && strcmp(t->kind, "hf-bpe") == 0);
        qs_tokenizer_free(t);
    }
    /* pair-form merges, byte-level, with a Split regex and ignore_merges */
    const char *bl = "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{"
                     "\"Regex\":\"\\\\d|\\\\D+\"},"
                     "\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_"
                     "prefix_space\":false,"
                     "\"use_regex\":false}]}";
    t = tiny(",\"vocab\":{\"<unk>\":0,\"<s>\":1,\"x\":2,\"y\":3,\"1\":4,\"2\":5,\"xy\":6,\"12\":7,"
             "\"xyx\":8},"
             "\"merges\":[[\"x\",\"y\"],[\"1\",\"2\"]],\"ignore_merges\":true",
             "null", bl, &rc);
    CHECK_MSG(rc == QS_OK, "%s", qs_error_message());
    if (t) {
        int *ids, n;
        /* the regex splits digits one by one, so "12" never merges; "xyx" is whole in the vocab */
        CHECK(qs_tokenizer_encode(t, "xyx12xy", 7, 0, &ids, &n) == QS_OK);
        CHECK(n == 4 && ids[0] == 8 && ids[1] == 4 && ids[2] == 5 && ids[3] == 6);
        free(ids);
        CHECK(strcmp(t->kind, "hf-bytelevel") == 0);
        qs_tokenizer_free(t);
    }
}

static void expect_tok_err(const char *js, int code, const char *want) {
    qs_tokenizer *t = NULL;
    qs_error_clear();
    int rc = qs_tokenizer_parse_hf(&t, js, strlen(js), NULL, 0, "M/tokenizer.json");
    CHECK_MSG(rc == code && t == NULL, "rc %d want %d (%s)", rc, code, qs_error_message());
    CHECK_MSG(strstr(qs_error_message(), want) != NULL, "message '%s' lacks '%s'",
              qs_error_message(), want);
    qs_tokenizer_free(t);
}

static void test_errors(void) {
    expect_tok_err("{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",0.0]]}}", QS_ERR_UNSUPPORTED,
                   "unsupported tokenizer model type 'Unigram' in M/tokenizer.json");
    expect_tok_err("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}", QS_ERR_UNSUPPORTED,
                   "unsupported tokenizer model type 'WordPiece' in M/tokenizer.json");
    expect_tok_err("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}}", QS_ERR_FORMAT,
                   "malformed JSON");
    expect_tok_err("{\"pre_tokenizer\":{\"type\":\"Whitespace\"},\"model\":{\"type\":\"BPE\","
                   "\"vocab\":{\"a\":0},"
                   "\"merges\":[]}}",
                   QS_ERR_UNSUPPORTED,
                   "unsupported pre_tokenizer 'Whitespace' in M/tokenizer.json");
    expect_tok_err(
        "{\"normalizer\":{\"type\":\"Lowercase\"},\"pre_tokenizer\":{\"type\":\"ByteLevel\"},"
        "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}",
        QS_ERR_UNSUPPORTED, "unsupported normalizer 'Lowercase'");
    expect_tok_err("{\"pre_tokenizer\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\","
                   "\"vocab\":{\"a\":0,\"b\":1},"
                   "\"merges\":[\"a b\"]}}",
                   QS_ERR_FORMAT, "merge 0 \"a b\"");
    expect_tok_err("{\"pre_tokenizer\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\","
                   "\"vocab\":{\"a\":0,\"b\":0},"
                   "\"merges\":[]}}",
                   QS_ERR_FORMAT, "both have id 0");
    expect_tok_err("{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(\"},"
                   "\"behavior\":\"Isolated\"},"
                   "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}",
                   QS_ERR_UNSUPPORTED, "neither ByteLevel");
    expect_tok_err("{\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":"
                   "\"Split\",\"pattern\":{\"Regex\":\"(\"},"
                   "\"behavior\":\"Isolated\"},{\"type\":\"ByteLevel\",\"use_regex\":false}]},"
                   "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}",
                   QS_ERR_FORMAT, "regex does not compile");
    qs_tokenizer *t = NULL;
    CHECK(qs_tokenizer_load_hf(&t, "tests/fixtures/nowhere/tokenizer.json", NULL) == QS_ERR_IO &&
          !t);
    CHECK(strstr(qs_error_message(), "nowhere/tokenizer.json") != NULL);
}

int main(void) {
    test_gpt2_files();
    test_stories();
    test_synthetic();
    test_errors();
    return check_summary("test_tok_bpe");
}
