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
#include "memstat.h"

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
    m->refs = 1;
    return m;
}

static int model_track(qs_model *m, void *p, size_t bytes) {
    if (m->n_owned == m->cap_owned) {
        int cap = m->cap_owned ? 2 * m->cap_owned : 64;
        void **o = realloc(m->owned, (size_t)cap * sizeof *o);
        if (!o) return QS_ERR_NOMEM;
        m->owned = o;
        m->cap_owned = cap;
    }
    m->owned[m->n_owned++] = p;
    m->owned_bytes += bytes;
    qs_memstat_add(QS_MEMSTAT_WEIGHTS, (long long)bytes);
    return QS_OK;
}

void *qs__model_alloc(qs_model *m, size_t bytes) {
    if (bytes == 0) bytes = 1;
    void *p = calloc(1, bytes);
    if (!p) return NULL;
    if (model_track(m, p, bytes) != QS_OK) {
        free(p);
        return NULL;
    }
    return p;
}

int qs__model_add_map(qs_model *m, void *addr, size_t size) {
    qs_mapping *maps = realloc(m->maps, (size_t)(m->n_maps + 1) * sizeof *maps);
    if (!maps) {
        qs_file_unmap(addr, size);
        return qs_error_set(QS_ERR_NOMEM, "%s: out of memory", m->path);
    }
    m->maps = maps;
    m->maps[m->n_maps++] = (qs_mapping){addr, size};
    qs_memstat_add(QS_MEMSTAT_MAPPED, (long long)size);
    m->map = m->maps[0].addr;
    m->map_size = m->maps[0].size;
    return QS_OK;
}

int qs__model_new_tensor(qs_model *m, qs_tensor **out, const char *name, uint32_t type,
                         const void *data, size_t n_bytes, int64_t rows, int64_t cols, int copy) {
    *out = NULL;
    qs_tensor *t = qs__model_alloc(m, sizeof *t);
    if (!t) return qs_error_set(QS_ERR_NOMEM, "%s: out of memory for tensor %s", m->path, name);
    if (copy) {
        void *p = qs__model_alloc(m, n_bytes);
        if (!p)
            return qs_error_set(QS_ERR_NOMEM, "%s: out of memory for tensor %s (%zu bytes)",
                                m->path, name, n_bytes);
        memcpy(p, data, n_bytes);
        data = p;
    }
    int rc = qs_tensor_init(t, name, type, data, n_bytes, rows, cols, NULL);
    if (rc) return rc;
    if (rows == 1 && !t->f32) { /* vectors are read as f32 by the forward pass */
        float *v = qs__model_alloc(m, (size_t)cols * sizeof *v);
        if (!v) return qs_error_set(QS_ERR_NOMEM, "%s: out of memory for tensor %s", m->path, name);
        qs_tensor_rows(v, t, 0, 1);
        t->f32 = v;
    }
    *out = t;
    return QS_OK;
}

int qs__model_tensor_permute(qs_model *m, qs_tensor *t, int hd) {
    if (hd < 2 || hd % 2 != 0)
        return qs_error_set(QS_ERR_FORMAT, "%s: head_dim %d cannot be reordered", t->name, hd);
    if (t->rows > 1) {
        if (t->rows % hd != 0)
            return qs_error_set(QS_ERR_FORMAT, "%s: %lld rows are not whole heads of %d", t->name,
                                (long long)t->rows, hd);
        t->perm_head_dim = hd;
        t->f32 = NULL; /* the stored order is not the logical one */
        return QS_OK;
    }
    /* a vector (a q/k bias): its f32 values are reordered in a copy the model owns */
    if (t->cols % hd != 0)
        return qs_error_set(QS_ERR_FORMAT, "%s: %lld values are not whole heads of %d", t->name,
                            (long long)t->cols, hd);
    float *v = qs__model_alloc(m, (size_t)t->cols * sizeof *v);
    if (!v) return qs_error_set(QS_ERR_NOMEM, "%s: out of memory", m->path);
    for (int64_t i = 0; i < t->cols; i++) {
        int64_t l = i % hd;
        v[i] = t->f32[i - l + (l % 2) * (hd / 2) + l / 2];
    }
    t->f32 = v;
    return QS_OK;
}

static int table_add(qs_model *m, qs_tensor *t, const char *name, int *cap) {
    if (m->n_tensors == *cap) {
        int n = *cap ? 2 * *cap : 64;
        qs_tensor **p = realloc(m->tensors, (size_t)n * sizeof *p);
        if (!p) return qs_error_set(QS_ERR_NOMEM, "out of memory indexing tensors");
        m->tensors = p;
        *cap = n;
    }
    snprintf(t->name, sizeof t->name, "%s", name);
    m->tensors[m->n_tensors++] = t;
    return QS_OK;
}

