-- scripthut.env: rule shapes and resolution (spec/original-engine.md §8,
-- with STACK_DIR for stack init).
local env = require "scripthut.env"
local util = require "scripthut.util"
local support = require "support"

-- resolve with one "server" layer of rules (plus optional extras).
local function resolve(rules, opts)
  opts = opts or {}
  local r, err = env.resolve {
    seed = opts.seed or { { "SCRIPTHUT_RUN_ID", "r1" } },
    layers = opts.layers or { { source = "server", rules = rules } },
    groups = opts.groups,
    stacks = opts.stacks,
    provenance = opts.provenance,
  }
  return r, err
end

local function as_map(r)
  local m = {}
  for _, e in ipairs(r.env) do
    m[e[1]] = e[2]
  end
  return m
end

local function keys(r)
  local out = {}
  for i, e in ipairs(r.env) do
    out[i] = e[1]
  end
  return out
end

describe("env resolution", function()
  it("starts from the seed and keeps keys in first-write order", function()
    local r = resolve({ { set = { B = "2" } }, { set = { A = "1" } }, { set = { B = "3" } } })
    assert.are.same({ "SCRIPTHUT_RUN_ID", "B", "A" }, keys(r))
    assert.are.equal("3", as_map(r).B)
    assert.are.equal("", r.init)
    assert.are.same({}, r.warnings)
  end)

  it("applies a set map in sorted key order, so later keys see earlier ones", function()
    local r = resolve({ { set = { B = "${A}-b", A = "a" } } })
    assert.are.equal("a-b", as_map(r).B)
    assert.are.same({ "SCRIPTHUT_RUN_ID", "A", "B" }, keys(r))
  end)

  it("applies a list of pairs in list order", function()
    local r = resolve({ { set = { { "B", "${A}-b" }, { "A", "a" } } } })
    assert.are.equal("-b", as_map(r).B)
    assert.are.same({ "SCRIPTHUT_RUN_ID", "B", "A" }, keys(r))
    assert.are.same({ "env expansion: ${A} undefined, using empty string" }, r.warnings)
  end)

  it("applies a util.ordered table (how JSON objects arrive) in its order", function()
    local r = resolve({ { set = util.ordered { { "Z", "z" }, { "A", "${Z}" } } } })
    assert.are.equal("z", as_map(r).A)
  end)

  it("appends with ':' to a non-empty value and sets an empty or missing one", function()
    local r = resolve({
      { set = { P = "/a", E = "" } },
      { append = { P = "/b", E = "/e", N = "/n" } },
    })
    local m = as_map(r)
    assert.are.equal("/a:/b", m.P)
    assert.are.equal("/e", m.E)
    assert.are.equal("/n", m.N)
  end)

  it("runs set, then append, then init within one rule", function()
    local r = resolve({ { set = { A = "1" }, append = { A = "2" }, init = "echo ${A}" } })
    assert.are.equal("1:2", as_map(r).A)
    assert.are.equal("echo 1:2", r.init)
  end)

  it("expands only ${NAME}, in a single pass, leaving $NAME alone", function()
    local r = resolve({ { set = { A = "${B}", B = "x" } }, { set = { C = "$B ${B} ${A}" } } })
    local m = as_map(r)
    assert.are.equal("", m.A)        -- A is set before B (sorted order)
    assert.are.equal("$B x ", m.C)
    local r2 = resolve({ { set = { A = "${", B = "${X" } } })
    assert.are.equal("${", as_map(r2).A)
    assert.are.equal("${X", as_map(r2).B)
  end)

  it("does not expand a value twice", function()
    local r = resolve({ { set = { A = "${B}" } } }, { seed = { { "B", "${C}" }, { "C", "c" } } })
    assert.are.equal("${C}", as_map(r).A)
  end)

  it("warns about undefined variables and uses the empty string", function()
    local r = resolve({ { init = "x=${NOPE}" } })
    assert.are.equal("x=", r.init)
    assert.are.same({ "env expansion: ${NOPE} undefined, using empty string" }, r.warnings)
  end)

  it("refuses to set or append protected SCRIPTHUT_ keys, with warnings", function()
    local r = resolve({ { set = { SCRIPTHUT_RUN_ID = "x", SCRIPTHUT_NEW = "y" } },
                        { append = { SCRIPTHUT_RUN_ID = "z" } } })
    assert.are.equal("r1", as_map(r).SCRIPTHUT_RUN_ID)
    assert.is_nil(as_map(r).SCRIPTHUT_NEW)
    assert.are.same({
      "env rule server attempted to set protected key 'SCRIPTHUT_NEW'; ignored",
      "env rule server attempted to set protected key 'SCRIPTHUT_RUN_ID'; ignored",
      "env rule server attempted to append to protected key 'SCRIPTHUT_RUN_ID'; ignored",
    }, r.warnings)
  end)

  it("does not police init text", function()
    local r = resolve({ { init = "export SCRIPTHUT_RUN_ID=x" } })
    assert.are.equal("export SCRIPTHUT_RUN_ID=x", r.init)
  end)

  it("joins init parts with newlines", function()
    local r = resolve({ { init = "a" }, { init = "b" } })
    assert.are.equal("a\nb", r.init)
  end)

  it("applies layers in order: backend, server, workflow-doc, task", function()
    local r = resolve(nil, { layers = {
      { source = "backend:hpc", rules = { { set = { L = "backend" }, append = { P = "b" } } } },
      { source = "server", rules = { { set = { L = "server" }, append = { P = "s" } } } },
      { source = "workflow-doc", rules = { { append = { P = "w" } } } },
      { source = "task", rules = { { append = { P = "t" } } } },
    } })
    assert.are.equal("server", as_map(r).L)
    assert.are.equal("b:s:w:t", as_map(r).P)
  end)

  it("rejects a key that is not a variable name", function()
    local r, err = resolve({ { set = { ["A B"] = "x" } } })
    assert.is_nil(r)
    assert.are.equal('env rule server: "A B" is not a valid environment variable name', err)
  end)

  it("records provenance when asked", function()
    local r = resolve({ { set = { A = "1" } }, { append = { A = "2" } } }, { provenance = true })
    assert.are.same({ { source = "server", op = "set", value = "1" },
                      { source = "server", op = "append", value = "2" } }, r.provenance.A)
    assert.are.same({ { source = "seed", op = "seed", value = "r1" } },
      r.provenance.SCRIPTHUT_RUN_ID)
  end)
end)

