/* qscope bench: the machine's own limits (sgemm GFLOP/s, memory bandwidth) and the forward
 * pass's speed on a model, measured in the same process so they can be compared as ratios.
 * Best of --reps runs: the machines are shared and noisy; overheads also as ratios of CPU
 * seconds, which other processes on the same cores disturb much less than wall seconds. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "act_quant.h"
#include "capture.h"
#include "cli.h"
#include "cpu.h"
#include "error.h"
#include "forward.h"
#include "progress.h"

/* CPU seconds of the whole process (every thread). Unlike the wall clock it barely moves
 * when other processes share the cores, so its ratios stay readable on a busy machine. */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Best wall and best CPU seconds of a series of runs (kept apart: each its own minimum). */
typedef struct best_time {
    double wall, cpu;
} best_time;

static void best_time_add(best_time *b, double wall, double cpu) {
    if (wall < b->wall) b->wall = wall;
    if (cpu < b->cpu) b->cpu = cpu;
}

/* Both measurements return -1 with the error set when their arrays cannot be allocated: a
 * failed allocation is an error, not a speed of 0. */
static double sgemm_gflops(int n, int reps) {
    float *a = malloc((size_t)n * n * sizeof(float)), *b = malloc((size_t)n * n * sizeof(float));
    float *c = malloc((size_t)n * n * sizeof(float));
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        qs_error_set(QS_ERR_NOMEM, "sgemm %d^3: out of memory for three %d x %d matrices (%zu MiB)",
                     n, n, n, (size_t)3 * n * n * sizeof(float) >> 20);
        return -1;
    }
    for (size_t i = 0; i < (size_t)n * n; i++) a[i] = b[i] = (float)(i % 7) * 0.1f;
    double best = 0;
    for (int r = 0; r < reps + 1; r++) { /* the first run warms up */
        double t = qs_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c,
                    n);
        double g = 2.0 * n * n * (double)n / (qs_now() - t) / 1e9;
        if (r > 0 && g > best) best = g;
    }
    free(a), free(b), free(c);
    return best;
}

/* STREAM-style triad a = b + s·c over three arrays of `bytes` in total; counts 3 streams. */
static double triad_gbs(size_t bytes, int reps) {
    size_t n = bytes / 3 / sizeof(double);
    double *a = malloc(n * sizeof(double)), *b = malloc(n * sizeof(double)),
           *c = malloc(n * sizeof(double));
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        qs_error_set(QS_ERR_NOMEM,
                     "triad: out of memory for three arrays of %zu MiB "
                     "(--triad-gib %.3g)",
                     n * sizeof(double) >> 20, (double)bytes / (1u << 30));
        return -1;
    }
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) a[i] = 0, b[i] = 1, c[i] = 2;
    double best = 0;
    for (int r = 0; r < reps; r++) {
        double t = qs_now();
#pragma omp parallel for
        for (size_t i = 0; i < n; i++) a[i] = b[i] + 3.0 * c[i];
        double g = 3.0 * n * sizeof(double) / (qs_now() - t) / 1e9;
        if (g > best) best = g;
    }
    volatile double sink = a[n / 2];
    (void)sink;
    free(a), free(b), free(c);
    return best;
}

