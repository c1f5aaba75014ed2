/* ssh_settings.c - a backend's "ssh" config object, completed from the
 * user's ~/.ssh/config, turned into an SSH transport.
 *
 * The object is the normalised one of lua/scripthut/config.lua, which owns
 * the defaults of scripthut's own settings (known_hosts,
 * strict_host_key_checking, use_agent, the timeouts, keepalive): they are
 * read here, never defaulted a second time.  What the config leaves unset
 * that ~/.ssh/config can say (HostName, User, Port, IdentityFile, ProxyJump)
 * comes from there, like `ssh -o` over the config file, and then from what
 * OpenSSH itself falls back to (port 22, the default key files, the login
 * name); a ProxyJump host that is an alias there is resolved too (HostName,
 * User, Port). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pwd.h>

#include "transport/ssh.h"
#include "transport/ssh_config.h"
#include "util/fsutil.h"
#include "util/sbuf.h"

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* A setting config.lua's normalisation always fills: missing means the
 * object did not come from it, which is a bug, not a user's mistake. */
static json_t *normalised(json_t *ssh, const char *key, const char *backend_name, sh_err *e)
{
    json_t *v = json_object_get(ssh, key);
    if (!v || json_is_null(v))
        sh_err_set(e, SH_EINTERNAL,
                   "backend '%s': ssh.%s is missing from the normalised config "
                   "(lua/scripthut/config.lua fills it)",
                   backend_name, key);
    return v && !json_is_null(v) ? v : NULL;
}

static int setting_int(json_t *ssh, const char *key, const char *backend_name, int *out, sh_err *e)
{
    json_t *v = normalised(ssh, key, backend_name, e);
    if (!v)
        return -1;
    *out = (int)json_integer_value(v);
    return 0;
}

static int setting_bool(json_t *ssh, const char *key, const char *backend_name, bool *out,
                        sh_err *e)
{
    json_t *v = normalised(ssh, key, backend_name, e);
    if (!v)
        return -1;
    *out = json_is_true(v);
    return 0;
}

/* The scripthut settings of s, as config.lua normalised them. */
static int read_settings(json_t *ssh, const char *backend_name, ssh_settings *s, sh_err *e)
{
    json_t *kh = normalised(ssh, "known_hosts", backend_name, e);
    if (!kh || setting_bool(ssh, "use_agent", backend_name, &s->use_agent, e) < 0 ||
        setting_bool(ssh, "strict_host_key_checking", backend_name, &s->check_host_key, e) < 0 ||
        setting_int(ssh, "connect_timeout", backend_name, &s->connect_timeout_ms, e) < 0 ||
        setting_int(ssh, "command_timeout", backend_name, &s->command_timeout_ms, e) < 0 ||
        setting_int(ssh, "keepalive", backend_name, &s->keepalive_s, e) < 0)
        return -1;
    s->known_hosts = json_string_value(kh);
    s->connect_timeout_ms *= 1000;
    s->command_timeout_ms *= 1000;
    s->passphrase_env = jstr(ssh, "passphrase_env");
    return 0;
}

/* The first default key that exists, as OpenSSH tries them (RSA last: it is
 * refused with an explanation if it is the only one). */
static char *default_key(const char *home)
{
    static const char *names[] = {"id_ed25519", "id_ecdsa", "id_rsa"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *p = xasprintf("%s/.ssh/%s", home, names[i]);
        if (fs_exists(p))
            return p;
        free(p);
    }
    return NULL;
}

/* The jump host may itself be an alias of ~/.ssh/config: its HostName, User
 * and Port fill what the ProxyJump value leaves out, as ssh does for the
 * first hop.  A list ("a,b") is passed through unchanged, to be refused
 * with an explanation when connecting.  Caller frees. */
static char *resolve_jump(const char *jump, const char *cfg_text, const char *home)
{
    char *user = NULL, *host = NULL;
    int port = 0;
    if (!jump || strchr(jump, ',') || ssh_parse_jump(jump, &user, &host, &port) < 0)
        return jump ? xstrdup(jump) : NULL;
    ssh_host_config jc;
    ssh_config_lookup(cfg_text, host, home, &jc);
    const char *u = user ? user : jc.user;
    char *out = xasprintf("%s%s%s:%d", u ? u : "", u ? "@" : "", jc.hostname ? jc.hostname : host,
                          port          ? port
                          : jc.port > 0 ? jc.port
                                        : 22);
    ssh_host_config_free(&jc);
    free(user);
    free(host);
    return out;
}

transport *transport_ssh_from_config(const char *backend_name, json_t *ssh, sh_err *e)
{
    const char *alias = jstr(ssh, "host");
    if (!alias || !*alias) {
        sh_err_set(e, SH_EINVAL, "backend '%s': ssh.host is required", backend_name);
        return NULL;
    }
    ssh_settings s = {0};
    if (read_settings(ssh, backend_name, &s, e) < 0)
        return NULL;
    const char *home = getenv("HOME");
    if (!home) {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : "/";
    }
    ssh_host_config hc;
    char *cfg_path = xasprintf("%s/.ssh/config", home);
    char *text = NULL;
    if (fs_read_file(cfg_path, &text, NULL) < 0)
        text = NULL;
    ssh_config_lookup(text, alias, home, &hc);
    char *jump =
        resolve_jump(jstr(ssh, "proxy_jump") ? jstr(ssh, "proxy_jump") : hc.proxy_jump, text, home);
    free(text);
    free(cfg_path);

    s.label = backend_name;
    s.host_alias = alias;
    s.host = hc.hostname ? hc.hostname : alias;
    json_t *port = json_object_get(ssh, "port");
    s.port = json_is_integer(port) ? (int)json_integer_value(port) : hc.port > 0 ? hc.port : 22;
    const char *user = jstr(ssh, "user");
    if (!user)
        user = hc.user;
    if (!user) {
        struct passwd *pw = getpwuid(getuid());
        user = pw ? pw->pw_name : getenv("USER"); /* what ssh does with no User */
    }
    s.user = user;
    char *key = NULL;
    if (jstr(ssh, "key_path"))
        key = xstrdup(jstr(ssh, "key_path")); /* absolute: config.lua resolved it */
    else if (hc.identity_file)
        key = xstrdup(hc.identity_file);
    else
        key = default_key(home);
    s.key_path = key;
    s.jump = jump;
    transport *t = transport_ssh_new(&s);
    free(key);
    free(jump);
    ssh_host_config_free(&hc);
    return t;
}
