/* cli_gen.c - what the command table (cli_table.c) becomes for people:
 * `scripthut --help`, a noun's and a command's `--help`, the man page, the
 * generated section of docs/cli.md, and the table as JSON (for tests).  The
 * shell completions are in cli_complete.c. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli_internal.h"
#include "util/sbuf.h"
#include "util/suggest.h"

#ifndef SCRIPTHUT_VERSION
#define SCRIPTHUT_VERSION "dev"
#endif

/* Column where a flag's help starts in --help. */
#define HELP_LABEL_WIDTH 26

/* "-c, --config PATH", "    --json" or "-e CODE". */
static void flag_label(const cli_flag *f, sbuf *b)
{
    if (f->short_name && f->name)
        sbuf_printf(b, "-%c, --%s", f->short_name, f->name);
    else if (f->name)
        sbuf_printf(b, "    --%s", f->name);
    else
        sbuf_printf(b, "-%c", f->short_name);
    if (f->value)
        sbuf_printf(b, " %s", f->value);
}

static void print_flag(FILE *f, cli_flag_id id, const char *help)
{
    const cli_flag *fl = &CLI_FLAGS[id];
    sbuf b = SBUF_INIT;
    flag_label(fl, &b);
    fprintf(f, "  %-*s%s%s", HELP_LABEL_WIDTH, sbuf_cstr(&b), b.len >= HELP_LABEL_WIDTH ? "  " : "",
            help);
    if (fl->env)
        fprintf(f, " (%s)", fl->env);
    fputc('\n', f);
    sbuf_free(&b);
}

/* Every flag of a section, in table order. */
static void print_section(FILE *f, cli_section section)
{
    for (int id = F_END + 1; id < F_COUNT; id++)
        if (CLI_FLAGS[id].section == section)
            print_flag(f, (cli_flag_id)id, CLI_FLAGS[id].help);
}

/* Lines of text, each indented by `indent` spaces. */
static void print_indented(FILE *f, const char *text, int indent)
{
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        fprintf(f, "%*s%.*s\n", indent, "", (int)n, p);
        p += n + (p[n] == '\n');
    }
}

void cli_print_leaf_help(const cli_cmd *cmd, FILE *f)
{
    char *usage = cli_usage(cmd);
    fprintf(f, "Usage: scripthut %s\n\n  %s\n\nFlags:\n", usage, cmd->summary);
    free(usage);
    cli_flag_id ids[CLI_MAX_FLAGS + F_COUNT];
    const char *helps[CLI_MAX_FLAGS + F_COUNT];
    size_t n = cli_command_flags(cmd, ids, helps, false);
    for (size_t i = 0; i < n; i++)
        print_flag(f, ids[i], helps[i]);
    if (cmd->notes)
        print_indented(f, cmd->notes, 2);
    if (cmd->examples) {
        fputs("\nExamples:\n", f);
        print_indented(f, cmd->examples, 2);
    }
}

static void print_command_list(FILE *f, const char *noun)
{
    for (size_t i = 0; i < CLI_NCOMMANDS; i++) {
        const cli_cmd *cmd = &CLI_COMMANDS[i];
        if (cmd->hidden || (noun && strcmp(cmd->noun, noun) != 0))
            continue;
        char name[64];
        fprintf(f, "  %-18s %s\n", cli_cmd_name(cmd, name, sizeof name), cmd->summary);
    }
}

void cli_print_main_help(FILE *f)
{
    fputs("scripthut - run task workflows on this machine or a cluster, and follow them.\n\n"
          "Usage: scripthut [--config PATH] [--json] [--server URL] <command> [flags]\n"
          "       scripthut <command> --help\n\n"
          "Commands:\n",
          f);
    print_command_list(f, NULL);
    fputs("\nGlobal flags (also accepted after the command):\n", f);
    print_section(f, CS_COMMON);
    print_section(f, CS_GLOBAL);
    fputs("\nServer credentials (flag, else environment variable, else settings.cli_auth;\n"
          "flags are visible to other users in `ps`: prefer the variables):\n",
          f);
    print_section(f, CS_CREDENTIAL);
    fputs("\nExamples:\n"
          "  scripthut workflow run sweep --watch     submit a workflow and follow it\n"
          "  scripthut run logs 1a2b sim.7 --error    a task's stderr (any unique id prefix)\n"
          "  scripthut run rerun 1a2b --failed-only   run again what did not complete\n"
          "\nHelp topics (scripthut help TOPIC):\n",
          f);
    for (size_t i = 0; i < CLI_NTOPICS; i++)
        fprintf(f, "  %-18s %s\n", CLI_TOPICS[i].name, CLI_TOPICS[i].summary);
    fputs("\nExit codes: 0 ok, 1 error, 2 usage error, 130 interrupted.\n"
          "Everything else: man scripthut\n",
          f);
}

