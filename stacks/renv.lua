-- stacks.renv: an R library restored from an renv lockfile.
--
--   local renv = require "stacks.renv"
--   stack "stats" (renv { lockfile = "renv.lock" })
--
-- Parameters: lockfile (required, hashed), rscript (default "Rscript"),
-- repos (CRAN mirror used to fetch renv itself when missing), plus the
-- common stack fields.  Tasks run with R_LIBS_USER set to the stack's
-- library.  Untested against the real tool.
local b = require "stacks._base"

local q = b.q

return function(params)
  local s = b.base("renv", params, { "lockfile", "rscript", "repos" })
  local lockfile = b.need("renv", params, "lockfile")
  local repos = params.repos or "https://cloud.r-project.org"
  local i = b.add_inputs(s, { lockfile })
  local r_code = ("lib <- file.path(Sys.getenv('STACK_DIR'), 'library'); "
    .. "dir.create(lib, recursive = TRUE, showWarnings = FALSE); .libPaths(c(lib, .libPaths())); "
    .. "if (!requireNamespace('renv', quietly = TRUE)) install.packages('renv', lib = lib, repos = %s); "
    .. "renv::restore(lockfile = Sys.getenv('STACK_LOCKFILE'), library = lib, prompt = FALSE)")
    :format(("%q"):format(repos))
  s.prep = table.concat({
    ('export STACK_LOCKFILE="$STACK_INPUT_%d"'):format(i),
    q(params.rscript or "Rscript") .. " -e " .. q(r_code),
  }, "\n")
  s.init = b.init(s, { 'export R_LIBS_USER="$STACK_DIR/library"' })
  return s
end
