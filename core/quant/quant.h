/* qscope quantizers: integer grids, granularity, clipping, fake-quantization, and the
 * config names the field writes ("W4A16 g128", "W8A8 per-token").
 *
 * Pure numerics on row-major float matrices; no model code. A matrix is (R, C): for a
 * weight W (out, in) a row is an output channel and C is the reduction dimension; for an
 * activation X (T, C) a row is a token and a column a channel.
 *
 * Letters: R rows, C cols, G group size along C, N number of scale groups (n_scales).
 *
 * Grids (per scale group, bits b in 2..8):
 *   symmetric  code q in -(2^(b-1)-1) .. 2^(b-1)-1, x ≈ q·s, s = t / (2^(b-1)-1) where t
 *              is the clip threshold. The restricted grid (no -2^(b-1)) is symmetric about
 *              0, so ±t both land on a grid point; the extra negative level would either be
 *              unused or force clipping of the positive side. At b = 2 this is ternary.
 *   affine     code q in 0 .. 2^b-1, x ≈ (q - z)·s, s = (hi - lo) / (2^b-1), integer
 *              zero-point z = clamp(round(-lo/s), 0, 2^b-1). The range [lo, hi] is widened to
 *              contain 0 first, so 0 is always exactly representable.
 *   Rounding is round-half-to-even (rint), and x/s is a true division (not x·(1/s)).
 *   Outputs are (q - z)·s with integer q - z, so a value that rounds to 0 comes out +0.
 *   bits 16 means "not quantized": the kernels copy x through.
 *
 * Scales: rounded to the nearest fp16 value (RNE) by default and the group is quantized
 * with that rounded scale, so the metadata cost and its rounding error are real; with
 * fp32_scales they stay float. fp16 edge cases, counted in the report:
 *   overflow   s >= 65520 would round to Inf: the scale saturates at 65504 (the largest
 *              fp16), so the group's largest values are clipped (counted in n_clipped).
 *   subnormal  s < 2^-14 is stored as an fp16 subnormal with fewer significant bits.
 *   underflow  s <= 2^-25 rounds to 0: the group dequantizes to exactly 0, like an
 *              all-zero group. A zero scale never produces NaN.
 * Zero-points are integers stored in b bits (exact, never rounded).
 *
 * Floating-point formats (schemes fp8_*, mxfp*, nvfp4; quant_float.c). Elements are
 * minifloats with the OCP encodings (OCP 8-bit Floating Point Specification (OFP8) rev 1.0
 * for E4M3/E5M2; OCP Microscaling Formats (MX) Specification v1.0 for E3M2, E2M3, E2M1 and
 * the E8M0 scale): sign, E exponent bits with bias 2^(E-1)-1, M mantissa bits, subnormals.
 *   element  max normal  min normal  min subnormal  special codes
 *   E4M3     448         2^-6        2^-9           S.1111.111 NaN, no Inf
 *   E5M2     57344       2^-14       2^-16          S.11111.00 Inf, S.11111.{01,10,11} NaN
 *   E3M2     28          2^-2        2^-4           none
 *   E2M3     7.5         1           2^-3           none
 *   E2M1     6           1           0.5            none
 * A value v = x / s (true division) is rounded to nearest, ties to even, and saturates at
 * ± max normal (never Inf or NaN); a value that rounds to 0 keeps its sign (-0 stays -0,
 * as IEEE and torch do). A group's scale s, from its clip threshold t = max(-lo, hi):
 *   fp8_e4m3/e5m2  s = t / max normal, stored as fp16 (or fp32 with fp32_scales), like the
 *                  integer scales, at any granularity (per-tensor, per-token, per-channel, gN)
 *   mxfp*          E8M0 shared scale of the MX spec: s = 2^(floor(log2 t) - emax_elem),
 *                  emax_elem the exponent of the element's largest normal (E4M3 8, E5M2 15,
 *                  E3M2 4, E2M3 2, E2M1 2), clamped to 2^-127..2^127; values above the
 *                  element's max normal after scaling saturate. Default block: g32.
 *   nvfp4          two levels: a tensor scale g = A / (448·6) in fp32, A the absmax of the
 *                  matrix (of ranges_in when given), and per block an E4M3 scale
 *                  b = e4m3((t / 6) / g); s = b·g. Default block: g16.
 * An all-zero group (or a scale that rounds to 0) has s = 0 and outputs ±0. Codes (io.codes)
 * are the element bit patterns (sign in the top bit: 0..255, 0..63, 0..15); levels count the
 * distinct element values used (+0 and -0 once). Metadata bits: fp16/fp32 per group for
 * fp8_*; 8 per block for mxfp* (E8M0) and nvfp4 (E4M3), plus 32 per matrix for nvfp4. So
 * MXFP4 costs 4 + 8/32 = 4.25 bits, NVFP4 4 + 8/16 = 4.5 (+ 32/(R·C)).
 *
 * Clipping picks the range [lo, hi] of a group (symmetric uses t = max(-lo, hi)):
 *   absmax      t = max|x|; affine [min(min x, 0), max(max x, 0)].
 *   percentile  t = the p-th percentile of |x| over the group (linear interpolation
 *               between order statistics, numpy's default); affine [P_{100-p}(x), P_p(x)]
 *               widened to contain 0. p in (0, 100]; 100 equals absmax.
 *   mse         the absmax range scaled by a ratio r that minimises the group's squared
 *               reconstruction error (with the fp16-rounded scale). Grid r = k/100 for
 *               k = 100, 99, .., 30 (ties keep the larger r), then GSL's Brent minimiser on
 *               [r-0.01, r+0.01] when the grid neighbours bracket a strict minimum; the
 *               Brent point is kept only if its error is strictly lower. Never worse than
 *               absmax (r = 1 is on the grid).
 *
 * Granularity (one scale, and zero-point if affine, per group):
 *   tensor  one group: N = 1
 *   row     per row: a weight's output channel, an activation's token: N = R
 *   col     per column: an activation's channel: N = C, scale index = column
 *   group   G consecutive columns of one row; the last group of a row is shorter when G
 *           does not divide C: N = R·ceil(C/G), scale index = r·ceil(C/G) + c/G
 *
 * Weights are quantized offline (any clip search is fine: mse); activations online inside
 * every forward pass, where qs_quant_fake with per-row absmax is the cheap path (OpenMP
 * over rows, vectorised inner loops). Results do not depend on the thread count.
 */