describe("env guards", function()
  it("match a string exactly", function()
    local r = resolve({ { set = { C = "a" } }, { ["if"] = { C = "a" }, set = { X = "yes" } },
                        { ["if"] = { C = "b" }, set = { Y = "yes" } } })
    assert.are.equal("yes", as_map(r).X)
    assert.is_nil(as_map(r).Y)
  end)

  it("match any value of a list", function()
    local r = resolve({ { set = { C = "b" } }, { if_ = { C = { "a", "b" } }, set = { X = "yes" } } })
    assert.are.equal("yes", as_map(r).X)
  end)

  it("require every key (AND), and an absent key never matches", function()
    local r = resolve({ { set = { C = "a" } },
                        { ["if"] = { C = "a", D = "d" }, set = { X = "yes" } },
                        { ["if"] = { D = { "", "d" } }, set = { Y = "yes" } } })
    assert.is_nil(as_map(r).X)
    assert.is_nil(as_map(r).Y)
  end)

  it("with no keys always match", function()
    local r = resolve({ { ["if"] = {}, set = { X = "yes" } } })
    assert.are.equal("yes", as_map(r).X)
  end)

  it("see the env as it is when the rule is reached", function()
    local r = resolve({ { ["if"] = { C = "a" }, set = { X = "early" } },
                        { set = { C = "a" } },
                        { ["if"] = { C = "a" }, set = { Y = "late" } } })
    assert.is_nil(as_map(r).X)
    assert.are.equal("late", as_map(r).Y)
  end)

  it("apply to seeded keys", function()
    local r = resolve({ { ["if"] = { SCRIPTHUT_RUN_ID = "r1" }, set = { X = "yes" } } })
    assert.are.equal("yes", as_map(r).X)
  end)
end)

