/* qscope profile MODEL TEXT -o results.h5: activation statistics at the capture sites,
 * persistent outlier channels, token-wise outliers, weight statistics, optional raw dumps;
 * a summary on the terminal and everything in a new run of the HDF5 file.
 * Every option is checked before the file is opened, so bad input writes nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "profile_engine.h"
#include "profile_report.h"

/* "site,layer,max_tokens"; the engine checks the layer against the model and the selection */
static int parse_dump(const char *s, qs_profile_dump *d) {
    char site[32];
    long layer, n;
    int used = 0;
    if (sscanf(s, "%31[^,],%ld,%ld%n", site, &layer, &n, &used) != 3 || s[used] != '\0')
        return qs_error_set(QS_ERR_ARG, "--dump '%s' must be site,layer,max_tokens", s);
    d->site = qs_site_from_name(site);
    if (d->site < 0) return qs_error_set(QS_ERR_ARG, "--dump '%s': unknown site '%s'", s, site);
    if (layer < 0 || layer > QS_LAYER_MAX)
        return qs_error_set(QS_ERR_ARG, "--dump '%s': layer %ld out of range", s, layer);
    d->layer = (int)layer;
    d->max_tokens = n < 0 ? 0 : n;
    return QS_OK;
}

/* Opens the results file for the engine once every input is checked. */
typedef struct open_args {
    const char *path, *label, *text_path, *params;
    int argc, threads;
    char **argv;
    const qs_model *m;
} open_args;

static int open_results(void *user, qs_h5 **h) {
    const open_args *a = user;
    return qs_cli_h5_open_run(h, a->path, a->label, a->argc, a->argv, a->m, a->text_path, a->params,
                              a->threads);
}

