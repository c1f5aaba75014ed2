-- scripthut.stack: the shell scripts behind stack install, check, delete and
-- gc (docs/stacks.md).  Policy, so it is Lua: override it by putting your own
-- scripthut/stack.lua in ~/.config/scripthut/lua.
--
-- Every function takes a stack object as the config gives it (with `hash`
-- set by C) and returns script text, which travels on stdin to the machine's
-- shell, never on a command line.  A leading ~, $VAR or ${VAR} of cache_dir is
-- left for that shell to expand (stacks often live under $SCRATCH); everything
-- else, the stack name included, is quoted by util.shell_quote (the C quoting
-- function), so spaces, quotes and $ cannot break or inject.
--
-- Layout on the machine: <cache_dir>/<name>/<hash>/ with a .ready sentinel
-- once prep succeeded; <hash>.lock/ beside it while an install holds it.
local util = require "scripthut.util"

local M = {}

local q, qp = util.shell_quote, util.shell_quote_path

-- A lock whose heartbeat is older than this is stale (its holder died on
-- another host, where its pid cannot be checked).
M.LOCK_STALE_SECONDS = 120
M.LOCK_HEARTBEAT_SECONDS = 30

local function cache_dir(stack)
  local c = type(stack.cache_dir) == "string" and stack.cache_dir ~= "" and stack.cache_dir
    or "~/.cache/scripthut/stacks"
  return (c:gsub("(.)/+$", "%1"))
end

-- The stack's directory holding all its hashes: <cache_dir>/<name>.
function M.stack_root(stack)
  return cache_dir(stack) .. "/" .. stack.name
end

-- The hash directory, unquoted: <cache_dir>/<name>/<hash>.
function M.dir(stack)
  if type(stack.hash) ~= "string" or stack.hash == "" then
    error(("stack '%s' has no hash"):format(tostring(stack.name)), 2)
  end
  return M.stack_root(stack) .. "/" .. stack.hash
end

local function trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

local function header(stack)
  return {
    ("# scripthut stack install: %s (hash %s)"):format(q(stack.name), stack.hash),
    "HASH_DIR=" .. qp(M.dir(stack)),
    "STACK=" .. q(stack.name),
  }
end

