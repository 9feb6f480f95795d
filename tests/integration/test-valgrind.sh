#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# marianned under valgrind through a whole lifecycle: no leaks, no invalid
# accesses, from start to a clean SIGTERM stop (and a restart that reloads).
. "$(dirname "$0")/lib.sh"

command -v valgrind >/dev/null || skip "valgrind is not installed (tools/run-tests installs it)"
ldd "$MARIANNED" | grep -q libasan && skip "this is a sanitizer build; valgrind runs on the plain build"

export MARIANNED_WRAPPER="valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --log-file=$TEST_DIR/valgrind.%p"
export DAEMON_START_TRIES=600
start_bus
start_daemon

score=$(write_score vg <<'YAML'
name: vg
workspace: ws
pause_between_sheets_seconds: 0
sheet: {size: 1, total_items: 3, fan_out: {2: 2}}
retry: {max_retries: 1, base_delay_seconds: 0.1}
prompt: {template: 'echo {{ sheet_num }} > out-{{ sheet_num }}; test {{ sheet_num }} != 2 || test -e again || { touch again; exit 1; }'}
validations:
  - {type: file_exists, path: '{workspace}/out-{sheet_num}'}
YAML
)
ctl start "$score" --wait >/dev/null || fail "job under valgrind did not complete"
ctl sheet vg 2 >/dev/null
ctl status vg >/dev/null
ctl health vg >/dev/null
ctl start "$score" --dry-run >/dev/null
slow=$(printf 'name: slow\nworkspace: ws2\nsheet: {size: 1, total_items: 2}\nprompt: {template: "sleep 30"}\n' | write_score slow)
ctl start "$slow" >/dev/null
wait_state slow running
ctl pause slow
ctl resume slow
stop_daemon_checked() {
        local rc=0
        kill "$DAEMON_PID"
        wait "$DAEMON_PID" || rc=$?
        DAEMON_PID=
        [ "$rc" = 0 ] || { cat "$TEST_DIR"/valgrind.* >&2; fail "valgrind reported errors (exit $rc)"; }
}
stop_daemon_checked
start_daemon
wait_state slow running
ctl cancel slow
ctl delete vg
stop_daemon_checked
echo "ok: no valgrind errors or leaks in two daemon lifetimes"
