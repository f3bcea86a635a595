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

#include "packed.h" /* model/: the packed tensor layout the quantizers write */

enum qs_quant_scheme { QS_QUANT_SYMMETRIC = 0, QS_QUANT_AFFINE, QS_QUANT_SCHEME_COUNT };
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

/* Storage cost in bits per value of an (R, C) matrix: b + N·(scale bits + zero-point
 * bits)/(R·C), scale bits 16 (fp16) or 32, zero-point bits b when affine, else 0.
 * 16 for bits 16. Example: W4 g128 fp16 on C = 4096 gives 4.125. */
double qs_quant_bits_per_value(const qs_quant_spec *sp, int rows, int cols);

/* The same for a nominal group of `elems_per_scale` values (b + meta / elems). */
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
    const char *name; /* "symmetric" / "affine" */
    int has_zero_point;
    /* range [lo, hi] (lo <= 0 <= hi, finite) -> grid for `bits` */
    void (*grid)(qs_quant_grid *g, float lo, float hi, int bits, int fp32_scales);
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
} qs_quant_traits;

/* The traits of a scheme; NULL when out of range. Static storage, never freed. */
const qs_quant_traits *qs_quant_traits_of(int scheme);

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
 * bit. Only the weight granularities pack (tensor, row, group); per-column scales do not. */

/* The packed layout of an (R, C) matrix under sp. QS_ERR_ARG for bits 16 or granularity
 * col, naming the spec. */
int qs_quant_packed_layout(qs_packed_layout *p, const qs_quant_spec *sp, int64_t rows,
                           int64_t cols);

/* Quantizes rows [r0, r0 + n) of a packed tensor: x (n, C) is those rows, and their codes,
 * scales and zero-points are written into dst (qs_packed_bytes(p) bytes, zero where not yet
 * written: rows may be packed block by block, in any order, as long as each is packed once).
 * y (n, C), if not NULL, receives the fake-quantized values (what dst expands to). A
 * per-tensor layout needs every row at once (r0 = 0, n = R). report as qs_quant_fake's for
 * those rows. The fast path uses qs_quant_fake, _ref qs_quant_fake_ref: both write the same
 * bytes. Errors: those of qs_quant_fake, QS_ERR_ARG for rows outside the layout. */
int qs_quant_pack_rows(uint8_t *dst, const qs_packed_layout *p, int64_t r0, float *y,
                       const float *x, int n, const qs_quant_spec *sp, qs_quant_report *report);
int qs_quant_pack_rows_ref(uint8_t *dst, const qs_packed_layout *p, int64_t r0, float *y,
                           const float *x, int n, const qs_quant_spec *sp, qs_quant_report *report);

/* ---- config names -------------------------------------------------------------------- *
 *
 * Grammar (words separated by spaces; words are lower case, the W/A token is not case
 * sensitive):
 *
 *   config := 'W' bits 'A' bits { ' ' word }
 *   bits   := 2..8 | 16                    (16 = that side is not quantized)
 *   word   := [ 'w:' | 'a:' ] core
 *   core   := 'per-tensor' | 'per-channel' | 'per-token' | 'g' N (N >= 1)
 *           | 'symmetric' | 'affine' | 'absmax' | 'mse' | 'percentile:' P  (0 < P <= 100)
 *           | 'static' | 'dynamic' | 'fp32-scales' | 'fp16-scales'
 *           | 'sites:' site { ',' site } | 'layers:' L { ',' L }
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
 *   side (default all); sorted and de-duplicated.
 *
 * Defaults: weights per-channel symmetric absmax fp16 scales; activations per-token
 * dynamic symmetric absmax fp16 scales.
 *
 * Canonical form (qs_quant_config_format): the W/A token, then words in the order
 * granularity, scheme, clip, static, scales, sites, layers; a property equal to its default
 * is omitted, except that a name always states one granularity: when no side's
 * granularity differs from its default, that of the activations (if quantized, else the
 * weights) is printed. A word is printed unprefixed when the unprefixed word would set
 * exactly the sides that need it. So "W4A16 g128", "W8A8 per-token", "W8A8 per-tensor",
 * "W4A8 g64 mse", "W6A16 per-channel affine" and "W16A8 per-token percentile:99.9" print as
 * written, and "W8A8" prints as "W8A8 per-token". */

#define QS_QUANT_MAX_LAYERS 256

typedef struct qs_quant_side {
    qs_quant_spec spec;              /* spec.bits == 16: this side is not quantized */
    int is_static;                   /* activations: 1 = ranges calibrated beforehand */
    unsigned site_mask;              /* activations: QS_SITE_BIT() of the sites quantized */
    char sites[96];                  /* the same as a canonical list; "" = the default */
    int n_layers;                    /* 0 = every layer */
    int layers[QS_QUANT_MAX_LAYERS]; /* ascending, distinct */
} qs_quant_side;

typedef struct qs_quant_config {
    qs_quant_side w; /* weights: spec.gran is TENSOR, ROW or GROUP */
    qs_quant_side a; /* activations: TENSOR, ROW (per-token), COL or GROUP */
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
