#include "outliers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

qs_outlier_config qs_outlier_config_default(void) {
    qs_outlier_config c = {0.5, 100.0, 1000.0, QS_MASSIVE_AUTO};
    return c;
}

static const char *const rule_names[QS_MASSIVE_RULE_COUNT] = {"auto", "published", "ratio",
                                                              "custom"};

const char *qs_massive_rule_name(int rule) {
    return rule >= 0 && rule < QS_MASSIVE_RULE_COUNT ? rule_names[rule] : "?";
}

int qs_massive_rule_from_name(const char *name) {
    for (int r = 0; r < QS_MASSIVE_RULE_COUNT; r++)
        if (strcmp(name, rule_names[r]) == 0) return r;
    return -1;
}

int qs_outlier_config_resolve(qs_outlier_config *c, int dim) {
    if (c->massive_rule == QS_MASSIVE_AUTO)
        c->massive_rule = dim >= QS_MASSIVE_DIM_MIN ? QS_MASSIVE_PUBLISHED : QS_MASSIVE_RATIO;
    if (c->massive_rule == QS_MASSIVE_PUBLISHED) {
        c->massive_abs = 100.0;
        c->massive_ratio = 1000.0;
    } else if (c->massive_rule == QS_MASSIVE_RATIO) {
        c->massive_abs = 0.0;
        c->massive_ratio = QS_MASSIVE_RATIO_ONLY;
    }
    return c->massive_rule;
}

static int cmp_double(const void *pa, const void *pb) {
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

/* a / m with the zero conventions of the header */
static double safe_ratio(double a, double m) {
    if (m > 0.0) return a / m;
    return a > 0.0 ? INFINITY : 0.0;
}

int qs_outliers_channels(qs_outlier_channel *out, int *n_out, const qs_chanstats *s,
                         const qs_outlier_config *cfg) {
    if (!out || !n_out || !s) return qs_error_set(QS_ERR_ARG, "outlier channels: NULL argument");
    *n_out = 0;
    qs_outlier_config c = cfg ? *cfg : qs_outlier_config_default();
    if (!(c.min_token_frac >= 0.0 && c.min_token_frac <= 1.0))
        return qs_error_set(QS_ERR_ARG,
                            "outlier channels: min_token_frac must be in [0, 1], got %g",
                            c.min_token_frac);
    int64_t n = qs_chanstats_count(s);
    if (n == 0) return qs_error_set(QS_ERR_ARG, "outlier channels: no tokens were added");
    const int C = qs_chanstats_channels(s);
    double *mabs = malloc(sizeof(double) * (size_t)C); /* (C) */
    if (!mabs) return qs_error_set(QS_ERR_NOMEM, "outlier channels: %d channels", C);
    qs_chanstats_column(s, QS_CHANSTATS_MEAN_ABS, mabs);
    qsort(mabs, (size_t)C, sizeof *mabs, cmp_double);
    double med = (C & 1) ? mabs[C / 2] : 0.5 * (mabs[C / 2 - 1] + mabs[C / 2]);
    free(mabs);

    int k = 0;
    for (int ch = 0; ch < C; ch++) {
        qs_chanstats_channel st;
        qs_chanstats_channel_get(s, ch, &st);
        double frac = (double)st.n_outlier_tokens / (double)st.count;
        if (!(frac >= c.min_token_frac)) continue;
        qs_outlier_channel o;
        o.channel = ch;
        o.absmax = st.absmax;
        o.ratio_to_median = safe_ratio(st.absmax, med);
        o.token_fraction = frac;
        o.sequence_fraction =
            st.n_windows ? (double)st.n_outlier_windows / (double)st.n_windows : 0.0;
        out[k++] = o;
    }
    *n_out = k;
    return QS_OK;
}

int qs_outliers_shared_channels(int *out_channel, int *out_layers, int *n_out,
                                const int *const *sets, const int *set_sizes, int n_sets, int C,
                                int min_layers) {
    if (!out_channel || !n_out || (n_sets > 0 && (!sets || !set_sizes)))
        return qs_error_set(QS_ERR_ARG, "shared channels: NULL argument");
    *n_out = 0;
    if (C < 1 || n_sets < 0 || min_layers < 1)
        return qs_error_set(QS_ERR_ARG, "shared channels: bad C=%d, n_sets=%d or min_layers=%d", C,
                            n_sets, min_layers);
    for (int l = 0; l < n_sets; l++) {
        if (set_sizes[l] < 0 || (set_sizes[l] > 0 && !sets[l]))
            return qs_error_set(QS_ERR_ARG, "shared channels: set %d has a bad size %d", l,
                                set_sizes[l]);
        for (int i = 0; i < set_sizes[l]; i++)
            if (sets[l][i] < 0 || sets[l][i] >= C)
                return qs_error_set(QS_ERR_ARG,
                                    "shared channels: set %d holds channel %d outside [0, %d)", l,
                                    sets[l][i], C);
    }
    int *count = calloc((size_t)C, sizeof *count); /* (C) sets containing c */
    int *last = malloc(sizeof(int) * (size_t)C);   /* (C) last set that counted c */
    if (!count || !last) {
        free(count);
        free(last);
        return qs_error_set(QS_ERR_NOMEM, "shared channels: %d channels", C);
    }
    for (int c = 0; c < C; c++) last[c] = -1;
    for (int l = 0; l < n_sets; l++)
        for (int i = 0; i < set_sizes[l]; i++) {
            int c = sets[l][i];
            if (last[c] != l) { /* duplicates inside one set count once */
                last[c] = l;
                count[c]++;
            }
        }
    int k = 0;
    for (int c = 0; c < C; c++)
        if (count[c] >= min_layers) {
            out_channel[k] = c;
            if (out_layers) out_layers[k] = count[c];
            k++;
        }
    *n_out = k;
    free(count);
    free(last);
    return QS_OK;
}

int qs_outliers_tokens(qs_outlier_token *out, int *n_out, const qs_token_stat *scan, int T,
                       int64_t pos0, const qs_outlier_config *cfg) {
    if (!n_out || (T > 0 && (!out || !scan)))
        return qs_error_set(QS_ERR_ARG, "outlier tokens: NULL argument");
    *n_out = 0;
    if (T < 0) return qs_error_set(QS_ERR_ARG, "outlier tokens: T = %d < 0", T);
    qs_outlier_config c = cfg ? *cfg : qs_outlier_config_default();
    if (!(c.massive_abs >= 0.0) || !(c.massive_ratio >= 0.0))
        return qs_error_set(QS_ERR_ARG,
                            "outlier tokens: massive_abs %g and massive_ratio %g must be >= 0",
                            c.massive_abs, c.massive_ratio);
    int k = 0;
    for (int t = 0; t < T; t++) {
        double a = scan[t].absmax;
        double r = safe_ratio(a, scan[t].median_abs);
        if (a >= c.massive_abs && r >= c.massive_ratio) {
            qs_outlier_token o = {pos0 + t, scan[t].channel, scan[t].value, r};
            out[k++] = o;
        }
    }
    *n_out = k;
    return QS_OK;
}
