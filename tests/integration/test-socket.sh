#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Socket activation with no bus daemon at all: marianned started by
# systemd-socket-activate (as marianne.socket would), serving peer-to-peer
# D-Bus on its socket to mariannectl --socket, busctl and gdbus; signals
# and PropertiesChanged reach every peer; other users are refused; exit on
# idle waits for the last peer.
LIB_REQUIRED_TOOLS="busctl gdbus python3 systemd-socket-activate setpriv"
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "the socket is for root: run as root"
# nothing here may reach a bus: not the caller's, not the system's
unset MARIANNE_BUS_ADDRESS DBUS_SESSION_BUS_ADDRESS
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$TEST_DIR/no-system-bus"

# the conductor logs every peer it accepts: wait_accepted knows when a
# client in the background is connected (and so gets every signal)
export SOCKET_DAEMON_LOG_LEVEL=debug
wait_accepted() {
        for _ in $(seq 600); do
                grep -q "from uid 0 (pid $1) accepted" "$DAEMON_LOG" && return 0
                sleep 0.05
        done
        fail "the conductor did not accept the connection of pid $1"
}

# the lib's helpers (job_state, wait_state) go through the socket too
ctl() { sctl "$@"; }
address() { echo "unix:path=$SOCKET"; }
pbusctl() { busctl --address="$(address)" "$@"; }
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

score=$(write_score hello <<'YAML'
name: hello
workspace: ws-hello
pause_between_sheets_seconds: 0
sheet: {size: 1, total_items: 3}
prompt: {template: 'echo hi {{ sheet_num }}'}
YAML
)

echo "--- the first connection starts the conductor, which runs with no bus"
start_socket_daemon
grep -q "Marianne conductor" "$DAEMON_LOG" && fail "marianned ran before the first connection"
sctl list >/dev/null || fail "mariannectl --socket list failed: $(sctl list 2>&1)"
grep -q "serving the socket only" "$DAEMON_LOG" || fail "marianned did not say it serves the socket only"
grep -q "on its socket only" "$DAEMON_LOG" || fail "marianned is not serving its socket"
# the daemon is the process systemd-socket-activate became
tr '\0' ' ' < "/proc/$DAEMON_PID/cmdline" | grep -q marianned || fail "the daemon is not running as $DAEMON_PID"

