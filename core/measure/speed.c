/* The speed bench (speed.h): the machine's limits, format twins, decode and prefill rows. */
#include "speed.h"

#include <cblas.h>
#include <ctype.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "error.h"
#include "forward.h"
#include "linear.h"
#include "progress.h"
#include "quant.h"
#include "weight_quant.h"

/* ---- the machine's limits ------------------------------------------------------------- */

double qs_bench_sgemm_gflops(int n, int reps) {
    float *a = malloc((size_t)n * n * sizeof(float)), *b = malloc((size_t)n * n * sizeof(float));
    float *c = malloc((size_t)n * n * sizeof(float));
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        qs_error_set(QS_ERR_NOMEM, "sgemm %d^3: out of memory for three %d x %d matrices (%zu MiB)",
                     n, n, n, (size_t)3 * n * n * sizeof(float) >> 20);
        return -1;
    }
    for (size_t i = 0; i < (size_t)n * n; i++) a[i] = b[i] = (float)(i % 7) * 0.1f;
    double best = 0;
    for (int r = 0; r < reps + 1; r++) { /* the first run warms up */
        double t = qs_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c,
                    n);
        double g = 2.0 * n * n * (double)n / (qs_now() - t) / 1e9;
        if (r > 0 && g > best) best = g;
    }
    free(a), free(b), free(c);
    return best;
}

double qs_bench_triad_gbs(size_t bytes, int reps) {
    size_t n = bytes / 3 / sizeof(double);
    double *a = malloc(n * sizeof(double)), *b = malloc(n * sizeof(double)),
           *c = malloc(n * sizeof(double));
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        qs_error_set(QS_ERR_NOMEM, "triad: out of memory for three arrays of %zu MiB",
                     n * sizeof(double) >> 20);
        return -1;
    }
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) a[i] = 0, b[i] = 1, c[i] = 2;
    double best = 0;
    for (int r = 0; r < reps; r++) {
        double t = qs_now();
#pragma omp parallel for
        for (size_t i = 0; i < n; i++) a[i] = b[i] + 3.0 * c[i];
        double g = 3.0 * n * sizeof(double) / (qs_now() - t) / 1e9;
        if (g > best) best = g;
    }
    volatile double sink = a[n / 2];
    (void)sink;
    free(a), free(b), free(c);
    return best;
}

/* Reads `bytes` once per rep as decoding reads a weight matrix: rows of 16 KiB (a 4096-wide
 * f32 row), each thread taking tiles of S rows read side by side (S streams in flight, as the
 * fused kernels keep 4 rows per thread in flight). On a VM one stream per core is latency
 * bound well below what the memory delivers, so the best of S = 1, 4 and 8 is reported. */
static double read_streams(const uint32_t *a, size_t rows, size_t cols, int S) {
    uint32_t total = 0;
    double t = qs_now();
#pragma omp parallel for reduction(+ : total) schedule(static)
    for (size_t i = 0; i < rows / (size_t)S; i++) {
        const uint32_t *p = a + i * (size_t)S * cols;
        uint32_t acc[16] = {0};
        for (size_t c = 0; c < cols; c += 16)
            for (int k = 0; k < S; k++)
                for (int j = 0; j < 16; j++) acc[j] += p[(size_t)k * cols + c + (size_t)j];
        for (int j = 0; j < 16; j++) total += acc[j];
    }
    double dt = qs_now() - t;
    volatile uint32_t sink = total;
    (void)sink;
    return (double)(rows / (size_t)S * (size_t)S * cols * sizeof *a) / dt / 1e9;
}

double qs_bench_read_gbs(size_t bytes, int reps) {
    const size_t cols = 4096, rows = bytes / (cols * sizeof(uint32_t)) / 8 * 8;
    uint32_t *a = rows ? malloc(rows * cols * sizeof *a) : NULL;
    if (!a) {
        qs_error_set(QS_ERR_NOMEM, "read bandwidth: out of memory for %zu MiB", bytes >> 20);
        return -1;
    }
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < rows * cols; i++) a[i] = (uint32_t)i;
    static const int streams[] = {1, 4, 8};
    double best = 0;
    for (int r = 0; r < reps + 1; r++) /* the first run warms up */
        for (int s = 0; s < 3; s++) {
            double g = read_streams(a, rows, cols, streams[s]);
            if (r > 0 && g > best) best = g;
        }
    free(a);
    return best;
}

