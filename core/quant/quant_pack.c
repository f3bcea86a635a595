/* Packed output of the quantizers (quant.h, packed.h): the fake-quantizer's codes, scales
 * and zero-points, stored as a packed tensor. The codes are the ones qs_quant_fake (or its
 * _ref twin) returns, so the packed tensor expands to exactly the fake-quantized values. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fp16.h"
#include "quant.h"

int qs_quant_packed_layout(qs_packed_layout *p, const qs_quant_spec *sp, int64_t rows,
                           int64_t cols) {
    int rc = qs_quant_spec_validate(sp);
    if (rc) return rc;
    if (sp->bits == QS_QUANT_BITS_NONE)
        return qs_error_set(QS_ERR_ARG, "pack: bits 16 means not quantized: nothing to pack");
    if (qs_quant_scheme_is_float(sp->scheme))
        return qs_error_set(QS_ERR_ARG, "pack: %s elements have no packed integer layout yet",
                            qs_quant_scheme_name(sp->scheme));
    int gran = sp->gran == QS_QUANT_TENSOR  ? QS_PACKED_TENSOR
               : sp->gran == QS_QUANT_ROW   ? QS_PACKED_ROW
               : sp->gran == QS_QUANT_GROUP ? QS_PACKED_GROUP
                                            : -1;
    if (gran < 0)
        return qs_error_set(QS_ERR_ARG,
                            "pack: granularity %s has no packed layout (weights are "
                            "per-tensor, per-channel or per-group)",
                            qs_quant_gran_name(sp->gran));
    return qs_packed_layout_init(p, rows, cols, sp->bits, sp->scheme == QS_QUANT_AFFINE, gran,
                                 sp->group, sp->fp32_scales);
}

typedef int (*fake_fn)(float *, const float *, int, int, const qs_quant_spec *, const qs_quant_io *,
                       qs_quant_report *);

static int pack_rows(fake_fn fake, uint8_t *dst, const qs_packed_layout *p, int64_t r0, float *y,
                     const float *x, int n, const qs_quant_spec *sp, qs_quant_report *rep) {
    const int64_t C = p->cols;
    if (r0 < 0 || n < 1 || r0 + n > p->rows || (p->gran == QS_PACKED_TENSOR && n != p->rows))
        return qs_error_set(QS_ERR_ARG, "pack: rows [%lld, %lld) of a (%lld, %lld) tensor%s",
                            (long long)r0, (long long)(r0 + n), (long long)p->rows, (long long)C,
                            p->gran == QS_PACKED_TENSOR ? " (per-tensor: all)" : "");
    if (C > INT32_MAX) return qs_error_set(QS_ERR_ARG, "pack: %lld columns", (long long)C);
    qs_packed_layout want;
    int rc = qs_quant_packed_layout(&want, sp, p->rows, C);
    if (rc) return rc;
    if (want.bits != p->bits || want.affine != p->affine || want.gran != p->gran ||
        want.group != p->group || want.fp32_scales != p->fp32_scales)
        return qs_error_set(QS_ERR_ARG, "pack: the spec does not match the packed layout");
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
    if (rc) goto done;
    /* codes: symmetric ones are stored offset by 2^(b-1) (packed.h) */
    qs_packed_put(dst, r0 * C, codes, (int64_t)nv, p->bits, p->affine ? 0 : 1 << (p->bits - 1));
    int64_t g0 = p->gran == QS_PACKED_TENSOR ? 0 : r0 * p->groups_per_row;
    uint8_t *sc = dst + p->codes_bytes;
    for (long g = 0; g < N; g++) {
        if (p->fp32_scales) {
            memcpy(sc + 4 * (g0 + g), &scales[g], 4); /* little-endian hosts (x86, arm64) */
        } else {
            uint16_t h = qs_fp16_from_f32(scales[g]); /* exact: scales are fp16 values */
            sc[2 * (g0 + g)] = (uint8_t)h;
            sc[2 * (g0 + g) + 1] = (uint8_t)(h >> 8);
        }
    }
    if (p->affine) {
        for (long g = 0; g < N; g++) codes[g] = (int16_t)zeros[g]; /* reuse: N <= n·C */
        qs_packed_put(sc + p->scales_bytes, g0, codes, N, p->bits, 0);
    }
done:
    free(codes), free(scales), free(zeros), free(own);
    return rc;
}

int qs_quant_pack_rows(uint8_t *dst, const qs_packed_layout *p, int64_t r0, float *y,
                       const float *x, int n, const qs_quant_spec *sp, qs_quant_report *rep) {
    return pack_rows(qs_quant_fake, dst, p, r0, y, x, n, sp, rep);
}

int qs_quant_pack_rows_ref(uint8_t *dst, const qs_packed_layout *p, int64_t r0, float *y,
                           const float *x, int n, const qs_quant_spec *sp, qs_quant_report *rep) {
    return pack_rows(qs_quant_fake_ref, dst, p, r0, y, x, n, sp, rep);
}
