/* Fuzz target: the safetensors header (qs_safetensors_parse, the code the HF loader runs on
 * the mapped file), then every tensor converted to f32 as the loader does. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "error.h"
#include "fuzz_common.h"
#include "safetensors.h"

int qs_fuzz_safetensors(const uint8_t *data, size_t size) {
    qs_safetensors st;
    int rc = qs_safetensors_parse(&st, data, size, "fuzz.safetensors");
    if (rc != QS_OK) {
        if (st.tensors || st.n_tensors || qs_error_message()[0] == '\0') abort();
        return 0;
    }
    for (int i = 0; i < st.n_tensors; i++) {
        const qs_st_tensor *t = &st.tensors[i];
        /* the parser promises: range inside the data section, bytes = elements x dtype size */
        if (t->end < t->begin || t->end > st.data_size || t->n_elems < 0) abort();
        if (qs_safetensors_find(&st, t->name) == NULL) abort();
        if (t->n_elems == 0) continue;
        float *f = malloc((size_t)t->n_elems * sizeof *f);
        if (!f) continue;
        qs_safetensors_to_f32(f, &st, t);
        volatile float sink = f[0] + f[t->n_elems - 1];
        (void)sink;
        free(f);
        (void)qs_safetensors_f32_view(&st, t);
    }
    qs_safetensors_free(&st);
    return 1;
}

QS_FUZZ_ENTRY(qs_fuzz_safetensors)
