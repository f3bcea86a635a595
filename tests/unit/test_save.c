/* The checkpoint writers (core/formats/save.h) on stories260K:
 *  - saved as f32 in each format (llama2.c, GGUF, Hugging Face sharded), the model reloads
 *    with every tensor equal bit for bit and the same logits bit for bit (the Hugging Face
 *    writer puts q/k rows back in rotate_half order; the loader undoes it);
 *  - bf16 and f16 files hold exactly the rounded values, and reload in that type;
 *  - a W4 twin saved as f32 reloads as exactly its packed values;
 *  - what a format cannot hold is refused by name, and nothing is left behind. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "error.h"
#include "forward.h"
#include "fp16.h"
#include "save.h"
#include "tensor_util.h"
#include "weight_quant.h"

#define MODEL "data/models/stories260K.bin"
#define TOK   "data/models/tok512.bin"
#define T     40

static char dir[64];

static float *logits(const qs_model *m) {
    int tok[T];
    for (int t = 0; t < T; t++) tok[t] = (t * 53 + 7) % m->cfg.vocab_size;
    float *y = malloc((size_t)T * m->cfg.vocab_size * sizeof *y);
    qs_forward_state st;
    QS_ASSERT(qs_forward_init(&st, m, T, T) == QS_OK);
    QS_ASSERT(qs_forward(&st, tok, T, 0, y, 0, NULL) == QS_OK);
    qs_forward_free(&st);
    return y;
}

static qs_model *reload(const char *path) {
    qs_model *m = NULL;
    int rc = qs_model_load(&m, path, TOK);
    CHECK_MSG(rc == QS_OK, "%s: %s", path, qs_error_message());
    return m;
}

static void rm_tree(const char *p) {
    DIR *d = opendir(p);
    if (!d) {
        unlink(p);
        return;
    }
    struct dirent *e;
    char q[512];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(q, sizeof q, "%s/%s", p, e->d_name);
            unlink(q);
        }
    closedir(d);
    rmdir(p);
}

static void test_f32_round_trip(const qs_model *m, const float *ref) {
    const char *names[] = {"x.bin", "x.gguf", "xhf"};
    int formats[] = {QS_SAVE_LLAMA2C, QS_SAVE_GGUF, QS_SAVE_HF};
    size_t nl = (size_t)T * m->cfg.vocab_size;
    for (int k = 0; k < 3; k++) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        /* shards of ~100 kB: several files and an index for the Hugging Face one */
        int rc = qs_model_save(m, path, formats[k], QS_GGML_F32, 100000);
        CHECK_MSG(rc == QS_OK, "%s: %s", path, qs_error_message());
        qs_model *r = reload(path);
        if (!r) continue;
        int same = r->n_tensors == m->n_tensors;
        for (int i = 0; same && i < m->n_tensors; i++)
            same = tensor_values_equal(m->tensors[i], qs_model_tensor(r, m->tensors[i]->name));
        CHECK_MSG(same, "%s: tensors differ after the round trip", path);
        float *y = logits(r);
        CHECK_MSG(!memcmp(y, ref, nl * sizeof *y), "%s: logits differ", path);
        free(y);
        qs_model_free(r);
    }
    char idx[128];
    snprintf(idx, sizeof idx, "%s/xhf/model.safetensors.index.json", dir);
    CHECK(access(idx, F_OK) == 0);
}

static void test_half_types(const qs_model *m) {
    uint32_t types[] = {QS_GGML_BF16, QS_GGML_F16};
    for (int k = 0; k < 2; k++) {
        char path[128];
        snprintf(path, sizeof path, "%s/h%d", dir, k);
        CHECK(qs_model_save(m, path, QS_SAVE_HF, types[k], 0) == QS_OK);
        qs_model *r = reload(path);
        if (!r) continue;
        const qs_tensor *a = qs_model_tensor(m, "blk.2.ffn_up"),
                        *b = qs_model_tensor(r, "blk.2.ffn_up");
        CHECK(b && b->type == types[k] && b->data >= (const uint8_t *)r->map);
        float *x = tensor_values(a), *y = tensor_values(b);
        int bad = 0;
        for (int64_t i = 0; x && y && i < qs_tensor_numel(a); i++) {
            float want = types[k] == QS_GGML_BF16 ? qs_bf16_to_f32(qs_bf16_from_f32(x[i]))
                                                  : qs_fp16_round(x[i]);
            bad += y[i] != want;
        }
        CHECK_MSG(bad == 0, "%s: %d values are not the rounded originals", qs_dtype_name(types[k]),
                  bad);
        free(x), free(y);
        qs_model_free(r);
    }
    /* GGUF Q8_0 needs rows of whole 32-value blocks: stories260K's hidden 172 is not */
    char path[128];
    snprintf(path, sizeof path, "%s/q.gguf", dir);
    CHECK(qs_model_save(m, path, QS_SAVE_GGUF, QS_GGML_Q8_0, 0) == QS_ERR_UNSUPPORTED);
    CHECK(strstr(qs_error_message(), "multiple of 32") != NULL);
    CHECK(access(path, F_OK) != 0);
}

