/* Remedy words of config names (remedy_words.h). */
#include "remedy_words.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

void qs_remedy_default(qs_remedy *r) {
    memset(r, 0, sizeof *r);
    r->smooth_alpha = r->awq_alpha = -1.0;
    r->gptq_damp = QS_GPTQ_DAMP_DEFAULT;
}

int qs_remedy_any(const qs_remedy *r) {
    return r->rotate || r->smooth || r->awq || r->gptq || r->decompose > 0;
}

static int bad(const char *why, const char *word, const char *name) {
    qs_error_set(QS_ERR_ARG, "%s '%s' in config '%s'", why, word, name);
    return -1;
}

/* a whole-string number */
static int number(const char *s, double *v) {
    if (!*s || isspace((unsigned char)*s)) return 0;
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return !*end && !errno && isfinite(*v);
}

static int alpha_arg(const char *arg, double *alpha, const char *word, const char *name) {
    if (!arg) {
        *alpha = -1.0;
        return 1;
    }
    if (!number(arg, alpha) || *alpha < 0.0 || *alpha > 1.0)
        return bad("expected an exponent in [0, 1] in", word, name);
    return 1;
}

/* the comma-separated options after ':' one at a time */
static const char *next_opt(const char *p, char *opt, size_t n) {
    size_t k = strcspn(p, ",");
    if (k >= n) k = n - 1;
    memcpy(opt, p, k);
    opt[k] = '\0';
    return p[k] ? p + k + 1 : p + k;
}

/* "a,b": no empty option anywhere (",a", "a,,b", "a,") */
static int empty_opt(const char *arg) {
    size_t n = strlen(arg);
    return n == 0 || arg[0] == ',' || arg[n - 1] == ',' || strstr(arg, ",,") != NULL;
}

static int rotate_args(qs_remedy *r, const char *arg, const char *word, const char *name) {
    r->rotate = QS_ROTATE_ALL;
    r->rotate_seed = 0;
    if (!arg) return 1;
    if (empty_opt(arg)) return bad("an empty option in", word, name);
    int parts = 0, seeded = 0;
    char opt[64];
    for (const char *p = arg;;) {
        p = next_opt(p, opt, sizeof opt);
        if (!opt[0]) return bad("an empty option in", word, name);
        int bit = strcmp(opt, "resid") == 0   ? QS_ROTATE_RESID
                  : strcmp(opt, "down") == 0  ? QS_ROTATE_DOWN
                  : strcmp(opt, "heads") == 0 ? QS_ROTATE_HEADS
                                              : 0;
        if (bit) {
            if (parts & bit) return bad("a part given twice in", word, name);
            parts |= bit;
        } else if (strncmp(opt, "seed=", 5) == 0) {
            const char *d = opt + 5;
            if (seeded || !*d) return bad("bad seed in", word, name);
            errno = 0;
            char *end;
            unsigned long long v = strtoull(d, &end, 10);
            if (*end || errno || !isdigit((unsigned char)*d)) return bad("bad seed in", word, name);
            r->rotate_seed = v;
            seeded = 1;
        } else
            return bad("unknown rotate part (resid, down, heads, seed=N) in", word, name);
        if (!*p) break;
    }
    r->rotate = parts ? parts : QS_ROTATE_ALL;
    return 1;
}

static int gptq_args(qs_remedy *r, const char *arg, const char *word, const char *name) {
    r->gptq = 1;
    r->gptq_act_order = 0;
    r->gptq_damp = QS_GPTQ_DAMP_DEFAULT;
    if (!arg) return 1;
    if (empty_opt(arg)) return bad("an empty option in", word, name);
    int ao = 0, dp = 0;
    char opt[64];
    for (const char *p = arg;;) {
        p = next_opt(p, opt, sizeof opt);
        if (!opt[0]) return bad("an empty option in", word, name);
        if (strcmp(opt, "act-order") == 0 && !ao)
            r->gptq_act_order = ao = 1;
        else if (strncmp(opt, "damp=", 5) == 0 && !dp) {
            if (!number(opt + 5, &r->gptq_damp) || r->gptq_damp < 0 || r->gptq_damp >= 1e6)
                return bad("bad damp (a number >= 0) in", word, name);
            dp = 1;
        } else
            return bad("unknown or repeated gptq option (act-order, damp=X) in", word, name);
        if (!*p) break;
    }
    return 1;
}

