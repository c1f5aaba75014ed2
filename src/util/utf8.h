/* utf8.h - bytes that must travel as text: JSON strings carry only valid
 * UTF-8, while logs and error messages hold whatever a program wrote.
 *
 * Invalid bytes become U+FFFD (the replacement character), one per byte of
 * an ill-formed sequence; a valid sequence that is only cut short by the end
 * of the buffer can be held back instead, for the next read to complete
 * (a log read while it is being written). */
#ifndef SCRIPTHUT_UTIL_UTF8_H
#define SCRIPTHUT_UTIL_UTF8_H
#include <stdbool.h>
#include <stddef.h>

/* The length of the longest prefix of s[0..len) that does not end inside a
 * UTF-8 sequence that is valid so far but incomplete: len minus the 1-3
 * bytes such a sequence holds at the end, else len. */
size_t utf8_complete_prefix(const char *s, size_t len);

/* Whether s[0..len) is valid UTF-8 with no NUL byte. */
bool utf8_valid(const char *s, size_t len);

/* A NUL-terminated copy of s[0..len) in which every byte of an ill-formed
 * sequence (and every NUL) is replaced by U+FFFD.  *replaced (may be NULL)
 * counts the replacements. */
char *utf8_sanitize(const char *s, size_t len, size_t *replaced);

#endif
