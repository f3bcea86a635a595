/* The model container shared by every loader: config checks, owned storage, tensor index. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"

/* Bounds that no real LLaMA-family checkpoint exceeds; they stop absurd headers from
 * turning into huge allocations or size_t overflows. */
#define QS_MAX_DIM    (1 << 17)
#define QS_MAX_LAYERS 1024
#define QS_MAX_VOCAB  (1 << 22)
#define QS_MAX_SEQ    (1 << 22)

void qs_config_defaults(qs_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->arch, sizeof c->arch, "llama");
    c->rope_theta = 10000.0f;
    c->norm_eps = 1e-5f;
    c->rope_layout = QS_ROPE_INTERLEAVED;
    c->bos_id = 1;
    c->eos_id = 2;
}

int qs_config_validate(const qs_config *c, const char *what) {
    struct {
        const char *name;
        int v, max;
    } dims[] = {
        {"dim", c->dim, QS_MAX_DIM},
        {"hidden_dim", c->hidden_dim, 4 * QS_MAX_DIM},
        {"n_layers", c->n_layers, QS_MAX_LAYERS},
        {"n_heads", c->n_heads, QS_MAX_DIM},
        {"n_kv_heads", c->n_kv_heads, QS_MAX_DIM},
        {"head_dim", c->head_dim, QS_MAX_DIM},
        {"vocab_size", c->vocab_size, QS_MAX_VOCAB},
        {"seq_len", c->seq_len, QS_MAX_SEQ},
    };
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        if (dims[i].v <= 0 || dims[i].v > dims[i].max)
            return qs_error_set(QS_ERR_FORMAT, "%s: %s = %d is out of range (expected 1..%d)", what,
                                dims[i].name, dims[i].v, dims[i].max);
    }
    if (c->n_heads % c->n_kv_heads != 0)
        return qs_error_set(QS_ERR_FORMAT, "%s: n_kv_heads = %d does not divide n_heads = %d", what,
                            c->n_kv_heads, c->n_heads);
    if (c->head_dim % 2 != 0)
        return qs_error_set(QS_ERR_FORMAT, "%s: head_dim = %d is odd (RoPE rotates pairs)", what,
                            c->head_dim);
    if (!(c->rope_theta > 0.0f) || !isfinite(c->rope_theta))
        return qs_error_set(QS_ERR_FORMAT, "%s: rope_theta = %g must be positive", what,
                            (double)c->rope_theta);
    if (!(c->norm_eps > 0.0f) || !isfinite(c->norm_eps))
        return qs_error_set(QS_ERR_FORMAT, "%s: norm_eps = %g must be positive", what,
                            (double)c->norm_eps);
    if (c->bos_id >= c->vocab_size || c->eos_id >= c->vocab_size)
        return qs_error_set(QS_ERR_FORMAT, "%s: bos/eos id (%d/%d) outside the vocabulary (%d)",
                            what, c->bos_id, c->eos_id, c->vocab_size);
    return QS_OK;
}

qs_model *qs__model_new(const char *path, const char *format) {
    qs_model *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    snprintf(m->path, sizeof m->path, "%s", path);
    snprintf(m->format, sizeof m->format, "%s", format);
    qs_config_defaults(&m->cfg);
    return m;
}

static int model_track(qs_model *m, void *p) {
    if (m->n_owned == m->cap_owned) {
        int cap = m->cap_owned ? 2 * m->cap_owned : 64;
        void **o = realloc(m->owned, (size_t)cap * sizeof *o);
        if (!o) return QS_ERR_NOMEM;
        m->owned = o;
        m->cap_owned = cap;
    }
    m->owned[m->n_owned++] = p;
    return QS_OK;
}

float *qs__model_alloc(qs_model *m, size_t n_floats) {
    if (n_floats == 0) n_floats = 1;
    if (n_floats > SIZE_MAX / sizeof(float)) return NULL;
    float *p = calloc(n_floats, sizeof(float));
    if (!p) return NULL;
    if (model_track(m, p) != QS_OK) {
        free(p);
        return NULL;
    }
    return p;
}

