/* dag.h - dependency expansion and validation for a task list.
 *
 * Wildcards (a dep containing *, ? or [) match other task ids with shell-glob
 * semantics (fnmatch(3) without FNM_PATHNAME/FNM_PERIOD: * crosses '.' and '/'),
 * case-sensitively, in task order, never the task itself.  Validation rejects
 * duplicate ids, unknown deps, self-deps and cycles (iterative DFS, no
 * recursion limit), each with a message naming the task and the dep. */
#ifndef SCRIPTHUT_MODEL_DAG_H
#define SCRIPTHUT_MODEL_DAG_H
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "util/err.h"

/* Expands wildcard deps and validates the list tasks[0..n).
 *
 * Tasks [0, n_existing) are already part of a run (validated earlier) and are
 * not re-expanded; tasks [n_existing, n) are new (a whole new run when
 * n_existing == 0, or a generates_source batch).  New tasks' patterns match
 * against all ids, existing and new.  Duplicate ids among all tasks, unknown
 * deps, self-deps and cycles are errors; on error nothing is modified.
 * On success the new tasks' deps hold literal ids only. */
int dag_expand_and_validate(task_def *tasks, size_t n, size_t n_existing, sh_err *e);

/* Dependency indices in compressed form: deps of task i are
 * idx[off[i] .. off[i+1]).  Built from validated tasks. */
typedef struct dag_index {
    size_t n;
    uint32_t *off; /* n + 1 entries */
    uint32_t *idx;
} dag_index;

int dag_index_build(const task_def *tasks, size_t n, dag_index *out, sh_err *e);
void dag_index_free(dag_index *d);

#endif
