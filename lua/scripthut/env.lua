-- scripthut.env: environment rules - their shape, and resolving them into
-- the variables and init text of one job (spec/original-engine.md §8).
--
-- A rule is {if = {KEY = "v" | {"v1", "v2"}}, include = {group...},
-- stacks = {stack...}, set = ..., append = ..., init = "bash text"}.
-- `set` and `append` are ordered: a map is applied in sorted key order, a list
-- of {KEY, VALUE} pairs (or a util.ordered table, which is how JSON objects
-- arrive) in list order.
--
-- Differences from the original: a stack's init is preceded by
-- `export STACK_DIR=<its hash dir>` (when the stack object carries its hash),
-- and `${STACK_DIR}` in a stack's init is left for the shell to expand.
local util = require "scripthut.util"
local check = require "scripthut.check"
local stackmod = require "scripthut.stack"

local M = {}

local NULL = util.null
local NAME_PATTERN = "^[A-Za-z_][A-Za-z0-9_]*$"
local RULE_FIELDS = { "if", "include", "stacks", "set", "append", "init" }

-- The fields of a rule whose order is significant.  JSON objects under a
-- member of one of these names reach Lua as util.ordered pair lists (the
-- JSON converter asks this list; it knows no names itself), so `set` and
-- `append` apply in the order written (docs/config-json.md).
M.ORDERED_FIELDS = { "set", "append" }
local RULE_KEYS = { ["if"] = true, if_ = true, include = true, stacks = true, set = true,
                    append = true, init = true }

local function empty(v)
  return v == nil or v == NULL or (type(v) == "table" and next(v) == nil)
end

-- Given, and not an empty table: null and {} mean "absent".
local function present(v)
  return not empty(v)
end

local function list(v)
  if v == nil or v == NULL then
    return {}
  end
  return v
end

