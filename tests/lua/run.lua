-- Runs busted spec files inside the scripthut binary, so specs exercise the
-- embedded modules and the C functions behind them (scripthut.util):
--
--   scripthut lua tests/lua/run.lua tests/lua/env_spec.lua [busted options]
--
-- The runner first re-executes itself with HOME, XDG_CONFIG_HOME and
-- XDG_DATA_HOME in a fresh temporary directory (also the cwd), so no spec
-- ever reads the real ~ or a scripthut.lua above the build tree.
--
-- busted and its dependencies come from the system Lua path
-- (/usr/share/lua/5.4, Debian's lua-busted), which the host keeps on
-- package.path after the user override directories.
local util = require "scripthut.util"

local script = util.absolute(arg[0])
local here = util.dirname(script)

-- The path of this scripthut binary (not the shell's: ask by our own pid).
local function self_exe()
  local pid = assert(io.open("/proc/self/stat")):read("a"):match("^(%d+)")
  local pipe = assert(io.popen("readlink /proc/" .. pid .. "/exe"))
  local exe = pipe:read("l")
  pipe:close()
  return exe
end

if not os.getenv("SCRIPTHUT_TEST_HOME") then
  local pipe = assert(io.popen("mktemp -d /tmp/scripthut-lua-spec-XXXXXX"))
  local home = pipe:read("l")
  pipe:close()
  local words = { "cd", util.shell_quote(home), "&&", "env",
    "-u", "SCRIPTHUT_LUA_PATH", "-u", "SCRIPTHUT_LUA_INSTRUCTION_LIMIT",
    "-u", "SCRIPTHUT_LUA_MEMORY_LIMIT_MB",
    "SCRIPTHUT_TEST_HOME=" .. util.shell_quote(home),
    "HOME=" .. util.shell_quote(home),
    "XDG_CONFIG_HOME=" .. util.shell_quote(home .. "/.config"),
    "XDG_DATA_HOME=" .. util.shell_quote(home .. "/.local/share"),
    util.shell_quote(self_exe()),
  }
  words[#words + 1] = "lua"
  words[#words + 1] = util.shell_quote(script)
  for i = 1, #arg do
    local a = arg[i]
    if not a:match("^%-") then
      a = util.absolute(a)
    end
    words[#words + 1] = util.shell_quote(a)
  end
  local ok, how, code = os.execute(table.concat(words, " "))
  os.execute("rm -rf " .. util.shell_quote(home))
  if how == "signal" then
    os.exit(128 + code)
  end
  os.exit(ok and 0 or code)
end

package.path = here .. "/?.lua;" .. package.path

-- busted reads the global `arg` as its command line.
local args = { [0] = "busted", "--output=TAP" }
for i = 1, #arg do
  args[#args + 1] = arg[i]
end
arg = args
require("busted.runner")({ standalone = false })
