/* qscope plant MODEL -o OUT: write a checkpoint with planted outlier channels (plant.h), in
 * any format (save.h). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "plant.h"
#include "save.h"
#include "sites.h"

#define MAX_SPECS (2 * QS_CLI_MAX_REPEAT)

/* Collects --plant s:l:c:k and the parallel --site/--layer/--channel/--scale lists. */
static int collect(const qs_cli_opt *opts, int n, qs_plant_spec *specs, int *n_specs) {
    const qs_cli_opt *plant = NULL, *par[4] = {NULL};
    const char *names[4] = {"site", "layer", "channel", "scale"};
    for (int i = 0; i < n; i++) {
        if (strcmp(opts[i].name, "plant") == 0) plant = &opts[i];
        for (int k = 0; k < 4; k++)
            if (strcmp(opts[i].name, names[k]) == 0) par[k] = &opts[i];
    }
    *n_specs = 0;
    for (int i = 0; i < plant->repeat_count; i++)
        if (qs_plant_parse(&specs[(*n_specs)++], plant->values[i])) return 1;
    int np = par[0]->repeat_count;
    for (int k = 1; k < 4; k++)
        if (par[k]->repeat_count != np) {
            qs_error_set(QS_ERR_ARG,
                         "--site, --layer, --channel and --scale must be given the same "
                         "number of times (got %d, %d, %d, %d)",
                         par[0]->repeat_count, par[1]->repeat_count, par[2]->repeat_count,
                         par[3]->repeat_count);
            return 1;
        }
    for (int i = 0; i < np; i++)
        if (qs_plant_parse_parts(&specs[(*n_specs)++], par[0]->values[i], par[1]->values[i],
                                 par[2]->values[i], par[3]->values[i]))
            return 1;
    if (*n_specs == 0) {
        qs_error_set(QS_ERR_ARG, "nothing to plant: give --site S --layer L --channel C --scale K "
                                 "or --plant site:layer:channel:scale");
        return 1;
    }
    return 0;
}

int qs_cmd_plant(int argc, char **argv) {
    qs_cli_opt opts[] = {
        {"output", "PATH", "checkpoint to write (written whole or not at all)"},
        {"format", "llama2c|gguf|hf", "format of the checkpoint written", "llama2c"},
        {"dtype", "T", "weight storage type written: f32, f16, bf16 (hf, gguf), q8_0, q4_0 (gguf)",
         "f32"},
        {"site", "S", "site of a plant: attn_in, attn_o_in, ffn_in, ffn_down_in (repeatable)"},
        {"layer", "L|all", "layer of a plant (repeatable, pairs with --site)"},
        {"channel", "C", "channel of a plant; attn_o_in counts in the kv width (repeatable)"},
        {"scale", "K", "factor K > 0 of a plant (repeatable)"},
        {"plant", "S:L:C:K", "a whole plant in one value, e.g. ffn_down_in:2:100:100 (repeatable)"},
        {"tokenizer", "FILE", "tokenizer (only used to check the model loads as usual)"},
        {"json", NULL, "print one JSON object on stdout"},
    };
    const int n = QS_COUNT(opts);
    const char *pos[1];
    int n_pos;
    int r = qs_cli_parse(argc, argv, "plant",
                         "MODEL -o OUT --site S --layer L|all --channel C "
                         "--scale K [...]",
                         opts, n, pos, 1, &n_pos);
    if (r) return r == 2 ? 0 : 1;
    if (n_pos != 1) {
        fprintf(stderr, "qscope plant: error: expected MODEL (see --help)\n");
        return 1;
    }
    const char *out = qs_cli_get(opts, n, "output");
    if (!out) {
        fprintf(stderr, "qscope plant: error: -o OUT is required\n");
        return 1;
    }
    qs_plant_spec specs[MAX_SPECS];
    int n_specs;
    if (collect(opts, n, specs, &n_specs)) return qs_cli_fail("plant");
    int format = qs_save_format_parse(qs_cli_get(opts, n, "format"));
    int dtype = qs_save_dtype_parse(qs_cli_get(opts, n, "dtype"));
    if (format < 0 || dtype < 0) {
        fprintf(stderr, "qscope plant: error: unknown %s '%s'\n",
                format < 0 ? "--format" : "--dtype",
                qs_cli_get(opts, n, format < 0 ? "format" : "dtype"));
        return 1;
    }
    qs_model *m;
    if (qs_model_load(&m, pos[0], qs_cli_get(opts, n, "tokenizer"))) return qs_cli_fail("plant");
    int rc = qs_plant_apply(m, specs, n_specs);
    /* the planted tensors are f32 copies; every other one is read from the mapping */
    if (rc == QS_OK) rc = qs_model_save(m, out, format, (uint32_t)dtype, 5000000000ull);
    if (rc == QS_OK) {
        cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "plants");
        cJSON_AddStringToObject(o, "model", m->path);
        cJSON_AddStringToObject(o, "output", out);
        for (int i = 0; i < n_specs; i++) {
            char buf[96];
            qs_plant_format(&specs[i], buf, sizeof buf);
            cJSON *p = cJSON_CreateObject();
            cJSON_AddStringToObject(p, "spec", buf);
            cJSON_AddStringToObject(p, "site", qs_site_name(specs[i].site));
            cJSON_AddNumberToObject(p, "layer", specs[i].layer); /* -1 = all */
            cJSON_AddNumberToObject(p, "channel", specs[i].channel);
            cJSON_AddNumberToObject(p, "scale", specs[i].scale);
            cJSON_AddItemToArray(arr, p);
            fprintf(stderr, "planted %s\n", buf);
        }
        fprintf(stderr, "wrote %s%s%s\n", out, m->tok ? "; load it with --tokenizer " : "",
                m->tok ? m->tok->path : "");
        if (qs_cli_get(opts, n, "json"))
            qs_cli_print_json(o);
        else
            cJSON_Delete(o);
    }
    qs_model_free(m);
    return rc ? qs_cli_fail("plant") : 0;
}
