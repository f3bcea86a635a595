/* The summary `qscope profile` prints: per site and layer the whole-tensor kurtosis, the
 * top channels by absmax (ratio to the median channel's mean |x|, token fraction), the
 * persistent outlier channels and the layers sharing a channel index, and the top
 * token-wise outliers. Human text to f; the same facts as a cJSON object. */
#ifndef QS_CLI_PROFILE_REPORT_H
#define QS_CLI_PROFILE_REPORT_H

#include <cjson/cJSON.h>
#include <stdio.h>

#include "profile.h"

typedef struct qs_profile_report {
    const qs_model *m;
    const qs_capture *cap;
    const qs_windows *ws;
    const qs_profile_info *info;
    const qs_profile_channel *ch; /* persistent outlier channels (n_ch) */
    int n_ch;
    int top; /* channels per site × layer, and massive tokens, shown */
} qs_profile_report;

/* Prints the summary to f and, if json is not NULL, fills it with the same. Returns QS_OK
 * or QS_ERR_NOMEM. */
int qs_profile_report_write(const qs_profile_report *r, FILE *f, cJSON *json);

#endif
