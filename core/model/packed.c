/* Packed integer tensors (see packed.h): layout arithmetic, checks, and expansion to f32.
 *
 * Expansion walks each row group by group: one scale and zero-point per run of codes, so
 * the inner loop is ((float)code − z)·s over a run. The fast path decodes byte-aligned runs
 * of 8-, 4- and 2-bit codes a byte at a time (AVX2: 16 codes per step for 4 bits, 8 for 8
 * bits) and falls back to the bit-stream reader for the rest; every path computes the same
 * two float operations per value, so all give the bits of qs_packed_rows_ref. Table layouts
 * (floating-point elements) look each code up and multiply once. */
#include "packed.h"

#include <stdio.h>
#include <string.h>

#include "cpu.h"
#include "error.h"
#include "fp16.h"

#if QS_HAVE_X86_SIMD
#include <immintrin.h>
#endif

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

int qs_packed_layout_init(qs_packed_layout *p, int64_t rows, int64_t cols, int bits, int affine,
                          int gran, int64_t group, int fp32_scales) {
    memset(p, 0, sizeof *p);
    if (bits < QS_PACKED_BITS_MIN || bits > QS_PACKED_BITS_MAX)
        return qs_error_set(QS_ERR_ARG, "packed tensor: %d bits is outside %d..%d", bits,
                            QS_PACKED_BITS_MIN, QS_PACKED_BITS_MAX);
    /* bounds that keep every byte count below 2^62 */
    if (rows < 1 || cols < 1 || rows > (INT64_C(1) << 40) || cols > (INT64_C(1) << 40) ||
        rows > (INT64_C(1) << 52) / cols)
        return qs_error_set(QS_ERR_ARG, "packed tensor: shape (%lld, %lld) is empty or too large",
                            (long long)rows, (long long)cols);
    if (gran != QS_PACKED_TENSOR && gran != QS_PACKED_ROW && gran != QS_PACKED_GROUP)
        return qs_error_set(QS_ERR_ARG, "packed tensor: unknown granularity %d", gran);
    if (gran == QS_PACKED_GROUP && group < 1)
        return qs_error_set(QS_ERR_ARG, "packed tensor: group size %lld must be >= 1",
                            (long long)group);
    p->bits = bits;
    p->affine = affine != 0;
    p->gran = gran;
    p->fp32_scales = fp32_scales != 0;
    p->rows = rows;
    p->cols = cols;
    if (gran == QS_PACKED_TENSOR) {
        p->group = rows * cols;
        p->groups_per_row = 0;
        p->n_groups = 1;
    } else {
        p->group = gran == QS_PACKED_ROW ? cols : (group < cols ? group : cols);
        p->groups_per_row = ceil_div(cols, p->group);
        p->n_groups = rows * p->groups_per_row;
    }
    p->scale_kind = p->fp32_scales ? QS_PACKED_SCALE_F32 : QS_PACKED_SCALE_F16;
    p->codes_bytes = (size_t)ceil_div(rows * cols * bits, 8);
    p->scales_bytes = (size_t)p->n_groups * (p->fp32_scales ? 4 : 2);
    p->zeros_bytes = p->affine ? (size_t)ceil_div(p->n_groups * bits, 8) : 0;
    return QS_OK;
}

int qs_packed_layout_init_lut(qs_packed_layout *p, int64_t rows, int64_t cols, int bits, int gran,
                              int64_t group, int scale_kind, const float *lut,
                              const float *scale_lut, int tensor_scale) {
    int rc = qs_packed_layout_init(p, rows, cols, bits, 0, gran, group,
                                   scale_kind == QS_PACKED_SCALE_F32);
    if (rc) return rc;
    if (!lut || (scale_kind == QS_PACKED_SCALE_CODE8 && !scale_lut) ||
        scale_kind < QS_PACKED_SCALE_F16 || scale_kind > QS_PACKED_SCALE_CODE8)
        return qs_error_set(QS_ERR_ARG, "packed tensor: a table layout needs its tables");
    p->lut_n = 1 << bits;
    p->lut = lut;
    p->scale_kind = scale_kind;
    if (scale_kind == QS_PACKED_SCALE_CODE8) {
        p->scale_lut = scale_lut;
        p->tensor_scale = tensor_scale != 0;
        p->scales_bytes = (size_t)p->n_groups + (p->tensor_scale ? 4 : 0);
    }
    return QS_OK;
}

