/* suggest.h - "did you mean": the closest known name to a mistyped one.
 *
 * The one implementation behind every suggestion scripthut makes, in C
 * messages (unknown task fields) and in Lua ones (unknown config and env rule
 * fields, through util.closest in lua/mod_util.c), so both sides suggest the
 * same name for the same typo. */
#ifndef SCRIPTHUT_UTIL_SUGGEST_H
#define SCRIPTHUT_UTIL_SUGGEST_H
#include <stddef.h>

/* Levenshtein distance between a and b, counted in bytes; SIZE_MAX when
 * either is longer than SUGGEST_MAX_LEN (no one mistypes a name that long). */
#define SUGGEST_MAX_LEN 256
size_t suggest_edit_distance(const char *a, const char *b);

/* The candidate closest to `name`, or NULL when none is within
 * max(2, strlen(name) / 4) edits; on a tie the earlier candidate wins. */
const char *suggest_closest(const char *name, const char *const *candidates, size_t n);

#endif
