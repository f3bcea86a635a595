/* Fuzz target: GGUF header, metadata and tensor infos (qs_gguf_parse, the code qs_gguf_open
 * runs on the mapped file), the dequantization of every tensor the file holds, the embedded
 * vocabulary with a fixed text encoded through it, and the whole loader from memory
 * (qs__load_gguf_buffer: config, weights, tokenizer). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fuzz_common.h"
#include "gguf.h"
#include "dtype.h"
#include "gguf_dequant.h"
#include "model.h"
#include "tokenizer.h"

static const char gguf_text[] =
    "Once upon a time, Lily saw a h\xC3\xA9llo \xE2\x96\x81 <s> </s> <|endoftext|> 12345\n\t end";

int qs_fuzz_gguf(const uint8_t *data, size_t size) {
    qs_gguf *g = NULL;
    int rc = qs_gguf_parse(&g, data, size, "fuzz.gguf");
    if (rc != QS_OK) {
        if (g || qs_error_message()[0] == '\0') abort();
        return 0;
    }
    /* every string, array and tensor the parser reports lies inside the buffer */
    const uint8_t *end = data + size;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const qs_gguf_value *v = &g->kv[i].v;
        if (v->type == QS_GGUF_STRING &&
            (v->str.len > size || (v->str.len && ((const uint8_t *)v->str.ptr < data ||
                                                  (const uint8_t *)v->str.ptr + v->str.len > end))))
            abort();
        if (v->type == QS_GGUF_ARRAY && v->arr_bytes &&
            (v->arr_data < data || v->arr_bytes > size || v->arr_data + v->arr_bytes > end))
            abort();
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const qs_gguf_tensor *t = &g->tensors[i];
        if (t->n_bytes > size || t->data < data || t->data + t->n_bytes > end) abort();
        const qs_ggml_type_traits *tr = qs_ggml_type_traits_get(t->type);
        if (!tr || !tr->dequant || t->n_elements <= 0 || t->n_elements > (1 << 22)) continue;
        float *y = malloc((size_t)t->n_elements * sizeof *y);
        if (!y) continue;
        if (qs_gguf_dequant(y, t->data, t->type, t->n_elements, t->name) == QS_OK) {
            volatile float sink = y[0] + y[t->n_elements - 1];
            (void)sink;
        } else if (qs_error_message()[0] == '\0') {
            abort();
        }
        free(y);
    }
    qs_tokenizer *tok = NULL;
    rc = qs__gguf_tokenizer_new(&tok, g);
    if (rc == QS_OK && tok)
        qs_fuzz_exercise_tokenizer(tok, gguf_text);
    else if (rc != QS_OK && qs_error_message()[0] == '\0')
        abort();
    qs_tokenizer_free(tok);
    qs_gguf_free(g);

    qs_model *m = NULL;
    rc = qs__load_gguf_buffer(&m, data, size, "fuzz.gguf");
    if (rc != QS_OK) {
        if (m || qs_error_message()[0] == '\0') abort();
        return 1; /* the container parsed; the model did not */
    }
    if (qs_config_validate(&m->cfg, "fuzz.gguf") != QS_OK) abort();
    if (m->tok) qs_fuzz_exercise_tokenizer(m->tok, gguf_text);
    qs_model_free(m);
    return 1;
}

QS_FUZZ_ENTRY(qs_fuzz_gguf)