local function add_all(out, lines)
  for _, l in ipairs(lines) do
    out[#out + 1] = l
  end
end

-- Waits for and takes the lock, releasing it on any exit.  The owner file
-- says "pid host"; the holder touches it as a heartbeat.  A waiter breaks the
-- lock when its holder is a dead pid on this host, or when the heartbeat is
-- older than LOCK_STALE_SECONDS (a holder on another node that died).
local function lock_lines()
  return {
    "",
    "# Lock: one install of this hash at a time.  mkdir is atomic on NFS and",
    "# Lustre, where flock often is not.",
    'LOCK="$HASH_DIR.lock"',
    'mkdir -p "${HASH_DIR%/*}"',
    '__sh_host=$(hostname 2>/dev/null || echo unknown)',
    "__sh_waited=0",
    'while ! mkdir "$LOCK" 2>/dev/null; do',
    '  __sh_owner=$(cat "$LOCK/owner" 2>/dev/null || true)',
    '  __sh_beat=$(stat -c %Y "$LOCK/owner" 2>/dev/null || stat -c %Y "$LOCK" 2>/dev/null || echo 0)',
    "  __sh_stale=0",
    '  if [ -n "$__sh_owner" ] && [ "${__sh_owner#* }" = "$__sh_host" ] &&',
    '     ! kill -0 "${__sh_owner%% *}" 2>/dev/null; then',
    "    __sh_stale=1",
    -- beat 0: the lock vanished between mkdir and stat; just try again.
    ('  elif [ "$__sh_beat" != 0 ] && [ $(( $(date +%%s) - __sh_beat )) -gt %d ]; then')
      :format(M.LOCK_STALE_SECONDS),
    "    __sh_stale=1",
    "  fi",
    '  if [ "$__sh_stale" = 1 ]; then',
    '    if [ "$(cat "$LOCK/owner" 2>/dev/null || true)" = "$__sh_owner" ]; then',
    '      echo "Removing stale lock $LOCK (owner: ${__sh_owner:-unknown})"',
    '      rm -rf "$LOCK"',
    "    fi",
    "    continue",
    "  fi",
    '  if [ "$__sh_waited" = 0 ]; then',
    '    echo "Waiting for another install of stack $STACK (lock $LOCK held by ${__sh_owner:-?})"',
    "    __sh_waited=1",
    "  fi",
    "  sleep 1",
    "done",
    'echo "$$ $__sh_host" > "$LOCK/owner"',
    -- The heartbeat holds no output: a reader of the job's output must not
    -- wait for its last `sleep` to end.
    ("( while sleep %d; do touch \"$LOCK/owner\" || exit 0; done ) </dev/null >/dev/null 2>&1 &")
      :format(M.LOCK_HEARTBEAT_SECONDS),
    "__sh_heartbeat=$!",
    -- The trap runs under the prep's `set -e`: when the whole job is
    -- signalled (scancel, a cancel of the local process group, a time
    -- limit) the heartbeat may be gone already, and a failing `kill`
    -- would end the trap before it released the lock.
    "trap 'set +e; kill \"$__sh_heartbeat\" 2>/dev/null; rm -rf \"$LOCK\"' EXIT",
    "trap 'exit 143' TERM",
    "trap 'exit 130' INT",
  }
end

-- STACK_INPUT_1..n: the input files, as the config resolved them (relative
-- to the file that declared the stack), so a prep can say
-- "$STACK_INPUT_1" instead of a path that depends on where it was written.
-- They are paths on the machine that builds: the local backend, or a
-- filesystem the cluster shares.
local function input_exports(stack)
  local out = {}
  local files = stack.input_files
  if type(files) == "table" then
    for i, f in ipairs(files) do
      out[#out + 1] = ("export STACK_INPUT_%d=%s"):format(i, qp(f))
    end
  end
  return out
end

-- install_script(stack, {rebuild = bool}) -> bash script text
function M.install_script(stack, opts)
  opts = opts or {}
  local prep = trim(type(stack.prep) == "string" and stack.prep or "")
  local out = header(stack)
  if prep == "" then
    -- Nothing to build: the directory and its sentinel are the whole stack.
    add_all(out, {
      'mkdir -p "$HASH_DIR"',
      'touch "$HASH_DIR/.ready"',
      'echo "Stack $STACK marked ready at $HASH_DIR"',
    })
    return table.concat(out, "\n") .. "\n"
  end
  local ready_msg = ('echo "Stack $STACK already ready at $HASH_DIR (hash %s)"'):format(stack.hash)
  add_all(out, {
    'READY="$HASH_DIR/.ready"',
    "REBUILD=" .. (opts.rebuild and "1" or "0"),
    "",
    "# Fast path: already ready, not rebuilding.",
    'if [ -f "$READY" ] && [ "$REBUILD" != "1" ]; then',
    "  " .. ready_msg,
    "  exit 0",
    "fi",
  })
  add_all(out, lock_lines())
  add_all(out, {
    "",
    "# Built by the install we waited for.",
    'if [ -f "$READY" ] && [ "$REBUILD" != "1" ]; then',
    "  " .. ready_msg,
    "  exit 0",
    "fi",
    "",
    "# Cleanup: rebuild, or a half-built leftover of a failed or cancelled install.",
    'if [ "$REBUILD" = "1" ] || [ -d "$HASH_DIR" ]; then',
    '  rm -rf "$HASH_DIR"',
    "fi",
    "",
    "set -euo pipefail",
    'mkdir -p "$HASH_DIR"',
    'export STACK_DIR="$HASH_DIR"',
  })
  add_all(out, input_exports(stack))
  add_all(out, {
    'cd "$HASH_DIR"',
    "",
    "# === User prep === (a subshell: its own traps and exits cannot skip ours)",
    "(",
    prep,
    ")",
    "# === /User prep ===",
    "",
    'touch "$READY"',
    ('echo "Stack $STACK installed at $HASH_DIR (hash %s)"'):format(stack.hash),
  })
  return table.concat(out, "\n") .. "\n"
end

-- The stack check is one protocol in two halves, both here so an override
-- changes them together: check_script(stack) runs on the machine, and
-- parse_check reads what it printed.  C only carries the script there and
-- the output back.
--
-- check_script(stack) -> sh script printing KEY=VALUE lines: hash, state
-- (ready | installing | missing), last_built (the .ready mtime, epoch s),
-- size_bytes, locked (1 while an install holds the lock), lock_holder (its
-- "pid host") and path (the expanded hash dir; a value runs to the end of its
-- line, so it may hold anything but a newline).
function M.check_script(stack)
  return table.concat({
    "HASH_DIR=" .. qp(M.dir(stack)),
    "printf 'hash=%s\\n' " .. q(stack.hash),
    '__sh_locked=0; __sh_holder=',
    'if [ -d "$HASH_DIR.lock" ]; then',
    '  __sh_locked=1',
    '  __sh_holder=$(head -n 1 "$HASH_DIR.lock/owner" 2>/dev/null || true)',
    'fi',
    'if [ -f "$HASH_DIR/.ready" ]; then',
    "  echo state=ready",
    '  echo "last_built=$(stat -c %Y "$HASH_DIR/.ready" 2>/dev/null || echo 0)"',
    '  echo "size_bytes=$(du -sb "$HASH_DIR" 2>/dev/null | cut -f1)"',
    'elif [ -d "$HASH_DIR" ]; then',
    "  echo state=installing",
    "else",
    "  echo state=missing",
    "fi",
    'echo "locked=$__sh_locked"',
    'printf "lock_holder=%s\\n" "$__sh_holder"',
    'printf "path=%s\\n" "$HASH_DIR"',
  }, "\n") .. "\n"
end

local STATES = { ready = true, installing = true, missing = true }

-- What went wrong with a check that did not exit 0: stderr, else stdout,
-- else "exit N", trimmed.
local function check_failure(stdout, stderr, status)
  for _, text in ipairs({ stderr, stdout }) do
    local t = type(text) == "string" and trim(text) or ""
    if t ~= "" then
      return t
    end
  end
  return ("exit %s"):format(tostring(status))
end

-- A JSON string value: text that is not UTF-8 (a path with Latin-1 bytes)
-- has no JSON form and is reported as unknown.
local function text_or_null(s)
  if s == nil or s == "" or not utf8.len(s) then
    return util.null
  end
  return s
end

local function iso_time(epoch)
  local n = tonumber(epoch)
  if not n or n <= 0 then
    return util.null
  end
  return os.date("!%Y-%m-%dT%H:%M:%S+00:00", math.floor(n))
end

-- parse_check(stdout, stderr, status, stack) -> {state, hash, path,
-- last_built, size_bytes, locked, lock_holder, error}: what check_script's
-- output says, given its exit status.  A check that failed reports the
-- stack as missing, with the failure as its error.  `stack` is the stack the
-- script was rendered for (its hash stands in when the output lacks one).
function M.parse_check(stdout, stderr, status, stack)
  local hash = type(stack) == "table" and type(stack.hash) == "string" and stack.hash or util.null
  if status ~= 0 then
    return { state = "missing", hash = hash, path = util.null, last_built = util.null,
             size_bytes = util.null, locked = false, lock_holder = util.null,
             error = check_failure(stdout, stderr, status) }
  end
  local f = {}
  for line in (stdout or ""):gmatch("[^\n]+") do
    local k, v = line:match("^([%w_]+)=(.*)$")
    if k and f[k] == nil then
      f[k] = v
    end
  end
  local size = tonumber(f.size_bytes)
  return {
    state = STATES[f.state] and f.state or "missing",
    hash = text_or_null(f.hash) ~= util.null and f.hash or hash,
    path = text_or_null(f.path),
    last_built = iso_time(f.last_built),
    size_bytes = size and math.tointeger(size) or util.null,
    locked = f.locked == "1",
    lock_holder = f.locked == "1" and text_or_null(f.lock_holder) or util.null,
    error = util.null,
  }
end

-- delete_script(stack) -> sh script removing every hash of the stack.
function M.delete_script(stack)
  return "rm -rf " .. qp(M.stack_root(stack)) .. "\n"
end

-- list_script(stack) -> sh script printing the entries of <cache_dir>/<name>
-- that are directories, one name per line (nothing when it does not exist).
function M.list_script(stack)
  return table.concat({
    "D=" .. qp(M.stack_root(stack)),
    '[ -d "$D" ] || exit 0',
    'for x in "$D"/*; do [ -d "$x" ] && printf "%s\\n" "${x##*/}"; done',
    "exit 0",
  }, "\n") .. "\n"
end

-- remove_script(stack, hashes) -> sh script removing those hash dirs (and
-- any lock left beside them).  The caller passes hex hashes only.
function M.remove_script(stack, hashes)
  local out = { "D=" .. qp(M.stack_root(stack)) }
  for _, h in ipairs(hashes) do
    if not h:match("^%x+$") then
      error(("not a stack hash: %q"):format(h), 2)
    end
    out[#out + 1] = ('rm -rf "$D/%s" "$D/%s.lock"'):format(h, h)
  end
  return table.concat(out, "\n") .. "\n"
end

return M
