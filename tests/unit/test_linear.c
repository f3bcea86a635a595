/* Decode kernels (core/model/linear.h), on every SIMD path this CPU has (cpu_paths.h):
 *   - fused: every storage type with a register kernel (f32, f16, bf16, Q8_0, Q4_0, Q4_K,
 *     Q6_K, packed 8/4-bit per-tensor, per-row, g32, g128, symmetric and affine, f32
 *     scales) and some that take the row-at-a-time fallback (Q5_K, IQ4_NL, packed 3-bit,
 *     packed fp4 table, groups of 16 and 24), for T = 1..6 tokens, against the double-sum
 *     reference within QS_LINEAR_FUSED_TOL; the same bits on 1 and 2 threads and for a
 *     token alone or among others; Hugging Face row order; the naive path (expand, then
 *     BLAS) within the same bound;
 *   - int8dot: activation quantization fast == _ref bit for bit (codes, scales, sums; an
 *     all-zero block, a huge value, per token); integer kernels == _ref bit for bit with
 *     and without VNNI, rows whose block count is not a multiple of 8 (and a 70-token window
 *     through qs_linear: blocks of tokens over units of rows); and the int8dot
 *     result within the activation rounding's bound of the exact product. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpu_paths.h"
#include "error.h"
#include "fp16.h"
#include "gguf_dequant.h"
#include "linear.h"
#include "packed.h"
#include "tensor.h"

/* The int8dot result against the exact product of the f32 weights: each activation is off
 * by at most half its block's step (amax/254), plus float rounding of the sums. */
#define MAX_INT8DOT_STEP_FRACTION (1.0 / 254.0)
#define MAX_INT8DOT_ROUNDING      1e-5

static uint32_t rng = 88172645u;
static uint32_t rnd32(void) {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}
static float unif(void) { return (float)((rnd32() >> 8) * (1.0 / 16777216.0)) * 2.0f - 1.0f; }

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
/* a moderate positive fp16 scale */
static uint16_t scale16(void) { return qs_fp16_from_f32(0.001f + 0.05f * (unif() + 1.0f)); }

/* random stored bytes of a block type, with finite moderate scales where the format has them */
static uint8_t *block_bytes(uint32_t type, int64_t R, int64_t C, size_t *n) {
    *n = qs_dtype_row_bytes(type, C) * (size_t)R;
    uint8_t *x = malloc(*n);
    for (size_t i = 0; i < *n; i++) x[i] = (uint8_t)rnd32();
    const qs_dtype_traits *tr = qs_dtype_traits_get(type);
    size_t ts = (size_t)tr->type_size;
    for (size_t b = 0; b < *n / ts; b++) {
        uint8_t *p = x + b * ts;
        switch (type) {
        case QS_GGML_F32: {
            float f = unif();
            memcpy(p, &f, 4);
            break;
        }
        case QS_GGML_F16: put16(p, qs_fp16_from_f32(unif())); break;
        case QS_GGML_BF16: put16(p, qs_bf16_from_f32(unif())); break;
        case QS_GGML_Q8_0:
        case QS_GGML_Q4_0:
        case QS_GGML_IQ4_NL: put16(p, scale16()); break;
        case QS_GGML_Q4_K:
        case QS_GGML_Q5_K: put16(p, scale16()), put16(p + 2, scale16()); break;
        case QS_GGML_Q6_K: put16(p + 208, scale16()); break;
        default: break;
        }
    }
    return x;
}

/* a packed tensor with random codes, scales and zero-points */
typedef struct pk {
    qs_packed_layout lay;
    uint8_t *data;
    size_t n;
} pk;

static void packed_make(pk *p, int64_t R, int64_t C, int bits, int affine, int gran, int64_t G,
                        int fp32) {
    CHECK(qs_packed_layout_init(&p->lay, R, C, bits, affine, gran, G, fp32) == QS_OK);
    p->n = qs_packed_bytes(&p->lay);
    p->data = malloc(p->n);
    for (size_t i = 0; i < p->n; i++) p->data[i] = (uint8_t)rnd32();
    uint8_t *s = p->data + p->lay.codes_bytes;
    for (int64_t g = 0; g < p->lay.n_groups; g++) {
        if (fp32) {
            float f = 0.001f + 0.05f * (unif() + 1.0f);
            memcpy(s + 4 * g, &f, 4);
        } else {
            put16(s + 2 * g, scale16());
        }
    }
}

