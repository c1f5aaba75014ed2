-- Resubmit the failed tasks of a run as a new run, and follow it.
--
--   scripthut lua examples/lua/resubmit_failed.lua RUN_ID
--
-- Tasks that failed, timed out or never ran because a dependency failed go
-- into the new run with their definitions unchanged; dependencies on tasks
-- that completed are dropped (their results are already there).  Exits 0
-- when the new run completes, 1 otherwise.  (`scripthut.rerun(id,
-- {failed_only = true})` does the same inside the engine; this script shows
-- how to pick and change tasks yourself.)
local run_id = arg[1] or error("usage: resubmit_failed.lua RUN_ID", 0)

local run = assert(scripthut.run(run_id))
local again = {}
for _, item in ipairs(run.items) do
  if item.status ~= "completed" then
    again[item.task.id] = true
  end
end

local tasks = {}
for _, item in ipairs(run.items) do
  local task = item.task
  if again[task.id] then
    local deps = {}
    for _, dep in ipairs(task.dependencies or {}) do
      if again[dep] then
        deps[#deps + 1] = dep
      end
    end
    task.dependencies = nil
    task.deps = deps
    tasks[#tasks + 1] = task
  end
end

if #tasks == 0 then
  print(("run %s has no failed tasks"):format(run_id))
  os.exit(0)
end

print(("resubmitting %d task(s) of run %s"):format(#tasks, run_id))
local new = assert(scripthut.submit(tasks, {
  name = run.workflow_name .. " (resubmitted)",
  backend = run.backend_name,
}))
print("new run " .. new.id)
local final = assert(scripthut.watch(new.id, function(event)
  if event.task_id and (event.to == "completed" or event.to == "failed") then
    print(("  %-20s %s"):format(event.task_id, event.to))
  end
end))
print(("run %s %s"):format(final.id, final.status))
os.exit(final.status == "completed" and 0 or 1)
