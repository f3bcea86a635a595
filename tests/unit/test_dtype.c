/* Storage types (core/model/dtype.h, tensor.h): every fast expansion gives the bits of its
 * scalar _ref twin, on every SIMD path this CPU has.
 *
 * The test runs itself once per path (cpu_paths.h), so each path's kernels are checked
 * against the same scalar references:
 *   - f16 and bf16: all 65536 bit patterns (f16 signalling NaNs excepted: F16C quiets them);
 *   - every expandable block type: random blocks with finite scales, through the traits
 *     table's fast dequantizer, the tensor row expansion, and qs_gguf_dequant;
 *   - row-permuted (Hugging Face q/k) tensors: logical row l of head h is stored row
 *     h·hd + (l % 2)·hd/2 + l/2. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpu_paths.h"
#include "dtype.h"
#include "error.h"
#include "fp16.h"
#include "gguf_dequant.h"
#include "tensor.h"

static uint32_t rng = 2463534242u;
static uint32_t rnd32(void) {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* a finite fp16 of moderate size, either sign, subnormals and zero included */
static uint16_t finite_half(void) {
    uint16_t h = (uint16_t)rnd32();
    if (((h >> 10) & 31) == 31) h &= 0xbfff; /* exponent 31 -> 15: finite */
    return h;
}

/* Where each block type keeps its fp16 scales (byte offsets), so random blocks get finite
 * ones; Q8_K keeps an f32 scale at 0. */
static void fix_scales(uint32_t type, uint8_t *b) {
    static const struct {
        uint32_t type;
        int off[2], n;
    } at[] = {
        {QS_GGML_Q4_0, {0}, 1},      {QS_GGML_Q4_1, {0, 2}, 2}, {QS_GGML_Q5_0, {0}, 1},
        {QS_GGML_Q5_1, {0, 2}, 2},   {QS_GGML_Q8_0, {0}, 1},    {QS_GGML_Q8_1, {0, 2}, 2},
        {QS_GGML_Q2_K, {80, 82}, 2}, {QS_GGML_Q3_K, {108}, 1},  {QS_GGML_Q4_K, {0, 2}, 2},
        {QS_GGML_Q5_K, {0, 2}, 2},   {QS_GGML_Q6_K, {208}, 1},  {QS_GGML_IQ4_NL, {0}, 1},
        {QS_GGML_IQ4_XS, {0}, 1},
    };
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++)
        if (at[i].type == type)
            for (int k = 0; k < at[i].n; k++) put16(b + at[i].off[k], finite_half());
    if (type == QS_GGML_Q8_K) {
        float d = (float)(rnd32() % 1000) / 997.0f;
        memcpy(b, &d, 4);
    }
}

static void test_halves(void) {
    uint8_t x[2 * 65536];
    for (uint32_t h = 0; h < 65536; h++) put16(x + 2 * h, (uint16_t)h);
    float *a = malloc(65536 * sizeof *a), *r = malloc(65536 * sizeof *r);
    qs_dequant_bf16(a, x, 65536);
    qs_dequant_bf16_ref(r, x, 65536);
    CHECK_MSG(memcmp(a, r, 65536 * sizeof *a) == 0, "bf16: fast and _ref differ");
    qs_dequant_f16(a, x, 65536);
    qs_dequant_f16_ref(r, x, 65536);
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        int snan = ((h >> 10) & 31) == 31 && (h & 0x3ff) && !(h & 0x200);
        if (snan) continue;
        if (memcmp(&a[h], &r[h], 4) != 0) bad++;
    }
    CHECK_MSG(bad == 0, "f16: %d patterns differ between fast and _ref", bad);
    free(a);
    free(r);
}

