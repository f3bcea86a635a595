/* Storing weights in another type (convert.h). */
#include "convert.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fp16.h"

int qs_convert_supported(uint32_t type) {
    return type == QS_GGML_F32 || type == QS_GGML_F16 || type == QS_GGML_BF16 ||
           type == QS_GGML_Q8_0 || type == QS_GGML_Q4_0 || type == QS_GGML_Q4_K;
}

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void q8_0_block(uint8_t *b, const float *x) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
    const float d = amax / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f; /* d before fp16 */
    put16(b, qs_fp16_from_f32(d));
    for (int j = 0; j < 32; j++) {
        long v = lroundf(x[j] * id);
        b[2 + j] = (uint8_t)(int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    }
}

static void q4_0_block(uint8_t *b, const float *x) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++) {
        float a = x[j] < 0 ? -x[j] : x[j];
        if (a > amax) amax = a, max = x[j];
    }
    const float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f; /* d before fp16 */
    put16(b, qs_fp16_from_f32(d));
    for (int j = 0; j < 16; j++) {
        int lo = (int)(x[j] * id + 8.5f), hi = (int)(x[j + 16] * id + 8.5f);
        lo = lo < 0 ? 0 : lo > 15 ? 15 : lo;
        hi = hi < 0 ? 0 : hi > 15 ? 15 : hi;
        b[2 + j] = (uint8_t)(lo | hi << 4);
    }
}

static int clampi(long v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : (int)v; }

/* the smallest fp16 at or above v >= 0 (a scale that must cover v·63) */
static uint16_t fp16_up(float v) {
    uint16_t h = qs_fp16_from_f32(v);
    return qs_fp16_to_f32(h) < v ? (uint16_t)(h + 1) : h;
}

/* Q4_K: d, dmin (fp16), 12 bytes of 6-bit scales and mins, 128 bytes of nibbles; values
 * 64p + l are the low nibbles of byte 32p + l (sub-block 2p), 64p + 32 + l the high ones.
 * Scales and mins are rounded up, so every sub-block's grid covers its values. */
static void q4_k_block(uint8_t *b, const float *x) {
    float s[8], m[8], hi[8], smax = 0.0f, mmax = 0.0f;
    for (int j = 0; j < 8; j++) {
        float lo = 0.0f, h = x[32 * j];
        for (int l = 0; l < 32; l++) {
            float v = x[32 * j + l];
            lo = v < lo ? v : lo;
            h = v > h ? v : h;
        }
        m[j] = -lo;
        hi[j] = h;
        mmax = m[j] > mmax ? m[j] : mmax;
    }
    uint16_t hm = fp16_up(mmax / 63.0f);
    const float dmin = qs_fp16_to_f32(hm);
    int c[8];
    for (int j = 0; j < 8; j++) {
        c[j] = dmin > 0.0f ? clampi(lrintf(ceilf(m[j] / dmin)), 0, 63) : 0;
        s[j] = (hi[j] + dmin * (float)c[j]) / 15.0f;
        s[j] = s[j] > 0.0f ? s[j] : 0.0f;
        smax = s[j] > smax ? s[j] : smax;
    }
    uint16_t hd = fp16_up(smax / 63.0f);
    const float d = qs_fp16_to_f32(hd);
    put16(b, hd);
    put16(b + 2, hm);
    uint8_t *sc = b + 4, *qs = b + 16;
    memset(sc, 0, 12);
    int q[256];
    for (int j = 0; j < 8; j++) {
        int a = d > 0.0f ? clampi(lrintf(ceilf(s[j] / d)), 0, 63) : 0;
        if (j < 4) {
            sc[j] |= (uint8_t)a;
            sc[j + 4] |= (uint8_t)c[j];
        } else {
            sc[j + 4] = (uint8_t)((a & 15) | ((c[j] & 15) << 4));
            sc[j - 4] |= (uint8_t)((a >> 4) << 6);
            sc[j] |= (uint8_t)((c[j] >> 4) << 6);
        }
        const float ds = d * (float)a, dm = dmin * (float)c[j];
        for (int l = 0; l < 32; l++)
            q[32 * j + l] = ds > 0.0f ? clampi(lrintf((x[32 * j + l] + dm) / ds), 0, 15) : 0;
    }
    for (int p = 0; p < 4; p++)
        for (int l = 0; l < 32; l++)
            qs[32 * p + l] = (uint8_t)(q[64 * p + l] | (q[64 * p + 32 + l] << 4));
}

