-- stacks.julia: a Julia depot with a project's packages instantiated and
-- precompiled.
--
--   local julia = require "stacks.julia"
--   stack "sim" (julia { project = "Project.toml", manifest = "Manifest.toml" })
--
-- Parameters: project (Project.toml, required, hashed), manifest
-- (Manifest.toml, hashed; recommended for reproducible builds), julia
-- (default "julia"), plus the common stack fields.  Tasks run with
-- JULIA_PROJECT and JULIA_DEPOT_PATH pointing into the stack.  Untested
-- against the real tool.
local b = require "stacks._base"

local q = b.q

return function(params)
  local s = b.base("julia", params, { "project", "manifest", "julia" })
  local project = b.need("julia", params, "project")
  local files = { project }
  if params.manifest then
    files[2] = params.manifest
  end
  local i = b.add_inputs(s, files)
  local prep = {
    'export JULIA_DEPOT_PATH="$STACK_DIR/depot"',
    'mkdir -p "$STACK_DIR/project"',
    ('cp "$STACK_INPUT_%d" "$STACK_DIR/project/Project.toml"'):format(i),
  }
  if params.manifest then
    prep[#prep + 1] = ('cp "$STACK_INPUT_%d" "$STACK_DIR/project/Manifest.toml"'):format(i + 1)
  end
  prep[#prep + 1] = q(params.julia or "julia")
    .. ' --project="$STACK_DIR/project" -e \'using Pkg; Pkg.instantiate(); Pkg.precompile()\''
  s.prep = table.concat(prep, "\n")
  -- The trailing ":" keeps Julia's default depots after ours (stdlib).
  s.init = b.init(s, { 'export JULIA_DEPOT_PATH="$STACK_DIR/depot:"',
                       'export JULIA_PROJECT="$STACK_DIR/project"' })
  return s
end
