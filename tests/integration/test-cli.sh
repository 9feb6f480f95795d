#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mariannectl on its own: validate (offline), usage errors, and the
# unreachable conductor, with their exit codes.
. "$(dirname "$0")/lib.sh"

code() { set +e; "$@" >"$TEST_DIR/out" 2>&1; echo $?; set -e; }

echo "--- validate: 0 valid, 1 invalid, 2 unreadable"
[ "$(code ctl validate "$SOURCE_DIR/examples/hello-conductor.yaml")" = 0 ] || fail "example score invalid: $(cat "$TEST_DIR/out")"
grep -q "valid, 5 sheets" "$TEST_DIR/out" || fail "validate does not report the sheet count"
printf 'name: bad\nsheet: {size: 1, total_items: 2}\nnmae: typo\n' > "$TEST_DIR/bad.yaml"
[ "$(code ctl validate "$TEST_DIR/bad.yaml")" = 1 ] || fail "invalid score not exit 1"
grep -q "bad.yaml:3:1.*nmae" "$TEST_DIR/out" || fail "error does not name file:line:column and key: $(cat "$TEST_DIR/out")"
printf 'name: cyc\nsheet: {size: 1, total_items: 3, dependencies: {1: [3], 2: [1], 3: [2]}}\n' > "$TEST_DIR/cyc.yaml"
[ "$(code ctl validate "$TEST_DIR/cyc.yaml")" = 1 ] || fail "cycle not exit 1"
grep -q "cycle" "$TEST_DIR/out" || fail "cycle not named"
[ "$(code ctl validate "$TEST_DIR/missing.yaml")" = 2 ] || fail "missing file not exit 2"
[ "$(code ctl validate "$TEST_DIR")" = 2 ] || fail "directory not exit 2"
mkfifo "$TEST_DIR/fifo.yaml"
[ "$(code timeout 5 "$MARIANNECTL" validate "$TEST_DIR/fifo.yaml")" = 2 ] || fail "FIFO not exit 2"
ctl validate --json "$SOURCE_DIR/examples/batches.yaml" | python3 -c '
import json, sys
v = json.load(sys.stdin)
assert v["valid"] is True and v["total_sheets"] == 4 and v["name"] == "batches", v
' || fail "validate --json"

shared=${MARIANNE_SHARED_DIR:-}
if [ -n "$shared" ] && [ -d "$shared/scores/marianne" ]; then
        for s in "$shared"/scores/marianne/*.yaml; do
                [ "$(code ctl validate "$s")" = 0 ] || fail "$s does not validate: $(cat "$TEST_DIR/out")"
        done
        echo "the original project's scores validate"
else
        echo "../shared absent: the original project's scores are not checked here"
fi

echo "--- usage errors exit 2"
[ "$(code ctl frobnicate)" = 2 ] || fail "unknown command"
[ "$(code ctl start)" = 2 ] || fail "start without a file"
[ "$(code ctl --no-such-option list)" = 2 ] || fail "unknown option"
[ "$(code ctl --help)" = 0 ] || fail "--help"
grep -q "conductor-status" "$TEST_DIR/out" || fail "--help does not list the commands"

echo "--- an unreachable conductor exits 69 and names the fix"
MARIANNE_BUS_ADDRESS="unix:path=$TEST_DIR/nothing" code ctl list >/dev/null || true
[ "$(MARIANNE_BUS_ADDRESS="unix:path=$TEST_DIR/nothing" code ctl list)" = 69 ] || fail "no bus: not 69"
grep -q MARIANNE_BUS_ADDRESS "$TEST_DIR/out" || fail "message does not name MARIANNE_BUS_ADDRESS"
start_bus
[ "$(code ctl status)" = 69 ] || fail "bus without conductor: not 69"
grep -qi "marianned" "$TEST_DIR/out" || fail "message does not say how to start the conductor: $(cat "$TEST_DIR/out")"
start_daemon
[ "$(code ctl status)" = 0 ] || fail "status with a conductor: $(cat "$TEST_DIR/out")"

echo "--- the conductor exits with a failure when its bus goes away (Restart= then helps)"
kill "$BUS_PID"; BUS_PID=
rc=0
timeout 10 tail --pid="$DAEMON_PID" -f /dev/null || fail "marianned kept running without its bus"
wait "$DAEMON_PID" || rc=$?
DAEMON_PID=
[ "$rc" != 0 ] || fail "marianned exited successfully after losing its bus"
grep -q "Lost the connection to the bus" "$DAEMON_LOG" || fail "marianned did not say why it exited"
echo ok
