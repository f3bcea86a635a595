#include "profile_report.h"

#include "attention.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "error.h"
#include "profile_h5.h"

/* lines of a list printed before "... more": the HDF5 file has them all */
#define MAX_LINES 20

static int by_absmax_desc(const void *a, const void *b) {
    double x = ((const qs_outlier_channel *)a)->absmax, y = ((const qs_outlier_channel *)b)->absmax;
    return x < y ? 1 : x > y ? -1 : 0;
}

static int by_ratio_desc(const void *a, const void *b) {
    double x = ((const qs_capture_token *)a)->ratio, y = ((const qs_capture_token *)b)->ratio;
    return x < y ? 1 : x > y ? -1 : 0;
}

static int site_captured(const qs_capture *c, int s) {
    for (int l = 0; l < qs_capture_site_layers(c, s); l++)
        if (qs_capture_chanstats(c, s, l)) return 1;
    return 0;
}

static void kurtosis_table(const qs_profile_report *r, FILE *f, cJSON *sites) {
    const qs_capture *c = r->cap;
    int L1 = qs_capture_site_layers(c, QS_SITE_RESID);
    fprintf(f, "\nwhole-tensor kurtosis (Pearson, 3 = normal) per layer:\n  %-12s", "site");
    for (int l = 0; l < L1; l++) {
        char h[16];
        snprintf(h, sizeof h, "L%d", l);
        fprintf(f, " %9s", h);
    }
    fprintf(f, "\n");
    for (int s = 0; s < QS_SITE_COUNT; s++) {
        if (!site_captured(c, s)) continue;
        fprintf(f, "  %-12s", qs_site_name(s));
        cJSON *arr = sites ? cJSON_AddArrayToObject(sites, qs_site_name(s)) : NULL;
        for (int l = 0; l < qs_capture_site_layers(c, s); l++) {
            if (!qs_capture_chanstats(c, s, l)) {
                fprintf(f, " %9s", "-");
                continue;
            }
            cJSON *o = arr ? cJSON_CreateObject() : NULL;
            if (o) {
                cJSON_AddNumberToObject(o, "layer", l);
                cJSON_AddItemToArray(arr, o);
            }
            const qs_tensorstats *ts = qs_capture_tensorstats(c, s, l);
            qs_tensorstats_summary sm;
            if (!ts || qs_tensorstats_count(ts) == 0 || qs_tensorstats_summarize(ts, &sm)) {
                fprintf(f, " %9s", "-");
                continue;
            }
            fprintf(f, " %9.2f", sm.kurtosis);
            if (!o) continue;
            cJSON_AddNumberToObject(o, "kurtosis", sm.kurtosis);
            cJSON_AddNumberToObject(o, "absmax", sm.absmax);
            cJSON_AddNumberToObject(o, "std", sm.std);
            cJSON_AddNumberToObject(o, "p99", sm.p99);
            cJSON_AddNumberToObject(o, "p9999", sm.p9999);
        }
        fprintf(f, "\n");
    }
}

/* The top channels by absmax of every captured pair; JSON goes into the layer objects
 * made by kurtosis_table (same order). */