#ifndef QS_QUANT_H
#define QS_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "remedy_words.h" /* the remedy words of a config name */
#include "packed.h" /* model/: the packed tensor layout the quantizers write */

/* Integer grids (symmetric, affine) and floating-point formats (quant_float.c). A format
 * fixes the element bits (spec.bits must equal them) and how scales are stored. */
enum qs_quant_scheme {
    QS_QUANT_SYMMETRIC = 0,
    QS_QUANT_AFFINE,
    QS_QUANT_FP8_E4M3,   /* E4M3 elements, one fp16/fp32 scale per group */
    QS_QUANT_FP8_E5M2,   /* E5M2 elements, one fp16/fp32 scale per group */
    QS_QUANT_MXFP8,      /* OCP MX: E4M3 elements, E8M0 scale per block (32) */
    QS_QUANT_MXFP8_E5M2, /* OCP MX: E5M2 elements, E8M0 scale per block (32) */
    QS_QUANT_MXFP6_E3M2, /* OCP MX: E3M2 elements, E8M0 scale per block (32) */
    QS_QUANT_MXFP6_E2M3, /* OCP MX: E2M3 elements, E8M0 scale per block (32) */
    QS_QUANT_MXFP4,      /* OCP MX: E2M1 elements, E8M0 scale per block (32) */
    QS_QUANT_NVFP4,      /* E2M1 elements, E4M3 scale per block (16), one fp32 tensor scale */
    QS_QUANT_SCHEME_COUNT
};
#define QS_QUANT_INT_SCHEMES 2 /* schemes below this are integer grids */
enum qs_quant_gran {
    QS_QUANT_TENSOR = 0,
    QS_QUANT_ROW,
    QS_QUANT_COL,
    QS_QUANT_GROUP,
    QS_QUANT_GRAN_COUNT
};
enum qs_quant_clip { QS_QUANT_ABSMAX = 0, QS_QUANT_MSE, QS_QUANT_PERCENTILE, QS_QUANT_CLIP_COUNT };

