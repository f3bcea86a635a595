/* qscope merge OUT.h5 IN.h5...: the runs of job-array shards (--shard I/N) and of resumed
 * runs joined into one new run of OUT, after checking that they share model, text and
 * parameters (merge.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "merge.h"

int qs_cmd_merge(int argc, char **argv) {
    qs_cli_opt opts[] = {
        {"json", NULL, "print one JSON object on stdout"},
    };
    const int n = QS_COUNT(opts);
    const char *pos[QS_CLI_MAX_REPEAT + 1];
    int n_pos;
    int r = qs_cli_parse(argc, argv, "merge", "OUT.h5 IN.h5 [IN.h5 ...] [options]", opts, n, pos,
                         QS_CLI_MAX_REPEAT + 1, &n_pos);
    if (r) return r == 2 ? 0 : 1;
    if (n_pos < 2) {
        fprintf(stderr,
                "qscope merge: error: expected OUT.h5 and at least one IN.h5 (see --help)\n");
        return 1;
    }
    size_t len = 16;
    for (int i = 0; i < argc; i++) len += strlen(argv[i]) + 1;
    char *line = malloc(len);
    if (!line) return qs_cli_fail("merge");
    strcpy(line, "qscope");
    for (int i = 0; i < argc; i++) strcat(strcat(line, " "), argv[i]);
    qs_dist_merge_report rep;
    int rc = qs_dist_merge(pos[0], pos + 1, n_pos - 1, line, &rep);
    free(line);
    if (rc) return qs_cli_fail("merge");
    if (qs_cli_get(opts, n, "json")) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "output", pos[0]);
        cJSON_AddNumberToObject(o, "run", rep.run);
        cJSON_AddNumberToObject(o, "runs_merged", rep.runs_merged);
        cJSON_AddNumberToObject(o, "runs_skipped", rep.runs_skipped);
        cJSON_AddNumberToObject(o, "tables", rep.tables);
        cJSON_AddNumberToObject(o, "tables_copied", rep.tables_copied);
        cJSON_AddNumberToObject(o, "rows_read", (double)rep.rows_read);
        cJSON_AddNumberToObject(o, "rows_written", (double)rep.rows_written);
        cJSON_AddNumberToObject(o, "duplicates", (double)rep.duplicates);
        cJSON_AddNumberToObject(o, "conflicts", (double)rep.conflicts);
        qs_cli_print_json(o);
    } else {
        printf("%s run %d: %ld rows in %d table(s) from %d run(s); %ld duplicate(s) left out",
               pos[0], rep.run, rep.rows_written, rep.tables, rep.runs_merged, rep.duplicates);
        if (rep.conflicts) printf(" (%ld with other values!)", rep.conflicts);
        printf("\n");
    }
    if (rep.conflicts)
        fprintf(stderr, "qscope merge: warning: %ld rows of the same key had other values in a "
                        "later input (another thread count or qscope version?); the first kept\n",
                rep.conflicts);
    return 0;
}