void cli_print_noun_help(const char *noun, FILE *f)
{
    fprintf(f, "Usage: scripthut %s <command> [flags]\n\nCommands:\n", noun);
    print_command_list(f, noun);
    fprintf(f, "\nRun 'scripthut %s <command> --help' for a command's flags and examples.\n", noun);
}

/* --- scripthut help [TOPIC | COMMAND [VERB]] --------------------------------- */

static int unknown_topic(const char *typed)
{
    const char *names[64];
    size_t n = 0;
    for (size_t i = 0; i < CLI_NTOPICS && n < 32; i++)
        names[n++] = CLI_TOPICS[i].name;
    const char *noun = cli_suggest_noun(typed);
    const char *near = suggest_closest(typed, names, n);
    if (!near)
        near = noun;
    sbuf list = SBUF_INIT;
    for (size_t i = 0; i < CLI_NTOPICS; i++)
        sbuf_printf(&list, "%s%s", i ? ", " : "", CLI_TOPICS[i].name);
    if (near)
        cli_error("no help topic or command '%s'; did you mean '%s'? (topics: %s)", typed, near,
                  sbuf_cstr(&list));
    else
        cli_error("no help topic or command '%s' (topics: %s; or a command, see: scripthut "
                  "--help)",
                  typed, sbuf_cstr(&list));
    sbuf_free(&list);
    return EXIT_USAGE;
}

int cmd_help(cli_ctx *c, int argc, char **argv)
{
    int rc = cli_parse(c, argc, argv, NULL, NULL);
    if (rc != CLI_CONTINUE)
        return rc;
    const char *what = optind < argc ? argv[optind] : NULL;
    const char *verb = optind + 1 < argc ? argv[optind + 1] : NULL;
    if (!what) {
        cli_print_main_help(stdout);
        return EXIT_OK;
    }
    const cli_topic *topic = cli_find_topic(what);
    if (topic && !verb) {
        fputs(topic->text, stdout);
        return EXIT_OK;
    }
    if (!cli_noun_exists(what) || !strcmp(what, "help"))
        return unknown_topic(what);
    const cli_cmd *cmd = cli_find_command(what, verb);
    if (cmd && (!cmd->verb || verb) && !cmd->hidden) {
        cli_print_leaf_help(cmd, stdout);
        return EXIT_OK;
    }
    if (verb) {
        const char *near = cli_suggest_verb(what, verb);
        if (near)
            cli_error("unknown command '%s %s'; did you mean '%s %s'? (see: scripthut %s --help)",
                      what, verb, what, near, what);
        else
            cli_error("unknown command '%s %s' (see: scripthut %s --help)", what, verb, what);
        return EXIT_USAGE;
    }
    cli_print_noun_help(what, stdout);
    return EXIT_OK;
}

/* --- shared by the generators ---------------------------------------------- */

static const char *const KIND_NAMES[] = {
    [CK_TEXT] = "text",       [CK_FILE] = "file",         [CK_DIR] = "dir",
    [CK_COMMAND] = "command", [CK_WORKFLOW] = "workflow", [CK_RUN] = "run",
    [CK_TASK] = "task",       [CK_STACK] = "stack",       [CK_BACKEND] = "backend",
    [CK_SHELL] = "shell",     [CK_TOPIC] = "topic",
};

const char *cli_kind_name(cli_kind k)
{
    return KIND_NAMES[k];
}

static const char *needs_text(cli_needs n)
{
    switch (n) {
    case CLI_NEEDS_NOTHING: return "nothing";
    case CLI_NEEDS_SETTINGS: return "settings";
    default: return "config";
    }
}

/* The flags a command accepts and documents, in order: its own, then the
 * common ones (unless it takes only its own), then --help.  Returns the
 * count; ids and helps get up to CLI_MAX_FLAGS + F_COUNT entries. */
