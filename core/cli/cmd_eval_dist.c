/* qscope eval MODEL TEXT --config A [--config B ...]: the configs as a distributed loop
 * (dist.h): one item per config and scope, under mpirun spread over the ranks, with
 * --shard I/N a slice of them, with --resume only those not yet in the -o file. One line
 * per row (or one JSON object with every row); a config that cannot run is a row with its
 * error (left out of the table) and the loop goes on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "eval_fields.h"
#include "result_tables.h"

typedef struct eval_sink {
    int json;
    cJSON *rows;
    long n_rows, n_err;
} eval_sink;

static int on_row(void *user, const void *row) {
    eval_sink *s = user;
    const qs_dist_eval_row *r = row;
    s->n_rows++;
    if (r->error[0]) s->n_err++;
    if (s->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "config", r->config);
        cJSON_AddStringToObject(o, "scope", r->scope);
        if (r->error[0]) {
            cJSON_AddStringToObject(o, "error", r->error);
        } else {
            qs_field f[QS_EVAL_NFIELDS];
            qs_eval_fields(&r->r, f);
            qs_cli_json_fields(o, f, QS_EVAL_NFIELDS);
        }
        cJSON_AddItemToArray(s->rows, o);
        return QS_OK;
    }
    const qs_kld_report *k = &r->r.kld;
    if (r->error[0])
        printf("%-36s %-18s error: %s\n", r->config, r->scope, r->error);
    else
        printf("%-36s %-18s %10.4f ± %-8.4f %9.4f %11.6f %8.2f%%\n", r->config, r->scope,
               k->ppl_q, k->ppl_q_se, k->ppl_ratio, k->kld_mean, 100 * k->top1);
    fflush(stdout); /* a row printed is a row written */
    return QS_OK;
}

int qs_cmd_eval_dist(qs_cli_opt *opts, int n, const char **pos, int argc, char **argv) {
    const qs_cli_opt *cfg_opt = NULL;
    for (int i = 0; i < n; i++)
        if (strcmp(opts[i].name, "config") == 0) cfg_opt = &opts[i];
    long threads = 0, calib_n = 8;
    qs_dist_opts dopt;
    if (qs_cli_int(opts, n, "threads", 1, 4096, &threads) ||
        qs_cli_int(opts, n, "calib-windows", 1, 1 << 20, &calib_n) ||
        qs_cli_dist_opts(opts, n, &dopt))
        return qs_cli_fail("eval");
    int nt = qs_cli_threads(threads);
    const char *attr = qs_cli_get(opts, n, "attribute");
    const char *out = qs_cli_get(opts, n, "output");
    if (dopt.shard_count && !out) {
        fprintf(stderr, "qscope eval: error: --shard needs -o FILE (each shard writes its own "
                        "file)\n");
        return 1;
    }
    qs_model *m;
    if (qs_model_load(&m, pos[0], qs_cli_get(opts, n, "tokenizer"))) return qs_cli_fail("eval");
    qs_text text = {0}, ctext = {0};
    qs_windows ws = {0}, cws = {0};
    int rc = qs_cli_text_windows(opts, n, m, pos[1], &text, &ws) ? QS_ERR_ARG : QS_OK;
    const char *cpath = qs_cli_get(opts, n, "calib");
    qs_dist_source src;
    if (rc == QS_OK && qs_cli_dist_source(opts, n, m, pos[1], &src)) rc = QS_ERR_ARG;
    qs_dist_calib cal = {cpath, src.utf8_policy, (int)calib_n, 1};
    if (rc == QS_OK && cpath) {
        qs_window_opts wo = src.wo;
        wo.doc_sep = NULL;
        wo.max_tokens = 0;
        rc = qs_text_load(&ctext, cpath, src.utf8_policy);
        if (rc == QS_OK) rc = qs_windows_build(&cws, m->tok, ctext.data, ctext.len, &wo);
        if (rc == QS_OK && cws.n > calib_n) cws.n = (int)calib_n;
    }
    /* static ranges come from --calib, else from the first --calib-windows windows of TEXT */
    qs_windows head = {ws.w, ws.n < calib_n ? ws.n : (int)calib_n, 0, 0, NULL};
    qs_dist_job *job = NULL;
    if (rc == QS_OK)
        rc = qs_dist_eval_job(&job, m, &ws, cfg_opt->values, cfg_opt->repeat_count, attr,
                              cpath ? &cws : &head, &cal, &src);
    int writer = qs_dist_rank() == 0;
    qs_h5 *h5 = NULL;
    qs_h5_table *table = NULL;
    char msha[65] = "", tsha[65] = "";
    if (rc == QS_OK && out && writer) {
        char params[512];
        snprintf(params, sizeof params,
                 "configs=%d; ctx=%d; score=%s; bos=%s; attribute=%s; calib=%s; calib_windows=%ld",
                 cfg_opt->repeat_count, ws.n ? ws.w[0].n : 0, qs_cli_get(opts, n, "score"),
                 qs_cli_get(opts, n, "bos"), attr ? attr : "none", cpath ? cpath : "text", calib_n);
        rc = qs_cli_h5_open(&h5, out, "eval", argc, argv, m, pos[1], params, nt);
        if (rc == QS_OK) rc = qs_restable_ppl_open(&table, h5, qs_cli_get(opts, n, "name"));
        if (rc == QS_OK) rc = qs_cli_dist_identity(h5, msha, tsha);
    }
    int json = qs_cli_get(opts, n, "json") != NULL;
    eval_sink s = {json, json ? cJSON_CreateArray() : NULL, 0, 0};
    if (rc == QS_OK && writer && !json)
        printf("%-36s %-18s %10s   %-8s %9s %11s %9s\n", "config", "scope", "PPL(Q)", "± se",
               "ratio", "KLD mean", "top-1");
    char path[256];
    snprintf(path, sizeof path, "ppl/%s", qs_cli_get(opts, n, "name"));
    qs_dist_out dout = {h5, table, path, msha, tsha, on_row, &s};
    qs_dist_report rep;
    if (rc == QS_OK) rc = qs_dist_run(job, &dopt, &dout, &rep);
    if (rc == QS_OK && writer && json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", m->path);
        cJSON_AddStringToObject(o, "text", pos[1]);
        cJSON_AddNumberToObject(o, "items", rep.items_total);
        cJSON_AddNumberToObject(o, "items_skipped", rep.items_skipped);
        cJSON_AddNumberToObject(o, "n_rows", (double)s.n_rows);
        cJSON_AddNumberToObject(o, "n_errors", (double)s.n_err);
        cJSON_AddItemToObject(o, "rows", s.rows);
        s.rows = NULL;
        qs_cli_print_json(o);
    }
    cJSON_Delete(s.rows);
    int rc2 = qs_h5_table_close(table);
    int rc3 = qs_h5_close(h5);
    if (rc == QS_OK) rc = rc2 ? rc2 : rc3;
    if (rc == QS_OK && writer && out)
        fprintf(stderr, "appended %ld rows to %s (ppl/%s)\n", rep.rows_written, out,
                qs_cli_get(opts, n, "name"));
    if (rc == QS_OK && writer && s.n_err)
        fprintf(stderr, "qscope eval: %ld of %ld configurations could not run (their rows say "
                        "why)\n",
                s.n_err, s.n_rows);
    qs_dist_job_free(job);
    qs_windows_free(&ws);
    qs_windows_free(&cws);
    qs_text_free(&text);
    qs_text_free(&ctext);
    qs_model_free(m);
    return rc ? qs_cli_fail("eval") : 0;
}
