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
local script = require "scripthut.script"

local M = {}

-- The export lines of a resolved env.  Jobs of one run without env rules of
-- their own share one env table, so this is built once per run.
local exports_of = setmetatable({}, { __mode = "k" })

local function exports(env)
  local text = exports_of[env]
  if not text then
    local lines = script.export_lines(env)
    text = #lines > 0 and table.concat(lines, "\n") .. "\n" or ""
    exports_of[env] = text
  end
  return text
end

function M.render(job)
  local out = { script.shebang(job.backend or {}) }
  return script.finish(out, job, { exports(job.env or {}) })
end

return M
