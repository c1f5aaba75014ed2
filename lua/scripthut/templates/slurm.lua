-- scripthut.templates.slurm: the batch script of the slurm backend.
--
-- render(job) -> the script text.  `job` holds task, backend, env ({KEY,
-- value} pairs), init (text), run_id, tag, attempt, out_path, err_path.
--
-- The #SBATCH lines carry the task's resources.  The backend itself passes
-- --job-name (the tag, how a job is found again after a crash), --output and
-- --error on the sbatch command line, where they override any #SBATCH line:
-- they are scripthut's bookkeeping, so an overridden template cannot break
-- them.  The partition is sent only when the task, the backend's
-- partition_map or default_partition names one (never a made-up "normal").
-- Values are quoted by util.shell_quote; the command is inserted verbatim.
local util = require "scripthut.util"

local M = {}

local q = util.shell_quote
local NULL = util.null

local function str(v)
  if type(v) == "string" and v ~= "" then
    return v
  end
  return nil
end

local function partition_of(task, backend)
  local p = str(task.partition)
  local map = backend.partition_map
  if p and type(map) == "table" and str(map[p]) then
    return map[p]
  end
  return p or str(backend.default_partition)
end

-- #SBATCH values are parsed by sbatch, not by a shell: keep them to one
-- line and refuse characters that would split them.
local function directive(out, option, value)
  value = tostring(value)
  if value:find("[%s\"']") then
    error(("#SBATCH --%s: value %q has spaces or quotes"):format(option, value), 0)
  end
  out[#out + 1] = ("#SBATCH --%s=%s"):format(option, value)
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
  local partition = partition_of(task, backend)
  if partition then
    directive(out, "partition", partition)
  end
  if str(backend.account) then
    directive(out, "account", backend.account)
  end
  directive(out, "cpus-per-task", tonumber(task.cpus) or 1)
  if str(task.memory) then
    directive(out, "mem", task.memory)
  end
  local limit = str(task.time_limit)
  if limit and limit ~= "0" then
    directive(out, "time", limit)
  end
  if str(task.gres) then
    directive(out, "gres", task.gres)
  end
  add("set -o pipefail")
  add("# scripthut task " .. q(tostring(task.id)) .. " (" .. q(name) .. "), tag " .. q(tostring(job.tag)))
  if str(job.init) then
    add(job.init)
    add("")
  end
  for _, e in ipairs(job.env ~= NULL and job.env or {}) do
    add(("export %s=%s"):format(e[1], q(e[2])))
  end
  add(("cd -- %s || { echo %s >&2; exit 1; }"):format(util.shell_quote_path(working_dir),
    q("scripthut: cannot change to working dir " .. working_dir)))
  add(type(task.command) == "string" and task.command or "")
  return table.concat(out, "\n") .. "\n"
end

return M
