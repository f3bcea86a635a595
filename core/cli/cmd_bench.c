/* qscope bench: the machine's own limits (sgemm GFLOP/s, memory bandwidth) and the forward
 * pass's speed on a model, measured in the same process so they can be compared as ratios;
 * --speed: decode and prefill per weight format and path (measure/speed.h).
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
#include "h5store.h"
#include "linear.h"
#include "profile.h"
#include "progress.h"
#include "result_tables.h"
#include "speed.h"

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

/* ---- --speed: the speed bench (measure/speed.h) ------------------------------------- */

static void speed_progress(void *user, const qs_speed_row *r) {
    (void)user;
    fprintf(stderr,
            "  %-18s %-8s %-8s %9.2f tok/s  %6.1f GB/s (%.2f of bandwidth)  %7.1f GFLOP/s "
            "(%.3f of sgemm)  predicted %.2f tok/s\n",
            r->format, r->path, r->phase, r->tokens_per_s, r->gbs, r->bandwidth_fraction, r->gflops,
            r->peak_fraction, r->predicted_tokens_per_s);
}

/* the default model: a Llama-2-7B shape with 2 layers, F32 GGUF, written once */
static int default_speed_model(char *path, size_t cap) {
    const char *dir = getenv("TMPDIR");
    snprintf(path, cap, "%s/qscope-speed-llama2-7b-2l.gguf", dir && *dir ? dir : "/tmp");
    FILE *f = fopen(path, "rb");
    if (f) {
        fclose(f);
        return QS_OK;
    }
    fprintf(stderr, "bench: writing the default model %s (qscope synth)\n", path);
    char *args[] = {"synth",   "-o",        path,       "--format", "gguf",
                    "--shape", "llama2-7b", "--layers", "2",        NULL};
    return qs_cmd_synth(9, args) ? qs_error_set(QS_ERR_IO, "could not write %s", path) : QS_OK;
}

