/* Products of activations with weights in their stored type (linear.h): dispatch through the
 * storage-type table, the row-at-a-time fallback, OpenMP over output rows, the naive path. */
#include "linear.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "error.h"
#include "linear_kernels.h"
#include "memstat.h"

static const char *path_names[QS_LINEAR_PATHS] = {"fused", "naive", "int8dot"};

const char *qs_linear_path_name(int path) {
    return path >= 0 && path < QS_LINEAR_PATHS ? path_names[path] : "?";
}

int qs_linear_path_parse(const char *name) {
    for (int i = 0; i < QS_LINEAR_PATHS; i++)
        if (!strcmp(name, path_names[i])) return i;
    return -1;
}

/* ---- one call's rows ------------------------------------------------------------------ */

static qs_matvec_fn fused_kernel(const qs_tensor *w) {
    const qs_dtype_traits *tr = qs_dtype_traits_get(w->type);
    int path = qs_cpu_path();
    return tr ? tr->matvec[path > QS_CPU_AVX512 ? QS_CPU_AVX512 : path] : NULL;
}

int qs_linear_fused_in_registers(const qs_tensor *w) {
    qs_matvec_fn k = fused_kernel(w);
    if (!k) return 0;
    if (w->type == QS_DTYPE_PACKED) return w->pk && qs__packed_fusable(w->pk);
    if (w->type == QS_GGML_F32) return ((uintptr_t)w->data & 3) == 0;
    return 1;
}

/* Stored rows [r0, r0 + n): the type's register kernel, else each row expanded into rowbuf
 * (cols floats) and dotted. */
void qs_linear_matvec(float *y, int64_t ldy, const qs_tensor *w, int64_t r0, int64_t n,
                      const float *x, int64_t ldx, int T, float *rowbuf) {
    qs_matvec_fn k = fused_kernel(w);
    if (k && k(y, ldy, w->data, r0, n, w->cols, w->pk, x, ldx, T)) return;
    const qs_dtype_traits *tr = qs_dtype_traits_get(w->type);
    for (int64_t i = 0; i < n; i++) {
        tr->rows(rowbuf, w->data, r0 + i, 1, w->cols, w->pk);
        qs__linear_dot_f32(y + i, ldy, rowbuf, w->cols, x, ldx, T);
    }
}

void qs_linear_matvec_ref(float *y, int64_t ldy, const qs_tensor *w, int64_t r0, int64_t n,
                          const float *x, int64_t ldx, int T) {
    const qs_dtype_traits *tr = qs_dtype_traits_get(w->type);
    float *row = malloc((size_t)w->cols * sizeof *row);
    if (!row) { /* a reference for tests: no error path, the NaNs say it */
        for (int64_t i = 0; i < n; i++)
            for (int t = 0; t < T; t++) y[t * ldy + i] = NAN;
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        tr->rows_ref(row, w->data, r0 + i, 1, w->cols, w->pk);
        for (int t = 0; t < T; t++) {
            double s = 0.0;
            for (int64_t c = 0; c < w->cols; c++) s += (double)row[c] * x[t * ldx + c];
            y[t * ldy + i] = (float)s;
        }
    }
    free(row);
}

/* int8dot rows through the table; 0 when the type has none */
static int dot8(float *y, int64_t ldy, const qs_tensor *w, int64_t r0, int64_t n, const qs_act8 *a,
                int ref) {
    const qs_dtype_traits *tr = qs_dtype_traits_get(w->type);
    qs_dot8_fn f = tr ? (ref ? tr->dot8_ref : tr->dot8) : NULL;
    return f ? f(y, ldy, w->data, r0, n, w->cols, w->pk, a) : 0;
}

void qs_linear_dot8(float *y, int64_t ldy, const qs_tensor *w, int64_t r0, int64_t n,
                    const qs_act8 *a) {
    dot8(y, ldy, w, r0, n, a, 0);
}

void qs_linear_dot8_ref(float *y, int64_t ldy, const qs_tensor *w, int64_t r0, int64_t n,
                        const qs_act8 *a) {
    dot8(y, ldy, w, r0, n, a, 1);
}

/* ---- whole products --------------------------------------------------------------------- */

/* stored row of logical row r (tensor.h's rotate_half order within heads) */
static int64_t stored_row(const qs_tensor *t, int64_t r) {
    if (t->perm_head_dim <= 0) return r;
    int64_t hd = t->perm_head_dim, l = r % hd;
    return r - l + (l % 2) * (hd / 2) + l / 2;
}

/* Rows per unit of work: about 2^17 weights (32 rows of a 4096-wide matrix), at least 4
 * rows, and at least 4 units per thread, so the dynamic schedule evens out threads slowed
 * by other processes. Units were 8192 weights until decode was measured against them: each
 * unit restarts the hardware prefetcher on a new stretch of memory and takes a shared
 * counter, and on a 2-core Zen 4 one-token int8dot over 45056 × 4096 Q8_0 rows went from
 * 21 to 34 GB/s, Q4_0 from 16 to 31, f32 fused from 26 to 31 with the larger units. A long
 * int8dot window takes units of 64 rows or more: each block of its tokens is then read
 * once per unit, not once per 4 rows. */
