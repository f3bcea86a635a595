/* How far a quantized model's predictions move from the full-precision ones, token by token:
 * KL divergence, change in the probability of the correct token, top-1/top-5 agreement,
 * and the perplexity ratio — at least llama.cpp's --kl-divergence set. Computed from
 * float32 logits in double precision (no 16-bit floor, no stored base-logits file: both
 * models run in the same pass). Per-token KLD and Δp values are kept for percentiles
 * (16 bytes per scored token). */
#ifndef QS_KLD_H
#define QS_KLD_H

typedef struct qs_kld_acc {
    long n, cap;
    double *kld; /* (n) KL(P_base || P_quant) per scored token, nats */
    double *dp;  /* (n) p_quant(correct) − p_base(correct) */
    double nll_base, nll_base_sq, nll_q, nll_q_sq, diff, diff_sq; /* running sums */
    long top1_same;
    double top5_overlap; /* sum of |top5(base) ∩ top5(q)| / 5 */
} qs_kld_acc;

/* Percentile levels reported, in this order: max, 99.9, 99, 95, 90, median, 10, 5, 1, 0.1, min */
#define QS_KLD_NPCT 11
extern const double qs_kld_pct_levels[QS_KLD_NPCT];
extern const char *const qs_kld_pct_names[QS_KLD_NPCT]; /* "max", "p99.9", …, "min" */

typedef struct qs_kld_report {
    long n;
    double nll_base, nll_q;
    double ppl_base, ppl_base_se, ppl_q, ppl_q_se;
    double ppl_ratio, ppl_ratio_se, ln_ratio,
        ln_ratio_se; /* paired: ln(PPL_q/PPL_base) = mean(nll_q − nll_base) */
    double kld_mean, kld_se, kld_pct[QS_KLD_NPCT];
    double dp_mean, dp_se, dp_pct[QS_KLD_NPCT], dp_rms, dp_rms_se;
    double top1, top1_se; /* fraction of tokens whose argmax agrees */
    double top5, top5_se; /* mean top-5 overlap fraction */
} qs_kld_report;

void qs_kld_init(qs_kld_acc *a);
/* Adds one scored position: base and quantized logits (V) and the correct next token. */
int qs_kld_add(qs_kld_acc *a, const float *base, const float *quant, int V, int target);
/* Merges b into a (for parallel accumulation, in a fixed order). */
int qs_kld_merge(qs_kld_acc *a, const qs_kld_acc *b);
int qs_kld_report_compute(qs_kld_report *r, const qs_kld_acc *a);
void qs_kld_free(qs_kld_acc *a);

#endif
