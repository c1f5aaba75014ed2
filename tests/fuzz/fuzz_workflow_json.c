/* fuzz_workflow_json.c - a workflow document from arbitrary bytes: JSON
 * parsing, task validation, wildcard expansion and the cycle check must
 * reject or accept, never crash, leak or loop. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "model/dag.h"
#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!doc)
        return 0;
    task_def *tasks = NULL;
    size_t n = 0;
    json_t *env = NULL, *groups = NULL;
    sh_err e = SH_ERR_INIT;
    if (workflow_doc_parse(doc, "fuzz", &tasks, &n, &env, &groups, &e) == 0) {
        if (dag_expand_and_validate(tasks, n, 0, &e) == 0) {
            dag_index idx;
            if (dag_index_build(tasks, n, &idx, &e) == 0)
                dag_index_free(&idx);
            for (size_t i = 0; i < n; i++)
                json_decref(task_def_to_json(&tasks[i]));
        }
        task_def_free_array(tasks, n);
        json_decref(env);
        json_decref(groups);
    }
    json_decref(doc);
    return 0;
}