#define UNIT_WEIGHTS ((int64_t)1 << 17)
static int64_t chunk_rows(const qs_tensor *w, int long_int8, int nth) {
    int64_t r = UNIT_WEIGHTS / (w->cols > 0 ? w->cols : 1);
    int64_t balanced = (w->rows + 4 * nth - 1) / (4 * nth);
    if (r > balanced) r = balanced;
    if (long_int8 && r < 64) r = 64;
    return r < 4 ? 4 : r;
}

/* Rows the naive path expands per parallel step: about 256 Ki values. */
static int64_t expand_rows(const qs_tensor *w) {
    int64_t r = ((int64_t)1 << 18) / (w->cols > 0 ? w->cols : 1);
    return r < 32 ? 32 : r;
}

/* Below this many multiply-adds a product runs on one thread: the fork/join costs more. */
#define PAR_MIN_MACS (1 << 18)

static int ctx_grow(qs_linear_ctx *c, float **p, size_t *have, size_t want) {
    if (want <= *have) return QS_OK;
    float *q = realloc(*p, want * sizeof *q);
    if (!q)
        return qs_error_set(QS_ERR_NOMEM, "linear: out of memory for %zu floats of scratch", want);
    qs_memstat_add(QS_MEMSTAT_SCRATCH, (long long)((want - *have) * sizeof *q));
    c->counted += (want - *have) * sizeof *q;
    *p = q;
    *have = want;
    return QS_OK;
}

void qs_linear_ctx_free(qs_linear_ctx *c) {
    qs_memstat_add(QS_MEMSTAT_SCRATCH, -(long long)c->counted);
    qs_act8_free(&c->a8);
    free(c->rowbuf);
    free(c->full);
    memset(c, 0, sizeof *c);
}

typedef struct unit {
    int wi;        /* which weight */
    int64_t r0, n; /* logical rows */
} unit;

/* Tokens per block of a long int8dot window: the row-lane kernel (linear_int8.c) decodes
 * each group of eight rows once per block of tokens and passes every token of the block
 * through it, so longer blocks decode less often; their codes are read a group at a time.
 * Prefill of the Llama-2-7B shape at T = 512, int8dot Q8_0 / Q4_0 tok/s (`bench --speed`,
 * Zen 4): 32 tokens 134 / 189, 128: 206 / 238, 256: 229-243 / 210-253, 512: 243 / 207. */
#define DOT8_TOKEN_BLOCK 256

/* a8 restricted to tokens [t0, t0 + n) */
static qs_act8 act8_view(const qs_act8 *a, int t0, int n) {
    qs_act8 v = *a;
    v.T = n;
    v.q = a->q + (size_t)t0 * (size_t)a->C;
    v.qu = a->qu + (size_t)t0 * (size_t)a->C;
    v.d = a->d + (size_t)t0 * (size_t)a->nb;
    v.sum = a->sum + (size_t)t0 * (size_t)a->nb;
    return v;
}

/* rows [r0, r0 + n) of t through its integer kernel, tokens in blocks; 0 when t has none */
static int dot8_blocked(float *y, int64_t ldy, const qs_tensor *t, int64_t r0, int64_t n,
                        const qs_act8 *a8) {
    if (a8->T <= DOT8_TOKEN_BLOCK) return dot8(y, ldy, t, r0, n, a8, 0);
    for (int t0 = 0; t0 < a8->T; t0 += DOT8_TOKEN_BLOCK) {
        int nt = a8->T - t0 < DOT8_TOKEN_BLOCK ? a8->T - t0 : DOT8_TOKEN_BLOCK;
        qs_act8 v = act8_view(a8, t0, nt);
        if (!dot8(y + (size_t)t0 * (size_t)ldy, ldy, t, r0, n, &v, 0)) return 0;
    }
    return 1;
}

/* rows [u.r0, u.r0 + n) of weight wi, fused or int8dot, on the calling thread */
static void run_unit(const unit *u, float *const *y, const qs_tensor *const *w, const float *x,
                     int T, const qs_act8 *a8, float *rowbuf) {
    const qs_tensor *t = w[u->wi];
    const int64_t R = t->rows;
    float *yo = y[u->wi];
    if (t->perm_head_dim <= 0) {
        if (a8 && dot8_blocked(yo + u->r0, R, t, u->r0, u->n, a8)) return;
        qs_linear_matvec(yo + u->r0, R, t, u->r0, u->n, x, t->cols, T, rowbuf);
        return;
    }
    for (int64_t r = u->r0; r < u->r0 + u->n; r++) {
        int64_t s = stored_row(t, r);
        if (a8 && dot8_blocked(yo + r, R, t, s, 1, a8)) continue;
        qs_linear_matvec(yo + r, R, t, s, 1, x, t->cols, T, rowbuf);
    }
}