size_t qs_packed_bytes(const qs_packed_layout *p) {
    return p->codes_bytes + p->scales_bytes + p->zeros_bytes;
}

double qs_packed_bits_per_value(const qs_packed_layout *p) {
    return 8.0 * (double)qs_packed_bytes(p) / ((double)p->rows * (double)p->cols);
}

void qs_packed_label(const qs_packed_layout *p, char *buf, size_t cap) {
    char g[32];
    if (p->gran == QS_PACKED_TENSOR)
        snprintf(g, sizeof g, "per-tensor");
    else if (p->gran == QS_PACKED_ROW)
        snprintf(g, sizeof g, "per-channel");
    else
        snprintf(g, sizeof g, "g%lld", (long long)p->group);
    snprintf(buf, cap, "W%d %s%s%s%s", p->bits, g, p->affine ? " affine" : "",
             p->lut_n ? " float" : "", p->fp32_scales ? " fp32" : "");
}

int qs_packed_check(const qs_packed_layout *p, size_t n_bytes, const char *what) {
    size_t want = qs_packed_bytes(p);
    if (n_bytes != want)
        return qs_error_set(QS_ERR_FORMAT,
                            "%s: packed tensor (%lld, %lld) W%d has %zu bytes, its layout needs "
                            "%zu (codes %zu + scales %zu + zero-points %zu)%s",
                            what, (long long)p->rows, (long long)p->cols, p->bits, n_bytes, want,
                            p->codes_bytes, p->scales_bytes, p->zeros_bytes,
                            n_bytes < want ? ": truncated" : "");
    return QS_OK;
}

int qs_packed_assemble(uint8_t *dst, const qs_packed_layout *p, const uint8_t *codes,
                       size_t codes_bytes, const void *scales, int64_t n_scales,
                       const uint8_t *zeros, size_t zeros_bytes) {
    if (codes_bytes != p->codes_bytes)
        return qs_error_set(QS_ERR_FORMAT,
                            "packed tensor: %zu bytes of codes, the layout (%lld x %lld at %d "
                            "bits) needs %zu",
                            codes_bytes, (long long)p->rows, (long long)p->cols, p->bits,
                            p->codes_bytes);
    if (n_scales != p->n_groups)
        return qs_error_set(QS_ERR_FORMAT,
                            "packed tensor: %lld scales, the layout has %lld scale groups",
                            (long long)n_scales, (long long)p->n_groups);
    if (p->affine ? (!zeros || zeros_bytes != p->zeros_bytes) : (zeros || zeros_bytes))
        return qs_error_set(
            QS_ERR_FORMAT, "packed tensor: %zu bytes of zero-points, the layout needs %zu (%s)",
            zeros ? zeros_bytes : 0, p->zeros_bytes, p->affine ? "affine" : "symmetric: none");
    memcpy(dst, codes, p->codes_bytes);
    memcpy(dst + p->codes_bytes, scales, p->scales_bytes);
    if (p->affine) memcpy(dst + p->codes_bytes + p->scales_bytes, zeros, p->zeros_bytes);
    return QS_OK;
}

void qs_packed_put(uint8_t *s, int64_t i0, const int16_t *c, int64_t n, int bits, int offset) {
    for (int64_t k = 0; k < n; k++) {
        uint64_t bit = (uint64_t)(i0 + k) * (uint64_t)bits, byte = bit >> 3;
        unsigned v = (unsigned)(c[k] + offset) << (bit & 7);
        s[byte] |= (uint8_t)v;
        if ((bit & 7) + (unsigned)bits > 8) s[byte + 1] |= (uint8_t)(v >> 8);
    }
}