int qs_cmd_bench(int argc, char **argv) {
    qs_cli_opt opts[] = {
        {"limits", NULL, "measure sgemm GFLOP/s (1024^3, 2048^3) and memory bandwidth (triad)"},
        {"triad-gib", "G", "bytes the triad streams over, GiB", "1.5"},
        {"model", "FILE", "measure the forward pass of this model"},
        {"ctx", "T", "window length for the forward pass", "512"},
        {"reps", "N", "repetitions (best is reported)", "3"},
        {"profile", NULL,
         "also time the forward with the capture hook on all five sites and "
         "report profile_overhead = t_profile / t_plain - 1 (and profile_overhead_cpu, the "
         "same ratio of process CPU seconds, steadier on a busy machine); QS_CPU_PATH="
         "scalar|avx2 picks the statistics kernels' path (cpu_path in --json)"},
        {"fake-quant", "CONFIG",
         "also time the forward with activation fake-quant, e.g. \"W16A8 per-token\", and "
         "report fakequant_overhead = t_fq / t_plain - 1 (weights are quantized offline: "
         "only the activation side is timed)"},
        {"versus", "FILE",
         "also time this model's forward (same shape: e.g. the bf16 copy of an f32 MODEL), "
         "alternating with MODEL's, and report versus_speed_ratio = t_model / t_versus"},
        {"threads", "N", "threads (default: all cores)"},
        {"json", NULL, "print one JSON object on stdout"},
    };
    const int n = QS_COUNT(opts);
    const char *pos[1];
    int n_pos;
    int r = qs_cli_parse(argc, argv, "bench", "[--limits] [--model FILE] [options]", opts, n, pos,
                         0, &n_pos);
    if (r) return r == 2 ? 0 : 1;
    long ctx = 512, reps = 3, threads = 0;
    double gib = 1.5;
    if (qs_cli_int(opts, n, "ctx", 1, 1 << 20, &ctx) ||
        qs_cli_int(opts, n, "reps", 1, 1000, &reps) ||
        qs_cli_int(opts, n, "threads", 1, 4096, &threads) ||
        qs_cli_double(opts, n, "triad-gib", 0.01, 64, &gib))
        return qs_cli_fail("bench");
    int nt = qs_cli_threads(threads);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "threads", nt);
    /* the statistics kernels' SIMD path (QS_CPU_PATH caps it) */
    cJSON_AddStringToObject(o, "cpu_path", qs_cpu_path_name(qs_cpu_path()));
    cJSON_AddStringToObject(o, "cpu_path_supported", qs_cpu_path_name(qs_cpu_path_supported()));
    if (qs_cli_get(opts, n, "limits")) {
        double g1 = sgemm_gflops(1024, (int)reps), g2 = g1 < 0 ? -1 : sgemm_gflops(2048, (int)reps);
        double bw = g2 < 0 ? -1 : triad_gbs((size_t)(gib * (1u << 30)), (int)reps);
        if (bw < 0) {
            cJSON_Delete(o);
            return qs_cli_fail("bench");
        }
        cJSON_AddNumberToObject(o, "sgemm_gflops_1024", g1);
        cJSON_AddNumberToObject(o, "sgemm_gflops_2048", g2);
        cJSON_AddNumberToObject(o, "triad_gbs", bw);
        fprintf(stderr, "sgemm %.1f GFLOP/s (1024^3), %.1f GFLOP/s (2048^3); triad %.1f GB/s\n", g1,
                g2, bw);
    }
    const char *path = qs_cli_get(opts, n, "model");
    int rc = QS_OK;
    if (path) {
        qs_model *m;
        if (qs_model_load(&m, path, NULL)) {
            cJSON_Delete(o);
            return qs_cli_fail("bench");
        }
        if (ctx > m->cfg.seq_len) ctx = m->cfg.seq_len;
        int T = (int)ctx;
        /* a second model of the same shape, timed in turn with the first */
        const char *vpath = qs_cli_get(opts, n, "versus");
        qs_model *vm = NULL;
        qs_forward_state vst = {0};
        if (vpath) {
            rc = qs_model_load(&vm, vpath, NULL);
            if (rc == QS_OK && (vm->cfg.dim != m->cfg.dim || vm->cfg.n_layers != m->cfg.n_layers ||
                                vm->cfg.vocab_size != m->cfg.vocab_size))
                rc = qs_error_set(QS_ERR_ARG, "--versus %s: not the shape of %s", vpath, path);
            if (rc == QS_OK) rc = qs_forward_init(&vst, vm, T, T);
        }
        int *tok = malloc((size_t)T * sizeof *tok);
        float *logits = malloc((size_t)m->cfg.vocab_size * sizeof *logits);
        qs_forward_state st = {0};
        if (rc == QS_OK)
            rc = tok && logits ? qs_forward_init(&st, m, T, T)
                               : qs_error_set(QS_ERR_NOMEM, "out of memory");
        if (rc == QS_OK) {
            for (int t = 0; t < T; t++)
                tok[t] = (int)((t * 2654435761u) % (unsigned)m->cfg.vocab_size);
            /* plain and profiled runs alternate so that a slow spell of a shared machine
             * hits both; the first of each is a warm-up */
            int profile = qs_cli_get(opts, n, "profile") != NULL;
            qs_capture *cap = NULL;
            if (profile) rc = qs_capture_create(&cap, &m->cfg, NULL);
            qs_hook hook = cap ? qs_capture_hook(cap) : (qs_hook){0};
            /* activation fake-quant through the hook (actq.h), timed the same way */
            const char *fq = qs_cli_get(opts, n, "fake-quant");
            qs_quant_config qc;
            qs_actq aq = {0};
            qs_hook fq_hook = {0};
            if (fq && rc == QS_OK) {
                rc = qs_quant_config_parse(&qc, fq);
                if (rc == QS_OK) rc = qs_actq_init(&aq, &m->cfg, &qc.a, QS_SITE_ALL);
                if (rc == QS_OK && qc.a.spec.bits == QS_QUANT_BITS_NONE)
                    rc = qs_error_set(QS_ERR_ARG, "--fake-quant '%s' quantizes no activations", fq);
                if (rc == QS_OK && qc.a.is_static) {
                    qs_window w = {tok, T, 0, T - 1};
                    qs_windows cw = {&w, 1, 0, 0, NULL};
                    rc = qs_actq_calibrate(&aq, m, &cw);
                }
                fq_hook = qs_actq_hook(&aq);
            }
            best_time plain = {1e30, 1e30}, prof = plain, fqt = plain, vs = plain;
            for (int k = 0; k < reps + 1 && rc == QS_OK; k++) {
                double t0 = qs_now(), c0 = cpu_now();
                /* last-row logits only: the window's matmuls are what the bench measures */
                rc = qs_forward(&st, tok, T, 0, logits, 1, NULL);
                if (k > 0) best_time_add(&plain, qs_now() - t0, cpu_now() - c0);
                if (vm && rc == QS_OK) {
                    t0 = qs_now(), c0 = cpu_now();
                    rc = qs_forward(&vst, tok, T, 0, logits, 1, NULL);
                    if (k > 0) best_time_add(&vs, qs_now() - t0, cpu_now() - c0);
                }
                if (fq && rc == QS_OK) {
                    t0 = qs_now(), c0 = cpu_now();
                    rc = qs_forward(&st, tok, T, 0, logits, 1, &fq_hook);
                    if (k > 0) best_time_add(&fqt, qs_now() - t0, cpu_now() - c0);
                }
                if (!profile || rc) continue;
                qs_capture_window(cap, k, tok, T);
                t0 = qs_now(), c0 = cpu_now();
                rc = qs_forward(&st, tok, T, 0, logits, 1, &hook);
                if (k > 0) best_time_add(&prof, qs_now() - t0, cpu_now() - c0);
            }
            const double best = plain.wall, best_p = prof.wall, best_fq = fqt.wall;
            if (fq && rc == QS_OK) {
                char canon[256];
                if (qs_quant_config_format(canon, sizeof canon, &qc))
                    snprintf(canon, sizeof canon, "%s", fq);
                cJSON_AddStringToObject(o, "fakequant_config", canon);
                cJSON_AddNumberToObject(o, "fakequant_seconds", best_fq);
                cJSON_AddNumberToObject(o, "fakequant_overhead", best_fq / best - 1.0);
                cJSON_AddNumberToObject(o, "fakequant_overhead_cpu", fqt.cpu / plain.cpu - 1.0);
                fprintf(
                    stderr,
                    "activation fake-quant %s: %.4f s, overhead %.1f%% over the plain forward\n",
                    canon, best_fq, 100.0 * (best_fq / best - 1.0));
            }
            qs_actq_free(&aq);
            if (vm && rc == QS_OK) {
                cJSON_AddStringToObject(o, "versus_model", vpath);
                cJSON_AddNumberToObject(o, "versus_seconds", vs.wall);
                cJSON_AddNumberToObject(o, "versus_speed_ratio", best / vs.wall);
                cJSON_AddNumberToObject(o, "versus_speed_ratio_cpu", plain.cpu / vs.cpu);
                fprintf(stderr, "forward %s: %.4f s, %.3f x the speed of %s (CPU time %.3f)\n",
                        vpath, vs.wall, best / vs.wall, path, plain.cpu / vs.cpu);
            }
            if (profile && rc == QS_OK) {
                cJSON_AddNumberToObject(o, "profile_seconds", best_p);
                cJSON_AddNumberToObject(o, "profile_overhead", best_p / best - 1.0);
                cJSON_AddNumberToObject(o, "profile_overhead_cpu", prof.cpu / plain.cpu - 1.0);
                cJSON_AddNumberToObject(o, "profile_stats_bytes",
                                        (double)qs_capture_memory_bytes(cap, T));
                fprintf(stderr,
                        "profile (all five sites, %s kernels): %.4f s, overhead %.1f%% over the "
                        "plain forward (CPU time %.1f%%)\n",
                        qs_cpu_path_name(qs_cpu_path()), best_p, 100.0 * (best_p / best - 1.0),
                        100.0 * (prof.cpu / plain.cpu - 1.0));
            }
            qs_capture_free(cap);
            double flops = qs_forward_flops(&m->cfg, T, 0) -
                           2.0 * (T - 1) * (double)m->cfg.dim * m->cfg.vocab_size;
            cJSON_AddStringToObject(o, "model", path);
            cJSON_AddNumberToObject(o, "params", (double)qs_model_param_count(m));
            cJSON_AddNumberToObject(o, "ctx", T);
            cJSON_AddNumberToObject(o, "forward_seconds", best);
            cJSON_AddNumberToObject(o, "forward_cpu_seconds", plain.cpu);
            cJSON_AddNumberToObject(o, "forward_tokens_per_s", T / best);
            cJSON_AddNumberToObject(o, "forward_gflops", flops / best / 1e9);
            fprintf(stderr, "forward %s: %d tokens in %.4f s = %.0f tok/s, %.1f GFLOP/s\n", path, T,
                    best, T / best, flops / best / 1e9);
            qs_forward_free(&st);
        }
        qs_forward_free(&vst);
        qs_model_free(vm);
        free(tok);
        free(logits);
        qs_model_free(m);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    cJSON_AddNumberToObject(o, "peak_rss_mb", ru.ru_maxrss / 1024.0);
    if (rc == QS_OK && qs_cli_get(opts, n, "json"))
        qs_cli_print_json(o);
    else
        cJSON_Delete(o);
    return rc ? qs_cli_fail("bench") : 0;
}
