/* The 16-bit float codecs: IEEE binary16 (fp16) and bfloat16 (bf16), written out by hand
 * so results do not depend on the compiler's _Float16 or the CPU's F16C. Decoding is exact
 * (subnormals, Inf and NaN payloads kept); encoding rounds to nearest even. */
#ifndef QS_FP16_H
#define QS_FP16_H

#include <stdint.h>

/* fp16 → f32, exact. */
float qs_fp16_to_f32(uint16_t h);
/* f32 → fp16, round to nearest even; subnormals kept, |f| ≥ 65520 → Inf, NaN stays NaN. */
uint16_t qs_fp16_from_f32(float f);
/* f rounded to the nearest fp16 value, as a float. */
float qs_fp16_round(float f);

/* bf16 → f32, exact (the high half of the f32 bits). */
static inline float qs_bf16_to_f32(uint16_t b) {
    union {
        uint32_t u;
        float f;
    } v = {(uint32_t)b << 16};
    return v.f;
}
/* f32 → bf16, round to nearest even; NaN stays NaN (quiet). */
static inline uint16_t qs_bf16_from_f32(float f) {
    union {
        float f;
        uint32_t u;
    } v = {f};
    if ((v.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((v.u >> 16) | 0x0040u);
    return (uint16_t)((v.u + 0x7fffu + ((v.u >> 16) & 1u)) >> 16);
}

#endif