static float rd_f32(const uint8_t *s) {
    uint32_t u =
        (uint32_t)s[0] | ((uint32_t)s[1] << 8) | ((uint32_t)s[2] << 16) | ((uint32_t)s[3] << 24);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float qs_packed_scale(const qs_packed_layout *p, const uint8_t *data, int64_t g) {
    const uint8_t *s = data + p->codes_bytes;
    if (p->scale_kind == QS_PACKED_SCALE_CODE8) {
        float v = p->scale_lut[s[g]];
        return p->tensor_scale ? v * rd_f32(s + p->n_groups) : v;
    }
    if (p->fp32_scales) return rd_f32(s + 4 * g);
    return qs_fp16_to_f32((uint16_t)(s[2 * g] | (s[2 * g + 1] << 8)));
}

int qs_packed_zero(const qs_packed_layout *p, const uint8_t *data, int64_t g) {
    if (p->lut_n) return 0;
    if (!p->affine) return 1 << (p->bits - 1);
    return (int)qs_packed_get(data + p->codes_bytes + p->scales_bytes, g, p->bits);
}

/* ---- expansion ------------------------------------------------------------------------ */

/* One run of n codes starting at code index i, all of one group (scale s, zero-point z). */
typedef void (*run_fn)(float *y, const uint8_t *codes, int64_t i, int64_t n, int bits, float z,
                       float s);

static void run_ref(float *y, const uint8_t *codes, int64_t i, int64_t n, int bits, float z,
                    float s) {
    for (int64_t k = 0; k < n; k++) y[k] = ((float)qs_packed_get(codes, i + k, bits) - z) * s;
}

/* Byte-aligned runs of 8, 4 or 2 bits, a byte at a time; the rest through run_ref. */
static void run_fast(float *y, const uint8_t *codes, int64_t i, int64_t n, int bits, float z,
                     float s) {
    int per = 8 / bits; /* codes per byte when bits divides 8 */
    if (8 % bits != 0) {
        run_ref(y, codes, i, n, bits, z, s);
        return;
    }
    int64_t head = (per - i % per) % per;
    if (head > n) head = n;
    run_ref(y, codes, i, head, bits, z, s);
    y += head, i += head, n -= head;
    const uint8_t *b = codes + i / per;
    int64_t nb = n / per;
    if (bits == 8) {
        for (int64_t k = 0; k < nb; k++) y[k] = ((float)b[k] - z) * s;
    } else if (bits == 4) {
        for (int64_t k = 0; k < nb; k++) {
            y[2 * k] = ((float)(b[k] & 15) - z) * s;
            y[2 * k + 1] = ((float)(b[k] >> 4) - z) * s;
        }
    } else {
        for (int64_t k = 0; k < nb; k++)
            for (int j = 0; j < 4; j++) y[4 * k + j] = ((float)((b[k] >> (2 * j)) & 3) - z) * s;
    }
    run_ref(y + nb * per, codes, i + nb * per, n - nb * per, bits, z, s);
}

#if QS_HAVE_X86_SIMD
QS_TARGET_AVX2 static void run_avx2(float *y, const uint8_t *codes, int64_t i, int64_t n, int bits,
                                    float z, float s) {
    if (bits != 8 && bits != 4) {
        run_fast(y, codes, i, n, bits, z, s);
        return;
    }
    /* shifts, not divisions: this runs once per scale group (128 codes for g128) */
    int64_t head = bits == 4 ? (i & 1) : 0;
    if (head > n) head = n;
    run_ref(y, codes, i, head, bits, z, s);
    y += head, i += head, n -= head;
    const uint8_t *b = codes + (bits == 4 ? i >> 1 : i);
    const __m256 vz = _mm256_set1_ps(z), vs = _mm256_set1_ps(s);
    int64_t k = 0; /* codes done */
    if (bits == 8) {
        for (; k + 8 <= n; k += 8) {
            __m128i q = _mm_loadl_epi64((const __m128i *)(b + k));
            __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(q));
            _mm256_storeu_ps(y + k, _mm256_mul_ps(_mm256_sub_ps(f, vz), vs));
        }
    } else {
        const __m128i lo4 = _mm_set1_epi8(0x0f);
        for (; k + 16 <= n; k += 16) {
            __m128i q = _mm_loadl_epi64((const __m128i *)(b + (k >> 1))); /* 16 codes */
            __m128i lo = _mm_and_si128(q, lo4), hi = _mm_and_si128(_mm_srli_epi16(q, 4), lo4);
            __m128i c = _mm_unpacklo_epi8(lo, hi); /* codes in order */
            __m256 f0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c));
            __m256 f1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(c, 8)));
            _mm256_storeu_ps(y + k, _mm256_mul_ps(_mm256_sub_ps(f0, vz), vs));
            _mm256_storeu_ps(y + k + 8, _mm256_mul_ps(_mm256_sub_ps(f1, vz), vs));
        }
    }
    /* GCC 12 emits no vzeroupper before this (tail) call into scalar code, and the dirty
     * upper halves then slowed every legacy-SSE instruction after it, here and in the
     * caller's later loops: 1.2 -> 0.22 ns per value for int4 g128 rows */
    _mm256_zeroupper();
    run_ref(y + k, codes, i + k, n - k, bits, z, s);
}
#endif

