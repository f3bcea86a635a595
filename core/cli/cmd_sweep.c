/* qscope sweep MODEL [TEXT]: the reconstruction error of every quantizer configuration
 * (bits × scheme × granularity × clip) on every linear weight and, with TEXT, on every
 * activation site × layer of captured tokens. Rows print as a table (or --rows), go to
 * one JSON object with --json, and are appended to an HDF5 table with -o as each finishes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "progress.h"
#include "remedy.h"
#include "result_tables.h"
#include "sweep.h"

/* The mean over tensors of one configuration on one target. */
typedef struct summary {
    const char *target;
    int bits, scheme, gran, group, clip;
    double clip_value, bits_per_value;
    int n, n_err;
    double sqnr_sum, sqnr_min, levels_sum;
    long clipped;
} summary;

typedef struct sink {
    int print_rows, json;
    cJSON *rows;
    qs_h5_table *table;
    summary *sum;
    int n_sum, cap_sum;
    long n_rows, n_err;
    long act_rows; /* rows of the activation matrices: the tokens captured */
    int dist; /* the distribution layer writes the table */
} sink;

static void config_label(char *buf, size_t n, const qs_sweep_row *r) {
    char g[32], c[32];
    if (r->gran == QS_SWEEP_GROUP)
        snprintf(g, sizeof g, "group:%d", r->group);
    else
        snprintf(g, sizeof g, "%s", qs_sweep_gran_name(r->gran));
    if (r->clip == QS_QUANT_PERCENTILE)
        snprintf(c, sizeof c, "percentile:%g", r->clip_value);
    else
        snprintf(c, sizeof c, "%s", qs_quant_clip_name(r->clip));
    snprintf(buf, n, "%d-bit %-10s %-10s %s", r->bits, qs_quant_scheme_name(r->scheme), g, c);
}

static summary *find_summary(sink *s, const qs_sweep_row *r) {
    for (int i = 0; i < s->n_sum; i++) {
        summary *m = &s->sum[i];
        if (strcmp(m->target, r->target) == 0 && m->bits == r->bits && m->scheme == r->scheme &&
            m->gran == r->gran && m->group == r->group && m->clip == r->clip &&
            m->clip_value == r->clip_value)
            return m;
    }
    if (s->n_sum == s->cap_sum) {
        int cap = s->cap_sum ? 2 * s->cap_sum : 64;
        summary *g = realloc(s->sum, (size_t)cap * sizeof *g);
        if (!g) return NULL;
        s->sum = g;
        s->cap_sum = cap;
    }
    summary *m = &s->sum[s->n_sum++];
    *m = (summary){r->target, r->bits, r->scheme, r->gran, r->group, r->clip, r->clip_value,
                   0,         0,       0,         0,       INFINITY, 0,       0};
    return m;
}

static cJSON *row_json(const qs_sweep_row *r) {
    qs_field f[QS_SWEEP_NFIELDS];
    qs_sweep_row_fields(r, f);
    cJSON *o = cJSON_CreateObject();
    qs_cli_json_fields(o, f, QS_SWEEP_NFIELDS);
    return o;
}

