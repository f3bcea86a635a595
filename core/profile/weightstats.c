#include "weightstats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

void qs_weightstats_free(qs_weightstat *w, int n) {
    if (!w) return;
    for (int i = 0; i < n; i++) qs_tensorstats_free(w[i].ts);
    free(w);
}

int qs_weightstats_compute(qs_weightstat **out, int *n, const qs_model *m) {
    *out = NULL;
    *n = 0;
    qs_weightstat *w = calloc((size_t)(m->n_tensors ? m->n_tensors : 1), sizeof *w);
    if (!w) return qs_error_set(QS_ERR_NOMEM, "weight statistics: out of memory");
    int rc = QS_OK;
    for (int i = 0; i < m->n_tensors && rc == QS_OK; i++) {
        const qs_tensor *t = m->tensors[i];
        snprintf(w[i].name, sizeof w[i].name, "%s", t->name);
        w[i].rows = t->rows;
        w[i].cols = t->cols;
        rc = qs_tensorstats_create(&w[i].ts);
        const float *x; /* in place, or expanded one tensor at a time */
        float *owned = NULL;
        if (rc == QS_OK) rc = qs_tensor_f32(t, &x, &owned);
        if (rc == QS_OK) rc = qs_tensorstats_add(w[i].ts, x, t->rows * t->cols);
        free(owned);
        if (rc) rc = qs_error_prefix(rc, "weight statistics of %s", t->name);
    }
    if (rc) {
        qs_weightstats_free(w, m->n_tensors);
        return rc;
    }
    *out = w;
    *n = m->n_tensors;
    return QS_OK;
}
