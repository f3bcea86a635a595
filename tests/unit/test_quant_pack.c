/* Packed quantized tensors (core/model/packed.h, core/quant/quant_pack.c).
 *
 * For every bits × scheme (integer grids and the floating-point formats) × granularity ×
 * scale type × clip, on matrices whose rows are and are not whole bytes of codes:
 *   - the fast packer and the _ref packer write the same bytes;
 *   - expanding the packed tensor (fast and _ref) gives the fake-quantizer's output (the
 *     _ref one) bit for bit, so a packed twin computes what fake-quant computed;
 *   - the bytes are the layout's, and 8·bytes is R·C·bits_per_value up to the rounding of
 *     each part to whole bytes;
 *   - packing block by block of rows writes the same bytes as packing at once.
 * Then the all-zero group (scale 0) and the single-huge-value group, and the refusals: a
 * truncated tensor and parts of the wrong length. Run once per SIMD path (cpu_paths.h). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpu_paths.h"
#include "error.h"
#include "packed.h"
#include "quant.h"
#include "tensor.h"

static uint32_t rng = 88172645u;
static double uniform(void) {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return (rng >> 8) / 16777216.0;
}
static float gauss(void) {
    double u = uniform() + 1e-12, v = uniform();
    return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

/* Packs x (R, C) with sp both ways and checks everything the header promises. */
static void check_one(const float *x, int R, int C, const qs_quant_spec *sp, const char *label) {
    qs_packed_layout p;
    int rc = qs_quant_packed_layout(&p, sp, R, C);
    CHECK_MSG(rc == QS_OK, "%s: %s", label, qs_error_message());
    if (rc) return;
    size_t bytes = qs_packed_bytes(&p), n = (size_t)R * C;
    uint8_t *a = calloc(bytes, 1), *b = calloc(bytes, 1), *c = calloc(bytes, 1);
    float *ya = malloc(n * 4), *yr = malloc(n * 4), *e = malloc(n * 4), *er = malloc(n * 4);
    qs_quant_report ra, rr;
    CHECK(qs_quant_pack_rows(a, &p, 0, ya, x, R, sp, &ra) == QS_OK);
    CHECK(qs_quant_pack_rows_ref(b, &p, 0, yr, x, R, sp, &rr) == QS_OK);
    CHECK_MSG(memcmp(a, b, bytes) == 0, "%s: fast and _ref packers differ", label);
    CHECK_MSG(memcmp(ya, yr, n * 4) == 0, "%s: fake outputs differ", label);
    CHECK(ra.n_clipped == rr.n_clipped && ra.n_scales == p.n_groups);
    qs_packed_rows(e, &p, a, 0, R);
    qs_packed_rows_ref(er, &p, a, 0, R);
    CHECK_MSG(memcmp(e, yr, n * 4) == 0, "%s: expansion differs from fake-quant", label);
    CHECK_MSG(memcmp(er, yr, n * 4) == 0, "%s: _ref expansion differs from fake-quant", label);
    /* a tensor of this layout expands the same through the traits table */
    qs_tensor t;
    CHECK(qs_tensor_init(&t, "w", QS_DTYPE_PACKED, a, bytes, R, C, &p) == QS_OK);
    qs_tensor_rows(e, &t, 1, R - 1);
    CHECK_MSG(memcmp(e, yr + C, (size_t)(R - 1) * C * 4) == 0, "%s: tensor rows", label);
    /* the bytes are what bits_per_value says (each of three parts rounded up to a byte) */
    double bpv = qs_quant_bits_per_value(sp, R, C);
    CHECK_MSG(8.0 * bytes >= bpv * n - 1e-6 && 8.0 * bytes < bpv * n + 24,
              "%s: %zu bytes for %.4f bits/value", label, bytes, bpv);
    /* row by row (per-tensor scales need every row at once) */
    if (sp->gran != QS_QUANT_TENSOR && !p.tensor_scale) {
        for (int r = R - 1; r >= 0; r--) /* any order */
            CHECK(qs_quant_pack_rows(c, &p, r, ya, x + (size_t)r * C, 1, sp, NULL) == QS_OK);
        CHECK_MSG(memcmp(a, c, bytes) == 0, "%s: row-by-row packing differs", label);
    } else {
        CHECK(qs_quant_pack_rows(c, &p, 1, ya, x, 1, sp, NULL) == QS_ERR_ARG);
    }
    if (p.tensor_scale) /* NVFP4: its tensor scale needs every row at once */
        CHECK(qs_quant_pack_rows(c, &p, 1, ya, x, 1, sp, NULL) == QS_ERR_ARG);
    free(a), free(b), free(c), free(ya), free(yr), free(e), free(er);
}

static void test_grid(void) {
    const int shapes[][2] = {{5, 37}, {4, 64}, {3, 8}};
    int cases = 0;
    for (size_t si = 0; si < 3; si++) {
        int R = shapes[si][0], C = shapes[si][1];
        float *x = malloc((size_t)R * C * sizeof *x);
        for (int i = 0; i < R * C; i++) x[i] = gauss() * (i % 7 == 0 ? 3.0f : 1.0f);
        for (int bits = 2; bits <= 8; bits++)
            for (int scheme = 0; scheme < QS_QUANT_SCHEME_COUNT; scheme++)
                for (int g = 0; g < 5; g++)
                    for (int fp32 = 0; fp32 < 2; fp32++)
                        for (int clip = 0; clip < 2; clip++) {
                            const qs_quant_traits *tr = qs_quant_traits_of(scheme);
                            if (tr->fixed_bits && tr->fixed_bits != bits) continue;
                            if (tr->fixed_scales && fp32) continue;
                            qs_quant_spec sp = {0};
                            sp.bits = bits;
                            sp.scheme = scheme;
                            sp.fp32_scales = fp32;
                            sp.clip = clip ? QS_QUANT_MSE : QS_QUANT_ABSMAX;
                            const int groups[] = {0, 0, 8, 7, 1000};
                            sp.gran = g == 0   ? QS_QUANT_TENSOR
                                      : g == 1 ? QS_QUANT_ROW
                                               : QS_QUANT_GROUP;
                            sp.group = groups[g];
                            if (qs_quant_spec_validate(&sp) != QS_OK) continue; /* MX: g32 */
                            char label[96];
                            snprintf(label, sizeof label, "%dx%d W%d %s g%d %s %s", R, C, bits,
                                     qs_quant_scheme_name(scheme), sp.group,
                                     fp32 ? "fp32" : "fp16", clip ? "mse" : "absmax");
                            check_one(x, R, C, &sp, label);
                            cases++;
                        }
        free(x);
    }
    printf("%d configurations packed\n", cases);
    CHECK(cases > 840); /* the integer grids' 840 and the floating-point formats */
}

