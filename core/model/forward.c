/* The batched forward pass. Read top to bottom: embed, then per block
 * [resid] -> RMSNorm -> [attn_in] -> q,k,v -> RoPE -> cache [k_cache] [v_cache]
 * -> causal GQA attention -> [attn_o_in] -> o -> +residual -> RMSNorm -> [ffn_in] -> gate,up
 * -> SiLU(gate)*up -> [ffn_down_in] -> down -> +residual; then the final norm and the classifier.
 * [site] marks where the capture hook is called. */
#include "forward.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "elementwise.h"
#include "error.h"
#include "fileio.h"
#include "linear_kernels.h"
#include "memstat.h"

/* OpenMP regions only pay off above this many elements of work; below it (small models,
 * single-token decode) the fork/join costs more than the loop. */
#define PAR_MIN_WORK 32768

/* rows [r0, r0 + n) of w as f32 into buf (n, in), each thread a contiguous share */
static void expand(float *buf, const qs_tensor *w, int64_t r0, int64_t n) {
    int nth = omp_get_max_threads();
    if (n * w->cols < PAR_MIN_WORK || nth > n) nth = 1;
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1)
    for (int k = 0; k < nth; k++) {
        int64_t a = n * k / nth, b = n * (k + 1) / nth;
        qs_tensor_rows(buf + (size_t)a * w->cols, w, r0 + a, b - a);
    }
}

/* the window path takes a product: sgemm (from the weight, or from expanded blocks) */
static int windowed(const qs_forward_state *s, int T) {
    return s->path == QS_LINEAR_FUSED && T > QS_FORWARD_FUSED_MAX_T;
}

/* y (T, out) = x (T, in) · W (out, in)ᵀ: short windows and the naive and int8dot paths by
 * linear.h; windows by one sgemm straight from an f32 weight, else one per block of expanded
 * rows, each writing its columns of y */
static int matmul(qs_forward_state *s, float *y, const float *x, const qs_tensor *w, int T) {
    int in = (int)w->cols, out = (int)w->rows;
    if (!windowed(s, T)) return qs_linear(&s->lin, y, x, w, T, s->path);
    if (w->f32) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, out, in, 1.0f, x, in, w->f32, in,
                    0.0f, y, out);
        return QS_OK;
    }
    for (int r0 = 0; r0 < out; r0 += s->expand_rows) {
        int n = out - r0 < s->expand_rows ? out - r0 : s->expand_rows;
        expand(s->wbuf, w, r0, n); /* wbuf (n, in) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, n, in, 1.0f, x, in, s->wbuf, in,
                    0.0f, y + r0, out);
    }
    return QS_OK;
}

/* Products that read the same x (q, k, v; gate, up): in one parallel region off the window
 * path. y[i] (T, w[i]->rows). */
static int matmul_many(qs_forward_state *s, int n, float *const *y, const float *x,
                       const qs_tensor *const *w, int T) {
    if (!windowed(s, T)) return qs_linear_many(&s->lin, n, y, w, x, T, s->path);
    for (int i = 0; i < n; i++) {
        int rc = matmul(s, y[i], x, w[i], T);
        if (rc) return rc;
    }
    return QS_OK;
}

int qs_forward_set_path(qs_forward_state *s, int path, int per_token) {
    if (path < 0 || path >= QS_LINEAR_PATHS)
        return qs_error_set(QS_ERR_ARG, "forward: unknown product path %d", path);
    s->path = path;
    s->lin.a8_per_token = per_token != 0;
    return QS_OK;
}

static void add_bias(float *y, const qs_tensor *bt, int T, int n) {
    if (!bt) return;
    const float *b = bt->f32;
#pragma omp parallel for if ((size_t)T * n >= PAR_MIN_WORK)
    for (int t = 0; t < T; t++)
        for (int i = 0; i < n; i++) y[(size_t)t * n + i] += b[i];
}

/* out (T, n) = x / rms(x) * w, the sum of squares in double */
static void rmsnorm(float *out, const float *x, const float *w, int T, int n, float eps) {
#pragma omp parallel for if ((size_t)T * n >= PAR_MIN_WORK)
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * n;
        float *o = out + (size_t)t * n;
        double ss = 0.0;
        for (int i = 0; i < n; i++) ss += (double)xr[i] * xr[i];
        float r = (float)(1.0 / sqrt(ss / n + eps));
        for (int i = 0; i < n; i++) o[i] = xr[i] * r * w[i];
    }
}

