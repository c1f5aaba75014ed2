/* cli_main.c - `scripthut [global flags] <noun> <verb> [flags]`: global flags
 * and --version, then dispatch to the command of cli_table.c, which parses
 * its own flags (cli_parse). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_internal.h"
#include "client/client.h"
#include "util/sbuf.h"

#ifndef SCRIPTHUT_VERSION
#define SCRIPTHUT_VERSION "dev"
#endif

static bool is_help_flag(const char *s)
{
    return s && (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0 || strcmp(s, "help") == 0);
}

/* "unknown command 'rnu'; did you mean 'run'?": a mistyped noun, and with
 * it the verb when the verb is near one of the suggested noun's. */
static int unknown_command(const char *noun, const char *verb)
{
    const char *near = cli_suggest_noun(noun);
    const char *near_verb = NULL;
    if (near && verb) {
        const cli_cmd *exact = cli_find_command(near, verb);
        near_verb = exact && exact->verb ? exact->verb : cli_suggest_verb(near, verb);
    }
    if (near && near_verb)
        cli_error("unknown command '%s'; did you mean '%s %s'? (see: scripthut --help)", noun, near,
                  near_verb);
    else if (near)
        cli_error("unknown command '%s'; did you mean '%s'? (see: scripthut --help)", noun, near);
    else
        cli_error("unknown command '%s' (see: scripthut --help)", noun);
    return EXIT_USAGE;
}

/* A global flag before the noun, by the name typed ("--config", "-c"). */
static cli_flag_id global_flag(const char *name)
{
    for (int id = F_END + 1; id < F_COUNT; id++) {
        const cli_flag *f = &CLI_FLAGS[id];
        if (f->section == CS_COMMAND)
            continue;
        if ((name[1] == '-' && f->name && !strcmp(name + 2, f->name)) ||
            (name[1] == f->short_name && f->short_name && name[2] == '\0'))
            return (cli_flag_id)id;
    }
    return F_END;
}

/* Global flags before the noun.  Returns the index of the noun, or -1 with
 * *rc set (help, version, or a usage error). */
static int parse_global_flags(cli_ctx *c, int argc, char **argv, int *rc)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        char name[64];
        const char *a = argv[i];
        const char *eq = strchr(a, '=');
        size_t len = eq && a[1] == '-' ? (size_t)(eq - a) : strlen(a);
        snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), a);
        cli_flag_id id = global_flag(name);
        if (id != F_END && CLI_FLAGS[id].value) {
            const char *value;
            if (eq && a[1] == '-') {
                value = eq + 1;
            } else if (i + 1 >= argc) {
                cli_error("flag %s needs a value (see: scripthut --help)", a);
                *rc = EXIT_USAGE;
                return -1;
            } else {
                value = argv[++i];
            }
            cli_set_common(c, id, value);
        } else if (id == F_JSON) {
            cli_set_common(c, id, NULL);
        } else if (id == F_HELP || is_help_flag(a)) {
            cli_print_main_help(stdout);
            *rc = EXIT_OK;
            return -1;
        } else if (id == F_VERSION) {
            printf("scripthut %s\n", SCRIPTHUT_VERSION);
            *rc = EXIT_OK;
            return -1;
        } else {
            cli_error("unknown flag %s (see: scripthut --help)", a);
            *rc = EXIT_USAGE;
            return -1;
        }
    }
    if (i >= argc) {
        cli_print_main_help(stderr);
        cli_error("missing command");
        *rc = EXIT_USAGE;
        return -1;
    }
    return i;
}

/* A global flag given before the noun that the command does not take is the
 * same usage error as after it. */