size_t cli_command_flags(const cli_cmd *cmd, cli_flag_id *ids, const char **helps,
                         bool with_credentials)
{
    size_t n = 0;
    for (const cli_use *u = cmd->flags; u->id != F_END; u++) {
        ids[n] = u->id;
        helps[n++] = cli_use_help(u);
    }
    for (int id = F_END + 1; id < F_COUNT; id++) {
        cli_section s = CLI_FLAGS[id].section;
        bool listed = false;
        for (size_t i = 0; i < n; i++)
            listed |= ids[i] == (cli_flag_id)id;
        if (listed || !cli_flag_applies(cmd, (cli_flag_id)id) ||
            !(s == CS_COMMON || (with_credentials && s == CS_CREDENTIAL)))
            continue;
        ids[n] = (cli_flag_id)id;
        helps[n++] = CLI_FLAGS[id].help;
    }
    return n;
}

/* --- JSON: the table for tests and tools ------------------------------------ */

static json_t *flag_json(cli_flag_id id, const char *help)
{
    const cli_flag *f = &CLI_FLAGS[id];
    char s[2] = {f->short_name, '\0'};
    static const char *const sections[] = {[CS_COMMAND] = "command",
                                           [CS_COMMON] = "common",
                                           [CS_CREDENTIAL] = "credential",
                                           [CS_GLOBAL] = "global"};
    return json_pack("{s:s?,s:s?,s:s?,s:s,s:s,s:s?,s:s}", "name", f->name, "short",
                     f->short_name ? s : NULL, "value", f->value, "help", help, "complete",
                     cli_kind_name(f->complete), "env", f->env, "section", sections[f->section]);
}

static void gen_json(FILE *out)
{
    json_t *cmds = json_array();
    for (size_t i = 0; i < CLI_NCOMMANDS; i++) {
        const cli_cmd *cmd = &CLI_COMMANDS[i];
        cli_flag_id ids[CLI_MAX_FLAGS + F_COUNT];
        const char *helps[CLI_MAX_FLAGS + F_COUNT];
        size_t n = cli_command_flags(cmd, ids, helps, true);
        json_t *flags = json_array(), *args = json_array();
        for (size_t k = 0; k < n; k++)
            json_array_append_new(flags, flag_json(ids[k], helps[k]));
        for (size_t k = 0; k < CLI_MAX_ARGS && cmd->args[k].name; k++)
            json_array_append_new(args, json_pack("{s:s,s:s,s:b}", "name", cmd->args[k].name,
                                                  "complete", cli_kind_name(cmd->args[k].complete),
                                                  "optional", cmd->args[k].optional));
        char name[64];
        char *usage = cli_usage(cmd);
        json_array_append_new(cmds, json_pack("{s:s,s:s,s:s?,s:s,s:s,s:s,s:o,s:o,s:b}", "command",
                                              cli_cmd_name(cmd, name, sizeof name), "noun",
                                              cmd->noun, "verb", cmd->verb, "summary", cmd->summary,
                                              "usage", usage, "needs", needs_text(cmd->needs),
                                              "args", args, "flags", flags, "hidden", cmd->hidden));
        free(usage);
    }
    json_t *global = json_array();
    for (int id = F_END + 1; id < F_COUNT; id++)
        if (CLI_FLAGS[id].section != CS_COMMAND)
            json_array_append_new(global, flag_json((cli_flag_id)id, CLI_FLAGS[id].help));
    json_t *doc = json_pack("{s:o,s:o}", "commands", cmds, "global_flags", global);
    json_dumpf(doc, out, JSON_INDENT(2));
    fputc('\n', out);
    json_decref(doc);
}

/* --- docs/cli.md: the generated reference section ---------------------------- */

/* Markdown code span text: backquotes cannot occur in the table's strings
 * (cli_table.bats checks), so only the pipe of table cells needs escaping. */
static void md_cell(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputc('\\', out);
        fputc(*s, out);
    }
}

static void md_flag(FILE *out, cli_flag_id id, const char *help)
{
    sbuf b = SBUF_INIT;
    flag_label(&CLI_FLAGS[id], &b);
    const char *label = sbuf_cstr(&b);
    while (*label == ' ')
        label++;
    fputs("| `", out);
    md_cell(out, label);
    fputs("` | ", out);
    md_cell(out, help);
    if (CLI_FLAGS[id].env)
        fprintf(out, " (`%s`)", CLI_FLAGS[id].env);
    fputs(" |\n", out);
    sbuf_free(&b);
}

static const char *needs_words(cli_needs n)
{
    switch (n) {
    case CLI_NEEDS_NOTHING: return "nothing";
    case CLI_NEEDS_SETTINGS: return "the settings";
    default: return "the whole config";
    }
}