/* Rotates each head of x (T, n_heads·hd) at positions pos0 + t. Interleaved layout pairs
 * (2i, 2i+1); half layout pairs (i, i + hd/2). Both use frequency i. */
static void rope(float *x, int T, int n_heads, int hd, int pos0, const float *cos_t,
                 const float *sin_t, int layout) {
    int half = hd / 2;
#pragma omp parallel for if ((size_t)T * n_heads * hd >= PAR_MIN_WORK)
    for (int t = 0; t < T; t++) {
        const float *c = cos_t + (size_t)(pos0 + t) * half;
        const float *s = sin_t + (size_t)(pos0 + t) * half;
        for (int h = 0; h < n_heads; h++) {
            float *v = x + ((size_t)t * n_heads + h) * hd;
            for (int i = 0; i < half; i++) {
                int a = layout == QS_ROPE_HALF ? i : 2 * i;
                int b = layout == QS_ROPE_HALF ? i + half : 2 * i + 1;
                float v0 = v[a], v1 = v[b];
                v[a] = v0 * c[i] - v1 * s[i];
                v[b] = v0 * s[i] + v1 * c[i];
            }
        }
    }
}

/* Llama 3 rope_scaling: long wavelengths slowed by `factor`, short ones kept, a smooth
 * blend between. */
static double rope_scaled_freq(const qs_config *c, double freq) {
    if (c->rope_scale_factor <= 0.0f) return freq;
    double wavelen = 2.0 * M_PI / freq, orig = c->rope_orig_max_pos;
    double lo = c->rope_low_freq_factor, hi = c->rope_high_freq_factor, f = c->rope_scale_factor;
    if (wavelen < orig / hi) return freq;
    if (wavelen > orig / lo) return freq / f;
    double smooth = (orig / wavelen - lo) / (hi - lo);
    return (1.0 - smooth) * freq / f + smooth * freq;
}

void qs_forward_free(qs_forward_state *s) {
    qs_memstat_add(QS_MEMSTAT_ACTIVATIONS, -(long long)s->counted.activations);
    qs_memstat_add(QS_MEMSTAT_KV, -(long long)s->counted.kv_cache);
    qs_memstat_add(QS_MEMSTAT_SCRATCH, -(long long)s->counted.scratch);
    memset(&s->counted, 0, sizeof s->counted);
    qs_linear_ctx_free(&s->lin);
    float **bufs[] = {&s->x,        &s->xn,       &s->q,       &s->k,      &s->v,       &s->att_out,
                      &s->proj,     &s->h1,       &s->h3,      &s->scores, &s->k_cache, &s->v_cache,
                      &s->rope_cos, &s->rope_sin, &s->row_max, &s->wbuf};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        free(*bufs[i]);
        *bufs[i] = NULL;
    }
    free(s->row_entropy);
    s->row_entropy = NULL;
}

/* The expansion scratch: blocks of rows of the widest weight that is not f32 (the
 * embedding is read row by row, unless it is also the classifier). Returns its floats and
 * sets *rows (rows per block, a multiple of 64; 0 when every weight is f32). */
static size_t expand_plan(const qs_model *m, int *rows) {
    int64_t wide = 0, tall = 0;
    *rows = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const qs_tensor *t = m->tensors[i];
        if (t->f32 || t->rows == 1 || (t == m->w.token_embd && t != m->w.output)) continue;
        wide = t->cols > wide ? t->cols : wide;
        tall = t->rows > tall ? t->rows : tall;
    }
    if (wide == 0) return 0;
    int64_t r = QS_FORWARD_EXPAND_FLOATS / wide / 64 * 64, tall64 = (tall + 63) / 64 * 64;
    r = r < 64 ? 64 : r;
    *rows = (int)(r < tall64 ? r : tall64);
    return (size_t)*rows * (size_t)wide;
}

