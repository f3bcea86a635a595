/* GGUF loader on the shipped fixtures: the F32 file against the llama2.c checkpoint it was
 * converted from (bit-identical tensors, identical logits, the PyTorch reference logits),
 * the Q8_0/Q4_0 files against the F32 weights (error bounded by each block's scale), and
 * the embedded vocabulary against llama2.c's tok512.bin and sentencepiece's ids. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tensor_util.h"
#include "error.h"
#include "fileio.h"
#include "forward.h"
#include "gguf.h"
#include "model.h"
#include "tokenizer.h"
#include "vocab_vectors.h"

#define F32_GGUF "tests/fixtures/stories260K.gguf"
#define Q8_GGUF  "tests/fixtures/stories260K-Q8_0.gguf"
#define Q4_GGUF  "tests/fixtures/stories260K-Q4_0.gguf"
#define BIN      "data/models/stories260K.bin"
#define H5       "tests/fixtures/reference_logits.h5"

/* Same-logits tolerance for identical weights (the forward pass is deterministic). */
#define MAX_SAME_WEIGHTS_LOGIT_ERROR 1e-6
/* Against the float64 PyTorch reference (float32 compute differs by up to 1.6e-5). */
#define MAX_REFERENCE_LOGIT_ERROR 1e-4

static qs_model *load(const char *path) {
    qs_model *m = NULL;
    int rc = qs_model_load(&m, path, NULL);
    CHECK_MSG(rc == QS_OK, "%s: %s", path, qs_error_message());
    return m;
}

/* logits (T, V) of tokens under m; malloc'd */
static float *run(const qs_model *m, const int *tokens, int T) {
    qs_forward_state s;
    if (qs_forward_init(&s, m, T, T)) {
        CHECK_MSG(0, "forward_init: %s", qs_error_message());
        return NULL;
    }
    float *logits = malloc((size_t)T * m->cfg.vocab_size * sizeof(float));
    int rc = qs_forward(&s, tokens, T, 0, logits, 0, NULL);
    CHECK_MSG(rc == QS_OK, "forward: %s", qs_error_message());
    qs_forward_free(&s);
    return logits;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - (double)b[i]));
    return d;
}

/* reads /<group>/tokens (int32, T) and /<group>/logits (float32, T × V) */
static int read_reference(const char *group, int **tokens, float **logits, int *T) {
    hid_t f = H5Fopen(H5, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return -1;
    char path[64];
    snprintf(path, sizeof path, "/%s/tokens", group);
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    hid_t sp = H5Dget_space(d);
    hsize_t n = (hsize_t)H5Sget_simple_extent_npoints(sp);
    *T = (int)n;
    *tokens = malloc(n * sizeof(int));
    H5Dread(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, *tokens);
    H5Sclose(sp);
    H5Dclose(d);
    snprintf(path, sizeof path, "/%s/logits", group);
    d = H5Dopen2(f, path, H5P_DEFAULT);
    *logits = malloc(n * 512 * sizeof(float));
    H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, *logits);
    H5Dclose(d);
    H5Fclose(f);
    return 0;
}

