/* qscope memory: weight, scale-metadata and KV-cache bytes of a quantized deployment. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "error.h"
#include "memory.h"
#include "model.h"

int qs_cmd_memory(int argc, char **argv) {
    qs_cli_opt opts[] = {
        {"model", "FILE", "take params, layers, kv heads, head_dim and context from a model"},
        {"params", "N", "quantized parameters (e.g. 8e9)"},
        {"bits", "B", "weight bits", "4"},
        {"group", "G", "elements per scale (0: no scales)", "128"},
        {"scale-bits", "B", "bits per scale", "16"},
        {"affine", NULL, "add a b-bit zero-point per group"},
        {"layers", "N", "layers"},
        {"kv-heads", "N", "key/value heads"},
        {"head-dim", "N", "head dimension"},
        {"seq", "N", "tokens in the KV cache per request"},
        {"batch", "N", "requests", "1"},
        {"kv-bits", "B", "bits per cached key/value", "16"},
        {"kv", "CONFIG",
         "a quantized cache, e.g. \"KV4 per-token\", \"KV4 g32\", \"KV4 mxfp4\" "
         "(bits with its scales; overrides --kv-bits)"},
        {"json", NULL, "print one JSON object on stdout"},
    };
    const int n = QS_COUNT(opts);
    const char *pos[1];
    int n_pos;
    int r = qs_cli_parse(argc, argv, "memory", "[--model FILE | --params N ...] [options]", opts, n,
                         pos, 0, &n_pos);
    if (r) return r == 2 ? 0 : 1;
    qs_mem_spec s;
    qs_mem_spec_default(&s);
    const char *mp = qs_cli_get(opts, n, "model");
    if (mp) {
        qs_model *m;
        if (qs_model_load(&m, mp, NULL)) return qs_cli_fail("memory");
        s.params = (double)qs_model_param_count(m);
        s.layers = m->cfg.n_layers;
        s.kv_heads = m->cfg.n_kv_heads;
        s.head_dim = m->cfg.head_dim;
        s.seq = m->cfg.seq_len;
        qs_model_free(m);
    }
    double params = s.params;
    long bits = 4, group = 128, sb = 16, layers = s.layers, kvh = s.kv_heads, hd = s.head_dim;
    long seq = s.seq, batch = 1, kvb = 16;
    if (qs_cli_double(opts, n, "params", 0, 1e15, &params) ||
        qs_cli_int(opts, n, "bits", 1, 32, &bits) ||
        qs_cli_int(opts, n, "group", 0, 1L << 40, &group) ||
        qs_cli_int(opts, n, "scale-bits", 1, 64, &sb) ||
        qs_cli_int(opts, n, "layers", 0, 1 << 20, &layers) ||
        qs_cli_int(opts, n, "kv-heads", 0, 1 << 20, &kvh) ||
        qs_cli_int(opts, n, "head-dim", 0, 1 << 20, &hd) ||
        qs_cli_int(opts, n, "seq", 0, 1L << 40, &seq) ||
        qs_cli_int(opts, n, "batch", 0, 1L << 30, &batch) ||
        qs_cli_int(opts, n, "kv-bits", 1, 32, &kvb))
        return qs_cli_fail("memory");
    s.params = params;
    s.bits = (int)bits;
    s.group = group;
    s.scale_bits = (int)sb;
    s.zero_point_bits = qs_cli_get(opts, n, "affine") ? (int)bits : 0;
    s.layers = (int)layers;
    s.kv_heads = (int)kvh;
    s.head_dim = (int)hd;
    s.seq = seq;
    s.batch = batch;
    s.kv_bits = (int)kvb;
    const char *kv = qs_cli_get(opts, n, "kv");
    if (kv && qs_mem_kv_bits(&s.kv_bits_per_value, kv, s.kv_heads, s.head_dim, s.seq))
        return qs_cli_fail("memory");
    qs_mem_report rep;
    if (qs_mem_compute(&rep, &s)) return qs_cli_fail("memory");
    if (qs_cli_get(opts, n, "json")) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "params", s.params);
        cJSON_AddNumberToObject(o, "bits", s.bits);
        cJSON_AddNumberToObject(o, "group", (double)s.group);
        cJSON_AddNumberToObject(o, "bits_per_weight", rep.bits_per_weight);
        cJSON_AddNumberToObject(o, "weight_bytes", rep.weight_bytes);
        cJSON_AddNumberToObject(o, "scale_bytes", rep.scale_bytes);
        cJSON_AddNumberToObject(o, "kv_bits_per_value", rep.kv_bits_per_value);
        cJSON_AddNumberToObject(o, "kv_bytes", rep.kv_bytes);
        cJSON_AddNumberToObject(o, "total_bytes", rep.total_bytes);
        qs_cli_print_json(o);
    } else {
        printf("weights   %.4g params x %d bits          = %10.4f GB\n", s.params, s.bits,
               rep.weight_bytes / 1e9);
        printf(
            "scales    one %d-bit scale per %ld weights = %10.4f GB  (%.4f bits/weight in all)\n",
            s.scale_bits + s.zero_point_bits, s.group, rep.scale_bytes / 1e9, rep.bits_per_weight);
        printf("KV cache  2 x %d layers x %d heads x %d x %ld tokens x %ld x %.4g bits = %.4f GiB"
               "%s%s\n",
               s.layers, s.kv_heads, s.head_dim, s.seq, s.batch, rep.kv_bits_per_value,
               rep.kv_bytes / (1 << 30) * 1.0, kv ? "  " : "", kv ? kv : "");
        printf("total     %.4f GB\n", rep.total_bytes / 1e9);
    }
    return 0;
}