static const float e2m1[16] = {0,     0.5f,  1,  1.5f,  2,  3,  4,  6,
                               -0.0f, -0.5f, -1, -1.5f, -2, -3, -4, -6};

/* every weight the test runs: (R, C) with C = 256, 160 (5 blocks of 32) or 352 (eight
 * blocks and three: the decode kernels' whole groups and their rest) */
typedef struct wcase {
    char label[48];
    qs_tensor t;
    uint8_t *owned;
    pk p;
    int regs; /* 1: a register kernel is expected on AVX2 and up */
    int dot8; /* 1: int8dot is defined */
} wcase;

static int make_cases(wcase *w, int max) {
    int n = 0;
    static const struct {
        uint32_t type;
        int64_t C;
        int regs, dot8;
    } blocks[] = {
        {QS_GGML_F32, 256, 1, 0},  {QS_GGML_F32, 172, 1, 0},    {QS_GGML_F16, 256, 1, 0},
        {QS_GGML_F16, 100, 1, 0},  {QS_GGML_BF16, 256, 1, 0},   {QS_GGML_BF16, 172, 1, 0},
        {QS_GGML_Q8_0, 256, 1, 1}, {QS_GGML_Q8_0, 160, 1, 1},   {QS_GGML_Q4_0, 256, 1, 1},
        {QS_GGML_Q4_0, 160, 1, 1}, {QS_GGML_Q8_0, 352, 1, 1},   {QS_GGML_Q4_0, 352, 1, 1},
        {QS_GGML_Q4_K, 512, 1, 1}, {QS_GGML_Q6_K, 512, 1, 1},
        {QS_GGML_Q5_K, 256, 0, 0}, {QS_GGML_IQ4_NL, 160, 0, 0},
    };
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0] && n < max; i++, n++) {
        wcase *c = &w[n];
        memset(c, 0, sizeof *c);
        size_t nb;
        c->owned = block_bytes(blocks[i].type, 37, blocks[i].C, &nb);
        CHECK(qs_tensor_init(&c->t, "w", blocks[i].type, c->owned, nb, 37, blocks[i].C, NULL) ==
              QS_OK);
        snprintf(c->label, sizeof c->label, "%s C=%lld", qs_dtype_name(blocks[i].type),
                 (long long)blocks[i].C);
        c->regs = blocks[i].regs;
        c->dot8 = blocks[i].dot8;
    }
    static const struct {
        int bits, affine, gran;
        int64_t G, C;
        int fp32, regs, dot8;
    } packs[] = {
        {8, 0, QS_PACKED_ROW, 0, 256, 0, 1, 1},     {8, 1, QS_PACKED_ROW, 0, 256, 0, 1, 1},
        {8, 0, QS_PACKED_GROUP, 32, 160, 0, 1, 1},  {8, 1, QS_PACKED_GROUP, 128, 256, 0, 1, 1},
        {4, 0, QS_PACKED_ROW, 0, 256, 0, 1, 1},     {4, 1, QS_PACKED_ROW, 0, 160, 0, 1, 1},
        {4, 0, QS_PACKED_GROUP, 32, 256, 0, 1, 1},  {4, 1, QS_PACKED_GROUP, 32, 160, 0, 1, 1},
        {4, 0, QS_PACKED_GROUP, 128, 256, 1, 1, 1}, {4, 1, QS_PACKED_GROUP, 128, 256, 0, 1, 1},
        {4, 0, QS_PACKED_TENSOR, 0, 256, 0, 1, 1},  {8, 1, QS_PACKED_TENSOR, 0, 160, 0, 1, 1},
        {8, 0, QS_PACKED_GROUP, 64, 384, 0, 1, 1},  {4, 1, QS_PACKED_GROUP, 64, 384, 0, 1, 1},
        {4, 1, QS_PACKED_GROUP, 32, 352, 0, 1, 1},  {8, 1, QS_PACKED_GROUP, 32, 288, 1, 1, 1},
        {4, 0, QS_PACKED_GROUP, 16, 256, 0, 0, 0},  {3, 0, QS_PACKED_GROUP, 32, 256, 0, 0, 0},
        {4, 0, QS_PACKED_GROUP, 24, 240, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof packs / sizeof packs[0] && n < max; i++, n++) {
        wcase *c = &w[n];
        memset(c, 0, sizeof *c);
        packed_make(&c->p, 37, packs[i].C, packs[i].bits, packs[i].affine, packs[i].gran,
                    packs[i].G, packs[i].fp32);
        CHECK(qs_tensor_init(&c->t, "w", QS_DTYPE_PACKED, c->p.data, c->p.n, 37, packs[i].C,
                             &c->p.lay) == QS_OK);
        snprintf(c->label, sizeof c->label, "%s C=%lld", c->t.stored_type, (long long)packs[i].C);
        c->regs = packs[i].regs;
        c->dot8 = packs[i].dot8;
    }
    if (n < max) { /* a floating-point element table: fallback, no int8dot */
        wcase *c = &w[n++];
        memset(c, 0, sizeof *c);
        CHECK(qs_packed_layout_init_lut(&c->p.lay, 37, 256, 4, QS_PACKED_GROUP, 32,
                                        QS_PACKED_SCALE_F16, e2m1, NULL, 0) == QS_OK);
        c->p.n = qs_packed_bytes(&c->p.lay);
        c->p.data = malloc(c->p.n);
        for (size_t i = 0; i < c->p.n; i++) c->p.data[i] = (uint8_t)rnd32();
        for (int64_t g = 0; g < c->p.lay.n_groups; g++)
            put16(c->p.data + c->p.lay.codes_bytes + 2 * g, scale16());
        CHECK(qs_tensor_init(&c->t, "w", QS_DTYPE_PACKED, c->p.data, c->p.n, 37, 256, &c->p.lay) ==
              QS_OK);
        snprintf(c->label, sizeof c->label, "%s", c->t.stored_type);
    }
    return n;
}

