-- scripthut.config: the configuration DSL, its validation and its layering.
--
-- Config files are Lua chunks run in a sandbox (see new_sandbox) whose
-- globals are the DSL:
--
--   settings { data_dir = "~/.local/share/scripthut", poll_interval = 60 }
--   backend "hpc" { type = "slurm", ssh = { host = "login", user = "me" } }
--   stack "ml" { prep = "...", init = "..." }
--   workflow "sweep" { backend = "hpc", tasks = function() ... end }
--   env { set = { A = "1" } }            -- server-level env rules
--   env_group "gpu" { set = { CUDA = "1" } }
--
-- load() evaluates the files and returns the loaded config: `.config` is the
-- normalised configuration of docs/config-json.md, the rest is kept for
-- workflow_document().  Validation errors are util.error objects whose
-- message starts with the file:line of the declaration.
local util = require "scripthut.util"
local runtime = require "scripthut.runtime"
local check = require "scripthut.check"
local envmod = require "scripthut.env"

local M = {}

local NULL = util.null
-- "noop" jobs succeed at once without running anything: for benchmarks of
-- the engine and for trying a workflow's shape (docs/backends.md).
local BACKEND_TYPES = { "local", "slurm", "pbs", "noop" }

local function raise(where, label, msg, status)
  util.raise(("%s: %s: %s"):format(where, label, msg), status)
end

-- "file:line" of the config code that called the DSL function calling this.
local function caller(layer)
  local info = debug.getinfo(3, "Sl")
  if info and info.source:sub(1, 1) == "@" and info.currentline > 0 then
    return ("%s:%d"):format(info.source:sub(2), info.currentline)
  end
  return layer.file
end

-- ---- schemas -------------------------------------------------------------

local function any(v)
  return v
end

local function path_in(dir)
  return function(v)
    if type(v) ~= "string" or v == "" then
      return nil, "must be a path (a non-empty string)"
    end
    return util.absolute(v, dir)
  end
end

local function default_data_dir()
  local xdg = os.getenv("XDG_DATA_HOME")
  if xdg and xdg:sub(1, 1) == "/" then
    return util.absolute(xdg .. "/scripthut")
  end
  return util.absolute("~/.local/share/scripthut")
end

-- How the CLI authenticates to a server (docs/cli.md, "Server mode"): a
-- bearer token, a Cloudflare Access service token, or an Access token.
local CLI_AUTH_SCHEMA = {
  { "token", check.nonempty_string },
  { "cf_client_id", check.nonempty_string },
  { "cf_client_secret", check.nonempty_string },
  { "cf_access_token", check.nonempty_string },
}

local function api_token_check(v)
  if v == false then
    return false
  end
  local out, err = check.nonempty_string(v)
  if out == nil then
    return nil, err .. " (or false: no token at all)"
  end
  return out
end

local function cli_auth_check(v)
  local out, err = check.fields(v, CLI_AUTH_SCHEMA, "cli_auth.")
  if not out then
    return nil, err, true
  end
  return out
end

local function settings_schema(dir)
  return {
    { "data_dir", path_in(dir), default = default_data_dir },
    { "poll_interval", check.at_least(1), default = 60 },
    { "retention_days", check.nonnegative_integer, default = 30 },
    { "max_concurrent", check.positive_integer, default = 100 },
    { "lua_instruction_limit", check.positive_integer, default = 1000000000 },
    { "lua_memory_limit_mb", check.positive_integer, default = 2048 },
    { "cli_server", check.nonempty_string },
    { "server_host", check.nonempty_string, default = "127.0.0.1" },
    { "server_port", check.port, default = 8000 },
    -- A token string; false: the server asks for none (docs/security.md).
    -- Absent: `serve` uses <data_dir>/api_token, made on its first start.
    { "api_token", api_token_check },
    { "cli_auth", cli_auth_check },
  }
end

