#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The Slurm runner against a real single-node cluster (tests/slurm/cluster.sh):
# a score with dependencies and fan-out runs through it, sheets visible in
# squeue; a failing sheet, one over its time limit, a cancel mid-run, a
# pause and resume (state S), and a conductor restart that follows the
# batch jobs on; the dry run's batch script; conductor-status's view of the
# controller, up and down.
LIB_REQUIRED_TOOLS="dbus-daemon busctl python3"
. "$(dirname "$0")/lib.sh"
. "$SOURCE_DIR/tests/slurm/cluster.sh"

missing=$(slurm_cluster_missing)
[ -z "$missing" ] || skip "$missing is not installed (tools/run-tests installs slurm-wlm and munge)"
[ "$(id -u)" = 0 ] || skip "the test cluster runs slurmd as root"
trap 'rc=$?; slurm_cluster_stop; set +e; (exit $rc); cleanup' EXIT
slurm_cluster_start "$TEST_DIR/slurm" || fail "the Slurm cluster did not start"

cat > "$TEST_DIR/conductor.conf" <<'CONF'
[Conductor]
Runner=auto

[Slurm]
Partition=debug
PollIntervalSec=300ms
SbatchOption=requeue
CONF
start_bus
start_daemon

sheet_json() { ctl sheet "$1" "$2" --json; }
sheet_field() { sheet_json "$1" "$2" | python3 -c "import json,sys; print(json.load(sys.stdin).get('$3'))"; }
sheet_state() { sheet_field "$1" "$2" status; }
# the Slurm job ids of the conductor's jobs named like $1, with their state
queue() { squeue -h -o '%j %i %t' | grep "^marianne\.$1" || true; }
wait_sheet() { # JOB SHEET STATE [SECONDS]
        local deadline=$((SECONDS + ${4:-30}))
        while [ "$(sheet_state "$1" "$2")" != "$3" ]; do
                [ $SECONDS -lt $deadline ] || fail "sheet $2 of $1 did not reach $3 (is $(sheet_state "$1" "$2"))"
                sleep 0.1
        done
}
wait_queue() { # PATTERN GREP-REGEX [SECONDS]
        local deadline=$((SECONDS + ${3:-20}))
        until queue "$1" | grep -q "$2"; do
                [ $SECONDS -lt $deadline ] || fail "squeue never showed $2 for $1: $(queue "$1")"
                sleep 0.1
        done
}
start_job() { mcall StartJob 'sa{sv}' "$1" 0 | sed -n 's/^so "\([^"]*\)".*/\1/p'; }

echo "--- conductor-status: the controller is up"
out=$(ctl conductor-status)
grep -qi "slurm.*up" <<<"$out" || fail "conductor-status does not show Slurm up: $out"

echo "--- a score with dependencies and fan-out runs through Slurm"
fan=$(write_score fan <<'YAML'
name: fan
workspace: ws-fan
pause_between_sheets_seconds: 0
runner:
  type: slurm
  time: "5"
  pre_commands: ["echo pre-$MARIANNE_SHEET_UNSET >> pre.log"]
  post_commands: ["exit 9"]
sheet:
  size: 1
  total_items: 3
  fan_out: {2: 3}
  dependencies: {2: [1], 3: [2]}
parallel: {enabled: true, max_concurrent: 4}
prompt:
  template: |
    {% if stage == 2 %}sleep 2; {% endif %}echo "stage {{ stage }} instance {{ instance }} on $(hostname)"; echo err >&2; echo {{ stage }}.{{ instance }} >> order
YAML
)
ctl start "$fan" --dry-run > "$TEST_DIR/plan" || fail "dry run failed"
grep -q "Submits: .*sbatch --parsable .*/ws-fan/.marianne-slurm/fan-N.sheet-1.attempt-1.sbatch" "$TEST_DIR/plan" \
        || fail "dry run does not show the sbatch command line: $(head -30 "$TEST_DIR/plan")"
for l in "#SBATCH --partition=debug" "#SBATCH --requeue" "#SBATCH --time=5" "#SBATCH --job-name=marianne.fan-N.sheet-3.attempt-1" "exit \$marianne_status"; do
        grep -qF -- "$l" "$TEST_DIR/plan" || fail "dry run's batch script lacks '$l'"
done
[ -z "$(queue fan)" ] || fail "the dry run submitted something"

