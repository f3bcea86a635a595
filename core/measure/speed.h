/* Decode and prefill speed per weight format, fused against naive dequantization, on the
 * machine's roofline: the seed's section 7, measured.
 *
 * For a model and each format (a twin of it whose matrices, the classifier included, are
 * stored that way) and each path of linear.h (fused, naive, int8dot where the format has
 * integer kernels):
 *   decode   one token at a time after a KV cache of kv_positions tokens: tokens/s over
 *            decode_tokens tokens, best of reps;
 *   prefill  one window of prefill_tokens tokens from an empty cache (the window path:
 *            blocks of rows expanded once per window, then sgemm; naive: each weight
 *            expanded whole first; int8dot: int8 activations, integer kernels).
 * Each row holds tokens/s, the weight bytes each token reads (decode: every matrix once;
 * prefill: the matrices once per window, over its tokens), the GB/s that makes and its
 * fraction of the memory bandwidth, GFLOP/s (qs_forward_flops) and its fraction of the sgemm
 * peak, and the tokens/s the roofline predicts: min(bandwidth / bytes per token, sgemm peak
 * / FLOPs per token) — for decode the seed's bytes ÷ bandwidth. The limits are measured in the
 * same process (qs_speed_limits_measure). Timings are best-of-N wall seconds: the machines are
 * shared; they are never test assertions.
 *
 * Format names are the config grammar's: "f32", "f16", "bf16", "Q8_0", "Q4_0", "Q4_K",
 * "int8 per-channel", "int4 g128", "int4 g32 affine", "int8 per-tensor", ... ("intB WORDS"
 * is the weight side of "WBA16 WORDS", quantized with quant/'s quantizers). */
#ifndef QS_SPEED_H
#define QS_SPEED_H

#include <stddef.h>

#include "fields.h"
#include "model.h"

typedef struct qs_speed_limits {
    double sgemm_gflops;  /* OpenBLAS sgemm, best of 1024^3 and 2048^3 */
    double bandwidth_gbs; /* reading a large matrix (as decode does), all threads, best of
                             1, 4 and 8 rows in flight per thread */
    double triad_gbs;     /* STREAM triad a = b + s·c, three streams counted */
} qs_speed_limits;

/* The three measurements (best of reps; arrays of about gib GiB). -1 and the error set when
 * the arrays cannot be allocated. */
double qs_bench_sgemm_gflops(int n, int reps);
double qs_bench_triad_gbs(size_t bytes, int reps);
double qs_bench_read_gbs(size_t bytes, int reps);
int qs_speed_limits_measure(qs_speed_limits *l, double gib, int reps);

typedef struct qs_speed_row qs_speed_row;
/* *l ← the better of *l and *again, field by field (limits measured before and after the
 * rows: a shared machine's limits move), and the rows' fractions and predictions recomputed
 * against it. */
void qs_speed_limits_merge(qs_speed_limits *l, const qs_speed_limits *again, qs_speed_row *rows,
                           int n_rows);

#define QS_SPEED_FORMATS_DEFAULT \
    "f32,bf16,int8 per-channel,int4 g128,int4 g32 affine,Q8_0,Q4_0,Q4_K"

struct qs_speed_row {
    char format[48]; /* as named */
    char path[12];   /* "fused", "naive", "int8dot" */
    char phase[12];  /* "decode", "prefill" */
    double tokens_per_s, weight_bytes_per_token, gbs, bandwidth_fraction, gflops, peak_fraction,
        predicted_tokens_per_s;
};

/* What the bench did besides its rows (for reports). */
typedef struct qs_speed_format_info {
    char format[48];
    double bits_per_weight; /* stored bits per matrix weight, scales included */
    double weight_bytes;    /* bytes a decoded token reads */
    int registers;          /* matrices with a fused register kernel, of n_matrices */
    int n_matrices;
    int int8dot; /* matrices with an integer kernel */
} qs_speed_format_info;

typedef struct qs_speed_opts {
    const char *formats; /* comma-separated names; NULL: QS_SPEED_FORMATS_DEFAULT */
    const char *paths;   /* comma-separated subset of "fused,naive,int8dot"; NULL: all */
    const char *phases;  /* "decode", "prefill" or both; NULL: both */
    int decode_tokens;   /* timed tokens per decode run (default 16) */
    int kv_positions;    /* cache filled before decoding (default 256) */
    int prefill_tokens;  /* window of the prefill rows (default 512, cut to the context) */
    int reps;            /* best of (default 3), after one warm-up run */
    int per_token;       /* int8dot: one activation scale per token (else per 32 values) */
    /* called after each row (progress, streaming output); may be NULL */
    void (*on_row)(void *user, const qs_speed_row *r);
    void *user;
} qs_speed_opts;

/* Runs the bench on base (limits from qs_speed_limits_measure). *rows (malloc'd, *n_rows
 * of them) and, if info is not NULL, *info (malloc'd, one per format, *n_info) belong to the
 * caller. Errors: QS_ERR_ARG for an unknown format, path or phase (naming it and the valid
 * ones), the format conversion's and the forward pass's errors. */
int qs_bench_speed(const qs_model *base, const qs_speed_opts *o, const qs_speed_limits *lim,
                   qs_speed_row **rows, int *n_rows, qs_speed_format_info **info, int *n_info);

/* The checks qs_bench_speed makes before it runs anything (names, the cache against the
 * context), for callers that measure the limits first. */
int qs_speed_opts_check(const qs_model *m, const qs_speed_opts *o);

/* A row as fields (fields.h), the JSON / Lua / HDF5 names: format, path, phase,
 * tokens_per_s, weight_bytes_per_token, gbs, bandwidth_fraction, gflops, peak_fraction,
 * predicted_tokens_per_s. r may be NULL (names and kinds only). */
#define QS_SPEED_NFIELDS 10
void qs_speed_row_fields(const qs_speed_row *r, qs_field *f);

#endif
