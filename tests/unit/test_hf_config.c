/* config.json → qs_config: the fixture, defaults, the three architectures, llama3 RoPE
 * scaling, and the errors (each with its code and what the message names). */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "hf_config.h"
#include "model.h"

static int parse(qs_config *c, const char *json) {
    qs_error_clear();
    return qs_hf_config_parse(c, json, strlen(json), "DIR/config.json");
}

static void expect_err(const char *json, int code, const char *want) {
    qs_config c;
    int rc = parse(&c, json);
    CHECK_MSG(rc == code, "rc %d want %d for %s (%s)", rc, code, json, qs_error_message());
    CHECK_MSG(strstr(qs_error_message(), want) != NULL, "message '%s' lacks '%s'",
              qs_error_message(), want);
}

#define BASE                                                                                \
    "\"hidden_size\":64,\"intermediate_size\":172,\"num_hidden_layers\":2,\"num_attention_" \
    "heads\":8,"                                                                            \
    "\"vocab_size\":100,\"max_position_embeddings\":256"

static void test_fixture(void) {
    const char *dirs[] = {"tests/fixtures/hf-stories260K/config.json",
                          "tests/fixtures/hf-stories260K-bf16/config.json"};
    for (int i = 0; i < 2; i++) {
        qs_config c;
        int rc = qs_hf_config_load(&c, dirs[i]);
        CHECK_MSG(rc == QS_OK, "%s", qs_error_message());
        CHECK(strcmp(c.arch, "llama") == 0);
        CHECK(c.dim == 64 && c.hidden_dim == 172 && c.n_layers == 5 && c.n_heads == 8);
        CHECK(c.n_kv_heads == 4 && c.head_dim == 8 && c.vocab_size == 512 && c.seq_len == 512);
        CHECK(c.norm_eps == 1e-5f && c.rope_theta == 10000.0f);
        CHECK(c.tied_classifier == 1 && c.has_qkv_bias == 0);
        CHECK(c.bos_id == 1 && c.eos_id == 2);
        CHECK(c.rope_layout == QS_ROPE_HALF);
        CHECK(c.rope_scale_factor == 0.0f);
    }
    qs_config c;
    CHECK(qs_hf_config_load(&c, "tests/fixtures/no-such-dir/config.json") == QS_ERR_IO);
    CHECK(strstr(qs_error_message(), "no-such-dir/config.json") != NULL);
}

static void test_variants(void) {
    qs_config c;
    /* defaults: kv heads = heads, head_dim = hidden / heads, eps 1e-6, theta 10000, untied */
    CHECK(parse(&c, "{\"architectures\":[\"MistralForCausalLM\"]," BASE "}") == QS_OK);
    CHECK(strcmp(c.arch, "mistral") == 0 && c.n_kv_heads == 8 && c.head_dim == 8);
    CHECK(c.norm_eps == 1e-6f && c.rope_theta == 10000.0f && c.tied_classifier == 0);
    CHECK(c.bos_id == -1 && c.eos_id == -1 && c.has_qkv_bias == 0);
    /* nulls count as absent; eos may be a list */
    CHECK(parse(&c,
                "{\"architectures\":[\"LlamaForCausalLM\"]," BASE ",\"num_key_value_heads\":null,"
                "\"head_dim\":null,\"rope_theta\":500000.0,\"eos_token_id\":[7,8],\"bos_token_id\":"
                "5}") == QS_OK);
    CHECK(c.n_kv_heads == 8 && c.rope_theta == 500000.0f && c.eos_id == 7 && c.bos_id == 5);
    /* Qwen2 has q/k/v biases */
    CHECK(parse(&c, "{\"architectures\":[\"Qwen2ForCausalLM\"]," BASE ",\"num_key_value_heads\":2,"
                    "\"tie_word_embeddings\":true,\"rms_norm_eps\":1e-6}") == QS_OK);
    CHECK(strcmp(c.arch, "qwen2") == 0 && c.has_qkv_bias == 1 && c.n_kv_heads == 2 &&
          c.tied_classifier == 1);
    /* llama3 rope scaling, both spellings of the type key */
    const char *l3 =
        "{\"architectures\":[\"LlamaForCausalLM\"]," BASE ",\"rope_scaling\":{\"factor\":8.0,"
        "\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,\"original_max_position_embeddings\":"
        "8192,"
        "\"rope_type\":\"llama3\"}}";
    CHECK_MSG(parse(&c, l3) == QS_OK, "%s", qs_error_message());
    CHECK(c.rope_scale_factor == 8.0f && c.rope_low_freq_factor == 1.0f &&
          c.rope_high_freq_factor == 4.0f);
    CHECK(c.rope_orig_max_pos == 8192);
    CHECK(parse(&c, "{\"architectures\":[\"LlamaForCausalLM\"]," BASE
                    ",\"rope_scaling\":{\"type\":\"llama3\","
                    "\"factor\":2,\"low_freq_factor\":1,\"high_freq_factor\":2,"
                    "\"original_max_position_embeddings\":64}}") == QS_OK);
    CHECK(c.rope_scale_factor == 2.0f && c.rope_orig_max_pos == 64);
    CHECK(parse(&c, "{\"architectures\":[\"LlamaForCausalLM\"]," BASE
                    ",\"rope_scaling\":{\"rope_type\":\"default\"}}") == QS_OK);
    CHECK(c.rope_scale_factor == 0.0f);
}

