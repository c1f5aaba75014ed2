/* remote.h - server mode's transport: JSON over HTTP(S) to a scripthut
 * server's /api/v1 with libcurl (DESIGN §1).
 *
 * One call = one request with a 60 s deadline, TLS verification on, no
 * redirects followed, and the credentials of remote_auth on every request.
 * A non-2xx answer becomes an sh_err with the HTTP status and the server's
 * {"detail"}; a connection failure becomes one friendly line naming the URL. */
#ifndef SCRIPTHUT_CLIENT_REMOTE_H
#define SCRIPTHUT_CLIENT_REMOTE_H
#include <jansson.h>

#include "util/err.h"

typedef struct remote remote;

typedef struct remote_auth {
    const char *token;        /* Authorization: Bearer */
    const char *cf_client_id; /* Cloudflare Access service token */
    const char *cf_client_secret;
    const char *cf_access_token; /* cf-access-token (from `cloudflared access token`) */
} remote_auth;

/* url: "http[s]://host[:port][/prefix]" (a trailing "/api/v1" is accepted).
 * NULL with e set (422) for anything else. */
remote *remote_new(const char *url, const remote_auth *auth, sh_err *e);
void remote_free(remote *rm);

/* METHOD /api/v1<path>; path must already be escaped (remote_escape) and
 * may carry a query.  body may be NULL.  *out (may be NULL when the caller
 * does not want it) gets the parsed JSON reply. */
int remote_call(remote *rm, const char *method, const char *path, json_t *body, json_t **out,
                sh_err *e);

/* Percent-encodes s for a path segment or a query value. Caller frees. */
char *remote_escape(const char *s);

#endif
