/* The profile's HDF5 writer: datasets and tables under the current run (layout in
 * profile_h5.h). Letters: Ls layers of a site, C channels, B histogram bins. */
#include "profile_h5.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "error.h"
#include "utf8.h"

#define NB QS_TENSORSTATS_NBINS

int qs_profile_h5_model(qs_h5 *h, const qs_model *m) {
    const qs_config *c = &m->cfg;
    struct {
        const char *name;
        int64_t v;
    } ints[] = {
        {"dim", c->dim},
        {"hidden_dim", c->hidden_dim},
        {"n_layers", c->n_layers},
        {"n_heads", c->n_heads},
        {"n_kv_heads", c->n_kv_heads},
        {"head_dim", c->head_dim},
        {"vocab_size", c->vocab_size},
        {"seq_len", c->seq_len},
        {"rope_layout", c->rope_layout},
        {"tied_classifier", c->tied_classifier},
        {"has_qkv_bias", c->has_qkv_bias},
        {"bos_id", c->bos_id},
        {"eos_id", c->eos_id},
        {"params", qs_model_param_count(m)},
    };
    int rc = qs_h5_attr_str(h, "model", "path", m->path);
    if (rc == QS_OK) rc = qs_h5_attr_str(h, "model", "format", m->format);
    if (rc == QS_OK) rc = qs_h5_attr_str(h, "model", "arch", c->arch);
    for (size_t i = 0; i < sizeof ints / sizeof ints[0] && rc == QS_OK; i++)
        rc = qs_h5_attr_i64(h, "model", ints[i].name, ints[i].v);
    if (rc == QS_OK) rc = qs_h5_attr_f64(h, "model", "rope_theta", c->rope_theta);
    if (rc == QS_OK) rc = qs_h5_attr_f64(h, "model", "norm_eps", c->norm_eps);
    if (rc == QS_OK) rc = qs_h5_attr_f64(h, "model", "rope_scale_factor", c->rope_scale_factor);
    return rc;
}

/* ---- whole-tensor summary rows (shared by activations and weights) ---- */

static const char *const summary_cols[] = {
    "count",  "n_zero",   "mean",    "var", "std", "skewness", "kurtosis", "min",   "max",
    "absmax", "mean_abs", "mean_sq", "p50", "p90", "p99",      "p999",     "p9999",
};
#define N_SUMMARY ((int)(sizeof summary_cols / sizeof summary_cols[0]))

static void summary_values(qs_h5_value *v, const qs_tensorstats_summary *s) {
    double f[] = {s->mean, s->var, s->std,    s->skewness, s->kurtosis,
                  s->min,  s->max, s->absmax, s->mean_abs, s->mean_sq,
                  s->p50,  s->p90, s->p99,    s->p999,     s->p9999};
    v[0] = QS_H5_VI64(s->count);
    v[1] = QS_H5_VI64(s->n_zero);
    for (int i = 2; i < N_SUMMARY; i++) v[i] = QS_H5_VF64(f[i - 2]);
}

/* Columns: lead columns, then the summary ones. */
static int summary_table(qs_h5_table **t, qs_h5 *h, const char *path, const qs_h5_col *lead,
                         int n_lead) {
    qs_h5_col cols[8 + N_SUMMARY];
    for (int i = 0; i < n_lead; i++) cols[i] = lead[i];
    for (int i = 0; i < N_SUMMARY; i++)
        cols[n_lead + i] = (qs_h5_col){summary_cols[i], i < 2 ? QS_H5_COL_I64 : QS_H5_COL_F64, 0};
    return qs_h5_table_open(t, h, path, cols, (size_t)(n_lead + N_SUMMARY));
}

static int write_edges(qs_h5 *h, const char *path) {
    double *e = malloc(sizeof(double) * (NB + 1));
    qs_tensorstats *ts = NULL;
    int rc = e ? qs_tensorstats_create(&ts) : qs_error_set(QS_ERR_NOMEM, "out of memory");
    if (rc == QS_OK) {
        qs_tensorstats_bins(ts, e, NULL);
        rc = qs_h5_vector_write(h, path, QS_H5_F64, e, NB + 1);
    }
    qs_tensorstats_free(ts);
    free(e);
    return rc;
}

