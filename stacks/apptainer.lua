-- stacks.apptainer: a container image pulled once into the stack directory.
--
--   local apptainer = require "stacks.apptainer"
--   stack "torch" (apptainer { image = "docker://pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime" })
--
-- Parameters: image (required: a docker://, oras://, library:// or https://
-- source; part of the hash), tool ("apptainer" | "singularity"), plus the
-- common stack fields.  Tasks get STACK_IMAGE (the .sif path) and run
-- `apptainer exec "$STACK_IMAGE" ...` themselves.  Untested against the real
-- tool.
local b = require "stacks._base"

local q = b.q

return function(params)
  local s = b.base("apptainer", params, { "image", "tool" })
  local image = b.need("apptainer", params, "image")
  local tool = params.tool or "apptainer"
  s.prep = ('%s pull "$STACK_DIR/image.sif" %s'):format(q(tool), q(image))
  s.init = b.init(s, { 'export STACK_IMAGE="$STACK_DIR/image.sif"' })
  return s
end
