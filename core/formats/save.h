/* Writing checkpoints in every format qscope reads: llama2.c (.bin, f32), GGUF (F32, F16,
 * BF16, Q8_0, Q4_0) and Hugging Face directories (config.json + safetensors in F32, F16 or
 * BF16, sharded like the hub's). A writer never holds a model: each tensor's values come
 * from a callback a block of rows at a time (from a model's tensors, or `qscope synth`'s
 * random numbers), are converted to the tensor's storage type and written, so memory holds
 * one block whatever the checkpoint's size. Files appear whole or not at all (fileio.h's
 * qs_file_out): a failed write leaves nothing.
 *
 * The plan of a checkpoint is its tensor list in file order, each with the name the format
 * gives it, its shape, storage type and role; writers and callbacks walk the same list. */
#ifndef QS_SAVE_H
#define QS_SAVE_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

enum qs_save_format { QS_SAVE_LLAMA2C = 0, QS_SAVE_GGUF, QS_SAVE_HF };

/* What a tensor is, for callbacks that make values (synth). */
enum qs_save_role { QS_SAVE_EMBD = 0, QS_SAVE_NORM, QS_SAVE_MATRIX, QS_SAVE_BIAS };

typedef struct qs_save_tensor {
    char name[96];      /* as the format spells it: "blk.3.attn_q.weight", "model.norm.weight" */
    char qs_name[64];   /* qscope's name: "blk.3.attn_q" (model.h's table) */
    int64_t rows, cols; /* vectors: rows = 1 */
    uint32_t type;      /* storage type (dtype.h) */
    int role;           /* enum qs_save_role */
} qs_save_tensor;

/* Fills out (n, cols) with rows [r0, r0 + n) of tensor `index` of the plan as f32. A non-OK
 * return stops the writer, which returns it (set the message first). */
typedef int (*qs_save_rows_fn)(void *user, const qs_save_tensor *t, int index, int64_t r0,
                               int64_t n, float *out);

/* The tensors of a model of config c in `format`'s file order: matrices (and the embedding
 * and classifier) stored as mat_type, vectors as vec_type. llama2.c holds only F32; GGUF
 * F32, F16, BF16, Q8_0, Q4_0 (block types need cols a multiple of 32); Hugging Face F32,
 * F16, BF16. *out is malloc'd. QS_ERR_UNSUPPORTED names what the format cannot hold
 * (llama2.c: biases, theta other than 10000, ...; GGUF: q/k/v biases, which llama-arch files
 * cannot carry). */
int qs_save_plan(qs_save_tensor **out, int *n, const qs_config *c, int format, uint32_t mat_type,
                 uint32_t vec_type);

/* Writers: plan t[0..n) with values from fn. The llama2.c file gets the legacy header and
 * RoPE tables; the GGUF file llama.* metadata (no tokenizer); the Hugging Face directory a
 * config.json (architecture from c->arch) and model.safetensors, or shards of at most
 * shard_bytes each (0: one file) named model-0000i-of-0000n.safetensors with
 * model.safetensors.index.json. dir is created if missing and must not already hold a
 * config.json. Errors: QS_ERR_IO naming the file, QS_ERR_UNSUPPORTED, the callback's. */
int qs_llama2c_write(const char *path, const qs_config *c, const qs_save_tensor *t, int n,
                     qs_save_rows_fn fn, void *user);
int qs_gguf_write(const char *path, const qs_config *c, const qs_save_tensor *t, int n,
                  qs_save_rows_fn fn, void *user);
int qs_hf_write(const char *dir, const qs_config *c, const qs_save_tensor *t, int n,
                qs_save_rows_fn fn, void *user, uint64_t shard_bytes);

/* Saves model m in a format, its matrices as mat_type (vectors as F32 in GGUF, as mat_type
 * in HF), reading every tensor from its stored bytes a block of rows at a time. */
int qs_model_save(const qs_model *m, const char *path, int format, uint32_t mat_type,
                  uint64_t shard_bytes);

/* "llama2c", "gguf", "hf" -> enum (or -1); the storage types the writers accept by name
 * ("f32", "f16", "bf16", "q8_0", "q4_0"; case-insensitive) -> type id (or -1). */
int qs_save_format_parse(const char *name);
int qs_save_dtype_parse(const char *name);

/* Converts n values of x to `type` at dst (n a multiple of the type's block size). */
void qs_save_convert(uint8_t *dst, const float *x, int64_t n, uint32_t type);

/* Shared by the writers (not public API): the bytes tensor t takes; writing tensor `index`
 * of a plan to f a block of rows at a time. */
#include <stdio.h>
size_t qs__save_tensor_bytes(const qs_save_tensor *t);
int qs__save_put(FILE *f, const char *path, const qs_save_tensor *t, int index, qs_save_rows_fn fn,
                 void *user);

#endif