static int on_row(void *user, const qs_sweep_row *r) {
    sink *s = user;
    s->n_rows++;
    if (r->target[0] == 'a' && r->rows > s->act_rows) s->act_rows = r->rows;
    if (s->table && !s->dist) {
        int rc = qs_restable_sweep_append(s->table, r);
        if (rc) return rc;
    }
    if (s->json) cJSON_AddItemToArray(s->rows, row_json(r));
    summary *m = find_summary(s, r);
    if (!m) return qs_error_set(QS_ERR_NOMEM, "out of memory for the summary");
    if (r->error[0]) {
        m->n_err++;
        s->n_err++;
    } else {
        m->n++;
        double q = r->err.sqnr_db;
        if (isfinite(q)) {
            m->sqnr_sum += q;
            m->sqnr_min = q < m->sqnr_min ? q : m->sqnr_min;
        }
        m->levels_sum += r->levels_mean;
        m->bits_per_value += r->bits_per_value;
        m->clipped += r->n_clipped;
    }
    FILE *f = s->json ? stderr : stdout;
    if (s->print_rows && s->dist) fflush(f); /* a row printed is a row written */
    if (s->print_rows) {
        char label[96];
        config_label(label, sizeof label, r);
        if (r->error[0])
            fprintf(f, "%-10s %-12s %3d  %-44s error: %s\n", r->target, r->tensor, r->layer, label,
                    r->error);
        else
            fprintf(f, "%-10s %-12s %3d  %-44s %11.4e %8.2f %10.4e %7.3f %7.2f\n", r->target,
                    r->tensor, r->layer, label, r->err.mse, r->err.sqnr_db, r->err.max_abs_err,
                    r->bits_per_value, r->levels_mean);
    }
    return QS_OK;
}

static int on_dist_row(void *user, const void *r) { return on_row(user, r); }

static void print_summary(FILE *f, const sink *s) {
    fprintf(f, "\n%-10s %-44s %7s %9s %9s %8s %8s %7s\n", "target", "configuration", "tensors",
            "SQNR dB", "min dB", "bits/v", "levels", "errors");
    for (int i = 0; i < s->n_sum; i++) {
        const summary *m = &s->sum[i];
        qs_sweep_row r = {0};
        r.bits = m->bits, r.scheme = m->scheme, r.gran = m->gran, r.group = m->group;
        r.clip = m->clip, r.clip_value = m->clip_value;
        char label[96];
        config_label(label, sizeof label, &r);
        if (m->n == 0) {
            fprintf(f, "%-10s %-44s %7d %9s %9s %8s %8s %7d\n", m->target, label, 0, "-", "-", "-",
                    "-", m->n_err);
            continue;
        }
        fprintf(f, "%-10s %-44s %7d %9.2f %9.2f %8.3f %8.2f %7d\n", m->target, label, m->n,
                m->sqnr_sum / m->n, m->sqnr_min, m->bits_per_value / m->n, m->levels_sum / m->n,
                m->n_err);
    }
}