static int top_channels(const qs_profile_report *r, FILE *f, cJSON *sites) {
    const qs_capture *c = r->cap;
    fprintf(f,
            "\ntop %d channels by absmax (ratio = absmax / median channel mean|x|; frac = "
            "share of tokens with r >= tau):\n",
            r->top);
    qs_outlier_config all = qs_capture_get_opts(c)->outl;
    all.min_token_frac = 0.0; /* every channel */
    for (int s = 0; s < QS_SITE_COUNT; s++) {
        if (!site_captured(c, s)) continue;
        int C = qs_capture_site_width(c, s), k = 0;
        qs_outlier_channel *chs = malloc(sizeof *chs * (size_t)C);
        if (!chs) return qs_error_set(QS_ERR_NOMEM, "out of memory");
        cJSON *arr = sites ? cJSON_GetObjectItem(sites, qs_site_name(s)) : NULL;
        for (int l = 0; l < qs_capture_site_layers(c, s); l++) {
            const qs_chanstats *cs = qs_capture_chanstats(c, s, l);
            int n = 0;
            if (!cs) continue;
            cJSON *lo = arr ? cJSON_GetArrayItem(arr, k++) : NULL;
            if (qs_chanstats_count(cs) == 0 || qs_outliers_channels(chs, &n, cs, &all)) continue;
            qsort(chs, (size_t)n, sizeof *chs, by_absmax_desc);
            fprintf(f, "  %-11s L%-2d", qs_site_name(s), l);
            cJSON *top = lo ? cJSON_AddArrayToObject(lo, "top_channels") : NULL;
            for (int i = 0; i < n && i < r->top; i++) {
                fprintf(f, "  c%-4d %8.3g x%-7.3g frac %.3f", chs[i].channel, chs[i].absmax,
                        chs[i].ratio_to_median, chs[i].token_fraction);
                if (!top) continue;
                cJSON *o = cJSON_CreateObject();
                cJSON_AddNumberToObject(o, "channel", chs[i].channel);
                cJSON_AddNumberToObject(o, "absmax", chs[i].absmax);
                cJSON_AddNumberToObject(o, "ratio_to_median", chs[i].ratio_to_median);
                cJSON_AddNumberToObject(o, "token_fraction", chs[i].token_fraction);
                cJSON_AddItemToArray(top, o);
            }
            fprintf(f, "\n");
        }
        free(chs);
    }
    return QS_OK;
}

static void outlier_channels(const qs_profile_report *r, FILE *f, cJSON *json) {
    const qs_capture_opts *o = qs_capture_get_opts(r->cap);
    fprintf(f, "\npersistent outlier channels (r >= tau %g on >= %g of tokens): %d\n", o->chan.tau,
            o->outl.min_token_frac, r->n_ch);
    cJSON *arr = json ? cJSON_AddArrayToObject(json, "outlier_channels") : NULL;
    cJSON *shared = json ? cJSON_AddArrayToObject(json, "shared_channels") : NULL;
    for (int i = 0; i < r->n_ch; i++) {
        const qs_profile_channel *p = &r->ch[i];
        if (i == MAX_LINES)
            fprintf(f, "  ... %d more (all in outliers/channels)\n", r->n_ch - MAX_LINES);
        if (i < MAX_LINES)
            fprintf(
                f,
                "  %-11s L%-2d c%-5d absmax %9.4g  ratio %9.4g  token_frac %.3f  seq_frac %.3f  "
                "layers with it: %s\n",
                qs_site_name(p->site), p->layer, p->ch.channel, p->ch.absmax, p->ch.ratio_to_median,
                p->ch.token_fraction, p->ch.sequence_fraction, p->shared_layers);
        if (!arr) continue;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "site", qs_site_name(p->site));
        cJSON_AddNumberToObject(e, "layer", p->layer);
        cJSON_AddNumberToObject(e, "channel", p->ch.channel);
        cJSON_AddNumberToObject(e, "absmax", p->ch.absmax);
        cJSON_AddNumberToObject(e, "ratio_to_median", p->ch.ratio_to_median);
        cJSON_AddNumberToObject(e, "token_fraction", p->ch.token_fraction);
        cJSON_AddNumberToObject(e, "sequence_fraction", p->ch.sequence_fraction);
        cJSON_AddNumberToObject(e, "n_shared_layers", p->n_shared);
        cJSON_AddStringToObject(e, "shared_layers", p->shared_layers);
        cJSON_AddItemToArray(arr, e);
    }
    /* each (site, channel) held by two or more layers, once: at its first layer */
    int n_shared = 0;
    for (int i = 0; i < r->n_ch; i++) {
        const qs_profile_channel *p = &r->ch[i];
        int first = 1;
        for (int j = 0; j < i; j++)
            if (r->ch[j].site == p->site && r->ch[j].ch.channel == p->ch.channel) first = 0;
        if (!first || p->n_shared < 2) continue;
        if (n_shared == 0) fprintf(f, "channel indices shared by layers of a site:\n");
        if (n_shared == MAX_LINES) fprintf(f, "  ... and more\n");
        if (n_shared++ < MAX_LINES)
            fprintf(f, "  %-11s c%-5d layers %s\n", qs_site_name(p->site), p->ch.channel,
                    p->shared_layers);
        if (!shared) continue;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "site", qs_site_name(p->site));
        cJSON_AddNumberToObject(e, "channel", p->ch.channel);
        cJSON_AddStringToObject(e, "layers", p->shared_layers);
        cJSON_AddItemToArray(shared, e);
    }
    if (r->n_ch > 0 && n_shared == 0)
        fprintf(f, "no channel index is shared by two layers of a site\n");
}

