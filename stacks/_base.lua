-- stacks._base: what every module of the stack library shares (not a stack
-- itself).  base(params, known) -> a stack table with the common fields of
-- params copied (backends, cache_dir, cpus, memory, time_limit, partition,
-- inputs, input_files, init), after checking that params has no field the
-- module does not know (a typo must not silently do nothing).
local util = require "scripthut.util"

local M = {}

M.q = util.shell_quote

local COMMON = { "backends", "cache_dir", "cpus", "memory", "time_limit", "partition",
                 "inputs", "input_files", "init" }

function M.base(module, params, known)
  if type(params) ~= "table" then
    error(("stacks.%s: expected a table of parameters, got %s"):format(module, type(params)), 3)
  end
  local allowed = {}
  for _, k in ipairs(COMMON) do allowed[k] = true end
  for _, k in ipairs(known) do allowed[k] = true end
  for k in pairs(params) do
    if not allowed[k] then
      local names = {}
      for _, n in ipairs(known) do names[#names + 1] = n end
      for _, n in ipairs(COMMON) do names[#names + 1] = n end
      error(("stacks.%s: unknown parameter %q (known: %s)"):format(module, tostring(k),
        table.concat(names, ", ")), 3)
    end
  end
  local out = {}
  for _, k in ipairs(COMMON) do
    out[k] = params[k]
  end
  return out
end

-- Requires a non-empty string parameter.
function M.need(module, params, key)
  local v = params[key]
  if type(v) ~= "string" or v == "" then
    error(("stacks.%s: parameter %q is required (a non-empty string)"):format(module, key), 3)
  end
  return v
end

-- Appends files to the stack's input_files (hashed, and exported to prep as
-- STACK_INPUT_1..n in order); returns the index of the first one added.
function M.add_inputs(stack, files)
  local list = {}
  for _, f in ipairs(stack.input_files or {}) do list[#list + 1] = f end
  local first = #list + 1
  for _, f in ipairs(files) do list[#list + 1] = f end
  stack.input_files = list
  return first
end

-- Joins lines, then the user's extra init after the module's own.
function M.init(stack, lines)
  local text = table.concat(lines, "\n")
  if type(stack.init) == "string" and stack.init ~= "" then
    text = text .. "\n" .. stack.init
  end
  return text
end

return M