job=$(start_job "$fan")
[ -n "$job" ] || fail "StartJob gave no job id"
for _ in $(seq 200); do
        [ "$(queue "$job.sheet-[234]" | grep -c " R$")" -ge 2 ] && break
        sleep 0.1
done
[ "$(queue "$job.sheet-[234]" | grep -c " R$")" -ge 2 ] || fail "the fan-out did not run in parallel in Slurm: $(queue "$job")"
wait_state "$job" completed 60
ws=$TEST_DIR/scores/ws-fan
[ "$(head -1 "$ws/order")" = 1.1 ] && [ "$(tail -1 "$ws/order")" = 3.1 ] || fail "dependencies not kept: $(cat "$ws/order")"
[ "$(wc -l < "$ws/order")" = 5 ] || fail "5 sheets expected: $(cat "$ws/order")"
sheet_json "$job" 5 | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["exit_code"] == 0, s                      # not the post command'"'"'s 9
assert s["stdout_tail"].startswith("stage 3 instance 1 on "), s
assert s["stderr_tail"] == "err\n", s
assert s["execution_mode"] == "slurm", s
' || fail "sheet 5's record is wrong: $(sheet_json "$job" 5)"
[ "$(ctl output "$job" 2 stderr)" = err ] || fail "output of sheet 2's stderr: $(ctl output "$job" 2 stderr)"
[ "$(wc -l < "$ws/pre.log")" = 5 ] || fail "the pre-commands did not run once per sheet"
ls "$ws"/.marianne-slurm/"$job".sheet-1.attempt-1.{sbatch,out,err} >/dev/null || fail "the batch files are not in the workspace"
[ -z "$(queue "$job")" ] || fail "batch jobs left in the queue: $(queue "$job")"

echo "--- examples/hello-slurm.yaml plays on the cluster"
ctl start "$SOURCE_DIR/examples/hello-slurm.yaml" --workspace="$TEST_DIR/ws-example" --wait >/dev/null \
        || fail "the Slurm example did not complete: $(ctl status hello-slurm 2>&1 | tail -5)"
[ "$(wc -l < "$TEST_DIR/ws-example/finale.txt")" = 3 ] || fail "the example's finale: $(cat "$TEST_DIR/ws-example/finale.txt")"
grep -q "^job [0-9]* on " "$TEST_DIR/ws-example/slurm-nodes.log" || fail "the example's pre-command did not run in the batch job"

echo "--- a failing sheet, and one over its time limit"
bad=$(write_score bad <<'YAML'
name: bad
workspace: ws-bad
retry: {max_retries: 0}
instrument_config: {timeout_seconds: 3}
pause_between_sheets_seconds: 0
runner: {type: slurm}
sheet: {size: 1, total_items: 1, fan_out: {1: 2}}
parallel: {enabled: true, max_concurrent: 2}
prompt:
  template: '{% if instance == 1 %}echo failing; exit 3{% else %}sleep 120{% endif %}'
YAML
)
job=$(start_job "$bad")
wait_state "$job" failed 60
sheet_json "$job" 1 | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["status"] == "failed" and s["exit_code"] == 3, s
assert s["error_category"] == "exit_code" and "status 3" in s["error_message"], s
assert s["stdout_tail"] == "failing\n", s
' || fail "the failing sheet's record: $(sheet_json "$job" 1)"
sheet_json "$job" 2 | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["status"] == "failed" and s["error_category"] == "timeout", s
' || fail "the sheet over its time limit: $(sheet_json "$job" 2)"
for _ in $(seq 50); do [ -z "$(queue "$job")" ] && break; sleep 0.1; done
[ -z "$(queue "$job")" ] || fail "the timed-out batch job is still queued: $(queue "$job")"

slow=$(write_score slow <<'YAML'
name: slow
workspace: ws-slow
pause_between_sheets_seconds: 0
runner: {type: slurm}
sheet: {size: 1, total_items: 1}
prompt:
  template: 'for i in $(seq 40); do echo $i >> ticks; sleep 0.2; done'
YAML
)

echo "--- cancel mid-run: the batch job leaves the queue"
job=$(start_job "$slow")
wait_sheet "$job" 1 in_progress
wait_queue "$job" " R$"
ctl cancel "$job" || fail "cancel"
wait_state "$job" cancelled
for _ in $(seq 50); do [ -z "$(queue "$job")" ] && break; sleep 0.1; done
[ -z "$(queue "$job")" ] || fail "the cancelled batch job is still queued: $(queue "$job")"
ctl delete "$job" >/dev/null
rm -rf "$TEST_DIR/scores/ws-slow"

