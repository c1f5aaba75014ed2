/* json_depth.h - how deeply a JSON text nests, found without parsing it.
 *
 * JSON parsers recurse once per array or object level (jansson does, and so
 * does the conversion to Lua), so a few kilobytes of "[[[[..." overflow a
 * small thread stack before any parser can report an error.  This scan is a
 * loop over the bytes: it runs first, and a text that nests too deeply is
 * refused before a parser sees it. */
#ifndef SCRIPTHUT_UTIL_JSON_DEPTH_H
#define SCRIPTHUT_UTIL_JSON_DEPTH_H
#include <stdbool.h>
#include <stddef.h>

/* Whether text[0..len) opens more than limit arrays/objects inside one
 * another.  Brackets inside strings (escapes included) do not count; the
 * text need not be valid JSON (the parser says what else is wrong). */
bool json_nests_deeper_than(const char *text, size_t len, size_t limit);

#endif
