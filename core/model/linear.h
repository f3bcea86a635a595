/* Products of an activation block with a weight in its stored type: y (T, out) = x (T, in) · Wᵀ.
 *
 * The window pass (forward.c) multiplies hundreds of tokens at once: it expands blocks of
 * rows into a cache-sized f32 buffer and calls sgemm, so the expansion is paid once per
 * window. Decoding multiplies one token at a time and reads every weight once per token:
 * its speed is the speed at which the weights stream from memory, and a smaller format is
 * faster only if its bytes are what streams. The kernels here serve that case, for every
 * storage type (dtype.h), by three paths:
 *
 *   fused    each row streams from memory once and is expanded in registers inside the dot
 *            products with all T activation rows; no f32 copy of a weight is written. The
 *            result is Σ_k w_k·x_k over the exact expanded values w_k (what qs_tensor_rows
 *            gives), in f32 with FMA, in an order each kernel fixes: the same inputs give the
 *            same bits whatever the thread count. Within QS_LINEAR_FUSED_TOL of the double
 *            sum (below). Types and layouts without a register kernel (the rarer GGUF
 *            types, packed widths other than 4 and 8 bits, floating-point element tables,
 *            every type on the scalar path) expand one row at a time into a per-thread
 *            buffer that stays in cache, then take the same dot products.
 *   naive    the whole matrix is first expanded into an f32 buffer in memory (out·in
 *            floats), then multiplied by one sgemv (T = 1) or sgemm: the place the seed says
 *            not to dequantize, kept so its cost can be measured.
 *   int8dot  the activations are quantized to int8 on the fly (qs_act8: one scale per block
 *            of 32 values, or one per token), the weights are read as the integers they
 *            store, products are integer dot products (AVX2 maddubs/madd; VNNI dpbusd where
 *            the CPU has it), one float multiply per block of 32: W8A8 and W4A8. Defined
 *            for Q8_0, Q4_0, Q4_K, Q6_K and packed 8- and 4-bit integer tensors (symmetric or
 *            affine) whose scale groups are whole blocks of 32 (per tensor, per row, or
 *            groups of a multiple of 32), when in is a multiple of 32
 *            (qs_linear_int8dot_defined); other weights take the fused path.
 *
 * The int8dot arithmetic, which every path reproduces bit for bit (the _ref twin spells it
 * out in scalar code):
 *   activations  row t, block b of 32 values: d = amax / 127 (true division; per token, amax
 *                of the whole row), q_k = rint(x_k / d) ∈ [-127, 127] (0 when d = 0),
 *                sum = Σ q_k.
 *   weights      block b of a row holds integers w_k and a scale dw: Q8_0 w = q, dw = d;
 *                Q4_0 w = nibble − 8; packed w = code − z (z the zero-point, or 2^(b−1) for
 *                symmetric codes), dw its group's scale; Q6_K w = sc·(q − 32), sc the int8
 *                scale of the value's sub-block of 16, dw = d (the super-block's).
 *   dot          i_b = Σ_k w_k·q_k (exact in int32). Eight lanes j = 0..7 each sum the blocks
 *                b ≡ j (mod 8), in order: acc_j = fma(dw_b·dx_b, (float)i_b, acc_j) (the
 *                scale product rounded first); y = ((acc0+acc4)+(acc2+acc6)) +
 *                ((acc1+acc5)+(acc3+acc7)).
 *   Q4_K         a sub-block of 32 has value d·sc·q − dmin·m (q = 0..15): lanes sum
 *                fma((d·sc)·dx, Σ q_k·q'_k, acc_j) and, apart, fma((dmin·m)·dx, sum, macc_j);
 *                y = tree(acc) − tree(macc).
 * The integer sums are exact however they are computed (maddubs with the sign trick, VNNI,
 * widening), so every path gives the same bits.
 *
 * Letters: T tokens, C = in (reduction length), R = out rows, n rows of a call. */
#ifndef QS_LINEAR_H
#define QS_LINEAR_H

#include <stddef.h>
#include <stdint.h>

#include "tensor.h"

enum qs_linear_path {
    QS_LINEAR_FUSED = 0,
    QS_LINEAR_NAIVE = 1,
    QS_LINEAR_INT8DOT = 2,
    QS_LINEAR_PATHS
};

/* "fused", "naive", "int8dot"; -1 from parse for any other name. */
const char *qs_linear_path_name(int path);
int qs_linear_path_parse(const char *name);

/* The fused kernels' error bound: |y − Σ_k w_k·x_k| ≤ QS_LINEAR_FUSED_TOL(C)·Σ_k |w_k·x_k|,
 * the sum exact (every kernel multiplies the very values qs_tensor_rows gives; C products
 * are summed in at least 8 lanes, then a fixed tree). */