local function ssh_schema(dir)
  return {
    -- host may be an alias of ~/.ssh/config, which fills user, port, key_path
    -- and proxy_jump when they are not given here (docs/configuration.md).
    { "host", check.nonempty_string, required = true },
    { "user", check.nonempty_string },
    { "port", check.port },
    { "key_path", path_in(dir) },
    -- OpenSSH user certificates need libssh2 >= 1.11; Debian 12 has 1.10.
    -- Refused rather than ignored, so a config never silently loses one.
    { "cert_path", function()
        return nil, "ssh.cert_path: SSH certificates are not supported (libssh2 1.10 on "
          .. "Debian 12 cannot sign with one); use key_path with a plain ed25519/ECDSA key "
          .. "or an ssh-agent", true
      end },
    { "known_hosts", path_in(dir),
      default = function() return util.absolute("~/.ssh/known_hosts") end },
    { "strict_host_key_checking", check.boolean, default = true },
    { "passphrase_env", check.nonempty_string },
    { "use_agent", check.boolean, default = true },
    { "proxy_jump", check.nonempty_string },
    { "connect_timeout", check.positive_integer, default = 15 },
    { "command_timeout", check.positive_integer, default = 120 },
    { "keepalive", check.positive_integer, default = 30 },
  }
end

local function ssh_check(dir)
  return function(v)
    local out, err = check.fields(v, ssh_schema(dir), "ssh.")
    if not out then
      return nil, err, true
    end
    return out
  end
end

-- Fields every backend object carries in the normalised config, with the
-- value used when its type does not take the field.
local BACKEND_KEYS = {
  { "max_cpus", NULL }, { "account", NULL }, { "login_shell", false },
  { "partition_map", util.object }, { "default_partition", NULL }, { "queue", NULL },
  { "ssh", NULL }, { "log_dir", NULL },
}

