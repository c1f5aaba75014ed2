/* embedded.h - the Lua modules compiled into the binary (generated table). */
#ifndef SCRIPTHUT_LUA_EMBEDDED_H
#define SCRIPTHUT_LUA_EMBEDDED_H
#include <stddef.h>

struct embedded_module {
    const char *name;  /* "scripthut.config" */
    const char *chunk; /* "@lua/scripthut/config.lua": chunk name for tracebacks */
    const char *source;
    size_t len;
};

/* Terminated by an entry whose name is NULL. */
extern const struct embedded_module embedded_lua_modules[];

#endif