int qs_forward_init(qs_forward_state *s, const qs_model *m, int max_T, int max_pos) {
    memset(s, 0, sizeof *s);
    const qs_config *c = &m->cfg;
    if (max_T <= 0 || max_pos < max_T)
        return qs_error_set(QS_ERR_ARG, "forward: window %d and cache %d positions are invalid",
                            max_T, max_pos);
    s->m = m;
    s->max_T = max_T;
    s->max_pos = max_pos;
    size_t T = (size_t)max_T, P = (size_t)max_pos;
    size_t D = c->dim, H = c->hidden_dim, hd = c->head_dim;
    size_t Q = (size_t)c->n_heads * hd, K = (size_t)c->n_kv_heads * hd;
    size_t Dmax = D > Q ? D : Q;
    size_t n_wbuf = expand_plan(m, &s->expand_rows);
    s->wbuf_floats = n_wbuf;
    struct {
        float **p;
        size_t n;
    } bufs[] = {
        {&s->x, T * D},
        {&s->xn, T * D},
        {&s->q, T * Q},
        {&s->k, T * K},
        {&s->v, T * K},
        {&s->att_out, T * Q},
        {&s->proj, T * Dmax},
        {&s->h1, T * H},
        {&s->h3, T * H},
        {&s->scores, (T > (size_t)c->n_heads ? T : (size_t)c->n_heads) * P},
        {&s->row_max, T},
        {&s->k_cache, c->n_layers * P * K},
        {&s->v_cache, c->n_layers * P * K},
        {&s->rope_cos, P * hd / 2},
        {&s->rope_sin, P * hd / 2},
        {&s->wbuf, n_wbuf},
    };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        if (bufs[i].n == 0) continue; /* no scratch: every weight is f32 */
        *bufs[i].p = malloc(bufs[i].n * sizeof(float));
        if (!*bufs[i].p) {
            qs_forward_free(s);
            return qs_error_set(QS_ERR_NOMEM,
                                "forward: out of memory for a %d-token window and %d-position "
                                "cache (%zu floats)",
                                max_T, max_pos, bufs[i].n);
        }
    }
    if (!(s->row_entropy = malloc(T * sizeof(double)))) {
        qs_forward_free(s);
        return qs_error_set(QS_ERR_NOMEM, "forward: out of memory for a %d-token window", max_T);
    }
    s->counted = qs_forward_memory(s);
    qs_memstat_add(QS_MEMSTAT_ACTIVATIONS, (long long)s->counted.activations);
    qs_memstat_add(QS_MEMSTAT_KV, (long long)s->counted.kv_cache);
    qs_memstat_add(QS_MEMSTAT_SCRATCH, (long long)s->counted.scratch);
    /* RoPE tables in double, as the reference does, stored as float */
    int half = (int)hd / 2;
    for (size_t p = 0; p < P; p++)
        for (int i = 0; i < half; i++) {
            double freq = pow((double)c->rope_theta, -2.0 * i / (double)hd);
            double a = (double)p * rope_scaled_freq(c, freq);
            s->rope_cos[p * half + i] = (float)cos(a);
            s->rope_sin[p * half + i] = (float)sin(a);
        }
    return QS_OK;
}

/* The model's own online transform of a site (model.h), then the capture hook. */
static int call_hook(const qs_hook *hook, int site, int layer, float *x, int T, int C, int pos0,
                     const qs_model *m) {
    if (m->online.fn && (m->online.site_mask & QS_SITE_BIT(site)))
        m->online.fn(m->online.user, site, layer, x, T, C);
    if (!hook || !hook->fn || !(hook->site_mask & QS_SITE_BIT(site))) return QS_OK;
    return hook->fn(hook->user, site, layer, x, T, C, pos0);
}

/* Causal GQA attention for one layer. Per query head: S (T, P) = q_h · K_hᵀ / √hd as one
 * sgemm, masked softmax per row (qs_softmax_row), then out_h (T, hd) = S · V_h as another.
 * The hook's attn callback, if any, sees each head's probabilities and the rows' entropies
 * the softmax gave in the same pass. */