#define QS_QUANT_BITS_MIN  2
#define QS_QUANT_BITS_MAX  8
#define QS_QUANT_BITS_NONE 16 /* not quantized: pass-through */

/* How one matrix is quantized. Zero-initialise, then set; qs_quant_spec_validate checks. */
typedef struct qs_quant_spec {
    int bits; /* 2..8, or 16 = not quantized */
    enum qs_quant_scheme scheme;
    enum qs_quant_gran gran;
    int group; /* G (columns per group) for QS_QUANT_GROUP, >= 1; else unused */
    enum qs_quant_clip clip;
    double percentile; /* p in (0, 100] for QS_QUANT_PERCENTILE; else unused */
    int fp32_scales;   /* 0: scales rounded to fp16 (default); 1: kept as fp32 */
} qs_quant_spec;

/* Names of the enum values ("symmetric", "row", "mse", ...); "?" when out of range. */
const char *qs_quant_scheme_name(int scheme);
const char *qs_quant_gran_name(int gran);
const char *qs_quant_clip_name(int clip);

/* QS_OK, or QS_ERR_ARG with a message naming the bad field. */
int qs_quant_spec_validate(const qs_quant_spec *sp);

/* Number of scale groups for an (R, C) matrix (0 for bits 16). */
long qs_quant_n_scales(const qs_quant_spec *sp, int rows, int cols);

/* Storage cost in bits per value of an (R, C) matrix: b + (N·(scale bits + zero-point
 * bits) + per-matrix bits)/(R·C), scale bits 16 (fp16) or 32 (8 for the MX formats and nvfp4),
 * zero-point bits b when affine, else 0; per-matrix bits 32 for nvfp4, else 0.
 * 16 for bits 16. Example: W4 g128 fp16 on C = 4096 gives 4.125; mxfp4 4.25. */
double qs_quant_bits_per_value(const qs_quant_spec *sp, int rows, int cols);

/* The same for a nominal group of `elems_per_scale` values (b + meta / elems; without
 * per-matrix bits). */
double qs_quant_bits_nominal(const qs_quant_spec *sp, long elems_per_scale);

/* ---- grids and the traits table ------------------------------------------------------ */

/* The parameters of one scale group. Codes satisfy qlo <= q - zero <= qhi. */
typedef struct qs_quant_grid {
    float scale;    /* stored scale (fp16-rounded unless fp32); 0: output 0 */
    int32_t zero;   /* integer zero-point; 0 for symmetric */
    float qlo, qhi; /* allowed q - zero: [-qmax, qmax] symmetric, [-z, 2^b-1-z] affine */
    int flags;      /* QS_QUANT_F_* */
} qs_quant_grid;

enum {
    QS_QUANT_F_OVERFLOW = 1,  /* fp16 scale saturated at 65504 */
    QS_QUANT_F_SUBNORMAL = 2, /* fp16 scale is subnormal */
    QS_QUANT_F_UNDERFLOW = 4, /* nonzero scale rounded to 0 */
};

/* One row per scheme: the only place that knows how a scheme maps a range to a grid and
 * what its metadata costs. The kernels take n contiguous values; y may equal x. */
