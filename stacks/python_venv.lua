-- stacks.python_venv: a Python virtual environment (python -m venv) with the
-- packages of a requirements file and/or a list.
--
--   local venv = require "stacks.python_venv"
--   stack "ml" (venv { requirements = "requirements.txt", python = "python3.12" })
--
-- Parameters: requirements (a file, hashed), packages (list of pip specs),
-- python (default "python3"), pip_args (list of extra pip arguments, e.g.
-- {"--no-index", "--find-links", "/wheels"}), plus the common stack fields.
-- Tasks with `stacks = {"ml"}` run with the venv activated.
local b = require "stacks._base"

local q = b.q

return function(params)
  local s = b.base("python_venv", params, { "requirements", "packages", "python", "pip_args" })
  local python = params.python or "python3"
  local pip = { '"$STACK_DIR/venv/bin/python" -m pip install' }
  for _, a in ipairs(params.pip_args or {}) do
    pip[#pip + 1] = q(a)
  end
  local pip_cmd = table.concat(pip, " ")
  local prep = { q(python) .. ' -m venv "$STACK_DIR/venv"' }
  if params.requirements then
    local i = b.add_inputs(s, { params.requirements })
    prep[#prep + 1] = ('%s -r "$STACK_INPUT_%d"'):format(pip_cmd, i)
  end
  if params.packages and #params.packages > 0 then
    local specs = {}
    for i, p in ipairs(params.packages) do
      specs[i] = q(p)
    end
    prep[#prep + 1] = pip_cmd .. " " .. table.concat(specs, " ")
  end
  s.prep = table.concat(prep, "\n")
  s.init = b.init(s, { '. "$STACK_DIR/venv/bin/activate"' })
  return s
end
