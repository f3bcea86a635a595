/* qscope: one binary, one subcommand per job. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "version.h"

static const qs_cli_cmd commands[] = {
    {"info", "describe a model: format, config, parameters, tensors, sha256", qs_cmd_info},
    {"ppl", "perplexity of a model on a text", qs_cmd_ppl},
    {"generate", "generate text from a prompt", qs_cmd_generate},
    {"profile", "activation statistics, outlier channels and massive tokens, into HDF5",
     qs_cmd_profile},
    {"plant", "write a checkpoint with planted outlier channels (same function)", qs_cmd_plant},
    {"eval", "quantized vs full-precision: perplexity ratio and KL divergence", qs_cmd_eval},
    {"sweep", "reconstruction error of every quantizer choice on weights and activations",
     qs_cmd_sweep},
    {"run", "run a Lua experiment (experiments/*.lua)", qs_cmd_run},
    {"memory", "weight, scale and KV-cache bytes of a quantized deployment", qs_cmd_memory},
    {"bench", "measure the machine's limits and the forward pass's speed", qs_cmd_bench},
    {"synth", "write a random-weight llama2.c checkpoint of a chosen shape", qs_cmd_synth},
};

static void usage(FILE *f) {
    fprintf(f,
            "qscope %s — where activation outliers live and what quantization costs\n\n"
            "usage: qscope COMMAND [options]   (qscope COMMAND --help for details)\n\n"
            "commands:\n",
            qs_version());
    for (int i = 0; i < QS_COUNT(commands); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

/* OpenMP workers spin after each parallel region by default. On a 2-core machine that
 * steals the core the main thread's matrix products need (a stories260K perplexity run took
 * 22 s instead of 1.2 s on a busy machine). libgomp reads OMP_WAIT_POLICY before main, so
 * when the user has not chosen one, set "passive" and start again. */
static void prefer_passive_openmp(char **argv) {
    int changed = 0;
    if (!getenv("OMP_WAIT_POLICY")) {
        setenv("OMP_WAIT_POLICY", "passive", 1);
        changed = 1;
    }
    /* OpenBLAS's idle workers likewise spin after each sgemm and compete with the capture
     * hook's OpenMP threads (profiling overhead 14% instead of 7% on two threads); a short
     * timeout (2^4 cycles, read at load time) lets them sleep. */
    if (!getenv("OPENBLAS_THREAD_TIMEOUT")) {
        setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1);
        changed = 1;
    }
    if (changed) execv("/proc/self/exe", argv); /* returns only on failure: carry on */
}

/* Standard output must not lose its end silently (a full disk, a file-size limit). */
static int finish_stdout(int rc) {
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "qscope: error: writing standard output failed: %s\n",
                errno ? strerror(errno) : "write error");
        return rc ? rc : 1;
    }
    return rc;
}

int main(int argc, char **argv) {
    prefer_passive_openmp(argv);
    /* Past a file-size limit (ulimit -f) a write fails with EFBIG and is reported, with the
     * file left whole (results) or removed (checkpoints), instead of SIGXFSZ killing the
     * process mid-write without a word. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return argc < 2 ? 1 : 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("qscope %s (git %s)\n", qs_version(), qs_git_revision());
        return 0;
    }
    for (int i = 0; i < QS_COUNT(commands); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return finish_stdout(commands[i].run(argc - 1, argv + 1));
    fprintf(stderr, "qscope: error: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 1;
}
