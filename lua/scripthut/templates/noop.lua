-- scripthut.templates.noop: the noop backend runs nothing, but its jobs still
-- get a real script (env resolution and rendering are part of what the
-- benchmarks measure), the same as the local backend's.
return require "scripthut.templates.local"