/* ---- activations ---- */

static int site_stats(qs_h5 *h, const qs_capture *c, int s) {
    int Ls = qs_capture_site_layers(c, s), C = qs_capture_site_width(c, s);
    const char *name = qs_site_name(s);
    char path[128];
    enum { N_FIELDS = 15 };
    static const int fields[N_FIELDS - 2] = {QS_CHANSTATS_MEAN,
                                             QS_CHANSTATS_VAR,
                                             QS_CHANSTATS_STD,
                                             QS_CHANSTATS_SKEWNESS,
                                             QS_CHANSTATS_KURTOSIS,
                                             QS_CHANSTATS_MIN,
                                             QS_CHANSTATS_MAX,
                                             QS_CHANSTATS_ABSMAX,
                                             QS_CHANSTATS_MEAN_ABS,
                                             QS_CHANSTATS_MEAN_SQ,
                                             QS_CHANSTATS_N_OUTLIER_TOKENS,
                                             QS_CHANSTATS_N_INT8_TOKENS,
                                             QS_CHANSTATS_N_OUTLIER_WINDOWS};
    double *m = malloc(sizeof(double) * (size_t)Ls * C);       /* (Ls, C) */
    double *tmp = malloc(sizeof(double) * (size_t)C);          /* (C) */
    int64_t *counts = calloc((size_t)Ls * NB, sizeof *counts); /* (Ls, B) */
    uint64_t *row = malloc(sizeof(uint64_t) * NB);             /* (B) */
    int64_t *layers = malloc(sizeof(int64_t) * (size_t)Ls);
    int rc =
        m && tmp && counts && row && layers ? QS_OK : qs_error_set(QS_ERR_NOMEM, "out of memory");
    const qs_chanstats *first = NULL;
    int n_layers = 0;
    for (int l = 0; l < Ls; l++)
        if (qs_capture_chanstats(c, s, l)) {
            if (!first) first = qs_capture_chanstats(c, s, l);
            if (layers) layers[n_layers] = l;
            n_layers++;
        }
    /* one [Ls, C] matrix per statistic; the two fractions are derived from the counts */
    for (int f = 0; f < N_FIELDS && rc == QS_OK; f++) {
        const char *fname = f < N_FIELDS - 2    ? qs_chanstats_field_name(fields[f])
                            : f == N_FIELDS - 2 ? "token_fraction"
                                                : "sequence_fraction";
        for (int l = 0; l < Ls && rc == QS_OK; l++) {
            const qs_chanstats *cs = qs_capture_chanstats(c, s, l);
            double *out = m + (size_t)l * C;
            if (!cs || qs_chanstats_count(cs) == 0) {
                for (int k = 0; k < C; k++) out[k] = NAN;
                continue;
            }
            if (f < N_FIELDS - 2) {
                rc = qs_chanstats_column(cs, fields[f], out);
            } else {
                int src = f == N_FIELDS - 2 ? QS_CHANSTATS_N_OUTLIER_TOKENS
                                            : QS_CHANSTATS_N_OUTLIER_WINDOWS;
                double den = f == N_FIELDS - 2 ? (double)qs_chanstats_count(cs)
                                               : (double)qs_chanstats_windows(cs);
                rc = qs_chanstats_column(cs, src, tmp);
                for (int k = 0; k < C; k++) out[k] = tmp[k] / den;
            }
        }
        snprintf(path, sizeof path, "stats/%s/%s", name, fname);
        if (rc == QS_OK) rc = qs_h5_matrix_write(h, path, QS_H5_F64, m, (size_t)Ls, (size_t)C);
    }
    snprintf(path, sizeof path, "stats/%s", name);
    if (rc == QS_OK && first) rc = qs_h5_attr_i64(h, path, "count", qs_chanstats_count(first));
    if (rc == QS_OK && first)
        rc = qs_h5_attr_i64(h, path, "n_windows", qs_chanstats_windows(first));
    snprintf(path, sizeof path, "stats/%s/layers", name);
    if (rc == QS_OK) rc = qs_h5_vector_write(h, path, QS_H5_I64, layers, (size_t)n_layers);

    /* whole-tensor table and histograms */
    qs_h5_table *t = NULL;
    qs_h5_col lead[] = {{"layer", QS_H5_COL_I64, 0}};
    snprintf(path, sizeof path, "stats/%s/tensor", name);
    int any_ts = 0;
    for (int l = 0; l < Ls; l++) any_ts |= qs_capture_tensorstats(c, s, l) != NULL;
    if (rc == QS_OK && any_ts) rc = summary_table(&t, h, path, lead, 1);
    for (int l = 0; l < Ls && rc == QS_OK && any_ts; l++) {
        const qs_tensorstats *ts = qs_capture_tensorstats(c, s, l);
        if (!ts || qs_tensorstats_count(ts) == 0) continue;
        qs_tensorstats_summary sm;
        qs_h5_value v[1 + N_SUMMARY];
        rc = qs_tensorstats_summarize(ts, &sm);
        v[0] = QS_H5_VI64(l);
        summary_values(v + 1, &sm);
        if (rc == QS_OK) rc = qs_h5_table_append(t, v);
        qs_tensorstats_bins(ts, NULL, row);
        for (int b = 0; b < NB; b++) counts[(size_t)l * NB + b] = (int64_t)row[b];
    }
    int rc2 = qs_h5_table_close(t);
    if (rc == QS_OK) rc = rc2;
    if (rc == QS_OK && any_ts) {
        snprintf(path, sizeof path, "stats/%s/hist/edges", name);
        rc = write_edges(h, path);
        snprintf(path, sizeof path, "stats/%s/hist/counts", name);
        if (rc == QS_OK) rc = qs_h5_matrix_write(h, path, QS_H5_I64, counts, (size_t)Ls, NB);
    }
    free(m), free(tmp), free(counts), free(row), free(layers);
    return rc;
}

