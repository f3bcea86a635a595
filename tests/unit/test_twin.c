/* Twins (model.h): a model that shares every tensor it does not change with its base.
 *  - a fresh twin points at its base's tensor records, roles and tokenizer (pointer
 *    identity) and allocates nothing for weights;
 *  - weight quantization replaces exactly the linear weights it selects with packed tensors
 *    the twin owns (their bytes are the packed bytes), leaves every other pointer shared and
 *    the base untouched; its logits equal those of fake-quantizing f32 copies, bit for bit;
 *  - the twin keeps its base alive: freeing the base first is safe, and each frees only its
 *    own blocks (the ASan build checks leaks and use after free);
 *  - a read-only model file stays byte-identical after planting, quantized evaluation and
 *    saving (the mapping is never written). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "error.h"
#include "eval.h"
#include "fileio.h"
#include "forward.h"
#include "plant.h"
#include "save_llama2c.h"
#include "tensor_util.h"
#include "text.h"
#include "weight_quant.h"

#define MODEL "data/models/stories260K.bin"
#define TOK   "data/models/tok512.bin"
#define TEXT  "data/text/tinystories_v2_valid_head100.txt"
#define T     48

static float *logits(const qs_model *m, const int *tok) {
    float *y = malloc((size_t)T * m->cfg.vocab_size * sizeof *y);
    qs_forward_state st;
    QS_ASSERT(qs_forward_init(&st, m, T, T) == QS_OK);
    QS_ASSERT(qs_forward(&st, tok, T, 0, y, 0, NULL) == QS_OK);
    qs_forward_free(&st);
    return y;
}

static int is_linear(const char *name) {
    const char *w[] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                       "ffn_gate", "ffn_up", "ffn_down"};
    const char *dot = strrchr(name, '.');
    for (int i = 0; dot && i < 7; i++)
        if (!strcmp(dot + 1, w[i])) return 1;
    return 0;
}

static void test_share_and_quantize(const char *path) {
    qs_model *base = NULL, *twin = NULL, *fq = NULL;
    QS_ASSERT(qs_model_load(&base, path, TOK) == QS_OK);
    size_t base_alloc = qs_model_weight_alloc_bytes(base);
    const qs_tensor *before[64];
    QS_ASSERT(base->n_tensors <= 64);
    for (int i = 0; i < base->n_tensors; i++) before[i] = base->tensors[i];

    CHECK(qs_model_twin(&twin, base) == QS_OK);
    CHECK(twin->n_tensors == base->n_tensors && twin->tok == base->tok && twin->tok_borrowed);
    int same = 1;
    for (int i = 0; i < base->n_tensors; i++) same &= twin->tensors[i] == base->tensors[i];
    same &= twin->w.token_embd == base->w.token_embd && twin->w.output == base->w.output;
    for (int l = 0; l < base->cfg.n_layers; l++)
        same &= !memcmp(&twin->w.layers[l], &base->w.layers[l], sizeof(qs_layer_weights));
    CHECK_MSG(same, "a fresh twin shares every tensor record");
    CHECK(qs_model_weight_alloc_bytes(twin) == 0);
    CHECK(qs_model_mapped_bytes(twin) == qs_model_mapped_bytes(base));

    qs_quant_config cfg;
    CHECK(qs_quant_config_parse(&cfg, "W4A16 g32") == QS_OK);
    qs_wquant_report rep;
    CHECK(qs_wquant_apply(twin, &cfg.w, QS_SITE_ALL, &rep) == QS_OK);
    CHECK(rep.n_tensors == 7 * base->cfg.n_layers);
    int shared = 0, packed = 0, wrong = 0;
    double packed_bytes = 0;
    for (int i = 0; i < base->n_tensors; i++) {
        const qs_tensor *t = twin->tensors[i];
        CHECK(base->tensors[i] == before[i]); /* the base's table never changes */
        if (is_linear(t->name)) {
            packed += t->type == QS_DTYPE_PACKED && qs_model_owns(twin, t) &&
                      !qs_model_owns(base, t) && !strcmp(t->stored_type, "W4 g32");
            packed_bytes += (double)t->n_bytes;
            wrong += before[i]->type != QS_GGML_F32; /* the base's weight is still f32 */
        } else {
            shared += t == before[i];
        }
    }
    CHECK_MSG(packed == rep.n_tensors, "%d packed twin tensors", packed);
    CHECK_MSG(shared == base->n_tensors - rep.n_tensors, "%d shared tensors", shared);
    CHECK(wrong == 0);
    CHECK(packed_bytes == rep.packed_bytes);
    /* the twin's weight memory is its packed bytes plus the tensor records */
    size_t own = qs_model_weight_alloc_bytes(twin);
    CHECK_MSG(own >= packed_bytes && own < packed_bytes + 64 * 1024, "twin owns %zu bytes", own);
    CHECK(qs_model_weight_alloc_bytes(base) == base_alloc);
    /* the bytes are the bits per value the report prints (4 + 16/32, more where a row's last
     * group is short), against 32 for the f32 original */
    CHECK_MSG(fabs(packed_bytes * 8 / rep.n_values - rep.bits_per_value) < 0.01,
              "%.4f bits in memory, %.4f reported", packed_bytes * 8 / rep.n_values,
              rep.bits_per_value);
    CHECK(rep.bits_per_value > 4.5 && rep.bits_per_value < 4.6);

    /* the same logits as fake-quantizing f32 copies in place, bit for bit */
    CHECK(qs_model_twin(&fq, base) == QS_OK);
    for (int i = 0; i < fq->n_tensors; i++) {
        const qs_tensor *t = fq->tensors[i];
        if (!is_linear(t->name)) continue;
        float *w = qs_model_tensor_f32_own(fq, t);
        QS_ASSERT(w != NULL);
        CHECK(qs_quant_fake(w, w, (int)t->rows, (int)t->cols, &cfg.w.spec, NULL, NULL) == QS_OK);
    }
    int tok[T];
    for (int t = 0; t < T; t++) tok[t] = (t * 37 + 11) % base->cfg.vocab_size;
    float *a = logits(twin, tok), *b = logits(fq, tok), *c = logits(base, tok);
    size_t nl = (size_t)T * base->cfg.vocab_size;
    CHECK_MSG(memcmp(a, b, nl * sizeof *a) == 0, "packed twin vs fake-quantized copy");
    CHECK(memcmp(a, c, nl * sizeof *a) != 0); /* W4 does change the logits */

    /* the base may go first: the twins keep it (and its mapping) alive */
    qs_model_free(base);
    float *a2 = logits(twin, tok), *c2 = logits(fq, tok);
    CHECK(memcmp(a, a2, nl * sizeof *a) == 0 && memcmp(b, c2, nl * sizeof *a) == 0);
    qs_model_free(fq);
    qs_model_free(twin);
    free(a), free(b), free(c), free(a2), free(c2);
}

