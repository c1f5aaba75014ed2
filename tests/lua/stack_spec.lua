-- scripthut.stack: the install, check, delete and gc scripts (docs/stacks.md),
-- pinned against the original's behaviours (spec/original-engine.md §14.1),
-- checked with `bash -n` and executed in a temp dir.
local stack = require "scripthut.stack"
local util = require "scripthut.util"
local support = require "support"

local q = util.shell_quote

local function mk(fields)
  local s = { name = "foo", hash = "h0", cache_dir = "~/.cache/sh-stacks", prep = "echo hi" }
  for k, v in pairs(fields or {}) do
    s[k] = v
  end
  return s
end

local function find(text, needle)
  return text:find(needle, 1, true)
end

-- Writes the script to a file and runs bash on it (-n: syntax only).
local function bash(script, flags, env)
  local dir = support.tmpdir()
  local path = support.write(dir, "script.sh", script)
  return support.sh(("%s bash %s %s 2>&1"):format(env or "", flags or "", q(path)))
end

describe("stack install script", function()
  it("checks the sentinel, runs the prep verbatim between set -euo pipefail and touch", function()
    local text = stack.install_script(mk({ prep = "pip install x  # keep  spaces" }))
    for _, needle in ipairs({ 'READY="$HASH_DIR/.ready"', '[ -f "$READY" ]', "exit 0",
                              'rm -rf "$HASH_DIR"', "pip install x  # keep  spaces",
                              'export STACK_DIR="$HASH_DIR"' }) do
      assert.is_truthy(find(text, needle), needle)
    end
    local set_at = find(text, "set -euo pipefail")
    local prep_at = find(text, "pip install x")
    local touch_at = find(text, 'touch "$READY"')
    assert.is_true(set_at < prep_at and prep_at < touch_at)
  end)

  it("leaves a leading ~ to the shell as $HOME", function()
    local text = stack.install_script(mk())
    assert.is_truthy(find(text, '"$HOME"/.cache/sh-stacks/foo/h0'))
    assert.is_falsy(find(text, "~/.cache/sh-stacks/foo"))
  end)

  it("passes an absolute cache_dir through", function()
    local text = stack.install_script(mk({ cache_dir = "/scratch/me/stacks" }))
    assert.is_truthy(find(text, "/scratch/me/stacks/foo/h0"))
    assert.is_falsy(find(text, "$HOME/scratch"))
  end)

  it("renders the rebuild flag", function()
    assert.is_truthy(find(stack.install_script(mk(), { rebuild = false }), "REBUILD=0"))
    assert.is_truthy(find(stack.install_script(mk(), { rebuild = true }), "REBUILD=1"))
  end)

  it("with an empty prep just creates the dir and the sentinel", function()
    local text = stack.install_script(mk({ prep = "  \n " }))
    assert.is_truthy(find(text, 'mkdir -p "$HASH_DIR"'))
    assert.is_truthy(find(text, 'touch "$HASH_DIR/.ready"'))
    assert.is_falsy(find(text, "exit 0"))
  end)

  it("exports the input files to the prep as STACK_INPUT_n", function()
    local text = stack.install_script(mk({ input_files = { "/a/req.txt", "/b/it's.txt" } }))
    assert.is_truthy(find(text, "export STACK_INPUT_1=/a/req.txt"))
    assert.is_truthy(find(text, "export STACK_INPUT_2='/b/it'\\''s.txt'"))
  end)

  local tricky = {
    { name = "plain", cache = "stacks" },
    { name = "with space", cache = "dir with space" },
    { name = "it's \"quoted\"", cache = "q'uo\"te" },
    { name = "$(touch pwned)", cache = "$notavar/`x`" },
    { name = "semi;colon&amp", cache = "a;b" },
  }
  for _, case in ipairs(tricky) do
    it("builds, then takes the fast path, for name " .. case.name, function()
      local root = support.tmpdir()
      local s = mk({ name = case.name, cache_dir = root .. "/" .. case.cache, hash = "abcdef012345",
                     prep = 'echo "built in $STACK_DIR"; echo data > file.txt' })
      local text = stack.install_script(s)
      local out, code = bash(text, "-n")
      assert.are.equal(0, code, out)
      out, code = bash(text, "", "cd " .. q(root) .. " &&")
      assert.are.equal(0, code, out)
      local dir = root .. "/" .. case.cache .. "/" .. case.name .. "/abcdef012345"
      assert.are.equal("data\n", support.read(dir .. "/file.txt"))
      assert.is_truthy(find(out, "built in " .. dir))
      assert.is_truthy(io.open(dir .. "/.ready"))
      assert.is_falsy(io.open(root .. "/pwned"))
      out, code = bash(text, "")
      assert.are.equal(0, code, out)
      assert.is_truthy(find(out, "already ready"), out)
    end)
  end

  it("expands a leading $VAR and ${VAR} of cache_dir in the shell", function()
    local root = support.tmpdir()
    for _, cache in ipairs({ "$SH_TEST_ROOT/a b", "${SH_TEST_ROOT}/c" }) do
      local text = stack.install_script(mk({ cache_dir = cache, prep = "true" }))
      local out, code = bash(text, "", "SH_TEST_ROOT=" .. q(root))
      assert.are.equal(0, code, out)
      local expanded = cache:gsub("^%$%{?SH_TEST_ROOT%}?", root)
      assert.is_truthy(io.open(expanded .. "/foo/h0/.ready"), expanded)
    end
  end)

  it("fails without a sentinel when prep fails, and the next install cleans up", function()
    local root = support.tmpdir()
    local s = mk({ cache_dir = root, prep = "touch partial\nfalse\necho unreachable" })
    local out, code = bash(stack.install_script(s), "")
    assert.are_not.equal(0, code)
    assert.is_falsy(find(out, "unreachable"))
    assert.is_truthy(io.open(root .. "/foo/h0/partial"))
    assert.is_falsy(io.open(root .. "/foo/h0/.ready"))
    assert.is_falsy(io.open(root .. "/foo/h0.lock"), "the lock is released on failure")
    s.prep = "echo fixed > ok"
    out, code = bash(stack.install_script(s), "")
    assert.are.equal(0, code, out)
    assert.is_falsy(io.open(root .. "/foo/h0/partial"), "the half-built dir was wiped")
  end)

  it("rebuild wipes a ready dir and builds again", function()
    local root = support.tmpdir()
    local s = mk({ cache_dir = root, prep = "date +%N > stamp" })
    bash(stack.install_script(s), "")
    support.write(root, "foo/h0/old", "x")
    local out, code = bash(stack.install_script(s, { rebuild = true }), "")
    assert.are.equal(0, code, out)
    assert.is_falsy(io.open(root .. "/foo/h0/old"))
    assert.is_truthy(io.open(root .. "/foo/h0/.ready"))
  end)

  it("breaks a stale lock whose owner is a dead process on this host", function()
    local root = support.tmpdir()
    local host = support.sh("hostname"):gsub("%s+$", "")
    support.write(root, "foo/h0.lock/owner", "2147483646 " .. host .. "\n")
    local out, code = bash(stack.install_script(mk({ cache_dir = root, prep = "true" })), "")
    assert.are.equal(0, code, out)
    assert.is_truthy(find(out, "Removing stale lock"), out)
    assert.is_truthy(io.open(root .. "/foo/h0/.ready"))
  end)

  -- scancel (or a cancel of the local process group) signals every process
  -- of the job: the heartbeat can be gone before the EXIT trap runs, under
  -- the prep's set -e.  Killing it from the prep makes that order certain.
  it("releases the lock when the heartbeat is gone before the exit trap", function()
    local root = support.tmpdir()
    local s = mk({ cache_dir = root,
                   prep = 'kill "$__sh_heartbeat"; sleep 0.5; echo "prep failed" >&2; exit 3' })
    local out, code = bash(stack.install_script(s), "")
    assert.are_not.equal(0, code)
    assert.is_truthy(find(out, "prep failed"), out)
    assert.is_falsy(io.open(root .. "/foo/h0.lock"), "the lock is released")
  end)
end)

