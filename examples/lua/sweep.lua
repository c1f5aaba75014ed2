-- A parameter sweep with a final aggregation step.
--
--   scripthut lua examples/lua/sweep.lua [N [OUT_DIR]]
--
-- Submits N tasks (square.1 .. square.N), each writing i*i to OUT_DIR, and a
-- "sum" task that depends on all of them (a wildcard dependency) and adds
-- the results up.  Waits for the run, prints the sum, exits 0 when the run
-- completed.
local n = tonumber(arg[1] or "10") or error("N must be a number", 0)
local out_dir = arg[2] or (os.getenv("PWD") or ".") .. "/sweep-results"
local q = require("scripthut.util").shell_quote

local tasks = {}
for i = 1, n do
  tasks[#tasks + 1] = {
    id = "square." .. i,
    command = ("mkdir -p %s && echo %d > %s/%d.txt"):format(q(out_dir), i * i, q(out_dir), i),
    cpus = 1,
  }
end
tasks[#tasks + 1] = {
  id = "sum",
  command = ("cat %s/*.txt | awk '{ s += $1 } END { print s }'"):format(q(out_dir)),
  deps = { "square.*" },
}

local run = assert(scripthut.submit(tasks, { name = "sweep" }))
print(("run %s: %d tasks"):format(run.id, run.task_count))
local final = assert(scripthut.watch(run.id, { timeout = 600 }))
if final.status ~= "completed" then
  print("run " .. final.status)
  os.exit(1)
end
io.write("sum of squares: ", assert(scripthut.logs(run.id, "sum")))
