#include "util/exec_result.h"

#include <stdlib.h>

void exec_result_free(exec_result *r)
{
    if (!r)
        return;
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
    r->out_len = r->err_len = 0;
}
