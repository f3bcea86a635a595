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

/* One tensor as f32, expanded a block of rows at a time: the model's memory grows by one
 * block, whatever the tensor's size or stored type. */
static void put_tensor(writer *w, const qs_tensor *t) {
    if (w->rc) return;
    if (t->f32) {
        put(w, t->f32, sizeof(float), (size_t)qs_tensor_numel(t));
        return;
    }
    int64_t block = t->cols >= (1 << 20) ? 1 : (1 << 20) / t->cols;
    float *buf = malloc((size_t)block * (size_t)t->cols * sizeof *buf);
    if (!buf) {
        w->rc = qs_error_set(QS_ERR_NOMEM, "%s: out of memory writing %s", w->path, t->name);
        return;
    }
    for (int64_t r0 = 0; r0 < t->rows && !w->rc; r0 += block) {
        int64_t n = t->rows - r0 < block ? t->rows - r0 : block;
        qs_tensor_rows(buf, t, r0, n);
        put(w, buf, sizeof(float), (size_t)(n * t->cols));
    }
    free(buf);
}

/* One array of every layer, read through the field at offset off of qs_layer_weights. */
static void put_layers(writer *w, const qs_model *m, size_t off) {
    for (int l = 0; l < m->cfg.n_layers; l++)
        put_tensor(w, *(const qs_tensor *const *)((const char *)&m->w.layers[l] + off));
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
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) return qs_error_set(QS_ERR_NOMEM, "%s: out of memory", path);
    snprintf(tmp, plen + 16, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        rc = qs_error_set(QS_ERR_IO, "%s: cannot create a file in its directory: %s", path,
                          strerror(errno));
        free(tmp);
        return rc;
    }
    mode_t mask = umask(0); /* mkstemp makes 0600; give the file the usual permissions */
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0) { /* not fatal: the file is only more private */
    }
    writer w = {fdopen(fd, "wb"), path, QS_OK};
    if (!w.f) {
        rc = qs_error_set(QS_ERR_IO, "%s: cannot open: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        free(tmp);
        return rc;
    }
    int32_t hdr[7] = {c->dim,        c->hidden_dim,
                      c->n_layers,   c->n_heads,
                      c->n_kv_heads, c->tied_classifier ? c->vocab_size : -c->vocab_size,
                      c->seq_len};
    put(&w, hdr, sizeof hdr, 1);
    put_tensor(&w, m->w.token_embd);
    put_layers(&w, m, LW(attn_norm));
    put_layers(&w, m, LW(wq));
    put_layers(&w, m, LW(wk));
    put_layers(&w, m, LW(wv));
    put_layers(&w, m, LW(wo));
    put_layers(&w, m, LW(ffn_norm));
    put_layers(&w, m, LW(w_gate));
    put_layers(&w, m, LW(w_down));
    put_layers(&w, m, LW(w_up));
    put_tensor(&w, m->w.output_norm);
    put_freqs(&w, c, 0);
    put_freqs(&w, c, 1);
    if (!c->tied_classifier) put_tensor(&w, m->w.output);
    rc = w.rc;
    if (rc == QS_OK && (fflush(w.f) != 0 || fsync(fileno(w.f)) != 0))
        rc = qs_error_set(QS_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    if (fclose(w.f) != 0 && rc == QS_OK)
        rc = qs_error_set(QS_ERR_IO, "%s: close failed: %s", path, strerror(errno));
    if (rc == QS_OK && rename(tmp, path) != 0)
        rc = qs_error_set(QS_ERR_IO, "%s: cannot replace it: %s", path, strerror(errno));
    if (rc) unlink(tmp);
    free(tmp);
    return rc;
}