int qs_profile_h5_stats(qs_h5 *h, const qs_capture *c) {
    int rc = QS_OK;
    for (int s = 0; s < QS_SITE_COUNT && rc == QS_OK; s++) {
        int any = 0;
        for (int l = 0; l < qs_capture_site_layers(c, s); l++)
            any |= qs_capture_chanstats(c, s, l) != NULL;
        if (any) rc = site_stats(h, c, s);
    }
    return rc ? qs_error_prefix(rc, "writing statistics") : QS_OK;
}

/* ---- weights ---- */

int qs_profile_h5_weights(qs_h5 *h, const qs_weightstat *w, int n) {
    qs_h5_table *t = NULL;
    qs_h5_col lead[] = {
        {"name", QS_H5_COL_STR, 64}, {"rows", QS_H5_COL_I64, 0}, {"cols", QS_H5_COL_I64, 0}};
    int64_t *counts = calloc((size_t)(n ? n : 1) * NB, sizeof *counts); /* (n, B) */
    uint64_t *row = malloc(sizeof(uint64_t) * NB);
    int rc = counts && row ? summary_table(&t, h, "weights/summary", lead, 3)
                           : qs_error_set(QS_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n && rc == QS_OK; i++) {
        qs_tensorstats_summary sm;
        qs_h5_value v[3 + N_SUMMARY];
        rc = qs_tensorstats_summarize(w[i].ts, &sm);
        v[0] = QS_H5_VSTR(w[i].name);
        v[1] = QS_H5_VI64(w[i].rows);
        v[2] = QS_H5_VI64(w[i].cols);
        summary_values(v + 3, &sm);
        if (rc == QS_OK) rc = qs_h5_table_append(t, v);
        qs_tensorstats_bins(w[i].ts, NULL, row);
        for (int b = 0; b < NB; b++) counts[(size_t)i * NB + b] = (int64_t)row[b];
    }
    int rc2 = qs_h5_table_close(t);
    if (rc == QS_OK) rc = rc2;
    if (rc == QS_OK) rc = write_edges(h, "weights/hist/edges");
    if (rc == QS_OK)
        rc = qs_h5_matrix_write(h, "weights/hist/counts", QS_H5_I64, counts, (size_t)n, NB);
    free(counts);
    free(row);
    return rc ? qs_error_prefix(rc, "writing weight statistics") : QS_OK;
}

