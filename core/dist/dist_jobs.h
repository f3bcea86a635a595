/* The distributed loops qscope has (dist.h): the reconstruction sweep and the quantized
 * evaluation of a list of configs, each as a job of one-row items, and what a rank needs
 * to rebuild them from files (a spec). */
#ifndef QS_DIST_JOBS_H
#define QS_DIST_JOBS_H

#include "dist.h"
#include "eval.h"
#include "model.h"
#include "sweep.h"
#include "windows.h"

/* Where a job's model and text come from, so another rank can load the same ones. */
typedef struct qs_dist_source {
    const char *model_path;     /* the file (or Hugging Face directory) as loaded */
    const char *tokenizer_path; /* NULL: the model's own */
    const char *text_path;      /* NULL: no text */
    int utf8_policy;            /* enum qs_utf8_policy the text was loaded with */
    qs_window_opts wo;          /* how the text's windows were built */
    int has_wo;
    const char *model_note; /* what was done to the model after loading (remedy words, ...):
                               part of the identity; NULL: nothing */
} qs_dist_source;

/* A sweep: one item per row of qs_sweep_weights, then of qs_sweep_activations, in their
 * order, so one process writes the rows of a plain sweep in the same order. Activations
 * need ws (and o->activations); each rank captures them once, when it first needs them.
 * m, ws and src are borrowed until qs_dist_job_free; o and src's strings are copied.
 * src NULL: the job has no spec (rank 0 alone runs it in a script). */
int qs_dist_sweep_job(qs_dist_job **out, const qs_model *m, const qs_windows *ws,
                      const qs_sweep_opts *o, const qs_dist_source *src);

/* The row of an evaluation item: the config asked for, its scope, and what the evaluation
 * gave (or why it could not run: such a row goes to the sink but not to the table, whose
 * columns have no place for a message). */
typedef struct qs_dist_eval_row {
    char config[256];   /* canonical name */
    char w_config[128]; /* each side alone, as ppl/<name> names them */
    char a_config[128];
    char scope[48];   /* "all", "site:<name>", "layer:<n>" */
    char error[256];  /* "" when it ran */
    qs_eval_result r; /* zero when error is set */
} qs_dist_eval_row;

/* Static activation ranges: where a rank gets its calibration windows. */
typedef struct qs_dist_calib {
    const char *text_path; /* a calibration text (windows built like ws, no docs, no limit) */
    int utf8_policy;
    int windows;   /* at most this many windows (of the calibration text, or of ws) */
    int from_text; /* no calibration text: 1 = the first `windows` windows of ws (qscope
                      eval), 0 = qs_eval's default (m:eval) */
} qs_dist_calib;

/* An evaluation: items config × scope: "all", then with attribute "sites" or "layers" one
 * item per site (layer) the config quantizes, in qscope eval's order. configs are parsed
 * here (QS_ERR_ARG naming a bad one). calib: the windows cal describes, built by the
 * caller (NULL when cal selects none). m, ws, calib borrowed; the rest copied. */
int qs_dist_eval_job(qs_dist_job **out, const qs_model *m, const qs_windows *ws,
                     const char *const *configs, int n_configs, const char *attribute,
                     const qs_windows *calib, const qs_dist_calib *cal,
                     const qs_dist_source *src);

/* Frees a job made here (NULL is fine). */
void qs_dist_job_free(qs_dist_job *j);

#endif
