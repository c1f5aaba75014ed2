/* cli_topics.c - the help topics: `scripthut help TOPIC`, declared once.
 *
 * Each topic is a short page for a terminal: what a user needs to write or
 * type, and the document of docs/ with the rest.  The man page carries them
 * too (cli_gen.c) and the completions offer their names after `help`.
 * tests/integration/polish.bats checks that every topic prints and that the
 * man page has each. */
#include <string.h>

#include "cli/cli_internal.h"

const cli_topic CLI_TOPICS[] = {
    {
        "config",
        "where the configuration lives and how it is layered",
        "Configuration is Lua 5.4: a config file is a chunk whose globals are a small\n"
        "declarative language (settings, backend, stack, workflow, env, env_group).\n"
        "\n"
        "  ~/.config/scripthut/config.lua   the user file: settings and backends\n"
        "                                   ($XDG_CONFIG_HOME/scripthut/config.lua)\n"
        "  scripthut.lua                    the project file, found by walking up from\n"
        "                                   the current directory\n"
        "  --config PATH                    exactly that file, nothing else\n"
        "\n"
        "The user file is evaluated first and the project file is layered over it:\n"
        "stacks and workflows by name (the project wins), env rules appended.  When a\n"
        "user file exists, `backend` and `settings` in the project file are errors (keys\n"
        "and hosts stay out of repositories).  No config at all is fine: the default\n"
        "settings and the built-in `local` backend.  Relative paths are relative to the\n"
        "file that names them.  Files run in a sandbox with instruction and memory\n"
        "budgets; errors name file:line, the declaration and the field.\n"
        "\n"
        "  settings { poll_interval = 10, max_concurrent = 50 }\n"
        "  workflow \"sweep\" { tasks = function() ... end }\n"
        "\n"
        "  scripthut workflow list          what the config defines\n"
        "  scripthut status                 which files were loaded, the data dir\n"
        "\n"
        "More: docs/configuration.md; `scripthut help tasks`, `scripthut help env`.\n",
    },
    {
        "tasks",
        "task fields, dependencies, retries and run states",
        "A workflow's tasks come from a Lua function, a Lua table or a JSON file:\n"
        "\n"
        "  workflow \"sweep\" {\n"
        "    tasks = function()\n"
        "      local t = {}\n"
        "      for i = 1, 10 do\n"
        "        t[#t + 1] = { id = \"sim.\" .. i, command = \"python3 sim.py \" .. i,\n"
        "                      cpus = 2, memory = \"8G\", retries = 2 }\n"
        "      end\n"
        "      t[#t + 1] = { id = \"report\", command = \"python3 report.py\",\n"
        "                    deps = { \"sim.*\" } }\n"
        "      return t\n"
        "    end,\n"
        "  }\n"
        "\n"
        "Fields: id and command (required), name, deps (globs: *, ?, [a-z]), cpus,\n"
        "memory, time_limit, partition, gres, image, working_dir, env, retries,\n"
        "retry_delay, output_file, error_file, generates_source.  An unknown field is\n"
        "an error with a suggestion; tasks[N] in messages counts from 1.\n"
        "\n"
        "A task starts when its deps completed; when one fails, its dependants become\n"
        "dep_failed.  A failed task with retries is submitted again; each attempt keeps\n"
        "its own job, error and logs (`scripthut run logs RUN TASK --attempt N`).\n"
        "\n"
        "  scripthut workflow view sweep    the expanded tasks, without running them\n"
        "  scripthut workflow run sweep --watch\n"
        "  scripthut run rerun RUN --failed-only\n"
        "\n"
        "More: docs/tasks.md.\n",
    },
    {
        "env",
        "environment rules: set, append, include groups, stacks, guards",
        "A job's environment is built from rules, applied in order: the backend's, the\n"
        "server's (`env { ... }`), the workflow document's, then the task's own.\n"
        "\n"
        "  env { set = { OMP_NUM_THREADS = \"1\" } }\n"
        "  env_group \"gpu\" { init = \"module load cuda\", set = { USE_GPU = \"1\" } }\n"
        "  workflow \"train\" { tasks = { { id = \"t\", command = \"python3 train.py\",\n"
        "      env = { include = { \"gpu\" }, stacks = { \"ml\" } } } } }\n"
        "\n"
        "  if (or if_)  apply only when every named variable has that value (or one of\n"
        "               a list of values) in the env so far\n"
        "  include      the rules of env groups, inlined here\n"
        "  stacks       stacks whose init is run here (installed first when needed)\n"
        "  set, append  variables (append joins with ':'); ${NAME} is expanded\n"
        "  init         bash text run before the command\n"
        "\n"
        "A group or a stack that is not defined is an error when the workflow is viewed\n"
        "or run, naming file:line, the task and the names that are defined.\n"
        "SCRIPTHUT_* variables are set by scripthut and cannot be set by rules.\n"
        "\n"
        "More: docs/configuration.md (Env rules), docs/tasks.md.\n",
    },
    {
        "stacks",
        "reusable software environments built once per content hash",
        "A stack (a venv, a conda env, a tool tree) is built once per backend into\n"
        "<cache_dir>/<name>/<hash>/ and used by any task whose env names it.\n"
        "\n"
        "  stack \"ml\" {\n"
        "    prep = \"python3 -m venv venv && venv/bin/pip install -r \\\"$STACK_INPUT_1\\\"\",\n"
        "    init = 'source \"$STACK_DIR/venv/bin/activate\"',\n"
        "    input_files = { \"requirements.txt\" },\n"
        "  }\n"
        "\n"
        "The hash covers the name, prep, inputs and the input files' contents: edit one\n"
        "and the next use builds a new directory.  A run whose tasks need a stack that\n"
        "is not ready gets an install task in front of them (`workflow view` shows it).\n"
        "\n"
        "  scripthut stack list             stacks, hashes and input files\n"
        "  scripthut stack install ml --watch\n"
        "  scripthut stack check            ready, installing, failed or missing\n"
        "  scripthut stack gc --dry-run     old hash directories that would go\n"
        "\n"
        "More: docs/stacks.md.\n",
    },
    {
        "backends",
        "where tasks run: local, slurm, pbs, noop",
        "A backend is where jobs run.  `local` (this machine) always exists; clusters\n"
        "are reached over SSH, or directly on a login node.\n"
        "\n"
        "  backend \"hpc\" {\n"
        "    type = \"slurm\", account = \"my-alloc\", max_concurrent = 200,\n"
        "    ssh = { host = \"login.cluster.edu\", user = \"me\" },\n"
        "  }\n"
        "  workflow \"sweep\" { backend = \"hpc\", tasks = ... }\n"
        "\n"
        "  local   processes on this machine, at most max_cpus CPUs at once\n"
        "  slurm   sbatch, squeue and sacct over SSH (keys: ed25519 or ECDSA)\n"
        "  pbs     PBS Pro / OpenPBS, or Torque with flavor = \"torque\"\n"
        "  noop    jobs that succeed at once: try a workflow's shape\n"
        "\n"
        "SSH settings may come from ~/.ssh/config (host aliases, ProxyJump).\n"
        "\n"
        "  scripthut backend list           each backend's connection and jobs\n"
        "  scripthut backend status hpc     its last errors and commands\n"
        "  scripthut workflow run sweep --backend local\n"
        "\n"
        "More: docs/backends.md, docs/configuration.md (SSH settings).\n",
    },
    {
        "sources",
        "where workflows come from: scripthut.lua, JSON files, other tools",
        "A workflow's tasks come from the config that declares it:\n"
        "\n"
        "  workflow \"a\" { tasks = function() ... end }   computed when it runs\n"
        "  workflow \"b\" { tasks = { {...}, {...} } }      a Lua table\n"
        "  workflow \"c\" { tasks = \"flow.json\" }          a JSON file, relative to the\n"
        "                                                 file that declares it\n"
        "\n"
        "A JSON file holds a list of tasks or {tasks, env, env_groups}; a task with\n"
        "generates_source names a JSON file it writes, whose tasks are added to the\n"
        "run when it completes.  One-off tasks need no config at all:\n"
        "\n"
        "  scripthut task run \"make -j4\" --cpus 4 --watch\n"
        "  scripthut task run --from-file task.json\n"
        "\n"
        "More: docs/tasks.md (Workflow documents), docs/configuration.md.\n",
    },
    {
        "server",
        "scripthut serve: the REST API, the dashboard, server mode of the CLI",
        "`scripthut serve` drives the engine and serves a REST API under /api/v1, a\n"
        "live event stream and the dashboard, on 127.0.0.1:8000 by default\n"
        "(settings.server_host, settings.server_port, or --host and --port).\n"
        "\n"
        "  scripthut serve                  then open http://127.0.0.1:8000/\n"
        "  scripthut --server http://127.0.0.1:8000 run list\n"
        "  export SCRIPTHUT_SERVER=http://127.0.0.1:8000   every command talks to it\n"
        "\n"
        "Every command prints the same against a server as locally; `daemon` commands\n"
        "are about this machine.  Set settings.api_token to require a bearer token (a\n"
        "non-loopback address requires one); the CLI sends --token, SCRIPTHUT_API_TOKEN\n"
        "or settings.cli_auth.token.\n"
        "\n"
        "More: docs/api.md, docs/dashboard.md, docs/cli.md (Server mode).\n",
    },
};
const size_t CLI_NTOPICS = sizeof CLI_TOPICS / sizeof CLI_TOPICS[0];

const cli_topic *cli_find_topic(const char *name)
{
    for (size_t i = 0; i < CLI_NTOPICS; i++)
        if (strcmp(CLI_TOPICS[i].name, name) == 0)
            return &CLI_TOPICS[i];
    return NULL;
}
