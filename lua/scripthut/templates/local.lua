-- scripthut.templates.local: the job script of the local backend.
--
-- render(job) -> the script text.  `job` holds task, backend, env ({KEY,
-- value} pairs), init (text), run_id, tag, attempt, out_path, err_path.
--
-- The local backend's wrapper redirects stdout/stderr, applies the time limit
-- and records the exit code, so the script itself never redirects.  Nor does
-- it print a banner: `run logs` shows exactly what the task printed, and the
-- timings and exit code are in the store.  Every
-- value is quoted by util.shell_quote (the C quoting function); the command
-- is inserted verbatim.
local util = require "scripthut.util"

local M = {}

local q = util.shell_quote

-- The export lines of a resolved env.  Jobs of one run without env rules of
-- their own share one env table, so this is built once per run.
local exports_of = setmetatable({}, { __mode = "k" })

local function exports(env)
  local text = exports_of[env]
  if not text then
    local lines = {}
    for i, e in ipairs(env) do
      lines[i] = ("export %s=%s\n"):format(e[1], q(e[2]))
    end
    text = table.concat(lines)
    exports_of[env] = text
  end
  return text
end

local function str(v)
  if type(v) == "string" and v ~= "" then
    return v
  end
  return nil
end

function M.render(job)
  local task, backend = job.task, job.backend or {}
  local name = str(task.name) or str(task.id) or "?"
  local working_dir = str(task.working_dir) or "~"
  local out = {}
  local function add(line)
    out[#out + 1] = line
  end
  add(backend.login_shell == true and "#!/bin/bash -l" or "#!/bin/bash")
  add("set -o pipefail")
  add("# scripthut task " .. q(tostring(task.id)) .. " (" .. q(name) .. "), tag " .. q(tostring(job.tag)))
  if str(job.init) then
    add(job.init)
    add("")
  end
  add(exports(job.env or {}))
  add(("cd -- %s || { echo %s >&2; exit 1; }"):format(util.shell_quote_path(working_dir),
    q("scripthut: cannot change to working dir " .. working_dir)))
  add(type(task.command) == "string" and task.command or "")
  return table.concat(out, "\n") .. "\n"
end

return M