static int massive_tokens(const qs_profile_report *r, FILE *f, cJSON *json) {
    const qs_capture_opts *o = qs_capture_get_opts(r->cap);
    int n_kept;
    int64_t n_found;
    const qs_capture_token *tk = qs_capture_tokens(r->cap, &n_kept, &n_found);
    fprintf(f,
            "\ntoken-wise outliers (%s rule: max|x| >= %g and >= %g x the token's median |x|): "
            "%lld",
            qs_massive_rule_name(o->outl.massive_rule), o->outl.massive_abs, o->outl.massive_ratio,
            (long long)n_found);
    if (n_found > n_kept) fprintf(f, " (first %d kept)", n_kept);
    fprintf(f, "\n");
    cJSON *to = json ? cJSON_AddObjectToObject(json, "token_outliers") : NULL;
    if (to) {
        cJSON_AddStringToObject(to, "rule", qs_massive_rule_name(o->outl.massive_rule));
        cJSON_AddNumberToObject(to, "massive_abs", o->outl.massive_abs);
        cJSON_AddNumberToObject(to, "massive_ratio", o->outl.massive_ratio);
        cJSON_AddNumberToObject(to, "found", (double)n_found);
        cJSON_AddNumberToObject(to, "kept", n_kept);
    }
    cJSON *arr = to ? cJSON_AddArrayToObject(to, "top") : NULL;
    qs_capture_token *sorted = malloc(sizeof *sorted * (size_t)(n_kept ? n_kept : 1));
    if (!sorted) return qs_error_set(QS_ERR_NOMEM, "out of memory");
    memcpy(sorted, tk, sizeof *sorted * (size_t)n_kept);
    qsort(sorted, (size_t)n_kept, sizeof *sorted, by_ratio_desc);
    for (int i = 0; i < n_kept && i < r->top; i++) {
        const qs_capture_token *t = &sorted[i];
        int prev = -1;
        if (r->ws && t->window < r->ws->n && t->position > 0)
            prev = r->ws->w[t->window].tokens[t->position - 1];
        char text[64];
        qs_profile_token_text(r->m->tok, prev, t->token_id, text, sizeof text);
        fprintf(
            f,
            "  %-11s L%-2d window %-4d pos %-4d token %5d '%s'  c%-5d value %10.4g  ratio %.4g\n",
            qs_site_name(t->site), t->layer, t->window, t->position, t->token_id, text, t->channel,
            t->value, t->ratio);
        if (!arr) continue;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "site", qs_site_name(t->site));
        cJSON_AddNumberToObject(e, "layer", t->layer);
        cJSON_AddNumberToObject(e, "window", t->window);
        cJSON_AddNumberToObject(e, "position", t->position);
        cJSON_AddNumberToObject(e, "token_id", t->token_id);
        cJSON_AddStringToObject(e, "token_text", text);
        cJSON_AddNumberToObject(e, "channel", t->channel);
        cJSON_AddNumberToObject(e, "value", t->value);
        cJSON_AddNumberToObject(e, "ratio", t->ratio);
        cJSON_AddItemToArray(arr, e);
    }
    free(sorted);
    return QS_OK;
}

/* Per layer: sink heads, their positions, mean BOS mass, entropy, max logit; then the
 * massive tokens and the heads that sink on them. */