static void free_cases(wcase *w, int n) {
    for (int i = 0; i < n; i++) free(w[i].owned), free(w[i].p.data);
}

/* Σ_k |w_k·x_k| for row r (logical) and token t, from the reference expansion */
static double abs_dot(const qs_tensor *t, int64_t r, const float *x) {
    float *row = malloc((size_t)t->cols * sizeof *row);
    qs_tensor_rows_ref(row, t, r, 1);
    double s = 0;
    for (int64_t c = 0; c < t->cols; c++) s += fabs((double)row[c] * x[c]);
    free(row);
    return s;
}

static void random_x(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = unif();
}

static void test_fused(wcase *w, int n) {
    const int maxT = 6;
    int path = qs_cpu_path();
    for (int i = 0; i < n; i++) {
        const qs_tensor *t = &w[i].t;
        const int64_t R = t->rows, C = t->cols;
        float *x = malloc((size_t)maxT * C * sizeof *x);
        float *y = malloc((size_t)maxT * R * sizeof *y), *y2 = malloc((size_t)maxT * R * sizeof *y);
        float *ref = malloc((size_t)maxT * R * sizeof *ref);
        random_x(x, (size_t)maxT * C);
        if (path >= QS_CPU_AVX2)
            CHECK_MSG(qs_linear_fused_in_registers(t) == w[i].regs, "%s: register kernel %d",
                      w[i].label, qs_linear_fused_in_registers(t));
        for (int T = 1; T <= maxT; T++) {
            qs_linear_ctx ctx = {0};
            omp_set_num_threads(2);
            CHECK(qs_linear(&ctx, y, x, t, T, QS_LINEAR_FUSED) == QS_OK);
            omp_set_num_threads(1);
            CHECK(qs_linear(&ctx, y2, x, t, T, QS_LINEAR_FUSED) == QS_OK);
            CHECK_MSG(memcmp(y, y2, (size_t)T * R * sizeof *y) == 0, "%s T=%d: 1 vs 2 threads",
                      w[i].label, T);
            /* a result depends on its row and token only, not on the tiles it was in */
            int tiled = 0;
            for (int tt = 0; tt < T; tt++) {
                CHECK(qs_linear(&ctx, y2, x + tt * C, t, 1, QS_LINEAR_FUSED) == QS_OK);
                tiled += memcmp(y2, y + tt * R, (size_t)R * sizeof *y) != 0;
            }
            CHECK_MSG(tiled == 0, "%s T=%d: %d tokens differ from the same token alone", w[i].label,
                      T, tiled);
            qs_linear_ref(ref, x, t, T);
            double worst = 0;
            for (int tt = 0; tt < T; tt++)
                for (int64_t r = 0; r < R; r++) {
                    double e = fabs((double)y[tt * R + r] - ref[tt * R + r]);
                    double b = QS_LINEAR_FUSED_TOL(C) * abs_dot(t, r, x + tt * C);
                    if (e > b && e - b > worst) worst = e - b;
                }
            CHECK_MSG(worst == 0, "%s T=%d: fused beyond its bound by %g", w[i].label, T, worst);
            /* naive: the expansion, then sgemv/sgemm */
            CHECK(qs_linear(&ctx, y2, x, t, T, QS_LINEAR_NAIVE) == QS_OK);
            worst = 0;
            for (int tt = 0; tt < T; tt++)
                for (int64_t r = 0; r < R; r++) {
                    double e = fabs((double)y2[tt * R + r] - ref[tt * R + r]);
                    double b = QS_LINEAR_FUSED_TOL(C) * abs_dot(t, r, x + tt * C);
                    if (e > b && e - b > worst) worst = e - b;
                }
            CHECK_MSG(worst == 0, "%s T=%d: naive beyond the bound by %g", w[i].label, T, worst);
            omp_set_num_threads(2);
            qs_linear_ctx_free(&ctx);
        }
        free(x), free(y), free(y2), free(ref);
    }
}

