/* The llama2.c writer (save_llama2c.h, save.h): the legacy header, then the plan's f32
 * arrays in file order with the RoPE tables after rms_final. */
#include "save_llama2c.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "save.h"

typedef struct writer {
    FILE *f;
    const char *path;
    int rc;
} writer;

static void put(writer *w, const void *p, size_t size, size_t n) {
    if (w->rc || n == 0) return;
    if (fwrite(p, size, n, w->f) != n)
        w->rc = qs_error_set(QS_ERR_IO, "%s: write failed: %s", w->path, strerror(errno));
}

/* RoPE tables as llama2.c's export writes them: angle t · theta^(-2i/head_dim). */
static void put_freqs(writer *w, const qs_config *c, int imag) {
    int half = c->head_dim / 2;
    float row[512];
    for (int t = 0; t < c->seq_len && !w->rc; t++) {
        for (int i0 = 0; i0 < half; i0 += 512) {
            int k = half - i0 < 512 ? half - i0 : 512;
            for (int i = 0; i < k; i++) {
                float freq = 1.0f / powf(c->rope_theta, (float)(2 * (i0 + i)) / (float)c->head_dim);
                float a = (float)t * freq;
                row[i] = imag ? sinf(a) : cosf(a);
            }
            put(w, row, sizeof(float), (size_t)k);
        }
    }
}

int qs_llama2c_write(const char *path, const qs_config *c, const qs_save_tensor *t, int n,
                     qs_save_rows_fn fn, void *user) {
    qs_file_out out;
    int rc = qs_file_out_open(&out, path);
    if (rc) return rc;
    writer w = {out.f, path, QS_OK};
    int32_t hdr[7] = {c->dim,        c->hidden_dim,
                      c->n_layers,   c->n_heads,
                      c->n_kv_heads, c->tied_classifier ? c->vocab_size : -c->vocab_size,
                      c->seq_len};
    put(&w, hdr, sizeof hdr, 1);
    for (int i = 0; i < n && !w.rc; i++) {
        w.rc = qs__save_put(w.f, path, &t[i], i, fn, user);
        if (!w.rc && !strcmp(t[i].qs_name, "output_norm")) {
            put_freqs(&w, c, 0);
            put_freqs(&w, c, 1);
        }
    }
    rc = w.rc;
    if (rc)
        qs_file_out_abort(&out);
    else
        rc = qs_file_out_commit(&out);
    return rc;
}

int qs_llama2c_save(const qs_model *m, const char *path) {
    return qs_model_save(m, path, QS_SAVE_LLAMA2C, QS_GGML_F32, 0);
}
