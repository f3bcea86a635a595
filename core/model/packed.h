/* qscope's packed integer tensors: what offline weight quantization stores.
 *
 * One layout for every granularity. An (R, C) tensor of b-bit codes (b = 2..8) with N
 * scale groups is one block of bytes, three parts back to back:
 *   codes   ceil(R·C·b / 8) bytes. Code i (row-major, i = r·C + c) occupies bits
 *           [i·b, i·b + b) of a little-endian bit stream: bit k is bit k % 8 of byte k / 8.
 *   scales  N scales, fp16 (2 bytes, little-endian) or f32 with fp32 scales (4 bytes).
 *   zeros   affine only: ceil(N·b / 8) bytes, zero-point g in bits [g·b, g·b + b).
 * Scale group of (r, c): 0 per tensor; r·ceil(C/G) + c/G otherwise, with G = C per row and
 * the group size per group (the last group of a row is shorter when G does not divide C).
 *
 * Value = (code − z)·scale, computed in f32 as ((float)code − (float)z)·scale: z is the
 * group's zero-point (affine), or 2^(b−1) for symmetric codes, which are the quantizer's
 * q ∈ −(2^(b−1)−1) .. 2^(b−1)−1 stored offset by 2^(b−1). The integer difference is exact,
 * so a value is the same single rounding the fake-quantizer produced (quant.h): a packed
 * tensor expands to exactly the fake-quantized matrix.
 *
 * So bytes·8 = R·C·b + N·(scale bits + zero-point bits), each part rounded up to a byte:
 * the bits_per_value a report prints is what memory holds.
 *
 * Floating-point elements (fp8, MX, NVFP4 formats) use the same layout with a table: the
 * code indexes lut (2^b element values, sign included), value = lut[code]·scale, and there
 * are no zero-points. Their scales may also be 8-bit codes (an E8M0 or E4M3 byte): scale =
 * scale_lut[code]·tensor_scale, the tensor scale one f32 stored after the scale codes (NVFP4)
 * or 1 (MX). Again each value is the one rounding the fake-quantizer made.
 *
 * Letters: R rows, C cols, G group size, N scale groups, b bits. */
#ifndef QS_PACKED_H
#define QS_PACKED_H

#include <stddef.h>
#include <stdint.h>

enum qs_packed_gran { QS_PACKED_TENSOR = 0, QS_PACKED_ROW = 1, QS_PACKED_GROUP = 2 };

/* How a group's scale is stored. */
enum qs_packed_scale {
    QS_PACKED_SCALE_F16 = 0, /* 2 bytes per group */
    QS_PACKED_SCALE_F32,     /* 4 bytes per group */
    QS_PACKED_SCALE_CODE8,   /* 1 byte per group: scale_lut[code] (· the tensor scale) */
};

#define QS_PACKED_BITS_MIN 2
#define QS_PACKED_BITS_MAX 8

typedef struct qs_packed_layout {
    int bits;        /* b */
    int affine;      /* 1: per-group zero-points are stored; 0: symmetric (z = 2^(b-1)) */
    int gran;        /* enum qs_packed_gran */
    int64_t group;   /* G: columns per scale group (C per row, R·C per tensor) */
    int fp32_scales; /* 1: scales are f32; 0: fp16 (scale_kind says it too) */
    int scale_kind;  /* enum qs_packed_scale */
    int64_t rows, cols;
    int64_t n_groups;       /* N */
    int64_t groups_per_row; /* ceil(C/G); 0 per tensor */
    size_t codes_bytes, scales_bytes, zeros_bytes;
    int lut_n;              /* 2^b: codes index lut (floating-point elements); 0: integer grid */
    int tensor_scale;       /* CODE8 scales are multiplied by an f32 tensor scale (4 bytes at
                               the end of the scales part, counted in scales_bytes) */
    const float *lut;       /* element values by code (2^b), static storage */
    const float *scale_lut; /* CODE8 scale values by code (256), static storage */
} qs_packed_layout;

