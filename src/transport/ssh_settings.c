/* ssh_settings.c - a backend's "ssh" config object, completed from the
 * user's ~/.ssh/config, turned into an SSH transport.
 *
 * What the scripthut config says wins; ~/.ssh/config fills only what it
 * leaves unset (HostName, User, Port, IdentityFile, ProxyJump), like `ssh -o`
 * over the config file; a ProxyJump host that is an alias there is resolved
 * too (HostName, User, Port). */
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

static int jint(json_t *o, const char *k, int dflt)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int)json_integer_value(v) : dflt;
}

static bool jbool(json_t *o, const char *k, bool dflt)
{
    json_t *v = json_object_get(o, k);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
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

    ssh_settings s = {0};
    s.label = backend_name;
    s.host_alias = alias;
    s.host = hc.hostname ? hc.hostname : alias;
    s.port = jint(ssh, "port", hc.port > 0 ? hc.port : 22);
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
        key = fs_expand_home(jstr(ssh, "key_path"));
    else if (hc.identity_file)
        key = xstrdup(hc.identity_file);
    else
        key = default_key(home);
    s.key_path = key;
    s.passphrase_env = jstr(ssh, "passphrase_env");
    s.use_agent = jbool(ssh, "use_agent", true);
    char *kh =
        fs_expand_home(jstr(ssh, "known_hosts") ? jstr(ssh, "known_hosts") : "~/.ssh/known_hosts");
    s.known_hosts = kh;
    s.check_host_key = jbool(ssh, "strict_host_key_checking", true);
    s.jump = jump;
    s.connect_timeout_ms = jint(ssh, "connect_timeout", 15) * 1000;
    s.command_timeout_ms = jint(ssh, "command_timeout", 120) * 1000;
    s.keepalive_s = jint(ssh, "keepalive", 30);
    transport *t = transport_ssh_new(&s);
    free(key);
    free(kh);
    free(jump);
    ssh_host_config_free(&hc);
    return t;
}
