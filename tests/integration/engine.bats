#!/usr/bin/env bats
# engine.bats - the run engine end to end on the local backend: dependency
# order, failure cascade, retries, caps, cancel, time limits, generated tasks,
# and a kill -9 of scripthut in the middle of a run.

load helpers

# Writes scripthut.lua in the work dir from stdin.
config() {
    cat > "$WORK/scripthut.lua"
}

# Runs a workflow with --watch --json and leaves the final run detail (the
# last JSON line) in $WORK/detail.json.
run_workflow() {
    run sh workflow run "$@" --watch --json
    printf '%s\n' "$output" | tail -n 1 > "$WORK/detail.json"
}

detail() {
    jq -r "$1" "$WORK/detail.json"
}

task_field() { # TASK FIELD
    jq -r --arg t "$1" ".items[] | select(.task.id == \$t) | .$2" "$WORK/detail.json"
}

@test "a diamond runs each task once, after its dependencies" {
    config <<'EOF2'
workflow "diamond" { tasks = {
  { id = "a", command = "echo a >> order" },
  { id = "b", deps = { "a" }, command = "sleep 0.3; echo b >> order" },
  { id = "c", deps = { "a" }, command = "echo c >> order" },
  { id = "d", deps = { "b", "c" }, command = "echo d >> order" },
}, }
EOF2
    # working dirs default to ~, so point them here through a relative path
    sed -i "s|command = \"|working_dir = \"$WORK\", command = \"|g" "$WORK/scripthut.lua"
    run_workflow diamond
    [ "$status" -eq 0 ] || { show_output; false; }
    [ "$(detail .status)" = completed ]
    [ "$(head -n 1 order)" = a ]
    [ "$(tail -n 1 order)" = d ]
    [ "$(wc -l < order)" -eq 4 ]
}

@test "a failing task fails its dependents as dep_failed and the run as failed" {
    config <<EOF2
workflow "broken" { tasks = {
  { id = "ok", working_dir = "$WORK", command = "true" },
  { id = "boom", working_dir = "$WORK", command = "echo oops >&2; exit 3" },
  { id = "after", deps = { "boom" }, working_dir = "$WORK", command = "touch should-not-exist" },
  { id = "later", deps = { "after" }, working_dir = "$WORK", command = "true" },
}, }
EOF2
    run_workflow broken
    [ "$status" -ne 0 ]
    [ "$(detail .status)" = failed ]
    [ "$(task_field ok status)" = completed ]
    [ "$(task_field boom status)" = failed ]
    [ "$(task_field boom exit_code)" = 3 ]
    [ "$(task_field after status)" = dep_failed ]
    [ "$(task_field later status)" = dep_failed ]
    [ ! -e should-not-exist ]
    id="$(detail .id)"
    run sh run logs "$id" boom --error
    [[ "$output" == *oops* ]] || { show_output; false; }
}

@test "a task with retries is run again and keeps every attempt" {
    config <<EOF2
workflow "flaky" { tasks = {
  { id = "flaky", retries = 2, working_dir = "$WORK",
    command = "n=\$(cat count 2>/dev/null || echo 0); n=\$((n+1)); echo \$n > count; echo try \$n; [ \$n -ge 2 ]" },
}, }
EOF2
    run_workflow flaky
    [ "$status" -eq 0 ] || { show_output; false; }
    [ "$(task_field flaky status)" = completed ]
    [ "$(task_field flaky attempt)" = 2 ]
    [ "$(jq '.items[0].attempts | length' detail.json)" = 2 ]
    [ "$(jq -r '.items[0].attempts[0].status' detail.json)" = failed ]
    [ "$(cat count)" = 2 ]
    # each attempt has its own log file
    first="$(jq -r '.items[0].attempts[0].output_path' detail.json)"
    second="$(jq -r '.items[0].attempts[1].output_path' detail.json)"
    [ "$first" != "$second" ]
    grep -q "try 1" "$first"
    grep -q "try 2" "$second"
}

@test "retries are not used up by a task that keeps failing: it ends failed after retries+1 attempts" {
    config <<EOF2
workflow "hopeless" { tasks = {
  { id = "t", retries = 1, working_dir = "$WORK", command = "echo x >> tries; exit 1" },
}, }
EOF2
    run_workflow hopeless
    [ "$status" -ne 0 ]
    [ "$(task_field t status)" = failed ]
    [ "$(wc -l < tries)" -eq 2 ]
}

@test "max_concurrent caps how many tasks of a run run at once" {
    config <<EOF2
workflow "capped" {
  max_concurrent = 2,
  tasks = function()
    local t = {}
    for i = 1, 6 do
      t[#t + 1] = { id = "t" .. i, working_dir = "$WORK",
                    command = "echo + >> events; sleep 0.4; echo - >> events" }
    end
    return t
  end,
}
EOF2
    run_workflow capped
    [ "$status" -eq 0 ] || { show_output; false; }
    max=$(awk '/\+/ { n++; if (n > m) m = n } /-/ { n-- } END { print m }' events)
    [ "$max" -le 2 ]
    [ "$max" -ge 1 ]
    [ "$(grep -c + events)" -eq 6 ]
}

