/* ssh_config.c - ~/.ssh/config lookup and private-key type sniffing (pure
 * functions; see ssh_config.h). */
#include "transport/ssh_config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/sbuf.h"

/* --- patterns ----------------------------------------------------------------------- */

int ssh_pattern_match(const char *p, const char *s)
{
    for (; *p; p++, s++) {
        if (*p == '*') {
            while (p[1] == '*')
                p++;
            if (!p[1])
                return 1;
            for (; *s; s++)
                if (ssh_pattern_match(p + 1, s))
                    return 1;
            return 0;
        }
        if (!*s)
            return 0;
        if (*p != '?' && *p != *s)
            return 0;
    }
    return *s == '\0';
}

/* A Host line's patterns match when one positive pattern matches and no
 * negated one does (OpenSSH semantics). */
static int host_line_matches(char *patterns, const char *host)
{
    int matched = 0;
    for (char *save = NULL, *w = strtok_r(patterns, " \t", &save); w;
         w = strtok_r(NULL, " \t", &save)) {
        if (*w == '!') {
            if (ssh_pattern_match(w + 1, host))
                return 0;
        } else if (ssh_pattern_match(w, host)) {
            matched = 1;
        }
    }
    return matched;
}

/* --- config lines ------------------------------------------------------------------- */

static char *expand_tokens(const char *v, const char *host, const char *user, const char *home)
{
    sbuf b = SBUF_INIT;
    if (v[0] == '~' && (v[1] == '/' || v[1] == '\0')) {
        sbuf_puts(&b, home ? home : "");
        v++;
    }
    for (; *v; v++) {
        if (*v != '%' || !v[1]) {
            sbuf_putc(&b, *v);
            continue;
        }
        v++;
        switch (*v) {
        case 'd': sbuf_puts(&b, home ? home : ""); break;
        case 'h': sbuf_puts(&b, host); break;
        case 'u': sbuf_puts(&b, user ? user : ""); break;
        case '%': sbuf_putc(&b, '%'); break;
        default:
            sbuf_putc(&b, '%');
            sbuf_putc(&b, *v);
            break;
        }
    }
    return sbuf_detach(&b);
}

/* Splits a line into keyword and value ("Key value", "Key=value", "Key = value");
 * strips surrounding double quotes from the value.  0 when blank or comment. */
static int split_line(char *line, char **key, char **value)
{
    char *p = line + strspn(line, " \t");
    if (!*p || *p == '#')
        return 0;
    *key = p;
    p += strcspn(p, " \t=");
    if (*p) {
        *p++ = '\0';
        p += strspn(p, " \t");
        if (*p == '=')
            p++;
        p += strspn(p, " \t");
    }
    char *end = p + strlen(p);
    while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        *--end = '\0';
    if (*p == '"' && end > p + 1 && end[-1] == '"') {
        end[-1] = '\0';
        p++;
    }
    *value = p;
    return 1;
}

static void set_once(char **slot, const char *value)
{
    if (!*slot)
        *slot = xstrdup(value);
}

void ssh_config_lookup(const char *text, const char *host, const char *home, ssh_host_config *out)
{
    memset(out, 0, sizeof *out);
    if (!text || !host)
        return;
    char *copy = xstrdup(text);
    int active = 1; /* lines before the first Host apply to every host */
    char *raw_identity = NULL, *raw_jump = NULL;
    for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *key, *value;
        if (!split_line(line, &key, &value))
            continue;
        if (!strcasecmp(key, "Host")) {
            active = host_line_matches(value, host);
            continue;
        }
        if (!strcasecmp(key, "Match")) {
            active = !strcasecmp(value, "all"); /* other criteria: not supported */
            continue;
        }
        if (!active)
            continue;
        if (!strcasecmp(key, "HostName"))
            set_once(&out->hostname, value);
        else if (!strcasecmp(key, "User"))
            set_once(&out->user, value);
        else if (!strcasecmp(key, "Port") && !out->port)
            out->port = atoi(value);
        else if (!strcasecmp(key, "IdentityFile"))
            set_once(&raw_identity, value);
        else if (!strcasecmp(key, "ProxyJump"))
            set_once(&raw_jump, value);
    }
    free(copy);
    if (out->hostname) {
        char *h = expand_tokens(out->hostname, host, out->user, home);
        free(out->hostname);
        out->hostname = h;
    }
    if (raw_identity)
        out->identity_file = expand_tokens(raw_identity, host, out->user, home);
    if (raw_jump && strcasecmp(raw_jump, "none") != 0)
        out->proxy_jump = xstrdup(raw_jump);
    free(raw_identity);
    free(raw_jump);
}

void ssh_host_config_free(ssh_host_config *c)
{
    free(c->hostname);
    free(c->user);
    free(c->identity_file);
    free(c->proxy_jump);
    memset(c, 0, sizeof *c);
}

int ssh_parse_jump(const char *spec, char **user, char **host, int *port)
{
    *user = *host = NULL;
    *port = 0;
    if (!spec || !*spec)
        return -1;
    /* Only the first hop: "a,b" means a then b; we support one bastion. */
    char *hop = xstrndup(spec, strcspn(spec, ","));
    if (!strncmp(hop, "ssh://", 6))
        memmove(hop, hop + 6, strlen(hop + 6) + 1);
    char *h = hop;
    char *at = strrchr(hop, '@');
    if (at) {
        *at = '\0';
        *user = xstrdup(hop);
        h = at + 1;
    }
    char *colon = strrchr(h, ':');
    if (colon && h[0] != '[') {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (*end || p <= 0 || p > 65535) {
            free(hop);
            free(*user);
            *user = NULL;
            return -1;
        }
        *port = (int)p;
        *colon = '\0';
    }
    if (!*h) {
        free(hop);
        free(*user);
        *user = NULL;
        return -1;
    }
    *host = xstrdup(h);
    free(hop);
    return 0;
}

