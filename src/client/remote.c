/* remote.c - libcurl under server mode (see remote.h). */
#include "client/remote.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/sbuf.h"

#ifndef SCRIPTHUT_VERSION
#define SCRIPTHUT_VERSION "dev"
#endif

#define REMOTE_TIMEOUT_S 60L
#define REMOTE_CONNECT_TIMEOUT_S 10L
/* A reply larger than this is not something the API sends. */
#define REMOTE_MAX_REPLY (256L * 1024 * 1024)

struct remote {
    CURL *curl;
    char *base;                 /* "http://host:port/api/v1" */
    struct curl_slist *headers; /* auth + JSON content type */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static struct curl_slist *add_header(struct curl_slist *list, const char *name, const char *value)
{
    if (!value || !*value)
        return list;
    char *h = xasprintf("%s: %s", name, value);
    list = curl_slist_append(list, h);
    free(h);
    return list;
}

remote *remote_new(const char *url, const remote_auth *auth, sh_err *e)
{
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        sh_err_set(e, SH_EINVAL,
                   "server URL '%s' must start with http:// or https:// ('local' for this "
                   "machine)",
                   url);
        return NULL;
    }
    pthread_once(&curl_once, curl_init_once);
    remote *rm = xcalloc(1, sizeof *rm);
    rm->curl = curl_easy_init();
    size_t len = strlen(url);
    while (len > 0 && url[len - 1] == '/')
        len--;
    if (len >= 7 && !strncmp(url + len - 7, "/api/v1", 7))
        len -= 7;
    rm->base = xasprintf("%.*s/api/v1", (int)len, url);
    rm->headers = curl_slist_append(NULL, "Content-Type: application/json");
    rm->headers = curl_slist_append(rm->headers, "Accept: application/json");
    if (auth && auth->token) {
        char *bearer = xasprintf("Bearer %s", auth->token);
        rm->headers = add_header(rm->headers, "Authorization", bearer);
        free(bearer);
    }
    if (auth) {
        rm->headers = add_header(rm->headers, "CF-Access-Client-Id", auth->cf_client_id);
        rm->headers = add_header(rm->headers, "CF-Access-Client-Secret", auth->cf_client_secret);
        rm->headers = add_header(rm->headers, "cf-access-token", auth->cf_access_token);
    }
    return rm;
}

void remote_free(remote *rm)
{
    if (!rm)
        return;
    curl_slist_free_all(rm->headers);
    curl_easy_cleanup(rm->curl);
    free(rm->base);
    free(rm);
}

char *remote_escape(const char *s)
{
    sbuf b = SBUF_INIT;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~')
            sbuf_putc(&b, (char)*p);
        else
            sbuf_printf(&b, "%%%02X", *p);
    }
    return sbuf_detach(&b);
}

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
    sbuf *b = arg;
    if (b->len + size * n > (size_t)REMOTE_MAX_REPLY)
        return 0; /* aborts the transfer */
    sbuf_append(b, data, size * n);
    return size * n;
}

/* The error of a non-2xx reply: the server's detail, or the status and the
 * start of whatever came back. */
static int reply_error(long code, const sbuf *reply, sh_err *e)
{
    json_t *v = json_loadb(reply->data ? reply->data : "", reply->len, 0, NULL);
    const char *detail = json_string_value(json_object_get(v, "detail"));
    int status = code >= 400 && code <= 599 ? (int)code : SH_EINTERNAL;
    if (detail)
        sh_err_set(e, status, "%s", detail);
    else if (code >= 300 && code < 400)
        sh_err_set(e, status, "HTTP %ld: the server answered with a redirect (check the URL)",
                   code);
    else
        sh_err_set(e, status, "HTTP %ld: %.200s", code, reply->len ? reply->data : "(no body)");
    json_decref(v);
    return -1;
}

int remote_call(remote *rm, const char *method, const char *path, json_t *body, json_t **out,
                sh_err *e)
{
    CURL *c = rm->curl;
    curl_easy_reset(c);
    char *url = xasprintf("%s%s", rm->base, path);
    char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
    sbuf reply = SBUF_INIT;
    char curl_err[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, rm->headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, REMOTE_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, REMOTE_CONNECT_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "scripthut/" SCRIPTHUT_VERSION);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply);
    if (payload) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    }
    CURLcode cc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    int rc = 0;
    if (cc != CURLE_OK) {
        rc = sh_err_set(e, SH_EUNAVAIL, "could not reach the server at %s (%s)", rm->base,
                        curl_err[0] ? curl_err : curl_easy_strerror(cc));
    } else if (code < 200 || code > 299) {
        rc = reply_error(code, &reply, e);
    } else if (out) {
        json_error_t je;
        *out = json_loadb(reply.data ? reply.data : "", reply.len, 0, &je);
        if (!*out)
            rc = sh_err_set(e, SH_EINTERNAL, "the server at %s sent invalid JSON: %s", rm->base,
                            je.text);
    }
    sbuf_free(&reply);
    free(payload);
    free(url);
    return rc;
}
