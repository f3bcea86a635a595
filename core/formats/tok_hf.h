/* Hugging Face tokenizers: tokenizer.json (+ tokenizer_config.json), and GPT-2's
 * vocab.json + merges.txt pair, both built on the merge-ranked BPE engine
 * (qs__tokenizer_bpe_new in tokenizer.h, core/tok_bpe.c).
 *
 * Supported tokenizer.json: model.type "BPE" (merges as "a b" strings or ["a", "b"] pairs,
 * byte_fallback, unk_token, ignore_merges); added_tokens (all matched literally in the text);
 * normalizer null, NFC (assumed already satisfied by the input), Prepend "▁",
 * Replace " " → "▁", or a Sequence of those; pre_tokenizer null, ByteLevel, Split with a
 * Regex pattern (behaviour Isolated), Metaspace, or a Sequence of those; post_processor
 * TemplateProcessing (a leading special token is BOS) possibly inside a Sequence.
 * tokenizer_config.json's add_bos_token, bos_token and eos_token override.
 * Anything else is QS_ERR_UNSUPPORTED naming the file and the component. Kinds:
 * "hf-bytelevel" (ByteLevel) or "hf-bpe" (SentencePiece-style "▁"). */
#ifndef QS_TOK_HF_H
#define QS_TOK_HF_H

#include <stddef.h>

#include "tokenizer.h"

/* Loads tokenizer.json at json_path; config_path (tokenizer_config.json) may be NULL or a
 * file that does not exist. On success *out is owned by the caller (qs_tokenizer_free). */
int qs_tokenizer_load_hf(qs_tokenizer **out, const char *json_path, const char *config_path);
/* The same from memory: json[0..len), cfg[0..cfg_len) (cfg may be NULL). path names the
 * tokenizer.json in messages and in t->path. */
int qs_tokenizer_parse_hf(qs_tokenizer **out, const char *json, size_t len, const char *cfg,
                          size_t cfg_len, const char *path);
/* GPT-2 style byte-level BPE from vocab.json (piece → id) and merges.txt (one "a b" per
 * line, ranked by line; an optional "#version" first line is skipped). <|endoftext|>, if in
 * the vocabulary, is special (matched literally), BOS and EOS; add_bos is 0. */
int qs_tokenizer_load_bpe_files(qs_tokenizer **out, const char *vocab_json_path,
                                const char *merges_txt_path);

#endif
