#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The job lifecycle through every client: mariannectl, busctl and gdbus
# against the real marianned on a private bus.
. "$(dirname "$0")/lib.sh"

start_bus
start_daemon

slow=$(write_score slow <<'YAML'
name: slow
workspace: ws-slow
pause_between_sheets_seconds: 0
sheet: {size: 1, total_items: 3}
prompt:
  template: 'for i in $(seq 30); do echo {{ sheet_num }}.$i >> ticks; sleep 0.1; done'
YAML
)
quick=$(write_score quick <<'YAML'
name: quick
workspace: ws-quick
pause_between_sheets_seconds: 0
sheet: {size: 2, total_items: 5}
prompt:
  template: 'echo items {{ start_item }}-{{ end_item }}'
validations:
  - type: command_succeeds
    command: 'true'
YAML
)

echo "--- start, status, list, sheets, sheet (mariannectl)"
ctl start "$quick" --wait >/dev/null || fail "quick job did not complete"
ctl status quick | grep -q "State: completed" || fail "status does not show completed"
ctl list | grep -q "quick-1 .*completed" || fail "list does not show quick-1"
[ "$(ctl sheets quick --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 3 ] \
        || fail "quick should have 3 sheets"
ctl sheet quick 3 --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["status"] == "completed" and s["exit_code"] == 0, s
assert s["stdout_tail"] == "items 5-5\n", s
assert s["validation_passed"] is True and s["passed_validations"] == 1, s
assert s["success_without_retry"] is True and s["attempt_count"] == 1, s
' || fail "sheet 3 details are wrong"

[ "$(ctl output quick 2)" = "items 3-4" ] || fail "output of sheet 2 is not its stdout"
[ -z "$(ctl output quick 2 stderr)" ] || fail "output of sheet 2's stderr is not empty"
expect_error org.marianne.Conductor.Error.NoSuchSheet gcall OpenSheetOutput "'quick'" 4 "'stdout'"
expect_error org.freedesktop.DBus.Error.InvalidArgs gcall OpenSheetOutput "'quick'" 1 "'/etc/passwd'"

# output that is not UTF-8 (cut mid-character, or binary) still reaches the client
cat > "$TEST_DIR/binary.yaml" <<'YAML'
name: binary
workspace: ws-binary
sheet: {size: 1, total_items: 1}
prompt: {template: "printf 'caf\\303\\251 \\377\\376 end'"}
YAML
ctl start - --wait < "$TEST_DIR/binary.yaml" \
        >/dev/null || fail "the binary job failed"
ctl sheet binary 1 | grep -q "café" || fail "a sheet with non-UTF-8 output cannot be shown: $(ctl sheet binary 1 2>&1 | tail -3)"
rm -rf "$PWD/ws-binary"
ctl delete binary

echo "--- dry run: every sheet with its command, nothing started"
ctl start "$slow" --dry-run | grep -q "for i in" || fail "dry run does not show the rendered command"
[ "$(ctl list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 1 ] \
        || fail "dry run recorded a job"
mcall PlanJob 'sa{sv}' "$slow" 0 | grep -q '"num" u 3' || fail "PlanJob does not list sheet 3"

echo "--- pause and resume freeze and thaw the running sheet (busctl)"
job=$(mcall StartJob 'sa{sv}' "$slow" 0 | sed -n 's/^so "\([^"]*\)".*/\1/p')
wait_state "$job" running
sleep 0.5
mcall PauseJob s "$job"
[ "$(job_state "$job")" = paused ] || fail "PauseJob did not pause"
sleep 0.3
before=$(wc -l < "$TEST_DIR/scores/ws-slow/ticks")
sleep 0.8
after=$(wc -l < "$TEST_DIR/scores/ws-slow/ticks")
[ "$before" = "$after" ] || fail "the paused sheet kept running ($before → $after lines)"
ctl sheets "$job" | grep -q waiting || fail "the frozen sheet is not shown as waiting"
expect_error org.marianne.Conductor.Error.InvalidState gcall PauseJob "'$job'"
mcall ResumeJob s "$job"
sleep 0.5
[ "$(wc -l < "$TEST_DIR/scores/ws-slow/ticks")" -gt "$after" ] || fail "the resumed sheet did not go on"

echo "--- health reports real figures of the running sheet"
ctl health "$job" --json | python3 -c '
import json, sys
h = json.load(sys.stdin)
assert h["is_alive"] and h["process_exists"] and not h["is_zombie_state"], h
assert h["pid"] > 0 and h["memory_mb"] > 0 and h["uptime_seconds"] > 0 and h["processes"] >= 1, h
' || fail "health figures are wrong"

echo "--- the job object: properties and methods (gdbus)"
path=$(gcall GetJob "'$job'" | sed -n "s/^(objectpath '\([^']*\)',)$/\1/p")
[ -n "$path" ] || fail "GetJob returned no path"
gdbus call --address "$MARIANNE_BUS_ADDRESS" --dest org.marianne.Conductor --object-path "$path" \
        --method org.freedesktop.DBus.Properties.Get org.marianne.Conductor.Job Name | grep -q "'slow'" \
        || fail "Name property"
gdbus call --address "$MARIANNE_BUS_ADDRESS" --dest org.marianne.Conductor --object-path "$path" \
        --method org.marianne.Conductor.Job.Pause >/dev/null
[ "$(job_state "$job")" = paused ] || fail "Job.Pause did not pause"
gdbus call --address "$MARIANNE_BUS_ADDRESS" --dest org.marianne.Conductor --object-path "$path" \
        --method org.marianne.Conductor.Job.Resume >/dev/null
bctl get-property org.marianne.Conductor "$path" org.marianne.Conductor.Job State | grep -q running \
        || fail "State property is not running after Job.Resume"

echo "--- cancel leaves nothing running; delete only terminal jobs"
expect_error org.marianne.Conductor.Error.InvalidState gcall DeleteJob "'$job'"
expect_exit 1 ctl delete "$job"
ctl cancel "$job"
[ "$(job_state "$job")" = cancelled ] || fail "cancel did not cancel"
sleep 0.5
pgrep -f "seq 30" >/dev/null && pgrep -af "sleep 0.1" | grep -v pgrep && fail "sheet processes survived the cancel"
ctl status "$job" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["job"]["cancelled_sheets"] >= 1, d
' || fail "cancelled sheets not counted"
expect_error org.marianne.Conductor.Error.InvalidState gcall ResumeJob "'$job'"
ctl delete "$job"
expect_error org.marianne.Conductor.Error.NoSuchJob gcall GetJobStatus "'$job'"
expect_exit 4 ctl status "$job"

echo "--- named errors for unknown jobs and sheets, exit codes"
expect_error org.marianne.Conductor.Error.NoSuchJob gcall CancelJob "'nope'"
expect_error org.marianne.Conductor.Error.NoSuchJob gcall PauseJob "'nope'"
expect_error org.marianne.Conductor.Error.NoSuchSheet gcall GetSheet "'quick'" 9
expect_exit 4 ctl pause nope
expect_exit 1 ctl resume quick

echo "--- start errors: paths and content"
expect_error org.marianne.Conductor.Error.InvalidConfig gcall StartJob "'$TEST_DIR/scores/../scores/quick.yaml'" '{}'
expect_error org.marianne.Conductor.Error.InvalidConfig gcall StartJob "'/etc/passwd'" '{}'
expect_error org.marianne.Conductor.Error.InvalidConfig gcall StartJob "'$TEST_DIR/none.yaml'" '{}'
expect_error org.freedesktop.DBus.Error.InvalidArgs gcall StartJob "'$quick'" "{'bogus': <'x'>}"
expect_error org.freedesktop.DBus.Error.InvalidArgs gcall StartJob "'$quick'" "{'start_sheet': <'one'>}"
expect_exit 1 ctl start "$TEST_DIR/none.yaml"
printf 'name: inline\nworkspace: ws-inline\nsheet: {size: 1, total_items: 1}\nprompt: {template: "pwd > where"}\n' \
        | ctl start - --wait >/dev/null
[ "$(cat "$PWD/ws-inline/where" 2>/dev/null || cat "$TEST_DIR/ws-inline/where")" != "" ] || fail "inline job did not run"
rm -rf "$PWD/ws-inline"
expect_error "<inline>:2:1: YAML syntax error" mcall StartJobFromContent 'sa{sv}' 'name: [unclosed' 0

echo "--- clear by state and age"
[ "$(mcall ClearJobs 'a{sv}' 1 older_than_seconds t 3600)" = "u 0" ] || fail "clear of old jobs deleted something"
[ "$(mcall ClearJobs 'a{sv}' 1 states as 1 failed)" = "u 0" ] || fail "clear of failed jobs deleted something"
ctl clear --state completed | grep -q "Deleted 2 jobs" || fail "clear did not delete the two completed jobs"
[ "$(ctl list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 0 ] || fail "jobs left after clear"

echo "--- conductor status"
ctl conductor-status --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["pid"] > 0 and s["memory_usage_mb"] > 0 and s["version"] and s["execution_mode"] in ("cgroup", "process-group"), s
' || fail "conductor status"
bctl get-property org.marianne.Conductor /org/marianne/Conductor org.marianne.Conductor Version | grep -q '"' || fail "Version"

echo "--- administration: limits at run time, shutdown"
mcall SetLimits 'a{sv}' 2 max_concurrent_sheets u 7 max_jobs_per_user u 3
[ "$(bctl get-property org.marianne.Conductor /org/marianne/Conductor org.marianne.Conductor MaxConcurrentSheets)" = "u 7" ] \
        || fail "SetLimits did not change MaxConcurrentSheets"
[ "$(bctl get-property org.marianne.Conductor /org/marianne/Conductor org.marianne.Conductor MaxJobsPerUser)" = "u 3" ] \
        || fail "SetLimits did not change MaxJobsPerUser"
expect_error org.freedesktop.DBus.Error.InvalidArgs gcall SetLimits "{'max_concurrent_sheets': <uint32 0>}"
expect_error org.freedesktop.DBus.Error.InvalidArgs gcall SetLimits "{'bogus': <uint32 1>}"
# the per-user limit: three active jobs, the fourth is refused
for i in 1 2 3; do ctl start "$slow" >/dev/null; done
expect_error org.marianne.Conductor.Error.LimitExceeded gcall StartJob "'$slow'" '{}'
gcall Shutdown >/dev/null
rc=0; wait "$DAEMON_PID" || rc=$?; DAEMON_PID=
[ "$rc" = 0 ] || fail "Shutdown: marianned exited with $rc"
echo ok
