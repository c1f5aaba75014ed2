-- scripthut.templates.pbs: the batch script of the pbs backend (PBS Pro,
-- OpenPBS, and Torque with flavor = "torque").
--
-- render(job) -> the script text.  `job` holds task, backend, env ({KEY,
-- value} pairs), init (text), run_id, tag, attempt, out_path, err_path.
--
-- The #PBS lines carry the task's resources, in the backend's flavor:
-- `-l select=1:ncpus=N:mem=Xgb` for PBS Pro, `-l nodes=1:ppn=N` and
-- `-l mem=Xgb` for Torque.  The backend itself passes -N (the tag, how a job
-- is found again after a crash), -o and -e on the qsub command line, where
-- they override any #PBS line: they are scripthut's bookkeeping, so an
-- overridden template cannot break them.  The queue is the backend's `queue`
-- (it overrides the task's partition, so tasks written with Slurm partition
-- names still run), else the task's partition, else none (the server's
-- default queue).  No
-- `#PBS -V`: the job gets the resolved env below, not the environment of the
-- SSH session that ran qsub.  Values are quoted by util.shell_quote; the
-- command is inserted verbatim.
local script = require "scripthut.script"

local M = {}

local str = script.str

-- #PBS values are parsed by qsub, not by a shell: keep them to one line and
-- refuse characters that would split them.
local function directive(out, option, value)
  value = tostring(value)
  if value:find("[%s\"']") then
    error(("#PBS %s: value %q has spaces or quotes"):format(option, value), 0)
  end
  out[#out + 1] = ("#PBS %s %s"):format(option, value)
end

local UNITS = { "k", "m", "g", "t", "p" }
local UNIT_INDEX = { k = 1, m = 2, g = 3, t = 4, p = 5 }

-- A Slurm-style memory ("4G", "512M", "1.5G", "2048" = MB) in PBS units
-- ("4gb", "512mb", "1536mb", "2048mb").  PBS takes integers only, so a
-- fraction is carried to the next smaller unit (rounded up).
function M.pbs_memory(memory)
  local s = tostring(memory)
  local number, unit = s:match("^%s*(%d+%.?%d*)%s*([KkMmGgTtPp]?)[Bb]?%s*$")
  if not number then
    error(("memory %q is not a size like 4G, 512M or 2048 (MB)"):format(s), 0)
  end
  local index = UNIT_INDEX[unit:lower()] or UNIT_INDEX.m
  local value = tonumber(number)
  while value ~= math.floor(value) do
    if index == 1 then
      value = math.ceil(value)
      break
    end
    value, index = value * 1024, index - 1
  end
  return ("%d%sb"):format(math.floor(value), UNITS[index])
end

-- A Slurm-style duration (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS) as
-- PBS's HH:MM:SS (hours may pass 24); nil for no limit ("" or "0").
function M.pbs_walltime(limit)
  local s = str(limit)
  if not s or s == "0" then
    return nil
  end
  local days, rest = s:match("^(%d+)%-(.+)$")
  local parts = {}
  for p in (rest or s):gmatch("[^:]+") do
    if not p:match("^%d+$") then
      error(("time_limit %q is not a duration"):format(s), 0)
    end
    parts[#parts + 1] = tonumber(p)
  end
  if #parts == 0 or #parts > 3 then
    error(("time_limit %q is not a duration"):format(s), 0)
  end
  local seconds
  if days then
    seconds = tonumber(days) * 86400 + parts[1] * 3600 + (parts[2] or 0) * 60 + (parts[3] or 0)
  elseif #parts == 1 then
    seconds = parts[1] * 60
  elseif #parts == 2 then
    seconds = parts[1] * 60 + parts[2]
  else
    seconds = parts[1] * 3600 + parts[2] * 60 + parts[3]
  end
  if seconds == 0 then
    return nil
  end
  return ("%02d:%02d:%02d"):format(seconds // 3600, seconds % 3600 // 60, seconds % 60)
end

-- The GPU count of a Slurm gres ("gpu", "gpu:2", "gpu:v100:2"), or nil.
local function gpus_of(gres)
  local g = str(gres)
  if not g then
    return nil
  end
  local parts = {}
  for p in g:gmatch("[^:]+") do
    parts[#parts + 1] = p
  end
  if parts[1] ~= "gpu" then
    error(("gres %q: PBS jobs can request only GPUs (gpu, gpu:N or gpu:type:N)"):format(g), 0)
  end
  if #parts == 1 then
    return 1
  end
  local n = tonumber(parts[#parts])
  if #parts > 3 or not n or n < 1 or n ~= math.floor(n) then
    error(("gres %q: the GPU count must be a positive integer"):format(g), 0)
  end
  return n
end

local function resource_lines(out, task, backend)
  local cpus = tonumber(task.cpus) or 1
  local memory = str(task.memory) and M.pbs_memory(task.memory)
  local gpus = gpus_of(task.gres)
  if backend.flavor == "torque" then
    directive(out, "-l", ("nodes=1:ppn=%d%s"):format(cpus, gpus and (":gpus=" .. gpus) or ""))
    if memory then
      directive(out, "-l", "mem=" .. memory)
    end
  else
    local chunk = ("select=1:ncpus=%d"):format(cpus)
    if gpus then
      chunk = chunk .. ":ngpus=" .. gpus
    end
    if memory then
      chunk = chunk .. ":mem=" .. memory
    end
    directive(out, "-l", chunk)
  end
  local walltime = M.pbs_walltime(task.time_limit)
  if walltime then
    directive(out, "-l", "walltime=" .. walltime)
  end
end

function M.render(job)
  local task, backend = job.task, job.backend or {}
  local out = { script.shebang(backend) }
  -- PBS runs a job with the user's login shell, not the #! line: ask for bash.
  directive(out, "-S", "/bin/bash")
  local queue = str(backend.queue) or str(task.partition)
  if queue then
    directive(out, "-q", queue)
  end
  if str(backend.account) then
    directive(out, "-A", backend.account)
  end
  resource_lines(out, task, backend)
  return script.finish(out, job, script.export_lines(job.env))
end

return M