static int bench_speed(const qs_cli_opt *opts, int n, int argc, char **argv, int reps, double gib,
                       int nt) {
    char defpath[4096];
    const char *path = qs_cli_get(opts, n, "model");
    if (!path) {
        if (default_speed_model(defpath, sizeof defpath)) return qs_cli_fail("bench");
        path = defpath;
    }
    long dec = 16, kv = 256, pre = 512;
    if (qs_cli_int(opts, n, "decode-tokens", 1, 1 << 16, &dec) ||
        qs_cli_int(opts, n, "kv", 0, 1 << 20, &kv) ||
        qs_cli_int(opts, n, "prefill-tokens", 1, 1 << 20, &pre))
        return qs_cli_fail("bench");
    qs_model *m;
    if (qs_model_load(&m, path, NULL)) return qs_cli_fail("bench");
    if (qs_cli_get(opts, n, "no-vnni")) qs_linear_vnni_allow(0);
    qs_speed_limits lim;
    qs_speed_opts so = {qs_cli_get(opts, n, "formats"),
                        qs_cli_get(opts, n, "paths"),
                        qs_cli_get(opts, n, "phases"),
                        (int)dec,
                        (int)kv,
                        (int)pre,
                        reps,
                        qs_cli_get(opts, n, "per-token") != NULL,
                        speed_progress,
                        NULL};
    qs_speed_row *rows = NULL;
    qs_speed_format_info *info = NULL;
    int n_rows = 0, n_info = 0;
    int rc = qs_speed_opts_check(m, &so);
    if (rc == QS_OK) {
        fprintf(stderr, "bench: machine limits (%d threads)\n", nt);
        rc = qs_speed_limits_measure(&lim, gib, reps);
    }
    if (rc == QS_OK)
        fprintf(stderr, "  sgemm %.1f GFLOP/s, read %.1f GB/s, triad %.1f GB/s\n", lim.sgemm_gflops,
                lim.bandwidth_gbs, lim.triad_gbs);
    if (rc == QS_OK) {
        fprintf(stderr, "bench: speed of %s (int8dot kernel %s)\n", path,
                qs_linear_int8dot_kernel_name());
        rc = qs_bench_speed(m, &so, &lim, &rows, &n_rows, &info, &n_info);
    }
    if (rc == QS_OK) { /* the limits again: the better of both runs is the machine's */
        qs_speed_limits again;
        rc = qs_speed_limits_measure(&again, gib, reps);
        if (rc == QS_OK) qs_speed_limits_merge(&lim, &again, rows, n_rows);
        if (rc == QS_OK)
            fprintf(stderr,
                    "bench: limits again: sgemm %.1f GFLOP/s, read %.1f GB/s; rows "
                    "use the better: %.1f GFLOP/s, %.1f GB/s\n",
                    again.sgemm_gflops, again.bandwidth_gbs, lim.sgemm_gflops, lim.bandwidth_gbs);
    }
    const char *out = qs_cli_get(opts, n, "out");
    if (rc == QS_OK && out) {
        qs_h5 *h;
        char params[256];
        snprintf(params, sizeof params, "decode_tokens=%ld; kv=%ld; prefill_tokens=%ld; reps=%d",
                 dec, kv, pre, reps);
        rc = qs_cli_h5_open(&h, out, "bench-speed", argc, argv, m, NULL, params, nt);
        if (rc == QS_OK) {
            qs_h5_table *t;
            rc = qs_restable_speed_open(&t, h, &lim);
            for (int i = 0; i < n_rows && rc == QS_OK; i++)
                rc = qs_restable_speed_append(t, &rows[i]);
            if (rc == QS_OK) rc = qs_h5_table_close(t);
            int rc2 = qs_h5_close(h);
            if (rc == QS_OK) rc = rc2;
        }
        if (rc == QS_OK) fprintf(stderr, "bench: %d rows in %s, /runs/<n>/speed\n", n_rows, out);
    }
    if (rc == QS_OK && qs_cli_get(opts, n, "json")) {
        cJSON *o = cJSON_CreateObject(), *l = cJSON_CreateObject(), *a = cJSON_CreateArray();
        cJSON_AddNumberToObject(l, "sgemm_gflops", lim.sgemm_gflops);
        cJSON_AddNumberToObject(l, "bandwidth_gbs", lim.bandwidth_gbs);
        cJSON_AddItemToObject(o, "limits", l);
        for (int i = 0; i < n_rows; i++) {
            qs_field f[QS_SPEED_NFIELDS];
            qs_speed_row_fields(&rows[i], f);
            cJSON *r = cJSON_CreateObject();
            qs_cli_json_fields(r, f, QS_SPEED_NFIELDS);
            cJSON_AddItemToArray(a, r);
        }
        cJSON_AddItemToObject(o, "rows", a);
        /* what the rows were measured on */
        cJSON *run = cJSON_CreateObject(), *fa = cJSON_CreateArray();
        cJSON_AddStringToObject(run, "model", path);
        cJSON_AddNumberToObject(run, "threads", nt);
        cJSON_AddStringToObject(run, "cpu_path", qs_cpu_path_name(qs_cpu_path()));
        cJSON_AddStringToObject(run, "int8dot_kernel", qs_linear_int8dot_kernel_name());
        cJSON_AddNumberToObject(run, "triad_gbs", lim.triad_gbs);
        cJSON_AddNumberToObject(run, "decode_tokens", (double)dec);
        cJSON_AddNumberToObject(run, "kv_positions", (double)kv);
        cJSON_AddNumberToObject(run, "prefill_tokens", (double)pre);
        cJSON_AddNumberToObject(run, "reps", reps);
        cJSON_AddBoolToObject(run, "per_token", so.per_token);
        for (int i = 0; i < n_info; i++) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "format", info[i].format);
            cJSON_AddNumberToObject(x, "bits_per_weight", info[i].bits_per_weight);
            cJSON_AddNumberToObject(x, "weight_bytes_per_token", info[i].weight_bytes);
            cJSON_AddNumberToObject(x, "matrices", info[i].n_matrices);
            cJSON_AddNumberToObject(x, "register_kernels", info[i].registers);
            cJSON_AddNumberToObject(x, "int8dot_kernels", info[i].int8dot);
            cJSON_AddItemToArray(fa, x);
        }
        cJSON_AddItemToObject(run, "formats", fa);
        cJSON_AddItemToObject(o, "run", run);
        qs_cli_print_json(o);
    }
    free(rows);
    free(info);
    qs_model_free(m);
    return rc ? qs_cli_fail("bench") : 0;
}

