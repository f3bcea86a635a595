/* Fuzz target: llama2.c checkpoint header and layout (legacy and version-1 formats), through
 * qs__load_llama2c_buffer, the code qs__load_llama2c runs on the mapped file. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "error.h"
#include "fuzz_common.h"
#include "load_llama2c.h"
#include "model.h"

int qs_fuzz_llama2c(const uint8_t *data, size_t size) {
    qs_model *m = NULL;
    int rc = qs__load_llama2c_buffer(&m, data, size, "fuzz.bin");
    if (rc != QS_OK) {
        if (m || qs_error_message()[0] == '\0') abort(); /* failures leave nothing, say why */
        return 0;
    }
    /* every tensor the loader reports must lie inside the buffer; touch both ends */
    volatile float sink = 0.0f;
    for (int i = 0; i < m->n_tensors; i++) {
        const qs_tensor *t = m->tensors[i];
        const uint8_t *p = t->data;
        size_t bytes = (size_t)t->rows * (size_t)t->cols * sizeof(float);
        if (t->rows <= 0 || t->cols <= 0 || p < data || bytes > size || t->n_bytes != bytes ||
            (size_t)(p - data) > size - bytes)
            abort();
        sink += p[0] + p[bytes - 1];
        if (t->rows == 1) sink += t->f32[0] + t->f32[t->cols - 1]; /* vectors: f32 view */
    }
    (void)sink;
    qs_model_free(m);
    return 1;
}

QS_FUZZ_ENTRY(qs_fuzz_llama2c)
