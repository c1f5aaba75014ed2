/* output.h - how the CLI prints: JSON in the API's shapes, and the human
 * formats of spec/original-cli-api.md §5 (tables with fixed column widths,
 * the run view, the "run submitted" block).
 *
 * Human output is built line by line in an sbuf so the live watch view can cut
 * each line to the terminal width.  Cell text is sanitised (control bytes
 * become '?') because task ids and errors come from user data and must not
 * move the cursor or break a table. */
#ifndef SCRIPTHUT_CLI_OUTPUT_H
#define SCRIPTHUT_CLI_OUTPUT_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "util/sbuf.h"

/* Colour: on only when stdout is a terminal, NO_COLOR is unset or empty,
 * TERM is not "dumb" and --no-color was not given (out_color_disable). */
void out_color_disable(void);
bool out_color(void);
/* The SGR parameters of a run or task status ("31" red for failed), or NULL. */
const char *out_status_sgr(const char *status);
/* Appends s as out_cell does, in the SGR colour sgr when colour is on (NULL:
 * plain); padding stays outside the colour. */
void out_cell_sgr(sbuf *b, const char *s, int width, bool truncate, const char *sgr);
/* out_cell_sgr with the colour of the status s. */
void out_status_cell(sbuf *b, const char *s, int width);

/* Prints v on stdout: 2-space indented, or compact on one line (JSON Lines). */
void out_json(json_t *v, bool compact);

/* Borrowed string member, or NULL when absent / not a string. */
const char *out_str(json_t *obj, const char *key);
/* Integer member, or dflt. */
long long out_int(json_t *obj, const char *key, long long dflt);

/* Appends s sanitised, cut to `width` code points when truncate is set, and
 * padded with spaces to `width` (width 0: no padding). NULL -> "-". */
void out_cell(sbuf *b, const char *s, int width, bool truncate);

/* Appends "k=v, k=v" with keys sorted (status_counts). */
void out_status_counts(sbuf *b, json_t *counts);

/* Writes line cut to `cols` code points (0: no limit) and a newline. */
void out_line(FILE *f, const char *line, int cols);

/* Run list table (§5.2), or "No runs found.". */
void out_run_table(json_t *runs);

/* The run view (§5.3) with our extra columns. */
void out_run_view(json_t *detail);

/* The task table header and one row (no newline; 2-space indent).  The
 * ERROR column is labelled only when some item has an error. */
bool out_items_have_error(json_t *items);
void out_task_header(sbuf *b, bool with_error);
void out_task_row(sbuf *b, json_t *item);

/* The "run submitted" block (§5.17) with the commands to follow the run. */
void out_submitted(json_t *summary, const char *task_hint);

/* "Run 1a2b3c4d completed: 10/10 tasks (completed=10)". */
void out_run_outcome(sbuf *b, json_t *run);

#endif
