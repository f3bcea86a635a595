/* A string → int map (open addressing, FNV-1a), for vocabularies and merge ranks.
 * Keys are byte strings with a length; the map keeps its own copies. */
#ifndef QS_STRMAP_H
#define QS_STRMAP_H

#include <stddef.h>

typedef struct qs_strmap {
    char **keys;
    size_t *lens;
    int *vals;
    size_t cap; /* power of two */
    size_t count;
} qs_strmap;

int qs_strmap_init(qs_strmap *m, size_t expected);
/* Inserts or replaces. Returns QS_OK or QS_ERR_NOMEM. */
int qs_strmap_put(qs_strmap *m, const char *key, size_t len, int val);
/* Returns the value, or -1 if absent. */
int qs_strmap_get(const qs_strmap *m, const char *key, size_t len);
void qs_strmap_free(qs_strmap *m);

#endif