/* Checks a role's tensor against the shape the config gives it. */
static int check_shape(const qs_model *m, const qs_tensor *t, const char *name, int64_t rows,
                       int64_t cols) {
    if (!t) return qs_error_set(QS_ERR_FORMAT, "%s: tensor %s is missing", m->path, name);
    if (t->rows != rows || t->cols != cols)
        return qs_error_set(QS_ERR_FORMAT,
                            "%s: tensor %s is (%lld, %lld), the config says (%lld, "
                            "%lld)",
                            m->path, name, (long long)t->rows, (long long)t->cols, (long long)rows,
                            (long long)cols);
    return QS_OK;
}

int qs__model_index_weights(qs_model *m) {
    const qs_config *c = &m->cfg;
    int64_t D = c->dim, H = c->hidden_dim, V = c->vocab_size;
    int64_t Q = (int64_t)c->n_heads * c->head_dim, K = (int64_t)c->n_kv_heads * c->head_dim;
    int cap = 0;
    int rc = check_shape(m, m->w.token_embd, "token_embd", V, D);
    if (!rc) rc = table_add(m, (qs_tensor *)m->w.token_embd, "token_embd", &cap);
    for (int l = 0; l < c->n_layers && rc == QS_OK; l++) {
        const qs_layer_weights *lw = &m->w.layers[l];
        struct {
            const char *n;
            const qs_tensor *p;
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
            rc = check_shape(m, t[i].p, name, t[i].r, t[i].k);
            if (!rc) rc = table_add(m, (qs_tensor *)t[i].p, name, &cap);
        }
    }
    if (!rc) rc = check_shape(m, m->w.output_norm, "output_norm", 1, D);
    if (!rc) rc = table_add(m, (qs_tensor *)m->w.output_norm, "output_norm", &cap);
    if (!rc && !c->tied_classifier) {
        rc = check_shape(m, m->w.output, "output", V, D);
        if (!rc) rc = table_add(m, (qs_tensor *)m->w.output, "output", &cap);
    }
    for (int l = 0; l < c->n_layers && rc == QS_OK; l++) {
        const qs_layer_weights *lw = &m->w.layers[l];
        const qs_tensor *b[3] = {lw->bq, lw->bk, lw->bv};
        const char *n[3] = {"attn_q.bias", "attn_k.bias", "attn_v.bias"};
        int64_t len[3] = {Q, K, K};
        for (int k = 0; k < 3 && rc == QS_OK; k++) {
            if (!b[k]) continue;
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s", l, n[k]);
            rc = check_shape(m, b[k], name, 1, len[k]);
            if (!rc) rc = table_add(m, (qs_tensor *)b[k], name, &cap);
        }
    }
    return rc;
}

void qs_model_free(qs_model *m) {
    if (!m || --m->refs > 0) return;
    if (m->online.release) m->online.release(m->online.user);
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    qs_memstat_add(QS_MEMSTAT_WEIGHTS, -(long long)m->owned_bytes);
    free(m->tensors);
    free(m->w.layers);
    for (int i = 0; i < m->n_maps; i++) {
        qs_file_unmap(m->maps[i].addr, m->maps[i].size);
        qs_memstat_add(QS_MEMSTAT_MAPPED, -(long long)m->maps[i].size);
    }
    free(m->maps);
    if (!m->tok_borrowed) qs_tokenizer_free(m->tok);
    qs_model *base = m->base;
    free(m);
    qs_model_free(base);
}

int qs_model_twin(qs_model **out, const qs_model *base) {
    *out = NULL;
    qs_model *m = qs__model_new(base->path, base->format);
    if (!m) return qs_error_set(QS_ERR_NOMEM, "out of memory for a twin of %s", base->path);
    m->cfg = base->cfg;
    m->w = base->w;
    m->w.layers = malloc((size_t)base->cfg.n_layers * sizeof *m->w.layers);
    m->tensors = malloc((size_t)(base->n_tensors ? base->n_tensors : 1) * sizeof *m->tensors);
    if (!m->w.layers || !m->tensors) {
        free(m->w.layers);
        free(m->tensors);
        free(m);
        return qs_error_set(QS_ERR_NOMEM, "out of memory for a twin of %s", base->path);
    }
    memcpy(m->w.layers, base->w.layers, (size_t)base->cfg.n_layers * sizeof *m->w.layers);
    memcpy(m->tensors, base->tensors, (size_t)base->n_tensors * sizeof *m->tensors);
    m->n_tensors = base->n_tensors;
    m->tok = base->tok;
    m->tok_borrowed = 1;
    /* the twin reads base's tensors, mappings and tokenizer: keep it alive */
    m->base = (qs_model *)base;
    m->base->refs++;
    /* the twin computes the same function: same online transforms */
    m->online = base->online;
    if (m->online.retain) m->online.retain(m->online.user);
    *out = m;
    return QS_OK;
}