static void attention_table(const qs_profile_report *r, FILE *f, cJSON *json) {
    const qs_attnstats *a = qs_capture_attention(r->cap);
    if (!a) return;
    int L = qs_attnstats_layers(a), H = qs_attnstats_heads(a);
    double th = qs_attnstats_threshold(a);
    fprintf(f,
            "\nattention per layer (%d heads; a sink head puts >= %g of its mass on one of "
            "positions 0..%d):\n",
            H, th, QS_ATTN_NPOS - 1);
    fprintf(f, "  layer  sinks  BOS mass (mean, max)  entropy (nats)  max logit  sink heads\n");
    cJSON *ja = json ? cJSON_AddObjectToObject(json, "attention") : NULL;
    if (ja) cJSON_AddNumberToObject(ja, "sink_threshold", th);
    cJSON *jl = ja ? cJSON_AddArrayToObject(ja, "layers") : NULL;
    for (int l = 0; l < L; l++) {
        double bos = 0, bos_max = 0, ent = 0, mx = -INFINITY;
        char heads[256] = "";
        size_t k = 0;
        cJSON *jh = jl ? cJSON_CreateArray() : NULL;
        for (int h = 0; h < H; h++) {
            qs_attn_head s;
            qs_attnstats_head(a, l, h, &s);
            bos += s.bos_mass / H, ent += s.entropy / H;
            bos_max = s.bos_mass > bos_max ? s.bos_mass : bos_max;
            mx = s.max_logit > mx ? s.max_logit : mx;
            if (s.rows > 0 && s.sink_mass >= th) {
                if (k + 24 < sizeof heads)
                    k += (size_t)snprintf(heads + k, sizeof heads - k, "%sh%d@%d %.2f",
                                          k ? " " : "", h, s.sink_position, s.sink_mass);
                if (jh) cJSON_AddItemToArray(jh, cJSON_CreateNumber(h));
            }
        }
        double frac = qs_attnstats_sink_fraction(a, l);
        fprintf(f, "  L%-5d %4.0f%%   %6.3f  %6.3f       %7.3f        %8.3g  %s\n", l, 100 * frac,
                bos, bos_max, ent, mx, k ? heads : "-");
        if (jl) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "layer", l);
            cJSON_AddNumberToObject(e, "sink_fraction", frac);
            cJSON_AddNumberToObject(e, "bos_mass", bos);
            cJSON_AddNumberToObject(e, "entropy", ent);
            cJSON_AddNumberToObject(e, "max_logit", mx);
            cJSON_AddItemToObject(e, "sink_heads", jh);
            cJSON_AddItemToArray(jl, e);
        }
    }
    int n_kept;
    int64_t n_found;
    const qs_attn_tie *t = qs_attnstats_ties(a, &n_kept, &n_found);
    fprintf(f, "massive tokens and the heads that sink on them (received mass >= %g): %lld\n", th,
            (long long)n_found);
    for (int i = 0; i < n_kept && i < r->top; i++)
        fprintf(f, "  window %-4d pos %-4d token %5d  L%d h%d  mass %.3f\n", t[i].window,
                t[i].position, t[i].token_id, t[i].layer, t[i].head, t[i].mass);
    if (ja) cJSON_AddNumberToObject(ja, "massive_sinks", (double)n_found);
}

int qs_profile_report_write(const qs_profile_report *r, FILE *f, cJSON *json) {
    const qs_profile_info *in = r->info;
    fprintf(f, "profiled %s: %ld tokens in %d windows, %.2f s (%.0f tokens/s)\n", r->m->path,
            in->tokens, in->windows, in->seconds, in->seconds > 0 ? in->tokens / in->seconds : 0);
    cJSON *sites = json ? cJSON_AddObjectToObject(json, "sites") : NULL;
    kurtosis_table(r, f, sites);
    int rc = top_channels(r, f, sites);
    if (rc == QS_OK) outlier_channels(r, f, json);
    if (rc == QS_OK) rc = massive_tokens(r, f, json);
    if (rc == QS_OK) attention_table(r, f, json);
    return rc;
}