typedef struct qs_quant_traits {
    const char *name; /* "symmetric", "affine", "fp8_e4m3", "mxfp4", ... */
    int has_zero_point;
    int elem;             /* enum qs_fp_elem of a floating-point format; -1 for integer grids */
    int fixed_bits;       /* element bits a format stores (spec.bits must equal it); 0: any */
    int default_group;    /* block a format is defined with (32 MX, 16 NVFP4); 0: none */
    int fixed_scales;     /* 1: the format fixes the scale encoding (no fp32_scales) */
    int tensor_meta_bits; /* per-matrix metadata (32: NVFP4's fp32 tensor scale) */
    /* range [lo, hi] (lo <= 0 <= hi, finite) -> grid for `bits`. tensor_amax: the absmax of
     * the whole matrix, used by two-level formats (nvfp4) only. */
    void (*grid)(qs_quant_grid *g, float lo, float hi, int bits, int fp32_scales,
                 float tensor_amax);
    /* x -> codes (q, with zero-point added) */
    void (*quantize)(int16_t *q, const float *x, int n, const qs_quant_grid *g);
    /* codes -> values */
    void (*dequantize)(float *y, const int16_t *q, int n, const qs_quant_grid *g);
    /* x -> dequantize(quantize(x)); codes may be NULL; returns the number of clipped values */
    long (*fake)(float *y, int16_t *q, const float *x, int n, const qs_quant_grid *g);
    /* the same, plain scalar textbook code; agrees with fake bit for bit */
    long (*fake_ref)(float *y, int16_t *q, const float *x, int n, const qs_quant_grid *g);
    /* metadata bits per scale group: scale bits + zero-point bits */
    int (*meta_bits)(int bits, int fp32_scales);
    /* distinct levels used by n values of y already fake-quantized with g (stride apart) */
    int (*levels)(const float *y, long n, long stride, const qs_quant_grid *g, int bits);
    /* sum of squared reconstruction errors of x under g, in double, in index order; the
     * _ref twin gives the same number from the reference kernel */
    double (*sse)(const float *x, int n, const qs_quant_grid *g);
    double (*sse_ref)(const float *x, int n, const qs_quant_grid *g);
} qs_quant_traits;

/* The traits of a scheme; NULL when out of range. Static storage, never freed. */
const qs_quant_traits *qs_quant_traits_of(int scheme);
/* The scheme called `name` ("affine", "mxfp4"), or -1. */
int qs_quant_scheme_from_name(const char *name);
/* 1 if the scheme is a floating-point format. */
int qs_quant_scheme_is_float(int scheme);

/* ---- floating-point elements (quant_float.c) ------------------------------------------ */

enum qs_fp_elem {
    QS_FP_E4M3 = 0,
    QS_FP_E5M2,
    QS_FP_E3M2,
    QS_FP_E2M3,
    QS_FP_E2M1,
    QS_FP_ELEM_COUNT
};

typedef struct qs_fp_format {
    const char *name;       /* "e4m3", ... */
    int bits, ebits, mbits; /* 1 + ebits + mbits = bits */
    int bias;               /* 2^(ebits-1) - 1 */
    int emax;               /* unbiased exponent of the largest normal */
    float max_normal, min_normal, min_subnormal;
} qs_fp_format;

/* The format of an element type; NULL when out of range. Static storage. */
const qs_fp_format *qs_fp_format_of(int elem);
/* Value of a code (bits above the format's width are ignored): exact; NaN for E4M3's
 * S.1111.111 and E5M2's NaN codes, ±Inf for E5M2's S.11111.00. */
float qs_fp_decode(int elem, unsigned code);
/* 1 if the code is a finite value (0 for NaN and Inf codes). */
int qs_fp_code_is_finite(int elem, unsigned code);
/* The code of finite v: round to nearest, ties to even, saturating at ± max normal, the
 * sign kept for values that round to 0. Textbook reference (frexp, ldexp, rint). */
unsigned qs_fp_encode(int elem, float v);
/* qs_fp_decode(qs_fp_encode(v)) as a float. */
float qs_fp_round(int elem, float v);

/* ---- fake-quantization of a matrix --------------------------------------------------- */

/* Optional inputs and outputs of one call; every pointer may be NULL. Buffers belong to the
 * caller. Scale index order is the granularity's (see the top of this file). */
typedef struct qs_quant_io {
    int16_t *codes;         /* out (R, C): integer codes (symmetric -qmax..qmax, affine 0..2^b-1) */
    float *scales;          /* out (N): stored scales (fp16-rounded values as float) */
    int32_t *zeros;         /* out (N): zero-points (0 for symmetric) */
    float *ranges;          /* out (N, 2): [lo, hi] after clipping, before scale rounding */
    const float *ranges_in; /* in (N, 2): use these [lo, hi] instead of clipping (static
                               scales calibrated beforehand); finite, lo <= hi */
    int *levels;            /* out (N): distinct codes used by each group */
    int count_levels;       /* fill the report's levels_* (also implied by levels) */
} qs_quant_io;

