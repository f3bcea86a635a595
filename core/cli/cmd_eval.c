/* qscope eval MODEL TEXT --config "W8A8 per-token": the full-precision and the quantized
 * model on the same windows in one pass; perplexity ratio and KL divergence statistics,
 * optionally attributed to one site or one layer at a time.
 * qscope eval BASE QUANT TEXT: the same report for a quantized file against its base (two
 * models of one shape and tokenizer, e.g. a GGUF Q4_K_M against the bf16 original). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "eval.h"
#include "eval_fields.h"
#include "result_tables.h"

static void print_report(const char *label, const qs_eval_result *r) {
    const qs_kld_report *k = &r->kld;
    printf("== %s: %ld scored tokens, %d windows, %.1f s\n", label, k->n, r->n_windows, r->seconds);
    printf("PPL(Q)       %10.4f ± %.4f\n", k->ppl_q, k->ppl_q_se);
    printf("PPL(base)    %10.4f ± %.4f\n", k->ppl_base, k->ppl_base_se);
    printf("PPL ratio    %10.4f ± %.4f   ln ratio %.6f ± %.6f\n", k->ppl_ratio, k->ppl_ratio_se,
           k->ln_ratio, k->ln_ratio_se);
    printf("mean KLD     %10.6f ± %.6f\n", k->kld_mean, k->kld_se);
    for (int i = 0; i < QS_KLD_NPCT; i++)
        printf("  KLD %-7s %10.6f\n", qs_kld_pct_names[i], k->kld_pct[i]);
    printf("mean Δp      %9.4f%% ± %.4f%%\n", 100 * k->dp_mean, 100 * k->dp_se);
    for (int i = 0; i < QS_KLD_NPCT; i++)
        printf("  Δp %-8s %9.4f%%\n", qs_kld_pct_names[i], 100 * k->dp_pct[i]);
    printf("RMS Δp       %9.4f%% ± %.4f%%\n", 100 * k->dp_rms, 100 * k->dp_rms_se);
    printf("same top-1   %9.4f%% ± %.4f%%   top-5 overlap %.4f%%\n", 100 * k->top1,
           100 * k->top1_se, 100 * k->top5);
    if (r->w.n_tensors)
        printf("weights      %d matrices, %.4f bits/value stored, SQNR %.2f dB\n", r->w.n_tensors,
               r->w.bits_per_value,
               10 * log10(r->w.sum_sq_ref / (r->w.sum_sq_err > 0 ? r->w.sum_sq_err : 1e-300)));
    if (r->a_calls)
        printf("activations  %ld quantized tensors, %.4f bits/value, %ld values clipped\n",
               r->a_calls, r->a_bits_per_value, r->a_clipped);
    if (r->kv_bits_per_value != 16.0 || r->kv_clipped)
        printf("KV cache     %.4f bits/value, %ld values clipped\n", r->kv_bits_per_value,
               r->kv_clipped);
    if (r->has_alpha) printf("remedy alpha %.4g (smooth/awq exponent)\n", r->remedy_alpha);
    if (r->a_wide_cols_frac > 0)
        printf("decomposed   %.3f%% of activation columns (%.3f%% of values) in full precision\n",
               100 * r->a_wide_cols_frac, 100 * r->a_wide_values_frac);
}

static cJSON *report_json(const qs_eval_result *r) {
    qs_field f[QS_EVAL_NFIELDS];
    qs_eval_fields(r, f);
    cJSON *o = cJSON_CreateObject();
    qs_cli_json_fields(o, f, QS_EVAL_NFIELDS);
    return o;
}

/* BASE QUANT TEXT: the report for a quantized file against its base. */
static int eval_pair(const qs_cli_opt *opts, int n, const char **pos, int argc, char **argv) {
    if (qs_cli_get(opts, n, "config") || qs_cli_get(opts, n, "attribute") ||
        qs_cli_get(opts, n, "calib")) {
        fprintf(stderr, "qscope eval: error: with BASE QUANT TEXT the quantization is QUANT's own: "
                        "--config, --attribute and --calib apply to MODEL TEXT\n");
        return 1;
    }
    long threads = 0;
    if (qs_cli_int(opts, n, "threads", 1, 4096, &threads)) return qs_cli_fail("eval");
    qs_cli_threads(threads);
    const char *tok = qs_cli_get(opts, n, "tokenizer");
    qs_model *base = NULL, *quant = NULL;
    if (qs_model_load(&base, pos[0], tok) || qs_model_load(&quant, pos[1], tok)) {
        qs_model_free(base);
        return qs_cli_fail("eval");
    }
    qs_text text;
    qs_windows ws;
    if (qs_cli_text_windows(opts, n, base, pos[2], &text, &ws)) {
        qs_model_free(base);
        qs_model_free(quant);
        return qs_cli_fail("eval");
    }
    int rc = qs_eval_pair_check(base, quant, text.data, text.len);
    qs_eval_result res;
    if (rc == QS_OK) rc = qs_eval_pair(base, quant, &ws, &res);
    /* the rows name the quantized file where a config would go */
    char wname[160];
    const char *slash = strrchr(quant->path, '/');
    snprintf(wname, sizeof wname, "file:%.150s", slash && slash[1] ? slash + 1 : quant->path);
    const char *out = qs_cli_get(opts, n, "output");
    if (rc == QS_OK && out) {
        qs_h5 *h5 = NULL;
        qs_h5_table *table = NULL;
        char params[8300];
        snprintf(params, sizeof params, "base=%.4090s; quant=%.4090s; ctx=%d", base->path,
                 quant->path, ws.n ? ws.w[0].n : 0);
        rc = qs_cli_h5_open(&h5, out, "eval", argc, argv, quant, pos[2], params, qs_cli_threads(0));
        if (rc == QS_OK) rc = qs_restable_ppl_open(&table, h5, qs_cli_get(opts, n, "name"));
        if (rc == QS_OK) rc = qs_restable_ppl_append_named(table, wname, "A16", wname, "all", &res);
        int rc2 = qs_h5_table_close(table), rc3 = qs_h5_close(h5);
        if (rc == QS_OK) rc = rc2 ? rc2 : rc3;
        if (rc == QS_OK)
            fprintf(stderr, "appended results to %s (ppl/%s)\n", out, qs_cli_get(opts, n, "name"));
    }
    if (rc == QS_OK) {
        if (qs_cli_get(opts, n, "json")) {
            cJSON *root = cJSON_CreateObject();
            cJSON_AddStringToObject(root, "base", base->path);
            cJSON_AddStringToObject(root, "quant", quant->path);
            cJSON_AddStringToObject(root, "text", pos[2]);
            cJSON_AddStringToObject(root, "config", wname);
            cJSON_AddItemToObject(root, "result", report_json(&res));
            qs_cli_print_json(root);
        } else {
            char label[8300];
            snprintf(label, sizeof label, "%.4090s against %.4090s", quant->path, base->path);
            print_report(label, &res);
            qs_cli_memory_print(stdout);
        }
    }
    qs_windows_free(&ws);
    qs_text_free(&text);
    qs_model_free(base);
    qs_model_free(quant);
    return rc ? qs_cli_fail("eval") : 0;
}

