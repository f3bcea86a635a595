/* Outlier detection on top of chanstats (persistent channels) and tokenscan (massive
 * tokens).
 *
 * Persistent channel outliers (LLM.int8 / "outlier features"): channel c is an outlier when
 *   token_fraction(c) = n_outlier_tokens(c) / count >= min_token_frac
 * where n_outlier_tokens counts tokens with r(t,c) = |x(t,c)| / median_c'|x(t,c')| >= tau
 * (tau lives in the chanstats config, see chanstats.h). Reported per channel:
 *   absmax             exact max |x(t,c)|
 *   ratio_to_median    absmax(c) / median over channels c' of mean|x|(c')  — a cheap
 *                      stand-in for the median over tokens of r(t,c), which would need the
 *                      tokens. Median as in select.h (even C: mean of the two middle values).
 *                      +inf when that median is 0 and absmax > 0; 0 when both are 0.
 *   token_fraction     n_outlier_tokens / count
 *   sequence_fraction  n_outlier_windows / n_windows (a window counts when at least phi of
 *                      its tokens were outliers in c; phi in the chanstats config)
 *
 * Token-wise (massive activation) outliers, after Sun et al. 2024: token t is one when
 *   absmax(t) >= massive_abs  and  ratio(t) = absmax(t) / median_abs(t) >= massive_ratio
 * with ratio = +inf when median_abs = 0 and absmax > 0 (0 when both are 0).
 * The published thresholds (A = 100, rho = 1000) fit 7B models, whose massive activations
 * reach thousands; in a small model nothing ever reaches 100. The rule therefore depends on
 * the model's width (qs_outlier_config_resolve): the published one for dim >= 1024, below
 * that the scale-free ratio-only rule (A = 0, rho = 100). Either can be asked for by name.
 *
 * Results go into caller-owned arrays; nothing here allocates what it returns.
 * Errors: QS_ERR_ARG (NULL, empty chanstats, bad sizes, bad config values), QS_ERR_NOMEM. */
#ifndef QS_OUTLIERS_H
#define QS_OUTLIERS_H

#include <stdint.h>

#include "chanstats.h"
#include "tokenscan.h"

enum qs_massive_rule {
    QS_MASSIVE_AUTO = 0,  /* published when the model's dim >= QS_MASSIVE_DIM_MIN, else ratio */
    QS_MASSIVE_PUBLISHED, /* absmax >= 100 and >= 1000 x median (Sun et al. 2024) */
    QS_MASSIVE_RATIO,     /* scale-free: absmax >= 100 x median, no absolute threshold */
    QS_MASSIVE_CUSTOM,    /* massive_abs and massive_ratio as set */
    QS_MASSIVE_RULE_COUNT
};
#define QS_MASSIVE_DIM_MIN    1024
#define QS_MASSIVE_RATIO_ONLY 100.0

typedef struct qs_outlier_config {
    double min_token_frac; /* persistent channel: token_fraction >= this; default 0.5 */
    double massive_abs;    /* massive token: absmax >= this (A); default 100 */
    double massive_ratio;  /* massive token: absmax / median >= this (rho); default 1000 */
    int massive_rule;      /* enum qs_massive_rule; what qs_outlier_config_resolve applies */
} qs_outlier_config;

/* {min_token_frac = 0.5, massive_abs = 100, massive_ratio = 1000, rule auto} */
qs_outlier_config qs_outlier_config_default(void);

/* Sets massive_abs and massive_ratio from massive_rule for a model of width dim (AUTO
 * becomes PUBLISHED or RATIO); CUSTOM keeps them. Returns the rule now in c. */
int qs_outlier_config_resolve(qs_outlier_config *c, int dim);
/* "auto", "published", "ratio", "custom"; "?" out of range. */
const char *qs_massive_rule_name(int rule);
/* The rule named, or -1. */
int qs_massive_rule_from_name(const char *name);

typedef struct qs_outlier_channel {
    int channel;
    double absmax;
    double ratio_to_median; /* absmax / median_c' mean|x|(c'), see above */
    double token_fraction;
    double sequence_fraction;
} qs_outlier_channel;

typedef struct qs_outlier_token {
    int64_t position; /* pos0 + t */
    int channel;
    float value;  /* signed x(t, channel) */
    double ratio; /* absmax / median_abs */
} qs_outlier_token;

/* Persistent outlier channels of s, ascending by channel, into out (capacity C =
 * qs_chanstats_channels(s)); *n_out receives how many. cfg NULL means the defaults.
 * Errors: QS_ERR_ARG when s has no tokens or min_token_frac is outside [0, 1]. */
int qs_outliers_channels(qs_outlier_channel *out, int *n_out, const qs_chanstats *s,
                         const qs_outlier_config *cfg);

/* Channel indices present in the outlier sets of at least min_layers of n_sets layers.
 * sets[l] holds set_sizes[l] channel indices, each in [0, C) (duplicates within one set
 * count once). Writes the shared channels ascending into out_channel (capacity C) and, if
 * out_layers is not NULL, in how many sets each appears; *n_out receives the count.
 * Errors: QS_ERR_ARG (index outside [0, C), min_layers < 1, negative sizes), QS_ERR_NOMEM. */
int qs_outliers_shared_channels(int *out_channel, int *out_layers, int *n_out,
                                const int *const *sets, const int *set_sizes, int n_sets, int C,
                                int min_layers);

/* Massive tokens of one scanned window: scan (T) from qs_tokenscan, row t at position
 * pos0 + t. Writes them in token order into out (capacity T); *n_out receives the count.
 * Errors: QS_ERR_ARG (T < 0, massive_abs or massive_ratio NaN or negative). */
int qs_outliers_tokens(qs_outlier_token *out, int *n_out, const qs_token_stat *scan, int T,
                       int64_t pos0, const qs_outlier_config *cfg);

#endif
