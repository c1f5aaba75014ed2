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
local script = require "scripthut.script"

local M = {}

local str = script.str

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
  local out = { script.shebang(backend) }
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
  return script.finish(out, job, script.export_lines(job.env))
end

return M
