/* The options of the commands whose loops distribute (sweep, eval, run): --shard, --resume,
 * and what they hand the distribution layer (dist.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "h5read.h"

int qs_cli_dist_opts(const qs_cli_opt *opts, int n, qs_dist_opts *o) {
    memset(o, 0, sizeof *o);
    const char *s = qs_cli_get(opts, n, "shard");
    if (s && qs_dist_shard_parse(o, s)) return 1;
    o->resume = qs_cli_get(opts, n, "resume") != NULL;
    o->print_progress = o->shard_count > 0 || o->resume || qs_dist_size() > 1;
    return 0;
}

int qs_cli_dist_wanted(const qs_dist_opts *o) {
    return o->shard_count > 0 || o->resume || qs_dist_size() > 1;
}

int qs_cli_dist_identity(qs_h5 *h, char model[65], char text[65]) {
    model[0] = text[0] = '\0';
    qs_h5_reader *r;
    int rc = qs_h5_reader_borrow(&r, h);
    char *m = NULL, *t = NULL;
    if (rc == QS_OK) rc = qs_h5_reader_attr(r, qs_h5_run(h), "provenance", "model_sha256", &m);
    if (rc == QS_OK) rc = qs_h5_reader_attr(r, qs_h5_run(h), "provenance", "text_sha256", &t);
    if (m) snprintf(model, 65, "%s", m);
    if (t) snprintf(text, 65, "%s", t);
    free(m);
    free(t);
    qs_h5_reader_close(r);
    return rc;
}

int qs_cli_dist_source(const qs_cli_opt *opts, int n, const qs_model *m, const char *text_path,
                       qs_dist_source *src) {
    memset(src, 0, sizeof *src);
    src->model_path = m->path;
    src->tokenizer_path = qs_cli_get(opts, n, "tokenizer");
    src->text_path = text_path;
    if (!text_path) return 0;
    src->has_wo = 1;
    return qs_cli_window_opts(opts, n, m, &src->wo, &src->utf8_policy);
}
