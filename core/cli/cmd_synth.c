/* qscope synth -o FILE: a llama2.c checkpoint with random weights of a realistic shape, for
 * benchmarking at 7B-like widths without a 7B download. Matrices are N(0, 1/in) so the
 * activations stay in a normal range; norm gains are 1. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "fileio.h"

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static float gauss(uint64_t *s) {
    double u1 = ((rng_next(s) >> 11) + 1.0) / 9007199254740993.0;
    double u2 = (rng_next(s) >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

/* Writes n floats: N(0, std²), or the constant `value` when std == 0. */
static int write_array(FILE *f, size_t n, float std, float value, uint64_t *rng, const char *path) {
    float buf[4096];
    while (n > 0) {
        size_t k = n < 4096 ? n : 4096;
        for (size_t i = 0; i < k; i++) buf[i] = std > 0 ? std * gauss(rng) : value;
        if (fwrite(buf, sizeof(float), k, f) != k)
            return qs_error_set(QS_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        n -= k;
    }
    return QS_OK;
}

int qs_cmd_synth(int argc, char **argv) {
    qs_cli_opt opts[] = {
        {"output", "FILE", "checkpoint to write (llama2.c legacy format)"},
        {"dim", "N", "model width", "2048"},
        {"hidden", "N", "feed-forward width", "5504"},
        {"layers", "N", "blocks", "4"},
        {"heads", "N", "attention heads", "16"},
        {"kv-heads", "N", "key/value heads (GQA when fewer than heads)", "16"},
        {"vocab", "N", "vocabulary size", "32000"},
        {"seq", "N", "context length", "1024"},
        {"seed", "N", "random seed", "1"},
    };
    const int n = QS_COUNT(opts);
    const char *pos[1];
    int n_pos;
    int r = qs_cli_parse(argc, argv, "synth", "-o FILE [options]", opts, n, pos, 0, &n_pos);
    if (r) return r == 2 ? 0 : 1;
    const char *path = qs_cli_get(opts, n, "output");
    if (!path) {
        fprintf(stderr, "qscope synth: error: -o FILE is required\n");
        return 1;
    }
    long d = 2048, h = 5504, l = 4, nh = 16, nkv = 16, v = 32000, seq = 1024, seed = 1;
    if (qs_cli_int(opts, n, "dim", 2, 65536, &d) || qs_cli_int(opts, n, "hidden", 1, 262144, &h) ||
        qs_cli_int(opts, n, "layers", 1, 1024, &l) || qs_cli_int(opts, n, "heads", 1, 4096, &nh) ||
        qs_cli_int(opts, n, "kv-heads", 1, 4096, &nkv) ||
        qs_cli_int(opts, n, "vocab", 1, 1 << 22, &v) ||
        qs_cli_int(opts, n, "seq", 2, 1 << 20, &seq) ||
        qs_cli_int(opts, n, "seed", 1, 1L << 62, &seed))
        return qs_cli_fail("synth");
    if (d % nh || nh % nkv || (d / nh) % 2) {
        fprintf(stderr, "qscope synth: error: heads must divide dim, kv-heads must divide heads, "
                        "head_dim must be even\n");
        return 1;
    }
    qs_file_out out;
    if (qs_file_out_open(&out, path)) return qs_cli_fail("synth");
    FILE *f = out.f;
    int32_t hdr[7] = {(int32_t)d,   (int32_t)h, (int32_t)l,  (int32_t)nh,
                      (int32_t)nkv, (int32_t)v, (int32_t)seq};
    uint64_t rng = (uint64_t)seed * 0x9E3779B97F4A7C15ull | 1;
    size_t D = d, H = h, L = l, KV = (size_t)(d / nh) * nkv, half = (size_t)(d / nh) / 2;
    float sd = 1.0f / sqrtf((float)d), sh = 1.0f / sqrtf((float)h);
    int rc = fwrite(hdr, sizeof hdr, 1, f) == 1 ? QS_OK
                                                : qs_error_set(QS_ERR_IO, "%s: write failed", path);
    struct {
        size_t n;
        float std, value;
    } arrays[] = {
        {(size_t)v * D, 1.0f, 0},
        {L * D, 0, 1.0f},
        {L * D * D, sd, 0},
        {L * KV * D, sd, 0},
        {L * KV * D, sd, 0},
        {L * D * D, sd, 0},
        {L * D, 0, 1.0f},
        {L * H * D, sd, 0},
        {L * D * H, sh, 0},
        {L * H * D, sd, 0},
        {D, 0, 1.0f},
        {(size_t)seq * half, 0, 1.0f},
        {(size_t)seq * half, 0, 0.0f},
    };
    for (int i = 0; i < QS_COUNT(arrays) && rc == QS_OK; i++)
        rc = write_array(f, arrays[i].n, arrays[i].std, arrays[i].value, &rng, path);
    if (rc)
        qs_file_out_abort(&out);
    else
        rc = qs_file_out_commit(&out);
    if (rc) return qs_cli_fail("synth");
    fprintf(stderr, "wrote %s: dim %ld, hidden %ld, layers %ld, heads %ld/%ld, vocab %ld\n", path,
            d, h, l, nh, nkv, v);
    return 0;
}
