/* assets.c - the dashboard's files and the OpenAPI document, served from
 * the table compiled into the binary.  Only exact names in the table are
 * served: there is no file system behind this, so no directory listing and
 * nothing outside web/ can be reached. */
#include <string.h>

#include "http/assets.h"
#include "http/http_internal.h"

/* The dashboard's pages are one document; the path after "#" picks the view. */
#define INDEX "/index.html"
/* The page may load only its own files and talk only to its own server. */
#define CSP_HEADER                                                                                 \
    "Content-Security-Policy: default-src 'self'; img-src 'self' data:; "                          \
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'\r\n"

static const struct embedded_asset *find_asset(const char *path)
{
    for (const struct embedded_asset *a = embedded_web_assets; a->path; a++)
        if (!strcmp(a->path, path))
            return a;
    return NULL;
}

static const char *content_type(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (!dot)
        return "application/octet-stream";
    if (!strcmp(dot, ".html"))
        return "text/html; charset=utf-8";
    if (!strcmp(dot, ".js"))
        return "text/javascript; charset=utf-8";
    if (!strcmp(dot, ".css"))
        return "text/css; charset=utf-8";
    if (!strcmp(dot, ".json"))
        return "application/json";
    if (!strcmp(dot, ".svg"))
        return "image/svg+xml";
    return "application/octet-stream";
}

int http_serve_asset(struct mg_connection *conn, const char *path)
{
    if (!strcmp(path, "/"))
        path = INDEX;
    const struct embedded_asset *a = find_asset(path);
    if (!a) {
        const char *body = "Not Found\n";
        return http_reply_raw(conn, 404, "text/plain; charset=utf-8", body, strlen(body), NULL);
    }
    return http_reply_raw(conn, 200, content_type(a->path), a->data, a->len, CSP_HEADER);
}

const char *http_openapi_text(size_t *len)
{
    const struct embedded_asset *a = find_asset("/openapi.json");
    if (len)
        *len = a ? a->len : 0;
    return a ? a->data : NULL;
}

int http_openapi(http_req *r)
{
    size_t len = 0;
    const char *text = http_openapi_text(&len);
    if (!text)
        return http_reply_error(r, 500, "the OpenAPI document is missing from this build");
    return http_reply_raw(r->conn, 200, "application/json", text, len, NULL);
}