static int attention(qs_forward_state *s, int layer, int T, int pos0, const qs_hook *hook) {
    qs_attn_fn show = hook ? hook->attn : NULL;
    const qs_config *c = &s->m->cfg;
    int hd = c->head_dim, Q = c->n_heads * hd, K = c->n_kv_heads * hd;
    int P = pos0 + T, group = c->n_heads / c->n_kv_heads;
    const float *kc = s->k_cache + (size_t)layer * s->max_pos * K; /* (P, K) */
    const float *vc = s->v_cache + (size_t)layer * s->max_pos * K; /* (P, K) */
    float *S = s->scores;                                          /* (T, P) */
    double *ent = show ? s->row_entropy : NULL;
    float scale = 1.0f / sqrtf((float)hd);
    for (int h = 0; h < c->n_heads; h++) {
        int kvh = h / group;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, P, hd, scale, s->q + h * hd, Q,
                    kc + kvh * hd, K, 0.0f, S, P);
#pragma omp parallel for if ((size_t)T * P >= PAR_MIN_WORK)
        for (int t = 0; t < T; t++) /* positions 0..pos0+t are visible */
            s->row_max[t] =
                qs_softmax_row(S + (size_t)t * P, pos0 + t + 1, P, ent ? ent + t : NULL);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, P, 1.0f, S, P, vc + kvh * hd,
                    K, 0.0f, s->att_out + h * hd, Q);
        int rc = show ? show(hook->user, layer, h, S, s->row_max, ent, T, P, pos0) : QS_OK;
        if (rc) return rc;
    }
    return QS_OK;
}

/* One token (T = 1) at position pos0: heads in parallel, each its row of scores (heads, P),
 * the same steps as attention() (q·k scaled after the sum, qs_softmax_row, then the
 * probabilities times V) in a different summation order. */
static void attention_one(qs_forward_state *s, int layer, int pos0) {
    const qs_config *c = &s->m->cfg;
    const int hd = c->head_dim, K = c->n_kv_heads * hd;
    const int n = pos0 + 1, group = c->n_heads / c->n_kv_heads;
    const float *kc = s->k_cache + (size_t)layer * s->max_pos * K; /* (P, K) */
    const float *vc = s->v_cache + (size_t)layer * s->max_pos * K; /* (P, K) */
    const float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel for schedule(static) if ((size_t)c->n_heads * n * hd >= PAR_MIN_WORK)
    for (int h = 0; h < c->n_heads; h++) {
        const int kvh = h / group;
        const float *q = s->q + h * hd;
        float *S = s->scores + (size_t)h * s->max_pos; /* (n) */
        /* the query against every cached key of its group: one call, key rows K apart */
        qs__linear_dot_f32(S, 1, q, hd, kc + kvh * hd, K, n);
        for (int j = 0; j < n; j++) S[j] *= scale;
        qs_softmax_row(S, n, n, NULL);
        float *o = s->att_out + h * hd; /* (hd) */
        for (int i = 0; i < hd; i++) o[i] = 0.0f;
        for (int j = 0; j < n; j++) qs_axpy(o, S[j], vc + (size_t)j * K + kvh * hd, hd);
    }
}