@test "a task over its time limit is stopped and fails with TIMEOUT" {
    config <<EOF2
workflow "slow" { tasks = {
  { id = "sleepy", time_limit = "0:01", working_dir = "$WORK", command = "sleep 60" },
}, }
EOF2
    run_workflow slow
    [ "$status" -ne 0 ]
    [ "$(task_field sleepy status)" = failed ]
    [[ "$(task_field sleepy error)" == *TIMEOUT* ]] || { cat detail.json; false; }
}

@test "cancel stops running tasks and never starts pending ones" {
    config <<EOF2
workflow "long" { tasks = {
  { id = "runner", working_dir = "$WORK", command = "echo \$\$ > pid; sleep 60" },
  { id = "waiter", deps = { "runner" }, working_dir = "$WORK", command = "touch never" },
}, }
EOF2
    run sh workflow run long --json
    [ "$status" -eq 0 ] || { show_output; false; }
    id="$(printf '%s' "$output" | jq -r .id)"
    wait_for 30 test -s pid
    pid="$(cat pid)"
    run sh run cancel "$id" --json
    [ "$status" -eq 0 ] || { show_output; false; }
    wait_for 30 bash -c "\"$SCRIPTHUT_BIN\" run view $id --json | jq -e '.status == \"cancelled\"' >/dev/null"
    run sh run view "$id" --json
    [ "$(printf '%s' "$output" | jq -r '.items[0].status')" = cancelled ]
    [ "$(printf '%s' "$output" | jq -r '.items[1].status')" = cancelled ]
    wait_for 15 bash -c "! kill -0 $pid 2>/dev/null"
    [ ! -e never ]
}

@test "a task's generates_source file appends tasks to the running DAG" {
    config <<EOF2
workflow "gen" { tasks = {
  { id = "plan", working_dir = "$WORK", generates_source = "more.json",
    command = [[printf '%s' '[{"id":"step.1","command":"echo 1 >> steps"},{"id":"step.2","command":"echo 2 >> steps"},{"id":"sum","deps":["step.*"],"command":"echo done >> steps"}]' > more.json]] },
}, }
EOF2
    run_workflow gen
    [ "$status" -eq 0 ] || { show_output; cat detail.json; false; }
    [ "$(detail .task_count)" = 4 ]
    [ "$(tail -n 1 steps)" = "done" ]
    [ "$(task_field sum status)" = completed ]
}

@test "kill -9 of scripthut mid-run loses and duplicates nothing" {
    config <<EOF2
workflow "crashy" { tasks = {
  { id = "first", working_dir = "$WORK", command = "echo run >> first.count; sleep 2" },
  { id = "second", deps = { "first" }, working_dir = "$WORK", command = "echo run >> second.count" },
}, }
EOF2
    # The watching CLI is the engine; kill it hard while `first` runs.
    "$SCRIPTHUT_BIN" workflow run crashy --watch --json > watch.out 2>&1 &
    watcher=$!
    wait_for 30 test -s first.count
    kill -9 "$watcher"
    wait "$watcher" 2>/dev/null || true
    id="$(head -n 1 watch.out | jq -r '.run_id // .id')"
    [ -n "$id" ] && [ "$id" != null ] || { cat watch.out; false; }
    # A new engine (this watcher) re-adopts `first` and finishes the run.
    run sh run watch "$id" --exit-status --json
    [ "$status" -eq 0 ] || { show_output; false; }
    [ "$(wc -l < first.count)" -eq 1 ]
    [ "$(wc -l < second.count)" -eq 1 ]
}

@test "a run with a dependency cycle is refused and nothing is stored" {
    config <<'EOF2'
workflow "loop" { tasks = {
  { id = "a", deps = { "b" }, command = "true" },
  { id = "b", deps = { "a" }, command = "true" },
}, }
EOF2
    run sh workflow run loop
    [ "$status" -eq 1 ]
    [[ "$output" == *"Circular dependency"* ]] || { show_output; false; }
    run sh run list --json
    [ "$(printf '%s' "$output" | jq '.runs | length')" = 0 ]
}

