/* Fuzz target: dequantization of every ggml tensor type (qs_gguf_dequant, what the GGUF
 * loader runs on each tensor's bytes). Input: one byte choosing the type id (any value,
 * so unknown and removed ids are exercised too), then raw blocks; every whole block is
 * dequantized and every output value read. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "error.h"
#include "fuzz_common.h"
#include "dtype.h"
#include "gguf_dequant.h"

int qs_fuzz_gguf_dequant(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint32_t type = data[0];
    const uint8_t *x = data + 1;
    size_t n_bytes = size - 1;
    const qs_ggml_type_traits *tr = qs_ggml_type_traits_get(type);
    if (!tr) {
        if (qs_ggml_type_name(type) == NULL) abort();
        return 0;
    }
    if (tr->block_size <= 0 || tr->type_size <= 0) abort();
    int64_t n_blocks = (int64_t)(n_bytes / (size_t)tr->type_size);
    if (n_blocks == 0) return 0;
    int64_t n = n_blocks * tr->block_size;
    float *y = malloc((size_t)n * sizeof *y);
    if (!y) return 0;
    /* copy the blocks into an exact-size buffer so ASan sees any read past the last one */
    uint8_t *blocks = malloc((size_t)n_blocks * (size_t)tr->type_size);
    if (!blocks) {
        free(y);
        return 0;
    }
    for (size_t i = 0; i < (size_t)n_blocks * (size_t)tr->type_size; i++) blocks[i] = x[i];
    int rc = qs_gguf_dequant(y, blocks, type, n, "fuzz");
    if (rc == QS_OK) {
        volatile float sink = 0.0f;
        for (int64_t i = 0; i < n; i++) sink += y[i];
        (void)sink;
    } else if (tr->dequant || qs_error_message()[0] == '\0') {
        abort(); /* a type with a dequantizer must accept whole blocks */
    }
    free(blocks);
    free(y);
    return rc == QS_OK;
}

QS_FUZZ_ENTRY(qs_fuzz_gguf_dequant)
