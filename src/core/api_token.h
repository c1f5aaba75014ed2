/* api_token.h - the server's API token, kept in <data_dir>/api_token
 * (docs/security.md, "The server").
 *
 * `scripthut serve` without a configured token makes one the first time (256
 * random bits as 64 hex digits, in a file only its owner may read) and uses
 * it ever after: it is never regenerated, so the clients of the same account
 * (the CLI, the Lua API, the original's client) read the same file.  A file
 * that other users could read is refused, not used: its token may be known. */
#ifndef SCRIPTHUT_CORE_API_TOKEN_H
#define SCRIPTHUT_CORE_API_TOKEN_H
#include <stdbool.h>

#include "util/err.h"

#define API_TOKEN_FILE "api_token"

/* Reads <data_dir>/api_token: 0 with *token set (caller frees), 1 when
 * there is no such file, -1 with e set (not a regular file of ours, readable
 * by others, empty, unreadable). */
int api_token_read(const char *data_dir, char **token, sh_err *e);

/* Reads it, first creating the data dir (0700) and the file (0600) when
 * there is none.  *created (may be NULL) says whether it was made now. */
int api_token_ensure(const char *data_dir, char **token, bool *created, sh_err *e);

/* The data dir settings.data_dir defaults to (the rule of
 * lua/scripthut/config.lua), for when no config loads: $XDG_DATA_HOME/
 * scripthut, else ~/.local/share/scripthut.  NULL without HOME.  Caller
 * frees. */
char *api_token_default_data_dir(void);

#endif