describe("env groups", function()
  it("inline their rules where included, in order", function()
    local r = resolve({ { set = { A = "1" } }, { include = { "g" } }, { set = { A = "3" } } },
      { groups = { g = { { set = { A = "2", G = "${A}" } } } } })
    assert.are.equal("3", as_map(r).A)
    assert.are.equal("2", as_map(r).G)
  end)

  it("carry the including rule's guard down to the group's rules", function()
    local groups = { g = { { set = { X = "yes" } } } }
    local r = resolve({ { ["if"] = { C = "a" }, include = { "g" } } }, { groups = groups })
    assert.is_nil(as_map(r).X)
    r = resolve({ { set = { C = "a" } }, { ["if"] = { C = "a" }, include = { "g" } } },
      { groups = groups })
    assert.are.equal("yes", as_map(r).X)
  end)

  it("apply the including rule's own set after the included groups", function()
    local r = resolve({ { include = { "g" }, set = { A = "rule" } } },
      { groups = { g = { { set = { A = "group" } } } } })
    assert.are.equal("rule", as_map(r).A)
  end)

  it("nest, and a diamond is not a cycle", function()
    local groups = {
      top = { { include = { "left", "right" } } },
      left = { { include = { "base" }, append = { P = "l" } } },
      right = { { include = { "base" }, append = { P = "r" } } },
      base = { { append = { P = "b" } } },
    }
    local r = resolve({ { include = { "top" } } }, { groups = groups })
    assert.are.equal("b:l:b:r", as_map(r).P)
  end)

  it("skip an undefined group with a warning", function()
    local r = resolve({ { include = { "nope" }, set = { A = "1" } } })
    assert.are.equal("1", as_map(r).A)
    assert.are.same({ "env_group 'nope' referenced from server but not defined; skipping" },
      r.warnings)
  end)

  it("fail on a cycle, naming the path", function()
    local r, err = resolve({ { include = { "a" } } }, { groups = {
      a = { { include = { "b" } } }, b = { { include = { "a" } } } } })
    assert.is_nil(r)
    assert.are.equal("env_group cycle detected: a → b → a", err)
  end)

  it("fail on a group that includes itself", function()
    local _, err = resolve({ { include = { "a" } } }, { groups = { a = { { include = { "a" } } } } })
    assert.matches("cycle", err)
  end)

  it("label their rules for warnings", function()
    local r = resolve({ { include = { "g" } } },
      { groups = { g = { { set = { SCRIPTHUT_X = "1" } } } } })
    assert.are.same({ "env rule server via group:g attempted to set protected key "
      .. "'SCRIPTHUT_X'; ignored" }, r.warnings)
  end)
end)

describe("env stacks", function()
  local stacks = {
    ml = { name = "ml", init = "source ${STACK_DIR}/venv/bin/activate\necho ${A}",
           cache_dir = "~/.cache/scripthut/stacks", hash = "abc123def456" },
    scratch = { name = "scratch", init = "use ${STACK_DIR}", cache_dir = "$SCRATCH/stacks/",
                hash = "0123456789ab" },
    nohash = { name = "nohash", init = "use ${STACK_DIR}" },
    empty = { name = "empty", init = "" },
  }

  it("splice the stack's init after export STACK_DIR=<quoted hash dir>", function()
    local r = resolve({ { set = { A = "a" } }, { stacks = { "ml" } } }, { stacks = stacks })
    assert.are.equal("export STACK_DIR=\"$HOME\"/.cache/scripthut/stacks/ml/abc123def456\n"
      .. "source ${STACK_DIR}/venv/bin/activate\necho a", r.init)
    assert.are.same({}, r.warnings)
  end)

  it("let the shell expand a $VAR prefix of cache_dir", function()
    local r = resolve({ { stacks = { "scratch" } } }, { stacks = stacks })
    assert.are.equal("export STACK_DIR=\"${SCRATCH}\"/stacks/scratch/0123456789ab\n"
      .. "use ${STACK_DIR}", r.init)
  end)

  it("leave STACK_DIR unset without a hash", function()
    local r = resolve({ { stacks = { "nohash" } } }, { stacks = stacks })
    assert.are.equal("use ${STACK_DIR}", r.init)
  end)

  it("contribute nothing with an empty init", function()
    local r = resolve({ { stacks = { "empty" } } }, { stacks = stacks })
    assert.are.equal("", r.init)
  end)

  it("come before the rule's own init, and follow its guard", function()
    local r = resolve({ { stacks = { "nohash" }, init = "after" } }, { stacks = stacks })
    assert.are.equal("use ${STACK_DIR}\nafter", r.init)
    r = resolve({ { ["if"] = { X = "1" }, stacks = { "nohash" } } }, { stacks = stacks })
    assert.are.equal("", r.init)
  end)

  it("fail when undefined, naming the source", function()
    local r, err = resolve({ { stacks = { "nope" } } }, { stacks = stacks })
    assert.is_nil(r)
    assert.matches("^stack 'nope' referenced from server but not defined in the config", err)
  end)

  it("resolve inside groups too", function()
    local r = resolve({ { include = { "g" } } }, { stacks = stacks,
      groups = { g = { { stacks = { "nohash" } } } } })
    assert.are.equal("use ${STACK_DIR}", r.init)
  end)
end)

