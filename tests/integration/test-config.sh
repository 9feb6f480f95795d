#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The configuration file: limits from it, Reload and SIGHUP apply changes
# without touching jobs, a bad file changes nothing, the command line wins;
# and exit on idle.
. "$(dirname "$0")/lib.sh"

prop() { bctl get-property org.marianne.Conductor /org/marianne/Conductor org.marianne.Conductor "$1"; }

start_bus
cat > "$TEST_DIR/conductor.conf" <<'CONF'
# a comment
[Conductor]
MaxConcurrentSheets=3
MaxJobsPerUser=5
FutureKey=1
CONF
start_daemon
[ "$(prop MaxConcurrentSheets)" = "u 3" ] || fail "MaxConcurrentSheets from the file: $(prop MaxConcurrentSheets)"
[ "$(prop MaxJobsPerUser)" = "u 5" ] || fail "MaxJobsPerUser from the file"
grep -q "unknown key FutureKey, ignored" "$DAEMON_LOG" || fail "no warning for an unknown key"

echo "--- Reload and SIGHUP apply a changed file"
slow=$(write_score slow <<'YAML'
name: slow
workspace: ws
sheet: {size: 1, total_items: 1}
prompt: {template: 'sleep 30'}
YAML
)
job=$(ctl start "$slow" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["job_id"])')
wait_state "$job" running
sed -i 's/MaxConcurrentSheets=3/MaxConcurrentSheets=4/' "$TEST_DIR/conductor.conf"
gcall Reload >/dev/null
[ "$(prop MaxConcurrentSheets)" = "u 4" ] || fail "Reload did not apply the file"
sed -i 's/MaxConcurrentSheets=4/MaxConcurrentSheets=2/' "$TEST_DIR/conductor.conf"
kill -HUP "$DAEMON_PID"
for _ in $(seq 50); do [ "$(prop MaxConcurrentSheets)" = "u 2" ] && break; sleep 0.1; done
[ "$(prop MaxConcurrentSheets)" = "u 2" ] || fail "SIGHUP did not reload"
[ "$(job_state "$job")" = running ] || fail "a reload touched the running job"

echo "--- a bad file changes nothing"
printf '[Conductor]\nMaxConcurrentSheets=zero\n' > "$TEST_DIR/conductor.conf"
expect_error "org.marianne.Conductor.Error.InvalidConfig.*conductor.conf:2: MaxConcurrentSheets=zero" gcall Reload
[ "$(prop MaxConcurrentSheets)" = "u 2" ] || fail "a bad file changed the limit"
kill -HUP "$DAEMON_PID"
sleep 0.3
grep -q "Reloading .* failed, keeping the configuration in force" "$DAEMON_LOG" || fail "no message for a bad reload"
[ "$(prop MaxConcurrentSheets)" = "u 2" ] || fail "a bad file changed the limit on SIGHUP"
ctl cancel "$job"
stop_daemon

echo "--- the command line wins over the file; a bad file stops the start"
set +e; "$MARIANNED" --state-dir="$TEST_DIR/state" --config="$TEST_DIR/conductor.conf" --log-target=stderr \
        >"$TEST_DIR/bad-start.log" 2>&1; rc=$?; set -e
[ "$rc" != 0 ] && grep -q "Bad configuration" "$TEST_DIR/bad-start.log" || fail "a bad file at start was accepted"
printf '[Conductor]\nMaxConcurrentSheets=2\nExitOnIdleSec=1\n' > "$TEST_DIR/conductor.conf"
start_daemon --max-concurrent=9 --exit-on-idle=0
[ "$(prop MaxConcurrentSheets)" = "u 9" ] || fail "--max-concurrent did not win"
gcall Reload >/dev/null
[ "$(prop MaxConcurrentSheets)" = "u 9" ] || fail "a reload undid --max-concurrent"
sleep 2.5
kill -0 "$DAEMON_PID" || fail "--exit-on-idle=0 did not win over ExitOnIdleSec=1"
stop_daemon

echo "--- exit on idle: not while a job runs, soon after"
start_daemon
two=$(write_score two <<'YAML'
name: two
workspace: ws2
sheet: {size: 1, total_items: 1}
prompt: {template: 'sleep 2'}
YAML
)
ctl start "$two" >/dev/null
sleep 1.8
kill -0 "$DAEMON_PID" || fail "the conductor exited while a job ran"
rc=0
timeout 10 tail --pid="$DAEMON_PID" -f /dev/null || fail "the conductor did not exit when idle"
wait "$DAEMON_PID" || rc=$?
DAEMON_PID=
[ "$rc" = 0 ] || fail "exit on idle exited with $rc"
grep -q "Idle for 1 s, exiting" "$DAEMON_LOG" || fail "no message for the idle exit"
start_daemon
[ "$(job_state two)" = completed ] || fail "the job is not completed after the idle exit"

echo "--- conductor-status names what Slurm lacks here"
out=$(ctl conductor-status --json)
want=
if ! command -v sbatch >/dev/null; then want=not-installed
elif [ -z "${SLURM_CONF:-}" ] && [ ! -e /etc/slurm/slurm.conf ]; then want=not-configured
fi
if [ -n "$want" ]; then
        python3 -c 'import json,sys; d = json.loads(sys.argv[1]); assert d["slurm"] == sys.argv[2], d' "$out" "$want" \
                || fail "conductor-status should say slurm $want: $out"
fi
echo ok