local function backend_schema(btype, dir)
  local schema = {
    { "type", any },
    { "max_concurrent", check.positive_integer },   -- default: settings.max_concurrent
    { "env", any },
    { "env_groups", any },
  }
  local function add(f)
    schema[#schema + 1] = f
  end
  if btype == "local" then
    add { "max_cpus", check.positive_integer, default = util.nproc }
  elseif btype == "noop" then
    -- fault injection for tests: the first N submission calls fail as if the
    -- backend could not be reached
    add { "unavailable_submits", check.nonnegative_integer, default = 0 }
    return schema
  else
    add { "ssh", ssh_check(dir) }     -- none: scripthut runs on the login node
    add { "log_dir", check.nonempty_string, default = "~/.scripthut/logs" }
    add { "account", check.nonempty_string }
    add { "login_shell", check.boolean, default = false }
    -- seconds any one scheduler query (squeue, sacct, qstat, scancel...) may
    -- take before the tick gives up on it and changes nothing
    add { "query_timeout", check.positive_integer, default = 60 }
  end
  if btype == "slurm" then
    add { "partition_map", check.string_map, default = util.object }
    add { "default_partition", check.nonempty_string }
    -- seconds between cluster-info queries (sinfo) for `backend status`
    add { "sinfo_interval", check.positive_integer, default = 60 }
  elseif btype == "pbs" then
    add { "queue", check.nonempty_string }
    -- resource syntax and history: select=1:ncpus=N (PBS Pro, OpenPBS) or
    -- nodes=1:ppn=N (Torque)
    add { "flavor", check.one_of { "pbspro", "torque" }, default = "pbspro" }
  end
  return schema
end

local function input_files_in(dir)
  return function(v)
    local files, why = check.string_list(v)
    if not files then
      return nil, why
    end
    for i, f in ipairs(files) do
      files[i] = util.absolute(f, dir)
    end
    return files
  end
end

local function stack_schema(dir)
  return {
    { "backends", check.string_list, default = function() return {} end },
    { "cache_dir", check.nonempty_string, default = "~/.cache/scripthut/stacks" },
    { "inputs", check.string_map, default = util.object },
    { "input_files", input_files_in(dir), default = function() return {} end },
    { "prep", check.string, default = "" },
    { "init", check.string, default = "" },
    { "cpus", check.positive_integer, default = 1 },
    { "memory", check.nonempty_string, default = "4G" },
    { "time_limit", check.string, default = "1:00:00" },
    { "partition", check.nonempty_string },
  }
end

local function tasks_check(v)
  local t = type(v)
  if t == "function" or t == "table" or (t == "string" and v ~= "") then
    return v
  end
  return nil, "must be a function returning tasks, a table of tasks, or a JSON file path"
end

local WORKFLOW_SCHEMA = {
  { "backend", check.nonempty_string, default = "local" },
  { "max_concurrent", check.positive_integer },
  { "description", check.string, default = "" },
  { "tasks", tasks_check, required = true },
  { "env", any },
  { "env_groups", any },
}

-- ---- declarations --------------------------------------------------------

local function fields_or_raise(def, schema, where, label)
  local out, err = check.fields(def, schema)
  if not out then
    raise(where, label, err)
  end
  return out
end

-- env and env_groups fields of a declaration, normalised in place.
local function normalize_env_fields(out, where, label)
  local err
  out.env, err = envmod.normalize_rules(out.env, "env")
  if err then raise(where, label, err) end
  out.env_groups, err = envmod.normalize_groups(out.env_groups, "env_groups")
  if err then raise(where, label, err) end
end

-- Infrastructure stays out of repositories: with a user config, a project
-- file may not declare backends or settings.
local function forbid_in_project(state, layer, where, label, what)
  if layer.kind == "project" and state.files.user then
    raise(where, label, ("%s belong in the user config (%s), not in a project file: keys "
      .. "and hosts stay out of repositories"):format(what, state.files.user))
  end
end

local function declare_settings(state, layer, def, where)
  forbid_in_project(state, layer, where, "settings", "settings")
  if state.settings then
    raise(where, "settings", "already declared at " .. state.settings.where)
  end
  state.settings = { where = where, value = fields_or_raise(def, settings_schema(layer.dir),
                                                            where, "settings") }
end

local function declare_backend(state, layer, name, def, where, label)
  forbid_in_project(state, layer, where, label, "backends")
  local prev = state.backend_by[name]
  if prev then
    raise(where, label, "already defined at " .. prev.defined_at)
  end
  if type(def) ~= "table" then
    raise(where, label, "expected a table of fields, got " .. check.show(def))
  end
  if def.type == nil then
    raise(where, label, 'type is required (one of "local", "slurm", "pbs", "noop")')
  end
  local _, why = check.one_of(BACKEND_TYPES)(def.type)
  if why then
    raise(where, label, ("type %s, got %s"):format(why, check.show(def.type)))
  end
  local out = fields_or_raise(def, backend_schema(def.type, layer.dir), where, label)
  normalize_env_fields(out, where, label)
  for _, k in ipairs(BACKEND_KEYS) do
    if out[k[1]] == nil then
      local d = k[2]
      out[k[1]] = type(d) == "function" and d() or d
    end
  end
  out.name = name
  out.defined_at = where
  state.backend_by[name] = out
  state.backends[#state.backends + 1] = out
end

local function declare_stack(layer, name, def, where, label)
  local prev = layer.stack_by[name]
  if prev then
    raise(where, label, "already defined at " .. prev.defined_at)
  end
  if type(def) ~= "table" then
    raise(where, label, "expected a table of fields, got " .. check.show(def))
  end
  if def.name ~= nil then
    if def.name ~= name then
      raise(where, label, ("name %s does not match the declared name"):format(check.show(def.name)))
    end
    local copy = {}
    for k, v in pairs(def) do
      copy[k] = v
    end
    copy.name = nil
    def = copy
  end
  local out = fields_or_raise(def, stack_schema(layer.dir), where, label)
  out.name = name
  out.defined_at = where
  layer.stack_by[name] = out
  layer.stacks[#layer.stacks + 1] = out
end

local function declare_workflow(layer, name, def, where, label)
  local prev = layer.workflow_by[name]
  if prev then
    raise(where, label, "already defined at " .. prev.defined_at)
  end
  local out = fields_or_raise(def, WORKFLOW_SCHEMA, where, label)
  normalize_env_fields(out, where, label)
  local tasks = out.tasks
  out.tasks_source = type(tasks) == "function" and "function"
    or type(tasks) == "table" and "table" or "file"
  out.tasks_file = out.tasks_source == "file" and util.absolute(tasks, layer.dir) or NULL
  out.name = name
  out.defined_at = where
  layer.workflow_by[name] = out
  layer.workflows[#layer.workflows + 1] = out
end

local function declare_env(layer, rules, where)
  local list, err = envmod.normalize_rules(rules, "env")
  if not list then
    raise(where, "env", err)
  end
  for _, r in ipairs(list) do
    layer.env[#layer.env + 1] = r
  end
end

local function declare_env_group(layer, name, rules, where, label)
  local prev = layer.env_group_at[name]
  if prev then
    raise(where, label, "already defined at " .. prev)
  end
  local list, err = envmod.normalize_rules(rules, "rules")
  if not list then
    raise(where, label, err)
  end
  layer.env_groups[name] = list
  layer.env_group_at[name] = where
end

-- `kind "name" { ... }`: the first call takes the name (and the location),
-- the second the definition.
local function named(layer, kind, handler)
  return function(name)
    local where = caller(layer)
    if type(name) ~= "string" or name == "" then
      raise(where, kind, ('expected a name, as in %s "name" { ... }, got %s'):format(kind,
        check.show(name)))
    end
    local label = ('%s "%s"'):format(kind, name)
    local token = { where = where, label = label, kind = kind }
    layer.pending[token] = true
    return function(def)
      layer.pending[token] = nil
      handler(name, def, where, label)
      return nil
    end
  end
end

-- ---- sandbox -------------------------------------------------------------

local function shallow_copy(t)
  local out = {}
  for k, v in pairs(t) do
    out[k] = v
  end
  return out
end

local SAFE_GLOBALS = {
  "assert", "error", "ipairs", "next", "pairs", "pcall", "rawequal", "rawget", "rawlen",
  "rawset", "select", "setmetatable", "tonumber", "tostring", "type", "xpcall", "_VERSION",
}

local function sandbox_print(...)
  local parts = {}
  for i = 1, select("#", ...) do
    parts[i] = tostring((select(i, ...)))
  end
  io.stderr:write(table.concat(parts, "\t"), "\n")
end

local function sandbox_open(path, mode)
  mode = mode or "r"
  if mode ~= "r" and mode ~= "rb" then
    error("io.open: config files may only open files for reading (mode \"r\")", 2)
  end
  return io.open(path, mode)
end

local function sandbox_lines(path, ...)
  if path == nil then
    error("io.lines: config files must name a file", 2)
  end
  return io.lines(path, ...)
end

-- require inside the sandbox: modules from the user override directories,
-- then built-in stacks.* and scripthut.* modules, each loaded into the
-- sandbox's own environment (so they are sandboxed too and cannot change the
-- host's copies).  Nothing else: require "os" is an error.
local function sandbox_require(env, cache)
  return function(name)
    if type(name) ~= "string" then
      error("require: module name must be a string", 2)
    end
    if cache[name] ~= nil then
      return cache[name]
    end
    local value
    local file = package.searchpath(name, runtime.user_path())
    if file then
      local chunk, err = loadfile(file, "t", env)
      if not chunk then
        error(err, 2)
      end
      value = chunk(name, file)
    elseif name == "cjson" then
      value = require("cjson").new()
    elseif name == "scripthut.util" then
      value = shallow_copy(util)
    elseif name:match("^stacks%.") or name:match("^scripthut%.") then
      local source, chunkname = runtime.embedded_source(name)
      if not source then
        error(("module '%s' not found (no built-in module of that name)"):format(name), 2)
      end
      local chunk = assert(load(source, chunkname, "t", env))
      value = chunk(name, chunkname:sub(2))
    else
      error(("module '%s' is not available in config files: only stacks.*, scripthut.* and "
        .. "modules in the user directories (%s)"):format(name, runtime.user_path()), 2)
    end
    if value == nil then
      value = true
    end
    cache[name] = value
    return value
  end
end

-- pcall, xpcall and coroutine.resume of the sandbox: like the real ones, but
-- a limit error (instructions, memory) is raised again, so a config cannot
-- catch it and carry on.
local function rethrow_limits(ok, ...)
  if not ok then
    local err = ...
    if runtime.limit_exceeded() or err == "not enough memory" then
      error(err, 0)
    end
  end
  return ok, ...
end

local function sandbox_pcall(f, ...)
  return rethrow_limits(pcall(f, ...))
end

local function sandbox_xpcall(f, handler, ...)
  return rethrow_limits(xpcall(f, handler, ...))
end

local function sandbox_resume(co, ...)
  return rethrow_limits(coroutine.resume(co, ...))
end

-- A __gc metamethod would run later, outside the sandbox's limits.
local function sandbox_setmetatable(t, mt)
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    error("setmetatable: __gc metamethods are not allowed in config files", 2)
  end
  return setmetatable(t, mt)
end

local function new_sandbox(state, layer)
  local env = {}
  for _, name in ipairs(SAFE_GLOBALS) do
    env[name] = _G[name]
  end
  env.setmetatable = sandbox_setmetatable
  env.string = shallow_copy(string)
  env.string.dump = nil
  env.table = shallow_copy(table)
  env.math = shallow_copy(math)
  env.utf8 = shallow_copy(utf8)
  env.coroutine = shallow_copy(coroutine)
  env.coroutine.resume = sandbox_resume
  env.pcall = sandbox_pcall
  env.xpcall = sandbox_xpcall
  env.os = { getenv = os.getenv, time = os.time, clock = os.clock, date = os.date,
             difftime = os.difftime }
  env.io = { open = sandbox_open, lines = sandbox_lines }
  env.print = sandbox_print
  env.getmetatable = function(v)
    if type(v) == "table" then
      return getmetatable(v)
    end
    return nil
  end
  env.load = function(chunk, name, _, chunk_env)
    return load(chunk, name, "t", chunk_env == nil and env or chunk_env)
  end
  env.require = sandbox_require(env, {})
  env._G = env

  env.settings = function(def)
    declare_settings(state, layer, def, caller(layer))
  end
  env.backend = named(layer, "backend", function(name, def, where, label)
    declare_backend(state, layer, name, def, where, label)
  end)
  env.stack = named(layer, "stack", function(name, def, where, label)
    declare_stack(layer, name, def, where, label)
  end)
  env.workflow = named(layer, "workflow", function(name, def, where, label)
    declare_workflow(layer, name, def, where, label)
  end)
  env.env = function(rules)
    declare_env(layer, rules, caller(layer))
  end
  env.env_group = named(layer, "env_group", function(name, rules, where, label)
    declare_env_group(layer, name, rules, where, label)
  end)
  return env
end

-- ---- loading -------------------------------------------------------------

local function new_layer(path, kind)
  return {
    file = path, dir = util.dirname(path), kind = kind,
    stacks = {}, stack_by = {}, workflows = {}, workflow_by = {},
    env = {}, env_groups = {}, env_group_at = {}, pending = {},
  }
end

local function check_pending(layer)
  local first
  for token in pairs(layer.pending) do
    if not first or token.where < first.where then
      first = token
    end
  end
  if first then
    raise(first.where, first.label, ('declared without a definition; write %s { ... }')
      :format(first.label))
  end
end

local function load_file(state, path, kind)
  local layer = new_layer(path, kind)
  runtime.set_context(path)
  local chunk, err = loadfile(path, "t", new_sandbox(state, layer))
  if not chunk then
    util.raise(err)
  end
  chunk()
  check_pending(layer)
  state.layers[#state.layers + 1] = layer
end

-- Later layers (the project file) win by name; new names are appended.
local function merge_named(layers, field)
  local list, index = {}, {}
  for _, layer in ipairs(layers) do
    for _, item in ipairs(layer[field]) do
      local i = index[item.name]
      if i then
        list[i] = item
      else
        list[#list + 1] = item
        index[item.name] = #list
      end
    end
  end
  return list, index
end

local function builtin_local(settings)
  return {
    name = "local", type = "local", max_concurrent = settings.max_concurrent,
    max_cpus = util.nproc(), account = NULL, login_shell = false,
    partition_map = util.object(), default_partition = NULL, queue = NULL, ssh = NULL,
    log_dir = NULL, env = {}, env_groups = util.object(), defined_at = "(built-in)",
  }
end

local function backend_names(backends)
  local names = {}
  for i, b in ipairs(backends) do
    names[i] = b.name
  end
  return table.concat(names, ", ")
end

local function finalize(state)
  local settings = state.settings and state.settings.value
    or assert(check.fields({}, settings_schema(util.getcwd() or "/")))
  local backends = {}
  if not state.backend_by["local"] then
    backends[1] = builtin_local(settings)
  end
  for _, b in ipairs(state.backends) do
    if b.max_concurrent == NULL then
      b.max_concurrent = settings.max_concurrent
    end
    backends[#backends + 1] = b
  end
  local known = {}
  for _, b in ipairs(backends) do
    known[b.name] = true
  end
  local stacks = merge_named(state.layers, "stacks")
  local workflows = merge_named(state.layers, "workflows")
  local env, groups = {}, util.object()
  for _, layer in ipairs(state.layers) do
    for _, r in ipairs(layer.env) do
      env[#env + 1] = r
    end
    for name, rules in pairs(layer.env_groups) do
      groups[name] = rules
    end
  end
  local by_name, public = {}, {}
  for i, wf in ipairs(workflows) do
    if not known[wf.backend] then
      raise(wf.defined_at, ('workflow "%s"'):format(wf.name), ('backend "%s" is not defined '
        .. "(defined backends: %s)"):format(wf.backend, backend_names(backends)))
    end
    by_name[wf.name] = wf
    public[i] = {
      name = wf.name, backend = wf.backend, max_concurrent = wf.max_concurrent,
      description = wf.description, tasks_source = wf.tasks_source,
      tasks_file = wf.tasks_file, defined_at = wf.defined_at,
    }
  end
  local files = state.files
  return {
    config = {
      files = util.object { explicit = files.explicit or NULL, user = files.user or NULL,
                            project = files.project or NULL },
      settings = util.object(settings),
      backends = backends,
      stacks = stacks,
      workflows = public,
      env = env,
      env_groups = groups,
    },
    workflows = by_name,
  }
end

local function file_arg(v)
  if v == nil or v == NULL then
    return nil
  end
  return v
end

-- load{explicit = path, user = path, project = path} -> loaded config
-- With `explicit`, exactly that file; else the user file, then the project
-- file layered over it.  Paths should be absolute.
function M.load(files)
  files = files or {}
  local state = {
    files = { explicit = file_arg(files.explicit), user = file_arg(files.user),
              project = file_arg(files.project) },
    layers = {}, backends = {}, backend_by = {},
  }
  if state.files.explicit then
    state.files.user, state.files.project = nil, nil
    load_file(state, state.files.explicit, "explicit")
  else
    if state.files.user then
      load_file(state, state.files.user, "user")
    end
    if state.files.project then
      load_file(state, state.files.project, "project")
    end
  end
  return finalize(state)
end

-- Whether a file's text declares settings: for a file that did not load,
-- whose settings are then unknown rather than the defaults.
local function declares_settings(path)
  local f = io.open(path, "rb")
  if not f then
    return false
  end
  local text = f:read("a")
  f:close()
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    if line:match("^%s*settings%s*[{(\"']") or line:match("^%s*settings%s*$") then
      return true
    end
  end
  return false
end

local function message_of(err)
  if type(err) == "table" and err.message then
    return err.message
  end
  return tostring(err)
end

-- load_settings{explicit = path, user = path, project = path} -> loaded config
-- For the commands that need only the settings (data dir, server, auth), when
-- load() failed: the one file that may hold the settings is evaluated alone
-- (the explicit file, else the user file, else the project file, which may
-- hold settings only when there is no user file).  A file that fails after its
-- settings block still gives them; one that fails before (or does not parse)
-- gives none: an error when its text declares settings, the defaults
-- otherwise.  `config.files.settings` names the file the settings came from.
function M.load_settings(files)
  files = files or {}
  local state = {
    files = { explicit = file_arg(files.explicit), user = file_arg(files.user),
              project = file_arg(files.project) },
    layers = {}, backends = {}, backend_by = {},
  }
  local path, kind = state.files.explicit, "explicit"
  if path then
    state.files.user, state.files.project = nil, nil
  elseif state.files.user then
    path, kind = state.files.user, "user"
  else
    path, kind = state.files.project, "project"
  end
  if path then
    local ok, err = pcall(load_file, state, path, kind)
    if not ok and not state.settings and declares_settings(path) then
      util.raise("cannot establish the settings (data dir, server): " .. message_of(err))
    end
  end
  local loaded = finalize(state)
  loaded.config.files.settings = state.settings and path or NULL
  return loaded
end

-- ---- workflow documents --------------------------------------------------

local function read_json_file(path, label, where)
  local f, err = io.open(path, "rb")
  if not f then
    raise(where, label, "cannot read tasks file: " .. err, 404)
  end
  local text = f:read("a")
  f:close()
  local value, jerr = util.json_decode(text)
  if value == nil then
    raise(where, label, ("%s: invalid JSON: %s"):format(path, jerr))
  end
  return value
end

-- A tasks value (function result, table, file) -> {tasks, env, env_groups}.
local function shape_document(v, label, where, what)
  if type(v) ~= "table" then
    raise(where, label, ("%s must be a list of tasks or a table with a 'tasks' field, got %s")
      :format(what, check.show(v)))
  end
  if v.tasks ~= nil then
    if type(v.tasks) ~= "table" or not check.is_list(v.tasks) then
      raise(where, label, ("%s: 'tasks' must be a list of tasks, got %s"):format(what,
        check.show(v.tasks)))
    end
    return { tasks = v.tasks, env = v.env, env_groups = v.env_groups }
  end
  if not check.is_list(v) then
    raise(where, label, ("%s must be a list of tasks or a table with a 'tasks' field"):format(what))
  end
  return { tasks = v }
end

local function normalize_tasks(tasks, label, where)
  for i, t in ipairs(tasks) do
    if type(t) ~= "table" then
      raise(where, label, ("tasks[%d] must be a table, got %s"):format(i, check.show(t)))
    end
    if t.env ~= nil and t.env ~= NULL then
      local rules, err = envmod.normalize_rules(t.env, ("tasks[%d].env"):format(i))
      if not rules then
        raise(where, label, err)
      end
      t.env = rules
    end
  end
end

-- workflow_document(loaded, name) -> {tasks = {...}, env = rules, env_groups = map}
-- Evaluates the workflow's tasks (calling its function, reading its file).
-- The document env is the workflow's own `env` followed by the env of the
-- function result or file; groups likewise (the document's win by name).
function M.workflow_document(loaded, name)
  local wf = loaded.workflows[name]
  if not wf then
    local names = {}
    for n in pairs(loaded.workflows) do
      names[#names + 1] = n
    end
    table.sort(names)
    util.raise(('unknown workflow "%s"; %s'):format(name, #names > 0
      and "known workflows: " .. table.concat(names, ", ") or "no workflows are defined"), 404)
  end
  local label, where = ('workflow "%s"'):format(name), wf.defined_at
  runtime.set_context(('%s (%s)'):format(label, where))
  local doc
  if wf.tasks_source == "function" then
    doc = shape_document(wf.tasks(), label, where, "the tasks function's result")
  elseif wf.tasks_source == "table" then
    doc = shape_document(wf.tasks, label, where, "tasks")
  else
    doc = shape_document(read_json_file(wf.tasks_file, label, where), label, where,
      wf.tasks_file)
  end
  normalize_tasks(doc.tasks, label, where)
  local doc_env, err = envmod.normalize_rules(doc.env, "env")
  if not doc_env then
    raise(where, label, err)
  end
  local doc_groups
  doc_groups, err = envmod.normalize_groups(doc.env_groups, "env_groups")
  if not doc_groups then
    raise(where, label, err)
  end
  local env = {}
  for _, r in ipairs(wf.env) do
    env[#env + 1] = r
  end
  for _, r in ipairs(doc_env) do
    env[#env + 1] = r
  end
  local groups = util.object()
  for k, v in pairs(wf.env_groups) do
    groups[k] = v
  end
  for k, v in pairs(doc_groups) do
    groups[k] = v
  end
  return { tasks = doc.tasks, env = env, env_groups = groups }
end

return M