int qs_remedy_word(qs_remedy *r, const char *word, const char *name) {
    char head[32];
    size_t k = strcspn(word, ":");
    if (k >= sizeof head) return 0;
    memcpy(head, word, k);
    head[k] = '\0';
    const char *arg = word[k] == ':' ? word + k + 1 : NULL;
    if (strcmp(head, "rotate") == 0) {
        if (r->rotate) return bad("a second", word, name);
        return rotate_args(r, arg, word, name);
    }
    if (strcmp(head, "smooth") == 0) {
        if (r->smooth) return bad("a second", word, name);
        r->smooth = 1;
        return alpha_arg(arg, &r->smooth_alpha, word, name);
    }
    if (strcmp(head, "awq") == 0) {
        if (r->awq) return bad("a second", word, name);
        r->awq = 1;
        return alpha_arg(arg, &r->awq_alpha, word, name);
    }
    if (strcmp(head, "gptq") == 0) {
        if (r->gptq) return bad("a second", word, name);
        return gptq_args(r, arg, word, name);
    }
    if (strcmp(head, "decompose") == 0) {
        if (r->decompose > 0) return bad("a second", word, name);
        if (!arg) {
            r->decompose = QS_DECOMPOSE_DEFAULT;
            return 1;
        }
        double t;
        if (!number(arg, &t) || !(t > 0)) return bad("expected a threshold > 0 in", word, name);
        r->decompose = t;
        return 1;
    }
    return 0;
}

int qs_remedy_check(const qs_remedy *r, int w_bits, int a_bits, const char *name) {
    if (r->smooth && r->awq)
        return qs_error_set(QS_ERR_ARG,
                            "'smooth' and 'awq' both set the per-channel scales in config '%s': "
                            "choose one",
                            name);
    if ((r->gptq || r->awq) && w_bits == 16)
        return qs_error_set(QS_ERR_ARG, "'%s' quantizes weights, but config '%s' has W16",
                            r->gptq ? "gptq" : "awq", name);
    if (r->decompose > 0 && a_bits == 16)
        return qs_error_set(
            QS_ERR_ARG, "'decompose' splits quantized activations, but config '%s' has A16", name);
    return QS_OK;
}

static int add(char *buf, size_t n, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int add(char *buf, size_t n, size_t *len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + *len, *len < n ? n - *len : 0, fmt, ap);
    va_end(ap);
    if (k < 0 || *len + (size_t)k >= n)
        return qs_error_set(QS_ERR_ARG, "config name too long for its buffer (%zu bytes)", n);
    *len += (size_t)k;
    return QS_OK;
}

int qs_remedy_format(char *buf, size_t n, size_t *len, const qs_remedy *r) {
    int rc = QS_OK;
    if (r->rotate) {
        if (r->rotate == QS_ROTATE_ALL && r->rotate_seed == 0)
            rc = add(buf, n, len, " rotate");
        else {
            const char *sep = ":";
            rc = add(buf, n, len, " rotate");
            static const struct {
                int bit;
                const char *name;
            } parts[] = {
                {QS_ROTATE_RESID, "resid"}, {QS_ROTATE_DOWN, "down"}, {QS_ROTATE_HEADS, "heads"}};
            if (r->rotate != QS_ROTATE_ALL)
                for (int i = 0; i < 3 && rc == QS_OK; i++)
                    if (r->rotate & parts[i].bit) {
                        rc = add(buf, n, len, "%s%s", sep, parts[i].name);
                        sep = ",";
                    }
            if (rc == QS_OK && r->rotate_seed)
                rc = add(buf, n, len, "%sseed=%llu", sep, (unsigned long long)r->rotate_seed);
        }
    }
    if (rc == QS_OK && r->smooth)
        rc = r->smooth_alpha < 0 ? add(buf, n, len, " smooth")
                                 : add(buf, n, len, " smooth:%.15g", r->smooth_alpha);
    if (rc == QS_OK && r->awq)
        rc = r->awq_alpha < 0 ? add(buf, n, len, " awq")
                              : add(buf, n, len, " awq:%.15g", r->awq_alpha);
    if (rc == QS_OK && r->gptq) {
        int dp = r->gptq_damp != QS_GPTQ_DAMP_DEFAULT;
        if (!r->gptq_act_order && !dp)
            rc = add(buf, n, len, " gptq");
        else if (!dp)
            rc = add(buf, n, len, " gptq:act-order");
        else
            rc = add(buf, n, len, " gptq:%sdamp=%.15g", r->gptq_act_order ? "act-order," : "",
                     r->gptq_damp);
    }
    if (rc == QS_OK && r->decompose > 0) rc = add(buf, n, len, " decompose:%.15g", r->decompose);
    return rc;
}
