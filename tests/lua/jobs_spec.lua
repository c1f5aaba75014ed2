-- scripthut.jobs and scripthut.templates.local: env per job and the local
-- job script, checked with bash -n and by running it.
local jobs = require "scripthut.jobs"
local util = require "scripthut.util"
local support = require "support"

local q = util.shell_quote

local function run_object(overrides)
  local run = {
    backend = { name = "local", type = "local" },
    seed = { { "SCRIPTHUT_BACKEND", "local" }, { "SCRIPTHUT_RUN_ID", "r1" } },
    env = { backend = {}, server = {}, workflow = {} },
    env_groups = {},
    stacks = {},
  }
  for k, v in pairs(overrides or {}) do
    run[k] = v
  end
  return run
end

local function job(task, run_id)
  return { run_id = run_id or "r1", task = task, tag = "sh-r1-" .. task.id .. "-1", attempt = 1,
           out_path = "/tmp/x.out", err_path = "/tmp/x.err" }
end

local function prepare_one(task, run)
  return jobs.prepare({ runs = { r1 = run or run_object() }, jobs = { job(task) } })[1]
end

local function bash_syntax_ok(script)
  local dir = support.tmpdir()
  local path = support.write(dir, "job.sh", script)
  local out, code = support.sh("bash -n " .. q(path) .. " 2>&1")
  return code == 0, out
end

