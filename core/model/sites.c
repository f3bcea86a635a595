#include "sites.h"

#include <string.h>

#include "error.h"

static const char *const site_names[QS_SITE_COUNT] = {
    "resid", "attn_in", "attn_o_in", "ffn_in", "ffn_down_in", "k_cache", "v_cache",
};

const char *qs_site_name(int site) {
    return (site >= 0 && site < QS_SITE_COUNT) ? site_names[site] : "?";
}

int qs_site_from_name(const char *name) {
    for (int s = 0; s < QS_SITE_COUNT; s++)
        if (strcmp(name, site_names[s]) == 0) return s;
    return -1;
}

int qs_site_mask_parse(const char *list, unsigned *mask) {
    *mask = 0;
    if (strcmp(list, "all") == 0) {
        *mask = QS_SITE_ALL;
        return QS_OK;
    }
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        char word[32];
        if (n == 0 || n >= sizeof word) return qs_error_set(QS_ERR_ARG, "bad site list '%s'", list);
        memcpy(word, p, n);
        word[n] = '\0';
        int s = qs_site_from_name(word);
        if (s < 0)
            return qs_error_set(QS_ERR_ARG,
                                "unknown site '%s' (sites: resid, attn_in, attn_o_in, ffn_in, "
                                "ffn_down_in, k_cache, v_cache, or all)",
                                word);
        *mask |= QS_SITE_BIT(s);
        p += n;
        if (*p == ',') p++;
    }
    return QS_OK;
}