int qs_model_owns(const qs_model *m, const void *p) {
    for (int i = 0; i < m->n_owned; i++)
        if (m->owned[i] == p) return 1;
    return 0;
}

int qs_model_replace_tensor(qs_model *m, const qs_tensor *old, qs_tensor *t) {
    int found = 0;
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i] == old) {
            m->tensors[i] = t;
            found = 1;
        }
    if (!found)
        return qs_error_set(QS_ERR_ARG, "%s: tensor %s is not in the model", m->path, old->name);
    snprintf(t->name, sizeof t->name, "%s", old->name);
    const qs_tensor **roles[] = {&m->w.token_embd, &m->w.output_norm, &m->w.output};
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (*roles[i] == old) *roles[i] = t;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        qs_layer_weights *w = &m->w.layers[l];
        const qs_tensor **f[] = {&w->attn_norm, &w->wq,     &w->wk,     &w->wv,
                                 &w->wo,        &w->bq,     &w->bk,     &w->bv,
                                 &w->ffn_norm,  &w->w_gate, &w->w_down, &w->w_up};
        for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
            if (*f[i] == old) *f[i] = t;
    }
    return QS_OK;
}

float *qs_model_tensor_f32_own(qs_model *m, const qs_tensor *t) {
    if (t->type == QS_GGML_F32 && t->f32 && qs_model_owns(m, t) && qs_model_owns(m, t->data))
        return (float *)t->f32;
    size_t n = (size_t)t->rows * (size_t)t->cols;
    float *v = qs__model_alloc(m, n * sizeof *v);
    qs_tensor *c = NULL;
    if (!v) {
        qs_error_set(QS_ERR_NOMEM, "out of memory copying tensor %s (%zu floats)", t->name, n);
        return NULL;
    }
    qs_tensor_rows(v, t, 0, t->rows);
    if (qs__model_new_tensor(m, &c, t->name, QS_GGML_F32, v, n * sizeof *v, t->rows, t->cols, 0) ||
        qs_model_replace_tensor(m, t, c))
        return NULL;
    return v;
}

int qs_model_untie_classifier(qs_model *m) {
    const qs_tensor *e = m->w.token_embd;
    if (m->w.output != e) return QS_OK;
    size_t n = (size_t)e->rows * (size_t)e->cols;
    float *v = qs__model_alloc(m, n * sizeof *v);
    qs_tensor **table = realloc(m->tensors, (size_t)(m->n_tensors + 1) * sizeof *table);
    if (table) m->tensors = table;
    if (!v || !table)
        return qs_error_set(QS_ERR_NOMEM, "%s: out of memory untying the classifier (%zu floats)",
                            m->path, n);
    qs_tensor_rows(v, e, 0, e->rows);
    qs_tensor *t = NULL;
    int rc = qs__model_new_tensor(m, &t, "output", QS_GGML_F32, v, n * sizeof *v, e->rows,
                                  e->cols, 0);
    if (rc) return rc;
    m->tensors[m->n_tensors++] = t;
    m->w.output = t;
    m->cfg.tied_classifier = 0;
    return QS_OK;
}

int64_t qs_model_param_count(const qs_model *m) {
    int64_t n = 0;
    for (int i = 0; i < m->n_tensors; i++) n += m->tensors[i]->rows * m->tensors[i]->cols;
    return n;
}

const qs_tensor *qs_model_tensor(const qs_model *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i]->name, name) == 0) return m->tensors[i];
    return NULL;
}

size_t qs_model_mapped_bytes(const qs_model *m) {
    size_t n = 0;
    for (; m; m = m->base)
        for (int i = 0; i < m->n_maps; i++) n += m->maps[i].size;
    return n;
}

size_t qs_model_weight_alloc_bytes(const qs_model *m) { return m->owned_bytes; }

size_t qs_model_weight_bytes(const qs_model *m) {
    size_t n = 0;
    for (int i = 0; i < m->n_tensors; i++) n += m->tensors[i]->n_bytes;
    return n;
}

int qs_model_check_maps(const qs_model *m) {
    for (; m; m = m->base)
        for (int i = 0; i < m->n_maps; i++) {
            int rc = qs_file_map_check(m->maps[i].addr);
            if (rc) return rc;
        }
    return QS_OK;
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
                        "%s: loading needs %.1f GiB to hold the weights, more than the "
                        "%.1f GiB of %s; refusing before allocating",
                        path, need / 1073741824.0, avail / 1073741824.0, which);
}