-- The values a job must receive byte for byte.
local NASTY = {
  QUOTES = [[it's "quoted" `tick` \back\slash]],
  DOLLAR = "$HOME $(echo no) $((1+1)) $'\\x41' $@ $ {X}",  -- ${X} is the resolver's
  SPACES = "  leading and trailing  ",
  NEWLINES = "line1\nline2\n\nline4\n",
  EMPTY = "",
  GLOB = "* ? [a-z] ~ ~/x",
  SEMI = "a; rm -rf / && echo no | cat > /dev/null",
  DASH = "-n -e --",
  QUOTE_RUN = "'''\"\"\"'\\''",
  UNICODE = "héllo ✓ 日本",
  TAB = "a\tb\rc",
}

local NASTY_KEYS = {}
for k in pairs(NASTY) do
  NASTY_KEYS[#NASTY_KEYS + 1] = k
end
table.sort(NASTY_KEYS)

describe("jobs.prepare", function()
  it("returns the script, the resolved env and warnings per job", function()
    local run = run_object { env = { server = { { set = { A = "1" } } },
                                     workflow = { { set = { SCRIPTHUT_RUN_ID = "x" } } } } }
    local r = prepare_one({ id = "t", command = "echo hi" }, run)
    assert.are.same({ { "SCRIPTHUT_BACKEND", "local" }, { "SCRIPTHUT_RUN_ID", "r1" }, { "A", "1" } },
      r.env)
    assert.are.same({ "env rule workflow-doc attempted to set protected key 'SCRIPTHUT_RUN_ID'; "
      .. "ignored" }, r.warnings)
    assert.matches("^#!/bin/bash\n", r.script)
    assert.is_nil(r.error)
  end)

  it("resolves layers backend, server, workflow-doc, task", function()
    local run = run_object { env = {
      backend = { { append = { P = "b" } } }, server = { { append = { P = "s" } } },
      workflow = { { append = { P = "w" } } } } }
    local r = prepare_one({ id = "t", command = "true", env = { { append = { P = "t" } } } }, run)
    assert.are.same({ "P", "b:s:w:t" }, r.env[3])
  end)

  it("uses the run's groups and stacks", function()
    local run = run_object {
      env = { server = { { include = { "g" } } } },
      env_groups = { g = { { stacks = { "ml" } } } },
      stacks = { ml = { name = "ml", init = "activate ml", cache_dir = "/c", hash = "h1" } },
    }
    local r = prepare_one({ id = "t", command = "true" }, run)
    assert.matches("\nexport STACK_DIR=/c/ml/h1\nactivate ml\n", r.script, 1, true)
  end)

  it("resolves once per run for tasks without env rules", function()
    local batch = { runs = { r1 = run_object { env = { server = { { set = { A = "1" } } } } } },
                    jobs = {} }
    for i = 1, 3 do
      batch.jobs[i] = job({ id = "t" .. i, command = "true", env = (i == 3) and
        { { set = { B = "2" } } } or {} })
    end
    local r = jobs.prepare(batch)
    assert.are.equal(r[1].env, r[2].env)          -- the same resolved table
    assert.are_not.equal(r[1].env, r[3].env)
    assert.are.same({ "B", "2" }, r[3].env[4])
  end)

  it("fails only the job with an unknown stack or a group cycle", function()
    local run = run_object { env_groups = { a = { { include = { "a" } } } } }
    local r = jobs.prepare({ runs = { r1 = run }, jobs = {
      job({ id = "ok", command = "true" }),
      job({ id = "s", command = "true", env = { { stacks = { "nope" } } } }),
      job({ id = "c", command = "true", env = { { include = { "a" } } } }),
    } })
    assert.is_string(r[1].script)
    assert.matches("^stack 'nope' referenced from task but not defined", r[2].error)
    assert.are.equal("env_group cycle detected: a → a", r[3].error)
  end)

  it("fails a job of an unknown run or a backend type without a template", function()
    local r = jobs.prepare({ runs = { r1 = run_object { backend = { name = "x", type = "nope" } } },
      jobs = { job({ id = "t", command = "true" }), job({ id = "u", command = "true" }, "r9") } })
    assert.are.equal('no script template for backend type "nope" (module '
      .. "scripthut.templates.nope)", r[1].error)
    assert.are.equal("job sh-r1-u-1: unknown run r9", r[2].error)
  end)

  it("prepares an empty batch", function()
    assert.are.same({}, jobs.prepare({ runs = {}, jobs = {} }))
  end)

  it("prepares 20000 jobs of one run", function()
    local batch = { runs = { r1 = run_object { env = { server = { { set = { A = "1" } } } } } },
                    jobs = {} }
    for i = 1, 20000 do
      batch.jobs[i] = job({ id = "sim." .. i, command = "python3 sim.py " .. i })
    end
    local r = jobs.prepare(batch)
    assert.are.equal(20000, #r)
    assert.matches("python3 sim.py 20000", r[20000].script, 1, true)
  end)
end)

describe("the local job script", function()
  local function nasty_run()
    local set = {}
    for i, k in ipairs(NASTY_KEYS) do
      set[i] = { k, NASTY[k] }
    end
    return run_object { env = { server = { { set = set } } } }
  end

  it("has init, exports, cd and the command verbatim, and no banner", function()
    local run = run_object { env = { server = { { set = { A = "x y" }, init = "module load x" } } } }
    local r = prepare_one({ id = "t/1", name = "my task", command = "echo \"$A\" | tr a b",
                            working_dir = "~/w d" }, run)
    assert.are.equal(table.concat({
      "#!/bin/bash",
      "set -o pipefail",
      "# scripthut task t/1 ('my task'), tag sh-r1-t/1-1",
      "module load x",
      "",
      "export SCRIPTHUT_BACKEND=local",
      "export SCRIPTHUT_RUN_ID=r1",
      "export A='x y'",
      "",
      [[cd -- "$HOME"'/w d' || { echo 'scripthut: cannot change to working dir ~/w d' >&2; exit 1; }]],
      'echo "$A" | tr a b',
      "",
    }, "\n"), r.script)
  end)

  it("defaults the name to the id and the working dir to ~, and uses -l for a login shell", function()
    local run = run_object { backend = { name = "local", type = "local", login_shell = true } }
    local r = prepare_one({ id = "t", command = "true", working_dir = util.null }, run)
    assert.matches("^#!/bin/bash %-l\n", r.script)
    assert.matches("# scripthut task t (t)", r.script, 1, true)
    assert.matches('\ncd -- "$HOME" ||', r.script, 1, true)
  end)

  it("passes bash -n with nasty values everywhere", function()
    local r = prepare_one({ id = "it's $id", name = "na\"me\nnext `x`",
                            command = "true", working_dir = "/tmp/it's a $dir" }, nasty_run())
    local ok, out = bash_syntax_ok(r.script)
    assert.is_true(ok, out)
  end)

  it("does not redirect the script's output", function()
    local r = prepare_one({ id = "t", command = "true" })
    assert.is_nil(r.script:find("exec [0-9]*>"))
    assert.is_nil(r.script:find(">>"))
  end)

  it("delivers env values byte for byte when run", function()
    local dir = support.tmpdir()
    local work = dir .. "/work dir"
    support.mkdir(work)
    local cmds = {}
    for _, k in ipairs(NASTY_KEYS) do
      cmds[#cmds + 1] = ("printf '%%s' \"$%s\" > %s.val"):format(k, k)
    end
    local r = prepare_one({ id = "t", command = table.concat(cmds, "\n"), working_dir = work },
      nasty_run())
    local script = support.write(dir, "job.sh", r.script)
    local out, code = support.sh("bash " .. q(script) .. " 2>&1")
    assert.are.equal(0, code, out)
    for _, k in ipairs(NASTY_KEYS) do
      assert.are.equal(NASTY[k], support.read(work .. "/" .. k .. ".val"), k)
    end
    assert.are.equal("", out)
  end)

  it("runs in a ~ working dir and exits with the command's status", function()
    support.mkdir(support.home() .. "/jobs here")
    local r = prepare_one({ id = "t", command = "pwd > where.txt\n(exit 7)",
                            working_dir = "~/jobs here" })
    local dir = support.tmpdir()
    local script = support.write(dir, "job.sh", r.script)
    local out, code = support.sh("bash " .. q(script) .. " 2>&1")
    assert.are.equal(7, code, out)
    assert.are.equal(support.home() .. "/jobs here\n", support.read(support.home()
      .. "/jobs here/where.txt"))
  end)

  it("fails when the working dir does not exist, without running the command", function()
    local dir = support.tmpdir()
    local r = prepare_one({ id = "t", command = "touch ran", working_dir = dir .. "/missing" })
    local script = support.write(dir, "job.sh", r.script)
    local out, code = support.sh("cd " .. q(dir) .. " && bash " .. q(script) .. " 2>&1")
    assert.are.equal(1, code)
    assert.matches("cannot change to working dir", out, 1, true)
    assert.is_nil(io.open(dir .. "/ran"))
  end)
end)
