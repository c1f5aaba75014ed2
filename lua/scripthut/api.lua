-- scripthut.api: builds the public `scripthut` module of `scripthut lua` from
-- the C primitives of src/script/mod_scripthut.c (`core`).  What is here is the
-- shape of the API: argument forms, defaults, watch and its callback, the
-- stack functions.  Reference: docs/lua-api.md.
--
-- Two error channels, as everywhere in scripthut: a runtime failure (unknown
-- run, invalid task, engine unreachable) returns nil, message, status; a
-- misuse (a number where a run id belongs) raises, pointing at the caller.
local cjson = require "cjson"
local pretty = require "scripthut.pretty"

local TERMINAL = { completed = true, failed = true, cancelled = true }

local function check(cond, fname, msg)
  if not cond then
    error("scripthut." .. fname .. ": " .. msg, 3)
  end
end

local function check_string(v, fname, what)
  check(type(v) == "string", fname, what .. " must be a string, not " .. type(v))
end

local function check_options(opts, fname)
  check(opts == nil or type(opts) == "table", fname,
    "options must be a table, not " .. type(opts))
  return opts or {}
end

return function(core)
  local M = {
    version = core.version,
    json = cjson,
    null = cjson.null,
    pretty = pretty,
  }

  -- Straight through: their C versions already check arguments and return
  -- plain tables (docs/lua-api.md has the shapes).
  for _, name in ipairs { "server", "config", "backends", "runs", "run", "cancel", "rerun",
    "logs", "exec" } do
    M[name] = core[name]
  end

  -- stacks() -> the configured stacks, each with its identity hash (local
  -- mode: this config; server mode: the server's).
  function M.stacks()
    local out, err, status = core.stack_list()
    if not out then
      return nil, err, status
    end
    return out.stacks or {}
  end

  -- stack_hash(name) -> the 12-hex identity hash of a configured stack.
  function M.stack_hash(name)
    check_string(name, "stack_hash", "the stack name")
    local stacks, err, status = M.stacks()
    if not stacks then
      return nil, err, status
    end
    for _, st in ipairs(stacks) do
      if st.name == name then
        return st.hash
      end
    end
    return nil, ("unknown stack '%s'"):format(name), 404
  end

  -- stack_script(name [, {rebuild = bool}]) -> the install script (local mode)
  function M.stack_script(name, opts)
    check_string(name, "stack_script", "the stack name")
    opts = check_options(opts, "stack_script")
    return core.stack_script(name, opts)
  end

  -- Engine holds nest (a watch callback may watch another run): the engine
  -- is released when the outermost holder ends, even by an error.
  local holders = 0
  local function hold_engine()
    local ok, err, status = core.engine_acquire()
    if not ok then
      return nil, err, status
    end
    holders = holders + 1
    return setmetatable({}, {
      __close = function()
        holders = holders - 1
        if holders == 0 then
          core.engine_release()
        end
      end,
    })
  end

  -- watch(id [, fn | opts]) -> final run detail | nil, err, status
  -- opts: on_event = fn(event, run) (return false to stop watching),
  -- interval = seconds between looks (default 1), timeout = seconds,
  -- after = only events after this sequence number (default 0: all).
  function M.watch(id, opts)
    check_string(id, "watch", "the run id")
    if type(opts) == "function" then
      opts = { on_event = opts }
    end
    opts = check_options(opts, "watch")
    local on_event = opts.on_event
    check(on_event == nil or type(on_event) == "function", "watch",
      "on_event must be a function")
    local interval_ms = math.floor((opts.interval or 1) * 1000)
    local deadline = opts.timeout and core.now_ms() + math.floor(opts.timeout * 1000)
    local hold <close>, err, status = hold_engine()
    if not hold then
      return nil, err, status
    end
    local after = opts.after or 0
    while true do
      -- the detail first: every transition up to its state is in the log
      local run, rerr, rstatus = core.run(id)
      if not run then
        return nil, rerr, rstatus
      end
      if on_event then
        local page, perr, pstatus = core.events(id, after)
        if not page then
          return nil, perr, pstatus
        end
        for _, event in ipairs(page.events) do
          if on_event(event, run) == false then
            return run
          end
        end
        after = page.last_seq or after
      end
      if TERMINAL[run.status] then
        return run
      end
      local wait = interval_ms
      if deadline then
        local left = deadline - core.now_ms()
        if left <= 0 then
          return nil, ("run %s is still %s after the %gs timeout"):format(id, run.status,
            opts.timeout), 408
        end
        wait = math.min(wait, left)
      end
      local ok, werr, wstatus = core.engine_wait(wait)
      if not ok then
        return nil, werr, wstatus
      end
    end
  end

  local function after_submit(run, err, status, opts)
    if run and opts.watch then
      return M.watch(run.id, type(opts.watch) == "table" and opts.watch or nil)
    end
    return run, err, status
  end

  local function is_list(t)
    return t[1] ~= nil
  end

  -- submit(task | {tasks...} | workflow_name [, opts]) -> run summary
  -- opts: backend (default "local", or the workflow's), name (the run's
  -- label), env, env_groups, watch (true or watch options: returns the
  -- final run detail instead).
  function M.submit(tasks, opts)
    opts = check_options(opts, "submit")
    if type(tasks) == "string" then
      local run, err, status = core.workflow_run(tasks, opts.backend)
      return after_submit(run, err, status, opts)
    end
    check(type(tasks) == "table", "submit",
      "expected a task, a list of tasks or a workflow name, not " .. type(tasks))
    check(next(tasks) ~= nil, "submit", "no tasks to submit")
    if not is_list(tasks) then
      local task = {}
      for k, v in pairs(tasks) do
        task[k] = v
      end
      task.id = task.id or "task"
      tasks = { task }
    end
    local name = opts.name
    if name == nil then
      name = #tasks == 1 and "_adhoc/" .. tostring(tasks[1].id) or "_lua"
    end
    local doc = { tasks = tasks, env = opts.env, env_groups = opts.env_groups }
    local run, err, status = core.submit(name, opts.backend or "local", doc)
    return after_submit(run, err, status, opts)
  end

  -- install(stack [, opts]) -> run summary (opts: backend, watch)
  function M.install(stack, opts)
    check_string(stack, "install", "the stack name")
    opts = check_options(opts, "install")
    local run, err, status = core.install(stack, opts)
    return after_submit(run, err, status, opts)
  end

  return M
end