/* Hugging Face q/k rows: logical order out of the fused and int8dot paths */
static void test_permuted(void) {
    const int hd = 8, R = 24, C = 64;
    size_t nb;
    uint8_t *b = block_bytes(QS_GGML_Q8_0, R, C, &nb);
    qs_tensor t;
    CHECK(qs_tensor_init(&t, "q", QS_GGML_Q8_0, b, nb, R, C, NULL) == QS_OK);
    t.perm_head_dim = hd;
    float x[64], y[24], ref[24], rowv[64];
    random_x(x, 64);
    qs_linear_ctx ctx = {0};
    CHECK(qs_linear(&ctx, y, x, &t, 1, QS_LINEAR_FUSED) == QS_OK);
    int bad = 0;
    for (int r = 0; r < R; r++) {
        qs_tensor_rows_ref(rowv, &t, r, 1); /* logical row r */
        double s = 0, a = 0;
        for (int c = 0; c < C; c++) s += (double)rowv[c] * x[c], a += fabs((double)rowv[c] * x[c]);
        ref[r] = (float)s;
        bad += fabs(y[r] - s) > QS_LINEAR_FUSED_TOL(C) * a;
    }
    CHECK_MSG(bad == 0, "%d permuted rows wrong", bad);
    float y8[24];
    CHECK(qs_linear(&ctx, y8, x, &t, 1, QS_LINEAR_INT8DOT) == QS_OK);
    bad = 0;
    for (int r = 0; r < R; r++) bad += fabs(y8[r] - ref[r]) > 0.05 * (fabs(ref[r]) + 1);
    CHECK_MSG(bad == 0, "%d permuted int8dot rows far off", bad);
    qs_linear_ctx_free(&ctx);
    free(b);
}

