-- scripthut.pretty: a value as readable Lua-like text, for the REPL and for
-- scripts (`print(scripthut.pretty(run))`).
--
-- Tables are nested and their keys sorted (the list part first, in order), so
-- the output never depends on iteration order.  A table that contains itself
-- is shown as <cycle: path> instead of recursing; a table reached twice
-- without a cycle is printed twice.  Short tables stay on one line.
local cjson = require "cjson"

local WIDTH = 78

local KEYWORDS = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or
            repeat return then true until while]]):gmatch("%a+") do
  KEYWORDS[w] = true
end

local function is_identifier(k)
  return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil and not KEYWORDS[k]
end

local function quote(s)
  return (("%q"):format(s):gsub("\\\n", "\\n"):gsub("\\9", "\\t"))
end

local function scalar(v)
  if v == cjson.null then
    return "json.null"
  elseif type(v) == "string" then
    return quote(v)
  end
  return tostring(v)
end

-- Numbers first (by value), then strings, then anything else (by text).
local TYPE_RANK = { number = 1, string = 2 }
local function key_less(a, b)
  local ra, rb = TYPE_RANK[type(a)] or 3, TYPE_RANK[type(b)] or 3
  if ra ~= rb then
    return ra < rb
  elseif ra == 3 then
    return tostring(a) < tostring(b)
  end
  return a < b
end

local function key_text(k)
  if is_identifier(k) then
    return k
  end
  return "[" .. scalar(k) .. "]"
end

-- The list part (1..n) and the other keys, sorted.
local function split_keys(t)
  local n = 0
  while rawget(t, n + 1) ~= nil do
    n = n + 1
  end
  local others = {}
  for k in next, t do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then
      others[#others + 1] = k
    end
  end
  table.sort(others, key_less)
  return n, others
end

local render

local function child_path(path, k)
  if is_identifier(k) then
    return path .. "." .. k
  end
  return path .. "[" .. scalar(k) .. "]"
end

local function render_table(t, indent, open, path)
  if open[t] then
    return "<cycle: " .. open[t] .. ">"
  end
  local n, others = split_keys(t)
  if n == 0 and #others == 0 then
    return "{}"
  end
  open[t] = path
  local parts = {}
  for i = 1, n do
    parts[#parts + 1] = render(t[i], indent .. "  ", open, path .. "[" .. i .. "]")
  end
  for _, k in ipairs(others) do
    parts[#parts + 1] = key_text(k) .. " = " .. render(rawget(t, k), indent .. "  ", open,
      child_path(path, k))
  end
  open[t] = nil
  local one_line = "{ " .. table.concat(parts, ", ") .. " }"
  if #one_line + #indent <= WIDTH and not one_line:find("\n", 1, true) then
    return one_line
  end
  return "{\n" .. indent .. "  " .. table.concat(parts, ",\n" .. indent .. "  ") .. "\n"
    .. indent .. "}"
end

function render(v, indent, open, path)
  if type(v) == "table" then
    return render_table(v, indent, open, path)
  end
  return scalar(v)
end

return function(v)
  return render(v, "", {}, "<root>")
end
