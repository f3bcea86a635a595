/* The profile pipeline, once (profile_engine.h). */
#include "profile_engine.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

/* The request's dumps against the model and the selection; sets no state. */
static int check_dumps(const qs_profile_request *req, const qs_config *cfg) {
    if (req->n_dumps < 0 || req->n_dumps > QS_CAPTURE_MAX_DUMPS)
        return qs_error_set(QS_ERR_ARG, "at most %d dumps (got %d)", QS_CAPTURE_MAX_DUMPS,
                            req->n_dumps);
    if (req->n_dumps && !req->results && !req->open_results)
        return qs_error_set(QS_ERR_ARG, "dumps need a results file");
    const qs_capture_opts *o = &req->capture;
    for (int i = 0; i < req->n_dumps; i++) {
        const qs_profile_dump *d = &req->dumps[i];
        if (d->site < 0 || d->site >= QS_SITE_COUNT)
            return qs_error_set(QS_ERR_ARG, "dump %d: no site %d", i + 1, d->site);
        const char *name = qs_site_name(d->site);
        int Ls = qs_site_layers(cfg, d->site);
        if (d->layer < 0 || d->layer >= Ls)
            return qs_error_set(QS_ERR_ARG, "dump %s,%d: layer %d out of range (0..%d)", name,
                                d->layer, d->layer, Ls - 1);
        if (!(o->site_mask & QS_SITE_BIT(d->site)) || (o->layers && !o->layers[d->layer]))
            return qs_error_set(QS_ERR_ARG,
                                "dump %s,%d: that site and layer are not profiled (see the "
                                "sites and layers options)",
                                name, d->layer);
        if (d->max_tokens < 1)
            return qs_error_set(QS_ERR_ARG, "dump %s,%d: max_tokens must be >= 1", name, d->layer);
    }
    return QS_OK;
}

void qs_profile_result_free(qs_profile_result *r) {
    if (!r) return;
    qs_capture_free(r->capture);
    free(r->channels);
    qs_weightstats_free(r->weights, r->n_weights);
    r->capture = NULL;
    r->channels = NULL;
    r->weights = NULL;
    r->n_channels = r->n_weights = 0;
}

int qs_profile_engine_run(qs_profile_result *out, const qs_model *m, const qs_windows *ws,
                          const qs_profile_request *req) {
    memset(out, 0, sizeof *out);
    qs_profile_h5_sink *sinks[QS_CAPTURE_MAX_DUMPS] = {NULL};
    int rc = check_dumps(req, &m->cfg);
    if (rc == QS_OK) rc = qs_capture_create(&out->capture, &m->cfg, &req->capture);
    if (rc == QS_OK && req->open_results)
        rc = req->open_results(req->open_user, &out->results);
    else if (rc == QS_OK)
        out->results = req->results;
    qs_h5 *h = out->results;

    if (rc == QS_OK && h) rc = qs_profile_h5_model(h, m);
    for (int i = 0; i < req->n_dumps && rc == QS_OK; i++) {
        const qs_profile_dump *d = &req->dumps[i];
        out->dump_cols[i] = qs_site_width(&m->cfg, d->site);
        rc = qs_profile_h5_sink_open(&sinks[i], h, d->site, d->layer, out->dump_cols[i]);
        if (rc == QS_OK)
            rc = qs_capture_add_dump(out->capture, d->site, d->layer, d->max_tokens,
                                     qs_profile_h5_dump_fn, sinks[i]);
    }
    if (rc == QS_OK) rc = qs_profile_run(out->capture, m, ws, req->max_tokens, &out->info);
    if (out->capture) qs_capture_clear_dumps(out->capture); /* it outlives the sinks */
    for (int i = 0; i < req->n_dumps; i++) {
        out->dump_rows[i] = qs_profile_h5_sink_rows(sinks[i]);
        int rc2 = qs_profile_h5_sink_close(sinks[i]);
        if (rc == QS_OK) rc = rc2;
    }
    if (rc == QS_OK) rc = qs_profile_channels(&out->channels, &out->n_channels, out->capture);
    if (rc == QS_OK) rc = qs_weightstats_compute(&out->weights, &out->n_weights, m);
    if (rc == QS_OK && h) rc = qs_profile_h5_stats(h, out->capture);
    if (rc == QS_OK && h) rc = qs_profile_h5_weights(h, out->weights, out->n_weights);
    if (rc == QS_OK && h)
        rc = qs_profile_h5_outliers(h, out->capture, out->channels, out->n_channels, m->tok, ws);
    if (rc == QS_OK && h) rc = qs_profile_h5_attention(h, out->capture, m->tok, ws);
    if (rc) qs_profile_result_free(out);
    return rc;
}