static void gen_docs(FILE *out)
{
    fputs(CLI_DOCS_BEGIN "\n\n", out);
    fputs("Every command, what it needs before it runs (nothing; the settings: data dir, server,\n"
          "auth, which still load when the project file does not, see [Broken\n"
          "config](#broken-config); or the whole config), and its own flags. All of them also\n"
          "take the common flags and the server credentials below, except `lua`, which takes\n"
          "only those listed.\n\n"
          "| Command | Needs | Summary |\n|---|---|---|\n",
          out);
    for (size_t i = 0; i < CLI_NCOMMANDS; i++) {
        const cli_cmd *cmd = &CLI_COMMANDS[i];
        if (cmd->hidden)
            continue;
        char name[64];
        fprintf(out, "| `%s` | %s | ", cli_cmd_name(cmd, name, sizeof name),
                needs_words(cmd->needs));
        md_cell(out, cmd->summary);
        fputs(" |\n", out);
    }
    for (size_t i = 0; i < CLI_NCOMMANDS; i++) {
        const cli_cmd *cmd = &CLI_COMMANDS[i];
        if (cmd->hidden)
            continue;
        char name[64];
        char *usage = cli_usage(cmd);
        fprintf(out, "\n### %s\n\n    scripthut %s\n\n", cli_cmd_name(cmd, name, sizeof name),
                usage);
        free(usage);
        if (cmd->flags[0].id == F_END) {
            fputs("No flags of its own.\n", out);
            continue;
        }
        fputs("| Flag | Meaning |\n|---|---|\n", out);
        for (const cli_use *u = cmd->flags; u->id != F_END; u++)
            md_flag(out, u->id, cli_use_help(u));
    }
    fputs("\n### Common flags\n\n| Flag | Meaning |\n|---|---|\n", out);
    for (int id = F_END + 1; id < F_COUNT; id++)
        if (CLI_FLAGS[id].section != CS_COMMAND)
            md_flag(out, (cli_flag_id)id, CLI_FLAGS[id].help);
    fputs("\n" CLI_DOCS_END "\n", out);
}

/* --- the man page ------------------------------------------------------------ */

/* roff text: backslashes and hyphens escaped, no line starting with a dot. */
static void roff(FILE *out, const char *s)
{
    if (*s == '.' || *s == '\'')
        fputs("\\&", out);
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\e", out);
        else if (*s == '-')
            fputs("\\-", out);
        else
            fputc(*s, out);
    }
}

/* Lines of text in a no-fill block, each escaped; an empty line stays one. */
static void roff_lines(FILE *out, const char *text)
{
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        char *line = xstrndup(p, n);
        roff(out, line);
        fputc('\n', out);
        free(line);
        p += n + (p[n] == '\n');
    }
}

static void man_flag(FILE *out, cli_flag_id id, const char *help)
{
    const cli_flag *f = &CLI_FLAGS[id];
    fputs(".TP\n", out);
    if (f->short_name) {
        fprintf(out, "\\fB\\-%c\\fR", f->short_name);
        if (f->name)
            fputs(", ", out);
    }
    if (f->name) {
        fputs("\\fB", out);
        roff(out, "--");
        roff(out, f->name);
        fputs("\\fR", out);
    }
    if (f->value) {
        fputs(" \\fI", out);
        roff(out, f->value);
        fputs("\\fR", out);
    }
    fputc('\n', out);
    roff(out, help);
    if (f->env) {
        fputs(" (", out);
        roff(out, f->env);
        fputc(')', out);
    }
    fputc('\n', out);
}

static void man_section(FILE *out, cli_section s)
{
    for (int id = F_END + 1; id < F_COUNT; id++)
        if (CLI_FLAGS[id].section == s)
            man_flag(out, (cli_flag_id)id, CLI_FLAGS[id].help);
}

