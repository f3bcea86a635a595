/* Writes a model as a llama2.c checkpoint in the legacy format that core/load_llama2c.c
 * reads (and llama2.c's run.c): seven int32 (dim, hidden_dim, n_layers, n_heads,
 * n_kv_heads, vocab_size — negative when the classifier is not tied —, seq_len), then the
 * float32 arrays token_embedding (V, D), rms_att (L, D), wq (L, D, D), wk (L, K, D),
 * wv (L, K, D), wo (L, D, D), rms_ffn (L, D), w1 (L, H, D), w2 (L, D, H), w3 (L, H, D),
 * rms_final (D), freq_cis_real and freq_cis_imag (S, head_dim/2: cos and sin of the RoPE
 * angles, which readers ignore), and wcls (V, D) when not tied. Tensors of any stored type
 * are expanded to f32 a block of rows at a time on their way to the file, so saving a
 * mapped model costs one block of memory, not a copy.
 *
 * Only models that format can describe are written: n_heads·head_dim = dim, no q/k/v
 * biases, interleaved RoPE with theta 10000 and no scaling, RMSNorm eps 1e-5. Anything
 * else is QS_ERR_UNSUPPORTED, naming the property.
 *
 * The file appears whole or not at all: the data go to a temporary file in the target's
 * directory ("<path>.tmpXXXXXX"), which is flushed, synced and renamed over path at the
 * end; on any error it is removed and path is untouched. QS_ERR_IO names the path and the
 * reason (a missing directory, no permission, a full disk). */
#ifndef QS_SAVE_LLAMA2C_H
#define QS_SAVE_LLAMA2C_H

#include "model.h"

int qs_llama2c_save(const qs_model *m, const char *path);

#endif
