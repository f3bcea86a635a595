/* Online activation fake-quantization: a forward hook (forward.h) that fake-quantizes the
 * activations at the chosen sites in place, inside every forward pass, from cheap
 * statistics only. This is the "activations" half of the field's asymmetry (weights are
 * quantized offline, wquant.h):
 *  - dynamic: each call's ranges come from the current window (absmax or percentile of
 *    the group: per token, per tensor, per channel or per group of channels);
 *  - static: ranges calibrated beforehand (qs_actq_calibrate) on calibration windows, one
 *    set per (site, layer). absmax takes the widest range seen over the windows;
 *    percentile and mse the mean of the per-window ranges (of the per-group ranges, for
 *    granularities whose groups do not persist across windows: tensor, token, group, which
 *    then share one range per (site, layer)). Per-channel (col) keeps a range per channel.
 *    Calibration runs the given model with no quantization of its own activations.
 *  - decomposition (LLM.int8(), Dettmers et al. 2022), optional: in each call, the columns
 *    (channels) holding any |x| >= the threshold (the published 6.0) stay in full precision
 *    — the "wide path" — and only the other columns are quantized, their ranges found
 *    without the outlier columns (which count as 0 while the ranges are measured, and in
 *    static calibration too). What went to the wide path is counted: columns and values.
 *    The weights are untouched here: LLM.int8() keeps the weight columns that meet the wide
 *    columns in 16 bits too, while qscope quantizes weights offline as configured, so with
 *    quantized weights this is the activation half of LLM.int8() only.
 *
 * Letters: T tokens of the window, C channels of the site, L layers. */
#ifndef QS_ACTQ_H
#define QS_ACTQ_H

#include <stddef.h>

#include "forward.h"
#include "quant.h"
#include "windows.h"

typedef struct qs_actq {
    const qs_quant_side *side; /* borrowed: spec, static flag, sites, layers */
    unsigned site_mask;        /* further restriction by the caller (QS_SITE_ALL: none) */
    int n_layers;
    float *ranges[QS_SITE_COUNT]; /* static: (L + 1, n_ranges, 2) per site, else NULL */
    int n_ranges[QS_SITE_COUNT];  /* ranges per (site, layer): C for col, else 1 */
    int calibrated;
    int calibrating; /* 1: the hook collects ranges instead of quantizing */
    float *scratch;  /* (N, 2) ranges of the current call */
    size_t scratch_n;
    float *tmp; /* (T, C) calibration output */
    size_t tmp_n;
    double decompose; /* > 0: the LLM.int8() threshold (qs_actq_set_decompose) */
    int *wide_idx;    /* (C) the wide columns of the current call */
    size_t wide_idx_n;
    float *wide; /* (T, n_wide) their values, put back after quantization */
    size_t wide_n;
    /* what the hook did */
    long calls, clipped;
    double bits_sum;
    double wide_cols, cols;     /* Σ over calls: wide columns, columns */
    double wide_values, values; /* Σ over calls: values on the wide path, values */
} qs_actq;

/* Prepares the hook state for side `a` (borrowed, must outlive st) on a model of config c.
 * site_mask further limits the sites (QS_SITE_ALL: as the side says). Errors: QS_ERR_ARG
 * (bad spec, a layer the model lacks). A side with bits 16 gives a hook that does nothing. */
int qs_actq_init(qs_actq *st, const qs_config *c, const qs_quant_side *a, unsigned site_mask);

/* Static sides: computes the ranges by running m (unquantized activations; the weights are
 * whatever m holds) on calib's windows. Dynamic sides: nothing to do. Must come before the
 * hook is used on a static side (else the hook fails with QS_ERR_ARG). */
int qs_actq_calibrate(qs_actq *st, const qs_model *m, const qs_windows *calib);

/* The hook to pass to qs_forward; its site mask holds only the sites it quantizes. */
qs_hook qs_actq_hook(qs_actq *st);

/* Turns on mixed-precision decomposition with threshold t > 0 (0 turns it off). Errors:
 * QS_ERR_ARG (t negative or not finite). */
int qs_actq_set_decompose(qs_actq *st, double t);

/* Mean storage bits per activation value over the calls so far (16 if none); with
 * decomposition a call's wide values count 16 bits each. */
double qs_actq_bits_per_value(const qs_actq *st);

/* With decomposition: the fraction of columns (Σ wide columns / Σ columns over the calls)
 * and of values that took the wide path; 0 when nothing was quantized. */
double qs_actq_wide_cols_frac(const qs_actq *st);
double qs_actq_wide_values_frac(const qs_actq *st);

void qs_actq_free(qs_actq *st);

#endif