@test "runs share a full backend fairly: a small run is not starved by a big one" {
    mkdir -p "$XDG_CONFIG_HOME/scripthut"
    cat > "$XDG_CONFIG_HOME/scripthut/config.lua" <<'EOF2'
backend "local" { type = "local", max_concurrent = 1 }
EOF2
    config <<EOF2
workflow "big" { tasks = function()
  local t = {}
  for i = 1, 4 do t[#t + 1] = { id = "big" .. i, working_dir = "$WORK", command = "echo big\$i >> order; sleep 0.5" } end
  return t
end, }
workflow "small" { tasks = { { id = "small", working_dir = "$WORK", command = "echo small >> order" } } }
EOF2
    run sh workflow run big --json
    [ "$status" -eq 0 ] || { show_output; false; }
    wait_for 30 test -s order
    run sh workflow run small --watch --json
    [ "$status" -eq 0 ] || { show_output; false; }
    # small ran before the last task of big
    [ "$(tail -n 1 order)" != small ] || { cat order; false; }
}

@test "rerun --failed-only keeps completed tasks and reruns the rest" {
    config <<EOF2
workflow "partial" { tasks = {
  { id = "a", working_dir = "$WORK", command = "echo a >> a.count" },
  { id = "b", deps = { "a" }, working_dir = "$WORK", command = "echo b >> b.count; test -e fixed" },
  { id = "c", deps = { "b" }, working_dir = "$WORK", command = "echo c >> c.count" },
}, }
EOF2
    run_workflow partial
    [ "$status" -ne 0 ]
    [ "$(task_field c status)" = dep_failed ]
    first="$(detail .id)"
    touch fixed
    run sh run rerun "$first" --failed-only --watch --json
    [ "$status" -eq 0 ] || { show_output; false; }
    printf '%s\n' "$output" | tail -n 1 > detail.json
    [ "$(detail .rerun_of)" = "$first" ]
    [ "$(detail .status)" = completed ]
    [ "$(wc -l < a.count)" -eq 1 ]   # kept, not run again
    [ "$(wc -l < b.count)" -eq 2 ]
    [ "$(wc -l < c.count)" -eq 1 ]
}

@test "finished runs older than retention_days are pruned with their logs" {
    mkdir -p "$XDG_CONFIG_HOME/scripthut"
    echo 'settings { retention_days = 7 }' > "$XDG_CONFIG_HOME/scripthut/config.lua"
    run sh task run "echo old" --watch --json
    [ "$status" -eq 0 ] || { show_output; false; }
    old="$(printf '%s\n' "$output" | tail -n 1 | jq -r .id)"
    logs="$XDG_DATA_HOME/scripthut/logs/$old"
    [ -d "$logs" ]
    # Age the run by 8 days, then let an engine run: it prunes on its first tick.
    sqlite3 "$XDG_DATA_HOME/scripthut/scripthut.db" \
        "UPDATE runs SET finished_at = finished_at - 8 * 86400 * 1000000 WHERE id = '$old'"
    run sh task run "echo new" --watch --json
    [ "$status" -eq 0 ] || { show_output; false; }
    run sh run view "$old"
    [ "$status" -eq 1 ]
    [[ "$output" == *"not found"* ]] || { show_output; false; }
    [ ! -e "$logs" ]
}

@test "cpus are slots on the local backend: tasks never oversubscribe max_cpus" {
    mkdir -p "$XDG_CONFIG_HOME/scripthut"
    echo 'backend "local" { type = "local", max_cpus = 2 }' > "$XDG_CONFIG_HOME/scripthut/config.lua"
    config <<EOF2
workflow "wide" { tasks = function()
  local t = {}
  for i = 1, 4 do
    t[#t + 1] = { id = "w" .. i, cpus = 2, working_dir = "$WORK",
                  command = "echo + >> events; sleep 0.3; echo - >> events" }
  end
  return t
end, }
EOF2
    run_workflow wide
    [ "$status" -eq 0 ] || { show_output; false; }
    max=$(awk '/\+/ { n++; if (n > m) m = n } /-/ { n-- } END { print m }' events)
    [ "$max" -eq 1 ]
}

@test "a submission interrupted by an unreachable backend is reconciled by tag, not failed" {
    mkdir -p "$XDG_CONFIG_HOME/scripthut"
    # The first two submission calls fail as if the backend could not be reached.
    echo 'backend "flaky" { type = "noop", unavailable_submits = 2 }' \
        > "$XDG_CONFIG_HOME/scripthut/config.lua"
    config <<'EOF2'
workflow "shaky" { backend = "flaky", tasks = {
  { id = "a", command = "true" },
  { id = "b", deps = { "a" }, command = "true" },
}, }
EOF2
    run_workflow shaky
    [ "$status" -eq 0 ] || { show_output; cat detail.json; false; }
    [ "$(detail .status)" = completed ]
    # never failed, and each task submitted exactly once in the end
    [ "$(task_field a attempt)" = 1 ]
    [ "$(task_field b attempt)" = 1 ]
    id="$(detail .id)"
    run sh run watch "$id" --json
    printf '%s\n' "$output" | grep -q '"to":"submitting"' || { show_output; false; }
    printf '%s\n' "$output" | grep -q 'will submit again' || { show_output; false; }
}