static int forward_window(qs_forward_state *s, const int *tokens, int T, int pos0, float *logits,
                          int last_only, const qs_hook *hook) {
    const qs_model *m = s->m;
    const qs_config *c = &m->cfg;
    if (T <= 0 || T > s->max_T || pos0 < 0 || pos0 + T > s->max_pos)
        return qs_error_set(QS_ERR_ARG,
                            "forward: window of %d tokens at position %d exceeds the state "
                            "(window %d, cache %d)",
                            T, pos0, s->max_T, s->max_pos);
    for (int t = 0; t < T; t++)
        if (tokens[t] < 0 || tokens[t] >= c->vocab_size)
            return qs_error_set(QS_ERR_ARG,
                                "forward: token %d at position %d is outside the "
                                "vocabulary (%d)",
                                tokens[t], pos0 + t, c->vocab_size);
    int D = c->dim, H = c->hidden_dim, hd = c->head_dim;
    int Q = c->n_heads * hd, K = c->n_kv_heads * hd;
    int rc;

    for (int t = 0; t < T; t++) /* x (T, D): the tokens' embedding rows, expanded */
        qs_tensor_rows(s->x + (size_t)t * D, m->w.token_embd, tokens[t], 1);

    for (int l = 0; l < c->n_layers; l++) {
        const qs_layer_weights *w = &m->w.layers[l];
        if ((rc = call_hook(hook, QS_SITE_RESID, l, s->x, T, D, pos0, m))) return rc;

        rmsnorm(s->xn, s->x, w->attn_norm->f32, T, D, c->norm_eps); /* xn (T, D) */
        if ((rc = call_hook(hook, QS_SITE_ATTN_IN, l, s->xn, T, D, pos0, m))) return rc;
        float *qkv[3] = {s->q, s->k, s->v}; /* q (T, Q), k (T, K), v (T, K) */
        const qs_tensor *wqkv[3] = {w->wq, w->wk, w->wv};
        if ((rc = matmul_many(s, 3, qkv, s->xn, wqkv, T))) return rc;
        add_bias(s->q, w->bq, T, Q);
        add_bias(s->k, w->bk, T, K);
        add_bias(s->v, w->bv, T, K);
        rope(s->q, T, c->n_heads, hd, pos0, s->rope_cos, s->rope_sin, c->rope_layout);
        rope(s->k, T, c->n_kv_heads, hd, pos0, s->rope_cos, s->rope_sin, c->rope_layout);
        size_t cache_off = ((size_t)l * s->max_pos + pos0) * K;
        memcpy(s->k_cache + cache_off, s->k, (size_t)T * K * sizeof(float));
        memcpy(s->v_cache + cache_off, s->v, (size_t)T * K * sizeof(float));
        /* the rows just written, before any query reads them (KV-cache quantization) */
        if ((rc = call_hook(hook, QS_SITE_K_CACHE, l, s->k_cache + cache_off, T, K, pos0, m)))
            return rc;
        if ((rc = call_hook(hook, QS_SITE_V_CACHE, l, s->v_cache + cache_off, T, K, pos0, m)))
            return rc;

        if (T == 1 && !(hook && hook->attn))
            attention_one(s, l, pos0); /* att_out (1, Q) */
        else if ((rc = attention(s, l, T, pos0, hook)))
            return rc; /* att_out (T, Q) */
        if ((rc = call_hook(hook, QS_SITE_ATTN_O_IN, l, s->att_out, T, Q, pos0, m))) return rc;
        if ((rc = matmul(s, s->proj, s->att_out, w->wo, T))) return rc; /* proj (T, D) */
        size_t TD = (size_t)T * D;
#pragma omp parallel for if (TD >= PAR_MIN_WORK)
        for (size_t i = 0; i < TD; i++) s->x[i] += s->proj[i];

        rmsnorm(s->xn, s->x, w->ffn_norm->f32, T, D, c->norm_eps);
        if ((rc = call_hook(hook, QS_SITE_FFN_IN, l, s->xn, T, D, pos0, m))) return rc;
        float *gu[2] = {s->h1, s->h3}; /* h1 (T, H), h3 (T, H) */
        const qs_tensor *wgu[2] = {w->w_gate, w->w_up};
        if ((rc = matmul_many(s, 2, gu, s->xn, wgu, T))) return rc;
        size_t TH = (size_t)T * H;
#pragma omp parallel for if (TH >= PAR_MIN_WORK)
        for (int t = 0; t < T; t++) /* SiLU(gate) * up */
            qs_swiglu(s->h1 + (size_t)t * H, s->h3 + (size_t)t * H, (size_t)H);
        if ((rc = call_hook(hook, QS_SITE_FFN_DOWN_IN, l, s->h1, T, H, pos0, m))) return rc;
        if ((rc = matmul(s, s->proj, s->h1, w->w_down, T))) return rc; /* proj (T, D) */
#pragma omp parallel for if (TD >= PAR_MIN_WORK)
        for (size_t i = 0; i < TD; i++) s->x[i] += s->proj[i];
    }
    if ((rc = call_hook(hook, QS_SITE_RESID, c->n_layers, s->x, T, D, pos0, m))) return rc;

    if (logits) {
        int first = last_only ? T - 1 : 0, n = T - first;
        rmsnorm(s->xn, s->x + (size_t)first * D, m->w.output_norm->f32, n, D, c->norm_eps);
        if ((rc = matmul(s, logits, s->xn, m->w.output, n))) return rc; /* logits (n, V) */
    }
    return QS_OK;
}

/* Below this many multiply-adds per forward, the matrix products run on one thread: waking
 * BLAS threads costs more than the products of a small model (stories260K ran 10x slower
 * on two threads than on one on a busy machine), while wide models need every core. */
