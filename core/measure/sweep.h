/* Reconstruction sweeps: what each quantizer choice costs on the model's own tensors,
 * before any perplexity is measured. Every configuration in the product
 *     bits × scheme × granularity × clip
 * is applied (fake-quantized) to
 *   - every linear weight matrix (out, in) of the model, offline (any clip search), and
 *   - every activation site × layer, on a bounded number of captured tokens (T, C),
 * and one row records its error against the original: mse, SQNR, max |error|
 * (analysis/metrics.h), the storage bits per value, values clipped, and the distinct grid
 * levels each scale group uses (the seed's "one outlier crushes the rest into a few
 * levels" made measurable).
 *
 * Granularity words, as the field writes them, mean per target:
 *              weight (out, in)                  activation (T, C)
 *   tensor     one scale                         one scale
 *   channel    per output channel (row)          per channel (column)
 *   token      — (error row)                     per token (row)
 *   group:G    G consecutive inputs of a row     G consecutive channels of a token
 *
 * A configuration that cannot apply (token on a weight, a NaN in the data, ...) becomes a
 * row with its error message and the sweep goes on.
 *
 * Letters: R rows, C cols, T tokens captured, L layers. */
#ifndef QS_SWEEP_H
#define QS_SWEEP_H

#include "fields.h"
#include "metrics.h" /* analysis/ */
#include "model.h"
#include "quant.h"
#include "sites.h"
#include "windows.h"

#define QS_SWEEP_MAX_LIST 32

enum qs_sweep_gran { QS_SWEEP_TENSOR = 0, QS_SWEEP_CHANNEL, QS_SWEEP_TOKEN, QS_SWEEP_GROUP };

typedef struct qs_sweep_opts {
    int n_bits, bits[QS_SWEEP_MAX_LIST];       /* 2..8 */
    int n_schemes, schemes[QS_SWEEP_MAX_LIST]; /* enum qs_quant_scheme; a format (mxfp4..)
                                                  runs once, at its own bits */
    int n_grans, grans[QS_SWEEP_MAX_LIST];     /* enum qs_sweep_gran */
    int groups[QS_SWEEP_MAX_LIST];             /* G for QS_SWEEP_GROUP, else 0 */
    int n_clips, clips[QS_SWEEP_MAX_LIST];     /* enum qs_quant_clip */
    double percentiles[QS_SWEEP_MAX_LIST];     /* p for QS_QUANT_PERCENTILE, else 0 */
    int fp32_scales;
    unsigned site_mask;       /* sites swept: weights that read them, activations at them */
    int weights, activations; /* which targets to sweep */
    long tokens;              /* activation tokens captured per (site, layer) */
    double decompose; /* > 0: activation columns with any |x| >= it pass through exactly (LLM.int8()
                         decomposition, over the captured tokens); 0: off */
} qs_sweep_opts;

/* Defaults: bits 8,6,4,3; symmetric; tensor, channel, group:32, group:128; absmax, mse,
 * percentile:99.9; fp16 scales; the four linear-input sites; both targets; 1024 tokens. */
void qs_sweep_opts_default(qs_sweep_opts *o);

/* Comma-separated lists, replacing the option's list. Errors (QS_ERR_ARG) name the option
 * and the word: "--bits: '9' is outside 2..8". */
int qs_sweep_parse_bits(qs_sweep_opts *o, const char *list);    /* "8,6,4,3" */
int qs_sweep_parse_schemes(qs_sweep_opts *o, const char *list); /* "symmetric,mxfp4" */
int qs_sweep_parse_grans(qs_sweep_opts *o, const char *list); /* "tensor,channel,token,group:32" */
int qs_sweep_parse_clips(qs_sweep_opts *o, const char *list); /* "absmax,mse,percentile:99.9" */

/* The remedies a sweep can take (remedy_words.h words, space-separated: "rotate",
 * "smooth:0.5 decompose"): the function-preserving transforms with a given exponent, which
 * the caller folds into the model before sweeping it (qs_remedy_transform), and decompose,
 * which sets o->decompose. Refused with the reason: a searched exponent (the search needs a
 * quantized evaluation), gptq (it minimises the layer-output error, not the weight
 * reconstruction error a sweep records: compare it with qscope eval). */
int qs_sweep_remedy_parse(qs_sweep_opts *o, qs_remedy *r, const char *words);

/* The name of a granularity word as written ("tensor", "channel", "token", "group"). */
const char *qs_sweep_gran_name(int gran);

