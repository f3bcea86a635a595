/* qscope generate MODEL --prompt "...": greedy (or sampled) continuation with the KV cache. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "generate.h"
#include "linear.h"

static void stream_piece(void *user, const char *piece, size_t len) {
    (void)user;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
}

int qs_cmd_generate(int argc, char **argv) {
    qs_cli_opt opts[] = {
        {"tokenizer", "FILE", "tokenizer file (default: embedded, or tok<V>.bin beside the model)"},
        {"prompt", "TEXT", "the prompt", "Once upon a time"},
        {"steps", "N", "tokens to generate", "256"},
        {"temperature", "T", "0 = greedy (argmax)", "0"},
        {"seed", "N", "sampling seed", "42"},
        {"threads", "N", "threads (default: all cores)"},
        {"path", "P",
         "how decoding multiplies by the weights: fused (stored bytes expanded in registers), "
         "naive (each weight expanded to f32 in memory, then sgemv), int8dot (activations "
         "quantized to int8 per block of 32, integer dot products: changes the results)",
         "fused"},
        {"per-token", NULL, "int8dot: one activation scale per token instead of per block"},
        {"json", NULL, "print one JSON object on stdout"},
    };
    const int n = QS_COUNT(opts);
    const char *pos[1];
    int n_pos;
    int r = qs_cli_parse(argc, argv, "generate", "MODEL [options]", opts, n, pos, 1, &n_pos);
    if (r) return r == 2 ? 0 : 1;
    if (n_pos != 1) {
        fprintf(stderr, "qscope generate: error: expected one MODEL argument (see --help)\n");
        return 1;
    }
    long steps = 256, seed = 42, threads = 0;
    double temp = 0;
    if (qs_cli_int(opts, n, "steps", 0, 1 << 20, &steps) ||
        qs_cli_int(opts, n, "seed", 0, 1L << 62, &seed) ||
        qs_cli_int(opts, n, "threads", 1, 4096, &threads) ||
        qs_cli_double(opts, n, "temperature", 0, 100, &temp))
        return qs_cli_fail("generate");
    qs_cli_threads(threads);
    qs_model *m;
    if (qs_model_load(&m, pos[0], qs_cli_get(opts, n, "tokenizer"))) return qs_cli_fail("generate");
    double wbytes = (double)qs_model_weight_bytes(m);
    const char *pname = qs_cli_get(opts, n, "path");
    int path = qs_linear_path_parse(pname ? pname : "fused");
    if (path < 0) {
        fprintf(stderr, "qscope generate: error: --path '%s' is not fused, naive or int8dot\n",
                pname);
        return 1;
    }
    qs_generate_stats st = {0};
    qs_generate_opts go = {(int)steps, (float)temp, (unsigned long long)seed, 1,
                           path, qs_cli_get(opts, n, "per-token") != NULL, &st};
    int json = qs_cli_get(opts, n, "json") != NULL;
    const char *prompt = qs_cli_get(opts, n, "prompt");
    char *text = NULL;
    int *ids = NULL, n_ids = 0;
    if (!json) fputs(prompt, stdout);
    int rc = qs_generate(m, prompt, &go, &text, &ids, &n_ids, json ? NULL : stream_piece, NULL);
    double tps = st.decode_seconds > 0 ? st.decoded_tokens / st.decode_seconds : 0;
    if (rc == QS_OK && json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "prompt", prompt);
        cJSON_AddStringToObject(o, "text", text);
        cJSON_AddItemToObject(o, "tokens", cJSON_CreateIntArray(ids, n_ids));
        cJSON_AddStringToObject(o, "path", qs_linear_path_name(path));
        cJSON_AddNumberToObject(o, "prompt_tokens", st.prompt_tokens);
        cJSON_AddNumberToObject(o, "prefill_seconds", st.prefill_seconds);
        cJSON_AddNumberToObject(o, "decoded_tokens", st.decoded_tokens);
        cJSON_AddNumberToObject(o, "decode_seconds", st.decode_seconds);
        cJSON_AddNumberToObject(o, "decode_tokens_per_s", tps);
        cJSON_AddNumberToObject(o, "weight_bytes", wbytes);
        qs_cli_print_json(o);
    } else if (rc == QS_OK) {
        printf("\n");
    }
    if (rc == QS_OK)
        fprintf(stderr,
                "decode (%s): %d tokens in %.3f s = %.2f tokens/s; prompt %d tokens in %.3f s\n",
                qs_linear_path_name(path), st.decoded_tokens, st.decode_seconds, tps,
                st.prompt_tokens, st.prefill_seconds);
    free(text);
    free(ids);
    qs_model_free(m);
    return rc ? qs_cli_fail("generate") : 0;
}
