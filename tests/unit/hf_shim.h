/* TEMPORARY: weak stand-ins for core/tokenizer.c and core/model.c until they land on main. */
#include <stdlib.h>
#include <string.h>
#include "error.h"
#include "model.h"
#include "tokenizer.h"
__attribute__((weak)) qs_tokenizer *qs__tokenizer_alloc(const qs_tokenizer_ops *ops, const char *kind, const char *path) {
    qs_tokenizer *t = calloc(1, sizeof *t);
    t->ops = ops; snprintf(t->kind, sizeof t->kind, "%s", kind); snprintf(t->path, sizeof t->path, "%s", path);
    t->bos_id = t->eos_id = -1; t->add_bos = 1; return t;
}
__attribute__((weak)) int qs_tokenizer_encode(const qs_tokenizer *t, const char *text, size_t len, int add_bos, int **ids, int *n) {
    int cap = 64, c = 0; int *o = malloc(cap * sizeof *o);
    if (add_bos && t->bos_id >= 0) o[c++] = t->bos_id;
    int rc = t->ops->encode(t, text, len, &o, &c, &cap);
    if (rc) { free(o); return rc; }
    *ids = o; *n = c; return 0;
}
__attribute__((weak)) int qs_tokenizer_decode(const qs_tokenizer *t, const int *ids, int n, char **out) {
    size_t cap = 64, len = 0; char *s = malloc(cap);
    for (int i = 0; i < n; i++) { char buf[8]; size_t pl; const char *p = t->ops->decode(t, i ? ids[i-1] : -1, ids[i], buf, &pl);
        while (len + pl + 1 > cap) { cap *= 2; s = realloc(s, cap); } memcpy(s + len, p, pl); len += pl; }
    s[len] = 0; *out = s; return 0;
}
__attribute__((weak)) void qs_tokenizer_free(qs_tokenizer *t) { if (!t) return; t->ops->free(t); free(t); }
__attribute__((weak)) void qs_config_defaults(qs_config *c) { memset(c, 0, sizeof *c); c->rope_theta = 10000; c->norm_eps = 1e-5f; c->bos_id = 1; c->eos_id = 2; }
__attribute__((weak)) int qs_config_validate(const qs_config *c, const char *what) {
    return (c->n_heads % c->n_kv_heads) ? qs_error_set(QS_ERR_FORMAT, "%s: kv heads", what) : 0; }
