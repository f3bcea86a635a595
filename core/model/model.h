/* A LLaMA-family model in memory: its config, its f32 weights, a table of named tensors.
 *
 * Every loader (llama2.c .bin, GGUF, Hugging Face directory) fills the same struct, so the
 * forward pass, capture sites and weight quantization never know which file a model came
 * from. Weights are float32, row-major, (out, in): y = x · Wᵀ. Tensor names follow GGUF
 * (llama.cpp) naming everywhere: token_embd, output_norm, output, blk.N.attn_norm,
 * blk.N.attn_q|k|v|output, blk.N.ffn_norm, blk.N.ffn_gate|up|down.
 *
 * Letters in shape comments: V vocab, D dim, H hidden (ffn), L layers, Q n_heads·head_dim,
 * K n_kv_heads·head_dim, S seq_len.
 */
#ifndef QS_MODEL_H
#define QS_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

enum qs_rope_layout {
    QS_ROPE_INTERLEAVED = 0, /* llama2.c / GGUF: rotate pairs (2i, 2i+1) */
    QS_ROPE_HALF = 1,        /* Hugging Face rotate_half: pairs (i, i + head_dim/2) */
};

typedef struct qs_config {
    char arch[32];  /* "llama", "mistral", "qwen2" */
    int dim;        /* D */
    int hidden_dim; /* H */
    int n_layers;   /* L */
    int n_heads;
    int n_kv_heads;
    int head_dim;        /* usually dim / n_heads */
    int vocab_size;      /* V */
    int seq_len;         /* S: the longest context the model was trained for */
    float rope_theta;    /* 10000 unless the file says otherwise */
    float norm_eps;      /* RMSNorm epsilon */
    int rope_layout;     /* enum qs_rope_layout */
    int tied_classifier; /* output shares token_embd */
    int has_qkv_bias;    /* Qwen2 */
    int bos_id, eos_id;  /* -1 when the model has none */
    /* rope_scaling of type "llama3" (Llama 3.1+); factor 0 means none */
    float rope_scale_factor, rope_low_freq_factor, rope_high_freq_factor;
    int rope_orig_max_pos;
} qs_config;

/* Fills the defaults every loader starts from (theta 10000, eps 1e-5, interleaved RoPE). */
void qs_config_defaults(qs_config *c);
/* Checks dimensions are positive, sane, and consistent (heads divide, kv heads divide heads).
 * `what` names the file for the message. */
int qs_config_validate(const qs_config *c, const char *what);

typedef struct qs_layer_weights {
    float *attn_norm;    /* (D) */
    float *wq;           /* (Q, D) */
    float *wk;           /* (K, D) */
    float *wv;           /* (K, D) */
    float *wo;           /* (D, Q) */
    float *bq, *bk, *bv; /* (Q), (K), (K) or NULL */
    float *ffn_norm;     /* (D) */
    float *w_gate;       /* (H, D)  llama2.c w1 */
    float *w_down;       /* (D, H)  llama2.c w2 */
    float *w_up;         /* (H, D)  llama2.c w3 */
} qs_layer_weights;

typedef struct qs_weights {
    float *token_embd;        /* (V, D) */
    float *output_norm;       /* (D) */
    float *output;            /* (V, D); equals token_embd when tied */
    qs_layer_weights *layers; /* [L] */
} qs_weights;

/* One named tensor, for `qscope info`, weight statistics and weight quantization. */
typedef struct qs_tensor {
    char name[64];        /* GGUF-style name */
    float *data;          /* f32 view into the model's storage */
    int64_t rows, cols;   /* (rows, cols); vectors have rows = 1 */
    char stored_type[16]; /* what the file held: "F32", "BF16", "Q4_0", ... */
} qs_tensor;

/* A transform the forward pass applies to a site's activations before the capture hook
 * sees them and the next projection reads them: a rotated model's online Hadamard at
 * ffn_down_in (quant/rotate.c). The model knows only this seam; user belongs to whoever set
 * it and is shared by the model's clones (retain) until each lets go (release). */
typedef struct qs_online {
    void (*fn)(const void *user, int site, int layer, float *x, int T, int C); /* x (T, C) */
    void *user;
    unsigned site_mask; /* QS_SITE_BIT() of the sites transformed; 0: none */
    void (*retain)(void *user);
    void (*release)(void *user);
} qs_online;

typedef struct qs_model {
    char path[4096];
    char format[16]; /* "llama2c", "gguf", "hf" */
    qs_config cfg;
    qs_weights w;
    qs_tensor *tensors;
    int n_tensors;
    qs_tokenizer *tok; /* tokenizer embedded in or beside the model, or NULL */
    int tok_borrowed;  /* tok belongs to another model (a copy's); not freed here */
    /* storage */
    void *map; /* private (copy-on-write) mapping of the file, or NULL */
    size_t map_size;
    void **owned; /* blocks allocated by the loader, freed with the model */
    int n_owned, cap_owned;
    qs_online online; /* online activation transforms (all zero: none) */
} qs_model;

/* Loads a model, detecting the format by content: llama2.c .bin, GGUF magic, or a
 * directory with config.json. tokenizer_path may be NULL (use the embedded or default one).
 * On success *out owns everything; free with qs_model_free. */
int qs_model_load(qs_model **out, const char *path, const char *tokenizer_path);
void qs_model_free(qs_model *m);

/* Deep-copies src's weights into memory the copy owns (tokenizer not copied: tok = NULL).
 * For offline weight quantization and planting. Free with qs_model_free. */
int qs_model_clone(qs_model **out, const qs_model *src);

/* Total parameter count (the tied classifier counted once). */
int64_t qs_model_param_count(const qs_model *m);
/* Looks a tensor up by name; NULL if absent. */
qs_tensor *qs_model_tensor(qs_model *m, const char *name);

/* Loader helpers (shared by core/load_*.c, not public API). */
qs_model *qs__model_new(const char *path, const char *format);
float *qs__model_alloc(qs_model *m, size_t n_floats); /* zeroed, owned by m, NULL on OOM */
int qs__model_add_tensor(qs_model *m, const char *name, float *data, int64_t rows, int64_t cols,
                         const char *stored_type);
/* Before a loader allocates `bytes` (tensors it expands to float32): QS_ERR_NOMEM naming
 * path, the need and what is available when they exceed the memory the system reports
 * (MemAvailable plus free swap) or the room under RLIMIT_AS / RLIMIT_DATA. Refusing up
 * front beats an allocation that overcommit grants and the OOM killer ends. */
int qs__model_check_memory(const char *path, uint64_t bytes);
/* Builds m->tensors from m->w (for loaders that fill m->w directly). */
int qs__model_index_weights(qs_model *m, const char *stored_type);

int qs__load_llama2c(qs_model **out, const char *path);
int qs__load_gguf(qs_model **out, const char *path);
int qs__load_hf(qs_model **out, const char *dir);

#endif