#define BLAS_PARALLEL_MIN_MACS 1e9
/* A model this small (weights in cache, matrices tens of values wide) also runs its own
 * parallel loops, the statistics a hook computes included, on one thread: each of its
 * hundreds of short loops per window costs a wake-up of the other threads. stories260K at
 * ctx 256 on 2 vCPUs: plain forward 9.6 ms on one thread against 10-11 ms on two, profiled
 * 14.0 against 18-19 ms. A model with more weights streams them from memory at small T and
 * needs every core even where its multiply-adds are few (decode). */
#define SMALL_MODEL_PARAMS (1 << 22)

/* The forward's two thread rules, for a window of T tokens at pos0. */
static int few_macs(const qs_forward_state *s, int T, int pos0) {
    double macs = qs_forward_flops(&s->m->cfg, T > 0 ? T : 1, pos0) / 2;
    /* the naive path's sgemv over a whole expanded weight wants every BLAS thread */
    return macs < BLAS_PARALLEL_MIN_MACS && s->path != QS_LINEAR_NAIVE;
}
static int runs_alone(const qs_forward_state *s, int T, int pos0) {
    return few_macs(s, T, pos0) && qs_model_param_count(s->m) < SMALL_MODEL_PARAMS;
}

int qs_forward_idle_cores(const qs_forward_state *s, int T) {
    int n = omp_get_max_threads();
    return n > 1 && runs_alone(s, T, 0) ? n - 1 : 0;
}

int qs_forward(qs_forward_state *s, const int *tokens, int T, int pos0, float *logits,
               int last_only, const qs_hook *hook) {
    int saved = openblas_get_num_threads(), saved_omp = omp_get_max_threads();
    if (few_macs(s, T, pos0) && saved > 1) openblas_set_num_threads(1);
    if (saved_omp > 1 && runs_alone(s, T, pos0)) omp_set_num_threads(1);
    int rc = forward_window(s, tokens, T, pos0, logits, last_only, hook);
    if (openblas_get_num_threads() != saved) openblas_set_num_threads(saved);
    if (omp_get_max_threads() != saved_omp) omp_set_num_threads(saved_omp);
    /* weights are read from the file's mapping: a file truncated meanwhile read as zeros
     * (base/fileio.h), so these logits are void */
    if (rc == QS_OK) rc = qs_model_check_maps(s->m);
    return rc;
}

double qs_forward_flops(const qs_config *c, int T, int pos0) {
    double D = c->dim, H = c->hidden_dim, hd = c->head_dim;
    double Q = c->n_heads * hd, K = c->n_kv_heads * hd;
    double per_token =
        2.0 * c->n_layers * (D * Q + 2.0 * D * K + Q * D + 3.0 * D * H) + 2.0 * D * c->vocab_size;
    /* QKᵀ and S·V: 2·hd multiply-adds per head per visible position, causal */
    double visible = (double)T * pos0 + (double)T * (T + 1) / 2.0;
    double attn = 4.0 * hd * c->n_heads * visible * c->n_layers;
    return per_token * T + attn;
}

qs_forward_bytes qs_forward_estimate(const qs_model *m, int max_T, int max_pos) {
    const qs_config *c = &m->cfg;
    size_t T = (size_t)max_T, P = (size_t)max_pos, hd = (size_t)c->head_dim;
    size_t D = c->dim, H = c->hidden_dim, Q = (size_t)c->n_heads * hd;
    size_t K = (size_t)c->n_kv_heads * hd, Dmax = D > Q ? D : Q;
    qs_forward_bytes b;
    int rows;
    size_t rowsS = T > (size_t)c->n_heads ? T : (size_t)c->n_heads; /* rows of scores */
    b.activations =
        sizeof(float) * (T * (2 * D + 2 * Q + 2 * K + Dmax + 2 * H + 3) + rowsS * P + P * hd);
    b.kv_cache = sizeof(float) * 2 * (size_t)c->n_layers * P * K;
    b.scratch = sizeof(float) * expand_plan(m, &rows);
    return b;
}

qs_forward_bytes qs_forward_memory(const qs_forward_state *s) {
    return qs_forward_estimate(s->m, s->max_T, s->max_pos);
}