/* What one call did. */
typedef struct qs_quant_report {
    long n_values;              /* R·C */
    long n_scales;              /* N */
    long n_clipped;             /* values whose rounded code fell outside the grid */
    long n_zero_scale;          /* groups with scale 0 (all zero, or underflow): output 0 */
    long n_scale_overflow;      /* fp16 scales saturated at 65504 */
    long n_scale_subnormal;     /* fp16 scales stored as subnormals */
    long n_scale_underflow;     /* nonzero scales that rounded to 0 */
    double bits_per_value;      /* qs_quant_bits_per_value of this call */
    int levels_min, levels_max; /* distinct codes per group, with count_levels; else 0 */
    double levels_mean;
} qs_quant_report;

/* Fake-quantizes x (R, C) into out (R, C): quantize then dequantize with the spec. out may
 * equal x (in place). io and report may be NULL.
 * Errors (nothing is written to out or io on error):
 *   QS_ERR_ARG      bad spec, R or C < 1, R·C > INT_MAX, bad ranges_in
 *   QS_ERR_NUMERIC  a NaN or Inf in x; the message names its row and column (the first in
 *                   row-major order). Checked before any work.
 *   QS_ERR_NOMEM    scratch allocation failed
 * bits 16 copies x to out and checks nothing. Fast: OpenMP over rows (or groups/columns)
 * once the matrix is big enough to pay for waking the threads (R·C >= 32768 for absmax;
 * searches sooner); inside a parallel region it runs on the calling thread.
 * Static activation scales: run once per calibration window with io.ranges, combine the
 * ranges (e.g. min of lo, max of hi), then pass them as io.ranges_in. */
int qs_quant_fake(float *out, const float *x, int rows, int cols, const qs_quant_spec *sp,
                  const qs_quant_io *io, qs_quant_report *report);

/* The plain scalar reference of qs_quant_fake: one thread, textbook loops. Same contract;
 * its outputs (out, io, report) agree with qs_quant_fake bit for bit. */
int qs_quant_fake_ref(float *out, const float *x, int rows, int cols, const qs_quant_spec *sp,
                      const qs_quant_io *io, qs_quant_report *report);

/* ---- packed output ------------------------------------------------------------------ *
 *
 * The quantizers write real packed tensors (packed.h): b-bit codes, fp16 (or f32) scales and
 * b-bit zero-points, in one layout for every granularity, whose bytes are exactly the
 * bits_per_value above. Expanding a packed tensor gives the fake-quantized matrix bit for
 * bit. Only the weight granularities pack (tensor, row, group); per-column scales do not.
 * Floating-point formats pack their element codes with a value table, MX scales as E8M0
 * bytes and NVFP4's as E4M3 bytes under its f32 tensor scale (whose rows pack at once). */

/* The packed layout of an (R, C) matrix under sp. QS_ERR_ARG for bits 16 or granularity
 * col, naming the spec. */
int qs_quant_packed_layout(qs_packed_layout *p, const qs_quant_spec *sp, int64_t rows,
                           int64_t cols);

/* Quantizes rows [r0, r0 + n) of a packed tensor: x (n, C) is those rows, and their codes,
 * scales and zero-points are written into dst (qs_packed_bytes(p) bytes, zero where not yet
 * written: rows may be packed block by block, in any order, as long as each is packed once).
 * y (n, C), if not NULL, receives the fake-quantized values (what dst expands to). A
 * per-tensor layout, or NVFP4's tensor scale, needs every row at once (r0 = 0, n = R). report as qs_quant_fake's for
 * those rows. The fast path uses qs_quant_fake, _ref qs_quant_fake_ref: both write the same
 * bytes. Errors: those of qs_quant_fake, QS_ERR_ARG for rows outside the layout. */
int qs_quant_pack_rows(uint8_t *dst, const qs_packed_layout *p, int64_t r0, float *y,
                       const float *x, int n, const qs_quant_spec *sp, qs_quant_report *report);
