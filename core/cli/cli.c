#include "cli.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "memstat.h"

static void usage(const char *cmd, const char *text, const qs_cli_opt *opts, int n) {
    printf("usage: qscope %s %s\n\noptions:\n", cmd, text);
    for (int i = 0; i < n; i++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", opts[i].name, opts[i].arg ? " " : "",
                 opts[i].arg ? opts[i].arg : "");
        printf("  %-26s %s", left, opts[i].help);
        if (opts[i].value && opts[i].arg) printf(" (default %s)", opts[i].value);
        printf("\n");
    }
    printf("  %-26s %s\n", "--help", "show this help");
}

int qs_cli_parse(int argc, char **argv, const char *cmd, const char *text, qs_cli_opt *opts,
                 int n_opts, const char **pos, int max_pos, int *n_pos) {
    *n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(cmd, text, opts, n_opts);
            return 2;
        }
        if (a[0] == '-' && a[1] == '-' && a[2]) {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t nl = eq ? (size_t)(eq - name) : strlen(name);
            qs_cli_opt *o = NULL;
            for (int k = 0; k < n_opts; k++)
                if (strlen(opts[k].name) == nl && strncmp(opts[k].name, name, nl) == 0)
                    o = &opts[k];
            if (!o) {
                fprintf(stderr, "qscope %s: error: unknown option '%s' (see qscope %s --help)\n",
                        cmd, a, cmd);
                return 1;
            }
            const char *val = "1";
            if (o->arg) {
                if (eq)
                    val = eq + 1;
                else if (i + 1 < argc)
                    val = argv[++i];
                else {
                    fprintf(stderr, "qscope %s: error: option --%s needs a value (%s)\n", cmd,
                            o->name, o->arg);
                    return 1;
                }
            } else if (eq) {
                fprintf(stderr, "qscope %s: error: option --%s takes no value\n", cmd, o->name);
                return 1;
            }
            if (o->repeat_count == QS_CLI_MAX_REPEAT) {
                fprintf(stderr, "qscope %s: error: option --%s given more than %d times\n", cmd,
                        o->name, QS_CLI_MAX_REPEAT);
                return 1;
            }
            o->value = val;
            o->values[o->repeat_count++] = val;
        } else if (a[0] == '-' && a[1] == 'o' && a[2] == '\0') {
            /* -o is shorthand for --output where a command has it */
            int k;
            for (k = 0; k < n_opts && strcmp(opts[k].name, "output") != 0; k++) {}
            if (k == n_opts || i + 1 >= argc) {
                fprintf(stderr, "qscope %s: error: -o needs a value and an --output option\n", cmd);
                return 1;
            }
            opts[k].value = argv[++i];
            if (opts[k].repeat_count < QS_CLI_MAX_REPEAT)
                opts[k].values[opts[k].repeat_count++] = opts[k].value;
        } else {
            if (*n_pos >= max_pos) {
                fprintf(stderr, "qscope %s: error: unexpected argument '%s' (see --help)\n", cmd,
                        a);
                return 1;
            }
            pos[(*n_pos)++] = a;
        }
    }
    return 0;
}

const char *qs_cli_get(const qs_cli_opt *opts, int n_opts, const char *name) {
    for (int k = 0; k < n_opts; k++)
        if (strcmp(opts[k].name, name) == 0) return opts[k].value;
    return NULL;
}

int qs_cli_int(const qs_cli_opt *opts, int n_opts, const char *name, long lo, long hi, long *out) {
    const char *v = qs_cli_get(opts, n_opts, name);
    if (!v) return 0;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < lo || x > hi) {
        qs_error_set(QS_ERR_ARG, "--%s '%s' must be an integer in %ld..%ld", name, v, lo, hi);
        return 1;
    }
    *out = x;
    return 0;
}

int qs_cli_double(const qs_cli_opt *opts, int n_opts, const char *name, double lo, double hi,
                  double *out) {
    const char *v = qs_cli_get(opts, n_opts, name);
    if (!v) return 0;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || *end || end == v || !isfinite(x) || x < lo || x > hi) {
        qs_error_set(QS_ERR_ARG, "--%s '%s' must be a number in [%g, %g]", name, v, lo, hi);
        return 1;
    }
    *out = x;
    return 0;
}

int qs_cli_fail(const char *cmd) {
    fprintf(stderr, "qscope %s: error: %s\n", cmd, qs_error_message());
    return 1;
}

int qs_cli_blas_thread_cap = 0;

int qs_cli_threads(long n) {
    if (n <= 0 && qs_dist_size() > 1) n = qs_dist_threads_default(); /* a host's ranks share */
    if (n > 0) {
        omp_set_num_threads((int)n);
        /* under an address-space limit main() allows only the BLAS threads that fit */
        int b = qs_cli_blas_thread_cap > 0 && n > qs_cli_blas_thread_cap ? qs_cli_blas_thread_cap
                                                                         : (int)n;
        openblas_set_num_threads(b);
    }
    return omp_get_max_threads();
}