static void test_f32_vs_llama2c(void) {
    qs_model *g = load(F32_GGUF), *b = load(BIN);
    if (!g || !b) goto out;
    CHECK(!strcmp(g->format, "gguf") && !strcmp(g->cfg.arch, "llama"));
    const qs_config *cg = &g->cfg, *cb = &b->cfg;
    CHECK(cg->dim == cb->dim && cg->hidden_dim == cb->hidden_dim && cg->n_layers == cb->n_layers);
    CHECK(cg->n_heads == cb->n_heads && cg->n_kv_heads == cb->n_kv_heads &&
          cg->head_dim == cb->head_dim);
    CHECK(cg->vocab_size == 512 && cb->vocab_size == 512);
    CHECK(cg->seq_len ==
          128); /* llama.context_length as written by the converter (the .bin says 512) */
    CHECK(cb->seq_len == 512);
    CHECK(cg->rope_theta == 10000.0f); /* no freq_base key: the fallback */
    CHECK(cg->norm_eps == 1e-5f);
    CHECK(cg->rope_layout == QS_ROPE_INTERLEAVED);
    CHECK(cg->tied_classifier == 0); /* output.weight is a separate copy in this file */
    CHECK(cg->bos_id == 1 && cg->eos_id == 2);
    CHECK(g->n_tensors == 48);
    /* every tensor bit-identical to the .bin's, and stored as F32 */
    int identical = 0;
    for (int i = 0; i < b->n_tensors; i++) {
        const qs_tensor *tb = b->tensors[i], *tg = qs_model_tensor(g, tb->name);
        CHECK_MSG(tg != NULL, "tensor %s missing from the GGUF model", tb->name);
        if (!tg) continue;
        CHECK(tg->rows == tb->rows && tg->cols == tb->cols && !strcmp(tg->stored_type, "F32"));
        /* F32 in both files: the stored bytes themselves are the same */
        if (tg->rows == tb->rows && tg->cols == tb->cols && tg->n_bytes == tb->n_bytes &&
            memcmp(tg->data, tb->data, tb->n_bytes) == 0)
            identical++;
    }
    CHECK_MSG(identical == b->n_tensors, "%d of %d tensors identical", identical, b->n_tensors);
    const qs_tensor *out = qs_model_tensor(g, "output");
    CHECK(out && memcmp(out->data, b->w.token_embd->data, 512 * 64 * sizeof(float)) == 0);

    for (int s = 0; s < 3; s++) {
        char group[8];
        snprintf(group, sizeof group, "seq%d", s);
        int *tokens, T;
        float *ref;
        if (read_reference(group, &tokens, &ref, &T)) {
            CHECK_MSG(0, "cannot read %s", H5);
            break;
        }
        float *lg = run(g, tokens, T), *lb = run(b, tokens, T);
        if (lg && lb) {
            double same = max_diff(lg, lb, (size_t)T * 512),
                   vs_ref = max_diff(lg, ref, (size_t)T * 512);
            printf("%s: T %d, max |gguf - llama2c| %.3g, max |gguf - reference| %.3g\n", group, T,
                   same, vs_ref);
            CHECK_NEAR(same, 0, MAX_SAME_WEIGHTS_LOGIT_ERROR);
            CHECK_NEAR(vs_ref, 0, MAX_REFERENCE_LOGIT_ERROR);
        }
        free(lg);
        free(lb);
        free(tokens);
        free(ref);
    }
out:
    qs_model_free(g);
    qs_model_free(b);
}

/* Q8_0 / Q4_0 blocks of 32 along each row: |dequantized − f32| is at most one quantization
 * step of the block, amax/127 (Q8_0) or amax/8 (Q4_0), plus the fp16 rounding of the scale.
 * F16 tensors are within half an ulp of fp16 (2^-11 relative). */
