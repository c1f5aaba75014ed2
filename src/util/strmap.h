/* strmap.h - string -> size_t hash map (open addressing), used to look up task
 * ids by index.  Keys are borrowed, not copied: they must outlive the map. */
#ifndef SCRIPTHUT_UTIL_STRMAP_H
#define SCRIPTHUT_UTIL_STRMAP_H
#include <stdbool.h>
#include <stddef.h>

typedef struct strmap {
    const char **keys;
    size_t *vals;
    size_t cap; /* power of two */
    size_t count;
} strmap;

void strmap_init(strmap *m, size_t expected);
void strmap_free(strmap *m);
/* Inserts key -> val. Returns false (and changes nothing) if key exists. */
bool strmap_put(strmap *m, const char *key, size_t val);
bool strmap_get(const strmap *m, const char *key, size_t *val);

#endif
