/* Packed output of the quantizers (quant.h, packed.h): the fake-quantizer's codes, scales
 * and zero-points, stored as a packed tensor. The codes are the ones qs_quant_fake (or its
 * _ref twin) returns, so the packed tensor expands to exactly the fake-quantized values. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fp16.h"
#include "quant.h"

/* The value tables of the packed floating-point layouts, made once (static storage: the
 * layouts keep pointers to them). */
static float elem_lut[QS_FP_ELEM_COUNT][256], e8m0_lut[256], e4m3_lut[256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void tables_init(void) {
    for (int e = 0; e < QS_FP_ELEM_COUNT; e++)
        for (unsigned c = 0; c < (1u << qs_fp_format_of(e)->bits); c++)
            elem_lut[e][c] = qs_fp_decode(e, c);
    for (int c = 0; c < 256; c++) {
        e4m3_lut[c] = qs_fp_decode(QS_FP_E4M3, (unsigned)c);
        e8m0_lut[c] = c == 255 ? 0.0f : ldexpf(1.0f, c - 127); /* 255, E8M0's NaN: scale 0 */
    }
}

int qs_quant_packed_layout(qs_packed_layout *p, const qs_quant_spec *sp, int64_t rows,
                           int64_t cols) {
    int rc = qs_quant_spec_validate(sp);
    if (rc) return rc;
    if (sp->bits == QS_QUANT_BITS_NONE)
        return qs_error_set(QS_ERR_ARG, "pack: bits 16 means not quantized: nothing to pack");
    int gran = sp->gran == QS_QUANT_TENSOR  ? QS_PACKED_TENSOR
               : sp->gran == QS_QUANT_ROW   ? QS_PACKED_ROW
               : sp->gran == QS_QUANT_GROUP ? QS_PACKED_GROUP
                                            : -1;
    if (gran < 0)
        return qs_error_set(QS_ERR_ARG,
                            "pack: granularity %s has no packed layout (weights are "
                            "per-tensor, per-channel or per-group)",
                            qs_quant_gran_name(sp->gran));
    if (!qs_quant_scheme_is_float(sp->scheme))
        return qs_packed_layout_init(p, rows, cols, sp->bits, sp->scheme == QS_QUANT_AFFINE, gran,
                                     sp->group, sp->fp32_scales);
    /* floating-point elements: codes index their values; MX scales are E8M0 bytes, NVFP4's
     * E4M3 bytes under an f32 tensor scale, fp8_* scales fp16/fp32 like the integer ones */
    const qs_quant_traits *tr = qs_quant_traits_of(sp->scheme);
    pthread_once(&tables_once, tables_init);
    int kind = sp->fp32_scales ? QS_PACKED_SCALE_F32 : QS_PACKED_SCALE_F16;
    if (tr->fixed_scales) kind = QS_PACKED_SCALE_CODE8;
    return qs_packed_layout_init_lut(p, rows, cols, sp->bits, gran, sp->group, kind,
                                     elem_lut[tr->elem], tr->tensor_meta_bits ? e4m3_lut : e8m0_lut,
                                     tr->tensor_meta_bits > 0);
}

/* The 8-bit code of scale s in layout p's table (times tensor scale ts), or -1. */
static int scale_code(const qs_packed_layout *p, float s, float ts) {
    if (p->tensor_scale) {
        if (s == 0.0f) return 0;
        unsigned c = qs_fp_encode(QS_FP_E4M3, s / ts);
        return c < 256 && p->scale_lut[c] * ts == s ? (int)c : -1;
    }
    if (s == 0.0f) return 255;
    int k;
    frexpf(s, &k); /* s = 0.5·2^k: exponent k - 1 */
    int c = k - 1 + 127;
    return c >= 0 && c < 255 && p->scale_lut[c] == s ? c : -1;
}

/* Stores rows [r0, r0 + n) from their codes, scales and zero-points (io, qs_quant_fake's
 * layout) into dst; ts is the tensor scale of a tensor_scale layout (1 otherwise). */
static int store_io(uint8_t *dst, const qs_packed_layout *p, int64_t r0, int n,
                    const qs_quant_io *io, long N, float ts) {
    const int64_t C = p->cols;
    /* codes: symmetric ones are stored offset by 2^(b-1), element codes as they are */
    qs_packed_put(dst, r0 * C, io->codes, (int64_t)n * C, p->bits,
                  p->affine || p->lut_n ? 0 : 1 << (p->bits - 1));
    int64_t g0 = p->gran == QS_PACKED_TENSOR ? 0 : r0 * p->groups_per_row;
    uint8_t *sc = dst + p->codes_bytes;
    if (p->tensor_scale) memcpy(sc + p->n_groups, &ts, 4); /* little-endian hosts */
    for (long g = 0; g < N; g++) {
        float s = io->scales[g];
        if (p->scale_kind == QS_PACKED_SCALE_CODE8) {
            int c = scale_code(p, s, ts);
            if (c < 0)
                return qs_error_set(QS_ERR_NUMERIC, "pack: scale %g of group %ld has no 8-bit code",
                                    (double)s, (long)(g0 + g));
            sc[g0 + g] = (uint8_t)c;
        } else if (p->fp32_scales) {
            memcpy(sc + 4 * (g0 + g), &s, 4); /* little-endian hosts (x86, arm64) */
        } else {
            uint16_t h = qs_fp16_from_f32(s); /* exact: scales are fp16 values */
            sc[2 * (g0 + g)] = (uint8_t)h;
            sc[2 * (g0 + g) + 1] = (uint8_t)(h >> 8);
        }
    }
    if (p->affine) {
        int16_t *z = malloc((size_t)N * sizeof *z);
        if (!z) return qs_error_set(QS_ERR_NOMEM, "pack: out of memory for %ld zero-points", N);
        for (long g = 0; g < N; g++) z[g] = (int16_t)io->zeros[g];
        qs_packed_put(sc + p->scales_bytes, g0, z, N, p->bits, 0);
        free(z);
    }
    return QS_OK;
}

/* NVFP4's tensor scale of x (nv values), computed as the quantizer does. */
static float tensor_scale_of(const float *x, size_t nv) {
    float amax = 0.0f;
    for (size_t i = 0; i < nv; i++) amax = fabsf(x[i]) > amax ? fabsf(x[i]) : amax;
    return amax / (448.0f * 6.0f);
}

/* The rows check and the layout check every packing entry shares. */
static int check_rows(const qs_packed_layout *p, int64_t r0, int n, const qs_quant_spec *sp) {
    const int64_t C = p->cols;
    int whole = p->gran == QS_PACKED_TENSOR || p->tensor_scale; /* needs every row at once */
    if (r0 < 0 || n < 1 || r0 + n > p->rows || (whole && n != p->rows))
        return qs_error_set(QS_ERR_ARG, "pack: rows [%lld, %lld) of a (%lld, %lld) tensor%s",
                            (long long)r0, (long long)(r0 + n), (long long)p->rows, (long long)C,
                            p->gran == QS_PACKED_TENSOR ? " (per-tensor: all)" : "");
    if (C > INT32_MAX) return qs_error_set(QS_ERR_ARG, "pack: %lld columns", (long long)C);
    qs_packed_layout want;
    int rc = qs_quant_packed_layout(&want, sp, p->rows, C);
    if (rc) return rc;
    if (want.bits != p->bits || want.affine != p->affine || want.gran != p->gran ||
        want.group != p->group || want.fp32_scales != p->fp32_scales ||
        want.scale_kind != p->scale_kind || want.lut_n != p->lut_n)
        return qs_error_set(QS_ERR_ARG, "pack: the spec does not match the packed layout");
    return QS_OK;
}

typedef int (*fake_fn)(float *, const float *, int, int, const qs_quant_spec *, const qs_quant_io *,
                       qs_quant_report *);

static int pack_rows(fake_fn fake, uint8_t *dst, const qs_packed_layout *p, int64_t r0, float *y,
                     const float *x, int n, const qs_quant_spec *sp, qs_quant_report *rep) {
    const int64_t C = p->cols;
    int rc = check_rows(p, r0, n, sp);
    if (rc) return rc;
    long N = qs_quant_n_scales(sp, n, (int)C);
    size_t nv = (size_t)n * (size_t)C;
    int16_t *codes = malloc(nv * sizeof *codes);
    float *scales = malloc((size_t)N * sizeof *scales), *own = y ? NULL : malloc(nv * sizeof *own);
    int32_t *zeros = malloc((size_t)N * sizeof *zeros);
    if (!codes || !scales || !zeros || (!y && !own)) {
        rc = qs_error_set(QS_ERR_NOMEM, "pack: out of memory for %d rows", n);
        goto done;
    }
    qs_quant_io io = {.codes = codes, .scales = scales, .zeros = zeros};
    rc = fake(y ? y : own, x, n, (int)C, sp, &io, rep);
    if (rc == QS_OK)
        rc = store_io(dst, p, r0, n, &io, N, p->tensor_scale ? tensor_scale_of(x, nv) : 1.0f);
done:
    free(codes), free(scales), free(zeros), free(own);
    return rc;
}

int qs_quant_pack_io(uint8_t *dst, const qs_packed_layout *p, int64_t r0, int n,
                     const qs_quant_io *io, const float *x, const qs_quant_spec *sp) {
    int rc = check_rows(p, r0, n, sp);
    if (rc) return rc;
    long N = qs_quant_n_scales(sp, n, (int)p->cols);
    size_t nv = (size_t)n * (size_t)p->cols;
    return store_io(dst, p, r0, n, io, N, p->tensor_scale ? tensor_scale_of(x, nv) : 1.0f);
}

int qs_quant_pack_rows(uint8_t *dst, const qs_packed_layout *p, int64_t r0, float *y,
                       const float *x, int n, const qs_quant_spec *sp, qs_quant_report *rep) {
    return pack_rows(qs_quant_fake, dst, p, r0, y, x, n, sp, rep);
}

int qs_quant_pack_rows_ref(uint8_t *dst, const qs_packed_layout *p, int64_t r0, float *y,
                           const float *x, int n, const qs_quant_spec *sp, qs_quant_report *rep) {
    return pack_rows(qs_quant_fake_ref, dst, p, r0, y, x, n, sp, rep);
}