int qs_speed_limits_measure(qs_speed_limits *l, double gib, int reps) {
    size_t bytes = (size_t)(gib * (double)(1u << 30));
    double g1 = qs_bench_sgemm_gflops(1024, reps);
    double g2 = g1 < 0 ? -1 : qs_bench_sgemm_gflops(2048, reps);
    double rd = g2 < 0 ? -1 : qs_bench_read_gbs(bytes, reps);
    double tr = rd < 0 ? -1 : qs_bench_triad_gbs(bytes, reps);
    if (tr < 0) return QS_ERR_NOMEM;
    l->sgemm_gflops = g1 > g2 ? g1 : g2;
    l->bandwidth_gbs = rd;
    l->triad_gbs = tr;
    return QS_OK;
}

void qs_speed_limits_merge(qs_speed_limits *l, const qs_speed_limits *again, qs_speed_row *rows,
                           int n_rows) {
    if (again->sgemm_gflops > l->sgemm_gflops) l->sgemm_gflops = again->sgemm_gflops;
    if (again->bandwidth_gbs > l->bandwidth_gbs) l->bandwidth_gbs = again->bandwidth_gbs;
    if (again->triad_gbs > l->triad_gbs) l->triad_gbs = again->triad_gbs;
    for (int i = 0; i < n_rows; i++) {
        qs_speed_row *r = &rows[i];
        double tps = r->tokens_per_s, flops = tps > 0 ? r->gflops * 1e9 / tps : 0;
        double bytes = r->weight_bytes_per_token;
        r->bandwidth_fraction = l->bandwidth_gbs > 0 ? r->gbs / l->bandwidth_gbs : 0;
        r->peak_fraction = l->sgemm_gflops > 0 ? r->gflops / l->sgemm_gflops : 0;
        double mem = bytes > 0 ? l->bandwidth_gbs * 1e9 / bytes : 0;
        double cpu = flops > 0 ? l->sgemm_gflops * 1e9 / flops : 0;
        r->predicted_tokens_per_s = mem < cpu ? mem : cpu;
    }
}

/* ---- formats ---------------------------------------------------------------------------- */

static int ieq(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
    return *a == *b;
}

static const struct {
    const char *name;
    uint32_t type;
} stored_types[] = {{"f32", QS_GGML_F32},   {"f16", QS_GGML_F16},   {"bf16", QS_GGML_BF16},
                    {"Q8_0", QS_GGML_Q8_0}, {"Q4_0", QS_GGML_Q4_0}, {"Q4_K", QS_GGML_Q4_K}};

/* every matrix a decoded token reads (layers, then the classifier) */
static int matrices(const qs_model *m, const qs_tensor **out) {
    int n = 0;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const qs_layer_weights *w = &m->w.layers[l];
        const qs_tensor *t[] = {w->wq, w->wk, w->wv, w->wo, w->w_gate, w->w_up, w->w_down};
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) out[n++] = t[i];
    }
    out[n++] = m->w.output;
    return n;
}

/* a model whose matrices are all `type` already */
static int all_of(const qs_model *m, uint32_t type) {
    const qs_tensor **t = malloc(((size_t)m->cfg.n_layers * 7 + 1) * sizeof *t);
    if (!t) return 0;
    int n = matrices(m, t), ok = 1;
    for (int i = 0; i < n; i++) ok &= t[i]->type == type && t[i]->perm_head_dim <= 0;
    free(t);
    return ok;
}

/* QS_OK if name is a format the bench knows (nothing is built) */
static int format_check(const char *name) {
    for (size_t i = 0; i < sizeof stored_types / sizeof stored_types[0]; i++)
        if (ieq(name, stored_types[i].name)) return QS_OK;
    int bits = 0, used = 0;
    if (sscanf(name, "int%d%n", &bits, &used) == 1 && bits >= 2 && bits <= 8 &&
        (name[used] == ' ' || name[used] == '\0')) {
        char cfg[160];
        snprintf(cfg, sizeof cfg, "W%dA16%s", bits, name + used);
        qs_quant_config qc;
        int rc = qs_quant_config_parse(&qc, cfg);
        return rc ? qs_error_prefix(rc, "format '%s'", name) : QS_OK;
    }
    return qs_error_set(QS_ERR_ARG,
                        "unknown format '%s': expected f32, f16, bf16, Q8_0, Q4_0, Q4_K or "
                        "\"intB WORDS\" (\"int4 g128\", \"int8 per-channel\", \"int4 g32 affine\")",
                        name);
}