/* Fills a layout for an (rows, cols) tensor. group is G for QS_PACKED_GROUP (>= 1) and
 * ignored otherwise. Errors: QS_ERR_ARG (bits outside 2..8, empty shape, G < 1, sizes that
 * overflow). */
int qs_packed_layout_init(qs_packed_layout *p, int64_t rows, int64_t cols, int bits, int affine,
                          int gran, int64_t group, int fp32_scales);
/* A floating-point element layout: codes of `bits` bits index lut (2^bits values), scales
 * stored as scale_kind (CODE8: index scale_lut, 256 values, times an f32 tensor scale when
 * tensor_scale). The tables are kept by pointer and must outlive every copy of the layout
 * (the quantizers pass static ones). Errors as qs_packed_layout_init. */
int qs_packed_layout_init_lut(qs_packed_layout *p, int64_t rows, int64_t cols, int bits, int gran,
                              int64_t group, int scale_kind, const float *lut,
                              const float *scale_lut, int tensor_scale);

/* Total bytes: codes + scales + zeros. */
size_t qs_packed_bytes(const qs_packed_layout *p);
/* Storage bits per value: 8·bytes / (R·C). */
double qs_packed_bits_per_value(const qs_packed_layout *p);
/* A label such as "W4 g128", "W8 per-channel affine", "W3 per-tensor" into buf. */
void qs_packed_label(const qs_packed_layout *p, char *buf, size_t cap);

/* Checks that n_bytes stored bytes hold the layout: QS_ERR_FORMAT naming `what`, the bytes
 * found and the bytes each part needs, when they differ (a truncated tensor). */
int qs_packed_check(const qs_packed_layout *p, size_t n_bytes, const char *what);

/* Assembles a packed tensor into dst (qs_packed_bytes(p) bytes) from its parts: codes
 * (codes_bytes bytes), n_scales fp16 scales (or f32 ones with fp32_scales) and, when affine,
 * the zero-point stream (zeros_bytes bytes; NULL otherwise). Every length is checked against
 * the layout first: QS_ERR_FORMAT names the part, its length and the length expected. */
int qs_packed_assemble(uint8_t *dst, const qs_packed_layout *p, const uint8_t *codes,
                       size_t codes_bytes, const void *scales, int64_t n_scales,
                       const uint8_t *zeros, size_t zeros_bytes);

/* Code i of a b-bit stream. */
static inline unsigned qs_packed_get(const uint8_t *s, int64_t i, int bits) {
    uint64_t bit = (uint64_t)i * (uint64_t)bits, byte = bit >> 3;
    unsigned sh = (unsigned)(bit & 7), v = s[byte];
    if (sh + (unsigned)bits > 8) v |= (unsigned)s[byte + 1] << 8;
    return (v >> sh) & ((1u << bits) - 1u);
}
/* Writes n codes c[k] + offset (each must fit in b bits) at positions i0 .. i0+n-1 of a
 * stream whose bits there are zero. */
void qs_packed_put(uint8_t *s, int64_t i0, const int16_t *c, int64_t n, int bits, int offset);

/* Scale and zero-point of group g (z is 2^(b-1) for symmetric layouts, 0 for tables). */
float qs_packed_scale(const qs_packed_layout *p, const uint8_t *data, int64_t g);
int qs_packed_zero(const qs_packed_layout *p, const uint8_t *data, int64_t g);

/* y (n, C) ← rows [r0, r0 + n) of the packed tensor at data. _ref decodes code by code;
 * the other takes the CPU's SIMD path (core/base/cpu.h) and gives the same bits. */
void qs_packed_rows_ref(float *y, const qs_packed_layout *p, const uint8_t *data, int64_t r0,
                        int64_t n);
void qs_packed_rows(float *y, const qs_packed_layout *p, const uint8_t *data, int64_t r0,
                    int64_t n);

#endif
