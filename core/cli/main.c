/* qscope: one binary, one subcommand per job. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cblas.h>

#include "cli.h"
#include "cpu.h"
#include "dist.h"
#include "error.h"
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
    {"merge", "join the results of shards and resumed runs into one file", qs_cmd_merge},
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
 * when the user has not chosen one, set "passive" and start again.
 *
 * OpenBLAS reserves a 128 MiB work buffer (address space, mostly never touched) for each of
 * its threads, and when mmap refuses one it retries forever: under an address-space limit
 * (ulimit -v) of 80-192 MB, ppl/profile/eval/run spun at 100 % CPU in its thread start-up
 * without a word. Its worker threads start when the library loads, before main, so under a
 * limit qscope also starts again with OPENBLAS_NUM_THREADS=1; address_space_guard() then
 * adds only the threads whose buffers fit.
 *
 * OpenBLAS picks its kernels by CPU model, and a model newer than the library (Debian 12's
 * 0.3.21 on a Sapphire Rapids Xeon) gets its generic Prescott (SSE3) kernels: sgemm ran at
 * 18 GFLOP/s instead of ~200 on such a machine. When the core it chose predates AVX2 but the
 * CPU has it, qscope names the core by the CPU's features (SkylakeX with AVX-512, else
 * Haswell). The kernel in use is in every results file's provenance (openblas_get_config);
 * set OPENBLAS_CORETYPE to choose yourself. */
static int blas_core_outdated(void) {
    static const char *old[] = {"Prescott", "Core2",     "Penryn",    "Dunnington", "Nehalem",
                                "Atom",     "Katmai",    "Coppermine", "Northwood", "Banias",
                                "Unknown"};
    const char *core = openblas_get_corename();
    if (!core) return 0;
    for (size_t i = 0; i < sizeof old / sizeof old[0]; i++)
        if (strcasecmp(core, old[i]) == 0) return 1;
    return 0;
}

static void restart_with_settings(char **argv) {
    int changed = 0;
    if (!getenv("OPENBLAS_CORETYPE") && qs_cpu_path_supported() >= QS_CPU_AVX2 &&
        blas_core_outdated()) {
        setenv("OPENBLAS_CORETYPE", qs_cpu_path_supported() >= QS_CPU_AVX512 ? "SkylakeX" : "Haswell",
               1);
        changed = 1;
    }
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
    struct rlimit as;
    if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY && !getenv("QS_AS_GUARD")) {
        const char *want = getenv("OPENBLAS_NUM_THREADS");
        if (want) setenv("QS_BLAS_THREADS_WANTED", want, 1);
        setenv("OPENBLAS_NUM_THREADS", "1", 1);
        setenv("QS_AS_GUARD", "1", 1);
        changed = 1;
    }
    if (changed) execv("/proc/self/exe", argv); /* returns only on failure: carry on */
}

#define BLAS_BUFFER ((size_t)128 << 20)               /* OpenBLAS's work buffer per thread */
#define BLAS_THREAD (BLAS_BUFFER + ((size_t)8 << 20)) /* ... plus a worker's stack */
#define OWN_FLOOR   ((size_t)16 << 20) /* room to start at all; later failures are reported */

static size_t vm_size(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f) {
        if (fscanf(f, "%lu", &pages) != 1) pages = 0;
        fclose(f);
    }
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

static void blas_warm_up(int n) { /* makes every BLAS thread take its buffer now */
    float a[64 * 64] = {0}, c[64 * 64];
    for (int k = 0; k < n; k++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 64, 64, 64, 1.0f, a, 64, a, 64, 0.0f,
                    c, 64);
}

/* Under an address-space limit: refuse with a message when not even one BLAS buffer and a
 * floor for qscope fit; otherwise take the main thread's buffer while there is room, and
 * allow as many more BLAS threads as fit (qs_cli_blas_thread_cap). Returns 0 or 1 (exit). */
static int address_space_guard(void) {
    struct rlimit as;
    if (!getenv("QS_AS_GUARD") || getrlimit(RLIMIT_AS, &as) != 0 || as.rlim_cur == RLIM_INFINITY)
        return 0;
    size_t limit = (size_t)as.rlim_cur, used = vm_size();
    size_t need = used + BLAS_BUFFER + OWN_FLOOR;
    if (limit < need) {
        fprintf(stderr,
                "qscope: error: the address-space limit (ulimit -v) of %zu MiB is too small: "
                "OpenBLAS reserves %zu MiB per thread, qscope needs more than %zu MiB besides "
                "what is loaded (%zu MiB); allow at least ulimit -v %zu\n",
                limit >> 20, BLAS_BUFFER >> 20, OWN_FLOOR >> 20, used >> 20,
                (need + ((size_t)1 << 20) - 1) >> 10);
        return 1;
    }
    blas_warm_up(1);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    const char *want = getenv("QS_BLAS_THREADS_WANTED");
    long wanted = want && atol(want) > 0 ? atol(want) : cpus > 0 ? cpus : 1;
    /* more threads only while BLAS holds at most half of what remains for the work */
    used = vm_size();
    size_t room = limit > used ? (limit - used) / 2 : 0;
    long fit = 1 + (long)(room / BLAS_THREAD);
    qs_cli_blas_thread_cap = (int)(wanted < fit ? wanted : fit);
    if (qs_cli_blas_thread_cap > 1) {
        openblas_set_num_threads(qs_cli_blas_thread_cap);
        blas_warm_up(4); /* the new workers start and take their buffers */
    }
    return 0;
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
    restart_with_settings(argv);
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
        if (strcmp(argv[1], commands[i].name) == 0) {
            /* under mpirun/srun: MPI starts here (dist.h); every rank runs the commands whose
             * loops spread over ranks, rank 0 alone the others (one output, one writer) */
            if (qs_dist_init(&argc, &argv)) {
                fprintf(stderr, "qscope: error: %s\n", qs_error_message());
                return 1;
            }
            const char *nm = commands[i].name;
            int spreads = !strcmp(nm, "sweep") || !strcmp(nm, "eval") || !strcmp(nm, "run");
            int rc = 0;
            if (qs_dist_rank() == 0 || spreads)
                rc = address_space_guard() ? 1 : finish_stdout(commands[i].run(argc - 1, argv + 1));
            /* a rank that fails leaves the others waiting for it: end them all */
            if (rc) qs_dist_abort(rc);
            qs_dist_finalize();
            return rc;
        }
    fprintf(stderr, "qscope: error: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 1;
}
