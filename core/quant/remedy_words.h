/* The remedies as words of a config name (quant.h's grammar): what a configuration does to
 * the model before, or around, quantizing it. They are not properties of one side; they
 * take no w:/a: prefix and print after every side's words (before a KV section), in the
 * order they are applied:
 *
 *   remedy := 'rotate' [ ':' rpart { ',' rpart } ]          rpart := 'resid' | 'down' | 'heads'
 *                                                                   | 'seed=' N
 *           | 'smooth' [ ':' alpha ]                      (0 <= alpha <= 1)
 *           | 'awq' [ ':' alpha ]
 *           | 'gptq' [ ':' gopt { ',' gopt } ]            gopt  := 'act-order' | 'damp=' X
 *           | 'decompose' [ ':' threshold ]               (threshold > 0)
 *
 *   rotate     QuaRot-style randomized Hadamard rotations (hadamard.h), function-preserving:
 *              resid — the residual stream, folded into the embedding, every weight that
 *              reads it (after the norm gains are folded into them) and every weight that
 *              writes it; down — an online transform of ffn_down_in inside the forward pass,
 *              its inverse folded into ffn_down; heads — each head's values (attn_o_in)
 *              rotated by a head_dim rotation folded into attn_v's rows and
 *              attn_output's columns. "rotate" alone is all three with seed 0.
 *   smooth     SmoothQuant (smooth.h): scales from calibration windows folded into the norm
 *              gains / producing weights and the reading weights; alpha given, or searched
 *              over 0.05 .. 0.95 by the calibration loss when omitted (the choice is
 *              reported).
 *   awq        AWQ (awq.h): activation-aware scales, folded the same way, exponent given or
 *              searched over the published grid; needs quantized weights.
 *   gptq       GPTQ (gptq.h) instead of round-to-nearest for the weights: damp 0.01 unless
 *              given, act-order optional; needs quantized weights.
 *   decompose  LLM.int8()'s mixed-precision decomposition in the activation quantizer
 *              (act_quant.h), threshold 6 unless given; needs quantized activations.
 *
 * Canonical form: "rotate" (all parts, seed 0) or "rotate:" and the parts in the order
 * resid, down, heads, then seed=N when N != 0; "smooth" or "smooth:A" (A printed %g);
 * "awq" likewise; "gptq", "gptq:act-order", "gptq:damp=X", "gptq:act-order,damp=X" (damp
 * printed when it is not 0.01); "decompose:T" always with its threshold. The order in a
 * name: rotate, smooth, awq, gptq, decompose. smooth and awq together are an error (both
 * set the same per-channel scales), as is a remedy word given twice. */
#ifndef QS_REMEDY_WORDS_H
#define QS_REMEDY_WORDS_H

#include <stddef.h>
#include <stdint.h>

enum {
    QS_ROTATE_RESID = 1, /* the residual stream */
    QS_ROTATE_DOWN = 2,  /* online at ffn_down_in */
    QS_ROTATE_HEADS = 4, /* per head at attn_o_in, folded into attn_v / attn_output */
    QS_ROTATE_ALL = 7,
};

#define QS_DECOMPOSE_DEFAULT 6.0 /* LLM.int8()'s outlier threshold */
#define QS_GPTQ_DAMP_DEFAULT 0.01

typedef struct qs_remedy {
    int rotate; /* QS_ROTATE_* bits; 0 = off */
    uint64_t rotate_seed;
    int smooth;          /* SmoothQuant on */
    double smooth_alpha; /* [0, 1], or < 0: searched */
    int awq;             /* AWQ on */
    double awq_alpha;    /* [0, 1], or < 0: searched */
    int gptq;            /* GPTQ instead of round-to-nearest */
    int gptq_act_order;
    double gptq_damp;
    double decompose; /* > 0: LLM.int8() threshold; 0 = off */
} qs_remedy;

/* No remedy. */
void qs_remedy_default(qs_remedy *r);
/* 1 if any remedy is on. */
int qs_remedy_any(const qs_remedy *r);

/* If `word` (without prefix) is a remedy word, applies it to r and returns 1; 0 when it is
 * not one (r untouched); -1 on error (message set, naming the word and `name`, the whole
 * config). */
int qs_remedy_word(qs_remedy *r, const char *word, const char *name);

/* Checks the combination against the sides quantized (w_bits, a_bits: 16 = not): QS_OK or
 * QS_ERR_ARG naming what conflicts or what needs which side. */
int qs_remedy_check(const qs_remedy *r, int w_bits, int a_bits, const char *name);

/* Appends " word" for each remedy on, in canonical order, to buf (which holds a string of
 * length *len, size n); *len grows. QS_ERR_ARG if it does not fit. */
int qs_remedy_format(char *buf, size_t n, size_t *len, const qs_remedy *r);

#endif