static void check_quantized(const char *path, const char *qtype, double levels) {
    qs_model *q = load(path), *f = load(F32_GGUF);
    if (!q || !f) goto out;
    int n_q = 0, n_f16 = 0, n_f32 = 0, bad = 0;
    double worst_ratio = 0;
    for (int i = 0; i < f->n_tensors; i++) {
        const qs_tensor *tf_t = f->tensors[i], *tq_t = qs_model_tensor(q, tf_t->name);
        CHECK_MSG(tq_t && tq_t->rows == tf_t->rows && tq_t->cols == tf_t->cols, "%s: %s", path,
                  tf_t->name);
        if (!tq_t) continue;
        /* the values as the forward pass sees them: expanded from the stored type */
        struct {
            const char *name, *stored_type;
            int64_t rows, cols;
            float *data;
        } tf_v = {tf_t->name, tf_t->stored_type, tf_t->rows, tf_t->cols, tensor_values(tf_t)},
          tq_v = {tq_t->name, tq_t->stored_type, tq_t->rows, tq_t->cols, tensor_values(tq_t)},
          *tf = &tf_v, *tq = &tq_v;
        const char *st = tq->stored_type;
        /* the types llama-quantize chose (fixtures README, section 7) */
        const char *expect = tf->rows == 1                  ? "F32"
                             : strstr(tf->name, "ffn_down") ? "F16"
                             : !strcmp(tf->name, "output")  ? "Q8_0"
                                                            : qtype;
        CHECK_MSG(!strcmp(st, expect), "%s: %s stored as %s, expected %s", path, tf->name, st,
                  expect);
        int64_t n = tf->rows * tf->cols;
        if (!strcmp(st, "F32")) {
            n_f32++;
            if (memcmp(tq->data, tf->data, (size_t)n * sizeof(float))) bad++;
        } else if (!strcmp(st, "F16")) {
            n_f16++;
            for (int64_t j = 0; j < n; j++)
                if (fabs(tq->data[j] - tf->data[j]) > fabs(tf->data[j]) * 0x1p-11 + 0x1p-25) bad++;
        } else {
            n_q++;
            double lv = !strcmp(st, "Q8_0") ? 127 : levels;
            for (int64_t b0 = 0; b0 < n; b0 += 32) {
                double amax = 0, err = 0;
                for (int j = 0; j < 32; j++) {
                    amax = fmax(amax, fabs(tf->data[b0 + j]));
                    err = fmax(err, fabs((double)tq->data[b0 + j] - tf->data[b0 + j]));
                }
                double step = amax / lv * (1 + 0x1p-10);
                if (step > 0) worst_ratio = fmax(worst_ratio, err / step);
                if (err > step) bad++;
            }
        }
        free(tf_v.data);
        free(tq_v.data);
    }
    printf("%s: %d %s-or-Q8_0, %d F16, %d F32 tensors; worst block error %.3f quantization steps\n",
           path, n_q, qtype, n_f16, n_f32, worst_ratio);
    CHECK(n_q == 32 && n_f16 == 5 && n_f32 == 11);
    CHECK_MSG(bad == 0, "%s: %d values or blocks outside their bound", path, bad);
    /* quantization error is real but small: it must show, and must not wreck the model */
    CHECK(worst_ratio > 0.3);

    int *tokens, T;
    float *ref;
    if (read_reference("seq1", &tokens, &ref, &T)) {
        CHECK_MSG(0, "cannot read %s", H5);
        goto out;
    }
    float *lq = run(q, tokens, T), *lf = run(f, tokens, T);
    if (lq && lf) {
        double d = max_diff(lq, lf, (size_t)T * 512);
        int agree = 0;
        for (int t = 0; t < T; t++) {
            int aq = 0, af = 0;
            for (int v = 1; v < 512; v++) {
                if (lq[t * 512 + v] > lq[t * 512 + aq]) aq = v;
                if (lf[t * 512 + v] > lf[t * 512 + af]) af = v;
            }
            agree += aq == af;
        }
        printf("%s: max |logit - f32 logit| %.3g, argmax agrees at %d/%d positions\n", path, d,
               agree, T);
        CHECK(d > 0);
        CHECK(agree >= T * 3 / 4);
    }
    free(tokens);
    free(ref);
    free(lq);
    free(lf);
out:
    qs_model_free(q);
    qs_model_free(f);
}

