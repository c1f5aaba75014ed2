-- scripthut.templates.pbs (the PBS job script, through scripthut.jobs like
-- the engine calls it) and the pbs backend's config fields.  Scripts are
-- checked with bash -n, and one is run to see the command and env arrive.
local jobs = require "scripthut.jobs"
local config = require "scripthut.config"
local pbs = require "scripthut.templates.pbs"
local util = require "scripthut.util"
local support = require "support"

local q = util.shell_quote

local function pbs_backend(fields)
  local b = { name = "hpc", type = "pbs", flavor = "pbspro", queue = util.null,
              account = util.null, login_shell = false }
  for k, v in pairs(fields or {}) do
    b[k] = v
  end
  return b
end

local function render(task, backend_fields)
  local run = {
    backend = pbs_backend(backend_fields),
    seed = { { "SCRIPTHUT_BACKEND", "hpc" }, { "SCRIPTHUT_RUN_ID", "r1" } },
    env = { backend = {}, server = {}, workflow = {} },
    env_groups = {}, stacks = {},
  }
  task.command = task.command or "true"
  local job = { run_id = "r1", task = task, tag = "sh-r1-" .. task.id .. "-1", attempt = 1,
                out_path = "/tmp/x.out", err_path = "/tmp/x.err" }
  local r = jobs.prepare({ runs = { r1 = run }, jobs = { job } })[1]
  if r.error then
    error(r.error, 0)
  end
  return r.script
end

