/* safetensors: a strict reader for Hugging Face's tensor container.
 *
 * Layout: an 8-byte little-endian header length N, N bytes of JSON (an object mapping each
 * tensor name to {dtype, shape, data_offsets: [begin, end]}, plus an optional
 * "__metadata__" object of strings), then the data section; offsets are relative to it.
 *
 * Everything is checked before anything is used: N fits the file, the JSON is well formed
 * and holds nothing else, every dtype is F32, F16 or BF16 (others are QS_ERR_UNSUPPORTED),
 * shape product × dtype size equals end − begin (overflow-checked), ranges lie inside the
 * data section, do not overlap and cover it exactly (a gap is an error). Parsing works on a
 * memory buffer so the fuzz target and the tests can feed it bytes directly. */
#ifndef QS_SAFETENSORS_H
#define QS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

enum qs_st_dtype { QS_ST_F32 = 0, QS_ST_F16 = 1, QS_ST_BF16 = 2 };

#define QS_ST_MAX_DIMS 8

typedef struct qs_st_tensor {
    char *name; /* owned by the qs_safetensors */
    int dtype;  /* enum qs_st_dtype */
    int n_dims;
    int64_t shape[QS_ST_MAX_DIMS];
    int64_t n_elems;
    uint64_t begin, end; /* byte range inside the data section */
} qs_st_tensor;

typedef struct qs_safetensors {
    qs_st_tensor *tensors; /* [n_tensors], in header order */
    int n_tensors;
    int *by_name;              /* [n_tensors] indices into tensors, sorted by name (for find) */
    const unsigned char *data; /* start of the data section inside the parsed buffer */
    uint64_t data_size;
    char path[4096]; /* for messages */
} qs_safetensors;

/* Parses and validates buf[0..size). On success *st holds the tensor table; st->data points
 * into buf, which must outlive it. On failure *st is left empty and an error is set
 * (QS_ERR_FORMAT, QS_ERR_UNSUPPORTED, QS_ERR_NOMEM). path names the file in messages. */
int qs_safetensors_parse(qs_safetensors *st, const unsigned char *buf, size_t size,
                         const char *path);
/* Frees the table (not the buffer). Safe on a zeroed or already freed struct. */
void qs_safetensors_free(qs_safetensors *st);
/* Looks a tensor up by exact name; NULL if absent. */
const qs_st_tensor *qs_safetensors_find(const qs_safetensors *st, const char *name);

/* "F32", "F16", "BF16". */
const char *qs_st_dtype_name(int dtype);
/* Converts tensor t to float32: out has t->n_elems floats. */
void qs_safetensors_to_f32(float *out, const qs_safetensors *st, const qs_st_tensor *t);
/* A direct float view when t is F32 and 4-byte aligned in memory, else NULL. */
float *qs_safetensors_f32_view(const qs_safetensors *st, const qs_st_tensor *t);

#endif