/* *out: base itself (*twin = 0) or a twin stored as `name` (*twin = 1) */
static int make_format(const qs_model *base, const char *name, qs_model **out, int *twin) {
    *out = NULL;
    *twin = 0;
    for (size_t i = 0; i < sizeof stored_types / sizeof stored_types[0]; i++) {
        if (!ieq(name, stored_types[i].name)) continue;
        if (all_of(base, stored_types[i].type)) {
            *out = (qs_model *)base;
            return QS_OK;
        }
        *twin = 1;
        return qs_model_twin_convert(out, base, stored_types[i].type);
    }
    int bits = 0, used = 0;
    if (sscanf(name, "int%d%n", &bits, &used) == 1 && bits >= 2 && bits <= 8 &&
        (name[used] == ' ' || name[used] == '\0')) {
        char cfg[160];
        snprintf(cfg, sizeof cfg, "W%dA16%s", bits, name + used);
        qs_quant_config qc;
        int rc = qs_quant_config_parse(&qc, cfg);
        if (rc) return qs_error_prefix(rc, "format '%s'", name);
        qs_model *m;
        rc = qs_wquant_twin(&m, base, &qc.w, QS_SITE_ALL, NULL);
        if (rc == QS_OK) rc = qs_wquant_tensor(m, m->w.output, &qc.w.spec, NULL);
        if (rc) {
            qs_model_free(m);
            return qs_error_prefix(rc, "format '%s'", name);
        }
        *out = m;
        *twin = 1;
        return QS_OK;
    }
    return qs_error_set(QS_ERR_ARG,
                        "unknown format '%s': expected f32, f16, bf16, Q8_0, Q4_0, Q4_K or "
                        "\"intB WORDS\" (\"int4 g128\", \"int8 per-channel\", \"int4 g32 affine\")",
                        name);
}

/* ---- rows ----------------------------------------------------------------------------- */

void qs_speed_row_fields(const qs_speed_row *r, qs_field *f) {
    static const qs_speed_row zero;
    if (!r) r = &zero;
    f[0] = QS_FSTR("format", r->format, sizeof r->format);
    f[1] = QS_FSTR("path", r->path, sizeof r->path);
    f[2] = QS_FSTR("phase", r->phase, sizeof r->phase);
    f[3] = QS_FNUM("tokens_per_s", r->tokens_per_s);
    f[4] = QS_FNUM("weight_bytes_per_token", r->weight_bytes_per_token);
    f[5] = QS_FNUM("gbs", r->gbs);
    f[6] = QS_FNUM("bandwidth_fraction", r->bandwidth_fraction);
    f[7] = QS_FNUM("gflops", r->gflops);
    f[8] = QS_FNUM("peak_fraction", r->peak_fraction);
    f[9] = QS_FNUM("predicted_tokens_per_s", r->predicted_tokens_per_s);
}

/* a comma-separated list: which of names[0..n) it holds (bits); -1 past an unknown word */
static int parse_set(const char *list, const char *const *names, int n, const char *what) {
    if (!list) return (1 << n) - 1;
    int set = 0;
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        size_t len = strcspn(p, ",");
        while (len > 0 && p[len - 1] == ' ') len--;
        if (len == 0) break;
        int found = -1;
        for (int i = 0; i < n; i++)
            if (strlen(names[i]) == len && !strncmp(p, names[i], len)) found = i;
        if (found < 0) {
            qs_error_set(QS_ERR_ARG, "unknown %s '%.*s'", what, (int)len, p);
            return -1;
        }
        set |= 1 << found;
        p += strcspn(p, ",");
    }
    return set;
}

typedef struct bench {
    const qs_speed_opts *o;
    const qs_speed_limits *lim;
    qs_speed_row *rows;
    int n, cap;
} bench;

static int add_row(bench *b, const qs_speed_row *r) {
    if (b->n == b->cap) {
        int cap = b->cap ? 2 * b->cap : 32;
        qs_speed_row *p = realloc(b->rows, (size_t)cap * sizeof *p);
        if (!p) return qs_error_set(QS_ERR_NOMEM, "out of memory");
        b->rows = p;
        b->cap = cap;
    }
    b->rows[b->n++] = *r;
    if (b->o->on_row) b->o->on_row(b->o->user, r);
    return QS_OK;
}

/* fills the derived numbers of a row from tokens/s, bytes and FLOPs per token */
static void derive(qs_speed_row *r, const qs_speed_limits *lim, double tps, double bytes,
                   double flops) {
    r->tokens_per_s = tps;
    r->weight_bytes_per_token = bytes;
    r->gbs = bytes * tps / 1e9;
    r->bandwidth_fraction = lim->bandwidth_gbs > 0 ? r->gbs / lim->bandwidth_gbs : 0;
    r->gflops = flops * tps / 1e9;
    r->peak_fraction = lim->sgemm_gflops > 0 ? r->gflops / lim->sgemm_gflops : 0;
    double mem = bytes > 0 ? lim->bandwidth_gbs * 1e9 / bytes : 0;
    double cpu = flops > 0 ? lim->sgemm_gflops * 1e9 / flops : 0;
    r->predicted_tokens_per_s = mem < cpu ? mem : cpu;
}

