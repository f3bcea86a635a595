/* Tokenizers behind one interface: llama2.c tokenizer.bin, GGUF-embedded vocabularies and
 * Hugging Face tokenizer.json all turn UTF-8 text into ids and ids back into bytes.
 *
 * Text given to encode must already be valid UTF-8 (qs_text checks it on load and names
 * the file and byte offset of any invalid sequence). */
#ifndef QS_TOKENIZER_H
#define QS_TOKENIZER_H

#include <stddef.h>

typedef struct qs_tokenizer qs_tokenizer;

typedef struct qs_tokenizer_ops {
    /* Appends the ids of text[0..len) to *ids (grown with realloc; *n and *cap updated).
     * No BOS: qs_tokenizer_encode adds it. Returns QS_OK or an error code. */
    int (*encode)(const qs_tokenizer *t, const char *text, size_t len, int **ids, int *n, int *cap);
    /* The bytes token `id` stands for, as it appears in decoded text; *len set.
     * prev_id is the previous token (-1 at the start) so a leading space after BOS can be
     * dropped the way SentencePiece does. Returned memory belongs to the tokenizer or buf. */
    const char *(*decode)(const qs_tokenizer *t, int prev_id, int id, char buf[8], size_t *len);
    void (*free)(qs_tokenizer *t);
} qs_tokenizer_ops;

struct qs_tokenizer {
    const qs_tokenizer_ops *ops;
    void *impl;
    char kind[24];   /* "llama2c", "gguf-llama", "gguf-gpt2", "hf-bpe", "hf-bytelevel" */
    char path[4096]; /* file it came from */
    int n_vocab;
    int bos_id, eos_id; /* -1 when absent */
    int add_bos;        /* the tokenizer's own default */
};

/* Encodes text; with add_bos (and bos_id >= 0) the first id is BOS. *ids is malloc'd and
 * owned by the caller. */
int qs_tokenizer_encode(const qs_tokenizer *t, const char *text, size_t len, int add_bos, int **ids,
                        int *n);
/* Decodes ids into a malloc'd NUL-terminated string owned by the caller. */
int qs_tokenizer_decode(const qs_tokenizer *t, const int *ids, int n, char **out);
/* Bytes of one token (see ops->decode). */
const char *qs_tokenizer_piece(const qs_tokenizer *t, int prev_id, int id, char buf[8],
                               size_t *len);
void qs_tokenizer_free(qs_tokenizer *t);

/* llama2.c tokenizer.bin (max_token_length, then per token: float score, int32 len, bytes).
 * vocab_size is the model's; the file must hold exactly that many entries. */
int qs_tokenizer_load_llama2c(qs_tokenizer **out, const char *path, int vocab_size);
/* The same format from memory (path is only used in messages); used by the fuzz target. */
int qs_tokenizer_parse_llama2c(qs_tokenizer **out, const unsigned char *buf, size_t size,
                               int vocab_size, const char *path);

/* SentencePiece-style BPE by piece scores (llama2.c run.c and llama.cpp's SPM algorithm):
 * a dummy-prefix space, one piece per code point (byte-fallback <0xNN> pieces otherwise),
 * then repeated merging of the adjacent pair whose merged piece scores highest.
 * space_marker: 1 if pieces spell a space as U+2581 "▁" (GGUF, SentencePiece), 0 if as " "
 * (llama2.c). special[i] != 0 marks control pieces that text never produces.
 * Copies everything it is given. Shared by the llama2.c and GGUF loaders. */
int qs__tokenizer_spm_new(qs_tokenizer **out, int n_vocab, const char *const *pieces,
                          const int *piece_len, const float *scores, const unsigned char *special,
                          int space_marker, int bos_id, int eos_id, int unk_id, const char *kind,
                          const char *path);

/* Merge-ranked BPE, the model of Hugging Face tokenizer.json and GGUF `gpt2` vocabularies.
 * Two flavours:
 *  - byte_level = 1 (GPT-2, Llama 3, Qwen2): text is split by the pre-tokenizer regex
 *    (PCRE2, Unicode classes; NULL means GPT-2's pattern), each chunk's bytes are mapped
 *    through GPT-2's byte-to-unicode table, then merged by rank.
 *  - byte_level = 0 (SentencePiece-style, Llama 1/2, Mistral): spaces become U+2581 "▁"
 *    (prepend_space adds one at the start), merged by rank; with byte_fallback, characters
 *    missing from the vocab become <0xNN> pieces.
 * special[i] != 0 marks added/special tokens matched literally in the text before BPE when
 * match_special is set. Copies everything it is given. */
typedef struct qs_bpe_spec {
    int n_vocab;
    const char *const *pieces;    /* [n_vocab] UTF-8 piece text (NULL for a hole) */
    const int *piece_len;         /* [n_vocab] bytes */
    const unsigned char *special; /* [n_vocab] or NULL */
    int n_merges;
    const char *const *merges; /* [n_merges] "left right" (one space between) */
    int byte_level;
    const char *pretok_regex; /* byte_level only; NULL = GPT-2 pattern */
    int prepend_space, byte_fallback;
    int match_special;
    int bos_id, eos_id, unk_id; /* -1 when absent */
    int add_bos;
} qs_bpe_spec;

int qs__tokenizer_bpe_new(qs_tokenizer **out, const qs_bpe_spec *spec, const char *kind,
                          const char *path);
/* Byte-level BPE option (tokenizer.json model.ignore_merges, Llama 3): a pre-tokenized chunk
 * that is itself in the vocabulary is emitted whole, without merging. No-op for other
 * tokenizers. */
void qs__tokenizer_bpe_set_ignore_merges(qs_tokenizer *t, int on);

/* Fills t->ops / t->impl holder; helpers for implementations. */
qs_tokenizer *qs__tokenizer_alloc(const qs_tokenizer_ops *ops, const char *kind, const char *path);

#endif