static void test_edges(void) {
    enum { R = 2, C = 32 };
    float x[R * C] = {0}; /* row 0 all zero: scale 0 */
    x[C + 5] = 1e4f;      /* row 1: one huge value among tiny ones */
    for (int c = 0; c < C; c++)
        if (c != 5) x[C + c] = 1e-3f * (float)(c - 16);
    for (int scheme = 0; scheme < 2; scheme++)
        for (int bits = 2; bits <= 8; bits += 2) {
            qs_quant_spec sp = {.bits = bits, .scheme = scheme, .gran = QS_QUANT_ROW};
            char label[64];
            snprintf(label, sizeof label, "edges W%d %s", bits, scheme ? "affine" : "symmetric");
            check_one(x, R, C, &sp, label);
            qs_packed_layout p;
            qs_quant_packed_layout(&p, &sp, R, C);
            uint8_t *d = calloc(qs_packed_bytes(&p), 1);
            float y[R * C];
            qs_quant_pack_rows(d, &p, 0, NULL, x, R, &sp, NULL);
            qs_packed_rows(y, &p, d, 0, R);
            CHECK(qs_packed_scale(&p, d, 0) == 0.0f);
            int zero = 1;
            for (int c = 0; c < C; c++) zero &= y[c] == 0.0f && !signbit(y[c]);
            CHECK_MSG(zero, "%s: the all-zero row must expand to +0", label);
            CHECK(fabsf(y[C + 5] - 1e4f) <= 1e4f * 0.02f);
            free(d);
        }
}

static void test_refusals(void) {
    qs_packed_layout p;
    CHECK(qs_packed_layout_init(&p, 4, 64, 4, 1, QS_PACKED_GROUP, 32, 0) == QS_OK);
    CHECK(p.n_groups == 8 && p.codes_bytes == 128 && p.scales_bytes == 16 && p.zeros_bytes == 4);
    CHECK(qs_packed_check(&p, 148, "w") == QS_OK);
    CHECK(qs_packed_check(&p, 147, "blk.0.attn_q") == QS_ERR_FORMAT);
    CHECK(strstr(qs_error_message(), "blk.0.attn_q") && strstr(qs_error_message(), "truncated") &&
          strstr(qs_error_message(), "147") && strstr(qs_error_message(), "148"));
    qs_tensor t;
    uint8_t buf[148] = {0};
    CHECK(qs_tensor_init(&t, "w", QS_DTYPE_PACKED, buf, 100, 4, 64, &p) == QS_ERR_FORMAT);
    uint8_t codes[128] = {0}, zeros[4] = {0};
    uint16_t scales[8] = {0};
    CHECK(qs_packed_assemble(buf, &p, codes, 128, scales, 8, zeros, 4) == QS_OK);
    CHECK(qs_packed_assemble(buf, &p, codes, 128, scales, 7, zeros, 4) == QS_ERR_FORMAT);
    CHECK(strstr(qs_error_message(), "7 scales") && strstr(qs_error_message(), "8 scale groups"));
    CHECK(qs_packed_assemble(buf, &p, codes, 127, scales, 8, zeros, 4) == QS_ERR_FORMAT);
    CHECK(strstr(qs_error_message(), "127 bytes of codes"));
    CHECK(qs_packed_assemble(buf, &p, codes, 128, scales, 8, zeros, 3) == QS_ERR_FORMAT);
    CHECK(strstr(qs_error_message(), "zero-points"));
    CHECK(qs_packed_layout_init(&p, 4, 64, 9, 0, QS_PACKED_ROW, 0, 0) == QS_ERR_ARG);
    qs_quant_spec col = {.bits = 4, .gran = QS_QUANT_COL};
    CHECK(qs_quant_packed_layout(&p, &col, 4, 64) == QS_ERR_ARG);
    CHECK(strstr(qs_error_message(), "col"));
    qs_quant_spec none = {.bits = QS_QUANT_BITS_NONE};
    CHECK(qs_quant_packed_layout(&p, &none, 4, 64) == QS_ERR_ARG);
    /* the label that reports print */
    char label[32];
    qs_packed_layout_init(&p, 4, 256, 4, 0, QS_PACKED_GROUP, 128, 0);
    qs_packed_label(&p, label, sizeof label);
    CHECK(!strcmp(label, "W4 g128"));
    CHECK(fabs(qs_packed_bits_per_value(&p) - 4.125) < 1e-12);
}

static int run_checks(void) {
    test_grid();
    test_edges();
    test_refusals();
    return check_summary("test_quant_pack");
}

int main(int argc, char **argv) {
    (void)argc;
    return run_per_cpu_path(argv, run_checks, "test_quant_pack"); /* every expansion path */
}