static int check_global_flags(cli_ctx *c, const cli_cmd *cmd)
{
    struct {
        bool given;
        cli_flag_id id;
    } given[] = {
        {c->json, F_JSON},
        {c->opts.config_path != NULL, F_CONFIG},
        {c->opts.server != NULL, F_SERVER},
        {c->opts.token != NULL, F_TOKEN},
        {c->opts.cf_client_id != NULL, F_CF_CLIENT_ID},
        {c->opts.cf_client_secret != NULL, F_CF_CLIENT_SECRET},
        {c->opts.cf_access_token != NULL, F_CF_ACCESS_TOKEN},
    };
    for (size_t i = 0; i < sizeof given / sizeof given[0]; i++)
        if (given[i].given && !cli_flag_applies(cmd, given[i].id)) {
            c->cmd = cmd;
            char name[64];
            return cli_usage_error(c, "%s does not take --%s", cli_cmd_name(cmd, name, sizeof name),
                                   CLI_FLAGS[given[i].id].name);
        }
    return 0;
}

static int run_command(cli_ctx *c, const cli_cmd *cmd, int argc, char **argv)
{
    int rc = check_global_flags(c, cmd);
    if (rc != 0)
        return rc;
    c->cmd = cmd;
    return cmd->run(c, argc, argv);
}

static int dispatch(cli_ctx *c, int argc, char **argv, int at)
{
    const char *noun = argv[at];
    const char *verb = at + 1 < argc ? argv[at + 1] : NULL;
    if (is_help_flag(noun) && strcmp(noun, "help") != 0) {
        if (verb && cli_noun_exists(verb)) {
            cli_print_noun_help(verb, stdout);
            return EXIT_OK;
        }
        cli_print_main_help(stdout);
        return EXIT_OK;
    }
    if (!cli_noun_exists(noun))
        return unknown_command(noun, verb);
    const cli_cmd *cmd = cli_find_command(noun, verb);
    if (cmd && !cmd->verb) /* one-word command: its argv starts at the noun */
        return run_command(c, cmd, argc - at, argv + at);
    if (!verb || is_help_flag(verb)) {
        cli_print_noun_help(noun, verb ? stdout : stderr);
        if (verb)
            return EXIT_OK;
        cli_error("missing command after '%s'", noun);
        return EXIT_USAGE;
    }
    if (!cmd) {
        const char *near = cli_suggest_verb(noun, verb);
        if (near)
            cli_error("unknown command '%s %s'; did you mean '%s %s'? (see: scripthut %s --help)",
                      noun, verb, noun, near, noun);
        else
            cli_error("unknown command '%s %s' (see: scripthut %s --help)", noun, verb, noun);
        return EXIT_USAGE;
    }
    return run_command(c, cmd, argc - at - 1, argv + at + 1);
}

/* One line on stderr when a command that needs only the settings runs without
 * the rest of the config: the error, and the data dir (or server) used. */
static void warn_config_fallback(cli_ctx *c)
{
    const char *file = NULL;
    const char *why = client_config_fallback(c->client, &file);
    if (!why)
        return;
    sbuf b = SBUF_INIT;
    sbuf_puts(&b, "Warning: the config does not load: ");
    for (const char *p = why; *p; p++) /* one line, whatever the message */
        sbuf_putc(&b, *p == '\n' || *p == '\r' ? ' ' : *p);
    if (file)
        sbuf_printf(&b, "; using the settings of %s", file);
    else
        sbuf_puts(&b, "; using the default settings");
    const char *dir = client_data_dir(c->client);
    if (dir)
        sbuf_printf(&b, " (data dir %s)", dir);
    else
        sbuf_printf(&b, " (server %s)", client_server(c->client));
    fprintf(stderr, "%s\n", sbuf_cstr(&b));
    sbuf_free(&b);
}

int cli_connect(cli_ctx *c)
{
    if (c->client)
        return 0;
    sh_err e = SH_ERR_INIT;
    c->opts.settings_suffice = c->cmd && c->cmd->needs <= CLI_NEEDS_SETTINGS;
    if (client_open(&c->opts, &c->client, &e) != 0)
        return cli_fail(&e);
    warn_config_fallback(c);
    return 0;
}

int cli_main(int argc, char **argv)
{
    cli_ctx c = {0};
    int rc = EXIT_OK;
    int at = parse_global_flags(&c, argc, argv, &rc);
    if (at < 0)
        return rc;
    rc = dispatch(&c, argc, argv, at);
    client_close(c.client);
    fflush(stdout);
    return rc;
}
