/* quote.h - the one function that makes a value safe for a POSIX shell.
 *
 * Every value that reaches a shell (paths, ids, names, env values) goes
 * through shell_quote.  Scripts themselves never travel on a command line:
 * they are written to files or sent on stdin. */
#ifndef SCRIPTHUT_UTIL_QUOTE_H
#define SCRIPTHUT_UTIL_QUOTE_H
#include "util/sbuf.h"

/* Appends s as one shell word: wrapped in single quotes, with each ' written
 * as '\''.  Strings made only of [A-Za-z0-9_./:=@%+,-] are appended bare
 * (readable scripts); the empty string becomes ''. */
void shell_quote_append(sbuf *out, const char *s);

/* Returns a newly allocated quoted copy of s. */
char *shell_quote(const char *s);

/* Like shell_quote, but a leading "~", "~/", "$VAR" or "${VAR}" prefix is left
 * for the shell to expand (e.g. stack cache_dir under $SCRATCH); the rest of
 * the path is quoted.  "~/x y" -> "$HOME"'/x y'. */
char *shell_quote_path_expand_prefix(const char *s);

#endif
