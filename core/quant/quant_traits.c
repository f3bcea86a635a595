/* The scheme traits table, enum names, spec validation and the storage-cost accounting:
 * the one place that says what each scheme, granularity and clip method is called and
 * what its metadata costs. */
#include <math.h>

#include "error.h"
#include "quant_internal.h"

/* Both schemes share the kernels: in the "q - zero" domain a grid is just [qlo, qhi]. */
static int meta_symmetric(int bits, int fp32_scales) { return fp32_scales ? 32 : 16; }
/* the zero-point is an integer code of the same grid: b bits */
static int meta_affine(int bits, int fp32_scales) { return (fp32_scales ? 32 : 16) + bits; }

static const qs_quant_traits traits[QS_QUANT_SCHEME_COUNT] = {
    [QS_QUANT_SYMMETRIC] = {"symmetric", 0, qs__quant_grid_symmetric, qs__quant_codes,
                            qs__quant_decode, qs__quant_fake_run, qs__quant_fake_run_ref,
                            meta_symmetric},
    [QS_QUANT_AFFINE] = {"affine", 1, qs__quant_grid_affine, qs__quant_codes, qs__quant_decode,
                         qs__quant_fake_run, qs__quant_fake_run_ref, meta_affine},
};

static const char *const gran_names[QS_QUANT_GRAN_COUNT] = {"tensor", "row", "col", "group"};
static const char *const clip_names[QS_QUANT_CLIP_COUNT] = {"absmax", "mse", "percentile"};

const qs_quant_traits *qs_quant_traits_of(int scheme) {
    return (scheme >= 0 && scheme < QS_QUANT_SCHEME_COUNT) ? &traits[scheme] : NULL;
}

const char *qs_quant_scheme_name(int s) {
    return (s >= 0 && s < QS_QUANT_SCHEME_COUNT) ? traits[s].name : "?";
}
const char *qs_quant_gran_name(int g) {
    return (g >= 0 && g < QS_QUANT_GRAN_COUNT) ? gran_names[g] : "?";
}
const char *qs_quant_clip_name(int c) {
    return (c >= 0 && c < QS_QUANT_CLIP_COUNT) ? clip_names[c] : "?";
}

int qs_quant_spec_validate(const qs_quant_spec *sp) {
    if (!sp) return qs_error_set(QS_ERR_ARG, "quant spec is NULL");
    if (sp->bits == QS_QUANT_BITS_NONE) return QS_OK;
    if (sp->bits < QS_QUANT_BITS_MIN || sp->bits > QS_QUANT_BITS_MAX)
        return qs_error_set(QS_ERR_ARG, "quant bits %d: expected %d..%d, or 16 (not quantized)",
                            sp->bits, QS_QUANT_BITS_MIN, QS_QUANT_BITS_MAX);
    if ((unsigned)sp->scheme >= QS_QUANT_SCHEME_COUNT)
        return qs_error_set(QS_ERR_ARG, "quant scheme %d out of range", (int)sp->scheme);
    if ((unsigned)sp->gran >= QS_QUANT_GRAN_COUNT)
        return qs_error_set(QS_ERR_ARG, "quant granularity %d out of range", (int)sp->gran);
    if (sp->gran == QS_QUANT_GROUP && sp->group < 1)
        return qs_error_set(QS_ERR_ARG, "quant group size %d: expected >= 1", sp->group);
    if ((unsigned)sp->clip >= QS_QUANT_CLIP_COUNT)
        return qs_error_set(QS_ERR_ARG, "quant clip %d out of range", (int)sp->clip);
    if (sp->clip == QS_QUANT_PERCENTILE && !(sp->percentile > 0.0 && sp->percentile <= 100.0))
        return qs_error_set(QS_ERR_ARG, "percentile %g: expected 0 < p <= 100", sp->percentile);
    return QS_OK;
}

long qs_quant_n_scales(const qs_quant_spec *sp, int rows, int cols) {
    if (sp->bits == QS_QUANT_BITS_NONE) return 0;
    switch (sp->gran) {
    case QS_QUANT_TENSOR: return 1;
    case QS_QUANT_ROW: return rows;
    case QS_QUANT_COL: return cols;
    case QS_QUANT_GROUP: return (long)rows * ((cols + sp->group - 1) / sp->group);
    default: return 0;
    }
}

double qs_quant_bits_per_value(const qs_quant_spec *sp, int rows, int cols) {
    if (sp->bits == QS_QUANT_BITS_NONE) return 16.0;
    const qs_quant_traits *t = qs_quant_traits_of(sp->scheme);
    double meta =
        (double)qs_quant_n_scales(sp, rows, cols) * t->meta_bits(sp->bits, sp->fp32_scales);
    return sp->bits + meta / ((double)rows * (double)cols);
}

double qs_quant_bits_nominal(const qs_quant_spec *sp, long elems_per_scale) {
    if (sp->bits == QS_QUANT_BITS_NONE) return 16.0;
    const qs_quant_traits *t = qs_quant_traits_of(sp->scheme);
    return sp->bits + (double)t->meta_bits(sp->bits, sp->fp32_scales) / (double)elems_per_scale;
}