static void test_blocks(void) {
    int checked = 0;
    for (uint32_t type = 0; type < QS_GGML_TYPE_COUNT; type++) {
        const qs_dtype_traits *tr = qs_dtype_traits_get(type);
        if (!tr || !tr->dequant) continue;
        CHECK(tr->dequant_fast && tr->rows && tr->rows_ref);
        /* a (R, C) tensor of whole blocks: C = 2 blocks, R = 37 */
        const int64_t R = 37, C = 2 * tr->block_size;
        size_t row = qs_dtype_row_bytes(type, C), n = (size_t)R * row;
        CHECK(row == (size_t)(2 * tr->type_size));
        uint8_t *x = malloc(n);
        for (size_t i = 0; i < n; i++) x[i] = (uint8_t)rnd32();
        if (tr->block_size > 1)
            for (size_t b = 0; b < n / (size_t)tr->type_size; b++)
                fix_scales(type, x + b * (size_t)tr->type_size);
        else if (type == QS_GGML_F16 || type == QS_GGML_BF16)
            for (size_t i = 0; i < n; i += 2) put16(x + i, finite_half());
        else if (type == QS_GGML_F32 || type == QS_GGML_F64)
            for (size_t i = 0; i < n; i++) x[i] = (uint8_t)(i % 4 == 3 ? rnd32() & 0x3f : x[i]);
        float *a = malloc((size_t)(R * C) * sizeof *a), *r = malloc((size_t)(R * C) * sizeof *r);
        float *g = malloc((size_t)(R * C) * sizeof *g);
        int64_t nb = R * C / tr->block_size;
        tr->dequant_fast(a, x, nb);
        tr->dequant(r, x, nb);
        CHECK_MSG(memcmp(a, r, (size_t)(R * C) * sizeof *a) == 0, "%s: fast dequant differs",
                  tr->name);
        CHECK(qs_gguf_dequant(g, x, type, R * C, tr->name) == QS_OK);
        CHECK_MSG(memcmp(g, r, (size_t)(R * C) * sizeof *g) == 0, "%s: qs_gguf_dequant differs",
                  tr->name);
        /* through a tensor, rows 5..17 */
        qs_tensor t;
        CHECK_MSG(qs_tensor_init(&t, "w", type, x, n, R, C, NULL) == QS_OK, "%s: %s", tr->name,
                  qs_error_message());
        CHECK(!strcmp(t.stored_type, tr->name));
        CHECK((t.f32 != NULL) == (type == QS_GGML_F32 && ((uintptr_t)x & 3) == 0));
        qs_tensor_rows(a, &t, 5, 13);
        CHECK_MSG(memcmp(a, r + 5 * C, (size_t)(13 * C) * sizeof *a) == 0, "%s: rows", tr->name);
        qs_tensor_rows_ref(a, &t, 5, 13);
        CHECK_MSG(memcmp(a, r + 5 * C, (size_t)(13 * C) * sizeof *a) == 0, "%s: rows_ref",
                  tr->name);
        /* wrong byte counts are refused with the numbers */
        CHECK(qs_tensor_init(&t, "w", type, x, n - 1, R, C, NULL) == QS_ERR_FORMAT);
        CHECK(strstr(qs_error_message(), "bytes") != NULL);
        free(x), free(a), free(r), free(g);
        checked++;
    }
    CHECK(checked >= 20);
    /* types qscope can size but not expand are refused by name */
    qs_tensor t;
    uint8_t z[66] = {0};
    CHECK(qs_tensor_init(&t, "blk.0.attn_q", QS_GGML_IQ2_XXS, z, 66, 1, 256, NULL) ==
          QS_ERR_UNSUPPORTED);
    CHECK(strstr(qs_error_message(), "IQ2_XXS") && strstr(qs_error_message(), "blk.0.attn_q"));
    CHECK(!qs_dtype_expandable(QS_GGML_IQ2_XXS) && qs_dtype_expandable(QS_DTYPE_PACKED));
    CHECK(!strcmp(qs_dtype_name(QS_DTYPE_PACKED), "PACKED") && !strcmp(qs_dtype_name(63), "?"));
    /* a row that is not whole blocks */
    CHECK(qs_tensor_init(&t, "w", QS_GGML_Q8_0, z, 34, 1, 33, NULL) == QS_ERR_FORMAT);
}

/* Hugging Face q/k order: expanded rows come back interleaved, and a row block that starts
 * mid-head works. */
static void test_permuted(void) {
    const int hd = 8, heads = 3, C = 8, R = hd * heads; /* values < 256: exact in bf16 */
    uint16_t *x = malloc((size_t)R * C * sizeof *x);
    for (int i = 0; i < R * C; i++) x[i] = qs_bf16_from_f32((float)i);
    qs_tensor t;
    CHECK(qs_tensor_init(&t, "q", QS_GGML_BF16, x, (size_t)R * C * 2, R, C, NULL) == QS_OK);
    t.perm_head_dim = hd;
    float *y = malloc((size_t)R * C * sizeof *y);
    qs_tensor_rows(y, &t, 0, R);
    int bad = 0;
    for (int l = 0; l < R; l++) {
        int h = l / hd, j = l % hd, stored = h * hd + (j % 2) * (hd / 2) + j / 2;
        for (int c = 0; c < C; c++) bad += y[l * C + c] != (float)(stored * C + c);
    }
    CHECK_MSG(bad == 0, "%d permuted values wrong", bad);
    float *z = malloc((size_t)R * C * sizeof *z);
    qs_tensor_rows_ref(z, &t, 3, 10);
    CHECK(memcmp(z, y + 3 * C, (size_t)10 * C * sizeof *z) == 0);
    const float *view;
    float *owned;
    CHECK(qs_tensor_f32(&t, &view, &owned) == QS_OK && owned && view == owned);
    CHECK(owned && memcmp(owned, y, (size_t)R * C * sizeof *y) == 0);
    free(owned), free(x), free(y), free(z);
}

static int run_checks(void) {
    test_halves();
    test_blocks();
    test_permuted();
    return check_summary("test_dtype");
}

int main(int argc, char **argv) {
    (void)argc;
    return run_per_cpu_path(argv, run_checks, "test_dtype");
}