static cJSON *summary_json(const sink *s) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < s->n_sum; i++) {
        const summary *m = &s->sum[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "target", m->target);
        cJSON_AddNumberToObject(o, "bits", m->bits);
        cJSON_AddStringToObject(o, "scheme", qs_quant_scheme_name(m->scheme));
        cJSON_AddStringToObject(o, "granularity", qs_sweep_gran_name(m->gran));
        cJSON_AddNumberToObject(o, "group", m->group);
        cJSON_AddStringToObject(o, "clip", qs_quant_clip_name(m->clip));
        cJSON_AddNumberToObject(o, "clip_value", m->clip_value);
        cJSON_AddNumberToObject(o, "tensors", m->n);
        cJSON_AddNumberToObject(o, "errors", m->n_err);
        if (m->n) {
            cJSON_AddNumberToObject(o, "sqnr_db_mean", m->sqnr_sum / m->n);
            if (isfinite(m->sqnr_min)) cJSON_AddNumberToObject(o, "sqnr_db_min", m->sqnr_min);
            cJSON_AddNumberToObject(o, "bits_per_value", m->bits_per_value / m->n);
            cJSON_AddNumberToObject(o, "levels_mean", m->levels_sum / m->n);
        }
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

int qs_cmd_sweep(int argc, char **argv) {
    qs_cli_opt opts[] = {
        {"bits", "LIST", "bit widths, 2..8", "8,6,4,3"},
        {"gran", "LIST", "granularities: tensor, channel, token (activations), group:G",
         "tensor,channel,group:32,group:128"},
        {"clip", "LIST", "clipping: absmax, mse, percentile:P", "absmax,mse,percentile:99.9"},
        {"scheme", "LIST",
         "symmetric, affine, fp8_e4m3, fp8_e5m2, mxfp8, mxfp6_e3m2, mxfp6_e2m3, mxfp4, nvfp4 (a "
         "format runs at its own bits)",
         "symmetric"},
        {"sites", "LIST", "sites swept: weights that read them, activations at them (or all)",
         "attn_in,attn_o_in,ffn_in,ffn_down_in"},
        {"targets", "LIST", "weights, activations (activations need TEXT)", "weights,activations"},
        {"tokens", "N", "activation tokens captured per site and layer", "1024"},
        {"fp32-scales", NULL, "keep scales in fp32 (default: rounded to fp16)"},
        {"remedy", "WORDS",
         "remedies applied first: rotate, smooth:A, awq:A (folded into the model), decompose[:T] "
         "(activation rows)"},
        {"calib", "TEXT", "calibration text for smooth/awq (default: TEXT's first windows)"},
        {"calib-windows", "N", "calibration windows", "8"},
        {"tokenizer", "FILE", "tokenizer file"},
        QS_CLI_WINDOW_OPTS,
        {"rows", NULL, "print every row, not only the summary per configuration"},
        {"output", "FILE", "append the rows to this HDF5 file (-o), table /runs/<n>/sweeps/NAME"},
        {"name", "NAME", "table name in the HDF5 file", "sweep"},
        {"threads", "N", "threads (default: all cores; under MPI, shared among a host's ranks)"},
        {"json", NULL, "print one JSON object with every row on stdout"},
        QS_CLI_DIST_OPTS,
    };
    const int n = QS_COUNT(opts);
    const char *pos[2];
    int n_pos;
    int r = qs_cli_parse(argc, argv, "sweep", "MODEL [TEXT] [options]", opts, n, pos, 2, &n_pos);
    if (r) return r == 2 ? 0 : 1;
    if (n_pos < 1) {
        fprintf(stderr, "qscope sweep: error: expected MODEL [TEXT] (see --help)\n");
        return 1;
    }
    qs_sweep_opts so;
    qs_sweep_opts_default(&so);
    long threads = 0, tokens = 1024, calib_n = 8;
    if (qs_sweep_parse_bits(&so, qs_cli_get(opts, n, "bits")) ||
        qs_sweep_parse_grans(&so, qs_cli_get(opts, n, "gran")) ||
        qs_sweep_parse_clips(&so, qs_cli_get(opts, n, "clip")) ||
        qs_sweep_parse_schemes(&so, qs_cli_get(opts, n, "scheme")) ||
        qs_cli_int(opts, n, "threads", 1, 4096, &threads) ||
        qs_cli_int(opts, n, "tokens", 1, 1L << 20, &tokens) ||
        qs_cli_int(opts, n, "calib-windows", 1, 1 << 20, &calib_n))
        return qs_cli_fail("sweep");
    qs_remedy remedy;
    if (qs_sweep_remedy_parse(&so, &remedy, qs_cli_get(opts, n, "remedy")))
        return qs_cli_fail("sweep");
    qs_dist_opts dopt;
    if (qs_cli_dist_opts(opts, n, &dopt)) return qs_cli_fail("sweep");
    if (qs_site_mask_parse(qs_cli_get(opts, n, "sites"), &so.site_mask)) {
        qs_error_prefix(QS_ERR_ARG, "--sites");
        return qs_cli_fail("sweep");
    }
    const char *targets = qs_cli_get(opts, n, "targets");
    so.weights = strstr(targets, "weights") != NULL;
    so.activations = strstr(targets, "activations") != NULL;
    if (strcmp(targets, "weights") && strcmp(targets, "activations") &&
        strcmp(targets, "weights,activations") && strcmp(targets, "activations,weights")) {
        fprintf(stderr,
                "qscope sweep: error: --targets '%s' must be weights, activations or both\n",
                targets);
        return 1;
    }
    if (so.activations && n_pos < 2) {
        if (strcmp(targets, "activations") == 0) {
            fprintf(stderr, "qscope sweep: error: --targets activations needs TEXT\n");
            return 1;
        }
        so.activations = 0; /* no text: weights only */
    }
    so.tokens = tokens;
    so.fp32_scales = qs_cli_get(opts, n, "fp32-scales") != NULL;
    int nt = qs_cli_threads(threads);
    int json = qs_cli_get(opts, n, "json") != NULL;

    qs_model *m;
    if (qs_model_load(&m, pos[0], qs_cli_get(opts, n, "tokenizer"))) return qs_cli_fail("sweep");
    qs_text text = {0};
    qs_windows ws = {0};
    qs_sweep_capture cap = {0};
    sink s = {0};
    s.json = json;
    s.print_rows = qs_cli_get(opts, n, "rows") != NULL;
    s.rows = cJSON_CreateArray();
    qs_h5 *h5 = NULL;
    int rc = QS_OK;
    if ((so.activations || remedy.smooth || remedy.awq) && n_pos >= 2 &&
        qs_cli_text_windows(opts, n, m, pos[1], &text, &ws))
        rc = QS_ERR_ARG;
    /* remedies that keep the function: the sweep runs on the transformed model */
    qs_model *tm = NULL;
    qs_text ctext = {0};
    qs_windows cws = {0};
    if (rc == QS_OK && (remedy.rotate || remedy.smooth || remedy.awq)) {
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
        qs_windows head = {ws.w, ws.n < calib_n ? ws.n : (int)calib_n, 0, 0, NULL};
        qs_quant_config rc_cfg;
        qs_quant_config_default(&rc_cfg);
        rc_cfg.remedy = remedy;
        if (rc == QS_OK && (remedy.smooth || remedy.awq) && !cpath && n_pos < 2)
            rc = qs_error_set(QS_ERR_ARG, "--remedy smooth/awq needs TEXT or --calib");
        if (rc == QS_OK) rc = qs_remedy_transform(&tm, m, &rc_cfg, cpath ? &cws : &head, NULL);
        if (rc == QS_OK) {
            qs_model *t = m; /* the sweep reads the transformed model from here on */
            m = tm;
            tm = t;
        }
    }
    const char *out = qs_cli_get(opts, n, "output");
    /* with -o the rows go through the distribution layer, which records where each came
     * from, so that a run cut short can be resumed */
    s.dist = out || qs_cli_dist_wanted(&dopt);
    int writer = qs_dist_rank() == 0;
    if (rc == QS_OK && dopt.shard_count && !out)
        rc = qs_error_set(QS_ERR_ARG, "--shard needs -o FILE (each shard writes its own file)");
    if (rc == QS_OK && out && writer) {
        char params[512];
        snprintf(
            params, sizeof params,
            "bits=%s; gran=%s; clip=%s; scheme=%s; sites=%s; targets=%s; tokens=%ld; scales=%s; "
            "remedy=%s",
            qs_cli_get(opts, n, "bits"), qs_cli_get(opts, n, "gran"), qs_cli_get(opts, n, "clip"),
            qs_cli_get(opts, n, "scheme"), qs_cli_get(opts, n, "sites"), targets, tokens,
            so.fp32_scales ? "fp32" : "fp16",
            qs_cli_get(opts, n, "remedy") ? qs_cli_get(opts, n, "remedy") : "none");
        rc = qs_cli_h5_open(&h5, out, "sweep", argc, argv, m, so.activations ? pos[1] : NULL,
                            params, nt);
        if (rc == QS_OK) rc = qs_restable_sweep_open(&s.table, h5, qs_cli_get(opts, n, "name"));
    }
    if (rc == QS_OK && s.print_rows && writer)
        fprintf(json ? stderr : stdout, "%-10s %-12s %3s  %-44s %11s %8s %10s %7s %7s\n", "target",
                "tensor", "lyr", "configuration", "mse", "SQNR dB", "max err", "bits/v", "levels");
    double t0 = qs_now();
    if (rc == QS_OK && s.dist) {
        qs_dist_source src;
        qs_dist_job *job = NULL;
        char msha[65] = "", tsha[65] = "";
        const char *tp = so.activations ? pos[1] : NULL;
        if (qs_cli_dist_source(opts, n, m, tp, &src)) rc = QS_ERR_ARG;
        /* remedies change the model after loading: every rank folds them in alike (they
         * run this same command), and the rows' identity says so */
        char note[1024];
        if (tm) {
            snprintf(note, sizeof note, "remedy=%s; calib=%s; calib_windows=%ld",
                     qs_cli_get(opts, n, "remedy"),
                     qs_cli_get(opts, n, "calib") ? qs_cli_get(opts, n, "calib") : "text", calib_n);
            src.model_note = note;
        }
        if (rc == QS_OK && h5) rc = qs_cli_dist_identity(h5, msha, tsha);
        if (rc == QS_OK) rc = qs_dist_sweep_job(&job, m, so.activations ? &ws : NULL, &so, &src);
        char path[256];
        snprintf(path, sizeof path, "sweeps/%s", qs_cli_get(opts, n, "name"));
        qs_dist_out dout = {h5, s.table, path, msha, tsha, on_dist_row, &s};
        if (rc == QS_OK) rc = qs_dist_run(job, &dopt, &dout, NULL);
        qs_dist_job_free(job);
    }
    if (rc == QS_OK && !s.dist && so.weights) rc = qs_sweep_weights(m, &so, on_row, &s);
    if (rc == QS_OK && !s.dist && so.activations) {
        rc = qs_sweep_capture_run(&cap, m, &ws, so.site_mask, tokens);
        if (rc == QS_OK) rc = qs_sweep_activations(&cap, &so, on_row, &s);
    }
    double secs = qs_now() - t0;
    if (rc == QS_OK && writer) {
        long captured = 0;
        for (int i = 0; i < QS_SITE_COUNT; i++)
            captured = cap.rows[i] > captured ? cap.rows[i] : captured;
        if (s.act_rows > captured) captured = s.act_rows;
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "model", m->path);
            if (so.activations) cJSON_AddStringToObject(o, "text", pos[1]);
            cJSON_AddNumberToObject(o, "tokens_captured", (double)captured);
            cJSON_AddNumberToObject(o, "n_rows", (double)s.n_rows);
            cJSON_AddNumberToObject(o, "n_errors", (double)s.n_err);
            cJSON_AddNumberToObject(o, "seconds", secs);
            cJSON_AddItemToObject(o, "summary", summary_json(&s));
            cJSON_AddItemToObject(o, "rows", s.rows);
            s.rows = NULL;
            qs_cli_print_json(o);
        } else {
            printf("%s: %ld rows (%ld failed configurations) in %.1f s", m->path, s.n_rows, s.n_err,
                   secs);
            if (so.activations) printf("; %ld tokens captured per site and layer", captured);
            printf("\n");
            print_summary(stdout, &s);
        }
        if (out)
            fprintf(stderr, "appended %ld rows to %s (run %d, sweeps/%s)\n", s.n_rows, out,
                    qs_h5_run(h5), qs_cli_get(opts, n, "name"));
    }
    cJSON_Delete(s.rows);
    free(s.sum);
    int rc2 = qs_h5_table_close(s.table);
    int rc3 = qs_h5_close(h5);
    if (rc == QS_OK) rc = rc2 ? rc2 : rc3;
    qs_sweep_capture_free(&cap);
    qs_windows_free(&ws);
    qs_text_free(&text);
    qs_model_free(m);
    qs_model_free(tm);
    qs_windows_free(&cws);
    qs_text_free(&ctext);
    return rc ? qs_cli_fail("sweep") : 0;
}
