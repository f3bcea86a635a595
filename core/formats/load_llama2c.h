/* llama2.c checkpoints from memory: the loader's header and layout checks on a buffer. */
#ifndef QS_LOAD_LLAMA2C_H
#define QS_LOAD_LLAMA2C_H

#include <stddef.h>

#include "model.h"

/* Validates buf[0..size) as a llama2.c checkpoint (legacy or version 1) with the same code
 * as qs__load_llama2c and builds a model whose weights point into buf: buf must outlive
 * *out. path only names the file in messages. Used by the fuzz target and tests. */
int qs__load_llama2c_buffer(qs_model **out, const unsigned char *buf, size_t size,
                            const char *path);

#endif