-- The {key, value} entries of a set/append table, in application order.
function M.entries(t)
  if empty(t) then
    return {}
  end
  if util.is_ordered(t) or type(t[1]) == "table" then
    return t
  end
  local out = {}
  for _, k in ipairs(check.sorted_keys(t)) do
    out[#out + 1] = { k, t[k] }
  end
  return out
end

-- ---- shape ---------------------------------------------------------------

local function normalize_guard(g, where)
  if type(g) ~= "table" then
    return nil, ("%s must be a table of KEY = value or {values}, got %s"):format(where, check.show(g))
  end
  local out = util.object()
  for _, k in ipairs(check.sorted_keys(g)) do
    local v = g[k]
    if type(k) ~= "string" then
      return nil, ("%s: keys must be variable names, got %s"):format(where, check.show(k))
    end
    if type(v) == "table" then
      local values, why = check.string_list(v)
      if not values then
        return nil, ("%s.%s %s"):format(where, k, why)
      end
      v = values
    elseif type(v) ~= "string" then
      return nil, ("%s.%s must be a string or a list of strings, got %s"):format(where, k,
        check.show(v))
    end
    out[k] = v
  end
  return out
end

local function normalize_assignments(t, where)
  if type(t) ~= "table" then
    return nil, ("%s must be a table of KEY = \"value\" (or a list of {KEY, value} pairs), got %s")
      :format(where, check.show(t))
  end
  -- A list is a list of pairs, even when its entries are not pairs.
  local pairs_list = (next(t) ~= nil and check.is_list(t)) and t or M.entries(t)
  if not util.is_ordered(t) and type(t[1]) == "table" and not check.is_list(t) then
    return nil, ("%s mixes {KEY, value} pairs and KEY = value entries"):format(where)
  end
  local out = util.ordered()
  for i, e in ipairs(pairs_list) do
    if type(e) ~= "table" then
      return nil, ("%s[%d] must be a {KEY, value} pair, got %s"):format(where, i, check.show(e))
    end
    local k, v = e[1], e[2]
    if type(k) ~= "string" or not k:match(NAME_PATTERN) then
      return nil, ("%s: %s is not a valid environment variable name"):format(where, check.show(k))
    end
    if type(v) ~= "string" then
      return nil, ("%s.%s must be a string, got %s"):format(where, k, check.show(v))
    end
    out[#out + 1] = { k, v }
  end
  return out
end

local function normalize_rule(rule, where)
  if type(rule) ~= "table" then
    return nil, ("%s must be a table, got %s"):format(where, check.show(rule))
  end
  for _, k in ipairs(check.sorted_keys(rule)) do
    if not RULE_KEYS[k] then
      return nil, ("%s: unknown field %s%s"):format(where, check.show(k),
        type(k) == "string" and check.suggest(k, RULE_FIELDS) or "")
    end
  end
  if rule["if"] ~= nil and rule.if_ ~= nil then
    return nil, ("%s: give either 'if' or 'if_', not both"):format(where)
  end
  local out, err = {}, nil
  local guard = rule["if"] or rule.if_
  if present(guard) then
    out["if"], err = normalize_guard(guard, where .. ".if")
    if err then return nil, err end
  end
  for _, field in ipairs({ "include", "stacks" }) do
    if present(rule[field]) then
      local names, why = check.string_list(rule[field])
      if not names then
        return nil, ("%s.%s %s, got %s"):format(where, field, why, check.show(rule[field]))
      end
      for i, n in ipairs(names) do
        if n == "" then
          return nil, ("%s.%s[%d] must be a non-empty name"):format(where, field, i)
        end
      end
      out[field] = names
    end
  end
  for _, field in ipairs({ "set", "append" }) do
    if present(rule[field]) then
      out[field], err = normalize_assignments(rule[field], where .. "." .. field)
      if err then return nil, err end
    end
  end
  if rule.init ~= nil and rule.init ~= NULL then
    if type(rule.init) ~= "string" then
      return nil, ("%s.init must be a string, got %s"):format(where, check.show(rule.init))
    end
    if rule.init ~= "" then
      out.init = rule.init
    end
  end
  return out
end

local function looks_like_rule(t)
  for k in pairs(t) do
    if RULE_KEYS[k] then
      return true
    end
  end
  return false
end

-- normalize_rules(value, where) -> list of rules | nil, message
-- Accepts one rule or a list of rules; `where` names the value in messages
-- ("env", "tasks[3].env").  The result has only non-empty fields, `set` and
-- `append` as util.ordered pair lists.
function M.normalize_rules(v, where)
  if v == nil or v == NULL then
    return {}
  end
  if type(v) ~= "table" then
    return nil, ("%s must be a rule table or a list of rules, got %s"):format(where, check.show(v))
  end
  if looks_like_rule(v) then
    local rule, err = normalize_rule(v, where)
    return rule and { rule }, err
  end
  if not check.is_list(v) then
    local k = check.sorted_keys(v)[1]
    return nil, ("%s: unknown field %s%s"):format(where, check.show(k),
      type(k) == "string" and check.suggest(k, RULE_FIELDS) or "")
  end
  local out = {}
  for i, rule in ipairs(v) do
    local r, err = normalize_rule(rule, ("%s[%d]"):format(where, i))
    if not r then
      return nil, err
    end
    out[i] = r
  end
  return out
end

-- normalize_groups(value, where) -> util.object{name = rules} | nil, message
function M.normalize_groups(v, where)
  local out = util.object()
  if v == nil or v == NULL then
    return out
  end
  if type(v) ~= "table" or (next(v) ~= nil and check.is_list(v)) then
    return nil, ("%s must be a table of group name = rules, got %s"):format(where, check.show(v))
  end
  for _, name in ipairs(check.sorted_keys(v)) do
    if type(name) ~= "string" then
      return nil, ("%s: group names must be strings, got %s"):format(where, check.show(name))
    end
    local rules, err = M.normalize_rules(v[name], ("%s.%s"):format(where, name))
    if not rules then
      return nil, err
    end
    out[name] = rules
  end
  return out
end

-- A normalised rule as it is stored: an object with its fields in the order
-- of RULE_FIELDS (docs/config-json.md), `set`/`append` keeping theirs.
local function stored_rule(rule)
  local out = util.ordered()
  for _, k in ipairs(RULE_FIELDS) do
    local v = rule[k]
    if v ~= nil then
      out[#out + 1] = { k, v }
    end
  end
  return out
end

local function stored_rules(rules)
  local out = {}
  for i, r in ipairs(rules) do
    out[i] = stored_rule(r)
  end
  return out
end

-- normalize_document(doc, where) -> doc | raises util.error
-- The env rules of a workflow document that C is about to parse (a workflow
-- file, an API submission, a generates_source file), validated and
-- normalised in one call per document:
--   doc = {env = rules, env_groups = {name = rules}, tasks = {{index =, id =, env =}, ...}}
-- (only the tasks that have an env), and the same shape comes back with each
-- rule list normalised into its stored form.  `where` prefixes every message
-- ("workflow 'sweep'"); a task's rules are named as C names its other fields:
-- "workflow 'sweep': tasks[3]: Task 'a': env[1].set.X must be a string, got 3".
function M.normalize_document(doc, where)
  local prefix = (type(where) == "string" and where ~= "") and where .. ": " or ""
  local function fail(err)
    util.raise(prefix .. err)
  end
  local out = { tasks = {} }
  local rules, err = M.normalize_rules(doc.env, "env")
  if not rules then fail(err) end
  out.env = stored_rules(rules)
  local groups
  groups, err = M.normalize_groups(doc.env_groups, "env_groups")
  if not groups then fail(err) end
  out.env_groups = util.object()
  for name, g in pairs(groups) do
    out.env_groups[name] = stored_rules(g)
  end
  for i, t in ipairs(list(doc.tasks)) do
    rules, err = M.normalize_rules(t.env, ("tasks[%d]: Task '%s': env"):format(t.index, t.id))
    if not rules then fail(err) end
    out.tasks[i] = stored_rules(rules)
  end
  return out
end

-- ---- resolution ----------------------------------------------------------

-- Expands ${NAME} against env-so-far (single pass).  `keep` names variables
-- left for the shell (STACK_DIR in a stack's init).
local function expand(s, values, warnings, keep)
  return (s:gsub("%${([A-Za-z_][A-Za-z0-9_]*)}", function(name)
    if keep and keep[name] then
      return nil
    end
    local v = values[name]
    if v == nil then
      warnings[#warnings + 1] = ("env expansion: ${%s} undefined, using empty string"):format(name)
      return ""
    end
    return v
  end))
end
M.expand = function(s, values, warnings, keep)
  return expand(s, values, warnings or {}, keep)
end

local function guards_with(guards, own)
  if empty(own) then
    return guards
  end
  local out = { table.unpack(guards) }
  out[#out + 1] = own
  return out
end

local function guards_pass(guards, values)
  for _, g in ipairs(guards) do
    for k, want in pairs(g) do
      local have = values[k]
      if have == nil then
        return false
      end
      if type(want) == "table" then
        local any = false
        for _, w in ipairs(want) do
          if w == have then
            any = true
            break
          end
        end
        if not any then
          return false
        end
      elseif want ~= have then
        return false
      end
    end
  end
  return true
end

-- A stack's init text and the line that defines STACK_DIR before it (nil
-- without a hash).  The line is not subject to ${} expansion: the quoted dir
-- may start with "${SCRATCH}" for the shell.
local function stack_init(stack, name)
  local init = stack.init
  if type(init) ~= "string" or init == "" then
    return nil
  end
  if type(stack.hash) == "string" and stack.hash ~= "" then
    local dir = stackmod.dir({ name = name, cache_dir = stack.cache_dir, hash = stack.hash })
    return init, ("export STACK_DIR=%s\n"):format(util.shell_quote_path(dir))
  end
  return init
end

local KEEP_STACK_DIR = { STACK_DIR = true }

-- Appends the flattened form of `rules` to ctx.out (spec §8.4).  `path` is
-- the include chain, for cycle detection.  Each stack reference becomes an
-- item of its own (with the stack's init, when it has one), so the walk of
-- stacks_used sees it under its guards.  In that walk (ctx.walk) an undefined
-- stack and a cycle are not errors: resolution reports them.
local function flatten(rules, source, guards, ctx, path)
  for _, rule in ipairs(list(rules)) do
    local inner = guards_with(guards, rule["if"] or rule.if_)
    for _, g in ipairs(list(rule.include)) do
      if path[g] then
        if not ctx.walk then
          local chain = { table.unpack(path) }
          chain[#chain + 1] = g
          return nil, "env_group cycle detected: " .. table.concat(chain, " → ")
        end
      else
        local group = ctx.groups[g]
        if group == nil or group == NULL then
          ctx.warnings[#ctx.warnings + 1] =
            ("env_group '%s' referenced from %s but not defined; skipping"):format(g, source)
        else
          path[g] = true
          path[#path + 1] = g
          local ok, err = flatten(group, source .. " via group:" .. g, inner, ctx, path)
          path[#path] = nil
          path[g] = nil
          if not ok then
            return nil, err
          end
        end
      end
    end
    for _, s in ipairs(list(rule.stacks)) do
      local stack = ctx.stacks[s]
      local item = { source = source .. " via stack:" .. s, guards = inner, stack = s }
      if stack == nil or stack == NULL then
        if not ctx.walk then
          return nil, ("stack '%s' referenced from %s but not defined in the config. Either "
            .. "define it or fix the typo — silently skipping a stack reference would let the "
            .. "task run without the env the author expected."):format(s, source)
        end
      else
        local init, prefix = stack_init(stack, s)
        if init then
          item.rule, item.keep, item.prefix = { init = init }, KEEP_STACK_DIR, prefix
        end
      end
      ctx.out[#ctx.out + 1] = item
    end
    if not empty(rule.set) or not empty(rule.append)
       or (type(rule.init) == "string" and rule.init ~= "") then
      ctx.out[#ctx.out + 1] = { source = source, guards = inner, rule = rule }
    end
  end
  return true
end

local function record(prov, key, source, op, value)
  if prov then
    local ops = prov[key] or {}
    prov[key] = ops
    ops[#ops + 1] = { source = source, op = op, value = value }
  end
end

local function assign(state, key, value, source, op)
  if not key:match(NAME_PATTERN) then
    return nil, ("env rule %s: %q is not a valid environment variable name"):format(source, key)
  end
  if state.values[key] == nil then
    state.order[#state.order + 1] = key
  end
  state.values[key] = value
  return true
end

local function apply(state, item, warnings)
  local rule, source = item.rule, item.source
  for _, e in ipairs(M.entries(rule.set)) do
    local k = e[1]
    if k:sub(1, 10) == "SCRIPTHUT_" then
      warnings[#warnings + 1] =
        ("env rule %s attempted to set protected key '%s'; ignored"):format(source, k)
    else
      local v = expand(e[2], state.values, warnings)
      local ok, err = assign(state, k, v, source)
      if not ok then return nil, err end
      record(state.prov, k, source, "set", v)
    end
  end
  for _, e in ipairs(M.entries(rule.append)) do
    local k = e[1]
    if k:sub(1, 10) == "SCRIPTHUT_" then
      warnings[#warnings + 1] =
        ("env rule %s attempted to append to protected key '%s'; ignored"):format(source, k)
    else
      local add = expand(e[2], state.values, warnings)
      local old = state.values[k]
      local ok, err = assign(state, k, (old and old ~= "") and (old .. ":" .. add) or add, source)
      if not ok then return nil, err end
      record(state.prov, k, source, "append", add)
    end
  end
  if type(rule.init) == "string" and rule.init ~= "" then
    state.init[#state.init + 1] = (item.prefix or "")
      .. expand(rule.init, state.values, warnings, item.keep)
  end
  return true
end

-- Flattens the layers and applies the items whose guards pass, in order.
-- -> state, warnings | nil, message
local function run_rules(opts, walk)
  local ctx = { groups = opts.groups or {}, stacks = opts.stacks or {}, warnings = {}, out = {},
                walk = walk }
  if ctx.groups == NULL then ctx.groups = {} end
  if ctx.stacks == NULL then ctx.stacks = {} end
  for _, layer in ipairs(opts.layers or {}) do
    local ok, err = flatten(layer.rules, layer.source, {}, ctx, {})
    if not ok then
      return nil, err
    end
  end
  local state = { values = {}, order = {}, init = {}, prov = opts.provenance and {} or nil,
                  stacks = {}, stack_seen = {} }
  for _, e in ipairs(list(opts.seed)) do
    local ok, err = assign(state, e[1], e[2], "seed")
    if not ok then return nil, err end
    record(state.prov, e[1], "seed", "seed", e[2])
  end
  for _, item in ipairs(ctx.out) do
    if guards_pass(item.guards, state.values) then
      if item.stack and not state.stack_seen[item.stack] then
        state.stack_seen[item.stack] = true
        state.stacks[#state.stacks + 1] = item.stack
      end
      if item.rule then
        local ok, err = apply(state, item, ctx.warnings)
        if not ok and not walk then return nil, err end
      end
    end
  end
  return state, ctx.warnings
end

-- resolve{seed = {{KEY, value}, ...},
--         layers = {{source = "backend:hpc", rules = {...}}, ...},
--         groups = {name = rules}, stacks = {name = stack}, provenance = bool}
--   -> {env = {{KEY, value}, ...}, init = "text", warnings = {...},
--       provenance = {KEY = {{source=, op=, value=}, ...}} (when asked)}
--   |  nil, message (an env_group cycle, an unknown stack, a bad key)
-- env is in first-insertion order: the seed, then keys in order of first write.
function M.resolve(opts)
  local state, warnings = run_rules(opts, false)
  if not state then
    return nil, warnings
  end
  local env = {}
  for i, k in ipairs(state.order) do
    env[i] = { k, state.values[k] }
  end
  return { env = env, init = table.concat(state.init, "\n"), warnings = warnings,
           provenance = state.prov }
end

-- stacks_used(opts) -> {name, ...}: the stacks whose rules apply under the
-- options of resolve, in first-use order - the same walk (include chains,
-- `if` guards evaluated against the env as it is where the rule is
-- reached), except that an undefined stack, an undefined group or a cycle
-- is not an error here: resolving the job's env reports it.
function M.stacks_used(opts)
  return (run_rules(opts, true)).stacks
end

-- The layers of a job's env, in the order they apply: backend, server,
-- workflow document, task.  `run` is a run context as jobs.prepare gets it
-- (docs/config-json.md, "Preparing jobs").
function M.run_layers(run, task_rules)
  local env = run.env ~= NULL and run.env or {}
  local backend_name = type(run.backend) == "table" and run.backend.name or "?"
  return {
    { source = "backend:" .. tostring(backend_name), rules = list(env.backend) },
    { source = "server", rules = list(env.server) },
    { source = "workflow-doc", rules = list(env.workflow) },
    { source = "task", rules = list(task_rules) },
  }
end

-- stacks_of_run(run, task_rules) -> {run = {name, ...}, tasks = {{name, ...}, ...}}
-- At submission: the stacks a run's tasks will use, so that the ones not
-- ready get an install task in front of them.  `run` is the run context
-- (its seed holds what is known before the run exists: SCRIPTHUT_BACKEND and
-- SCRIPTHUT_WORKFLOW); `task_rules` lists the env rules of each task that
-- has some.  `run` names the stacks of a task without rules, tasks[k] those
-- of task_rules[k].
function M.stacks_of_run(run, task_rules)
  local function used(rules)
    return M.stacks_used { seed = list(run.seed), layers = M.run_layers(run, rules),
                           groups = run.env_groups, stacks = run.stacks }
  end
  local out = { run = used(nil), tasks = {} }
  for k, rules in ipairs(list(task_rules)) do
    -- Rules that name no stack and include no group add none: the task's
    -- stacks are the run's (a task's rules come last, so they cannot change
    -- what the earlier layers' guards saw).
    local names_any = false
    for _, r in ipairs(list(rules)) do
      names_any = names_any or not empty(r.stacks) or not empty(r.include)
    end
    out.tasks[k] = names_any and used(rules) or out.run
  end
  return out
end

return M