int qs_cmd_profile(int argc, char **argv) {
    qs_cli_opt opts[] = {
        {"output", "FILE", "HDF5 results file (created, or a new run appended)"},
        {"tokenizer", "FILE", "tokenizer file (default: embedded, or tok<V>.bin beside the model)"},
        {"tokens", "N", "profile the first N tokens (default: the whole text)"},
        {"ctx", "N", "tokens per window (default: min(512, model context))"},
        {"stride", "S", "start a window every S tokens (default: ctx, non-overlapping)"},
        {"bos", "replace|prepend|none", "BOS handling per window", "replace"},
        {"docs", "SEP", "document mode: split the text on SEP, one BOS window per document"},
        {"skip-docs", "N", "document mode: skip the first N documents", "0"},
        {"utf8", "strict|replace", "invalid UTF-8 in the text: error, or substitute U+FFFD",
         "strict"},
        {"sites", "LIST", "capture sites, comma-separated, or all", "all"},
        {"layers", "LIST", "layers, e.g. 0,2-4, or all", "all"},
        {"tau", "X", "outlier ratio r(t,c) = |x| / token median |x| threshold", "20"},
        {"phi", "F", "persistent channel: fraction of tokens (and of a window's tokens)", "0.5"},
        {"massive-rule", "auto|published|ratio",
         "token-wise outlier rule: published (|x| >= 100 and >= 1000 x median), ratio (>= 100 x "
         "median only); auto: published when dim >= 1024, else ratio",
         "auto"},
        {"massive-abs", "A", "token-wise outlier: max |x| at least A (overrides the rule's)"},
        {"massive-ratio", "R",
         "token-wise outlier: max |x| at least R x the token's median (overrides the rule's)"},
        {"int8", "X", "LLM.int8 feature threshold on |x|", "6"},
        {"max-token-outliers", "N", "token-wise outliers kept (more are counted)", "10000"},
        {"dump", "SITE,LAYER,N", "store the first N tokens' raw (T, C) activations (repeatable)"},
        {"top", "N", "channels and tokens shown per item in the summary", "3"},
        {"label", "TEXT", "run label stored in the HDF5 file"},
        {"threads", "N", "threads for OpenMP and OpenBLAS (default: all cores)"},
        {"json", NULL, "print one JSON object on stdout (the summary goes to stderr)"},
    };
    const int n = QS_COUNT(opts);
    const char *pos[2];
    int n_pos;
    int r = qs_cli_parse(argc, argv, "profile", "MODEL TEXT -o results.h5 [options]", opts, n, pos,
                         2, &n_pos);
    if (r) return r == 2 ? 0 : 1;
    if (n_pos != 2) {
        fprintf(stderr, "qscope profile: error: expected MODEL and TEXT (see --help)\n");
        return 1;
    }
    const char *out = qs_cli_get(opts, n, "output");
    if (!out) {
        fprintf(stderr, "qscope profile: error: -o results.h5 is required\n");
        return 1;
    }
    long tokens = 0, threads = 0, max_tok = 10000, top = 3;
    qs_capture_opts co = qs_capture_opts_default();
    double massive_abs = -1, massive_ratio = -1; /* < 0: the rule's */
    co.outl.massive_rule = qs_massive_rule_from_name(qs_cli_get(opts, n, "massive-rule"));
    if (co.outl.massive_rule < 0 || co.outl.massive_rule == QS_MASSIVE_CUSTOM) {
        fprintf(stderr,
                "qscope profile: error: --massive-rule '%s': expected auto, published "
                "or ratio\n",
                qs_cli_get(opts, n, "massive-rule"));
        return 1;
    }
    if (qs_cli_int(opts, n, "tokens", 1, 1L << 40, &tokens) ||
        qs_cli_int(opts, n, "threads", 1, 4096, &threads) ||
        qs_cli_int(opts, n, "max-token-outliers", 0, 1L << 24, &max_tok) ||
        qs_cli_int(opts, n, "top", 0, 1000, &top) ||
        qs_cli_double(opts, n, "tau", 1e-300, 1e300, &co.chan.tau) ||
        qs_cli_double(opts, n, "phi", 0, 1, &co.chan.phi) ||
        qs_cli_double(opts, n, "massive-abs", 0, 1e300, &massive_abs) ||
        qs_cli_double(opts, n, "massive-ratio", 0, 1e300, &massive_ratio) ||
        qs_cli_double(opts, n, "int8", 1e-300, 1e300, &co.chan.int8_threshold) ||
        qs_site_mask_parse(qs_cli_get(opts, n, "sites"), &co.site_mask))
        return qs_cli_fail("profile");
    co.outl.min_token_frac = co.chan.phi;
    co.max_token_outliers = (int)max_tok;
    int nt = qs_cli_threads(threads);

    qs_model *m = NULL;
    qs_text text = {0};
    qs_windows ws = {0};
    qs_profile_result res = {0};
    qs_profile_request req = {.capture = co, .max_tokens = tokens};
    int have_text = 0, rc;
    unsigned char *sel = NULL;

    if ((rc = qs_model_load(&m, pos[0], qs_cli_get(opts, n, "tokenizer")))) goto done;
    sel = malloc((size_t)m->cfg.n_layers + 1);
    if (!sel) {
        rc = qs_error_set(QS_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((rc = qs_site_layers_select(&m->cfg, qs_cli_get(opts, n, "layers"), sel))) goto done;
    req.capture.layers = sel;
    const qs_cli_opt *dopt = NULL;
    for (int i = 0; i < n; i++)
        if (strcmp(opts[i].name, "dump") == 0) dopt = &opts[i];
    if (dopt->repeat_count > QS_CAPTURE_MAX_DUMPS) {
        rc = qs_error_set(QS_ERR_ARG, "--dump given more than %d times", QS_CAPTURE_MAX_DUMPS);
        goto done;
    }
    for (int i = 0; i < dopt->repeat_count; i++)
        if ((rc = parse_dump(dopt->values[i], &req.dumps[req.n_dumps++]))) goto done;
    qs_outlier_config_resolve(&req.capture.outl, m->cfg.dim);
    if (massive_abs >= 0 || massive_ratio >= 0) req.capture.outl.massive_rule = QS_MASSIVE_CUSTOM;
    if (massive_abs >= 0) req.capture.outl.massive_abs = massive_abs;
    if (massive_ratio >= 0) req.capture.outl.massive_ratio = massive_ratio;
    if (qs_cli_text_windows(opts, n, m, pos[1], &text, &ws)) {
        rc = QS_ERR_ARG;
        goto done;
    }
    have_text = 1;

    /* the engine checks the rest, then opens the results file (which refuses a file that
     * is not HDF5 untouched) */
    char params[512];
    snprintf(params, sizeof params,
             "command=profile; tokens=%ld; ctx=%d; sites=%s; layers=%s; "
             "tau=%g; phi=%g; massive_rule=%s; massive_abs=%g; massive_ratio=%g; int8=%g",
             tokens, ws.w[0].n, qs_cli_get(opts, n, "sites"), qs_cli_get(opts, n, "layers"),
             req.capture.chan.tau, req.capture.chan.phi,
             qs_massive_rule_name(req.capture.outl.massive_rule), req.capture.outl.massive_abs,
             req.capture.outl.massive_ratio, req.capture.chan.int8_threshold);
    open_args oa = {out, qs_cli_get(opts, n, "label"), pos[1], params, argc, nt, argv, m};
    req.open_results = open_results;
    req.open_user = &oa;
    if ((rc = qs_profile_engine_run(&res, m, &ws, &req))) goto done;

    int json = qs_cli_get(opts, n, "json") != NULL;
    cJSON *o = json ? cJSON_CreateObject() : NULL;
    qs_profile_report rep = {m,       res.capture, &ws, &res.info, res.channels, res.n_channels,
                             (int)top};
    if (o) {
        cJSON_AddStringToObject(o, "model", m->path);
        cJSON_AddStringToObject(o, "text", pos[1]);
        cJSON_AddStringToObject(o, "output", out);
        cJSON_AddNumberToObject(o, "run", qs_h5_run(res.results));
        cJSON_AddNumberToObject(o, "tokens", (double)res.info.tokens);
        cJSON_AddNumberToObject(o, "windows", res.info.windows);
        cJSON_AddNumberToObject(o, "ctx", ws.w[0].n);
        cJSON_AddNumberToObject(o, "seconds", res.info.seconds);
        cJSON_AddNumberToObject(o, "threads", nt);
        cJSON_AddNumberToObject(o, "stats_memory_bytes",
                                (double)qs_capture_memory_bytes(res.capture, ws.w[0].n));
    }
    FILE *f = json ? stderr : stdout;
    rc = qs_profile_report_write(&rep, f, o);
    fprintf(f, "\nwrote %s, run %d\n", out, qs_h5_run(res.results));
    if (o && rc == QS_OK)
        qs_cli_print_json(o);
    else
        cJSON_Delete(o);
done:
    if (res.results) {
        int rc2 = qs_h5_close(res.results);
        if (rc == QS_OK) rc = rc2;
    }
    qs_profile_result_free(&res);
    if (have_text) {
        qs_windows_free(&ws);
        qs_text_free(&text);
    }
    free(sel);
    qs_model_free(m);
    return rc ? qs_cli_fail("profile") : 0;
}
