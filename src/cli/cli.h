/* cli.h - the command-line interface: `scripthut <noun> <verb> [flags]`.
 *
 * Exit codes: 0 ok, 1 error, 2 usage, 130 interrupted.  Errors are one
 * `Error: ...` line on stderr; stdout carries only command output. */
#ifndef SCRIPTHUT_CLI_CLI_H
#define SCRIPTHUT_CLI_CLI_H

enum {
    EXIT_OK = 0,
    EXIT_ERROR = 1,
    EXIT_USAGE = 2,
    EXIT_INTERRUPTED = 130
};

int cli_main(int argc, char **argv);

#endif
