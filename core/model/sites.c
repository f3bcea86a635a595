#include "sites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"

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

int qs_site_layers(const qs_config *cfg, int site) {
    return site == QS_SITE_RESID ? cfg->n_layers + 1 : cfg->n_layers;
}

int qs_site_width(const qs_config *cfg, int site) {
    if (site == QS_SITE_FFN_DOWN_IN) return cfg->hidden_dim;
    if (site == QS_SITE_ATTN_O_IN) return cfg->n_heads * cfg->head_dim;
    if (site == QS_SITE_K_CACHE || site == QS_SITE_V_CACHE) return cfg->n_kv_heads * cfg->head_dim;
    return cfg->dim;
}

int qs_site_rows_take(long want, long have, int T) {
    long left = want - have;
    return left <= 0 ? 0 : left < T ? (int)left : T;
}

/* ---- layer lists ---------------------------------------------------------------------- */

/* Reads a decimal number at *p (digits only) no larger than QS_LAYER_MAX + 1. */
static int read_layer(const char **p, long *v) {
    const char *q = *p;
    if (*q < '0' || *q > '9') return 0;
    *v = 0;
    while (*q >= '0' && *q <= '9') {
        if (*v <= QS_LAYER_MAX) *v = *v * 10 + (*q - '0');
        q++;
    }
    *p = q;
    return 1;
}

/* Inserts v into the ascending, distinct layers[0..*n-1]; 0 when cap is reached. */
static int insert_layer(int *layers, int cap, int *n, int v) {
    int lo = 0, hi = *n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (layers[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < *n && layers[lo] == v) return 1;
    if (*n == cap) return 0;
    memmove(layers + lo + 1, layers + lo, (size_t)(*n - lo) * sizeof *layers);
    layers[lo] = v;
    (*n)++;
    return 1;
}

int qs_layer_list_parse(const char *s, int max_layer, int *layers, int cap, int *n) {
    *n = 0;
    if (strcmp(s, "all") == 0) return QS_OK;
    const char *p = s;
    while (1) {
        long a, b;
        if (!read_layer(&p, &a)) return qs_error_set(QS_ERR_ARG, "bad layer list");
        b = a;
        if (*p == '-') {
            p++;
            if (!read_layer(&p, &b) || b < a) return qs_error_set(QS_ERR_ARG, "bad layer list");
        }
        if (b > max_layer)
            return qs_error_set(QS_ERR_ARG, "layer out of range: %ld > %d", b, max_layer);
        for (long l = a; l <= b; l++)
            if (!insert_layer(layers, cap, n, (int)l))
                return qs_error_set(QS_ERR_ARG, "too many layers (at most %d)", cap);
        if (!*p) return QS_OK;
        if (*p++ != ',') return qs_error_set(QS_ERR_ARG, "bad layer list");
    }
}

int qs_layer_list_format(char *buf, size_t size, const int *layers, int n) {
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && layers[j + 1] == layers[j] + 1) j++;
        const char *sep = i ? "," : "";
        int w;
        if (j - i >= 2) {
            w = snprintf(buf + len, size - len, "%s%d-%d", sep, layers[i], layers[j]);
            i = j + 1;
        } else {
            w = snprintf(buf + len, size - len, "%s%d", sep, layers[i]);
            i++;
        }
        if (w < 0 || (size_t)w >= size - len)
            return qs_error_set(QS_ERR_ARG, "layer list too long to print");
        len += (size_t)w;
    }
    return QS_OK;
}

int qs_site_layers_select(const qs_config *cfg, const char *s, unsigned char *sel) {
    const int L = cfg->n_layers;
    int *layers = malloc(sizeof *layers * ((size_t)L + 1)), n = 0;
    if (!layers) return qs_error_set(QS_ERR_NOMEM, "out of memory");
    int rc = qs_layer_list_parse(s, L, layers, L + 1, &n);
    if (rc == QS_OK) {
        memset(sel, n == 0, (size_t)L + 1); /* n == 0: "all" */
        for (int i = 0; i < n; i++) sel[layers[i]] = 1;
    }
    free(layers);
    if (rc)
        return qs_error_prefix(rc,
                               "layers '%s' (all, or a list such as 0,2-4; the model has %d "
                               "layers, 0..%d, and %d is the stream after the last block, at "
                               "resid)",
                               s, L, L - 1, L);
    return QS_OK;
}