#define QS_LINEAR_FUSED_TOL(C) (((double)(C) / 8.0 + 16.0) * 5.9604644775390625e-8)

/* Activations quantized to int8 for the int8dot path (see above). */
typedef struct qs_act8 {
    int T, C, nb;        /* tokens, columns, blocks of 32 per row (C / 32) */
    int per_token;       /* 1: one scale per token (repeated in every block's d) */
    int8_t *q;           /* (T, C) codes */
    uint8_t *qu;         /* (T, C) codes + 128: the unsigned operand of u8 × s8 products */
    float *d;            /* (T, nb) each block's scale */
    int32_t *sum;        /* (T, nb) Σ q over each block */
    size_t cap_q, cap_b; /* allocated codes and blocks */
} qs_act8;

/* Quantizes x (T, C) into a (growing its buffers; C must be a multiple of 32). The fast
 * version takes the CPU's SIMD path and gives the bits of _ref. QS_ERR_ARG, QS_ERR_NOMEM. */
int qs_act8_quantize(qs_act8 *a, const float *x, int T, int C, int per_token);
int qs_act8_quantize_ref(qs_act8 *a, const float *x, int T, int C, int per_token);
void qs_act8_free(qs_act8 *a);

/* Row kernels of the storage-type table (dtype.h): rows [r0, r0 + n) of w in stored order.
 *   matvec  y[t·ldy + i] = row (r0 + i) · x[t·ldx ..], t < T (fused path)
 *   dot8    y[t·ldy + i] = row (r0 + i) · token t of a (int8dot path; only where defined)
 * The _ref twins are plain scalar code: matvec_ref sums w_k·x_k in double over the values
 * qs_tensor_rows_ref gives; dot8_ref follows the int8dot arithmetic step by step. */
void qs_linear_matvec(float *y, int64_t ldy, const qs_tensor *w, int64_t r0, int64_t n,
                      const float *x, int64_t ldx, int T, float *rowbuf);
void qs_linear_matvec_ref(float *y, int64_t ldy, const qs_tensor *w, int64_t r0, int64_t n,
                          const float *x, int64_t ldx, int T);
void qs_linear_dot8(float *y, int64_t ldy, const qs_tensor *w, int64_t r0, int64_t n,
                    const qs_act8 *a);
void qs_linear_dot8_ref(float *y, int64_t ldy, const qs_tensor *w, int64_t r0, int64_t n,
                        const qs_act8 *a);

/* The int8dot kernel the CPU path takes: "avx512-vnni", "avx-vnni", "avx2" or "scalar".
 * qs_linear_vnni_allow(0) keeps the VNNI kernels out (tests compare them with maddubs;
 * the bench can measure both). */
const char *qs_linear_int8dot_kernel_name(void);
void qs_linear_vnni_allow(int on);

/* 1 if w has an int8dot kernel (see above). */
int qs_linear_int8dot_defined(const qs_tensor *w);
/* 1 if the fused path has a register kernel for w on the CPU path in use (else it expands
 * a row at a time into cache). */
int qs_linear_fused_in_registers(const qs_tensor *w);

/* Buffers the products reuse from call to call: quantized activations, one row per thread
 * (fused fallback), the whole-matrix expansion (naive). Zero-initialise; free with
 * qs_linear_ctx_free. Bytes it holds are counted as scratch (memstat.h). */
typedef struct qs_linear_ctx {
    qs_act8 a8;
    int a8_per_token; /* int8dot: one activation scale per token instead of per block */
    float *rowbuf;    /* (threads, widest row) */
    size_t rowbuf_floats;
    float *full; /* naive: (out, in) */
    size_t full_floats;
    size_t counted; /* bytes counted in memstat */
} qs_linear_ctx;

/* y (T, out) = x (T, in) · Wᵀ by `path` (int8dot falls back to fused where not defined;
 * logical row order, so Hugging Face q/k rows come out in llama2.c order). Output rows are
 * shared among the OpenMP threads, each written by one thread. QS_ERR_NOMEM when a buffer
 * cannot grow (before any work), QS_ERR_ARG for a bad path or T. */
int qs_linear(qs_linear_ctx *c, float *y, const float *x, const qs_tensor *w, int T, int path);
/* The same for n weights that read the same x (q, k, v; gate, up), in one parallel region:
 * y[i] (T, w[i]->rows). All must have the same in. */
int qs_linear_many(qs_linear_ctx *c, int n, float *const *y, const qs_tensor *const *w,
                   const float *x, int T, int path);
/* Scalar reference of the fused path for a whole product: y (T, out), double sums. */
void qs_linear_ref(float *y, const float *x, const qs_tensor *w, int T);
void qs_linear_ctx_free(qs_linear_ctx *c);

#endif