describe("env rule shapes (normalize_rules)", function()
  it("accepts one rule or a list of rules", function()
    assert.are.equal(1, #env.normalize_rules({ set = { A = "1" } }, "env"))
    assert.are.equal(2, #env.normalize_rules({ { set = { A = "1" } }, { init = "x" } }, "env"))
    assert.are.same({}, env.normalize_rules(nil, "env"))
    assert.are.same({}, env.normalize_rules({}, "env"))
  end)

  it("keeps only non-empty fields and orders set/append", function()
    local rules = env.normalize_rules({ if_ = {}, include = {}, set = { B = "2", A = "1" },
                                        init = "" }, "env")
    assert.are.equal('[{"set":{"A":"1","B":"2"}}]', util.json_encode(rules))
    rules = env.normalize_rules({ set = { { "B", "2" }, { "A", "1" } } }, "env")
    assert.are.equal('[{"set":{"B":"2","A":"1"}}]', util.json_encode(rules))
    rules = env.normalize_rules({ if_ = { C = "a" }, stacks = "ml" }, "env")
    assert.are.equal('[{"if":{"C":"a"},"stacks":["ml"]}]', util.json_encode(rules))
  end)

  local function bad(value, expected)
    local rules, err = env.normalize_rules(value, "env")
    assert.is_nil(rules)
    assert.are.equal(expected, err)
  end

  it("names the field of a bad rule", function()
    bad({ sett = { A = "1" } }, 'env: unknown field "sett" (did you mean "set"?)')
    bad({ { set = { A = "1" } }, { set = { A = 3 } } }, "env[2].set.A must be a string, got 3")
    bad({ set = { ["1A"] = "x" } }, 'env.set: "1A" is not a valid environment variable name')
    bad({ init = 3 }, "env.init must be a string, got 3")
    bad({ include = { 1 } }, "env.include must be a list of strings (item 1 is 1), got a table")
    bad({ ["if"] = { A = 1 } }, "env.if.A must be a string or a list of strings, got 1")
    bad({ ["if"] = { A = "1" }, if_ = { A = "1" } }, "env: give either 'if' or 'if_', not both")
    bad("x", 'env must be a rule table or a list of rules, got "x"')
    bad({ set = "A=1" }, 'env.set must be a table of KEY = "value" (or a list of {KEY, value} '
      .. 'pairs), got "A=1"')
    bad({ append = { "PATH" } }, 'env.append[1] must be a {KEY, value} pair, got "PATH"')
    bad({ stacks = { "ml", "" } }, "env.stacks[2] must be a non-empty name")
    bad({ include = "" }, "env.include[1] must be a non-empty name")
  end)

  it("normalises groups into a JSON object", function()
    assert.are.equal("{}", util.json_encode(env.normalize_groups(nil, "env_groups")))
    local groups = env.normalize_groups({ g = { set = { A = "1" } } }, "env_groups")
    assert.are.equal('{"g":[{"set":{"A":"1"}}]}', util.json_encode(groups))
    local _, err = env.normalize_groups({ g = { set = { A = 1 } } }, "env_groups")
    assert.are.equal("env_groups.g.set.A must be a string, got 1", err)
  end)
end)

describe("env rules of a workflow document (normalize_document)", function()
  local J = util.json_decode

  it("validates the document's env, its groups and each task's, naming the task", function()
    local function err_of(doc)
      return support.error_of(env.normalize_document, doc, "workflow 'w'")
    end
    assert.are.equal("workflow 'w': env[1].set.A must be a string, got 1",
      err_of({ env = J('[{"set": {"A": 1}}]') }))
    assert.are.equal("workflow 'w': env_groups.g[1].init must be a string, got 3",
      err_of({ env_groups = J('{"g": [{"init": 3}]}') }))
    assert.are.equal("workflow 'w': tasks[7]: Task 'b': env: unknown field \"sett\" "
      .. "(did you mean \"set\"?)",
      err_of({ tasks = { { index = 7, id = "b", env = J('{"sett": {}}') } } }))
  end)

  it("returns the stored form: JSON objects with set/append in the order written", function()
    local doc = env.normalize_document({
      env = J('{"set": {"B": "1", "A": "${B}"}}'),
      env_groups = J('{"g": {"init": "x"}}'),
      tasks = { { index = 1, id = "a", env = J('[{"if_": {"H": "x"}, "append": {"P": "/b"}}]') } },
    }, "")
    assert.are.equal('{"env":[{"set":{"B":"1","A":"${B}"}}],"env_groups":{"g":[{"init":"x"}]},'
      .. '"tasks":[[{"if":{"H":"x"},"append":{"P":"/b"}}]]}', util.json_encode(doc))
  end)
end)

describe("stacks a run uses (stacks_used, stacks_of_run)", function()
  local stacks = { a = {}, b = {}, c = {} }

  local function used(rules, opts)
    opts = opts or {}
    return env.stacks_used { seed = opts.seed or {}, groups = opts.groups, stacks = stacks,
                             layers = { { source = "server", rules = rules } } }
  end

  it("counts a stack only when its rule's guards hold where the rule is reached", function()
    assert.are.same({ "a" }, used({ { stacks = { "a" } }, { ["if"] = { X = "1" }, stacks = { "b" } } }))
    assert.are.same({ "b" }, used({ { set = { X = "1" } }, { ["if"] = { X = "1" }, stacks = { "b" } } }))
    assert.are.same({}, used({ { ["if"] = { X = "1" }, stacks = { "b" } }, { set = { X = "1" } } }))
    assert.are.same({ "c" }, used({ { ["if"] = { SCRIPTHUT_BACKEND = "hpc" }, stacks = { "c" } } },
      { seed = { { "SCRIPTHUT_BACKEND", "hpc" } } }))
  end)

  it("follows includes, carrying the including rule's guard down", function()
    local groups = { g = { { stacks = { "a" } } }, h = { { include = { "g" } }, { stacks = { "b" } } } }
    assert.are.same({ "a", "b" }, used({ { include = { "h" } } }, { groups = groups }))
    assert.are.same({}, used({ { ["if"] = { X = "1" }, include = { "h" } } }, { groups = groups }))
  end)

  it("does not fail on what resolution reports: undefined stacks and groups, cycles", function()
    local groups = { g = { { include = { "g" } }, { stacks = { "a" } } } }
    assert.are.same({ "nope", "a" }, used({ { stacks = { "nope" } }, { include = { "g", "x" } } },
      { groups = groups }))
  end)

  it("per run and per task with rules, over the layers of a job", function()
    local run = { seed = { { "SCRIPTHUT_BACKEND", "local" } }, backend = { name = "local" },
                  env = { backend = { { stacks = { "a" } } }, server = {}, workflow = {} },
                  env_groups = {}, stacks = stacks }
    local r = env.stacks_of_run(run, { { { stacks = { "b" } } }, { { ["if"] = { Y = "1" }, stacks = { "c" } } } })
    assert.are.same({ run = { "a" }, tasks = { { "a", "b" }, { "a" } } }, r)
  end)
end)
