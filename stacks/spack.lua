-- stacks.spack: a Spack environment from a spack.yaml, concretized and
-- installed in the stack directory.
--
--   local spack = require "stacks.spack"
--   stack "hpc" (spack { env_file = "spack.yaml", cpus = 16, time_limit = "4:00:00" })
--
-- Parameters: env_file (required, hashed), spack (the spack command,
-- default "spack"), plus the common stack fields.  Tasks run with the
-- environment activated.  Untested against the real tool.
local b = require "stacks._base"

local q = b.q

return function(params)
  local s = b.base("spack", params, { "env_file", "spack" })
  local file = b.need("spack", params, "env_file")
  local spack = q(params.spack or "spack")
  local i = b.add_inputs(s, { file })
  s.prep = table.concat({
    'mkdir -p "$STACK_DIR/env"',
    ('cp "$STACK_INPUT_%d" "$STACK_DIR/env/spack.yaml"'):format(i),
    spack .. ' -e "$STACK_DIR/env" concretize -f',
    spack .. ' -e "$STACK_DIR/env" install -j "${SLURM_CPUS_PER_TASK:-1}"',
  }, "\n")
  s.init = b.init(s, { ('eval "$(%s env activate --sh -d "$STACK_DIR/env")"'):format(spack) })
  return s
end
