/* A LLaMA-family model in memory: its config, its tensors in their stored precision, a
 * table of named tensors.
 *
 * Every loader (llama2.c .bin, GGUF, Hugging Face directory) fills the same struct, so the
 * forward pass, capture sites and weight quantization never know which file a model came
 * from. Tensors (tensor.h) keep the file's type and bytes, read from its read-only mapping;
 * they are row-major, (out, in): y = x · Wᵀ. Tensor names follow GGUF
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

#include "tensor.h"
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

/* The tensors the forward pass reads, bound by role. Pointers into the model's tensor
 * table (a twin's may point into its base's); vectors always have f32 (tensor.h). */
typedef struct qs_layer_weights {
    const qs_tensor *attn_norm;    /* (1, D) */
    const qs_tensor *wq;           /* (Q, D) */
    const qs_tensor *wk;           /* (K, D) */
    const qs_tensor *wv;           /* (K, D) */
    const qs_tensor *wo;           /* (D, Q) */
    const qs_tensor *bq, *bk, *bv; /* (1, Q), (1, K), (1, K) or NULL */
    const qs_tensor *ffn_norm;     /* (1, D) */
    const qs_tensor *w_gate;       /* (H, D)  llama2.c w1 */
    const qs_tensor *w_down;       /* (D, H)  llama2.c w2 */
    const qs_tensor *w_up;         /* (H, D)  llama2.c w3 */
} qs_layer_weights;

typedef struct qs_weights {
    const qs_tensor *token_embd;  /* (V, D) */
    const qs_tensor *output_norm; /* (1, D) */
    const qs_tensor *output;      /* (V, D); the same tensor as token_embd when tied */
    qs_layer_weights *layers;     /* [L] */
} qs_weights;

/* One read-only file mapping a model holds (a Hugging Face model may have several shards). */
typedef struct qs_mapping {
    void *addr;
    size_t size;
} qs_mapping;

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
    qs_tensor **tensors; /* [n_tensors] the tensor table, in a fixed order (info, statistics) */
    int n_tensors;
    qs_tokenizer *tok; /* tokenizer embedded in or beside the model, or NULL */
    int tok_borrowed;  /* tok belongs to another model (a twin's base); not freed here */
    /* storage */
    qs_mapping *maps; /* read-only mappings of the model's files, never written */
    int n_maps;
    void *map; /* the first mapping (maps[0].addr), or NULL */
    size_t map_size;
    void **owned; /* blocks this model allocated (tensors, copies, packed data) */
    int n_owned, cap_owned;
    qs_online online; /* online activation transforms (all zero: none) */
    size_t owned_bytes;    /* bytes of those blocks */
    struct qs_model *base; /* a twin's base: its tensors are shared, it is kept alive */
    int refs;              /* references: 1 + twins built on this model */
} qs_model;

/* Loads a model, detecting the format by content: llama2.c .bin, GGUF magic, or a
 * directory with config.json. tokenizer_path may be NULL (use the embedded or default one).
 * Weights stay in the file's read-only mapping, in their stored type. On success *out owns
 * everything; free with qs_model_free. */
int qs_model_load(qs_model **out, const char *path, const char *tokenizer_path);
/* Releases a reference: the model is freed when its last twin and its owner let go. */
void qs_model_free(qs_model *m);

/* A twin of base: a new model that shares every tensor, mapping and the tokenizer of base
 * (nothing is copied) and keeps base alive until the twin is freed. Weight quantization and
 * planting replace some of a twin's tensors with tensors the twin owns; base never changes.
 * Free with qs_model_free. */
int qs_model_twin(qs_model **out, const qs_model *base);

/* Replaces tensor `old` of m (a twin, or a model being built) with t everywhere m uses it
 * (table and roles; a tied classifier follows its embedding). t must be owned by m
 * (qs__model_new_tensor). QS_ERR_ARG if old is not m's. */
int qs_model_replace_tensor(qs_model *m, const qs_tensor *old, qs_tensor *t);

/* A writable f32 copy of tensor t of m, owned by m and put in t's place: what planting
 * edits. A tensor m already owns as f32 is returned as it is. NULL with an error set on
 * failure. */
float *qs_model_tensor_f32_own(qs_model *m, const qs_tensor *t);

/* Gives m's classifier its own f32 copy of the embedding, named "output" and added to the
 * table (a rotation that scales the classifier but not the embedding needs two tensors).
 * Nothing to do when they are already two. QS_ERR_NOMEM. */
int qs_model_untie_classifier(qs_model *m);

/* Total parameter count (the tied classifier counted once). */
int64_t qs_model_param_count(const qs_model *m);
/* Looks a tensor up by name; NULL if absent. */
const qs_tensor *qs_model_tensor(const qs_model *m, const char *name);
/* 1 if p is a block m allocated: a tensor m owns (not shared from a base), or its data. */
int qs_model_owns(const qs_model *m, const void *p);

/* QS_OK, or the error of a mapping m (or its base) reads whose file was truncated while in
 * use (fileio.h qs_file_map_check): what was computed from it is void. */
int qs_model_check_maps(const qs_model *m);

/* Bytes of the file mappings, and bytes this model allocated for weights (its own tensors'
 * data, vector copies, tables); a twin counts only its own. */
size_t qs_model_mapped_bytes(const qs_model *m);
size_t qs_model_weight_alloc_bytes(const qs_model *m);
/* Bytes of stored weights of the tensors in the table (what the forward reads). */
size_t qs_model_weight_bytes(const qs_model *m);

/* Loader helpers (shared by core/formats/load_*.c, not public API). */
qs_model *qs__model_new(const char *path, const char *format);
void *qs__model_alloc(qs_model *m, size_t bytes); /* zeroed, owned by m, NULL on OOM */
/* Adds a read-only mapping the model now owns (unmapped with it). */
int qs__model_add_map(qs_model *m, void *addr, size_t size);
/* A new tensor owned by m (not yet in the table): qs_tensor_init, then for a vector an f32
 * copy when the data are not aligned F32. copy: copy the stored bytes into owned memory
 * (data may then be freed). Errors set a message naming the tensor. */
int qs__model_new_tensor(qs_model *m, qs_tensor **out, const char *name, uint32_t type,
                         const void *data, size_t n_bytes, int64_t rows, int64_t cols, int copy);
/* Marks t's rows as stored in rotate_half order within heads of hd rows (tensor.h); a
 * vector's f32 copy is reordered instead. */
int qs__model_tensor_permute(qs_model *m, qs_tensor *t, int hd);
/* Builds the table from m->w, naming each tensor (token_embd, blk.N.*, output_norm,
 * output, then the q/k/v biases), and checks every role's shape against the config. */
int qs__model_index_weights(qs_model *m);
/* Before a loader allocates `bytes` (a buffer load copies every tensor's bytes): QS_ERR_NOMEM
 * naming path, the need and what is available when they exceed the memory the system
 * reports (MemAvailable plus free swap) or the room under RLIMIT_AS / RLIMIT_DATA. Refusing
 * up front beats an allocation that overcommit grants and the OOM killer ends. */
int qs__model_check_memory(const char *path, uint64_t bytes);

int qs__load_llama2c(qs_model **out, const char *path);
int qs__load_gguf(qs_model **out, const char *path);
int qs__load_hf(qs_model **out, const char *dir);

#endif
