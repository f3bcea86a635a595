/* The scheme traits table, enum names, spec validation and the storage-cost accounting:
 * the one place that says what each scheme, granularity and clip method is called and
 * what its metadata costs. */
#include <math.h>
#include <string.h>

#include "error.h"
#include "quant_internal.h"

/* Both schemes share the kernels: in the "q - zero" domain a grid is just [qlo, qhi]. */
static int meta_symmetric(int bits, int fp32_scales) { return fp32_scales ? 32 : 16; }
/* the zero-point is an integer code of the same grid: b bits */
static int meta_affine(int bits, int fp32_scales) { return (fp32_scales ? 32 : 16) + bits; }

#define INT_ROW(nm, zp, gridfn, metafn)                                                            \
    {                                                                                              \
        .name = nm, .has_zero_point = zp, .elem = -1, .grid = gridfn, .quantize = qs__quant_codes, \
        .dequantize = qs__quant_decode, .fake = qs__quant_fake_run,                                \
        .fake_ref = qs__quant_fake_run_ref, .meta_bits = metafn, .levels = qs__quant_levels,       \
        .sse = qs__quant_sse, .sse_ref = qs__quant_sse_ref                                         \
    }

/* the integer rows; the floating-point formats' rows live in quant_float.c */
static const qs_quant_traits int_traits[QS_QUANT_INT_SCHEMES] = {
    [QS_QUANT_SYMMETRIC] = INT_ROW("symmetric", 0, qs__quant_grid_symmetric, meta_symmetric),
    [QS_QUANT_AFFINE] = INT_ROW("affine", 1, qs__quant_grid_affine, meta_affine),
};

static const char *const gran_names[QS_QUANT_GRAN_COUNT] = {"tensor", "row", "col", "group"};
static const char *const clip_names[QS_QUANT_CLIP_COUNT] = {"absmax", "mse", "percentile"};

const qs_quant_traits *qs_quant_traits_of(int scheme) {
    if (scheme >= 0 && scheme < QS_QUANT_INT_SCHEMES) return &int_traits[scheme];
    if (scheme >= QS_QUANT_INT_SCHEMES && scheme < QS_QUANT_SCHEME_COUNT)
        return &qs__quant_float_traits[scheme - QS_QUANT_INT_SCHEMES];
    return NULL;
}

const char *qs_quant_scheme_name(int s) {
    const qs_quant_traits *t = qs_quant_traits_of(s);
    return t ? t->name : "?";
}

int qs_quant_scheme_from_name(const char *name) {
    for (int s = 0; s < QS_QUANT_SCHEME_COUNT; s++)
        if (strcmp(name, qs_quant_traits_of(s)->name) == 0) return s;
    return -1;
}

int qs_quant_scheme_is_float(int s) {
    return s >= QS_QUANT_INT_SCHEMES && s < QS_QUANT_SCHEME_COUNT;
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
    const qs_quant_traits *t = qs_quant_traits_of(sp->scheme);
    if (t->fixed_bits && sp->bits != t->fixed_bits)
        return qs_error_set(QS_ERR_ARG, "%s stores %d-bit elements: bits must be %d, not %d",
                            t->name, t->fixed_bits, t->fixed_bits, sp->bits);
    if (t->fixed_scales && sp->fp32_scales)
        return qs_error_set(QS_ERR_ARG, "%s fixes its scale encoding: fp32 scales do not apply",
                            t->name);
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
        (double)qs_quant_n_scales(sp, rows, cols) * t->meta_bits(sp->bits, sp->fp32_scales) +
        t->tensor_meta_bits;
    return sp->bits + meta / ((double)rows * (double)cols);
}

double qs_quant_bits_nominal(const qs_quant_spec *sp, long elems_per_scale) {
    if (sp->bits == QS_QUANT_BITS_NONE) return 16.0;
    const qs_quant_traits *t = qs_quant_traits_of(sp->scheme);
    return sp->bits + (double)t->meta_bits(sp->bits, sp->fp32_scales) / (double)elems_per_scale;
}
