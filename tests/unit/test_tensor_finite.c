/* qs_tensor_check_finite (core/formats/tensor_finite.h): NaN and Inf in stored tensor bytes, per
 * storage type, with the first bad element named whatever the thread count. */
#include "check.h"
#include "error.h"
#include "tensor_finite.h"
#include "fp16.h"
#include "gguf_dequant.h"

#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int msg_has(const char *s) { return strstr(qs_error_message(), s) != NULL; }

int main(void) {
    enum { N = 300000 }; /* several parallel chunks */
    float *f = calloc(N, sizeof *f);
    for (int i = 0; i < N; i++) f[i] = (float)(i % 17) - 8.0f;
    CHECK(qs_tensor_check_finite(f, QS_GGML_F32, N, "m.gguf", "w") == QS_OK);
    f[200001] = NAN;
    f[70000] = -INFINITY; /* the earlier one is reported, on any number of threads */
    for (int t = 1; t <= 4; t++) {
        omp_set_num_threads(t);
        CHECK_MSG(qs_tensor_check_finite(f, QS_GGML_F32, N, "m.gguf", "blk.3.attn_q.weight") ==
                          QS_ERR_NUMERIC &&
                      msg_has("m.gguf: tensor 'blk.3.attn_q.weight' holds -Inf at element 70000 "
                              "(of 300000, stored F32)"),
                  "%d threads: %s", t, qs_error_message());
    }
    /* unaligned data: the loaders hand over bytes at any offset */
    unsigned char *u = malloc(4 * 8 + 1);
    float v[8] = {1, 2, 3, 4, 5, 6, NAN, 8};
    memcpy(u + 1, v, sizeof v);
    CHECK(qs_tensor_check_finite(u + 1, QS_GGML_F32, 8, "f", "t") == QS_ERR_NUMERIC &&
          msg_has("holds NaN at element 6 (of 8"));
    /* F16 and BF16: their own exponent fields (a pattern that is finite in one is not in the other)
     */
    uint16_t h[4] = {qs_fp16_from_f32(1.0f), 0x7C00u, 0, 0};
    CHECK(qs_tensor_check_finite(h, QS_GGML_F16, 4, "f", "t") == QS_ERR_NUMERIC &&
          msg_has("holds +Inf at element 1 (of 4, stored F16)"));
    CHECK(qs_tensor_check_finite(h, QS_GGML_BF16, 4, "f", "t") ==
          QS_OK); /* 0x7C00 is 2^121 in bf16 */
    uint16_t b[3] = {0x3F80u, 0x3F80u, 0xFFC0u};
    CHECK(qs_tensor_check_finite(b, QS_GGML_BF16, 3, "f", "t") == QS_ERR_NUMERIC &&
          msg_has("holds NaN at element 2 (of 3, stored BF16)"));
    /* F64 beyond float's range becomes Inf when converted: refused too */
    double d[3] = {1.0, 1e300, 2.0};
    CHECK(qs_tensor_check_finite(d, QS_GGML_F64, 3, "f", "t") == QS_ERR_NUMERIC &&
          msg_has("holds 1e+300, beyond float's range at element 1"));
    /* Q8_0: a block's fp16 scale */
    unsigned char q[34 * 3];
    for (int k = 0; k < 3; k++) {
        uint16_t s = qs_fp16_from_f32(0.5f);
        memcpy(q + 34 * k, &s, 2);
        for (int j = 0; j < 32; j++) q[34 * k + 2 + j] = (unsigned char)(j - 16);
    }
    CHECK(qs_tensor_check_finite(q, QS_GGML_Q8_0, 96, "f", "t") == QS_OK);
    uint16_t inf = 0x7C00u;
    memcpy(q + 34 * 1, &inf, 2);
    CHECK_MSG(qs_tensor_check_finite(q, QS_GGML_Q8_0, 96, "f", "t") == QS_ERR_NUMERIC &&
                  msg_has("decodes to") && msg_has("(block 1 of 3, stored Q8_0)"),
              "%s", qs_error_message());
    free(u);
    free(f);
    return check_summary("test_tensor_finite");
}