int qs_quant_pack_rows_ref(uint8_t *dst, const qs_packed_layout *p, int64_t r0, float *y,
                           const float *x, int n, const qs_quant_spec *sp, qs_quant_report *report);

/* Stores rows [r0, r0 + n) of a packed tensor from a quantizer's own codes, scales and
 * zero-points (io in qs_quant_fake's layout, e.g. GPTQ's, which differ from what
 * qs_quant_fake would find for the same rows). x (n, C), the rows before quantizing, gives
 * NVFP4's tensor scale as the quantizer computes it. Errors as qs_quant_pack_rows, and
 * QS_ERR_NUMERIC for a scale the layout cannot store. */
int qs_quant_pack_io(uint8_t *dst, const qs_packed_layout *p, int64_t r0, int n,
                     const qs_quant_io *io, const float *x, const qs_quant_spec *sp);

/* ---- config names -------------------------------------------------------------------- *
 *
 * Grammar (words separated by spaces; words are lower case, the W/A token is not case
 * sensitive):
 *
 *   config := 'W' bits 'A' bits { ' ' word } [ ' KV' bits { ' ' kvword } ]
 *   bits   := 2..8 | 16                    (16 = that side is not quantized)
 *   word   := [ 'w:' | 'a:' ] core
 *   core   := 'per-tensor' | 'per-channel' | 'per-token' | 'g' N (N >= 1)
 *           | 'symmetric' | 'affine' | 'absmax' | 'mse' | 'percentile:' P  (0 < P <= 100)
 *           | 'static' | 'dynamic' | 'fp32-scales' | 'fp16-scales'
 *           | 'sites:' site { ',' site } | 'layers:' list   (sites.h: "all" or e.g. 0,2-4)
 *           | format
 *   format := 'fp8_e4m3' | 'fp8_e5m2' | 'mxfp8' | 'mxfp8_e5m2' | 'mxfp6_e3m2' | 'mxfp6_e2m3'
 *           | 'mxfp4' | 'nvfp4'          (a scheme, like symmetric/affine; see above)
 *           | remedy                     (rotate, smooth, awq, gptq, decompose: no prefix;
 *                                         remedy_words.h; printed after the sides' words,
 *                                         before the KV cache's)
 *   kvword := [ 'k:' | 'v:' ] kvcore | 'per-channel-k'
 *   kvcore := 'per-token' | 'per-channel' | 'per-tensor' | 'g' N | 'symmetric' | 'affine'
 *           | format | 'absmax' | 'percentile:' P | 'fp32-scales' | 'fp16-scales'
 *
 * The words after KV<bits> describe the cache (a write of T positions × K channels): an
 * unprefixed word sets keys and values, k:/v: one of them. per-token = one scale per
 * position (row), per-channel = one per channel over the positions written together (a
 * whole window in eval; one position when decoding one token at a time), gN = N channels of
 * one position (g<head_dim> = per head, llama.cpp's q8_0/q4_0 caches are g32),
 * per-channel-k = keys per channel and values per token (KIVI). Default per-token symmetric
 * absmax fp16 scales; a block format brings its block. mse (a search) is not offered: the
 * cache is quantized online. "W4A16 g128 KV4" and "W16A16 KV4 per-channel-k" are names.
 *
 * A prefixed word applies to that side only (error when that side is not quantized or the
 * word means nothing there). An unprefixed word applies to:
 *   per-token, static, dynamic, sites:     the activations
 *   per-channel, gN                        the weights if quantized, else the activations
 *   everything else                        each quantized side
 * and is an error when that leaves no side. Setting the same property of a side twice is
 * an error ("per-tensor w:g128" conflicts; write "a:per-tensor g128").
 *
 * Meaning on each side:
 *   weights (out, in):  per-channel = row, gN = group G along in, per-tensor = tensor.
 *   activations (T, C): per-token = row, per-channel = col, gN = G channels of one token,
 *                       per-tensor = tensor.
 *   static: activation ranges calibrated beforehand (dynamic: from each window). Needed by
 *   mse clipping on activations, so a:mse implies static and "a:mse dynamic" is an error.
 *   For per-token groups, which do not persist across windows, what is calibrated is up to
 *   the caller (qs_quant_io.ranges_in takes any per-group ranges).
 *   sites: the capture sites whose activations are quantized (default: the four linear
 *   inputs attn_in, attn_o_in, ffn_in, ffn_down_in). layers: the layers quantized on that
 *   side (default all); sorted and de-duplicated, printed with runs of three or more as
 *   A-B ("layers:0,2-4").
 *
 * Defaults: weights per-channel symmetric absmax fp16 scales; activations per-token
 * dynamic symmetric absmax fp16 scales. A format's element width must equal the side's
 * bits ("W4A4 mxfp4", "W16A8 fp8_e4m3 per-token"; "W8A8 mxfp4" is an error); a block
 * format (mxfp*: g32, nvfp4: g16) is quantized in its blocks unless a granularity word
 * says otherwise ("W4A4 mxfp4 g64").
 *
 * Canonical form (qs_quant_config_format): the W/A token, then words in the order
 * format, granularity, scheme (affine), clip, static, scales, sites, layers; a property
 * equal to its default is omitted, except that a name always states one granularity: when
 * no side's granularity differs from its default, that of the activations (if quantized
 * and not in a block format, else the weights, likewise) is printed. A word is printed unprefixed
 * when the unprefixed word would set exactly the sides that need it. So "W4A16 g128", "W8A8
 * per-token", "W8A8 per-tensor", "W4A8 g64 mse", "W6A16 per-channel affine", "W16A8 per-token
 * percentile:99.9", "W4A4 mxfp4", "W4A16 nvfp4" and "W16A8 fp8_e4m3 per-token" print as written,
 * and "W8A8" prints as "W8A8 per-token". The cache part follows, in the same order and always with
 * its granularity: "W4A16 g128 KV4 per-token", "W16A16 KV4 per-channel-k", "W16A16 KV4 mxfp4". */