echo "--- start --wait, status, sheets, output, stdin and dry run over the socket"
out=$(sctl start "$score" --wait) || fail "start --wait over the socket failed: $out"
grep -q "running .* completed" <<<"$out" || fail "start --wait did not follow the job to its end: $out"
sctl status hello-1 | grep -q "State: completed" || fail "status does not show completed"
[ "$(sctl sheets hello-1 --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 3 ] \
        || fail "hello-1 should have 3 sheets"
[ "$(sctl output hello-1 2)" = "hi 2" ] || fail "output of sheet 2 (an fd from the conductor) is wrong"
sctl start -q --wait - < "$score" >/dev/null || fail "start from stdin over the socket failed"
sctl start --dry-run "$score" | grep -q "echo hi 3" || fail "the dry run does not show the rendered command"
sctl conductor-status | grep -q "Running jobs: 0" || fail "conductor-status over the socket"

echo "--- signals reach peers: watch, and PropertiesChanged to gdbus monitor"
# not through the function: killing a backgrounded function kills its subshell only
"$MARIANNECTL" --socket="$SOCKET" --json watch > "$TEST_DIR/watch.json" 2>&1 &
WATCH_PID=$!
wait_accepted "$WATCH_PID"
# a slow (sanitizer) daemon may miss gdbus's connect timeout: try again
for _try in 1 2 3; do
        gdbus monitor --address "$(address)" --dest org.marianne.Conductor > "$TEST_DIR/monitor.txt" 2>&1 &
        MONITOR_PID=$!
        for _ in $(seq 600); do
                grep -q "is owned by\|Error connecting" "$TEST_DIR/monitor.txt" && break
                sleep 0.05
        done
        grep -q "is owned by" "$TEST_DIR/monitor.txt" && break
        kill "$MONITOR_PID" 2>/dev/null || true
done
grep -q "is owned by" "$TEST_DIR/monitor.txt" || fail "gdbus monitor did not set up: $(cat "$TEST_DIR/monitor.txt")"
job=$(sctl start -q "$score")
wait_state "$job" completed
for _ in $(seq 100); do
        grep -q "\"job_id\":\"$job\".*\"new_state\":\"completed\"" "$TEST_DIR/watch.json" && break
        sleep 0.1
done
grep -q "\"job_id\":\"$job\".*\"new_state\":\"completed\"" "$TEST_DIR/watch.json" \
        || fail "watch over the socket did not see $job complete: $(cat "$TEST_DIR/watch.json")"
grep -q "\"event\":\"SheetStateChanged\",\"job_id\":\"$job\"" "$TEST_DIR/watch.json" \
        || fail "watch over the socket saw no SheetStateChanged"
sleep 0.3
kill "$WATCH_PID" "$MONITOR_PID"
wait "$WATCH_PID" 2>/dev/null || true
wait "$MONITOR_PID" 2>/dev/null || true
WATCH_PID= MONITOR_PID=
grep -q "JobStateChanged ('$job', .*'running', 'completed')" "$TEST_DIR/monitor.txt" \
        || fail "gdbus monitor saw no JobStateChanged to completed: $(cat "$TEST_DIR/monitor.txt")"
grep -q "PropertiesChanged ('org.marianne.Conductor.Job', {'State': <'completed'>" "$TEST_DIR/monitor.txt" \
        || fail "gdbus monitor saw no PropertiesChanged of the job's State"
grep -q "InterfacesAdded (objectpath '/org/marianne/Conductor/job/" "$TEST_DIR/monitor.txt" \
        || fail "gdbus monitor saw no InterfacesAdded"

echo "--- busctl and gdbus by address: introspection, calls, properties"
pbusctl introspect org.marianne.Conductor /org/marianne/Conductor | grep -q "^\.StartJob " \
        || fail "busctl cannot introspect /org/marianne/Conductor over the socket"
pbusctl introspect org.marianne.Conductor /org/marianne/Conductor/job/hello_2d1 | grep -q "^\.State " \
        || fail "busctl cannot introspect a job object over the socket"
pbusctl call org.marianne.Conductor /org/marianne/Conductor org.marianne.Conductor ListJobs \
        | grep -q '"hello-1"' || fail "busctl ListJobs over the socket does not list hello-1"
pbusctl get-property org.marianne.Conductor /org/marianne/Conductor org.marianne.Conductor Version \
        | grep -q '^s "' || fail "busctl cannot read the Version property over the socket"
gdbus call --address "$(address)" --dest org.marianne.Conductor --object-path /org/marianne/Conductor \
        --method org.marianne.Conductor.GetJobStatus "'hello-1'" | grep -q "'status': <'completed'>" \
        || fail "gdbus GetJobStatus over the socket"
expect_error org.marianne.Conductor.Error.NoSuchJob \
        gdbus call --address "$(address)" --dest org.marianne.Conductor --object-path /org/marianne/Conductor \
        --method org.marianne.Conductor.GetJobStatus "'nope'"

echo "--- other users are refused"
# the socket's mode keeps them out first...
expect_exit 69 as_nobody "$MARIANNECTL" --socket="$SOCKET" list
# ...and with the mode opened, the conductor refuses them itself
chmod 0755 "$TEST_DIR"
chmod 0666 "$SOCKET"
out=$(as_nobody "$MARIANNECTL" --socket="$SOCKET" list 2>&1) && fail "uid 65534 got in over the socket: $out"
grep -q "closed the connection" <<<"$out" || fail "mariannectl does not say the conductor refused: $out"
out=$(as_nobody busctl --address="$(address)" call org.marianne.Conductor /org/marianne/Conductor \
        org.marianne.Conductor ListJobs 2>&1) && fail "uid 65534 got in with busctl: $out"
chmod 0600 "$SOCKET"
chmod 0700 "$TEST_DIR"
grep -q "Refused a connection on $SOCKET from uid 65534 .*the socket is for root" "$DAEMON_LOG" \
        || fail "marianned did not log the refused connection"
sctl list >/dev/null || fail "root is refused after another user tried"

echo "--- at most 64 connections at once; the 65th is closed, the rest served"
python3 - "$SOCKET" <<'PY'
import socket, sys
held = []
for _ in range(64):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    held.append(s)
extra = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
extra.connect(sys.argv[1])
extra.settimeout(10)
try:
    data = extra.recv(1)
except ConnectionResetError:
    data = b""
assert data == b"", "the 65th connection was not closed"
for s in (held[0], held[-1]):
    s.settimeout(0.3)
    try:
        s.recv(1)
        sys.exit("a connection within the limit was closed")
    except socket.timeout:
        pass
PY
grep -q "64 connections are open, the most allowed" "$DAEMON_LOG" || fail "the refused 65th connection is not logged"
sctl list >/dev/null || fail "the conductor does not serve once the crowd has left"

echo "--- Shutdown over the socket; a watcher is told"
"$MARIANNECTL" --socket="$SOCKET" watch > "$TEST_DIR/watch.txt" 2>&1 &
WATCH_PID=$!
wait_accepted "$WATCH_PID"
sleep 0.2
pbusctl call org.marianne.Conductor /org/marianne/Conductor org.marianne.Conductor Shutdown
rc=0; wait "$WATCH_PID" || rc=$?; WATCH_PID=
[ "$rc" = 69 ] || fail "watch exited $rc when the conductor left, expected 69"
grep -q "The conductor closed the connection" "$TEST_DIR/watch.txt" || fail "watch did not say the conductor left"
rc=0; wait "$DAEMON_PID" || rc=$?; DAEMON_PID=
[ "$rc" = 0 ] || fail "marianned exited $rc after Shutdown"

echo "--- exit on idle waits for the last peer; the next connection brings every job back"
start_socket_daemon --exit-on-idle=1
"$MARIANNECTL" --socket="$SOCKET" watch >/dev/null 2>&1 &
WATCH_PID=$!
wait_accepted "$WATCH_PID"
sleep 3
kill -0 "$DAEMON_PID" 2>/dev/null || fail "marianned exited on idle with a peer connected"
kill "$WATCH_PID"; wait "$WATCH_PID" 2>/dev/null || true; WATCH_PID=
for _ in $(seq 100); do
        kill -0 "$DAEMON_PID" 2>/dev/null || break
        sleep 0.1
done
rc=0; wait "$DAEMON_PID" || rc=$?; DAEMON_PID=
[ "$rc" = 0 ] || fail "marianned exited $rc on idle, expected 0"
grep -q "Idle for 1 s, exiting" "$DAEMON_LOG" || fail "marianned did not log its exit on idle"
start_socket_daemon
sctl list | grep -q "hello-1 .*completed" || fail "the jobs did not survive the exit on idle"
stop_daemon

echo "OK"