/* ---- outliers ---- */

void qs_profile_token_text(const qs_tokenizer *tok, int prev_id, int id, char *out, size_t n) {
    out[0] = '\0';
    if (!tok || id < 0 || n < 8) return;
    char buf[8];
    size_t len = 0, k = 0;
    const unsigned char *p = (const unsigned char *)qs_tokenizer_piece(tok, prev_id, id, buf, &len);
    for (size_t i = 0; p && i < len && k + 7 < n;) {
        size_t v = qs_utf8_valid_prefix(p + i, len - i);
        if (v == 0 || p[i] < 0x20 || p[i] == 0x7f) {
            k += (size_t)snprintf(out + k, n - k, "<0x%02X>", p[i]);
            i++;
        } else if (k + v < n) {
            memcpy(out + k, p + i, v);
            k += v;
            i += v;
        } else {
            break;
        }
    }
    out[k] = '\0';
}

int qs_profile_h5_outliers(qs_h5 *h, const qs_capture *c, const qs_profile_channel *ch, int n,
                           const qs_tokenizer *tok, const qs_windows *ws) {
    const qs_capture_opts *o = qs_capture_get_opts(c);
    int n_kept;
    int64_t n_found;
    const qs_capture_token *tk = qs_capture_tokens(c, &n_kept, &n_found);
    struct {
        const char *name;
        double v;
    } attrs[] = {
        {"tau", o->chan.tau},
        {"phi", o->chan.phi},
        {"min_token_frac", o->outl.min_token_frac},
        {"int8_threshold", o->chan.int8_threshold},
        {"massive_abs", o->outl.massive_abs},
        {"massive_ratio", o->outl.massive_ratio},
    };
    int rc = QS_OK;
    for (size_t i = 0; i < sizeof attrs / sizeof attrs[0] && rc == QS_OK; i++)
        rc = qs_h5_attr_f64(h, "outliers", attrs[i].name, attrs[i].v);
    if (rc == QS_OK)
        rc = qs_h5_attr_str(h, "outliers", "massive_rule",
                            qs_massive_rule_name(o->outl.massive_rule));
    if (rc == QS_OK) rc = qs_h5_attr_i64(h, "outliers", "tokens_found", n_found);
    if (rc == QS_OK) rc = qs_h5_attr_i64(h, "outliers", "tokens_kept", n_kept);

    qs_h5_col ccols[] = {
        {"layer", QS_H5_COL_I64, 0},
        {"site", QS_H5_COL_STR, 16},
        {"channel", QS_H5_COL_I64, 0},
        {"absmax", QS_H5_COL_F64, 0},
        {"ratio_to_median", QS_H5_COL_F64, 0},
        {"token_fraction", QS_H5_COL_F64, 0},
        {"sequence_fraction", QS_H5_COL_F64, 0},
        {"n_shared_layers", QS_H5_COL_I64, 0},
        {"shared_layers", QS_H5_COL_STR, 256},
    };
    qs_h5_table *t = NULL;
    if (rc == QS_OK) rc = qs_h5_table_open(&t, h, "outliers/channels", ccols, 9);
    for (int i = 0; i < n && rc == QS_OK; i++) {
        qs_h5_value v[] = {
            QS_H5_VI64(ch[i].layer),
            QS_H5_VSTR(qs_site_name(ch[i].site)),
            QS_H5_VI64(ch[i].ch.channel),
            QS_H5_VF64(ch[i].ch.absmax),
            QS_H5_VF64(ch[i].ch.ratio_to_median),
            QS_H5_VF64(ch[i].ch.token_fraction),
            QS_H5_VF64(ch[i].ch.sequence_fraction),
            QS_H5_VI64(ch[i].n_shared),
            QS_H5_VSTR(ch[i].shared_layers),
        };
        rc = qs_h5_table_append(t, v);
    }
    int rc2 = qs_h5_table_close(t);
    if (rc == QS_OK) rc = rc2;

    qs_h5_col tcols[] = {
        {"layer", QS_H5_COL_I64, 0},    {"site", QS_H5_COL_STR, 16},
        {"window", QS_H5_COL_I64, 0},   {"position", QS_H5_COL_I64, 0},
        {"token_id", QS_H5_COL_I64, 0}, {"token_text", QS_H5_COL_STR, 48},
        {"channel", QS_H5_COL_I64, 0},  {"value", QS_H5_COL_F64, 0},
        {"ratio", QS_H5_COL_F64, 0},
    };
    t = NULL;
    if (rc == QS_OK) rc = qs_h5_table_open(&t, h, "outliers/tokens", tcols, 9);
    for (int i = 0; i < n_kept && rc == QS_OK; i++) {
        const qs_capture_token *r = &tk[i];
        int prev = -1;
        if (ws && r->window >= 0 && r->window < ws->n && r->position > 0 &&
            r->position < ws->w[r->window].n)
            prev = ws->w[r->window].tokens[r->position - 1];
        char text[64];
        qs_profile_token_text(tok, prev, r->token_id, text, sizeof text);
        qs_h5_value v[] = {
            QS_H5_VI64(r->layer),    QS_H5_VSTR(qs_site_name(r->site)),
            QS_H5_VI64(r->window),   QS_H5_VI64(r->position),
            QS_H5_VI64(r->token_id), QS_H5_VSTR(text),
            QS_H5_VI64(r->channel),  QS_H5_VF64(r->value),
            QS_H5_VF64(r->ratio),
        };
        rc = qs_h5_table_append(t, v);
    }
    rc2 = qs_h5_table_close(t);
    if (rc == QS_OK) rc = rc2;
    return rc ? qs_error_prefix(rc, "writing outliers") : QS_OK;
}

