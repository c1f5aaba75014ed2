/* dag.c - wildcard expansion and validation of a task list (see dag.h).
 *
 * Work happens in three passes over the new tasks, all on the side so that a
 * failure leaves the caller's tasks untouched:
 *   1. ids: a hash map from id to index (duplicates rejected);
 *   2. expansion: each new task's deps become a list of task indices, kept in
 *      one compressed array (literal deps in place, a pattern replaced in
 *      place by its matches in task order);
 *   3. validation: unknown/self deps (first in task and dep order, as the
 *      original reports them after expanding everything), then cycles.
 * Only then are the new dep lists written back as strings.
 *
 * The same dep listed twice (["a", "a"], or "a" plus a pattern matching "a")
 * is kept once, at its first position.  The original kept duplicates; they
 * mean nothing to scheduling and would only store the edge twice.
 *
 * Task numbers in messages ("tasks 1 and 3") count from 1, in list order. */
#include "model/dag.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "util/sbuf.h"
#include "util/strmap.h"

static bool is_pattern(const char *dep)
{
    return strpbrk(dep, "*?[") != NULL;
}

static int build_id_map(const task_def *tasks, size_t n, strmap *ids, sh_err *e)
{
    if (n >= UINT32_MAX)
        return sh_err_set(e, SH_EINVAL, "Too many tasks (%zu)", n);
    strmap_init(ids, n);
    for (size_t i = 0; i < n; i++) {
        if (strmap_put(ids, tasks[i].id, i))
            continue;
        size_t first = 0;
        strmap_get(ids, tasks[i].id, &first);
        strmap_free(ids);
        return sh_err_set(e, SH_EINVAL, "Duplicate task id '%s' (tasks %zu and %zu)", tasks[i].id,
                          first + 1, i + 1);
    }
    return 0;
}

/* ---- pattern matching -------------------------------------------------- */

/* Ids sorted bytewise, so the ids sharing a pattern's literal prefix form
 * one range found by binary search: 1,000 patterns over 100,000 ids stay in
 * the milliseconds instead of 10^8 fnmatch calls. */
typedef struct sorted_id {
    const char *id;
    uint32_t index;
} sorted_id;

typedef struct matcher {
    const task_def *tasks;
    size_t n;
    sorted_id *sorted; /* built on the first pattern with a prefix */
} matcher;

static int sorted_id_cmp(const void *a, const void *b)
{
    return strcmp(((const sorted_id *)a)->id, ((const sorted_id *)b)->id);
}

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void matcher_sort(matcher *m)
{
    if (m->sorted)
        return;
    m->sorted = xmalloc(m->n * sizeof *m->sorted);
    for (size_t i = 0; i < m->n; i++)
        m->sorted[i] = (sorted_id){m->tasks[i].id, (uint32_t)i};
    qsort(m->sorted, m->n, sizeof *m->sorted, sorted_id_cmp);
}