static void test_twin_and_refusals(const qs_model *m) {
    qs_model *tw = NULL;
    qs_quant_config cfg;
    CHECK(qs_quant_config_parse(&cfg, "W4A16 g64") == QS_OK);
    CHECK(qs_wquant_twin(&tw, m, &cfg.w, QS_SITE_ALL, NULL) == QS_OK);
    char path[128];
    snprintf(path, sizeof path, "%s/w4.gguf", dir);
    CHECK(qs_model_save(tw, path, QS_SAVE_GGUF, QS_GGML_F32, 0) == QS_OK);
    qs_model *r = reload(path);
    if (r && tw) {
        float *a = logits(tw), *b = logits(r);
        CHECK_MSG(!memcmp(a, b, (size_t)T * m->cfg.vocab_size * sizeof *a),
                  "a saved W4 twin computes what the twin computed");
        free(a), free(b);
    }
    qs_model_free(r);
    qs_model_free(tw);
    /* biases do not fit llama2.c or llama-arch GGUF files */
    qs_config c = m->cfg;
    c.has_qkv_bias = 1;
    qs_save_tensor *t;
    int n;
    CHECK(qs_save_plan(&t, &n, &c, QS_SAVE_GGUF, QS_GGML_F32, QS_GGML_F32) == QS_ERR_UNSUPPORTED);
    CHECK(strstr(qs_error_message(), "biases") != NULL);
    CHECK(qs_save_plan(&t, &n, &c, QS_SAVE_LLAMA2C, QS_GGML_F32, QS_GGML_F32) ==
          QS_ERR_UNSUPPORTED);
    CHECK(qs_save_plan(&t, &n, &c, QS_SAVE_HF, QS_GGML_BF16, QS_GGML_BF16) == QS_OK);
    int biases = 0;
    for (int i = 0; i < n; i++) biases += t[i].role == QS_SAVE_BIAS;
    CHECK(biases == 3 * c.n_layers);
    free(t);
    CHECK(qs_save_plan(&t, &n, &m->cfg, QS_SAVE_HF, QS_GGML_Q8_0, QS_GGML_F32) ==
          QS_ERR_UNSUPPORTED);
    /* an existing model directory is not overwritten */
    snprintf(path, sizeof path, "%s/xhf", dir);
    CHECK(qs_model_save(m, path, QS_SAVE_HF, QS_GGML_F32, 0) == QS_ERR_IO);
    CHECK(strstr(qs_error_message(), "config.json") != NULL);
    CHECK(qs_save_dtype_parse("BF16") == QS_GGML_BF16 && qs_save_dtype_parse("q5_k") < 0);
    CHECK(qs_save_format_parse("hf") == QS_SAVE_HF && qs_save_format_parse("onnx") < 0);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/qs_save_XXXXXX");
    QS_ASSERT(mkdtemp(dir) != NULL);
    qs_model *m = NULL;
    QS_ASSERT(qs_model_load(&m, MODEL, TOK) == QS_OK);
    float *ref = logits(m);
    test_f32_round_trip(m, ref);
    test_half_types(m);
    test_twin_and_refusals(m);
    free(ref);
    qs_model_free(m);
    const char *sub[] = {"xhf", "h0", "h1"};
    for (int i = 0; i < 3; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s/%s", dir, sub[i]);
        rm_tree(p);
    }
    rm_tree(dir);
    return check_summary("test_save");
}
