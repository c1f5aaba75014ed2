-- scripthut.jobs: turns a batch of jobs into job scripts (docs/config-json.md,
-- "Preparing jobs").  Called by the engine through host_prepare_jobs.
--
-- For each job: resolve its env (scripthut.env) over the layers backend ->
-- server -> workflow document -> task, then render the script with the
-- template module of the backend's type, scripthut.templates.<type> (a
-- built-in, or the user's override of it).
local util = require "scripthut.util"
local envmod = require "scripthut.env"

local M = {}

local NULL = util.null

local function list(v)
  if v == nil or v == NULL then
    return {}
  end
  return v
end

local function has_rules(rules)
  return rules ~= nil and rules ~= NULL and next(rules) ~= nil
end

local function resolve(run, task_rules)
  return envmod.resolve {
    seed = list(run.seed),
    layers = envmod.run_layers(run, task_rules),
    groups = run.env_groups,
    stacks = run.stacks,
  }
end

-- The template module for a backend type, or nil, message when there is none.
local function template_for(btype, templates)
  local t = templates[btype]
  if t then
    return t
  end
  local name = "scripthut.templates." .. tostring(btype)
  local ok, mod = pcall(require, name)
  if not ok then
    if tostring(mod):find("module '" .. name .. "' not found", 1, true) then
      return nil, ("no script template for backend type %q (module %s)"):format(btype, name)
    end
    error(mod, 0)
  end
  templates[btype] = mod
  return mod
end

local function prepare_one(batch, job, cache, templates)
  local run = batch.runs[job.run_id]
  if run == nil or run == NULL then
    return { error = ("job %s: unknown run %s"):format(tostring(job.tag), tostring(job.run_id)) }
  end
  local task = job.task
  -- A task without env rules resolves like every other such task of its run:
  -- resolve once per run (a 100k-task run must not resolve 100k times).
  local resolved, err
  if has_rules(task.env) then
    resolved, err = resolve(run, task.env)
  else
    resolved = cache[job.run_id]
    if not resolved then
      resolved, err = resolve(run, nil)
      cache[job.run_id] = resolved or { error = err }
    elseif resolved.error then
      resolved, err = nil, resolved.error
    end
  end
  if not resolved then
    return { error = err }
  end
  local template, terr = template_for(run.backend.type, templates)
  if not template then
    return { error = terr }
  end
  -- A value the template refuses (a gres PBS cannot take, a space in an
  -- #SBATCH value) fails this job alone, with the template's message.
  local ok, script = pcall(template.render, {
    task = task, backend = run.backend, env = resolved.env, init = resolved.init,
    run_id = job.run_id, tag = job.tag, attempt = job.attempt,
    out_path = job.out_path, err_path = job.err_path,
  })
  if not ok then
    return { error = tostring(script) }
  end
  return { script = script, env = batch.with_env and resolved.env or nil,
           warnings = resolved.warnings }
end

-- prepare{runs = {id = run}, jobs = {job...}, with_env = bool} -> list
-- parallel to jobs of {script =, env = {{KEY, value}...}, warnings = {...}} or
-- {error = message}.  The engine passes with_env = false: it needs only the
-- scripts, and copying 100,000 env lists back to C is not free.
function M.prepare(batch)
  local runs = batch.runs ~= NULL and batch.runs or {}
  local input = { runs = runs, with_env = batch.with_env ~= false }
  local results, cache, templates = {}, {}, {}
  for i, job in ipairs(list(batch.jobs)) do
    results[i] = prepare_one(input, job, cache, templates)
  end
  return results
end

return M