/* naive: the whole matrix expanded to f32 in memory, then BLAS */
static int naive(qs_linear_ctx *c, float *y, const float *x, const qs_tensor *w, int T) {
    const int in = (int)w->cols, out = (int)w->rows;
    const float *m = w->f32;
    if (!m) {
        size_t n = (size_t)in * out;
        int rc = ctx_grow(c, &c->full, &c->full_floats, n);
        if (rc) return rc;
        int64_t block = expand_rows(w), nb = (w->rows + block - 1) / block;
#pragma omp parallel for schedule(dynamic, 1) if (n >= PAR_MIN_MACS)
        for (int64_t b = 0; b < nb; b++) {
            int64_t r0 = b * block, k = w->rows - r0 < block ? w->rows - r0 : block;
            qs_tensor_rows(c->full + (size_t)r0 * in, w, r0, k);
        }
        m = c->full;
    }
    if (T == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, m, in, x, 1, 0.0f, y, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, out, in, 1.0f, x, in, m, in, 0.0f,
                    y, out);
    return QS_OK;
}

int qs_linear_many(qs_linear_ctx *c, int n, float *const *y, const qs_tensor *const *w,
                   const float *x, int T, int path) {
    if (n <= 0) return QS_OK;
    if (T <= 0 || path < 0 || path >= QS_LINEAR_PATHS)
        return qs_error_set(QS_ERR_ARG, "linear: T = %d, path %d", T, path);
    const int64_t C = w[0]->cols;
    for (int i = 1; i < n; i++)
        if (w[i]->cols != C)
            return qs_error_set(QS_ERR_ARG, "linear: %s has %lld inputs, %s %lld", w[i]->name,
                                (long long)w[i]->cols, w[0]->name, (long long)C);
    if (path == QS_LINEAR_NAIVE) {
        for (int i = 0; i < n; i++) {
            int rc = naive(c, y[i], x, w[i], T);
            if (rc) return rc;
        }
        return QS_OK;
    }
    /* int8 activations once for every weight that has an integer kernel */
    const qs_act8 *a8 = NULL;
    if (path == QS_LINEAR_INT8DOT) {
        int any = 0;
        for (int i = 0; i < n; i++) any |= qs_linear_int8dot_defined(w[i]);
        if (any) {
            int rc = qs_act8_quantize(&c->a8, x, T, (int)C, c->a8_per_token);
            if (rc) return rc;
            a8 = &c->a8;
        }
    }
    /* units of work over every weight's rows; scratch for the fallback before the region */
    int64_t n_units = 0, macs = 0;
    int fallback = 0;
    const int long8 = a8 && T > DOT8_TOKEN_BLOCK;
    for (int i = 0; i < n; i++) {
        macs += w[i]->rows * C * T;
        if (!qs_linear_fused_in_registers(w[i])) fallback = 1;
    }
    int nth = omp_get_max_threads();
    if (macs < PAR_MIN_MACS) nth = 1;
    for (int i = 0; i < n; i++) {
        int64_t cr = chunk_rows(w[i], long8, nth);
        n_units += (w[i]->rows + cr - 1) / cr;
    }
    if (fallback) {
        int rc = ctx_grow(c, &c->rowbuf, &c->rowbuf_floats, (size_t)nth * (size_t)C);
        if (rc) return rc;
    }
    unit *units = malloc((size_t)n_units * sizeof *units);
    if (!units) return qs_error_set(QS_ERR_NOMEM, "linear: out of memory");
    int64_t k = 0;
    for (int i = 0; i < n; i++) {
        int64_t cr = chunk_rows(w[i], long8, nth);
        for (int64_t r = 0; r < w[i]->rows; r += cr)
            units[k++] = (unit){i, r, w[i]->rows - r < cr ? w[i]->rows - r : cr};
    }
#pragma omp parallel num_threads(nth) if (nth > 1)
    {
        float *rowbuf = c->rowbuf ? c->rowbuf + (size_t)omp_get_thread_num() * C : NULL;
#pragma omp for schedule(dynamic, 1)
        for (int64_t u = 0; u < n_units; u++) run_unit(&units[u], y, w, x, T, a8, rowbuf);
    }
    free(units);
    return QS_OK;
}

int qs_linear(qs_linear_ctx *c, float *y, const float *x, const qs_tensor *w, int T, int path) {
    return qs_linear_many(c, 1, &y, &w, x, T, path);
}

void qs_linear_ref(float *y, const float *x, const qs_tensor *w, int T) {
    for (int64_t r = 0; r < w->rows; r++)
        qs_linear_matvec_ref(y + r, w->rows, w, stored_row(w, r), 1, x, w->cols, T);
}