describe("stack check, delete and gc scripts", function()
  -- Runs the check script and reads its output with parse_check: the two
  -- halves of one protocol, as the core uses them.
  local function check(s)
    local dir = support.tmpdir()
    local path = support.write(dir, "script.sh", stack.check_script(s))
    local out = support.sh(("bash %s 2>%s"):format(q(path), q(dir .. "/err")))
    return stack.parse_check(out, support.read(dir .. "/err"), 0, s)
  end

  it("reports missing, installing and ready with the expanded path", function()
    local root = support.tmpdir()
    local s = mk({ cache_dir = root .. "/my stacks" })
    local st = check(s)
    assert.are.equal("missing", st.state)
    assert.are.equal(root .. "/my stacks/foo/h0", st.path)
    assert.are.equal("h0", st.hash)
    assert.are.equal(util.null, st.last_built)
    assert.are.equal(util.null, st.size_bytes)
    support.mkdir(root .. "/my stacks/foo/h0")
    assert.are.equal("installing", check(s).state)
    support.write(root, "my stacks/foo/h0/.ready", "")
    st = check(s)
    assert.are.equal("ready", st.state)
    assert.is_truthy(st.last_built:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%+00:00$"),
      st.last_built)
    assert.are.equal("number", type(st.size_bytes))
    assert.is_false(st.locked)
    assert.are.equal(util.null, st.lock_holder)
    assert.are.equal(util.null, st.error)
  end)

  it("reports the lock and its holder while an install holds it", function()
    local root = support.tmpdir()
    local s = mk({ cache_dir = root })
    support.write(root, "foo/h0.lock/owner", "4242 node7\n")
    support.mkdir(root .. "/foo/h0")
    local st = check(s)
    assert.are.equal("installing", st.state)
    assert.is_true(st.locked)
    assert.are.equal("4242 node7", st.lock_holder)
  end)

  it("reads a failed check as missing with stderr, else stdout, else the exit status", function()
    local s = mk()
    local st = stack.parse_check("state=ready\n", "  sh: du: not found\n", 2, s)
    assert.are.same({ state = "missing", hash = "h0", path = util.null, last_built = util.null,
                      size_bytes = util.null, locked = false, lock_holder = util.null,
                      error = "sh: du: not found" }, st)
    assert.are.equal("no space", stack.parse_check("no space\n", "", 1, s).error)
    assert.are.equal("exit 127", stack.parse_check("", "", 127, s).error)
  end)

  it("maps an unknown state to missing and a path that is not UTF-8 to null", function()
    local st = stack.parse_check("state=weird\npath=/x/\255\254\n", "", 0, mk())
    assert.are.equal("missing", st.state)
    assert.are.equal(util.null, st.path)
    assert.are.equal("h0", st.hash)
  end)

  it("lists hash dirs, removes only the ones given, and deletes the whole stack", function()
    local root = support.tmpdir()
    local s = mk({ cache_dir = root })
    for _, h in ipairs({ "aaaaaaaaaaaa", "bbbbbbbbbbbb" }) do
      support.write(root, "foo/" .. h .. "/.ready", "")
    end
    local out = bash(stack.list_script(s), "")
    assert.is_truthy(find(out, "aaaaaaaaaaaa\n") and find(out, "bbbbbbbbbbbb\n"))
    bash(stack.remove_script(s, { "aaaaaaaaaaaa" }), "")
    assert.is_falsy(io.open(root .. "/foo/aaaaaaaaaaaa/.ready"))
    assert.is_truthy(io.open(root .. "/foo/bbbbbbbbbbbb/.ready"))
    assert.has_error(function() stack.remove_script(s, { "../x" }) end)
    bash(stack.delete_script(s), "")
    assert.is_falsy(io.open(root .. "/foo/bbbbbbbbbbbb/.ready"))
  end)
end)

