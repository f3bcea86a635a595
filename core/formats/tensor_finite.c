/* NaN/Inf scan over stored tensor bytes, one storage type at a time: the float formats by
 * their exponent bits, block formats through their scalar decoders. Parallel over chunks;
 * each chunk reports its first bad element and the smallest index wins, so the message is
 * the same whatever the thread count. */
#include "tensor_finite.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "fp16.h"
#include "dtype.h"
#include "gguf_dequant.h"

#define CHUNK  65536 /* elements per parallel work item (float types) */
#define BLOCKS 16    /* blocks decoded at a time (block types; K-quants hold 256 values) */

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Index of the first non-finite element of [lo, hi), or hi. */
static int64_t first_bad_float(const unsigned char *x, uint32_t type, int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++) {
        switch (type) {
        case QS_GGML_F32:
            if ((rd32(x + 4 * i) & 0x7F800000u) == 0x7F800000u) return i;
            break;
        case QS_GGML_F16:
            if ((rd16(x + 2 * i) & 0x7C00u) == 0x7C00u) return i;
            break;
        case QS_GGML_BF16:
            if ((rd16(x + 2 * i) & 0x7F80u) == 0x7F80u) return i;
            break;
        case QS_GGML_F64: {
            double d;
            memcpy(&d, x + 8 * i, 8); /* little-endian hosts only, like the rest of the loaders */
            if (!(fabs(d) <= FLT_MAX)) return i;
            break;
        }
        }
    }
    return hi;
}

/* Index of the first element of blocks [b0, b1) that decodes to a non-finite float, or
 * b1 * block_size. */
static int64_t first_bad_blocks(const unsigned char *x, const qs_ggml_type_traits *tr,
                                int64_t b0, int64_t b1) {
    float y[BLOCKS * 256];
    int64_t bs = tr->block_size;
    for (int64_t b = b0; b < b1; b += BLOCKS) {
        int64_t nb = b1 - b < BLOCKS ? b1 - b : BLOCKS;
        tr->dequant(y, x + b * tr->type_size, nb);
        for (int64_t k = 0; k < nb * bs; k++)
            if (!isfinite(y[k])) return b * bs + k;
    }
    return b1 * bs;
}

static double value_at(const unsigned char *x, uint32_t type, const qs_ggml_type_traits *tr,
                       int64_t i) {
    switch (type) {
    case QS_GGML_F32: {
        float f;
        memcpy(&f, x + 4 * i, 4);
        return f;
    }
    case QS_GGML_F16: return qs_fp16_to_f32(rd16(x + 2 * i));
    case QS_GGML_BF16: return qs_bf16_to_f32(rd16(x + 2 * i));
    case QS_GGML_F64: {
        double d;
        memcpy(&d, x + 8 * i, 8);
        return d;
    }
    default: {
        float y[256];
        int64_t b = i / tr->block_size;
        tr->dequant(y, x + b * tr->type_size, 1);
        return y[i % tr->block_size];
    }
    }
}

int qs_tensor_check_finite(const void *data, uint32_t type, int64_t n, const char *file,
                           const char *tensor) {
    const qs_ggml_type_traits *tr = qs_ggml_type_traits_get(type);
    if (!tr || !tr->dequant || n <= 0) return QS_OK;
    const unsigned char *x = data;
    int is_float =
        type == QS_GGML_F32 || type == QS_GGML_F16 || type == QS_GGML_BF16 || type == QS_GGML_F64;
    if (!is_float && (tr->block_size > 256 || n % tr->block_size)) return QS_OK;
    int64_t units = is_float ? n : n / tr->block_size; /* elements or blocks */
    int64_t step = is_float ? CHUNK : CHUNK / tr->block_size;
    int64_t n_chunks = (units + step - 1) / step;
    int64_t first = n;
#pragma omp parallel for schedule(dynamic, 4) reduction(min : first) if (n_chunks > 1)
    for (int64_t c = 0; c < n_chunks; c++) {
        int64_t lo = c * step, hi = lo + step < units ? lo + step : units;
        int64_t f = is_float ? first_bad_float(x, type, lo, hi) : first_bad_blocks(x, tr, lo, hi);
        int64_t end = is_float ? hi : hi * tr->block_size;
        if (f < end && f < first) first = f;
    }
    if (first >= n) return QS_OK;
    double v = value_at(x, type, tr, first);
    const char *what = isnan(v) ? "NaN" : isinf(v) ? (v > 0 ? "+Inf" : "-Inf") : NULL;
    char val[64];
    if (what)
        snprintf(val, sizeof val, "%s", what);
    else
        snprintf(val, sizeof val, "%g, beyond float's range", v);
    if (is_float)
        return qs_error_set(QS_ERR_NUMERIC,
                            "%s: tensor '%s' holds %s at element %lld (of %lld, stored %s); "
                            "weights must be finite",
                            file, tensor, val, (long long)first, (long long)n, tr->name);
    return qs_error_set(QS_ERR_NUMERIC,
                        "%s: tensor '%s' decodes to %s at element %lld (block %lld of %lld, "
                        "stored %s); weights must be finite",
                        file, tensor, val, (long long)first, (long long)(first / tr->block_size),
                        (long long)(n / tr->block_size), tr->name);
}