int qs__model_add_tensor(qs_model *m, const char *name, float *data, int64_t rows, int64_t cols,
                         const char *stored_type) {
    if (m->n_tensors % 64 == 0) {
        qs_tensor *t = realloc(m->tensors, (size_t)(m->n_tensors + 64) * sizeof *t);
        if (!t) return qs_error_set(QS_ERR_NOMEM, "out of memory indexing tensors");
        m->tensors = t;
    }
    qs_tensor *t = &m->tensors[m->n_tensors++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->data = data;
    t->rows = rows;
    t->cols = cols;
    snprintf(t->stored_type, sizeof t->stored_type, "%s", stored_type ? stored_type : "F32");
    return QS_OK;
}

int qs__model_index_weights(qs_model *m, const char *stored_type) {
    const qs_config *c = &m->cfg;
    int64_t D = c->dim, H = c->hidden_dim, V = c->vocab_size;
    int64_t Q = (int64_t)c->n_heads * c->head_dim, K = (int64_t)c->n_kv_heads * c->head_dim;
    int rc = qs__model_add_tensor(m, "token_embd", m->w.token_embd, V, D, stored_type);
    for (int l = 0; l < c->n_layers && rc == QS_OK; l++) {
        const qs_layer_weights *lw = &m->w.layers[l];
        struct {
            const char *n;
            float *p;
            int64_t r, k;
        } t[] = {
            {"attn_norm", lw->attn_norm, 1, D}, {"attn_q", lw->wq, Q, D},
            {"attn_k", lw->wk, K, D},           {"attn_v", lw->wv, K, D},
            {"attn_output", lw->wo, D, Q},      {"ffn_norm", lw->ffn_norm, 1, D},
            {"ffn_gate", lw->w_gate, H, D},     {"ffn_down", lw->w_down, D, H},
            {"ffn_up", lw->w_up, H, D},
        };
        for (size_t i = 0; i < sizeof t / sizeof t[0] && rc == QS_OK; i++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s", l, t[i].n);
            rc = qs__model_add_tensor(m, name, t[i].p, t[i].r, t[i].k, stored_type);
        }
    }
    if (rc == QS_OK)
        rc = qs__model_add_tensor(m, "output_norm", m->w.output_norm, 1, D, stored_type);
    if (rc == QS_OK && !c->tied_classifier)
        rc = qs__model_add_tensor(m, "output", m->w.output, V, D, stored_type);
    return rc;
}

void qs_model_free(qs_model *m) {
    if (!m) return;
    if (m->online.release) m->online.release(m->online.user);
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    free(m->tensors);
    free(m->w.layers);
    if (m->map) qs_file_unmap(m->map, m->map_size);
    if (!m->tok_borrowed) qs_tokenizer_free(m->tok);
    free(m);
}

int64_t qs_model_param_count(const qs_model *m) {
    int64_t n = 0;
    for (int i = 0; i < m->n_tensors; i++) n += m->tensors[i].rows * m->tensors[i].cols;
    return n;
}

qs_tensor *qs_model_tensor(qs_model *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

/* A /proc/meminfo field in bytes, or -1. */
static double meminfo(const char *key) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return -1;
    char line[256];
    double v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            v = strtod(line + kl + 1, NULL) * 1024.0;
            break;
        }
    fclose(f);
    return v;
}

static double vm_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f) {
        if (fscanf(f, "%lu", &pages) != 1) pages = 0;
        fclose(f);
    }
    return (double)pages * (double)sysconf(_SC_PAGESIZE);
}

int qs__model_check_memory(const char *path, uint64_t bytes) {
    double need = (double)bytes, avail = -1;
    const char *which = "";
    double mem = meminfo("MemAvailable"), swap = meminfo("SwapFree");
    if (mem >= 0) {
        avail = mem + (swap > 0 ? swap : 0);
        which = "available memory";
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        double room = (double)rl.rlim_cur - vm_bytes();
        if (room < 0) room = 0;
        if (avail < 0 || room < avail)
            avail = room, which = "room under the address-space limit (ulimit -v)";
    }
    if (getrlimit(RLIMIT_DATA, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        double room = (double)rl.rlim_cur; /* heap and private mappings together, roughly */
        if (avail < 0 || room < avail) avail = room, which = "the data-size limit (ulimit -d)";
    }
    if (avail < 0 || need <= avail) return QS_OK;
    return qs_error_set(QS_ERR_NOMEM,
                        "%s: loading needs %.1f GiB to hold the weights as float32, more than the "
                        "%.1f GiB of %s; refusing before allocating",
                        path, need / 1073741824.0, avail / 1073741824.0, which);
}