/* Table layouts: value = lut[code]·s. */
typedef void (*lut_fn)(float *y, const uint8_t *codes, int64_t i, int64_t n, int bits,
                       const float *lut, float s);

static void lut_ref(float *y, const uint8_t *codes, int64_t i, int64_t n, int bits,
                    const float *lut, float s) {
    for (int64_t k = 0; k < n; k++) y[k] = lut[qs_packed_get(codes, i + k, bits)] * s;
}

static void lut_fast(float *y, const uint8_t *codes, int64_t i, int64_t n, int bits,
                     const float *lut, float s) {
    if (bits != 8 && bits != 4) {
        lut_ref(y, codes, i, n, bits, lut, s);
        return;
    }
    int per = 8 / bits;
    int64_t head = (per - i % per) % per;
    if (head > n) head = n;
    lut_ref(y, codes, i, head, bits, lut, s);
    y += head, i += head, n -= head;
    const uint8_t *b = codes + i / per;
    int64_t nb = n / per;
    if (bits == 8)
        for (int64_t k = 0; k < nb; k++) y[k] = lut[b[k]] * s;
    else
        for (int64_t k = 0; k < nb; k++) {
            y[2 * k] = lut[b[k] & 15] * s;
            y[2 * k + 1] = lut[b[k] >> 4] * s;
        }
    lut_ref(y + nb * per, codes, i + nb * per, n - nb * per, bits, lut, s);
}

static void rows_lut(lut_fn run, float *y, const qs_packed_layout *p, const uint8_t *data,
                     int64_t r0, int64_t n) {
    const int64_t C = p->cols;
    for (int64_t r = r0; r < r0 + n; r++, y += C) {
        if (p->gran == QS_PACKED_TENSOR) {
            run(y, data, r * C, C, p->bits, p->lut, qs_packed_scale(p, data, 0));
            continue;
        }
        for (int64_t j = 0; j < p->groups_per_row; j++) {
            int64_t g = r * p->groups_per_row + j, c0 = j * p->group;
            int64_t len = C - c0 < p->group ? C - c0 : p->group;
            run(y + c0, data, r * C + c0, len, p->bits, p->lut, qs_packed_scale(p, data, g));
        }
    }
}

static void rows_with(run_fn run, float *y, const qs_packed_layout *p, const uint8_t *data,
                      int64_t r0, int64_t n) {
    const int64_t C = p->cols;
    for (int64_t r = r0; r < r0 + n; r++, y += C) {
        if (p->gran == QS_PACKED_TENSOR) {
            run(y, data, r * C, C, p->bits, (float)qs_packed_zero(p, data, 0),
                qs_packed_scale(p, data, 0));
            continue;
        }
        for (int64_t j = 0; j < p->groups_per_row; j++) {
            int64_t g = r * p->groups_per_row + j, c0 = j * p->group;
            int64_t len = C - c0 < p->group ? C - c0 : p->group;
            run(y + c0, data, r * C + c0, len, p->bits, (float)qs_packed_zero(p, data, g),
                qs_packed_scale(p, data, g));
        }
    }
}

void qs_packed_rows_ref(float *y, const qs_packed_layout *p, const uint8_t *data, int64_t r0,
                        int64_t n) {
    if (p->lut_n)
        rows_lut(lut_ref, y, p, data, r0, n);
    else
        rows_with(run_ref, y, p, data, r0, n);
}

void qs_packed_rows(float *y, const qs_packed_layout *p, const uint8_t *data, int64_t r0,
                    int64_t n) {
    if (p->lut_n) {
        rows_lut(lut_fast, y, p, data, r0, n);
        return;
    }
#if QS_HAVE_X86_SIMD
    if (qs_cpu_path() >= QS_CPU_AVX2) {
        rows_with(run_avx2, y, p, data, r0, n);
        return;
    }
#endif
    rows_with(run_fast, y, p, data, r0, n);
}
