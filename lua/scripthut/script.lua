-- scripthut.script: what every backend's job script shares after its own
-- header (the #! line and the scheduler directives): pipefail, a comment
-- naming the task, the resolved init, the exported env, the cd to the
-- working dir, and the command, inserted verbatim.
--
-- The templates (scripthut.templates.<type>) build their header and then
-- call finish(); an overriding template may use it the same way.  Values are
-- quoted by util.shell_quote, the C quoting function.
local util = require "scripthut.util"

local M = {}

local q = util.shell_quote
local NULL = util.null

-- s when it is a non-empty string, else nil.
function M.str(v)
  if type(v) == "string" and v ~= "" then
    return v
  end
  return nil
end

function M.shebang(backend)
  return backend.login_shell == true and "#!/bin/bash -l" or "#!/bin/bash"
end

-- One "export KEY=value" line per {KEY, value} pair of a resolved env.
function M.export_lines(env)
  local lines = {}
  for i, e in ipairs(env ~= NULL and env or {}) do
    lines[i] = ("export %s=%s"):format(e[1], q(e[2]))
  end
  return lines
end

-- Appends the shared body to `out` (the header lines so far) and returns
-- the whole script.  `exports` is a list of lines to put between the init
-- and the cd (export_lines(job.env), or a cached block of them).
function M.finish(out, job, exports)
  local task = job.task
  local name = M.str(task.name) or M.str(task.id) or "?"
  local working_dir = M.str(task.working_dir) or "~"
  local function add(line)
    out[#out + 1] = line
  end
  add("set -o pipefail")
  add("# scripthut task " .. q(tostring(task.id)) .. " (" .. q(name) .. "), tag " .. q(tostring(job.tag)))
  if M.str(job.init) then
    add(job.init)
    add("")
  end
  for _, line in ipairs(exports) do
    add(line)
  end
  -- Jobs start where their backend likes (PBS: $HOME; Slurm: where sbatch
  -- ran; local: the engine's directory), so every script changes dir itself.
  add(("cd -- %s || { echo %s >&2; exit 1; }"):format(util.shell_quote_path(working_dir),
    q("scripthut: cannot change to working dir " .. working_dir)))
  add(type(task.command) == "string" and task.command or "")
  return table.concat(out, "\n") .. "\n"
end

return M
