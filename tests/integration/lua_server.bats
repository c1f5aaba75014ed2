#!/usr/bin/env bats
# lua_server.bats - the scripthut Lua API spec, run against a server: the
# same expectations as in local mode (tests/lua/scripthut_api_spec.lua runs
# locally as lua.scripthut_api_spec).

load helpers
load server_helpers

@test "the Lua API spec passes against a running server" {
    start_server --config "$SCRIPTHUT_SOURCE_DIR/tests/lua/fixtures/api_config.lua"
    # The spec runs in a home of its own, whose data dir holds no token.
    SCRIPTHUT_SERVER="$URL" SCRIPTHUT_API_TOKEN="$SERVER_TOKEN" run sh lua "$SCRIPTHUT_SOURCE_DIR/tests/lua/run.lua" \
        "$SCRIPTHUT_SOURCE_DIR/tests/lua/scripthut_api_spec.lua"
    [ "$status" -eq 0 ] || { show_output; false; }
    [[ "$output" == *"ok "* ]] || { show_output; false; }
}
