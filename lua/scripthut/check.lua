-- scripthut.check: value checks shared by the config DSL and env rules.
--
-- A check is a function(value) -> normalised value | nil, reason; reasons read
-- as the end of a sentence ("must be a positive integer").  `fields` checks a
-- table of named fields against a schema and returns the normalised table or
-- nil plus a message naming the field ("max_concurrent must be a positive
-- integer, got \"ten\"").
local util = require "scripthut.util"

local M = {}

local NULL = util.null
M.NULL = NULL

function M.is_null(v)
  return v == nil or v == NULL
end

-- How a value appears in an error message.
function M.show(v)
  if type(v) == "string" then
    return string.format("%q", v)
  elseif v == NULL then
    return "null"
  elseif type(v) == "table" or type(v) == "function" then
    return "a " .. type(v)
  end
  return tostring(v)
end

-- True for a table whose keys are exactly 1..n (an empty table counts).
function M.is_list(t)
  if type(t) ~= "table" then
    return false
  end
  local n = 0
  for _ in pairs(t) do
    n = n + 1
  end
  return n == #t
end

function M.sorted_keys(t)
  local keys = {}
  for k in pairs(t) do
    keys[#keys + 1] = k
  end
  table.sort(keys, function(a, b)
    if type(a) == type(b) and (type(a) == "string" or type(a) == "number") then
      return a < b
    end
    return type(a) < type(b)
  end)
  return keys
end

-- ' (did you mean "x"?)' when a candidate is close, else "".  The rule of
-- closeness is util.closest's, shared with the C messages.
function M.suggest(name, candidates)
  local best = util.closest(name, candidates)
  return best and (' (did you mean "%s"?)'):format(best) or ""
end

-- ---- checks --------------------------------------------------------------

function M.positive_integer(v)
  local i = math.type(v) and math.tointeger(v)
  if i and i >= 1 then
    return i
  end
  return nil, "must be a positive integer"
end

function M.nonnegative_integer(v)
  local i = math.type(v) and math.tointeger(v)
  if i and i >= 0 then
    return i
  end
  return nil, "must be an integer >= 0"
end

function M.port(v)
  local i = math.type(v) and math.tointeger(v)
  if i and i >= 1 and i <= 65535 then
    return i
  end
  return nil, "must be a port number (1-65535)"
end

function M.at_least(min)
  return function(v)
    if type(v) == "number" and v >= min and v < math.huge then
      return math.tointeger(v) or v
    end
    return nil, ("must be a number >= %s"):format(min)
  end
end

function M.string(v)
  if type(v) == "string" then
    return v
  end
  return nil, "must be a string"
end

function M.nonempty_string(v)
  if type(v) == "string" and v ~= "" then
    return v
  end
  return nil, "must be a non-empty string"
end

function M.boolean(v)
  if type(v) == "boolean" then
    return v
  end
  return nil, "must be true or false"
end

function M.one_of(choices)
  local set, shown = {}, {}
  for _, c in ipairs(choices) do
    set[c] = true
    shown[#shown + 1] = ("%q"):format(c)
  end
  local reason = "must be one of " .. table.concat(shown, ", ")
  return function(v)
    if set[v] then
      return v
    end
    return nil, reason
  end
end

-- A list of strings (a copy).
function M.string_list(v)
  if type(v) == "string" then
    return { v }
  end
  if not M.is_list(v) then
    return nil, "must be a list of strings"
  end
  local out = {}
  for i, s in ipairs(v) do
    if type(s) ~= "string" then
      return nil, ("must be a list of strings (item %d is %s)"):format(i, M.show(s))
    end
    out[i] = s
  end
  return out
end

-- A map of string -> string (a copy marked as a JSON object).
function M.string_map(v)
  if type(v) ~= "table" then
    return nil, "must be a table of string keys to string values"
  end
  local out = util.object()
  for _, k in ipairs(M.sorted_keys(v)) do
    local s = v[k]
    if type(k) ~= "string" or type(s) ~= "string" then
      return nil, ("must be a table of string keys to string values (entry [%s] = %s)"):format(
        M.show(k), M.show(s))
    end
    out[k] = s
  end
  return out
end

-- ---- tables of fields ----------------------------------------------------

-- schema: list of {name, check, default = value | function() | nil,
-- required = bool}.  An unset optional field without a default is null.  A
-- check may return nil, message, true when its message is already complete
-- (a nested table that names its own fields).
-- `prefix` is prepended to field names in messages ("ssh.").
function M.fields(def, schema, prefix)
  prefix = prefix or ""
  if type(def) ~= "table" then
    return nil, ("%sexpected a table of fields, got %s"):format(
      prefix ~= "" and prefix:sub(1, -2) .. ": " or "", M.show(def))
  end
  local known, names = {}, {}
  for _, f in ipairs(schema) do
    known[f[1]] = true
    names[#names + 1] = f[1]
  end
  for _, k in ipairs(M.sorted_keys(def)) do
    if type(k) ~= "string" then
      return nil, ("unexpected positional value %s; fields are written name = value"):format(
        M.show(def[k]))
    end
    if not known[k] then
      return nil, ("unknown field %q%s"):format(prefix .. k, M.suggest(k, names))
    end
  end
  local out = {}
  for _, f in ipairs(schema) do
    local name, check = f[1], f[2]
    local v = def[name]
    if M.is_null(v) then
      if f.required then
        return nil, prefix .. name .. " is required"
      end
      local d = f.default
      if type(d) == "function" then
        d = d()
      end
      out[name] = d == nil and NULL or d
    else
      local ok, why, complete = check(v)
      if ok == nil then
        if complete then
          return nil, why
        end
        return nil, ("%s%s %s, got %s"):format(prefix, name, why, M.show(v))
      end
      out[name] = ok
    end
  end
  return out
end

return M
