-- Helpers shared by the Lua specs: temp dirs and files, and errors as text.
-- run.lua has already pointed HOME and XDG_* at a temp dir.
local util = require "scripthut.util"

local M = {}

local q = util.shell_quote

function M.home()
  return assert(os.getenv("SCRIPTHUT_TEST_HOME"), "run specs through tests/lua/run.lua")
end

-- A fresh directory under the test home.
function M.tmpdir()
  local pipe = assert(io.popen("mktemp -d " .. q(M.home() .. "/tmp-XXXXXX")))
  local dir = pipe:read("l")
  pipe:close()
  return dir
end

function M.mkdir(dir)
  assert(os.execute("mkdir -p " .. q(dir)))
end

-- Writes text to dir/rel (creating directories); returns the path.
function M.write(dir, rel, text)
  local path = dir .. "/" .. rel
  M.mkdir(util.dirname(path))
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

function M.read(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  return text
end

-- Runs fn(...) and returns the message of the error it raises (error
-- objects and strings alike); fails when it does not raise.
function M.error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error")
  return tostring(err), util.is_error(err) and err.status or nil
end

-- Runs a shell command; returns stdout, and the exit code.
function M.sh(cmd)
  local pipe = assert(io.popen(cmd))
  local out = pipe:read("a")
  local _, _, code = pipe:close()
  return out, code
end

return M
