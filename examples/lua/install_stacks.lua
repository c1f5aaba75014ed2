-- Install every stack of the config on every backend it names (or on all
-- backends when it names none), then wait for all the installs.
--
--   scripthut lua examples/lua/install_stacks.lua
--
-- Exits 0 when every install completed (or there was nothing to install),
-- 1 when one failed.
local stacks = assert(scripthut.stacks())
local all_backends = {}
for _, b in ipairs(assert(scripthut.backends())) do
  all_backends[#all_backends + 1] = b.name
end

local runs = {}
for _, stack in ipairs(stacks) do
  local targets = stack.backends and #stack.backends > 0 and stack.backends or all_backends
  for _, backend in ipairs(targets) do
    local run, err = scripthut.install(stack.name, { backend = backend })
    assert(run, err)
    print(("installing %s on %s: run %s"):format(stack.name, backend, run.id))
    runs[#runs + 1] = { stack = stack.name, backend = backend, id = run.id }
  end
end

local failed = 0
for _, r in ipairs(runs) do
  local final = assert(scripthut.watch(r.id, { timeout = 3600 }))
  print(("%-20s %-12s %s"):format(r.stack, r.backend, final.status))
  if final.status ~= "completed" then
    failed = failed + 1
  end
end
if #runs == 0 then
  print("no stacks to install")
end
os.exit(failed == 0 and 0 or 1)