static void test_act8(void) {
    const int T = 3, C = 320;
    float *x = malloc((size_t)T * C * sizeof *x);
    random_x(x, (size_t)T * C);
    for (int i = 0; i < 32; i++) x[32 + i] = 0.0f; /* an all-zero block */
    x[C + 5] = 3e4f;                               /* one huge value */
    x[2 * C + 7] = 0.5f / 127.0f * 3;              /* ties of rint come up in the grid */
    for (int pt = 0; pt <= 1; pt++) {
        qs_act8 a = {0}, r = {0};
        CHECK(qs_act8_quantize(&a, x, T, C, pt) == QS_OK);
        CHECK(qs_act8_quantize_ref(&r, x, T, C, pt) == QS_OK);
        CHECK(a.nb == C / 32 && a.per_token == pt);
        CHECK_MSG(memcmp(a.q, r.q, (size_t)T * C) == 0, "per_token %d: codes differ", pt);
        int qu_bad = 0;
        for (int i = 0; i < T * C; i++) qu_bad += a.qu[i] != a.q[i] + 128 || r.qu[i] != r.q[i] + 128;
        CHECK_MSG(qu_bad == 0, "per_token %d: %d unsigned codes are not code + 128", pt, qu_bad);
        CHECK_MSG(memcmp(a.d, r.d, (size_t)T * a.nb * 4) == 0, "per_token %d: scales differ", pt);
        CHECK_MSG(memcmp(a.sum, r.sum, (size_t)T * a.nb * 4) == 0, "per_token %d: sums differ", pt);
        if (!pt) CHECK(a.d[1] == 0.0f && a.sum[1] == 0);
        int lo = 0;
        for (int i = 0; i < T * C; i++) lo += a.q[i] == -128;
        CHECK(lo == 0);
        qs_act8_free(&a);
        qs_act8_free(&r);
    }
    qs_act8 a = {0};
    CHECK(qs_act8_quantize(&a, x, 1, 100, 0) == QS_ERR_ARG); /* not whole blocks */
    qs_act8_free(&a);
    free(x);
}

static void test_int8dot(wcase *w, int n) {
    /* 1 .. 6: the one-token loops and the tiled kernel; 8 and 19: the row-lane kernel */
    static const int Ts[] = {1, 2, 3, 4, 5, 6, 8, 19};
    const int maxT = 19;
    for (int i = 0; i < n; i++) {
        const qs_tensor *t = &w[i].t;
        CHECK_MSG(qs_linear_int8dot_defined(t) == w[i].dot8, "%s: int8dot defined %d", w[i].label,
                  qs_linear_int8dot_defined(t));
        if (!w[i].dot8) continue;
        const int64_t R = t->rows, C = t->cols;
        float *x = malloc((size_t)maxT * C * sizeof *x);
        float *y = malloc((size_t)maxT * R * sizeof *y), *yr = malloc((size_t)maxT * R * sizeof *y);
        float *row = malloc((size_t)C * sizeof *row);
        random_x(x, (size_t)maxT * C);
        for (int c = 0; c < 32; c++) x[C + c] = 0; /* token 1: an all-zero block */
        for (int pt = 0; pt <= 1; pt++)
            for (size_t ti = 0; ti < sizeof Ts / sizeof Ts[0]; ti++) {
                const int T = Ts[ti];
                qs_act8 a = {0};
                CHECK(qs_act8_quantize(&a, x, T, (int)C, pt) == QS_OK);
                for (int vnni = 0; vnni <= 1; vnni++) {
                    qs_linear_vnni_allow(vnni);
                    memset(y, 0xff, (size_t)T * R * sizeof *y);
                    qs_linear_dot8(y, R, t, 0, R, &a);
                    qs_linear_dot8_ref(yr, R, t, 0, R, &a);
                    CHECK_MSG(memcmp(y, yr, (size_t)T * R * sizeof *y) == 0,
                              "%s T=%d per_token %d %s: int8dot differs from _ref", w[i].label, T,
                              pt, qs_linear_int8dot_kernel_name());
                }
                qs_linear_vnni_allow(1);
                /* against the exact product of the expanded weights */
                int far = 0;
                for (int tt = 0; tt < T; tt++)
                    for (int64_t r = 0; r < R; r++) {
                        qs_tensor_rows_ref(row, t, r, 1);
                        double exact = 0, bound = 0, mag = 0;
                        for (int64_t c = 0; c < C; c++) {
                            exact += (double)row[c] * x[tt * C + c];
                            mag += fabs((double)row[c] * x[tt * C + c]);
                            bound += fabs((double)row[c]) * a.d[tt * a.nb + c / 32] * 127.0 *
                                     MAX_INT8DOT_STEP_FRACTION;
                        }
                        bound += MAX_INT8DOT_ROUNDING * (mag + bound);
                        far += fabs(yr[tt * R + r] - exact) > bound;
                    }
                CHECK_MSG(far == 0, "%s T=%d per_token %d: %d results beyond the rounding bound",
                          w[i].label, T, pt, far);
                qs_act8_free(&a);
            }
        /* the int8dot path through qs_linear equals the kernel */
        qs_linear_ctx ctx = {0};
        CHECK(qs_linear(&ctx, y, x, t, 3, QS_LINEAR_INT8DOT) == QS_OK);
        qs_act8 a = {0};
        CHECK(qs_act8_quantize_ref(&a, x, 3, (int)C, 0) == QS_OK);
        qs_linear_dot8_ref(yr, R, t, 0, R, &a);
        CHECK_MSG(memcmp(y, yr, (size_t)3 * R * sizeof *y) == 0, "%s: qs_linear int8dot",
                  w[i].label);
        qs_act8_free(&a);
        /* a long window (blocks of tokens over units of rows) gives the same bits */
        {
            const int TL = 70;
            float *xl = malloc((size_t)TL * C * sizeof *xl);
            float *yl = malloc((size_t)TL * R * sizeof *yl),
                  *ylr = malloc((size_t)TL * R * sizeof *yl);
            random_x(xl, (size_t)TL * C);
            qs_act8 al = {0};
            CHECK(qs_linear(&ctx, yl, xl, t, TL, QS_LINEAR_INT8DOT) == QS_OK);
            CHECK(qs_act8_quantize_ref(&al, xl, TL, (int)C, 0) == QS_OK);
            qs_linear_dot8_ref(ylr, R, t, 0, R, &al);
            CHECK_MSG(memcmp(yl, ylr, (size_t)TL * R * sizeof *yl) == 0,
                      "%s: qs_linear int8dot, %d tokens", w[i].label, TL);
            qs_act8_free(&al);
            free(xl), free(yl), free(ylr);
        }
        qs_linear_ctx_free(&ctx);
        free(x), free(y), free(yr), free(row);
    }
    /* weights without an integer kernel take the fused path under int8dot */
    for (int i = 0; i < n; i++) {
        if (w[i].dot8) continue;
        const qs_tensor *t = &w[i].t;
        float x[512], y[37], yf[37];
        random_x(x, (size_t)t->cols);
        qs_linear_ctx ctx = {0};
        CHECK(qs_linear(&ctx, y, x, t, 1, QS_LINEAR_INT8DOT) == QS_OK);
        CHECK(qs_linear(&ctx, yf, x, t, 1, QS_LINEAR_FUSED) == QS_OK);
        CHECK_MSG(memcmp(y, yf, sizeof y) == 0, "%s: int8dot fallback", w[i].label);
        qs_linear_ctx_free(&ctx);
    }
}