#define QS_QUANT_MAX_LAYERS 256

typedef struct qs_quant_side {
    qs_quant_spec spec;              /* spec.bits == 16: this side is not quantized */
    int is_static;                   /* activations: 1 = ranges calibrated beforehand */
    unsigned site_mask;              /* activations: QS_SITE_BIT() of the sites quantized */
    char sites[96];                  /* the same as a canonical list; "" = the default */
    int n_layers;                    /* 0 = every layer */
    int layers[QS_QUANT_MAX_LAYERS]; /* ascending, distinct */
} qs_quant_side;

/* The KV cache: keys and values fake-quantized as the forward writes them (kv_quant.h), so
 * every later query reads the quantized rows. A write is (T, K): T positions, K = n_kv_heads
 * · head_dim channels, kv-head-major. */
typedef struct qs_quant_kv {
    qs_quant_spec k, v; /* same bits; 16 = the cache is not quantized (the default) */
} qs_quant_kv;

typedef struct qs_quant_config {
    qs_quant_side w;  /* weights: spec.gran is TENSOR, ROW or GROUP */
    qs_quant_side a;  /* activations: TENSOR, ROW (per-token), COL or GROUP */
    qs_quant_kv kv;   /* the KV cache: TENSOR, ROW (per-token), COL (per-channel) or GROUP */
    qs_remedy remedy; /* what is done to the model around quantizing it (remedy_words.h) */
} qs_quant_config;

/* W16A16 with every default. */
void qs_quant_config_default(qs_quant_config *c);

/* Parses a config name. On error returns QS_ERR_ARG with a message naming the word and
 * the name ("unknown word 'g12x' in config 'W4A16 g12x'"); *c is then the default. */
int qs_quant_config_parse(qs_quant_config *c, const char *name);

/* Writes the canonical name into buf (size n). QS_ERR_ARG if the config is not one a name
 * can express, or buf is too small (the message says so). */
int qs_quant_config_format(char *buf, size_t n, const qs_quant_config *c);

/* 1 if the side quantizes layer `layer` (and is quantized at all), else 0. */
int qs_quant_side_has_layer(const qs_quant_side *s, int layer);

#endif
