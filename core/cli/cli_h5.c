/* Opening a result store from a command: a new run with its provenance and model config. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "h5store.h"
#include "provenance.h"
#include "profile_h5.h"

int qs_cli_h5_open_run(qs_h5 **out, const char *path, const char *label, int argc, char **argv,
                       const qs_model *m, const char *text_path, const char *params, int threads) {
    *out = NULL;
    size_t len = strlen("qscope") + 1;
    for (int i = 0; i < argc; i++) len += strlen(argv[i]) + 1;
    char *line = malloc(len + 1);
    if (!line) return qs_error_set(QS_ERR_NOMEM, "out of memory");
    strcpy(line, "qscope");
    for (int i = 0; i < argc; i++) {
        strcat(line, " ");
        strcat(line, argv[i]);
    }
    qs_h5 *h;
    int rc = qs_h5_open(&h, path, label);
    if (rc == QS_OK) {
        qs_provenance p = {0};
        p.command_line = line;
        p.model_path = m->path;
        p.text_path = text_path;
        p.params = params;
        p.threads = threads;
        rc = qs_h5_write_provenance(h, &p);
        if (rc)
            qs_h5_close(h);
        else
            *out = h;
    }
    free(line);
    return rc;
}

int qs_cli_h5_open(qs_h5 **out, const char *path, const char *cmd, int argc, char **argv,
                   const qs_model *m, const char *text_path, const char *params, int threads) {
    int rc = qs_cli_h5_open_run(out, path, cmd, argc, argv, m, text_path, params, threads);
    if (rc == QS_OK && (rc = qs_profile_h5_model(*out, m))) {
        qs_h5_close(*out);
        *out = NULL;
    }
    return rc;
}