int qs_cmd_eval(int argc, char **argv) {
    qs_cli_opt opts[] = {
        {"config", "NAME",
         "quantization config (repeatable: a list evaluated as one loop), e.g. \"W8A8 per-token\", \"W4A16 g128 mse\", \"W4A4 mxfp4\", "
         "\"W16A16 KV4 per-channel-k\""},
        {"tokenizer", "FILE", "tokenizer file"},
        QS_CLI_WINDOW_OPTS,
        {"attribute", "sites|layers",
         "also quantize one site (or one layer) at a time and tabulate ΔKLD/ΔPPL"},
        {"calib", "TEXT",
         "calibration text for static activation ranges (default: TEXT's first windows)"},
        {"calib-windows", "N", "calibration windows", "8"},
        {"threads", "N", "threads (default: all cores)"},
        {"output", "FILE", "append result rows to this HDF5 file (-o), table /runs/<n>/ppl/NAME"},
        {"name", "NAME", "table name in the HDF5 file", "eval"},
        {"json", NULL, "print one JSON object on stdout"},
        QS_CLI_DIST_OPTS,
    };
    const int n = QS_COUNT(opts);
    const char *pos[3];
    int n_pos;
    int r = qs_cli_parse(argc, argv, "eval",
                         "MODEL TEXT --config NAME [options] | BASE QUANT TEXT [options]", opts, n,
                         pos, 3, &n_pos);
    if (r) return r == 2 ? 0 : 1;
    /* one evaluation: under MPI rank 0 alone runs it */
    if (n_pos == 3) return qs_dist_rank() == 0 ? eval_pair(opts, n, pos, argc, argv) : 0;
    if (n_pos != 2 || !qs_cli_get(opts, n, "config")) {
        fprintf(stderr, "qscope eval: error: expected MODEL TEXT and --config NAME, or BASE QUANT "
                        "TEXT (see --help)\n");
        return 1;
    }
    /* several configs, a shard, --resume or MPI ranks: a distributed loop (cmd_eval_dist.c) */
    qs_dist_opts dopt;
    if (qs_cli_dist_opts(opts, n, &dopt)) return qs_cli_fail("eval");
    if (opts[0].repeat_count > 1 || qs_cli_dist_wanted(&dopt))
        return qs_cmd_eval_dist(opts, n, pos, argc, argv);
    long threads = 0, calib_n = 8;
    if (qs_cli_int(opts, n, "threads", 1, 4096, &threads) ||
        qs_cli_int(opts, n, "calib-windows", 1, 1 << 20, &calib_n))
        return qs_cli_fail("eval");
    qs_cli_threads(threads);
    qs_quant_config cfg;
    if (qs_quant_config_parse(&cfg, qs_cli_get(opts, n, "config"))) return qs_cli_fail("eval");
    char canon[256];
    if (qs_quant_config_format(canon, sizeof canon, &cfg)) return qs_cli_fail("eval");
    const char *attr = qs_cli_get(opts, n, "attribute");
    if (attr && strcmp(attr, "sites") != 0 && strcmp(attr, "layers") != 0) {
        fprintf(stderr, "qscope eval: error: --attribute '%s' must be sites or layers\n", attr);
        return 1;
    }
    qs_model *m;
    if (qs_model_load(&m, pos[0], qs_cli_get(opts, n, "tokenizer"))) return qs_cli_fail("eval");
    qs_text text, ctext = {0};
    qs_windows ws, cws = {0};
    if (qs_cli_text_windows(opts, n, m, pos[1], &text, &ws)) {
        qs_model_free(m);
        return qs_cli_fail("eval");
    }
    int rc = QS_OK;
    const char *cpath = qs_cli_get(opts, n, "calib");
    if (cpath) {
        qs_window_opts wo;
        int utf8;
        rc = qs_cli_window_opts(opts, n, m, &wo, &utf8) ? QS_ERR_ARG : QS_OK;
        wo.doc_sep = NULL;
        wo.max_tokens = 0;
        if (rc == QS_OK) rc = qs_text_load(&ctext, cpath, utf8);
        if (rc == QS_OK) rc = qs_windows_build(&cws, m->tok, ctext.data, ctext.len, &wo);
        if (rc == QS_OK && cws.n > calib_n) cws.n = (int)calib_n;
    }
    /* static ranges come from --calib, else from the first --calib-windows windows of TEXT */
    qs_windows head = {ws.w, ws.n < calib_n ? ws.n : (int)calib_n, 0, 0, NULL};
    const qs_windows *calib = cpath ? &cws : &head;
    int json = qs_cli_get(opts, n, "json") != NULL;
    cJSON *root = json ? cJSON_CreateObject() : NULL;
    const char *out = qs_cli_get(opts, n, "output");
    qs_h5 *h5 = NULL;
    qs_h5_table *table = NULL;
    if (rc == QS_OK && out) {
        char params[512];
        snprintf(params, sizeof params,
                 "config=%s; ctx=%d; score=%s; bos=%s; attribute=%s; calib=%s; calib_windows=%ld",
                 canon, ws.n ? ws.w[0].n : 0, qs_cli_get(opts, n, "score"),
                 qs_cli_get(opts, n, "bos"), attr ? attr : "none", cpath ? cpath : "text", calib_n);
        rc = qs_cli_h5_open(&h5, out, "eval", argc, argv, m, pos[1], params, qs_cli_threads(0));
        if (rc == QS_OK) rc = qs_restable_ppl_open(&table, h5, qs_cli_get(opts, n, "name"));
    }
    qs_eval_result res;
    if (rc == QS_OK) rc = qs_eval(m, &ws, &cfg, QS_SITE_ALL, calib, &res);
    if (rc == QS_OK && table) rc = qs_restable_ppl_append(table, &cfg, "all", &res);
    if (rc == QS_OK) {
        if (json) {
            cJSON_AddStringToObject(root, "model", m->path);
            cJSON_AddStringToObject(root, "text", pos[1]);
            cJSON_AddStringToObject(root, "config", canon);
            cJSON_AddItemToObject(root, "result", report_json(&res));
        } else {
            print_report(canon, &res);
            if (!attr) qs_cli_memory_print(stdout);
        }
    }
    qs_quant_config run_cfg = cfg; /* what the attribution runs: a searched exponent fixed */
    if (rc == QS_OK) qs_eval_fix_search(&run_cfg, &res);
    if (rc == QS_OK && attr) {
        /* one site (or layer) at a time: its activations and the weights that read them */
        int by_site = strcmp(attr, "sites") == 0;
        int count = by_site ? QS_SITE_COUNT : m->cfg.n_layers;
        cJSON *arr = json ? cJSON_AddArrayToObject(root, "attribution") : NULL;
        if (!json)
            printf("\n== attribution by %s: %s applied to one at a time\n%-16s %12s %12s %12s\n",
                   by_site ? "site" : "layer", canon, by_site ? "site" : "layer", "ΔKLD", "PPL(Q)",
                   "ΔPPL");
        for (int i = 0; i < count && rc == QS_OK; i++) {
            qs_quant_config one;
            unsigned mask;
            if (!qs_eval_attribution_config(&one, &mask, &run_cfg, by_site, i)) continue;
            qs_eval_result part;
            rc = qs_eval(m, &ws, &one, mask, calib, &part);
            if (rc) break;
            char label[32], scope[48];
            if (by_site)
                snprintf(label, sizeof label, "%s", qs_site_name(i));
            else
                snprintf(label, sizeof label, "%d", i);
            snprintf(scope, sizeof scope, "%s:%s", by_site ? "site" : "layer", label);
            /* the row names the configuration asked for; scope says which part ran */
            if (table && (rc = qs_restable_ppl_append(table, &cfg, scope, &part))) break;
            if (json) {
                cJSON *o = report_json(&part);
                cJSON_AddStringToObject(o, by_site ? "site" : "layer", label);
                cJSON_AddItemToArray(arr, o);
            } else {
                printf("%-16s %12.6f %12.4f %+12.4f\n", label, part.kld.kld_mean, part.kld.ppl_q,
                       part.kld.ppl_q - part.kld.ppl_base);
            }
        }
    }
    if (json && rc == QS_OK)
        qs_cli_print_json(root);
    else
        cJSON_Delete(root);
    int rc2 = qs_h5_table_close(table);
    int rc3 = qs_h5_close(h5);
    if (rc == QS_OK) rc = rc2 ? rc2 : rc3;
    if (rc == QS_OK && out)
        fprintf(stderr, "appended results to %s (ppl/%s)\n", out, qs_cli_get(opts, n, "name"));
    qs_windows_free(&ws);
    qs_windows_free(&cws);
    qs_text_free(&text);
    qs_text_free(&ctext);
    qs_model_free(m);
    return rc ? qs_cli_fail("eval") : 0;
}
