/* qscope ppl MODEL TEXT: perplexity under the documented window protocol (windows.h). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "linear.h"
#include "perplexity.h"

int qs_cmd_ppl(int argc, char **argv) {
    qs_cli_opt opts[] = {
        {"tokenizer", "FILE", "tokenizer file (default: embedded, or tok<V>.bin beside the model)"},
        QS_CLI_WINDOW_OPTS,
        {"threads", "N", "threads for OpenMP and OpenBLAS (default: all cores)"},
        {"path", "P",
         "how the forward multiplies by the weights: fused, naive, or int8dot (activations "
         "quantized to int8 per block of 32, integer dot products where the weight type has "
         "them: W8A8 / W4A8, which changes the results)",
         "fused"},
        {"per-token", NULL, "int8dot: one activation scale per token instead of per block"},
        {"json", NULL, "print one JSON object on stdout"},
    };
    const int n = QS_COUNT(opts);
    const char *pos[2];
    int n_pos;
    int r = qs_cli_parse(argc, argv, "ppl", "MODEL TEXT [options]", opts, n, pos, 2, &n_pos);
    if (r) return r == 2 ? 0 : 1;
    if (n_pos != 2) {
        fprintf(stderr, "qscope ppl: error: expected MODEL and TEXT (see --help)\n");
        return 1;
    }
    long threads = 0;
    if (qs_cli_int(opts, n, "threads", 1, 4096, &threads)) return qs_cli_fail("ppl");
    const char *pname = qs_cli_get(opts, n, "path");
    int path = qs_linear_path_parse(pname ? pname : "fused");
    if (path < 0) {
        fprintf(stderr, "qscope ppl: error: --path '%s' is not fused, naive or int8dot\n", pname);
        return 1;
    }
    int nt = qs_cli_threads(threads);
    qs_model *m;
    if (qs_model_load(&m, pos[0], qs_cli_get(opts, n, "tokenizer"))) return qs_cli_fail("ppl");
    qs_text text;
    qs_windows ws;
    if (qs_cli_text_windows(opts, n, m, pos[1], &text, &ws)) {
        qs_model_free(m);
        return qs_cli_fail("ppl");
    }
    qs_ppl_result res;
    int rc = qs_perplexity_path(m, &ws, NULL, path, qs_cli_get(opts, n, "per-token") != NULL, &res);
    if (rc == QS_OK) {
        if (qs_cli_get(opts, n, "json")) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "model", m->path);
            cJSON_AddStringToObject(o, "text", pos[1]);
            cJSON_AddNumberToObject(o, "ctx", ws.w[0].n);
            cJSON_AddStringToObject(o, "score", qs_cli_get(opts, n, "score"));
            cJSON_AddStringToObject(o, "bos", qs_cli_get(opts, n, "bos"));
            cJSON_AddNumberToObject(o, "nll", res.nll);
            cJSON_AddNumberToObject(o, "nll_stderr", res.nll_se);
            cJSON_AddNumberToObject(o, "ppl", res.ppl);
            cJSON_AddNumberToObject(o, "ppl_stderr", res.ppl_se);
            cJSON_AddNumberToObject(o, "tokens_scored", (double)res.n_scored);
            cJSON_AddNumberToObject(o, "windows", res.n_windows);
            cJSON_AddNumberToObject(o, "tokens_processed", (double)res.n_processed);
            cJSON_AddNumberToObject(o, "text_tokens", (double)ws.n_text_tokens);
            cJSON_AddNumberToObject(o, "seconds", res.seconds);
            cJSON_AddNumberToObject(o, "tokens_per_s", res.tokens_per_s);
            cJSON_AddNumberToObject(o, "threads", nt);
            cJSON_AddStringToObject(o, "path", qs_linear_path_name(path));
            cJSON_AddBoolToObject(o, "per_token", qs_cli_get(opts, n, "per-token") != NULL);
            qs_cli_print_json(o);
        } else {
            printf("%s on %s\n", m->path, pos[1]);
            printf("windows %d x %d tokens, scored %ld predictions (%s)\n", res.n_windows,
                   ws.w[0].n, res.n_scored,
                   qs_cli_get(opts, n, "docs") ? "documents" : qs_cli_get(opts, n, "score"));
            printf("mean NLL %.6f ± %.6f nats/token\n", res.nll, res.nll_se);
            printf("PPL      %.4f ± %.4f\n", res.ppl, res.ppl_se);
            if (path != QS_LINEAR_FUSED) printf("path     %s\n", qs_linear_path_name(path));
            printf("speed    %.0f tokens/s (%d threads, %.2f s)\n", res.tokens_per_s, nt,
                   res.seconds);
            qs_cli_memory_print(stdout);
        }
    }
    qs_windows_free(&ws);
    qs_text_free(&text);
    qs_model_free(m);
    return rc ? qs_cli_fail("ppl") : 0;
}