static void test_errors(void) {
    expect_err("{\"architectures\":[\"GPT2LMHeadModel\"]," BASE "}", QS_ERR_UNSUPPORTED,
               "unsupported architecture 'GPT2LMHeadModel' in DIR/config.json");
    expect_err("{" BASE "}", QS_ERR_FORMAT,
               "DIR/config.json: missing required field 'architectures'");
    expect_err(
        "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"num_hidden_layers\":2,"
        "\"num_attention_heads\":8,\"vocab_size\":100,\"max_position_embeddings\":256}",
        QS_ERR_FORMAT, "DIR/config.json: missing required field 'intermediate_size'");
    expect_err(
        "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"intermediate_size\":1,"
        "\"num_hidden_layers\":2,\"num_attention_heads\":8,\"max_position_embeddings\":256}",
        QS_ERR_FORMAT, "missing required field 'vocab_size'");
    expect_err("{\"architectures\":[\"LlamaForCausalLM\"]," BASE
               ",\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":4}}",
               QS_ERR_UNSUPPORTED, "unsupported rope_scaling type 'yarn'");
    expect_err("{\"architectures\":[\"LlamaForCausalLM\"]," BASE
               ",\"rope_scaling\":{\"type\":\"linear\",\"factor\":4}}",
               QS_ERR_UNSUPPORTED,
               "unsupported rope_scaling type 'linear' (qscope handles null and 'llama3')");
    expect_err("{\"architectures\":[\"LlamaForCausalLM\"]," BASE
               ",\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8}}",
               QS_ERR_FORMAT, "missing required field 'low_freq_factor'");
    expect_err("{\"architectures\":[\"LlamaForCausalLM\"]," BASE ",\"hidden_size\":64.5}",
               QS_ERR_FORMAT, "field 'hidden_size' appears twice");
    expect_err(
        "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64.5,\"intermediate_size\":1,"
        "\"num_hidden_layers\":2,\"num_attention_heads\":8,\"vocab_size\":100,\"max_position_"
        "embeddings\":256}",
        QS_ERR_FORMAT, "'hidden_size' must be an integer");
    expect_err(
        "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":\"64\",\"intermediate_size\":1,"
        "\"num_hidden_layers\":2,\"num_attention_heads\":8,\"vocab_size\":100,\"max_position_"
        "embeddings\":256}",
        QS_ERR_FORMAT, "'hidden_size' must be an integer");
    expect_err("{\"architectures\":[\"LlamaForCausalLM\"]," BASE ",\"hidden_act\":\"gelu\"}",
               QS_ERR_UNSUPPORTED, "unsupported hidden_act 'gelu'");
    expect_err("{\"architectures\":[\"LlamaForCausalLM\"]," BASE ",\"attention_bias\":true}",
               QS_ERR_UNSUPPORTED, "attention_bias");
    expect_err("{\"architectures\":[\"LlamaForCausalLM\"]," BASE ",\"tie_word_embeddings\":1}",
               QS_ERR_FORMAT, "'tie_word_embeddings' must be true or false");
    expect_err("{\"architectures\":[\"LlamaForCausalLM\"]," BASE, QS_ERR_FORMAT,
               "DIR/config.json: malformed JSON");
    expect_err("{\"architectures\":[\"LlamaForCausalLM\"]," BASE "} {}", QS_ERR_FORMAT,
               "malformed JSON");
    expect_err("{\"architectures\":\"LlamaForCausalLM\"," BASE "}", QS_ERR_FORMAT,
               "list of strings");
    /* hidden not divisible by heads and no head_dim */
    expect_err(
        "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":60,\"intermediate_size\":1,"
        "\"num_hidden_layers\":2,\"num_attention_heads\":8,\"vocab_size\":100,\"max_position_"
        "embeddings\":256}",
        QS_ERR_FORMAT, "not a multiple of num_attention_heads");
}

int main(void) {
    test_fixture();
    test_variants();
    test_errors();
    return check_summary("test_hf_config");
}
