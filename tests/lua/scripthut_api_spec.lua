-- The `scripthut` Lua module (docs/lua-api.md), function by function, as a
-- script sees it.  The same file runs in local mode and against a server:
--
--   scripthut lua tests/lua/run.lua tests/lua/scripthut_api_spec.lua
--   SCRIPTHUT_SERVER=http://127.0.0.1:PORT scripthut lua tests/lua/run.lua ...
--
-- (the server started with --config tests/lua/fixtures/api_config.lua).  The
-- expectations are the same in both modes except where the API says a
-- function is local-only (exec) or not served by a server yet (config).
-- Every wait is bounded by a watch timeout; nothing asserts on durations.
local support = require "support"

local server_url = os.getenv("SCRIPTHUT_SERVER")
local server_mode = server_url ~= nil and server_url ~= "" and server_url ~= "local"

-- Local mode discovers scripthut.lua in the working directory (the spec's
-- temporary home); the connection opens on the first call, after this.
do
  local util = require "scripthut.util"
  local dir = util.dirname(debug.getinfo(1, "S").source:sub(2))
  local fixture = support.read(dir .. "/fixtures/api_config.lua")
  support.write(util.getcwd(), "scripthut.lua", fixture)
end

local WAIT = { timeout = 60, interval = 0.2 }

local function watch(id, on_event)
  local opts = { timeout = WAIT.timeout, interval = WAIT.interval, on_event = on_event }
  return assert(scripthut.watch(id, opts))
end

local function item(run, task_id)
  for _, it in ipairs(run.items) do
    if it.task.id == task_id then
      return it
    end
  end
end

