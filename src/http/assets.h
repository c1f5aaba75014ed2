/* assets.h - the dashboard files compiled into the binary (generated table,
 * cmake/embed.cmake over web/). */
#ifndef SCRIPTHUT_HTTP_ASSETS_H
#define SCRIPTHUT_HTTP_ASSETS_H
#include <stddef.h>

struct embedded_asset {
    const char *path; /* "/app.js" */
    const char *data;
    size_t len;
};

/* Terminated by an entry whose path is NULL. */
extern const struct embedded_asset embedded_web_assets[];

#endif