/* ---- attention ---- */

int qs_profile_h5_attention(qs_h5 *h, const qs_capture *c, const qs_tokenizer *tok,
                            const qs_windows *ws) {
    const qs_attnstats *a = qs_capture_attention(c);
    if (!a) return QS_OK;
    int L = qs_attnstats_layers(a), H = qs_attnstats_heads(a);
    size_t LH = (size_t)L * H;
    double *buf = malloc(LH * (QS_ATTN_NPOS + 5) * sizeof *buf); /* (L, H) slices */
    int64_t *pos = malloc(LH * sizeof *pos);                     /* (L, H) */
    double *frac = malloc((size_t)L * sizeof *frac);             /* (L) */
    if (!buf || !pos || !frac) {
        free(buf), free(pos), free(frac);
        return qs_error_set(QS_ERR_NOMEM, "writing attention: out of memory");
    }
    double *mass = buf, *bos = mass + LH * QS_ATTN_NPOS, *ent = bos + LH, *mx = ent + LH,
           *sink = mx + LH, *rows = sink + LH;
    for (int l = 0; l < L; l++) {
        frac[l] = qs_attnstats_sink_fraction(a, l);
        for (int hh = 0; hh < H; hh++) {
            qs_attn_head s;
            qs_attnstats_head(a, l, hh, &s);
            size_t i = (size_t)l * H + hh;
            for (int k = 0; k < QS_ATTN_NPOS; k++) mass[i * QS_ATTN_NPOS + k] = s.mass_pos[k];
            bos[i] = s.bos_mass, ent[i] = s.entropy, mx[i] = s.max_logit, sink[i] = s.sink_mass;
            rows[i] = (double)s.rows;
            pos[i] = s.sink_position;
        }
    }
    size_t dims[3] = {(size_t)L, (size_t)H, QS_ATTN_NPOS};
    int rc = qs_h5_array_write(h, "attention/mass_first", QS_H5_F64, mass, 3, dims);
    if (rc == QS_OK) rc = qs_h5_matrix_write(h, "attention/bos_mass", QS_H5_F64, bos, L, H);
    if (rc == QS_OK) rc = qs_h5_matrix_write(h, "attention/entropy", QS_H5_F64, ent, L, H);
    if (rc == QS_OK) rc = qs_h5_matrix_write(h, "attention/max_logit", QS_H5_F64, mx, L, H);
    if (rc == QS_OK) rc = qs_h5_matrix_write(h, "attention/sink_mass", QS_H5_F64, sink, L, H);
    if (rc == QS_OK) rc = qs_h5_matrix_write(h, "attention/sink_position", QS_H5_I64, pos, L, H);
    if (rc == QS_OK) rc = qs_h5_matrix_write(h, "attention/rows", QS_H5_F64, rows, L, H);
    if (rc == QS_OK) rc = qs_h5_vector_write(h, "attention/sink_fraction", QS_H5_F64, frac, L);
    if (rc == QS_OK)
        rc = qs_h5_attr_f64(h, "attention", "sink_threshold", qs_attnstats_threshold(a));
    if (rc == QS_OK) rc = qs_h5_attr_i64(h, "attention", "n_positions", QS_ATTN_NPOS);
    free(buf), free(pos), free(frac);

    int n_kept;
    int64_t n_found;
    const qs_attn_tie *ties = qs_attnstats_ties(a, &n_kept, &n_found);
    qs_h5_col cols[] = {
        {"window", QS_H5_COL_I64, 0},   {"position", QS_H5_COL_I64, 0},
        {"token_id", QS_H5_COL_I64, 0}, {"token_text", QS_H5_COL_STR, 48},
        {"layer", QS_H5_COL_I64, 0},    {"head", QS_H5_COL_I64, 0},
        {"mass", QS_H5_COL_F64, 0},
    };
    qs_h5_table *t = NULL;
    if (rc == QS_OK) rc = qs_h5_table_open(&t, h, "attention/massive_sinks", cols, 7);
    for (int i = 0; i < n_kept && rc == QS_OK; i++) {
        const qs_attn_tie *r = &ties[i];
        int prev = -1;
        if (ws && r->window >= 0 && r->window < ws->n && r->position > 0 &&
            r->position < ws->w[r->window].n)
            prev = ws->w[r->window].tokens[r->position - 1];
        char text[64];
        qs_profile_token_text(tok, prev, r->token_id, text, sizeof text);
        qs_h5_value v[] = {QS_H5_VI64(r->window), QS_H5_VI64(r->position), QS_H5_VI64(r->token_id),
                           QS_H5_VSTR(text),      QS_H5_VI64(r->layer),    QS_H5_VI64(r->head),
                           QS_H5_VF64(r->mass)};
        rc = qs_h5_table_append(t, v);
    }
    int rc2 = qs_h5_table_close(t);
    if (rc == QS_OK) rc = rc2;
    if (rc == QS_OK) rc = qs_h5_attr_i64(h, "attention", "massive_sinks_found", n_found);
    return rc ? qs_error_prefix(rc, "writing attention") : QS_OK;
}