-- The stack library: each module's table, and its install script.
describe("stack library", function()
  local function render(name, params)
    local s = require("stacks." .. name)(params)
    s.name, s.hash = "lib-" .. name, "0123456789ab"
    local text = stack.install_script(s)
    local out, code = bash(text, "-n")
    assert.are.equal(0, code, out)
    return s
  end

  it("python_venv", function()
    local s = render("python_venv", { requirements = "/p/req.txt", packages = { "numpy>=1.26" },
                                      pip_args = { "--no-index" }, cpus = 2 })
    assert.are.equal('python3 -m venv "$STACK_DIR/venv"\n'
      .. '"$STACK_DIR/venv/bin/python" -m pip install --no-index -r "$STACK_INPUT_1"\n'
      .. '"$STACK_DIR/venv/bin/python" -m pip install --no-index \'numpy>=1.26\'', s.prep)
    assert.are.equal('. "$STACK_DIR/venv/bin/activate"', s.init)
    assert.are.same({ "/p/req.txt" }, s.input_files)
    assert.are.equal(2, s.cpus)
  end)

  it("conda", function()
    local s = render("conda", { env_file = "/p/environment.yml" })
    assert.are.equal('micromamba create -y -p "$STACK_DIR/env" -f "$STACK_INPUT_1"', s.prep)
    assert.are.equal('eval "$(micromamba shell hook -s bash)"\nmicromamba activate "$STACK_DIR/env"',
      s.init)
    s = render("conda", { env_file = "/p/e.yml", tool = "conda", init = "export X=1" })
    assert.are.equal('conda env create -p "$STACK_DIR/env" -f "$STACK_INPUT_1"', s.prep)
    assert.are.equal('eval "$(conda shell.bash hook)"\nconda activate "$STACK_DIR/env"\nexport X=1',
      s.init)
  end)

  it("julia", function()
    local s = render("julia", { project = "/p/Project.toml", manifest = "/p/Manifest.toml" })
    assert.are.same({ "/p/Project.toml", "/p/Manifest.toml" }, s.input_files)
    assert.is_truthy(find(s.prep, 'cp "$STACK_INPUT_2" "$STACK_DIR/project/Manifest.toml"'))
    assert.is_truthy(find(s.prep, "Pkg.instantiate(); Pkg.precompile()"))
    assert.are.equal('export JULIA_DEPOT_PATH="$STACK_DIR/depot:"\n'
      .. 'export JULIA_PROJECT="$STACK_DIR/project"', s.init)
  end)

  it("renv", function()
    local s = render("renv", { lockfile = "/p/renv.lock" })
    assert.is_truthy(find(s.prep, 'export STACK_LOCKFILE="$STACK_INPUT_1"'))
    assert.is_truthy(find(s.prep, "renv::restore(lockfile = Sys.getenv("))
    assert.are.equal('export R_LIBS_USER="$STACK_DIR/library"', s.init)
  end)

  it("apptainer", function()
    local s = render("apptainer", { image = "docker://python:3.12-slim" })
    assert.are.equal('apptainer pull "$STACK_DIR/image.sif" docker://python:3.12-slim', s.prep)
    assert.are.equal('export STACK_IMAGE="$STACK_DIR/image.sif"', s.init)
  end)

  it("spack", function()
    local s = render("spack", { env_file = "/p/spack.yaml" })
    assert.is_truthy(find(s.prep, 'spack -e "$STACK_DIR/env" concretize -f'))
    assert.are.equal('eval "$(spack env activate --sh -d "$STACK_DIR/env")"', s.init)
  end)

  it("rejects unknown and missing parameters with the module's name", function()
    local msg = support.error_of(require "stacks.conda", { env_fiel = "x" })
    assert.is_truthy(find(msg, 'stacks.conda: unknown parameter "env_fiel"'), msg)
    msg = support.error_of(require "stacks.spack", {})
    assert.is_truthy(find(msg, 'stacks.spack: parameter "env_file" is required'), msg)
  end)
end)