/* --- key files ---------------------------------------------------------------------- */

static int b64_value(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decodes base64, skipping whitespace, stopping at '=' or the first other
 * character.  Caller frees. */
static unsigned char *b64_decode(const char *s, size_t n, size_t *out_len)
{
    unsigned char *out = xmalloc(n / 4 * 3 + 3);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')
            continue;
        int v = b64_value((unsigned char)s[i]);
        if (v < 0)
            break;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    *out_len = o;
    return out;
}

/* Reads an SSH "string" (uint32 length + bytes) at *off. */
static int read_string(const unsigned char *d, size_t n, size_t *off, const unsigned char **s,
                       size_t *len)
{
    if (n - *off < 4)
        return -1;
    uint32_t l = (uint32_t)d[*off] << 24 | (uint32_t)d[*off + 1] << 16 |
                 (uint32_t)d[*off + 2] << 8 | d[*off + 3];
    *off += 4;
    if (l > n - *off)
        return -1;
    *s = d + *off;
    *len = l;
    *off += l;
    return 0;
}

static ssh_key_type type_from_name(const unsigned char *s, size_t n)
{
    if (n == 7 && !memcmp(s, "ssh-rsa", 7))
        return SSH_KEY_RSA;
    if (n == 7 && !memcmp(s, "ssh-dss", 7))
        return SSH_KEY_DSA;
    if (n == 11 && !memcmp(s, "ssh-ed25519", 11))
        return SSH_KEY_ED25519;
    if (n > 10 && !memcmp(s, "ecdsa-sha2-", 11))
        return SSH_KEY_ECDSA;
    return SSH_KEY_UNKNOWN;
}

/* openssh-key-v1: magic, ciphername, kdfname, kdfoptions, nkeys, then the
 * public key blob (whose first string is the key type) in the clear. */
static ssh_key_type openssh_key_type(const char *body, size_t n)
{
    size_t len;
    unsigned char *d = b64_decode(body, n, &len);
    ssh_key_type t = SSH_KEY_UNKNOWN;
    static const char magic[] = "openssh-key-v1";
    size_t off = sizeof magic; /* includes the NUL */
    const unsigned char *s;
    size_t sl;
    if (len > off && !memcmp(d, magic, sizeof magic) && read_string(d, len, &off, &s, &sl) == 0 &&
        read_string(d, len, &off, &s, &sl) == 0 && read_string(d, len, &off, &s, &sl) == 0 &&
        len - off >= 4) {
        off += 4; /* number of keys */
        const unsigned char *blob;
        size_t bl;
        if (read_string(d, len, &off, &blob, &bl) == 0) {
            size_t boff = 0;
            if (read_string(blob, bl, &boff, &s, &sl) == 0)
                t = type_from_name(s, sl);
        }
    }
    free(d);
    return t;
}

ssh_key_type ssh_private_key_type(const char *text, size_t len)
{
    static const struct {
        const char *header;
        ssh_key_type type;
    } pem[] = {
        {"-----BEGIN RSA PRIVATE KEY-----", SSH_KEY_RSA},
        {"-----BEGIN DSA PRIVATE KEY-----", SSH_KEY_DSA},
        {"-----BEGIN EC PRIVATE KEY-----", SSH_KEY_ECDSA},
    };
    if (!text)
        return SSH_KEY_UNKNOWN;
    for (size_t i = 0; i < sizeof pem / sizeof pem[0]; i++)
        if (memmem(text, len, pem[i].header, strlen(pem[i].header)))
            return pem[i].type;
    static const char begin[] = "-----BEGIN OPENSSH PRIVATE KEY-----";
    const char *b = memmem(text, len, begin, sizeof begin - 1);
    if (!b)
        return SSH_KEY_UNKNOWN;
    b += sizeof begin - 1;
    const char *end = memmem(b, len - (size_t)(b - text), "-----END", 8);
    return openssh_key_type(b, (size_t)((end ? end : text + len) - b));
}

const char *ssh_key_type_name(ssh_key_type t)
{
    switch (t) {
    case SSH_KEY_RSA: return "rsa";
    case SSH_KEY_DSA: return "dsa";
    case SSH_KEY_ED25519: return "ed25519";
    case SSH_KEY_ECDSA: return "ecdsa";
    default: return "unknown";
    }
}

int ssh_signal_number(const char *name)
{
    static const struct {
        const char *name;
        int num;
    } sigs[] = {{"HUP", 1},   {"INT", 2},   {"QUIT", 3},  {"ILL", 4},   {"ABRT", 6},
                {"BUS", 7},   {"FPE", 8},   {"KILL", 9},  {"USR1", 10}, {"SEGV", 11},
                {"USR2", 12}, {"PIPE", 13}, {"ALRM", 14}, {"TERM", 15}, {"XCPU", 24}};
    if (!name)
        return 0;
    if (!strncmp(name, "SIG", 3))
        name += 3;
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (!strcmp(sigs[i].name, name))
            return sigs[i].num;
    return 0;
}
