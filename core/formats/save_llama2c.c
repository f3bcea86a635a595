#include "save_llama2c.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"

static int check_representable(const qs_model *m) {
    const qs_config *c = &m->cfg;
    const char *why = NULL;
    if (c->n_heads * c->head_dim != c->dim)
        why = "n_heads * head_dim differs from dim";
    else if (c->has_qkv_bias)
        why = "q/k/v biases";
    else if (c->rope_layout != QS_ROPE_INTERLEAVED)
        why = "half-split (Hugging Face) RoPE layout";
    else if (c->rope_theta != 10000.0f)
        why = "RoPE theta other than 10000";
    else if (c->rope_scale_factor > 0.0f)
        why = "RoPE scaling";
    else if (c->norm_eps != 1e-5f)
        why = "RMSNorm eps other than 1e-5";
    else if (m->online.fn)
        why = "an online activation transform (a rotated ffn_down_in)";
    if (why)
        return qs_error_set(QS_ERR_UNSUPPORTED,
                            "%s: the llama2.c format cannot hold this model (%s)", m->path, why);
    return QS_OK;
}

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

/* One array of every layer, read through the field at offset off of qs_layer_weights. */
static void put_layers(writer *w, const qs_model *m, size_t off, size_t n) {
    for (int l = 0; l < m->cfg.n_layers; l++)
        put(w, *(float *const *)((const char *)&m->w.layers[l] + off), sizeof(float), n);
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

#define LW(f) offsetof(qs_layer_weights, f)

int qs_llama2c_save(const qs_model *m, const char *path) {
    int rc = check_representable(m);
    if (rc) return rc;
    const qs_config *c = &m->cfg;
    qs_file_out out;
    if ((rc = qs_file_out_open(&out, path))) return rc;
    writer w = {out.f, path, QS_OK};
    size_t D = c->dim, H = c->hidden_dim, V = c->vocab_size;
    size_t K = (size_t)c->n_kv_heads * c->head_dim;
    int32_t hdr[7] = {c->dim,        c->hidden_dim,
                      c->n_layers,   c->n_heads,
                      c->n_kv_heads, c->tied_classifier ? c->vocab_size : -c->vocab_size,
                      c->seq_len};
    put(&w, hdr, sizeof hdr, 1);
    put(&w, m->w.token_embd, sizeof(float), V * D);
    put_layers(&w, m, LW(attn_norm), D);
    put_layers(&w, m, LW(wq), D * D);
    put_layers(&w, m, LW(wk), K * D);
    put_layers(&w, m, LW(wv), K * D);
    put_layers(&w, m, LW(wo), D * D);
    put_layers(&w, m, LW(ffn_norm), D);
    put_layers(&w, m, LW(w_gate), H * D);
    put_layers(&w, m, LW(w_down), D * H);
    put_layers(&w, m, LW(w_up), H * D);
    put(&w, m->w.output_norm, sizeof(float), D);
    put_freqs(&w, c, 0);
    put_freqs(&w, c, 1);
    if (!c->tied_classifier) put(&w, m->w.output, sizeof(float), V * D);
    rc = w.rc;
    if (rc)
        qs_file_out_abort(&out);
    else
        rc = qs_file_out_commit(&out);
    return rc;
}