/* ---- dumps ---- */

struct qs_profile_h5_sink {
    qs_h5_dump *d;
    long rows; /* appended so far */
};

int qs_profile_h5_sink_open(qs_profile_h5_sink **out, qs_h5 *h, int site, int layer, int C) {
    *out = NULL;
    qs_profile_h5_sink *s = calloc(1, sizeof *s);
    if (!s) return qs_error_set(QS_ERR_NOMEM, "out of memory");
    char path[96];
    snprintf(path, sizeof path, "dump/%s/%d", qs_site_name(site), layer);
    int rc = qs_h5_dump_open(&s->d, h, path, (size_t)C, 0, 4);
    if (rc) {
        free(s);
        return rc;
    }
    *out = s;
    return QS_OK;
}

int qs_profile_h5_dump_fn(void *sink, int site, int layer, const float *x, int T, int C) {
    qs_profile_h5_sink *s = sink;
    int rc = qs_h5_dump_append(s->d, x, (size_t)T);
    if (rc == QS_OK) s->rows += T;
    return rc;
}

long qs_profile_h5_sink_rows(const qs_profile_h5_sink *s) { return s ? s->rows : 0; }

int qs_profile_h5_sink_close(qs_profile_h5_sink *s) {
    if (!s) return QS_OK;
    int rc = qs_h5_dump_close(s->d);
    free(s);
    return rc;
}