void qs_convert_values(uint8_t *dst, const float *x, int64_t n, uint32_t type) {
    switch (type) {
    case QS_GGML_F32: memcpy(dst, x, (size_t)n * 4); break;
    case QS_GGML_F16:
        for (int64_t i = 0; i < n; i++) put16(dst + 2 * i, qs_fp16_from_f32(x[i]));
        break;
    case QS_GGML_BF16:
        for (int64_t i = 0; i < n; i++) put16(dst + 2 * i, qs_bf16_from_f32(x[i]));
        break;
    case QS_GGML_Q8_0:
        for (int64_t b = 0; b < n / 32; b++) q8_0_block(dst + 34 * b, x + 32 * b);
        break;
    case QS_GGML_Q4_0:
        for (int64_t b = 0; b < n / 32; b++) q4_0_block(dst + 18 * b, x + 32 * b);
        break;
    case QS_GGML_Q4_K:
        for (int64_t b = 0; b < n / 256; b++) q4_k_block(dst + 144 * b, x + 256 * b);
        break;
    default: break;
    }
}

/* t converted into a tensor m owns, put in t's place */
static int convert_tensor(qs_model *m, const qs_tensor *t, uint32_t type) {
    size_t rb = qs_dtype_row_bytes(type, t->cols);
    if (rb == 0)
        return qs_error_set(QS_ERR_UNSUPPORTED, "%s: rows of %lld values cannot be stored as %s",
                            t->name, (long long)t->cols, qs_dtype_name(type));
    size_t bytes = rb * (size_t)t->rows;
    uint8_t *data = qs__model_alloc(m, bytes);
    if (!data)
        return qs_error_set(QS_ERR_NOMEM, "out of memory converting %s to %s (%zu bytes)", t->name,
                            qs_dtype_name(type), bytes);
    int64_t block = 256; /* rows per step, each thread its own buffer */
    int64_t nb = (t->rows + block - 1) / block;
    int failed = 0;
#pragma omp parallel
    {
        float *x = malloc((size_t)block * (size_t)t->cols * sizeof *x);
        if (!x) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t b = 0; b < nb; b++) {
            if (!x) continue;
            int64_t r0 = b * block, n = t->rows - r0 < block ? t->rows - r0 : block;
            qs_tensor_rows(x, t, r0, n); /* logical order: the new tensor is not permuted */
            for (int64_t i = 0; i < n; i++)
                qs_convert_values(data + (size_t)(r0 + i) * rb, x + (size_t)i * t->cols, t->cols,
                                  type);
        }
        free(x);
    }
    if (failed) return qs_error_set(QS_ERR_NOMEM, "out of memory converting %s", t->name);
    qs_tensor *c;
    int rc = qs__model_new_tensor(m, &c, t->name, type, data, bytes, t->rows, t->cols, 0);
    if (rc == QS_OK) rc = qs_model_replace_tensor(m, t, c);
    return rc;
}

int qs_model_twin_convert(qs_model **out, const qs_model *base, uint32_t type) {
    *out = NULL;
    if (!qs_convert_supported(type))
        return qs_error_set(QS_ERR_UNSUPPORTED, "qscope cannot store weights as %s",
                            qs_dtype_name(type));
    qs_model *m;
    int rc = qs_model_twin(&m, base);
    if (rc) return rc;
    for (int l = 0; l < m->cfg.n_layers && rc == QS_OK; l++) {
        const qs_layer_weights *w = &m->w.layers[l];
        const qs_tensor *mats[] = {w->wq, w->wk, w->wv, w->wo, w->w_gate, w->w_up, w->w_down};
        for (size_t i = 0; i < sizeof mats / sizeof mats[0] && rc == QS_OK; i++)
            rc = convert_tensor(m, mats[i], type);
    }
    if (rc == QS_OK) rc = convert_tensor(m, m->w.output, type); /* a tied one: the embedding */
    if (rc) {
        qs_model_free(m);
        return rc;
    }
    *out = m;
    return QS_OK;
}
