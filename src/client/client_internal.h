/* client_internal.h - what client.c (choosing the implementation) and the two
 * implementations, local.c and server_mode.c, share. */
#ifndef SCRIPTHUT_CLIENT_INTERNAL_H
#define SCRIPTHUT_CLIENT_INTERNAL_H
#include "client/client.h"

struct svc;

/* How long `run cancel` waits for the engine to act on the request. */
#define CLIENT_CANCEL_WAIT_MS 15000

/* local.c: a client over the service s, which it owns from now on. */
cli_client *local_client_new(struct svc *s, const char *source);

/* server_mode.c: a client of the server at url. */
int server_client_open(const client_options *o, const char *url, const char *source,
                       cli_client **out, sh_err *e);

#endif