describe("scripthut module", function()
  teardown(function()
    local bin = os.getenv("SCRIPTHUT_BIN")
    if bin and not server_mode then
      os.execute(require("scripthut.util").shell_quote(bin) .. " daemon stop >/dev/null 2>&1")
    end
  end)

  it("is preloaded as a global and by require", function()
    assert.equals(scripthut, require "scripthut")
    assert.is_string(scripthut.version)
  end)

  it("server() says which transport answers", function()
    local where, source = scripthut.server()
    assert.equals(server_mode and server_url or "local", where)
    assert.is_string(source)
  end)

  it("config() returns the loaded configuration", function()
    local config, err = scripthut.config()
    if server_mode then
      assert.is_nil(config)
      assert.matches("server mode", err)
      return
    end
    local names = {}
    for _, wf in ipairs(config.workflows) do
      names[#names + 1] = wf.name
    end
    assert.same({ "pair" }, names)
  end)

  it("backends() lists the local backend", function()
    local backends = assert(scripthut.backends())
    local types = {}
    for _, b in ipairs(backends) do
      types[b.name] = b.type
    end
    assert.equals("local", types["local"])
  end)

  it("stacks() lists the config's stacks with their hashes", function()
    local stacks = assert(scripthut.stacks())
    assert.equals("tools", stacks[1].name)
    assert.matches("^%x+$", stacks[1].hash)
  end)

  it("stack_hash() gives the 12-hex identity; install() runs the install as a run", function()
    local hash = assert(scripthut.stack_hash("tools"))
    assert.equals(12, #hash)
    assert.matches("^%x+$", hash)
    local none, err, status = scripthut.stack_hash("nope")
    assert.is_nil(none)
    assert.equals(404, status, err)
    local run = assert(scripthut.install("tools", { watch = WAIT }))
    assert.equals("completed", run.status)
    assert.equals("_stack/tools", run.workflow_name)
    local script, serr = scripthut.stack_script("tools", { rebuild = true })
    if server_mode then
      assert.is_nil(script)
      assert.matches("not available in server mode", serr)
    else
      assert.matches("REBUILD=1", assert(script, serr), 1, true)
      assert.matches("touch", script, 1, true)
    end
  end)

  it("submit() runs one task; logs() reads its output", function()
    local run = assert(scripthut.submit({ id = "hello", command = "echo hello; echo oops >&2" }))
    assert.is_string(run.id)
    assert.equals("_adhoc/hello", run.workflow_name)
    local final = watch(run.id)
    assert.equals("completed", final.status)
    assert.equals("hello\n", assert(scripthut.logs(run.id, "hello")))
    assert.equals("oops\n", assert(scripthut.logs(run.id, "hello", { error = true })))
  end)

  it("submit() of a list keeps dependencies; watch() calls back per transition", function()
    local run = assert(scripthut.submit({
      { id = "first", command = "echo 1" },
      { id = "second", command = "printf '1\\n2\\n3\\n'", deps = { "first" } },
    }, { name = "lua-pair" }))
    local seen = {}
    local final = watch(run.id, function(event, detail)
      assert.equals(run.id, detail.id)
      if event.task_id then
        seen[#seen + 1] = event.task_id .. ":" .. event.to
      end
    end)
    assert.equals("completed", final.status)
    assert.equals("lua-pair", final.workflow_name)
    local index = {}
    for i, s in ipairs(seen) do
      index[s] = index[s] or i
    end
    assert.truthy(index["first:completed"] < index["second:submitting"], table.concat(seen, " "))
    assert.equals("3\n", assert(scripthut.logs(run.id, "second", { tail = 1 })))
  end)

  it("submit() of a workflow name runs the config's workflow", function()
    local final = assert(scripthut.submit("pair", { watch = WAIT }))
    assert.equals("completed", final.status)
    assert.equals("pair", final.workflow_name)
    assert.equals("from-b\n", assert(scripthut.logs(final.id, "b")))
  end)

  it("runtime failures return nil, message, status", function()
    local run, err, status = scripthut.submit({
      { id = "x", command = "true", deps = { "y" } },
      { id = "y", command = "true", deps = { "x" } },
    })
    assert.is_nil(run)
    assert.matches("Circular dependency", err)
    assert.equals(422, status)
    local none, nerr, nstatus = scripthut.run("no-such-run")
    assert.is_nil(none)
    assert.matches("not found", nerr)
    assert.equals(404, nstatus)
    assert.is_nil((scripthut.submit("no-such-workflow")))
  end)

  it("misuse raises, naming the function", function()
    assert.has_error(function() scripthut.submit(42) end)
    assert.matches("scripthut.watch", support.error_of(scripthut.watch, 42))
    assert.has_error(function() scripthut.run() end)
    assert.has_error(function() scripthut.runs({ limit = "many" }) end)
    assert.has_error(function() scripthut.submit({ command = print }) end)
  end)

  it("runs() lists runs newest first; run() returns the detail", function()
    local a = assert(scripthut.submit({ id = "r1", command = "true" }, { watch = WAIT }))
    local b = assert(scripthut.submit({ id = "r2", command = "true" }, { watch = WAIT }))
    local runs = assert(scripthut.runs({ limit = 2 }))
    assert.equals(2, #runs)
    assert.equals(b.id, runs[1].id)
    assert.equals(a.id, runs[2].id)
    local detail = assert(scripthut.run(a.id))
    assert.equals("r1", detail.items[1].task.id)
    assert.equals("completed", item(detail, "r1").status)
    assert.is_nil(detail.items[1].error_message) -- JSON nulls are absent
    local by_workflow = assert(scripthut.runs({ workflow = "pair", limit = 0 }))
    for _, r in ipairs(by_workflow) do
      assert.equals("pair", r.workflow_name)
    end
  end)

  it("cancel() stops a running task", function()
    local run = assert(scripthut.submit({ id = "sleeper", command = "sleep 60" }))
    local running = watch(run.id, function(event)
      if event.task_id == "sleeper" and event.to == "running" then
        return false -- stop watching: it runs
      end
    end)
    assert.equals(run.id, running.id)
    local summary = assert(scripthut.cancel(run.id))
    assert.equals(run.id, summary.id)
    assert.equals("cancelled", watch(run.id).status)
  end)

  it("watch() gives up after its timeout, and an error in the callback propagates",
    function()
      local run = assert(scripthut.submit({ id = "slow", command = "sleep 60" }))
      local none, err, status = scripthut.watch(run.id, { timeout = 0.3, interval = 0.1 })
      assert.is_nil(none)
      assert.matches("timeout", err)
      assert.equals(408, status)
      local ok, cb_err = pcall(scripthut.watch, run.id, function() error("from the callback") end)
      assert.is_false(ok)
      assert.matches("from the callback", tostring(cb_err))
      -- the engine was released by the error: watching again works
      assert(scripthut.cancel(run.id))
      assert.equals("cancelled", watch(run.id).status)
    end)

  it("rerun() runs the tasks again; failed_only keeps completed ones", function()
    local run = assert(scripthut.submit({
      { id = "ok", command = "true" },
      { id = "bad", command = "exit 3" },
    }, { watch = WAIT }))
    assert.equals("failed", run.status)
    assert.equals(3, item(run, "bad").exit_code)
    local again = assert(scripthut.rerun(run.id, { failed_only = true }))
    assert.are_not.equal(run.id, again.id)
    local final = watch(again.id)
    assert.equals("failed", final.status)
    assert.equals("completed", item(final, "ok").status)
  end)

  it("exec() runs a command on a backend (local mode only)", function()
    local result, err = scripthut.exec("local", "echo out; echo err >&2; exit 4")
    if server_mode then
      assert.is_nil(result)
      assert.equals("not available in server mode", err)
      return
    end
    assert.same({ exit_status = 4, stdout = "out\n", stderr = "err\n" }, result)
    local none, uerr, status = scripthut.exec("nowhere", "true")
    assert.is_nil(none)
    assert.matches("nowhere", uerr)
    assert.equals(404, status)
    local slow = assert(scripthut.exec("local", "sleep 30", { timeout = 1 }))
    assert.is_true(slow.timed_out)
  end)

  it("json is lua-cjson; pretty() prints nested, sorted, cyclic tables", function()
    assert.same({ a = { 1, 2 } }, scripthut.json.decode(scripthut.json.encode({ a = { 1, 2 } })))
    assert.equals(scripthut.json.null, scripthut.null)
    local t = { b = 1, a = { "x" } }
    t.me = t
    assert.equals('{ a = { "x" }, b = 1, me = <cycle: <root>> }', scripthut.pretty(t))
  end)
end)