/* one format: every requested path, decode then prefill */
static int bench_format(bench *b, const qs_model *m, const char *name, int paths, int phases,
                        qs_speed_format_info *info) {
    const qs_speed_opts *o = b->o;
    const qs_config *c = &m->cfg;
    const qs_tensor **mats = malloc(((size_t)c->n_layers * 7 + 1) * sizeof *mats);
    if (!mats) return qs_error_set(QS_ERR_NOMEM, "out of memory");
    int nm = matrices(m, mats);
    double wbytes = 0, nweights = 0;
    int any8 = 0;
    memset(info, 0, sizeof *info);
    snprintf(info->format, sizeof info->format, "%s", name);
    for (int i = 0; i < nm; i++) {
        wbytes += (double)mats[i]->n_bytes;
        nweights += (double)mats[i]->rows * (double)mats[i]->cols;
        info->registers += qs_linear_fused_in_registers(mats[i]);
        info->int8dot += qs_linear_int8dot_defined(mats[i]);
    }
    any8 = info->int8dot > 0;
    info->n_matrices = nm;
    info->bits_per_weight = 8.0 * wbytes / nweights;
    /* norms, and one embedding row per token */
    double per_token = wbytes + 4.0 * c->dim * (2.0 * c->n_layers + 1) +
                       (double)m->w.token_embd->n_bytes / (double)m->w.token_embd->rows;
    info->weight_bytes = per_token;
    free(mats);

    const int kv = o->kv_positions > 0 ? o->kv_positions : 256;
    const int nd = o->decode_tokens > 0 ? o->decode_tokens : 16;
    int T = o->prefill_tokens > 0 ? o->prefill_tokens : 512;
    if (T > c->seq_len) T = c->seq_len;
    int max_pos = kv + nd > T ? kv + nd : T, max_T = T > kv ? T : kv;
    if (max_pos > c->seq_len)
        return qs_error_set(QS_ERR_ARG,
                            "speed: a cache of %d positions plus %d decoded tokens exceeds the "
                            "context of %d",
                            kv, nd, c->seq_len);
    const int reps = o->reps > 0 ? o->reps : 3;
    int *tok = malloc((size_t)max_pos * sizeof *tok);
    float *logits = malloc((size_t)c->vocab_size * sizeof *logits);
    qs_forward_state st;
    int rc = tok && logits ? qs_forward_init(&st, m, max_T, max_pos)
                           : qs_error_set(QS_ERR_NOMEM, "out of memory");
    if (rc) {
        free(tok), free(logits);
        return rc;
    }
    for (int t = 0; t < max_pos; t++)
        tok[t] = (int)((t * 2654435761u + 7) % (unsigned)c->vocab_size);
    for (int p = 0; p < QS_LINEAR_PATHS && rc == QS_OK; p++) {
        if (!(paths & (1 << p)) || (p == QS_LINEAR_INT8DOT && !any8)) continue;
        if (phases & 1) { /* decode */
            rc = qs_forward_set_path(&st, QS_LINEAR_FUSED, 0);
            if (rc == QS_OK && kv > 0) rc = qs_forward(&st, tok, kv, 0, NULL, 0, NULL);
            if (rc == QS_OK) rc = qs_forward_set_path(&st, p, o->per_token);
            double best = 1e30;
            for (int r = 0; r < reps + 1 && rc == QS_OK; r++) {
                double t0 = qs_now();
                for (int i = 0; i < nd && rc == QS_OK; i++)
                    rc = qs_forward(&st, tok + kv + i, 1, kv + i, logits, 1, NULL);
                double dt = qs_now() - t0;
                if (r > 0 && dt < best) best = dt;
            }
            if (rc == QS_OK) {
                qs_speed_row row = {0};
                snprintf(row.format, sizeof row.format, "%s", name);
                snprintf(row.path, sizeof row.path, "%s", qs_linear_path_name(p));
                snprintf(row.phase, sizeof row.phase, "decode");
                double flops = qs_forward_flops(c, 1, kv + nd / 2);
                derive(&row, b->lim, nd / best, per_token, flops);
                rc = add_row(b, &row);
            }
        }
        if ((phases & 2) && rc == QS_OK) { /* prefill */
            rc = qs_forward_set_path(&st, p, o->per_token);
            double best = 1e30;
            for (int r = 0; r < reps + 1 && rc == QS_OK; r++) {
                double t0 = qs_now();
                rc = qs_forward(&st, tok, T, 0, logits, 1, NULL);
                double dt = qs_now() - t0;
                if (r > 0 && dt < best) best = dt;
            }
            if (rc == QS_OK) {
                qs_speed_row row = {0};
                snprintf(row.format, sizeof row.format, "%s", name);
                snprintf(row.path, sizeof row.path, "%s", qs_linear_path_name(p));
                snprintf(row.phase, sizeof row.phase, "prefill");
                /* the classifier runs for the last position only */
                double flops =
                    qs_forward_flops(c, T, 0) - 2.0 * (T - 1) * (double)c->dim * c->vocab_size;
                derive(&row, b->lim, T / best, per_token / T, flops / T);
                rc = add_row(b, &row);
            }
        }
    }
    qs_forward_free(&st);
    free(tok), free(logits);
    return rc;
}

