/* http.h - `scripthut serve`: the REST API, the live event stream and the
 * dashboard over civetweb, with the engine of the data dir on its own thread
 * (DESIGN §8).  The only entry point the CLI needs. */
#ifndef SCRIPTHUT_HTTP_HTTP_H
#define SCRIPTHUT_HTTP_HTTP_H
#include "util/err.h"

typedef struct http_serve_opts {
    const char *config_path; /* --config, or NULL for discovery */
    const char *host;        /* NULL: settings.server_host, else 127.0.0.1 */
    int port;                /* -1: settings.server_port, else 8000; 0: any free port */
    int threads;             /* 0: default */
    /* Called once the server listens, with the actual port (tests pick port 0
     * and read it from the "listening on" line). */
    void (*on_ready)(const char *host, int port, void *arg);
    void *arg;
} http_serve_opts;

/* Serves until SIGINT/SIGTERM.  0 after a clean shutdown; -1 with e set when
 * the server cannot start (port taken, unsafe bind, engine held elsewhere). */
int http_serve(const http_serve_opts *o, sh_err *e);

#endif
