/* qscope profile MODEL TEXT -o results.h5: activation statistics at the capture sites,
 * persistent outlier channels, token-wise outliers, weight statistics, optional raw dumps;
 * a summary on the terminal and everything in a new run of the HDF5 file.
 * Every option is checked before the file is opened, so bad input writes nothing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "profile_h5.h"
#include "provenance.h"
#include "profile_report.h"

#define MAX_DUMPS 16

typedef struct dump_req {
    int site, layer;
    long max_tokens;
} dump_req;

/* "all" or a comma list of layers and ranges ("0,2-4") into sel (L + 1 entries). */
static int parse_layers(const char *s, int L, unsigned char *sel) {
    memset(sel, 0, (size_t)L + 1);
    if (strcmp(s, "all") == 0) {
        memset(sel, 1, (size_t)L + 1);
        return QS_OK;
    }
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long a = strtol(p, &end, 10), b = a;
        if (end == p || errno) goto bad;
        if (*end == '-') {
            const char *q = end + 1;
            b = strtol(q, &end, 10);
            if (end == q || errno) goto bad;
        }
        if (a < 0 || b < a || b > L)
            return qs_error_set(QS_ERR_ARG,
                                "--layers '%s': layer out of range: the model has %d "
                                "layers (0..%d; %d is the stream after the last block, at resid)",
                                s, L, L - 1, L);
        for (long l = a; l <= b; l++) sel[l] = 1;
        if (*end == ',')
            end++;
        else if (*end)
            goto bad;
        p = end;
    }
    return QS_OK;
bad:
    return qs_error_set(QS_ERR_ARG, "--layers '%s' must be all or a list such as 0,2-4", s);
}

/* "site,layer,max_tokens" */
static int parse_dump(const char *s, const qs_config *c, unsigned mask, const unsigned char *sel,
                      dump_req *d) {
    char site[32];
    long layer, n;
    int used = 0;
    if (sscanf(s, "%31[^,],%ld,%ld%n", site, &layer, &n, &used) != 3 || s[used] != '\0')
        return qs_error_set(QS_ERR_ARG, "--dump '%s' must be site,layer,max_tokens", s);
    d->site = qs_site_from_name(site);
    if (d->site < 0) return qs_error_set(QS_ERR_ARG, "--dump '%s': unknown site '%s'", s, site);
    int Ls = qs_site_layers(c, d->site);
    if (layer < 0 || layer >= Ls)
        return qs_error_set(QS_ERR_ARG, "--dump '%s': layer %ld out of range (0..%d)", s, layer,
                            Ls - 1);
    if (!(mask & QS_SITE_BIT(d->site)) || !sel[layer])
        return qs_error_set(QS_ERR_ARG,
                            "--dump '%s': that site and layer are not profiled "
                            "(see --sites, --layers)",
                            s);
    if (n < 1) return qs_error_set(QS_ERR_ARG, "--dump '%s': max_tokens must be >= 1", s);
    d->layer = (int)layer;
    d->max_tokens = n;
    return QS_OK;
}