int qs_cmd_bench(int argc, char **argv) {
    qs_cli_opt opts[] = {
        {"limits", NULL, "measure sgemm GFLOP/s (1024^3, 2048^3) and memory bandwidth (triad)"},
        {"triad-gib", "G", "bytes the triad streams over, GiB", "1.5"},
        {"model", "FILE", "measure the forward pass of this model"},
        {"ctx", "T", "window length for the forward pass", "512"},
        {"reps", "N", "repetitions (best is reported)", "3"},
        {"profile", NULL,
         "also time the forward with the capture hook on all seven sites (the statistics "
         "on a background thread where the forward leaves a core idle) and "
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
        {"speed", NULL,
         "decode and prefill speed per weight format and path on the machine's roofline "
         "(measure/speed.h): rows of tokens/s, weight GB/s and GFLOP/s as fractions of the "
         "bandwidth and sgemm peak measured in the same run (before and after the rows, the "
         "better of the two), and the tokens/s bytes/bandwidth "
         "predicts. Without --model: a Llama-2-7B shape with 2 layers (F32 GGUF) written "
         "once by qscope synth under $TMPDIR (default /tmp). Other measurements are not run"},
        {"formats", "LIST",
         "--speed: comma-separated formats (f32, f16, bf16, Q8_0, Q4_0, Q4_K, \"int8 "
         "per-channel\", \"int4 g128\", \"int4 g32 affine\", ...)",
         QS_SPEED_FORMATS_DEFAULT},
        {"paths", "LIST",
         "--speed: fused,naive,int8dot (int8dot where a format has integer "
         "kernels)",
         "fused,naive,int8dot"},
        {"phases", "LIST", "--speed: decode,prefill", "decode,prefill"},
        {"decode-tokens", "N", "--speed: tokens timed per decode run", "16"},
        {"kv", "N", "--speed: positions in the KV cache before decoding", "256"},
        {"prefill-tokens", "T", "--speed: the prefill window", "512"},
        {"per-token", NULL, "--speed: int8dot quantizes activations per token (else per 32)"},
        {"no-vnni", NULL, "--speed: int8dot without the VNNI instructions (maddubs)"},
        {"out", "FILE", "--speed: append the rows to this results file (/runs/<n>/speed)"},
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
    if (qs_cli_get(opts, n, "speed")) return bench_speed(opts, n, argc, argv, (int)reps, gib, nt);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "threads", nt);
    /* the statistics kernels' SIMD path (QS_CPU_PATH caps it) */
    cJSON_AddStringToObject(o, "cpu_path", qs_cpu_path_name(qs_cpu_path()));
    cJSON_AddStringToObject(o, "cpu_path_supported", qs_cpu_path_name(qs_cpu_path_supported()));
    if (qs_cli_get(opts, n, "limits")) {
        double g1 = qs_bench_sgemm_gflops(1024, (int)reps);
        double g2 = g1 < 0 ? -1 : qs_bench_sgemm_gflops(2048, (int)reps);
        double bw = g2 < 0 ? -1 : qs_bench_triad_gbs((size_t)(gib * (1u << 30)), (int)reps);
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
            int bg = cap && qs_profile_worker_useful(&st, T); /* as qs_profile_run */
            if (bg && rc == QS_OK) rc = qs_capture_set_worker(cap, 1);
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
                if (rc == QS_OK) rc = qs_capture_end(cap); /* every statistic is in */
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
                cJSON_AddBoolToObject(o, "profile_stats_thread", bg);
                fprintf(stderr,
                        "profile (all seven sites, %s kernels%s): %.4f s, overhead %.1f%% over "
                        "the plain forward (CPU time %.1f%%)\n",
                        qs_cpu_path_name(qs_cpu_path()),
                        bg ? ", statistics on a background thread" : "", best_p,
                        100.0 * (best_p / best - 1.0), 100.0 * (prof.cpu / plain.cpu - 1.0));
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