static void test_vocab(void) {
    qs_model *g = load(F32_GGUF);
    qs_tokenizer *ref = NULL;
    int rc = qs_tokenizer_load_llama2c(&ref, "data/models/tok512.bin", 512);
    CHECK_MSG(rc == QS_OK, "%s", qs_error_message());
    if (!g || !g->tok || !ref) goto out;
    const qs_tokenizer *t = g->tok;
    CHECK(!strcmp(t->kind, "gguf-llama"));
    CHECK(t->n_vocab == 512 && t->bos_id == 1 && t->eos_id == 2 && t->add_bos == 1);
    const char *texts[] = {
        "Once upon a time, there was a little girl named Lily.",
        "Tom and his dog Max went to the park. They played with a big red ball all day.",
        "\"Hello!\" said the cat. 123 + 456 = 579; caf\xc3\xa9 na\xc3\xafve "
        "\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
        "a",
        "",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int *a, *b, na, nb;
        CHECK(qs_tokenizer_encode(t, texts[i], strlen(texts[i]), 1, &a, &na) == QS_OK);
        CHECK(qs_tokenizer_encode(ref, texts[i], strlen(texts[i]), 1, &b, &nb) == QS_OK);
        CHECK_MSG(na == nb && !memcmp(a, b, (size_t)na * sizeof(int)), "sentence %zu: %d vs %d ids",
                  i, na, nb);
        char *dec = NULL;
        CHECK(qs_tokenizer_decode(t, a, na, &dec) == QS_OK && dec && !strcmp(dec, texts[i]));
        free(dec);
        free(a);
        free(b);
    }
    /* sentencepiece's ids for the reference texts (BOS first) */
    int *rt, T;
    float *rl;
    if (!read_reference("seq2", &rt, &rl, &T)) {
        const char *s2 = "One day, a little bird named Sue saw a shiny stone near the river. She "
                         "picked it up and flew home to show her mom.";
        int *a, na;
        CHECK(qs_tokenizer_encode(t, s2, strlen(s2), 1, &a, &na) == QS_OK);
        CHECK_MSG(na == T && !memcmp(a, rt, (size_t)T * sizeof(int)), "seq2: %d ids vs %d", na, T);
        free(a);
        free(rt);
        free(rl);
    }
    /* a whole text file: the two tokenizers agree id for id */
    char *text;
    size_t len;
    if (qs_file_read("data/text/tinystories_v2_valid_head100.txt", 0, &text, &len) == QS_OK) {
        int *a, *b, na, nb;
        CHECK(qs_tokenizer_encode(t, text, len, 0, &a, &na) == QS_OK);
        CHECK(qs_tokenizer_encode(ref, text, len, 0, &b, &nb) == QS_OK);
        CHECK_MSG(na == nb && !memcmp(a, b, (size_t)na * sizeof(int)), "file: %d vs %d ids", na,
                  nb);
        printf("tinystories_v2_valid_head100.txt: %d tokens, identical ids\n", na);
        free(a);
        free(b);
        free(text);
    }
out:
    qs_tokenizer_free(ref);
    qs_model_free(g);
}

/* The GPT-2 vocabulary GGUF from llama.cpp: HF's ids for llama.cpp's 46 test strings. */
static void test_vocab_gpt2(void) {
    qs_gguf *g = NULL;
    qs_tokenizer *t = NULL;
    int rc = qs_gguf_open(&g, "tests/fixtures/gpt2-bpe/ggml-vocab-gpt-2.gguf");
    if (!rc) rc = qs__gguf_tokenizer_new(&t, g);
    CHECK_MSG(rc == QS_OK && t, "%s", qs_error_message());
    qs_gguf_free(g);
    if (!t) return;
    CHECK(!strcmp(t->kind, "gguf-gpt2") && t->n_vocab == 50257);
    CHECK(t->bos_id == 50256 && t->eos_id == 50256 && t->add_bos == 0);
    int strings;
    int agree = vocab_vectors(t, "tests/fixtures/gpt2-bpe/ggml-vocab-gpt-2.gguf.inp",
                              "tests/fixtures/gpt2-bpe/ggml-vocab-gpt-2.gguf.out", 1, &strings);
    CHECK_MSG(strings == 46 && agree == 46, "%d of %d strings agree", agree, strings);
    printf("ggml-vocab-gpt-2.gguf: %d of %d strings encode to HF's ids\n", agree, strings);
    qs_tokenizer_free(t);
}

int main(void) {
    test_f32_vs_llama2c();
    check_quantized(Q8_GGUF, "Q8_0", 127);
    check_quantized(Q4_GGUF, "Q4_0", 8);
    test_vocab();
    test_vocab_gpt2();
    return check_summary("test_gguf_load");
}
