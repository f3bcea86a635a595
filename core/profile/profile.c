#include "profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "error.h"
#include "progress.h"

int qs_profile_worker_useful(const qs_forward_state *st, int T) {
    struct rlimit as;
    if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY) return 0;
    return qs_forward_idle_cores(st, T) > 0;
}

int qs_profile_run(qs_capture *c, const qs_model *m, const qs_windows *ws, long max_tokens,
                   qs_profile_info *info) {
    memset(info, 0, sizeof *info);
    int max_n = 0;
    long total = 0;
    for (int i = 0; i < ws->n; i++) {
        max_n = ws->w[i].n > max_n ? ws->w[i].n : max_n;
        total += ws->w[i].n;
    }
    if (max_tokens > 0 && max_tokens < total) total = max_tokens;
    if (max_n == 0) return qs_error_set(QS_ERR_ARG, "profile: no windows to run");
    if (max_n > m->cfg.seq_len)
        return qs_error_set(QS_ERR_ARG,
                            "profile: window of %d tokens is longer than the model's "
                            "context (%d)",
                            max_n, m->cfg.seq_len);
    qs_forward_state st;
    int rc = qs_forward_init(&st, m, max_n, max_n);
    if (rc) return rc;
    if (qs_profile_worker_useful(&st, max_n)) rc = qs_capture_set_worker(c, 1);
    if (rc) {
        qs_forward_free(&st);
        return rc;
    }
    qs_hook hook = qs_capture_hook(c);
    qs_progress pr;
    qs_progress_start(&pr, "profile", total);
    for (int i = 0; i < ws->n && info->tokens < total && rc == QS_OK; i++) {
        const qs_window *w = &ws->w[i];
        int T = w->n;
        if (T > total - info->tokens) T = (int)(total - info->tokens);
        qs_capture_window(c, i, w->tokens, T);
        rc = qs_forward(&st, w->tokens, T, 0, NULL, 0, &hook);
        info->tokens += T;
        info->windows++;
        qs_progress_add(&pr, T);
    }
    if (rc == QS_OK) rc = qs_capture_end(c); /* ties the last window's massive tokens */
    int rc2 = qs_capture_set_worker(c, 0);   /* waits for its jobs whatever happened */
    if (rc == QS_OK) rc = rc2;
    info->seconds = qs_progress_end(&pr);
    qs_forward_free(&st);
    return rc;
}

/* The layers of `site` whose outlier set (sets[l], sizes[l]) holds channel ch. */
static void shared_layers(qs_profile_channel *pc, int ch, int *const *sets, const int *sizes,
                          int n_layers) {
    size_t used = 0, cap = sizeof pc->shared_layers;
    pc->n_shared = 0;
    pc->shared_layers[0] = '\0';
    for (int l = 0; l < n_layers; l++) {
        int hit = 0;
        for (int k = 0; k < sizes[l] && !hit; k++) hit = sets[l][k] == ch;
        if (!hit) continue;
        pc->n_shared++;
        if (used + 16 >= cap) {
            if (used + 4 < cap) strcpy(pc->shared_layers + used, "...");
            used = cap;
            continue;
        }
        used += (size_t)snprintf(pc->shared_layers + used, cap - used, "%s%d", used ? "," : "", l);
    }
}

int qs_profile_channels(qs_profile_channel **out, int *n, const qs_capture *c) {
    *out = NULL;
    *n = 0;
    const qs_outlier_config *oc = &qs_capture_get_opts(c)->outl;
    int L1 = qs_capture_site_layers(c, QS_SITE_RESID);
    qs_outlier_channel *found = NULL; /* (L + 1, Cmax) */
    int **sets = calloc((size_t)L1, sizeof *sets), *sizes = calloc((size_t)L1, sizeof *sizes);
    int Cmax = 0, rc = QS_OK, n_out = 0, cap = 0;
    for (int s = 0; s < QS_SITE_COUNT; s++)
        Cmax = qs_capture_site_width(c, s) > Cmax ? qs_capture_site_width(c, s) : Cmax;
    found = malloc(sizeof *found * (size_t)L1 * Cmax);
    int *idx = malloc(sizeof *idx * (size_t)L1 * Cmax); /* (L + 1, Cmax) channel indices */
    qs_profile_channel *res = NULL;
    if (!sets || !sizes || !found || !idx)
        rc = qs_error_set(QS_ERR_NOMEM, "profile: out of memory");
    for (int s = 0; s < QS_SITE_COUNT && rc == QS_OK; s++) {
        int nl = qs_capture_site_layers(c, s);
        for (int l = 0; l < nl && rc == QS_OK; l++) {
            const qs_chanstats *cs = qs_capture_chanstats(c, s, l);
            sets[l] = idx + (size_t)l * Cmax;
            sizes[l] = 0;
            if (!cs || qs_chanstats_count(cs) == 0) continue;
            rc = qs_outliers_channels(found + (size_t)l * Cmax, &sizes[l], cs, oc);
            for (int k = 0; k < sizes[l]; k++) sets[l][k] = found[(size_t)l * Cmax + k].channel;
        }
        for (int l = 0; l < nl && rc == QS_OK; l++) {
            for (int k = 0; k < sizes[l]; k++) {
                if (n_out == cap) {
                    cap = cap ? 2 * cap : 16;
                    qs_profile_channel *r = realloc(res, sizeof *r * (size_t)cap);
                    if (!r) {
                        rc = qs_error_set(QS_ERR_NOMEM, "profile: out of memory");
                        break;
                    }
                    res = r;
                }
                qs_profile_channel *pc = &res[n_out++];
                pc->site = s;
                pc->layer = l;
                pc->ch = found[(size_t)l * Cmax + k];
                shared_layers(pc, pc->ch.channel, sets, sizes, nl);
            }
        }
    }
    free(found);
    free(idx);
    free(sets);
    free(sizes);
    if (rc) {
        free(res);
        return rc;
    }
    *out = res;
    *n = n_out;
    return QS_OK;
}