static void test_names(void) {
    CHECK(qs_linear_path_parse("fused") == QS_LINEAR_FUSED);
    CHECK(qs_linear_path_parse("naive") == QS_LINEAR_NAIVE);
    CHECK(qs_linear_path_parse("int8dot") == QS_LINEAR_INT8DOT);
    CHECK(qs_linear_path_parse("fast") == -1);
    CHECK(!strcmp(qs_linear_path_name(QS_LINEAR_INT8DOT), "int8dot"));
    qs_linear_ctx ctx = {0};
    float x[64] = {0}, y[64];
    size_t nb;
    uint8_t *b = block_bytes(QS_GGML_F32, 2, 64, &nb);
    qs_tensor t;
    CHECK(qs_tensor_init(&t, "w", QS_GGML_F32, b, nb, 2, 64, NULL) == QS_OK);
    CHECK(qs_linear(&ctx, y, x, &t, 0, QS_LINEAR_FUSED) == QS_ERR_ARG);
    CHECK(qs_linear(&ctx, y, x, &t, 1, 7) == QS_ERR_ARG);
    qs_linear_ctx_free(&ctx);
    free(b);
}

static int run_checks(void) {
    printf("test_linear: int8dot kernel %s\n", qs_linear_int8dot_kernel_name());
    wcase w[40];
    int n = make_cases(w, 40);
    CHECK(n >= 30);
    test_names();
    test_fused(w, n);
    test_permuted();
    test_act8();
    test_int8dot(w, n);
    free_cases(w, n);
    return check_summary("test_linear");
}

int main(int argc, char **argv) {
    (void)argc;
    return run_per_cpu_path(argv, run_checks, "test_linear");
}
