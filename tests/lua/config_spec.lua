-- scripthut.config: the DSL, its defaults, validation errors (file:line and
-- field), layering and the sandbox.
local config = require "scripthut.config"
local util = require "scripthut.util"
local support = require "support"

local NULL = util.null

-- Loads one file holding `text` (explicit). Returns the loaded config.
local function load_text(text)
  local dir = support.tmpdir()
  local path = support.write(dir, "scripthut.lua", text)
  return config.load { explicit = path }, path, dir
end

-- Loading `text` must fail: returns the message with the file path replaced
-- by "F", and the status.
local function load_error(text)
  local dir = support.tmpdir()
  local path = support.write(dir, "scripthut.lua", text)
  local msg, status = support.error_of(config.load, { explicit = path })
  return (msg:gsub(path:gsub("%p", "%%%0"), "F")), status
end

local function named(list, name)
  for _, item in ipairs(list) do
    if item.name == name then
      return item
    end
  end
end

describe("config defaults", function()
  it("with no files: default settings and the built-in local backend", function()
    local c = config.load({}).config
    local home = support.home()
    assert.are.same({
      data_dir = home .. "/.local/share/scripthut", poll_interval = 60, retention_days = 30,
      max_concurrent = 100, lua_instruction_limit = 1000000000, lua_memory_limit_mb = 2048,
      cli_server = NULL, server_host = "127.0.0.1", server_port = 8000, api_token = NULL,
      cli_auth = NULL,
    }, c.settings)
    assert.are.equal(1, #c.backends)
    local b = c.backends[1]
    assert.are.equal("local", b.name)
    assert.are.equal("local", b.type)
    assert.are.equal(100, b.max_concurrent)
    assert.are.equal(util.nproc(), b.max_cpus)
    assert.are.equal("(built-in)", b.defined_at)
    assert.is_true(util.is_object(b.partition_map))
    assert.are.same({}, c.stacks)
    assert.are.same({}, c.workflows)
    assert.are.same({}, c.env)
    assert.is_true(util.is_object(c.env_groups))
    assert.are.equal(NULL, c.files.explicit)
  end)

  it("converts to the JSON shape of docs/config-json.md", function()
    local text = util.json_encode(config.load({}).config)
    assert.matches('"env_groups":{}', text, 1, true)
    assert.matches('"partition_map":{}', text, 1, true)
    assert.matches('"stacks":[]', text, 1, true)
    assert.matches('"files":{"explicit":null,"project":null,"user":null}', text, 1, true)
  end)

  it("fills every field of a declared backend, stack and workflow", function()
    local loaded, path = load_text([[
settings { max_concurrent = 7, data_dir = "data" }
backend "hpc" {
  type = "slurm", account = "acct",
  ssh = { host = "login.example", user = "me" },
}
backend "pbs1" { type = "pbs", queue = "q", ssh = { host = "h", user = "u", port = 2222 } }
stack "ml" { prep = "make", input_files = { "req.txt", "/abs/x" } }
workflow "w" { tasks = {} }
workflow "f" { tasks = "flows/f.json", backend = "hpc", max_concurrent = 3 }
]])
    local c = loaded.config
    local dir = util.dirname(path)
    assert.are.equal(dir .. "/data", c.settings.data_dir)
    local hpc = named(c.backends, "hpc")
    assert.are.same({
      name = "hpc", type = "slurm", max_concurrent = 7, max_cpus = NULL, account = "acct",
      login_shell = false, partition_map = {}, default_partition = NULL, queue = NULL,
      ssh = { host = "login.example", user = "me", port = NULL, key_path = NULL, cert_path = NULL,
              known_hosts = support.home() .. "/.ssh/known_hosts", strict_host_key_checking = true,
              passphrase_env = NULL, use_agent = true, proxy_jump = NULL, connect_timeout = 15,
              command_timeout = 120, keepalive = 30 },
      log_dir = "~/.scripthut/logs", sinfo_interval = 60, query_timeout = 60,
      env = {}, env_groups = {}, defined_at = path .. ":2",
    }, hpc)
    assert.are.equal("q", named(c.backends, "pbs1").queue)
    assert.are.equal(2222, named(c.backends, "pbs1").ssh.port)
    assert.is_not_nil(named(c.backends, "local"))
    assert.are.same({
      name = "ml", backends = {}, cache_dir = "~/.cache/scripthut/stacks", inputs = {},
      input_files = { dir .. "/req.txt", "/abs/x" }, prep = "make", init = "", cpus = 1,
      memory = "4G", time_limit = "1:00:00", partition = NULL, defined_at = path .. ":7",
    }, c.stacks[1])
    assert.are.same({ name = "w", backend = "local", max_concurrent = NULL, description = "",
                      tasks_source = "table", tasks_file = NULL, defined_at = path .. ":8" },
      c.workflows[1])
    assert.are.equal("file", c.workflows[2].tasks_source)
    assert.are.equal(dir .. "/flows/f.json", c.workflows[2].tasks_file)
    assert.are.equal(3, c.workflows[2].max_concurrent)
  end)

  it("expands ~ in data_dir", function()
    local c = load_text('settings { data_dir = "~/sh" }').config
    assert.are.equal(support.home() .. "/sh", c.settings.data_dir)
  end)

  it("lets the config replace the built-in local backend", function()
    local c = load_text('backend "local" { type = "local", max_cpus = 3 }').config
    assert.are.equal(1, #c.backends)
    assert.are.equal(3, c.backends[1].max_cpus)
  end)

  it("takes a stack from a function's result, as a stack module would give it", function()
    local c = load_text([[
local function venv(o) return { prep = "python -m venv", cpus = o.cpus } end
stack "ml" (venv { cpus = 4 })
]]).config
    assert.are.equal(4, c.stacks[1].cpus)
  end)

  it("collects env rules and env groups", function()
    local c = load_text([[
env { set = { A = "1" } }
env { { append = { P = "/x" } }, { init = "echo hi" } }
env_group "gpu" { set = { CUDA = "1" } }
env_group "two" { { set = { X = "1" } }, { include = { "gpu" } } }
]]).config
    assert.are.equal('[{"set":{"A":"1"}},{"append":{"P":"/x"}},{"init":"echo hi"}]',
      util.json_encode(c.env))
    assert.are.equal('{"gpu":[{"set":{"CUDA":"1"}}],"two":[{"set":{"X":"1"}},'
      .. '{"include":["gpu"]}]}', util.json_encode(c.env_groups))
  end)
end)

describe("config validation errors", function()
  local cases = {
    { 'settings { poll_interval = 0 }',
      "F:1: settings: poll_interval must be a number >= 1, got 0" },
    { 'settings { pol_interval = 5 }',
      'F:1: settings: unknown field "pol_interval" (did you mean "poll_interval"?)' },
    { 'settings { server_port = 70000 }',
      "F:1: settings: server_port must be a port number (1-65535), got 70000" },
    { 'settings {}\nsettings {}', "F:2: settings: already declared at F:1" },
    { '\nbackend "hpc" { type = "slurm", max_concurrent = "ten", ssh = { host = "h", user = "u" } }',
      'F:2: backend "hpc": max_concurrent must be a positive integer, got "ten"' },
    { 'backend "b" { max_concurrent = 1 }',
      'F:1: backend "b": type is required (one of "local", "slurm", "pbs", "noop")' },
    { 'backend "b" { type = "aws" }',
      'F:1: backend "b": type must be one of "local", "slurm", "pbs", "noop", got "aws"' },
    { 'backend "b" { type = "slurm", ssh = { user = "u" } }',
      'F:1: backend "b": ssh.host is required' },
    { 'backend "b" { type = "slurm", ssh = { host = "h", user = "u", prot = 1 } }',
      'F:1: backend "b": unknown field "ssh.prot" (did you mean "port"?)' },
    { 'backend "b" { type = "slurm", ssh = { host = "h", cert_path = "~/.ssh/id-cert.pub" } }',
      'F:1: backend "b": ssh.cert_path: SSH certificates are not supported (libssh2 1.10 on '
        .. 'Debian 12 cannot sign with one); use key_path with a plain ed25519/ECDSA key or an '
        .. 'ssh-agent' },
    { 'backend "b" { type = "slurm", ssh = { host = "h" }, query_timeout = 0 }',
      'F:1: backend "b": query_timeout must be a positive integer, got 0' },
    { 'backend "b" { type = "local", account = "x" }',
      'F:1: backend "b": unknown field "account"' },
    { 'backend "b" { type = "slurm", ssh = { host = "h", user = "u" }, queue = "q" }',
      'F:1: backend "b": unknown field "queue"' },
    { 'backend "b" { type = "local" }\nbackend "b" { type = "local" }',
      'F:2: backend "b": already defined at F:1' },
    { 'backend { type = "local" }',
      'F:1: backend: expected a name, as in backend "name" { ... }, got a table' },
    { 'backend "b" "x"', 'F:1: backend "b": expected a table of fields, got "x"' },
    { 'backend "b"', 'F:1: backend "b": declared without a definition; write backend "b" { ... }' },
    { 'backend "b" { type = "local", env = { sett = {} } }',
      'F:1: backend "b": env: unknown field "sett" (did you mean "set"?)' },
    { 'stack "s" { cpus = 0 }', 'F:1: stack "s": cpus must be a positive integer, got 0' },
    { 'stack "s" { name = "t" }', 'F:1: stack "s": name "t" does not match the declared name' },
    { 'stack "s" { inputs = { a = 1 } }',
      'F:1: stack "s": inputs must be a table of string keys to string values (entry ["a"] = 1), '
        .. "got a table" },
    { 'stack "s" {}\nstack "s" {}', 'F:2: stack "s": already defined at F:1' },
    { 'workflow "w" {}', 'F:1: workflow "w": tasks is required' },
    { 'workflow "w" { tasks = 3 }',
      'F:1: workflow "w": tasks must be a function returning tasks, a table of tasks, or a JSON '
        .. "file path, got 3" },
    { 'workflow "w" { tasks = {}, backend = "hpc" }',
      'F:1: workflow "w": backend "hpc" is not defined (defined backends: local)' },
    { 'workflow "w" { tasks = {}, max_concurrent = -1 }',
      'F:1: workflow "w": max_concurrent must be a positive integer, got -1' },
    { 'workflow "w" { tasks = {} }\nworkflow "w" { tasks = {} }',
      'F:2: workflow "w": already defined at F:1' },
    { 'env { set = { A = 1 } }', "F:1: env: env.set.A must be a string, got 1" },
    { 'env_group "g" {}\nenv_group "g" {}', 'F:2: env_group "g": already defined at F:1' },
    { 'env_group "g" { init = false }', 'F:1: env_group "g": rules.init must be a string, got false' },
  }
  for _, case in ipairs(cases) do
    it(case[2], function()
      local msg, status = load_error(case[1])
      assert.are.equal(case[2], msg)
      assert.are.equal(422, status)
    end)
  end

  it("names the line of a declaration inside a helper function", function()
    local msg = load_error('local function mk(n)\n  backend(n) { type = "x" }\nend\nmk("a")\n')
    assert.are.equal('F:2: backend "a": type must be one of "local", "slurm", "pbs", "noop", got "x"', msg)
  end)

  it("reports a syntax error with file and line", function()
    local msg = load_error("x = = 1")
    assert.matches("^F:1: unexpected symbol near '='", msg)
  end)

  it("reports a runtime error with file, line and a traceback", function()
    local msg = load_error("\nlocal t = nil\nprint(t.x)\n")
    assert.matches("^F:3: attempt to index a nil value", msg)
  end)
end)

describe("config layering", function()
  local function layered(user_text, project_text)
    local dir = support.tmpdir()
    local files = {}
    if user_text then
      files.user = support.write(dir, "user/config.lua", user_text)
    end
    if project_text then
      files.project = support.write(dir, "proj/scripthut.lua", project_text)
    end
    return files
  end

  it("puts the project file over the user file", function()
    local files = layered([[
settings { poll_interval = 5 }
backend "hpc" { type = "local" }
stack "a" { init = "user a" }
stack "b" { init = "user b" }
workflow "w" { tasks = { { id = "user" } } }
env { set = { U = "1" } }
env_group "g" { set = { G = "user" } }
env_group "h" { set = { H = "user" } }
]], [[
stack "a" { init = "project a" }
stack "c" { init = "project c" }
workflow "w" { tasks = { { id = "project" } }, backend = "hpc" }
env { set = { P = "1" } }
env_group "g" { set = { G = "project" } }
]])
    local loaded = config.load(files)
    local c = loaded.config
    assert.are.equal(5, c.settings.poll_interval)
    assert.are.same({ "a", "b", "c" }, { c.stacks[1].name, c.stacks[2].name, c.stacks[3].name })
    assert.are.equal("project a", c.stacks[1].init)
    assert.are.equal(files.project .. ":1", c.stacks[1].defined_at)
    assert.are.equal(1, #c.workflows)
    assert.are.equal("hpc", c.workflows[1].backend)
    assert.are.equal("project", config.workflow_document(loaded, "w").tasks[1].id)
    assert.are.equal('[{"set":{"U":"1"}},{"set":{"P":"1"}}]', util.json_encode(c.env))
    assert.are.equal("project", c.env_groups.g[1].set[1][2])
    assert.are.equal("user", c.env_groups.h[1].set[1][2])
    assert.are.equal(files.user, c.files.user)
    assert.are.equal(files.project, c.files.project)
  end)

  it("refuses backends in the project file when a user file exists", function()
    local files = layered("", 'backend "hpc" { type = "local" }')
    local msg = support.error_of(config.load, files)
    assert.are.equal(files.project .. ':1: backend "hpc": backends belong in the user config ('
      .. files.user .. "), not in a project file: keys and hosts stay out of repositories", msg)
  end)

  it("refuses settings in the project file when a user file exists", function()
    local files = layered("", 'settings { poll_interval = 5 }')
    local msg = support.error_of(config.load, files)
    assert.matches(": settings: settings belong in the user config", msg, 1, true)
  end)

  it("lets a project file alone define everything", function()
    local files = layered(nil, 'settings { poll_interval = 2 }\nbackend "hpc" { type = "local" }')
    local c = config.load(files).config
    assert.are.equal(2, c.settings.poll_interval)
    assert.is_not_nil(named(c.backends, "hpc"))
  end)

  it("with an explicit file loads only that file", function()
    local files = layered('stack "u" {}', 'stack "p" {}')
    local explicit = support.write(support.tmpdir(), "x.lua", 'stack "e" {}\nbackend "b" { type = "local" }')
    files.explicit = explicit
    local c = config.load(files).config
    assert.are.equal(1, #c.stacks)
    assert.are.equal("e", c.stacks[1].name)
    assert.are.equal(explicit, c.files.explicit)
    assert.are.equal(NULL, c.files.user)
  end)
end)

describe("settings alone (load_settings)", function()
  local function files(user_text, project_text)
    local dir = support.tmpdir()
    return {
      user = user_text and support.write(dir, "config.lua", user_text),
      project = project_text and support.write(dir, "scripthut.lua", project_text),
    }
  end

  it("takes the user file's settings and ignores a broken project file", function()
    local f = files('settings { poll_interval = 7 }', 'workflow "x" {')
    local c = config.load_settings(f).config
    assert.are.equal(7, c.settings.poll_interval)
    assert.are.equal(f.user, c.files.settings)
    assert.are.same({}, c.workflows)
  end)

  it("keeps settings declared before the error, and the backends before it", function()
    local f = files('settings { poll_interval = 9 }\nbackend "a" { type = "noop" }\n'
      .. 'backend "b" { type = "nope" }')
    local c = config.load_settings(f).config
    assert.are.equal(9, c.settings.poll_interval)
    assert.is_not_nil(named(c.backends, "a"))
    assert.is_nil(named(c.backends, "b"))
  end)

  it("refuses when a file that declares settings fails before them", function()
    for _, text in ipairs { 'settings { data_dir = 42 }', 'backend "b" { type = "nope" }\n'
      .. 'settings { }', 'settings {' } do
      local msg = support.error_of(config.load_settings, files(text))
      assert.is_truthy(msg:find("cannot establish the settings (data dir, server): ", 1, true),
        msg)
    end
  end)

  it("uses the defaults when the failing file has no settings", function()
    local f = files(nil, 'workflow "x" {')
    local c = config.load_settings(f).config
    assert.are.equal(60, c.settings.poll_interval)
    assert.are.equal(NULL, c.files.settings)
  end)
end)

describe("config sandbox", function()
  it("offers the safe standard library and no process or file-writing functions", function()
    load_text([[
assert(string.format and table.concat and math.floor and utf8.char and coroutine.wrap)
assert(os.getenv("HOME") and os.time() and os.clock() and os.date("%Y"))
assert(os.execute == nil and os.remove == nil and os.rename == nil and os.exit == nil)
assert(io.popen == nil and io.write == nil and io.output == nil)
assert(debug == nil and package == nil and dofile == nil and loadfile == nil)
assert(collectgarbage == nil and string.dump == nil)
assert(not pcall(io.open, "/tmp/x", "w"))
assert(not pcall(io.open, "/tmp/x", "r+"))
assert(getmetatable("") == nil)
assert(not pcall(setmetatable, {}, { __gc = function() end }))
assert(getmetatable(setmetatable({}, { __index = {} })).__index)
assert(load("return os")() == os)
assert(load("return 1 + 1")() == 2)
]])
  end)

  it("refuses require of standard modules", function()
    for _, name in ipairs({ "os", "io", "debug", "package" }) do
      local msg = load_error(('local m = require "%s"'):format(name))
      assert.matches("^F:1: module '" .. name .. "' is not available in config files", msg)
    end
  end)

  it("loads built-in modules into the sandbox, not the host's copies", function()
    load_text([[
local env = require "scripthut.env"
assert(type(env.resolve) == "function")
env.resolve = nil
assert(require("scripthut.env") == env)
local cjson = require "cjson"
assert(cjson.decode("[1]")[1] == 1)
]])
    assert.is_function(require("scripthut.env").resolve)
  end)

  it("loads modules from the user lua directory, sandboxed", function()
    local dir = os.getenv("XDG_CONFIG_HOME") .. "/scripthut/lua"
    support.write(dir, "mystacks.lua", 'return { has_execute = os.execute ~= nil, n = 42 }')
    local loaded = load_text([[
local m = require "mystacks"
assert(m.n == 42 and m.has_execute == false)
]])
    assert.is_not_nil(loaded)
    os.remove(dir .. "/mystacks.lua")
  end)

  it("prints to stderr, never to stdout", function()
    -- Capture what reaches io.stderr and the real print (stdout) while the
    -- config loads; restore both whatever happens.
    local err, out = {}, {}
    local real_stderr, real_print = io.stderr, print
    io.stderr = {
      write = function(self, ...)
        for i = 1, select("#", ...) do
          err[#err + 1] = tostring((select(i, ...)))
        end
        return self
      end,
    }
    print = function(...)
      out[#out + 1] = table.concat({ ... }, "\t")
    end
    local ok, loaded = pcall(load_text, 'print("config says hi", 42, nil)')
    io.stderr, print = real_stderr, real_print
    assert(ok, loaded)
    assert.are.equal("config says hi\t42\tnil\n", table.concat(err))
    assert.are.same({}, out)
  end)
end)

describe("workflow documents", function()
  it("calls a tasks function lazily, each time", function()
    local loaded = load_text([[
local calls = 0
workflow "w" {
  env = { set = { W = "1" } },
  env_groups = { g = { set = { G = "1" } } },
  tasks = function()
    calls = calls + 1
    return { { id = "t" .. calls, command = "true", env = { set = { B = "2", A = "1" } } } }
  end,
}
]])
    local doc = config.workflow_document(loaded, "w")
    assert.are.equal("t1", doc.tasks[1].id)
    assert.are.equal('[{"set":{"A":"1","B":"2"}}]', util.json_encode(doc.tasks[1].env))
    assert.are.equal('[{"set":{"W":"1"}}]', util.json_encode(doc.env))
    assert.are.equal('{"g":[{"set":{"G":"1"}}]}', util.json_encode(doc.env_groups))
    assert.are.equal("t2", config.workflow_document(loaded, "w").tasks[1].id)
  end)

  it("accepts a function returning a document with tasks, env and env_groups", function()
    local loaded = load_text([[
workflow "w" { env = { set = { A = "wf" } }, tasks = function()
  return { tasks = { { id = "a" } }, env = { set = { B = "doc" } },
           env_groups = { g = {} } }
end }
]])
    local doc = config.workflow_document(loaded, "w")
    assert.are.equal('[{"set":{"A":"wf"}},{"set":{"B":"doc"}}]', util.json_encode(doc.env))
    assert.are.equal('{"g":[]}', util.json_encode(doc.env_groups))
  end)

  it("reads a JSON file relative to the declaring file: a bare array or an object", function()
    local dir = support.tmpdir()
    support.write(dir, "flows/a.json", '[{"id": "x", "command": "true", "gres": null}]')
    support.write(dir, "flows/b.json", '{"title": "t", "tasks": [{"id": "y", "command": "c",'
      .. ' "env": [{"set": {"Z": "1", "A": "2"}}]}], "env": null, "env_groups": {"g": []}}')
    local path = support.write(dir, "scripthut.lua",
      'workflow "a" { tasks = "flows/a.json" }\nworkflow "b" { tasks = "flows/b.json" }')
    local loaded = config.load { explicit = path }
    local a = config.workflow_document(loaded, "a")
    assert.are.equal("x", a.tasks[1].id)
    assert.are.equal(NULL, a.tasks[1].gres)
    assert.are.equal('{"env":[],"env_groups":{},"tasks":[{"command":"true","gres":null,"id":"x"}]}',
      util.json_encode(a))
    local b = config.workflow_document(loaded, "b")
    assert.are.equal('[{"set":{"Z":"1","A":"2"}}]', util.json_encode(b.tasks[1].env))
    assert.are.equal('{"g":[]}', util.json_encode(b.env_groups))
  end)

  it("reports a missing or invalid tasks file", function()
    local loaded, path = load_text('workflow "w" { tasks = "nope.json" }\nworkflow "v" { tasks = "bad.json" }')
    local msg, status = support.error_of(config.workflow_document, loaded, "w")
    assert.matches('^' .. path:gsub("%p", "%%%0") .. ':1: workflow "w": cannot read tasks file: ', msg)
    assert.are.equal(404, status)
    support.write(util.dirname(path), "bad.json", "{")
    msg = support.error_of(config.workflow_document, loaded, "v")
    assert.matches('workflow "v": .*/bad.json: invalid JSON: line 1', msg)
  end)

  it("rejects a tasks value of the wrong shape", function()
    local loaded, path = load_text('workflow "w" { tasks = function() return 3 end }\n'
      .. 'workflow "v" { tasks = function() return { { id = "a", env = { sett = {} } } } end }')
    local msg = support.error_of(config.workflow_document, loaded, "w")
    assert.are.equal(path .. ":1: workflow \"w\": the tasks function's result must be a list of "
      .. "tasks or a table with a 'tasks' field, got 3", msg)
    msg = support.error_of(config.workflow_document, loaded, "v")
    assert.are.equal(path .. ':2: workflow "v": tasks[1].env: unknown field "sett" '
      .. '(did you mean "set"?)', msg)
  end)

  it("is 404 for an unknown workflow, listing the known ones", function()
    local loaded = load_text('workflow "b" { tasks = {} }\nworkflow "a" { tasks = {} }')
    local msg, status = support.error_of(config.workflow_document, loaded, "zz")
    assert.are.equal('unknown workflow "zz"; known workflows: a, b', msg)
    assert.are.equal(404, status)
  end)
end)
