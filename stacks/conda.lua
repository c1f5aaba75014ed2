-- stacks.conda: a conda environment from an environment file, built with
-- micromamba (default), mamba or conda into the stack directory.
--
--   local conda = require "stacks.conda"
--   stack "geo" (conda { env_file = "environment.yml" })
--
-- Parameters: env_file (required, hashed), tool ("micromamba" | "mamba" |
-- "conda"), plus the common stack fields.  Untested against the real tool.
local b = require "stacks._base"

local q = b.q

return function(params)
  local s = b.base("conda", params, { "env_file", "tool" })
  local file = b.need("conda", params, "env_file")
  local tool = params.tool or "micromamba"
  if tool ~= "micromamba" and tool ~= "mamba" and tool ~= "conda" then
    error(("stacks.conda: tool must be micromamba, mamba or conda, got %q"):format(tostring(tool)), 2)
  end
  local i = b.add_inputs(s, { file })
  if tool == "micromamba" then
    s.prep = ('micromamba create -y -p "$STACK_DIR/env" -f "$STACK_INPUT_%d"'):format(i)
    s.init = b.init(s, { 'eval "$(micromamba shell hook -s bash)"',
                         'micromamba activate "$STACK_DIR/env"' })
  else
    s.prep = ('%s env create -p "$STACK_DIR/env" -f "$STACK_INPUT_%d"'):format(q(tool), i)
    s.init = b.init(s, { ('eval "$(%s shell.bash hook)"'):format(q(tool)),
                         ('%s activate "$STACK_DIR/env"'):format(q(tool)) })
  end
  return s
end
