/* qscope merge: the runs of several results files (the shards of a job array, a run and
 * its resumptions) joined into one new run of one file.
 *
 * Every run of every input that holds a distributed table (dist.h: a table with
 * dist_key_columns) is merged. Before anything is written, the inputs must agree: the
 * runs' model_sha256 and text_sha256 (provenance), and for each table its
 * dist_model_sha256, dist_text_sha256, dist_params, dist_key_columns and its columns; the
 * first disagreement refuses the merge with a message naming the file, the run and the
 * field, both values shown. Then, per table, the rows of every input in order (files as
 * given, runs ascending), a row whose key was already written left out (counted as a
 * duplicate, and as a conflict when any value but `seconds` differs); each kept row's
 * origin (provenance/rows/<table>) goes along with a `source` column ("file:run").
 * Tables without a key (written outside distributed loops, the same in every shard) are
 * copied from the first run that holds them. The new run's provenance has the merge's
 * command line, the inputs' model and text, and merged_from ("file:run" for each run). */
#ifndef QS_MERGE_H
#define QS_MERGE_H

typedef struct qs_dist_merge_report {
    int runs_merged, runs_skipped; /* runs without a distributed table are skipped */
    int tables;                    /* distributed tables written */
    int tables_copied;             /* tables without a key, copied from their first run */
    long rows_read, rows_written, duplicates, conflicts;
    int run; /* the new run of out */
} qs_dist_merge_report;

/* Merges inputs (n >= 1 files) into a new run of out (created if absent; out may not be
 * one of the inputs). command_line goes into the provenance (may be NULL). Errors:
 * QS_ERR_ARG (the inputs disagree, nothing to merge), QS_ERR_FORMAT, QS_ERR_IO. */
int qs_dist_merge(const char *out, const char *const *inputs, int n, const char *command_line,
                  qs_dist_merge_report *report);

#endif
