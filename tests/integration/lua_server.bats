#!/usr/bin/env bats
# lua_server.bats - the scripthut Lua API spec, run against a server: the
# same expectations as in local mode (tests/lua/scripthut_api_spec.lua runs
# locally as lua.scripthut_api_spec).

load helpers
load server_helpers

@test "the Lua API spec passes against a running server" {
    start_server --config "$SCRIPTHUT_SOURCE_DIR/tests/lua/fixtures/api_config.lua"
    SCRIPTHUT_SERVER="$URL" run sh lua "$SCRIPTHUT_SOURCE_DIR/tests/lua/run.lua" \
        "$SCRIPTHUT_SOURCE_DIR/tests/lua/scripthut_api_spec.lua"
    [ "$status" -eq 0 ] || { show_output; false; }
    [[ "$output" == *"ok "* ]] || { show_output; false; }
}
