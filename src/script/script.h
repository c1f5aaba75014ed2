/* script.h - the scripting API of `scripthut lua`: the `scripthut` module of
 * user scripts (mod_scripthut.c, docs/lua-api.md) and the interactive prompt
 * (repl.c).  A face beside cli/ and http/: it reaches scripthut through the
 * client (client.h), and the Lua state through the host's module surface
 * (lua/host_module.h). */
#ifndef SCRIPTHUT_SCRIPT_SCRIPT_H
#define SCRIPTHUT_SCRIPT_SCRIPT_H

#include "lua/host.h"
#include "util/err.h"

/* Makes the `scripthut` module (docs/lua-api.md) available to the scripts and
 * the REPL of this host: `require "scripthut"` and the global `scripthut`.
 * It connects on first use with these options (either may be NULL), as the
 * CLI does.  Never called for the hosts that evaluate config. */
int script_enable(host *h, const char *config_path, const char *server, sh_err *e);

/* The interactive prompt of `scripthut lua` (repl.c): line editing, history
 * kept in history_path (may be NULL), multi-line input, results
 * pretty-printed, errors shown with a traceback.  Returns the exit status
 * when the user ends the session (Ctrl-D), or exits through os.exit. */
int script_repl(host *h, const char *history_path);

#endif