echo "--- pause suspends the batch job (S), resume runs it on"
job=$(start_job "$slow")
wait_queue "$job" " R$"
sleep 1
ctl pause "$job" || fail "pause"
wait_queue "$job" " S$" 10
sleep 0.5       # S is the controller's word; slurmd stops the processes right after
before=$(wc -l < "$TEST_DIR/scores/ws-slow/ticks")
sleep 1
after=$(wc -l < "$TEST_DIR/scores/ws-slow/ticks")
[ "$before" = "$after" ] || fail "the suspended batch job went on ticking ($before → $after)"
ctl resume "$job" || fail "resume"
wait_queue "$job" " R$" 10
wait_state "$job" completed 60
[ "$(wc -l < "$TEST_DIR/scores/ws-slow/ticks")" = 40 ] || fail "the resumed job did not finish its work"
ctl delete "$job" >/dev/null
rm -rf "$TEST_DIR/scores/ws-slow"

echo "--- a conductor restart mid-run follows the batch job on"
job=$(start_job "$slow")
wait_queue "$job" " R$"
slurm_id=$(queue "$job" | awk '{print $2}')
# killed once the id is in the store (an unanswered submission is run again)
for _ in $(seq 50); do grep -q "submitted as slurm:$slurm_id" "$DAEMON_LOG" && break; sleep 0.1; done
grep -q "submitted as slurm:$slurm_id" "$DAEMON_LOG" || fail "the conductor never recorded Slurm job $slurm_id"
kill9_daemon
start_daemon
wait_state "$job" completed 60
sheet_json "$job" 1 | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["attempt_count"] == 1, s
assert s["exit_code"] == 0, s
' || fail "the adopted sheet ran again or failed: $(sheet_json "$job" 1)"
[ "$(wc -l < "$TEST_DIR/scores/ws-slow/ticks")" = 40 ] || fail "the adopted job's work: $(wc -l < "$TEST_DIR/scores/ws-slow/ticks") ticks"
grep -q "slurm:$slurm_id" "$DAEMON_LOG" || fail "the restarted conductor did not follow Slurm job $slurm_id"

echo "--- the other runners are chosen the same way"
cat > "$TEST_DIR/local.yaml" <<'YAML'
name: local
workspace: ws-local
runner: {type: local}
sheet: {size: 1, total_items: 1}
prompt: {template: 'echo here'}
YAML
job=$(start_job "$TEST_DIR/local.yaml")
wait_state "$job" completed
mode=$(sheet_field "$job" 1 execution_mode)
[ "$mode" = cgroup ] || [ "$mode" = process-group ] || fail "type: local ran in $mode"
[ -z "$(queue "$job")" ] || fail "type: local went to Slurm"
sed -i 's/type: local/type: systemd/' "$TEST_DIR/local.yaml"
out=$(ctl start "$TEST_DIR/local.yaml" 2>&1) && fail "type: systemd started on a conductor without systemd: $out"
grep -q "needs a conductor running as root under systemd" <<<"$out" || fail "type: systemd refused without saying why: $out"

echo "--- a dedicated option in sbatch_options is refused"
cat > "$TEST_DIR/dedicated.yaml" <<'YAML'
name: dedicated
workspace: ws-dedicated
runner: {type: slurm, sbatch_options: {partition: other}}
sheet: {size: 1, total_items: 1}
prompt: {template: 'true'}
YAML
out=$(ctl validate "$TEST_DIR/dedicated.yaml" 2>&1) && fail "validate accepted a dedicated option"
grep -q "runner.partition" <<<"$out" || fail "validate does not point to runner.partition: $out"

echo "--- conductor-status: the controller is down"
kill "$(cat "$TEST_DIR/slurm/slurmctld.pid")"
for _ in $(seq 50); do kill -0 "$(cat "$TEST_DIR/slurm/slurmctld.pid")" 2>/dev/null || break; sleep 0.1; done
out=$(ctl conductor-status)
grep -qiE "slurm.*(down|unreachable)" <<<"$out" || fail "conductor-status does not show Slurm down: $out"
echo OK