/* First position in the sorted ids whose id is >= prefix. */
static size_t lower_bound(const matcher *m, const char *prefix, size_t len)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strncmp(m->sorted[mid].id, prefix, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Appends to *out (growing it) the indices of ids matching pattern, except
 * `self`, in task order.  The literal prefix stops at the first character
 * fnmatch treats specially (including '\', its escape). */
static void match_pattern(matcher *m, const char *pattern, uint32_t self, uint32_t **out,
                          size_t *count, size_t *cap)
{
    size_t start = *count;
    size_t plen = strcspn(pattern, "*?[\\");
    if (plen == 0) {
        for (size_t i = 0; i < m->n; i++) {
            if (i == self || fnmatch(pattern, m->tasks[i].id, 0) != 0)
                continue;
            if (*count == *cap)
                *out = xrealloc(*out, (*cap = *cap ? *cap * 2 : 16) * sizeof **out);
            (*out)[(*count)++] = (uint32_t)i;
        }
        return;
    }
    matcher_sort(m);
    for (size_t k = lower_bound(m, pattern, plen);
         k < m->n && strncmp(m->sorted[k].id, pattern, plen) == 0; k++) {
        const sorted_id *s = &m->sorted[k];
        if (s->index == self || fnmatch(pattern, s->id, 0) != 0)
            continue;
        if (*count == *cap)
            *out = xrealloc(*out, (*cap = *cap ? *cap * 2 : 16) * sizeof **out);
        (*out)[(*count)++] = s->index;
    }
    if (*count - start > 1)
        qsort(*out + start, *count - start, sizeof **out, u32_cmp);
}

/* ---- expansion ---------------------------------------------------------- */

/* Deps of new task n_existing + j are idx[off[j] .. off[j+1]). */
typedef struct expansion {
    size_t n_new;
    size_t *off;
    uint32_t *idx;
    size_t count, cap;
} expansion;

static void expansion_free(expansion *x)
{
    free(x->off);
    free(x->idx);
    memset(x, 0, sizeof *x);
}

static void expansion_push(expansion *x, uint32_t v)
{
    if (x->count == x->cap)
        x->idx = xrealloc(x->idx, (x->cap = x->cap ? x->cap * 2 : 64) * sizeof *x->idx);
    x->idx[x->count++] = v;
}

/* The first unknown or self dep found while expanding, reported only if the
 * expansion itself succeeds (the original's order of errors). */
typedef struct literal_problem {
    bool found;
    size_t task;
    const char *dep;
    bool is_self;
} literal_problem;

/* Drops entries [from, count) already seen for this task; `seen[i]` holds
 * the stamp of the last task that listed i. */
static void keep_first_occurrences(expansion *x, size_t from, uint32_t *seen, uint32_t stamp)
{
    size_t w = from;
    for (size_t r = from; r < x->count; r++) {
        uint32_t d = x->idx[r];
        if (seen[d] == stamp)
            continue;
        seen[d] = stamp;
        x->idx[w++] = d;
    }
    x->count = w;
}

static int expand_task(const task_def *tasks, size_t i, const strmap *ids, matcher *m, expansion *x,
                       uint32_t *seen, literal_problem *problem, sh_err *e)
{
    const task_def *t = &tasks[i];
    size_t from = x->count;
    for (size_t k = 0; k < t->ndeps; k++) {
        const char *dep = t->deps[k];
        if (is_pattern(dep)) {
            size_t before = x->count;
            match_pattern(m, dep, (uint32_t)i, &x->idx, &x->count, &x->cap);
            if (x->count == before)
                return sh_err_set(e, SH_EINVAL, "Task '%s': wildcard dep '%s' matches no tasks",
                                  t->id, dep);
            continue;
        }
        size_t d;
        bool known = strmap_get(ids, dep, &d);
        if ((!known || d == i) && !problem->found)
            *problem = (literal_problem){true, i, dep, known};
        if (known && d != i)
            expansion_push(x, (uint32_t)d);
    }
    keep_first_occurrences(x, from, seen, (uint32_t)i + 1);
    return 0;
}

static int expand_all(const task_def *tasks, size_t n, size_t n_existing, const strmap *ids,
                      expansion *x, sh_err *e)
{
    matcher m = {tasks, n, NULL};
    uint32_t *seen = xcalloc(n, sizeof *seen);
    literal_problem problem = {0};
    x->n_new = n - n_existing;
    x->off = xmalloc((x->n_new + 1) * sizeof *x->off);
    int rc = 0;
    for (size_t j = 0; j < x->n_new && rc == 0; j++) {
        x->off[j] = x->count;
        rc = expand_task(tasks, n_existing + j, ids, &m, x, seen, &problem, e);
    }
    x->off[x->n_new] = x->count;
    free(seen);
    free(m.sorted);
    if (rc == 0 && problem.found) {
        const char *id = tasks[problem.task].id;
        if (problem.is_self)
            rc = sh_err_set(e, SH_EINVAL, "Task '%s' depends on itself", id);
        else
            rc = sh_err_set(e, SH_EINVAL, "Task '%s' depends on '%s', which does not exist", id,
                            problem.dep);
    }
    return rc;
}

/* ---- cycles ------------------------------------------------------------- */

enum {
    WHITE = 0,
    GREY,
    BLACK
};

typedef struct dfs_frame {
    uint32_t node;
    size_t next; /* position in the node's dep list */
} dfs_frame;

/* "Circular dependency detected: a -> b -> a", the path running from the
 * first occurrence of the repeated node.  Very long cycles are elided in the
 * middle so the message stays readable and fits an sh_err. */
static int report_cycle(const task_def *tasks, const dfs_frame *stack, size_t depth,
                        uint32_t repeated, sh_err *e)
{
    size_t first = depth;
    while (first > 0 && stack[first - 1].node != repeated)
        first--;
    first--; /* the repeated node is on the stack: it is grey */
    size_t len = depth - first, head = len, tail = 0;
    if (len > 12) {
        head = 6;
        tail = 5;
    }
    sbuf msg = SBUF_INIT;
    sbuf_puts(&msg, "Circular dependency detected: ");
    for (size_t k = 0; k < head; k++)
        sbuf_printf(&msg, "%s -> ", tasks[stack[first + k].node].id);
    if (tail)
        sbuf_printf(&msg, "... (%zu more) ... -> ", len - head - tail);
    for (size_t k = depth - tail; k < depth; k++)
        sbuf_printf(&msg, "%s -> ", tasks[stack[k].node].id);
    sbuf_puts(&msg, tasks[repeated].id);
    sh_err_set(e, SH_EINVAL, "%s", sbuf_cstr(&msg));
    sbuf_free(&msg);
    return -1;
}

/* Iterative depth-first search from each unvisited new task in task order,
 * following deps in listed order.  Existing tasks start black: they were
 * validated before the new ones existed, so they only reach each other and
 * cannot be on a cycle. */
static int check_cycles(const task_def *tasks, size_t n, size_t n_existing, const expansion *x,
                        sh_err *e)
{
    unsigned char *color = xcalloc(n, 1);
    memset(color, BLACK, n_existing);
    dfs_frame *stack = xmalloc((x->n_new + 1) * sizeof *stack);
    int rc = 0;
    for (size_t root = n_existing; root < n && rc == 0; root++) {
        if (color[root] != WHITE)
            continue;
        size_t depth = 0;
        stack[depth++] = (dfs_frame){(uint32_t)root, 0};
        color[root] = GREY;
        while (depth > 0 && rc == 0) {
            dfs_frame *f = &stack[depth - 1];
            size_t j = f->node - n_existing;
            if (x->off[j] + f->next == x->off[j + 1]) {
                color[f->node] = BLACK;
                depth--;
                continue;
            }
            uint32_t d = x->idx[x->off[j] + f->next++];
            if (color[d] == GREY)
                rc = report_cycle(tasks, stack, depth, d, e);
            else if (color[d] == WHITE) {
                color[d] = GREY;
                stack[depth++] = (dfs_frame){d, 0};
            }
        }
    }
    free(stack);
    free(color);
    return rc;
}

/* ---- public ------------------------------------------------------------- */

/* Replaces each new task's deps with the expanded ids. Cannot fail. */
static void install_deps(task_def *tasks, size_t n_existing, const expansion *x)
{
    for (size_t j = 0; j < x->n_new; j++) {
        task_def *t = &tasks[n_existing + j];
        size_t nd = x->off[j + 1] - x->off[j];
        char **deps = nd ? xmalloc(nd * sizeof *deps) : NULL;
        for (size_t k = 0; k < nd; k++)
            deps[k] = xstrdup(tasks[x->idx[x->off[j] + k]].id);
        for (size_t k = 0; k < t->ndeps; k++)
            free(t->deps[k]);
        free(t->deps);
        t->deps = deps;
        t->ndeps = nd;
    }
}

int dag_expand_and_validate(task_def *tasks, size_t n, size_t n_existing, sh_err *e)
{
    if (n_existing > n)
        return sh_err_set(e, SH_EINTERNAL, "dag: %zu existing tasks of %zu", n_existing, n);
    strmap ids;
    if (build_id_map(tasks, n, &ids, e) < 0)
        return -1;
    expansion x = {0};
    int rc = expand_all(tasks, n, n_existing, &ids, &x, e);
    strmap_free(&ids);
    if (rc == 0)
        rc = check_cycles(tasks, n, n_existing, &x, e);
    if (rc == 0)
        install_deps(tasks, n_existing, &x);
    expansion_free(&x);
    return rc;
}

int dag_index_build(const task_def *tasks, size_t n, dag_index *out, sh_err *e)
{
    strmap ids;
    if (build_id_map(tasks, n, &ids, e) < 0)
        return -1;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += tasks[i].ndeps;
    if (total >= UINT32_MAX) {
        strmap_free(&ids);
        return sh_err_set(e, SH_EINVAL, "Too many dependencies (%zu)", total);
    }
    uint32_t *off = xmalloc((n + 1) * sizeof *off);
    uint32_t *idx = xmalloc((total ? total : 1) * sizeof *idx);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        off[i] = (uint32_t)w;
        for (size_t k = 0; k < tasks[i].ndeps; k++) {
            size_t d;
            if (!strmap_get(&ids, tasks[i].deps[k], &d)) {
                sh_err_set(e, SH_EINVAL, "Task '%s' depends on '%s', which does not exist",
                           tasks[i].id, tasks[i].deps[k]);
                strmap_free(&ids);
                free(off);
                free(idx);
                return -1;
            }
            idx[w++] = (uint32_t)d;
        }
    }
    off[n] = (uint32_t)w;
    strmap_free(&ids);
    *out = (dag_index){n, off, idx};
    return 0;
}

void dag_index_free(dag_index *d)
{
    if (!d)
        return;
    free(d->off);
    free(d->idx);
    memset(d, 0, sizeof *d);
}
