/* main.c - one binary, four faces: serve, the CLI, `lua`, and the hidden
 * job wrapper the local backend spawns around each task. */
#include <string.h>

#include "backend/backend.h"
#include "cli/cli.h"

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "__job-wrapper") == 0)
        return local_job_wrapper_main(argc - 1, argv + 1);
    return cli_main(argc, argv);
}