cJSON *qs_cli_memory_json(void) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "mapped_bytes", (double)qs_memstat_peak(QS_MEMSTAT_MAPPED));
    cJSON_AddNumberToObject(o, "weight_alloc_bytes", (double)qs_memstat_peak(QS_MEMSTAT_WEIGHTS));
    cJSON_AddNumberToObject(o, "activation_bytes", (double)qs_memstat_peak(QS_MEMSTAT_ACTIVATIONS));
    cJSON_AddNumberToObject(o, "kv_cache_bytes", (double)qs_memstat_peak(QS_MEMSTAT_KV));
    cJSON_AddNumberToObject(o, "scratch_bytes", (double)qs_memstat_peak(QS_MEMSTAT_SCRATCH));
    cJSON_AddNumberToObject(o, "heap_peak_bytes", (double)qs_memstat_peak_heap());
    cJSON_AddNumberToObject(o, "peak_rss_bytes", (double)qs_memstat_peak_rss());
    return o;
}

void qs_cli_memory_print(FILE *f) {
    fprintf(f,
            "memory   peak RSS %.1f MB: mapped %.1f MB, weights allocated %.1f MB, activations "
            "%.1f MB, KV cache %.1f MB, scratch %.1f MB\n",
            qs_memstat_peak_rss() / 1e6, qs_memstat_peak(QS_MEMSTAT_MAPPED) / 1e6,
            qs_memstat_peak(QS_MEMSTAT_WEIGHTS) / 1e6,
            qs_memstat_peak(QS_MEMSTAT_ACTIVATIONS) / 1e6, qs_memstat_peak(QS_MEMSTAT_KV) / 1e6,
            qs_memstat_peak(QS_MEMSTAT_SCRATCH) / 1e6);
}

void qs_cli_print_json(cJSON *obj) {
    /* every command's JSON ends with what the process held (memstat.h) */
    if (cJSON_IsObject(obj) && !cJSON_GetObjectItemCaseSensitive(obj, "memory"))
        cJSON_AddItemToObject(obj, "memory", qs_cli_memory_json());
    char *s = cJSON_Print(obj);
    if (s) {
        printf("%s\n", s);
        free(s);
    }
    cJSON_Delete(obj);
}

void qs_cli_json_fields(cJSON *o, const qs_field *f, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (f[i].kind == QS_FIELD_STR)
            cJSON_AddStringToObject(o, f[i].name, f[i].str ? f[i].str : "");
        else if (f[i].kind == QS_FIELD_INT)
            cJSON_AddNumberToObject(o, f[i].name, (double)f[i].i);
        else if (isfinite(f[i].num))
            cJSON_AddNumberToObject(o, f[i].name, f[i].num);
        else
            cJSON_AddNullToObject(o, f[i].name);
    }
}

int qs_cli_window_opts(const qs_cli_opt *opts, int n_opts, const qs_model *m, qs_window_opts *wo,
                       int *utf8_policy) {
    qs_window_opts_default(wo);
    long ctx = m->cfg.seq_len < 512 ? m->cfg.seq_len : 512, stride = 0, maxt = 0, skip = 0;
    if (qs_cli_int(opts, n_opts, "ctx", 2, m->cfg.seq_len, &ctx) ||
        qs_cli_int(opts, n_opts, "stride", 1, ctx, &stride) ||
        qs_cli_int(opts, n_opts, "max-tokens", 1, 1L << 40, &maxt) ||
        qs_cli_int(opts, n_opts, "skip-docs", 0, 1L << 30, &skip))
        return 1;
    wo->ctx = (int)ctx;
    wo->stride = (int)stride;
    wo->max_tokens = maxt;
    wo->skip_docs = (int)skip;
    wo->doc_sep = qs_cli_get(opts, n_opts, "docs");
    const char *s = qs_cli_get(opts, n_opts, "score");
    if (s && (wo->score = qs_score_mode_parse(s)) < 0) {
        qs_error_set(QS_ERR_ARG, "--score '%s' must be half or all", s);
        return 1;
    }
    const char *b = qs_cli_get(opts, n_opts, "bos");
    if (b && (wo->bos = qs_bos_mode_parse(b)) < 0) {
        qs_error_set(QS_ERR_ARG, "--bos '%s' must be replace, prepend or none", b);
        return 1;
    }
    const char *u = qs_cli_get(opts, n_opts, "utf8");
    *utf8_policy = QS_UTF8_STRICT;
    if (u && strcmp(u, "replace") == 0)
        *utf8_policy = QS_UTF8_REPLACE;
    else if (u && strcmp(u, "strict") != 0) {
        qs_error_set(QS_ERR_ARG, "--utf8 '%s' must be strict or replace", u);
        return 1;
    }
    return 0;
}

int qs_cli_text_windows(const qs_cli_opt *opts, int n_opts, const qs_model *m, const char *path,
                        qs_text *text, qs_windows *ws) {
    qs_window_opts wo;
    int utf8;
    if (!m->tok) {
        qs_error_set(QS_ERR_ARG, "%s: no tokenizer found; give one with --tokenizer", m->path);
        return 1;
    }
    if (qs_cli_window_opts(opts, n_opts, m, &wo, &utf8)) return 1;
    if (qs_text_load(text, path, utf8)) return 1;
    if (qs_windows_build(ws, m->tok, text->data, text->len, &wo)) {
        qs_error_prefix(QS_ERR_ARG, "%s", path);
        qs_text_free(text);
        return 1;
    }
    return 0;
}