static char *join_args(int argc, char **argv) {
    size_t n = 16;
    for (int i = 0; i < argc; i++) n += strlen(argv[i]) + 1;
    char *s = malloc(n);
    if (!s) return NULL;
    strcpy(s, "qscope");
    for (int i = 0; i < argc; i++) strcat(strcat(s, " "), argv[i]);
    return s;
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
    qs_capture *cap = NULL;
    qs_text text = {0};
    qs_windows ws = {0};
    qs_h5 *h = NULL;
    qs_profile_h5_sink *sinks[MAX_DUMPS] = {NULL};
    qs_weightstat *wst = NULL;
    int n_wst = 0, n_dumps = 0, have_text = 0, rc;
    qs_profile_channel *ch = NULL;
    int n_ch = 0;
    char *cmdline = join_args(argc, argv);
    dump_req dumps[MAX_DUMPS];
    unsigned char *sel = NULL;

    if ((rc = qs_model_load(&m, pos[0], qs_cli_get(opts, n, "tokenizer")))) goto done;
    int L = m->cfg.n_layers;
    sel = malloc((size_t)L + 1);
    if (!sel || !cmdline) {
        rc = qs_error_set(QS_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((rc = parse_layers(qs_cli_get(opts, n, "layers"), L, sel))) goto done;
    co.layers = sel;
    const qs_cli_opt *dopt = NULL;
    for (int i = 0; i < n; i++)
        if (strcmp(opts[i].name, "dump") == 0) dopt = &opts[i];
    if (dopt->repeat_count > MAX_DUMPS) {
        rc = qs_error_set(QS_ERR_ARG, "--dump given more than %d times", MAX_DUMPS);
        goto done;
    }
    for (int i = 0; i < dopt->repeat_count; i++)
        if ((rc = parse_dump(dopt->values[i], &m->cfg, co.site_mask, sel, &dumps[n_dumps++])))
            goto done;
    qs_outlier_config_resolve(&co.outl, m->cfg.dim);
    if (massive_abs >= 0 || massive_ratio >= 0) co.outl.massive_rule = QS_MASSIVE_CUSTOM;
    if (massive_abs >= 0) co.outl.massive_abs = massive_abs;
    if (massive_ratio >= 0) co.outl.massive_ratio = massive_ratio;
    if ((rc = qs_capture_create(&cap, &m->cfg, &co))) goto done;
    if (qs_cli_text_windows(opts, n, m, pos[1], &text, &ws)) {
        rc = QS_ERR_ARG;
        goto done;
    }
    have_text = 1;

    /* everything checked: open the results file (it refuses non-HDF5 files untouched) */
    if ((rc = qs_h5_open(&h, out, qs_cli_get(opts, n, "label")))) goto done;
    char params[512];
    snprintf(params, sizeof params,
             "command=profile; tokens=%ld; ctx=%d; sites=%s; layers=%s; "
             "tau=%g; phi=%g; massive_rule=%s; massive_abs=%g; massive_ratio=%g; int8=%g",
             tokens, ws.w[0].n, qs_cli_get(opts, n, "sites"), qs_cli_get(opts, n, "layers"),
             co.chan.tau, co.chan.phi, qs_massive_rule_name(co.outl.massive_rule),
             co.outl.massive_abs, co.outl.massive_ratio, co.chan.int8_threshold);
    qs_provenance pv = {.command_line = cmdline,
                        .model_path = m->path,
                        .text_path = pos[1],
                        .params = params,
                        .threads = nt};
    if ((rc = qs_h5_write_provenance(h, &pv)) || (rc = qs_profile_h5_model(h, m))) goto done;
    for (int i = 0; i < n_dumps && rc == QS_OK; i++) {
        const dump_req *d = &dumps[i];
        rc = qs_profile_h5_sink_open(&sinks[i], h, d->site, d->layer,
                                     qs_capture_site_width(cap, d->site));
        if (rc == QS_OK)
            rc = qs_capture_add_dump(cap, d->site, d->layer, d->max_tokens, qs_profile_h5_dump_fn,
                                     sinks[i]);
    }
    if (rc) goto done;

    qs_profile_info info;
    if ((rc = qs_profile_run(cap, m, &ws, tokens, &info))) goto done;
    for (int i = 0; i < n_dumps && rc == QS_OK; i++) {
        rc = qs_profile_h5_sink_close(sinks[i]);
        sinks[i] = NULL;
    }
    if (rc == QS_OK) rc = qs_profile_channels(&ch, &n_ch, cap);
    if (rc == QS_OK) rc = qs_weightstats_compute(&wst, &n_wst, m);
    if (rc == QS_OK) rc = qs_profile_h5_stats(h, cap);
    if (rc == QS_OK) rc = qs_profile_h5_weights(h, wst, n_wst);
    if (rc == QS_OK) rc = qs_profile_h5_outliers(h, cap, ch, n_ch, m->tok, &ws);
    if (rc == QS_OK) rc = qs_profile_h5_attention(h, cap, m->tok, &ws);
    if (rc == QS_OK) {
        int json = qs_cli_get(opts, n, "json") != NULL;
        cJSON *o = json ? cJSON_CreateObject() : NULL;
        qs_profile_report rep = {m, cap, &ws, &info, ch, n_ch, (int)top};
        if (o) {
            cJSON_AddStringToObject(o, "model", m->path);
            cJSON_AddStringToObject(o, "text", pos[1]);
            cJSON_AddStringToObject(o, "output", out);
            cJSON_AddNumberToObject(o, "run", qs_h5_run(h));
            cJSON_AddNumberToObject(o, "tokens", (double)info.tokens);
            cJSON_AddNumberToObject(o, "windows", info.windows);
            cJSON_AddNumberToObject(o, "ctx", ws.w[0].n);
            cJSON_AddNumberToObject(o, "seconds", info.seconds);
            cJSON_AddNumberToObject(o, "threads", nt);
            cJSON_AddNumberToObject(o, "stats_memory_bytes",
                                    (double)qs_capture_memory_bytes(cap, ws.w[0].n));
        }
        FILE *f = json ? stderr : stdout;
        rc = qs_profile_report_write(&rep, f, o);
        fprintf(f, "\nwrote %s, run %d\n", out, qs_h5_run(h));
        if (o && rc == QS_OK)
            qs_cli_print_json(o);
        else
            cJSON_Delete(o);
    }
done:
    for (int i = 0; i < MAX_DUMPS; i++) qs_profile_h5_sink_close(sinks[i]);
    if (h) {
        int rc2 = qs_h5_close(h);
        if (rc == QS_OK) rc = rc2;
    }
    free(ch);
    qs_weightstats_free(wst, n_wst);
    qs_capture_free(cap);
    if (have_text) {
        qs_windows_free(&ws);
        qs_text_free(&text);
    }
    free(sel);
    free(cmdline);
    qs_model_free(m);
    return rc ? qs_cli_fail("profile") : 0;
}
