#!/usr/bin/env bats
# proxyjump.bats - Slurm reached through a ProxyJump bastion (the testbed's
# second sshd, $TESTBED_BASTION_PORT): a workflow end to end, ProxyJump taken
# from ~/.ssh/config, and a bastion that refuses to forward.  The bastion's
# sshd log (LogLevel DEBUG1) proves the tunnel was really used.

load helpers.bash

@test "a workflow runs on Slurm through a ProxyJump bastion" {
    config "proxy_jump = \"$TESTBED_SSH_USER@127.0.0.1:$TESTBED_BASTION_PORT\"," <<EOF
workflow "jump" { backend = "hpc", tasks = {
  { id = "a", working_dir = "$RDIR", memory = "100M", command = "echo through the bastion" },
  { id = "b", deps = {"a"}, working_dir = "$RDIR", memory = "100M", command = "echo after a" },
} }
EOF
    before="$(bastion_tunnels)"
    run_workflow jump
    [ "$status" -eq 0 ] || { show_output; false; }
    [ "$(task_field "$RUN_ID" a status)" = completed ]
    [ "$(task_field "$RUN_ID" b status)" = completed ]
    [ "$(bastion_tunnels)" -gt "$before" ]
    run shc run logs "$RUN_ID" a
    [[ "$output" == *"through the bastion"* ]] || { show_output; false; }
}

@test "ProxyJump from ~/.ssh/config is used, the jump host an alias there too" {
    mkdir -p "$HOME/.ssh"
    cat > "$HOME/.ssh/config" <<EOF
Host cluster
    HostName 127.0.0.1
    Port $TESTBED_SSH_PORT
    User $TESTBED_SSH_USER
    ProxyJump gateway

Host gateway
    HostName 127.0.0.1
    Port $TESTBED_BASTION_PORT
EOF
    cat > "$WORK/scripthut.lua" <<EOF
backend "hpc" { type = "slurm", ssh = { host = "cluster",
  key_path = "$TESTBED_SSH_KEY", known_hosts = "$TESTBED_SSH_KNOWN_HOSTS" } }
settings { poll_interval = 1 }
workflow "alias" { backend = "hpc", tasks = {
  { id = "a", working_dir = "$RDIR", memory = "100M", command = "echo via alias" },
} }
EOF
    before="$(bastion_tunnels)"
    run_workflow alias
    [ "$status" -eq 0 ] || { show_output; false; }
    [ "$(task_field "$RUN_ID" a status)" = completed ]
    [ "$(bastion_tunnels)" -gt "$before" ]
    run shc backend status hpc --json
    [ "$(jq -r .transport.proxy_jump <<<"$output")" = "127.0.0.1:$TESTBED_BASTION_PORT" ] ||
        { show_output; false; }
}

@test "a bastion that refuses to forward is reported clearly in backend status" {
    # The first sshd has AllowTcpForwarding no: as a bastion it must refuse.
    config "proxy_jump = \"127.0.0.1:$TESTBED_SSH_PORT\"," <<EOF
workflow "never" { backend = "hpc", tasks = {
  { id = "a", working_dir = "$RDIR", memory = "100M", command = "true" },
} }
EOF
    run shc workflow run never --json
    [ "$status" -eq 0 ] || { show_output; false; }
    id="$(printf '%s\n' "$output" | jq -r '.run_id // .id')"
    wait_for 60 hpc_status_matches '.transport.last_error // "" | test("refused to open a tunnel")'
    run shc backend status hpc
    assert_contains "AllowTcpForwarding"
    assert_contains "via ProxyJump 127.0.0.1:$TESTBED_SSH_PORT"
    shc run cancel "$id" >/dev/null
}