/* One configuration applied to one tensor. */
typedef struct qs_sweep_row {
    const char *target; /* "weight" or "activation" (static strings) */
    char tensor[32];    /* weight: "attn_q", "ffn_down", ...; activation: the site */
    int layer;
    int rows, cols;        /* the matrix: weight (out, in); activation (T, C) */
    int bits, scheme;      /* enum qs_quant_scheme */
    int gran;              /* enum qs_sweep_gran */
    int group;             /* G for group, else 0 */
    int clip;              /* enum qs_quant_clip */
    double clip_value;     /* the percentile p for percentile clipping, else 0 */
    qs_error_metrics err;  /* mse, sqnr_db, max_abs_err (zero when error is set) */
    double bits_per_value; /* storage incl. scale (and zero-point) metadata */
    long n_clipped;        /* values whose code fell outside the grid */
    double levels_mean;    /* distinct codes used per scale group: mean, min, max */
    int levels_min, levels_max;
    char error[256]; /* "" when the configuration ran */
} qs_sweep_row;

/* A row's fields, named once for JSON, Lua and the HDF5 table sweeps/<name> (restables.h):
 * target, tensor, layer, rows, cols, bits, scheme, granularity, group, clip, clip_value,
 * mse, sqnr_db, max_err, bits_per_value, n_clipped, levels_mean, levels_min, levels_max,
 * error. r may be NULL (names, kinds and string widths only). */
#define QS_SWEEP_NFIELDS 20
void qs_sweep_row_fields(const qs_sweep_row *r, qs_field f[QS_SWEEP_NFIELDS]);

/* Called once per finished row; a non-QS_OK return stops the sweep and is returned (set
 * the message first). */
typedef int (*qs_sweep_row_fn)(void *user, const qs_sweep_row *row);

/* Every configuration of o on one matrix x (R, C), only read. target "weight" or
 * "activation" picks the granularity meaning; tensor and layer label the rows. Returns
 * QS_OK (failing configurations are rows), QS_ERR_NOMEM, or the callback's code. */
int qs_sweep_matrix(const float *x, int rows, int cols, const char *target, const char *tensor,
                    int layer, const qs_sweep_opts *o, qs_sweep_row_fn fn, void *user);

/* Every linear weight of m that reads a site of o->site_mask, layer by layer (in the
 * order attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down). */
int qs_sweep_weights(const qs_model *m, const qs_sweep_opts *o, qs_sweep_row_fn fn, void *user);
/* The same one matrix at a time: how many weights read site in layer (0..3) and their
 * names ("attn_q", static strings), and every configuration of o on the index-th. */
int qs_sweep_weight_names(const qs_model *m, int site, int layer, const char *names[3]);
int qs_sweep_weight(const qs_model *m, int site, int layer, int index, const qs_sweep_opts *o,
                    qs_sweep_row_fn fn, void *user);

/* Activations captured through the forward hook: the first `tokens` rows per (site,
 * layer), in window order. Memory: tokens × (sum of the sites' widths) × (L + 1) floats. */
typedef struct qs_sweep_capture {
    int n_layers; /* L; the resid site also has layer L (after the last block) */
    long tokens;  /* rows wanted per (site, layer) */
    unsigned site_mask;
    float *x[QS_SITE_COUNT];  /* (L + 1, tokens, C_site) per captured site, else NULL */
    int cols[QS_SITE_COUNT];  /* C_site */
    long rows[QS_SITE_COUNT]; /* rows captured so far (the same for every layer of a site) */
    int n_windows;            /* windows run */
} qs_sweep_capture;

/* Runs m on the windows of ws until every captured (site, layer) has `tokens` rows or the
 * windows run out. Errors: QS_ERR_ARG (tokens < 1, no site), QS_ERR_NOMEM, forward errors.
 * On success cap owns its buffers; free with qs_sweep_capture_free (also after an error). */
int qs_sweep_capture_run(qs_sweep_capture *cap, const qs_model *m, const qs_windows *ws,
                         unsigned site_mask, long tokens);
void qs_sweep_capture_free(qs_sweep_capture *cap);

/* Every configuration of o on every captured (site, layer) matrix (rows captured, C).
 * Sites in order of enum qs_site, layers ascending (resid: 0..L). */
int qs_sweep_activations(const qs_sweep_capture *cap, const qs_sweep_opts *o, qs_sweep_row_fn fn,
                         void *user);

#endif
