# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared set-up of the integration tests: a private dbus-daemon, the real
# marianned on it, and the real clients pointed at it.  Source this file.

set -euo pipefail

BUILD_DIR=${MARIANNE_BUILD_DIR:?run through meson test}
SOURCE_DIR=${MARIANNE_SOURCE_DIR:?run through meson test}
MARIANNED=${MARIANNED:-$BUILD_DIR/src/daemon/marianned}
MARIANNECTL=${MARIANNECTL:-$BUILD_DIR/src/ctl/mariannectl}

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; [ -n "${DAEMON_LOG:-}" ] && [ -f "$DAEMON_LOG" ] && tail -n 40 "$DAEMON_LOG" >&2; exit 1; }

# a test that needs no bus daemon (test-socket.sh) names its own tools
for tool in ${LIB_REQUIRED_TOOLS:-dbus-daemon busctl gdbus python3}; do
        command -v "$tool" >/dev/null || skip "$tool is not installed (tools/run-tests installs it)"
done

TEST_DIR=$(mktemp -d /tmp/marianne-itest.XXXXXX)
DAEMON_LOG=$TEST_DIR/marianned.log
DAEMON_PID=
BUS_PID=
MONITOR_PID=
WATCH_PID=

cleanup() {
        local status=$?
        [ -n "$MONITOR_PID" ] && kill "$MONITOR_PID" 2>/dev/null || true
        [ -n "$WATCH_PID" ] && kill "$WATCH_PID" 2>/dev/null || true
        [ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null || true
        [ -n "$BUS_PID" ] && kill "$BUS_PID" 2>/dev/null || true
        # a sanitizer build reports leaks and undefined behaviour at exit
        if [ -f "$DAEMON_LOG" ] && grep -q "Sanitizer\|runtime error:" "$DAEMON_LOG"; then
                echo "FAIL: marianned's log has a sanitizer report:" >&2
                grep -A20 "Sanitizer\|runtime error:" "$DAEMON_LOG" | head -60 >&2
                status=1
        fi
        if [ "${KEEP_TEST_DIR:-0}" = 1 ]; then echo "kept $TEST_DIR"; else rm -rf "$TEST_DIR"; fi
        exit $status
}
trap cleanup EXIT

start_bus() {
        local address
        read -r address BUS_PID < <("$SOURCE_DIR/tools/start-private-bus" "$TEST_DIR/bus")
        export MARIANNE_BUS_ADDRESS=$address
        export DBUS_SESSION_BUS_ADDRESS=$address
}

# start_daemon [extra marianned options]
start_daemon() {
        # a configuration file of the test's own (absent unless it writes one)
        ${MARIANNED_WRAPPER:-} "$MARIANNED" --state-dir="$TEST_DIR/state" --config="$TEST_DIR/conductor.conf" \
                --log-target=stderr "$@" >>"$DAEMON_LOG" 2>&1 &
        DAEMON_PID=$!
        for _ in $(seq ${DAEMON_START_TRIES:-100}); do
                busctl --address="$MARIANNE_BUS_ADDRESS" status org.marianne.Conductor >/dev/null 2>&1 && return 0
                kill -0 "$DAEMON_PID" 2>/dev/null || fail "marianned exited at start"
                sleep 0.05
        done
        fail "marianned did not take its bus name"
}

# start_socket_daemon [extra marianned options]: marianned socket-activated
# the way marianne.socket does it, by systemd-socket-activate listening on
# $SOCKET; the first connection starts it.  No bus daemon: the bus address
# names nothing, so the conductor serves its socket only.
# SOCKET_DAEMON_LOG_LEVEL=debug logs every peer connection, for debugging.
start_socket_daemon() {
        SOCKET=$TEST_DIR/conductor.socket
        rm -f "$SOCKET"
        systemd-socket-activate -l "$SOCKET" ${MARIANNED_WRAPPER:-} "$MARIANNED" --state-dir="$TEST_DIR/state" \
                --config="$TEST_DIR/conductor.conf" --log-target=stderr ${SOCKET_DAEMON_LOG_LEVEL:+--log-level=$SOCKET_DAEMON_LOG_LEVEL} \
                --bus-address="unix:path=$TEST_DIR/no-bus-here" "$@" >>"$DAEMON_LOG" 2>&1 &
        DAEMON_PID=$!
        for _ in $(seq 100); do
                [ -S "$SOCKET" ] && return 0
                kill -0 "$DAEMON_PID" 2>/dev/null || fail "systemd-socket-activate exited at start"
                sleep 0.05
        done
        fail "systemd-socket-activate did not listen on $SOCKET"
}

# sctl ARGS...: mariannectl over the socket
sctl() { "$MARIANNECTL" --socket="$SOCKET" "$@"; }

stop_daemon() {
        kill "$DAEMON_PID"
        wait "$DAEMON_PID" || true
        DAEMON_PID=
}

kill9_daemon() {
        kill -9 "$DAEMON_PID"
        wait "$DAEMON_PID" 2>/dev/null || true
        DAEMON_PID=
}

ctl() { "$MARIANNECTL" "$@"; }

bctl() { busctl --address="$MARIANNE_BUS_ADDRESS" "$@"; }

mcall() { bctl call org.marianne.Conductor /org/marianne/Conductor org.marianne.Conductor "$@"; }

gcall() { gdbus call --address "$MARIANNE_BUS_ADDRESS" --dest org.marianne.Conductor \
                --object-path /org/marianne/Conductor --method "org.marianne.Conductor.$1" "${@:2}"; }

# job_state JOB → prints the state
job_state() { ctl status "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["job"]["status"])'; }

# wait_state JOB STATE [TIMEOUT_SECONDS]
wait_state() {
        local deadline=$((SECONDS + ${3:-30}))
        while [ "$(job_state "$1")" != "$2" ]; do
                [ $SECONDS -lt $deadline ] || fail "job $1 did not reach $2 (is $(job_state "$1"))"
                sleep 0.1
        done
}

# expect_error ERROR_NAME COMMAND...: the command fails and names the error
expect_error() {
        local name=$1; shift
        local out
        if out=$("$@" 2>&1); then fail "'$*' succeeded, expected $name"; fi
        grep -q "$name" <<<"$out" || fail "'$*' failed without naming $name: $out"
}

# expect_exit CODE COMMAND...
expect_exit() {
        local want=$1 got=0; shift
        "$@" >/dev/null 2>&1 || got=$?
        [ "$got" = "$want" ] || fail "'$*' exited $got, expected $want"
}

write_score() { # NAME then YAML on stdin; prints the path
        mkdir -p "$TEST_DIR/scores"
        cat > "$TEST_DIR/scores/$1.yaml"
        echo "$TEST_DIR/scores/$1.yaml"
}
