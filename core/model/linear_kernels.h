/* The row kernels behind linear.h, shared by linear.c, linear_fused.c, linear_int8.c and the
 * storage-type table (dtype.c); not public API. Includes only packed.h, so the table can
 * name the kernels without a cycle through tensor.h. */
#ifndef QS_LINEAR_KERNELS_H
#define QS_LINEAR_KERNELS_H

#include <stdint.h>

#include "packed.h"

struct qs_act8; /* linear.h */

/* Decode reads each weight once, from memory, and the hardware prefetcher alone keeps too
 * few lines in flight: the kernels ask for the lines this many bytes ahead of the block in
 * use (one int8dot thread went from 4 to 9 GB/s on Q4_0 rows; a plain read streams 15). */
#define QS__PREFETCH_AHEAD 2048

/* Asks for the `bytes` at p + QS__PREFETCH_AHEAD, a line at a time; a block under a line
 * re-asks for lines already on their way. */
static inline void qs__prefetch_ahead(const void *p, int bytes) {
    const char *a = (const char *)p + QS__PREFETCH_AHEAD;
    for (int l = 0; l < bytes; l += 64) __builtin_prefetch(a + l, 0, 3);
}

/* A Q4_K super-block's eight 6-bit scales and mins (its bytes 4-15) as bytes: sc[0..3] in
 * sc[0], sc[4..7] in sc[1], mn likewise, each byte one sub-block's. Bytes 0-3 hold sc 0-3
 * and the top bits of sc 4-7, bytes 4-7 mn 0-3 and the top bits of mn 4-7, bytes 8-11 the
 * low nibbles of sc 4-7 and mn 4-7: 32-bit masks and shifts take them apart, with no
 * branch per sub-block. */
static inline void qs__q4_k_scale_bytes(const uint8_t *q, uint32_t sc[2], uint32_t mn[2]) {
    uint32_t u0, u1, u2;
    __builtin_memcpy(&u0, q, 4);
    __builtin_memcpy(&u1, q + 4, 4);
    __builtin_memcpy(&u2, q + 8, 4);
    sc[0] = u0 & 0x3f3f3f3fu;
    mn[0] = u1 & 0x3f3f3f3fu;
    sc[1] = (u2 & 0x0f0f0f0fu) | (((u0 >> 6) & 0x03030303u) << 4);
    mn[1] = ((u2 >> 4) & 0x0f0f0f0fu) | (((u1 >> 6) & 0x03030303u) << 4);
}

/* Fused register kernels, one per type and vector width (dtype.h's matvec entries): rows
 * [r0, r0 + n) in stored order; they return 0 without writing when they cannot take the
 * weight (a packed layout they do not cover, unaligned f32). */
#define QS__MATVEC(name)                                                                      \
    int qs__mv_##name(float *y, int64_t ldy, const uint8_t *data, int64_t r0, int64_t n,     \
                      int64_t cols, const qs_packed_layout *layout, const float *x, int64_t ldx, \
                      int T)
QS__MATVEC(f32_avx2);
QS__MATVEC(f16_avx2);
QS__MATVEC(bf16_avx2);
QS__MATVEC(q8_0_avx2);
QS__MATVEC(q4_0_avx2);
QS__MATVEC(q4_k_avx2);
QS__MATVEC(q6_k_avx2);
QS__MATVEC(packed_avx2);
QS__MATVEC(f32_avx512);
QS__MATVEC(f16_avx512);
QS__MATVEC(bf16_avx512);
QS__MATVEC(q8_0_avx512);
QS__MATVEC(q4_0_avx512);
QS__MATVEC(q4_k_avx512);
QS__MATVEC(q6_k_avx512);
QS__MATVEC(packed_avx512);

/* y[t·ldy] = wr (C floats) · x[t·ldx ..], t < T, on the CPU's path (the fallback's dot). */
void qs__linear_dot_f32(float *y, int64_t ldy, const float *wr, int64_t C, const float *x,
                        int64_t ldx, int T);
/* 1 if a packed layout has register kernels (8 or 4 bits, integer grid, whole runs of 16). */
int qs__packed_fusable(const struct qs_packed_layout *p);

/* The int8dot rows (dtype.h's dot8 entries): the vector kernel the CPU takes (VNNI where
 * present and allowed), else the scalar reference; 0 when the weight has no integer kernel. */
#define QS__DOT8(name)                                                                        \
    int qs__dot8_##name(float *y, int64_t ldy, const uint8_t *data, int64_t r0, int64_t n,    \
                        int64_t cols, const qs_packed_layout *layout, const struct qs_act8 *a)
QS__DOT8(q8_0);
QS__DOT8(q4_0);
QS__DOT8(q4_k);
QS__DOT8(q6_k);
QS__DOT8(packed);
QS__DOT8(q8_0_ref);
QS__DOT8(q4_0_ref);
QS__DOT8(q4_k_ref);
QS__DOT8(q6_k_ref);
QS__DOT8(packed_ref);

#endif
