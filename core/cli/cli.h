/* Shared pieces of the qscope commands: option tables with --help, errors, threads, JSON.
 * Human text and progress go to stderr when --json is given; the JSON object goes to stdout. */
#ifndef QS_CLI_H
#define QS_CLI_H

#include <cjson/cJSON.h>
#include <stdio.h>

#include "dist.h"
#include "dist_jobs.h"
#include "fields.h"
#include "h5store.h"
#include "model.h"
#include "text.h"
#include "windows.h"

typedef struct qs_cli_cmd {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} qs_cli_cmd;

#define QS_CLI_MAX_REPEAT 64

/* One option of a command. arg is the value's placeholder ("N"), NULL for a flag. */
typedef struct qs_cli_opt {
    const char *name; /* long name without dashes */
    const char *arg;
    const char *help;
    const char *value; /* filled by parsing (flag: "1"); preset to give a default */
    int repeat_count;  /* how many times it was given */
    const char *values[QS_CLI_MAX_REPEAT]; /* every value of a repeatable option */
} qs_cli_opt;

/* Parses argv[1..] against opts; positional arguments land in pos (at most max_pos).
 * Handles --help (prints usage to stdout, returns 2 meaning "done, exit 0").
 * Returns 0 on success, 1 on a usage error (message printed). */
int qs_cli_parse(int argc, char **argv, const char *cmd, const char *usage, qs_cli_opt *opts,
                 int n_opts, const char **pos, int max_pos, int *n_pos);
const char *qs_cli_get(const qs_cli_opt *opts, int n_opts, const char *name);
/* Parses an option as an integer/double in [lo, hi]; prints an error naming the option. */
int qs_cli_int(const qs_cli_opt *opts, int n_opts, const char *name, long lo, long hi, long *out);
int qs_cli_double(const qs_cli_opt *opts, int n_opts, const char *name, double lo, double hi,
                  double *out);

/* Prints "qscope CMD: error: <qs_error_message()>" and returns 1. */
int qs_cli_fail(const char *cmd);
/* Sets OpenMP and OpenBLAS threads (n <= 0: leave the default: all cores, or under MPI the
 * cores divided among the ranks on this host). Returns threads. */
int qs_cli_threads(long n);
/* The most OpenBLAS threads whose work buffers fit under the address-space limit (main.c
 * sets it when `ulimit -v` is in force); 0 means no cap. */
extern int qs_cli_blas_thread_cap;
/* Prints a JSON object on stdout and frees it; an object gets a "memory" member
 * (qs_cli_memory_json) unless it has one. */
void qs_cli_print_json(cJSON *obj);
/* The process's memory so far (memstat.h), peaks: mapped_bytes, weight_alloc_bytes,
 * activation_bytes, kv_cache_bytes, scratch_bytes, heap_peak_bytes, peak_rss_bytes. */
cJSON *qs_cli_memory_json(void);
/* The same as one human line. */
void qs_cli_memory_print(FILE *f);
/* Adds fields (fields.h) to o: numbers, integers, strings; a NaN or infinite number is null
 * (JSON has neither). */
void qs_cli_json_fields(cJSON *o, const qs_field *f, size_t n);

#define QS_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* The evaluation-window options every text-reading command shares (windows.h). */
#define QS_CLI_WINDOW_OPTS                                                                        \
    {"ctx", "N", "tokens per window (default: min(512, model context))"},                         \
        {"stride", "S", "start a window every S tokens (default: ctx, non-overlapping)"},         \
        {"score", "half|all", "score the second half of each window, or every position", "half"}, \
        {"bos", "replace|prepend|none", "BOS handling per window", "replace"},                    \
        {"max-tokens", "N", "stop after N scored tokens (default: the whole text)"},              \
        {"docs", "SEP", "document mode: split the text on SEP, one BOS window per document"},     \
        {"skip-docs", "N", "document mode: skip the first N documents", "0"}, {                   \
        "utf8", "strict|replace", "invalid UTF-8 in the text: error, or substitute U+FFFD",       \
            "strict"                                                                              \
    }

/* Reads the window options; ctx defaults to min(512, seq_len). Returns 0 or 1 (error set). */
int qs_cli_window_opts(const qs_cli_opt *opts, int n_opts, const qs_model *m, qs_window_opts *wo,
                       int *utf8_policy);
/* Loads TEXT and builds its windows for model m. Returns 0 or 1 (error set). */
int qs_cli_text_windows(const qs_cli_opt *opts, int n_opts, const qs_model *m, const char *path,
                        qs_text *text, qs_windows *ws);

/* Opens (or creates) the result store at path for a new run labelled `label` and writes its
 * provenance (the command line from argv, which starts at the command name; the model and
 * text with their sha256; params "k=v; ..."; threads). text_path may be NULL. Returns
 * QS_OK or an error code (message set). */
int qs_cli_h5_open_run(qs_h5 **out, const char *path, const char *label, int argc, char **argv,
                       const qs_model *m, const char *text_path, const char *params, int threads);
/* qs_cli_h5_open_run, labelled cmd, then the model config as attributes of
 * /runs/<n>/model. */
int qs_cli_h5_open(qs_h5 **out, const char *path, const char *cmd, int argc, char **argv,
                   const qs_model *m, const char *text_path, const char *params, int threads);

/* The options of a command whose loop distributes (cli_dist.c; dist.h). */
#define QS_CLI_DIST_OPTS                                                                         \
    {"shard", "I/N",                                                                            \
     "compute only the I-th of N deterministic slices of the grid into this -o file (job "      \
     "arrays; join them with qscope merge)"},                                                   \
    {                                                                                           \
        "resume", NULL,                                                                         \
            "skip configurations whose rows the -o file already holds (same model, text and "   \
            "parameters)"                                                                       \
    }
/* Reads --shard and --resume into o (progress shown when distributed). 0 or 1 (error set). */
int qs_cli_dist_opts(const qs_cli_opt *opts, int n, qs_dist_opts *o);
/* Whether the loop must go through the distribution layer: a shard, --resume, MPI ranks. */
int qs_cli_dist_wanted(const qs_dist_opts *o);
/* The model and text sha256 that the provenance of h's run holds ("" when absent). */
int qs_cli_dist_identity(qs_h5 *h, char model[65], char text[65]);
/* Where another rank finds the model and text: the paths, --tokenizer, the window options.
 * 0 or 1 (error set). */
int qs_cli_dist_source(const qs_cli_opt *opts, int n, const qs_model *m, const char *text_path,
                       qs_dist_source *src);

int qs_cmd_info(int argc, char **argv);
int qs_cmd_ppl(int argc, char **argv);
int qs_cmd_generate(int argc, char **argv);
int qs_cmd_synth(int argc, char **argv);
int qs_cmd_bench(int argc, char **argv);
int qs_cmd_memory(int argc, char **argv);
int qs_cmd_run(int argc, char **argv);
int qs_cmd_eval(int argc, char **argv);
int qs_cmd_sweep(int argc, char **argv);
int qs_cmd_plant(int argc, char **argv);
int qs_cmd_profile(int argc, char **argv);
int qs_cmd_merge(int argc, char **argv);
/* qscope eval over several --config, a shard, --resume or MPI ranks (cmd_eval_dist.c). */
int qs_cmd_eval_dist(qs_cli_opt *opts, int n, const char **pos, int argc, char **argv);

#endif