local function directives(script)
  local out = {}
  for line in script:gmatch("[^\n]+") do
    if line:match("^#PBS ") and line ~= "#PBS -S /bin/bash" then
      out[#out + 1] = line
    end
  end
  return out
end

local function bash_syntax_ok(script)
  local path = support.write(support.tmpdir(), "job.sh", script)
  local out, code = support.sh("bash -n " .. q(path) .. " 2>&1")
  return code == 0, out
end

describe("PBS memory and walltime conversion", function()
  it("turns Slurm memory sizes into PBS units", function()
    assert.are.equal("4gb", pbs.pbs_memory("4G"))
    assert.are.equal("512mb", pbs.pbs_memory("512M"))
    assert.are.equal("1024kb", pbs.pbs_memory("1024K"))
    assert.are.equal("1tb", pbs.pbs_memory("1T"))
    assert.are.equal("4gb", pbs.pbs_memory("4gb"))
  end)

  it("reads a bare number as megabytes, as Slurm does", function()
    assert.are.equal("2048mb", pbs.pbs_memory("2048"))
  end)

  it("carries a fraction to the next smaller unit", function()
    assert.are.equal("1536mb", pbs.pbs_memory("1.5G"))
    assert.are.equal("1kb", pbs.pbs_memory("0.5K"))
  end)

  it("refuses a size it cannot read", function()
    local msg = support.error_of(pbs.pbs_memory, "lots")
    assert.are.equal('memory "lots" is not a size like 4G, 512M or 2048 (MB)', msg)
  end)

  it("turns every Slurm duration form into HH:MM:SS", function()
    assert.are.equal("00:30:00", pbs.pbs_walltime("30"))
    assert.are.equal("00:01:30", pbs.pbs_walltime("1:30"))
    assert.are.equal("01:00:00", pbs.pbs_walltime("1:00:00"))
    assert.are.equal("48:00:00", pbs.pbs_walltime("2-0"))
    assert.are.equal("26:30:00", pbs.pbs_walltime("1-2:30"))
    assert.are.equal("26:30:05", pbs.pbs_walltime("1-2:30:05"))
    assert.is_nil(pbs.pbs_walltime(""))
    assert.is_nil(pbs.pbs_walltime("0"))
  end)
end)

describe("the PBS job script", function()
  it("has PBS Pro select, memory, walltime, queue and account directives", function()
    local script = render({ id = "t", cpus = 4, memory = "8G", time_limit = "2:00:00" },
      { queue = "workq", account = "proj1" })
    assert.are.same({ "#PBS -q workq", "#PBS -A proj1",
                      "#PBS -l select=1:ncpus=4:mem=8gb", "#PBS -l walltime=02:00:00" },
      directives(script))
    assert.matches("^#!/bin/bash\n#PBS %-S /bin/bash\n", script) -- not the user's login shell
  end)

  it("uses nodes=1:ppn=N and a separate mem for Torque", function()
    local script = render({ id = "t", cpus = 2, memory = "4G", time_limit = "1-0:00:00" },
      { flavor = "torque" })
    assert.are.same({ "#PBS -l nodes=1:ppn=2", "#PBS -l mem=4gb", "#PBS -l walltime=24:00:00" },
      directives(script))
  end)

  it("asks for GPUs in the flavor's words", function()
    assert.are.same({ "#PBS -l select=1:ncpus=1:ngpus=2" },
      directives(render({ id = "t", gres = "gpu:v100:2" })))
    assert.are.same({ "#PBS -l nodes=1:ppn=1:gpus=1" },
      directives(render({ id = "t", gres = "gpu" }, { flavor = "torque" })))
  end)

  it("sends the backend's queue over the task's partition, and omits an unset one", function()
    assert.are.equal("#PBS -q workq", directives(render({ id = "t", partition = "compute" },
      { queue = "workq" }))[1])
    assert.are.equal("#PBS -q gpu", directives(render({ id = "t", partition = "gpu" }))[1])
    for _, line in ipairs(directives(render({ id = "t" }))) do
      assert.is_nil(line:match("^#PBS %-q"))
    end
  end)

  it("omits walltime for no limit and never exports the qsub environment", function()
    local script = render({ id = "t", time_limit = "" })
    assert.is_nil(script:find("walltime", 1, true))
    assert.is_nil(script:find("#PBS -V", 1, true))
    assert.is_nil(script:find("#PBS -N", 1, true)) -- the backend passes -N (the tag) itself
  end)

  it("raises a message for a value qsub would split, or a gres PBS cannot take", function()
    local err = support.error_of(render, { id = "t", partition = "a b" })
    assert.matches('#PBS -q: value "a b" has spaces or quotes', err, 1, true)
    local gres_err = support.error_of(render, { id = "t", gres = "mps:100" })
    assert.matches("PBS jobs can request only GPUs", gres_err, 1, true)
  end)

  it("fails only the job whose value it refuses, with its message", function()
    local run = {
      backend = pbs_backend(), seed = {}, env = { backend = {}, server = {}, workflow = {} },
      env_groups = {}, stacks = {},
    }
    local function job(id, gres)
      return { run_id = "r1", task = { id = id, command = "true", gres = gres },
               tag = "sh-r1-" .. id .. "-1", attempt = 1, out_path = "/o", err_path = "/e" }
    end
    local r = jobs.prepare({ runs = { r1 = run }, jobs = { job("bad", "mps:1"), job("good") } })
    assert.are.equal('gres "mps:1": PBS jobs can request only GPUs (gpu, gpu:N or gpu:type:N)',
      r[1].error)
    assert.is_nil(r[2].error)
    assert.matches("#PBS %-l select=1:ncpus=1\n", r[2].script)
  end)

  it("passes bash -n with nasty values and a login shell", function()
    local script = render({ id = "it's $id", name = "na\"me\nnext `x`",
                            working_dir = "/tmp/it's a $dir", command = "echo 'x' | cat" },
      { login_shell = true })
    assert.matches("^#!/bin/bash %-l\n", script)
    local ok, out = bash_syntax_ok(script)
    assert.is_true(ok, out)
  end)

  it("runs: cd to the working dir, env exported, the command's exit status is the job's",
    function()
      local dir = support.tmpdir()
      local work = dir .. "/work dir"
      support.mkdir(work)
      local script = render({ id = "t", working_dir = work,
                              command = "pwd > out.txt; printf %s \"$SCRIPTHUT_RUN_ID\" >> out.txt; exit 3" })
      local path = support.write(dir, "job.sh", script)
      local _, code = support.sh("bash " .. q(path) .. " >/dev/null 2>&1")
      assert.are.equal(3, code)
      assert.are.equal(work .. "\nr1", support.read(work .. "/out.txt"))
    end)
end)

describe("pbs backend config", function()
  local function load_text(text)
    local path = support.write(support.tmpdir(), "scripthut.lua", text)
    return config.load { explicit = path }
  end

  it("defaults flavor to pbspro and takes ssh like slurm", function()
    local c = load_text('backend "p" { type = "pbs", queue = "workq", account = "a", '
      .. 'ssh = { host = "h", user = "u" } }').config
    local b
    for _, x in ipairs(c.backends) do
      if x.name == "p" then
        b = x
      end
    end
    assert.are.equal("pbspro", b.flavor)
    assert.are.equal("workq", b.queue)
    assert.are.equal("h", b.ssh.host)
  end)

  it("refuses an unknown flavor", function()
    local path = support.write(support.tmpdir(), "scripthut.lua",
      'backend "p" { type = "pbs", flavor = "sge" }')
    local msg = support.error_of(config.load, { explicit = path })
    assert.matches('backend "p": flavor must be one of "pbspro", "torque", got "sge"', msg, 1, true)
  end)
end)
