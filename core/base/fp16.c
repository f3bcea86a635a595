/* fp16 (IEEE binary16) conversions: see fp16.h. */
#include <math.h>
#include <string.h>

#include "fp16.h"

uint16_t qs_fp16_from_f32(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    u &= 0x7fffffffu;
    if (u >= 0x7f800000u) /* Inf or NaN (keep NaN quiet) */
        return (uint16_t)(sign | 0x7c00u | (u > 0x7f800000u ? 0x0200u : 0u));
    if (u >= 0x477ff000u) /* >= 65520: rounds past 65504 */
        return (uint16_t)(sign | 0x7c00u);
    if (u < 0x38800000u) { /* < 2^-14: fp16 subnormal or zero */
        float a;
        memcpy(&a, &u, sizeof a);
        /* a·2^24 is exact (power-of-two scaling) and < 1024; rintf rounds half to even.
         * 1024 itself is the bit pattern of the smallest normal, 2^-14. */
        return (uint16_t)(sign | (uint16_t)rintf(a * 16777216.0f));
    }
    /* normal: rebias the exponent (127 -> 15) and round the 13 dropped mantissa bits to
     * nearest even; a carry into the exponent is the correct result */
    u = u - 0x38000000u + 0x0fffu + ((u >> 13) & 1u);
    return (uint16_t)(sign | (u >> 13));
}

float qs_fp16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu, u;
    if (e == 0x1f)
        u = sign | 0x7f800000u | (m << 13);
    else if (e == 0) {
        float a = ldexpf((float)m, -24); /* subnormal (or zero): exact */
        memcpy(&u, &a, sizeof u);
        u |= sign;
    } else
        u = sign | ((e + 112u) << 23) | (m << 13);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float qs_fp16_round(float f) { return qs_fp16_to_f32(qs_fp16_from_f32(f)); }
