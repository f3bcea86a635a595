/* Hugging Face config.json → qs_config.
 *
 * Architectures: LlamaForCausalLM ("llama"), MistralForCausalLM ("mistral"),
 * Qwen2ForCausalLM ("qwen2", q/k/v biases). rope_scaling may be null, absent, type
 * "default", or type "llama3"; anything else is QS_ERR_UNSUPPORTED. The config always says
 * rope_layout = QS_ROPE_HALF: HF checkpoints store q/k for rotate_half RoPE. */
#ifndef QS_HF_CONFIG_H
#define QS_HF_CONFIG_H

#include <stddef.h>

#include "model.h"

/* Parses config.json text json[0..len) (need not be NUL-terminated). path names the file
 * in messages. Fills *c (starting from qs_config_defaults) and validates it.
 * Errors: QS_ERR_FORMAT (malformed JSON, missing or mistyped field),
 * QS_ERR_UNSUPPORTED (architecture, rope_scaling type, activation, biases). */
int qs_hf_config_parse(qs_config *c, const char *json, size_t len, const char *path);
/* Reads and parses the file at path. */
int qs_hf_config_load(qs_config *c, const char *path);

struct cJSON;
/* QS_ERR_FORMAT "<path>: <what> '<key>' appears twice" when two members of the JSON object
 * share a name (cJSON keeps both and lookups see the first: an ambiguity, refused).
 * O(n log n) in the number of members: a config of 10^6 keys is checked in a second. */
int qs__hf_json_unique_keys(const struct cJSON *obj, const char *path, const char *what);

#endif