static unsigned char *read_all(const char *path, size_t *n) {
    char *d;
    if (qs_file_read(path, 0, &d, n) != QS_OK) return NULL;
    return (unsigned char *)d;
}

static void test_read_only_file(void) {
    char dir[] = "/tmp/qs_twin_XXXXXX";
    QS_ASSERT(mkdtemp(dir) != NULL);
    char path[256], out[256];
    snprintf(path, sizeof path, "%s/model.bin", dir);
    snprintf(out, sizeof out, "%s/planted.bin", dir);
    size_t n0, n1;
    unsigned char *orig = read_all(MODEL, &n0);
    QS_ASSERT(orig != NULL);
    FILE *f = fopen(path, "wb");
    QS_ASSERT(f && fwrite(orig, 1, n0, f) == n0);
    fclose(f);
    chmod(path, 0444);

    test_share_and_quantize(path);

    qs_model *m = NULL;
    QS_ASSERT(qs_model_load(&m, path, TOK) == QS_OK);
    qs_plant_spec p[2] = {{QS_SITE_ATTN_IN, 1, 7, 100.0}, {QS_SITE_FFN_DOWN_IN, 2, 100, 100.0}};
    CHECK(qs_plant_apply(m, p, 2) == QS_OK); /* planting the loaded model itself */
    CHECK(qs_llama2c_save(m, out) == QS_OK);
    qs_text text;
    qs_windows ws;
    qs_window_opts wo;
    qs_window_opts_default(&wo);
    wo.ctx = 64;
    wo.max_tokens = 256;
    QS_ASSERT(qs_text_load(&text, TEXT, QS_UTF8_STRICT) == QS_OK);
    QS_ASSERT(qs_windows_build(&ws, m->tok, text.data, text.len, &wo) == QS_OK);
    qs_quant_config cfg;
    qs_eval_result r;
    CHECK(qs_quant_config_parse(&cfg, "W4A8 g32") == QS_OK);
    CHECK(qs_eval(m, &ws, &cfg, QS_SITE_ALL, NULL, &r) == QS_OK);
    CHECK(r.kld.kld_mean > 0 && r.w.n_tensors == 35);
    qs_windows_free(&ws);
    qs_text_free(&text);
    qs_model_free(m);

    unsigned char *after = read_all(path, &n1);
    CHECK_MSG(after && n1 == n0 && memcmp(after, orig, n0) == 0,
              "the model file changed after plant, eval and save");
    /* the planted copy reloads and differs from the original only where planted */
    qs_model *a = NULL, *b = NULL;
    CHECK(qs_model_load(&a, out, TOK) == QS_OK && qs_model_load(&b, path, TOK) == QS_OK);
    if (a && b) {
        CHECK(tensor_values_equal(qs_model_tensor(a, "blk.0.attn_q"),
                                  qs_model_tensor(b, "blk.0.attn_q")));
        CHECK(!tensor_values_equal(qs_model_tensor(a, "blk.1.attn_q"),
                                   qs_model_tensor(b, "blk.1.attn_q")));
    }
    qs_model_free(a);
    qs_model_free(b);
    free(orig);
    free(after);
    unlink(out);
    chmod(path, 0644);
    unlink(path);
    rmdir(dir);
}

int main(void) {
    test_read_only_file();
    return check_summary("test_twin");
}