/* paths, phases and format names of o, every name checked; *copy (to free) holds names */
static int parse_opts(const qs_speed_opts *o, int *paths, int *phases, char **copy, char **names,
                      int *nf) {
    static const char *const path_names[] = {"fused", "naive", "int8dot"};
    static const char *const phase_names[] = {"decode", "prefill"};
    *copy = NULL;
    *nf = 0;
    *paths = parse_set(o->paths, path_names, 3, "path (fused, naive, int8dot)");
    *phases = parse_set(o->phases, phase_names, 2, "phase (decode, prefill)");
    if (*paths < 0 || *phases < 0) return QS_ERR_ARG;
    const char *list = o->formats ? o->formats : QS_SPEED_FORMATS_DEFAULT;
    *copy = strdup(list);
    if (!*copy) return qs_error_set(QS_ERR_NOMEM, "out of memory");
    for (char *save = NULL, *tok = strtok_r(*copy, ",", &save); tok && *nf < 64;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        size_t len = strlen(tok);
        while (len > 0 && tok[len - 1] == ' ') tok[--len] = '\0';
        if (len) names[(*nf)++] = tok;
    }
    if (*nf == 0) return qs_error_set(QS_ERR_ARG, "no formats in '%s'", list);
    for (int i = 0; i < *nf; i++) {
        int rc = format_check(names[i]);
        if (rc) return rc;
    }
    return QS_OK;
}

int qs_speed_opts_check(const qs_model *m, const qs_speed_opts *o) {
    int paths, phases, nf;
    char *copy, *names[64];
    int rc = parse_opts(o, &paths, &phases, &copy, names, &nf);
    free(copy);
    const int kv = o->kv_positions > 0 ? o->kv_positions : 256;
    const int nd = o->decode_tokens > 0 ? o->decode_tokens : 16;
    if (rc == QS_OK && (phases & 1) && kv + nd > m->cfg.seq_len)
        rc = qs_error_set(QS_ERR_ARG,
                          "speed: a cache of %d positions plus %d decoded tokens exceeds the "
                          "context of %d",
                          kv, nd, m->cfg.seq_len);
    return rc;
}

int qs_bench_speed(const qs_model *base, const qs_speed_opts *o, const qs_speed_limits *lim,
                   qs_speed_row **rows, int *n_rows, qs_speed_format_info **info, int *n_info) {
    *rows = NULL;
    *n_rows = 0;
    if (info) *info = NULL, *n_info = 0;
    int paths, phases, nf;
    char *copy, *names[64];
    int rc = parse_opts(o, &paths, &phases, &copy, names, &nf);
    if (rc) {
        free(copy);
        return rc;
    }
    qs_speed_format_info *fi = calloc((size_t)(nf ? nf : 1), sizeof *fi);
    if (!fi && rc == QS_OK) rc = qs_error_set(QS_ERR_NOMEM, "out of memory");
    bench b = {o, lim, NULL, 0, 0};
    for (int i = 0; i < nf && rc == QS_OK; i++) {
        qs_model *m;
        int twin;
        rc = make_format(base, names[i], &m, &twin);
        if (rc) break;
        rc = bench_format(&b, m, names[i], paths, phases, &fi[i]);
        if (twin) qs_model_free(m);
    }
    free(copy);
    if (rc) {
        free(b.rows);
        free(fi);
        return rc;
    }
    *rows = b.rows;
    *n_rows = b.n;
    if (info) {
        *info = fi;
        *n_info = nf;
    } else {
        free(fi);
    }
    return QS_OK;
}