static void gen_man(FILE *out)
{
    fprintf(out,
            ".\\\" scripthut.1: generated by `scripthut __gen man` from the command table\n"
            ".\\\" (src/cli/cli_table.c); edit the table, not this file.\n"
            ".TH SCRIPTHUT 1 \"\" \"scripthut %s\" \"User Commands\"\n"
            ".SH NAME\n"
            "scripthut \\- run task workflows on this machine or a cluster, and follow them\n"
            ".SH SYNOPSIS\n"
            ".B scripthut\n"
            "[\\fIglobal flags\\fR] \\fInoun\\fR [\\fIverb\\fR] [\\fIflags\\fR] "
            "[\\fIarguments\\fR]\n"
            ".br\n"
            ".B scripthut\n"
            "\\fInoun\\fR [\\fIverb\\fR] \\fB\\-\\-help\\fR\n"
            ".SH DESCRIPTION\n"
            "scripthut runs workflows of tasks, defined in Lua (\\fIscripthut.lua\\fR), on "
            "this machine or on a Slurm or PBS cluster over SSH, and follows them: from the "
            "command line, a REST API and a dashboard.\n"
            "Flags may come before or after the arguments; after \\fB\\-\\-\\fR nothing is "
            "read as a flag.\n"
            ".SH COMMANDS\n",
            SCRIPTHUT_VERSION);
    for (size_t i = 0; i < CLI_NCOMMANDS; i++) {
        const cli_cmd *cmd = &CLI_COMMANDS[i];
        if (cmd->hidden)
            continue;
        char *usage = cli_usage(cmd);
        fputs(".SS \"scripthut ", out);
        roff(out, usage);
        fputs("\"\n", out);
        free(usage);
        roff(out, cmd->summary);
        fprintf(out, ".\nNeeds %s.\n", needs_words(cmd->needs));
        for (const cli_use *u = cmd->flags; u->id != F_END; u++)
            man_flag(out, u->id, cli_use_help(u));
        if (cmd->examples) {
            fputs(".PP\nExamples:\n.RS\n.nf\n", out);
            roff_lines(out, cmd->examples);
            fputs(".fi\n.RE\n", out);
        }
    }
    fputs(".SH HELP TOPICS\n"
          "Each is also printed by \\fBscripthut help\\fR \\fItopic\\fR.\n",
          out);
    for (size_t i = 0; i < CLI_NTOPICS; i++) {
        fputs(".SS ", out);
        roff(out, CLI_TOPICS[i].name);
        fputs("\n", out);
        roff(out, CLI_TOPICS[i].summary);
        fputs(".\n.PP\n.RS\n.nf\n", out);
        roff_lines(out, CLI_TOPICS[i].text);
        fputs(".fi\n.RE\n", out);
    }
    fputs(".SH GLOBAL FLAGS\n"
          "Accepted before the command and, except \\fB\\-\\-version\\fR, after it.\n",
          out);
    man_section(out, CS_COMMON);
    man_section(out, CS_GLOBAL);
    fputs(".SH SERVER CREDENTIALS\n"
          "Each from its flag, else its environment variable, else \\fBsettings.cli_auth\\fR "
          "of the config. Flags are visible to other users in \\fBps\\fR: prefer the "
          "variables.\n",
          out);
    man_section(out, CS_CREDENTIAL);
    fputs(".SH ENVIRONMENT\n", out);
    for (int id = F_END + 1; id < F_COUNT; id++) {
        if (!CLI_FLAGS[id].env)
            continue;
        fputs(".TP\n.B ", out);
        roff(out, CLI_FLAGS[id].env);
        fputs("\nas \\fB", out);
        roff(out, "--");
        roff(out, CLI_FLAGS[id].name);
        fputs("\\fR\n", out);
    }
    fputs(".TP\n.B XDG_CONFIG_HOME\n"
          "the user config is \\fI$XDG_CONFIG_HOME/scripthut/config.lua\\fR "
          "(default \\fI~/.config\\fR)\n"
          ".TP\n.B XDG_DATA_HOME\n"
          "the default data dir is \\fI$XDG_DATA_HOME/scripthut\\fR "
          "(default \\fI~/.local/share\\fR)\n"
          ".SH FILES\n"
          ".TP\n.I scripthut.lua\n"
          "the project config, found by walking up from the current directory\n"
          ".TP\n.I ~/.config/scripthut/config.lua\n"
          "the user config: settings and backends\n"
          ".SH EXIT STATUS\n"
          "0 success; 1 an error (the message is one line on standard error); 2 a usage "
          "error; 130 interrupted (128+N for signal N).\n"
          ".SH SEE ALSO\n"
          "The documents under \\fIdocs/\\fR of the source: cli.md, configuration.md, "
          "lua\\-api.md, api.md, stacks.md.\n",
          out);
}

int cli_generate(const char *what, FILE *out)
{
    if (!strcmp(what, "json"))
        gen_json(out);
    else if (!strcmp(what, "docs"))
        gen_docs(out);
    else if (!strcmp(what, "man"))
        gen_man(out);
    else if (!strcmp(what, "bash"))
        cli_gen_bash(out);
    else if (!strcmp(what, "zsh"))
        cli_gen_zsh(out);
    else if (!strcmp(what, "fish"))
        cli_gen_fish(out);
    else
        return -1;
    return 0;
}
