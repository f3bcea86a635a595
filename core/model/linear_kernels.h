/* The row kernels behind linear.h, shared by linear.c, linear_fused.c, linear_int8.c and the
 * storage-type table (dtype.c); not public API. Includes only packed.h, so the table can
 * name the kernels without a cycle through tensor.h. */
#ifndef QS_LINEAR_KERNELS_H
#define QS_LINEAR_KERNELS_H

#include <stdint.h>

#include "packed.h"

struct qs_act8; /* linear.h */

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
QS__DOT8(packed);
QS__DOT8(q8_0_ref);
QS__DOT8(q4_0_ref);
QS__DOT8(q4_k_ref);
QS__DOT8(packed_ref);

#endif
