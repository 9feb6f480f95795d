#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# System test: the installed build inside a booted systemd (systemd-nspawn
# of the host's own /usr with the staged install laid over it).  Checks
# what only a real service manager and system bus can: the unit, D-Bus
# and socket activation, the bus policy, the journal, Restart= after a
# crash, sheets as transient units (freezing, restart survival), a user's
# sheets submitted to a Slurm cluster in the container as that user.  The
# container gets the unified cgroup hierarchy: the service manager freezes
# units only there.
set -euo pipefail

BUILD_DIR=${MARIANNE_BUILD_DIR:?run through meson test}
SOURCE_DIR=${MARIANNE_SOURCE_DIR:?run through meson test}
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; [ -n "${CONSOLE:-}" ] && tail -n 20 "$CONSOLE" >&2; exit 1; }

[ "$(id -u)" = 0 ] || skip "needs root to boot a container"
for t in systemd-nspawn nsenter setpriv; do
        command -v "$t" >/dev/null || skip "$t is not installed (tools/run-tests installs systemd-container)"
done
[ -d /sys/fs/cgroup ] || skip "no cgroup file system"

WORK=$(mktemp -d /tmp/marianne-nspawn.XXXXXX)
STAGE=$WORK/stage
CONSOLE=$WORK/console.log
MACHINE=marianne-test-$$
NSPAWN_PID=
MONITOR_PID=

cleanup() {
        [ -n "$MONITOR_PID" ] && kill "$MONITOR_PID" 2>/dev/null || true
        [ -z "$NSPAWN_PID" ] || stop_container
        rm -rf "$WORK"
}
trap cleanup EXIT

grep -q "^prefix *= */usr$\|'/usr'" "$BUILD_DIR/meson-info/intro-buildoptions.json" 2>/dev/null || \
        python3 -c "import json,sys; o={x['name']:x['value'] for x in json.load(open('$BUILD_DIR/meson-info/intro-buildoptions.json'))}; sys.exit(o['prefix'] != '/usr')" \
        || skip "the build's prefix is not /usr"
DESTDIR=$STAGE meson install -C "$BUILD_DIR" --no-rebuild --quiet >/dev/null
[ -f "$STAGE/usr/lib/systemd/system/marianne.service" ] || fail "the install did not put marianne.service under /usr"
[ ! -d "$STAGE/etc" ] || fail "the install writes to /etc; the test would have to copy it in"

mkdir -p "$WORK/share"
chmod 0755 "$WORK" "$WORK/share"       # the test user reads the scores
cp "$SOURCE_DIR/examples/batches.yaml" "$WORK/share/"
cat > "$WORK/share/ids.yaml" <<'YAML'
name: ids
pause_between_sheets_seconds: 0
sheet: {size: 1, total_items: 1}
prompt: {template: 'id -u > ids; id -G >> ids'}
YAML
cat > "$WORK/share/slow.yaml" <<'YAML'
name: slow
workspace: ws-slow
pause_between_sheets_seconds: 0
sheet: {size: 1, total_items: 6}
prompt: {template: 'echo {{ sheet_num }} >> runs; sleep 0.5'}
YAML
cat > "$WORK/share/units.yaml" <<'YAML'
name: units
workspace: ws-units
pause_between_sheets_seconds: 0
parallel: {max_concurrent: 2}
sheet: {size: 1, total_items: 4}
prompt: {template: 'echo {{ sheet_num }} >> runs; sleep 3; echo {{ sheet_num }} >> done'}
resources: {tasks_max: 64, cpu_quota: 150%, io_weight: 50}
YAML

cat > "$WORK/share/hungry.yaml" <<'YAML'
name: hungry
workspace: ws-hungry
retry: {max_retries: 0}
sheet: {size: 1, total_items: 1}
prompt: {template: 'python3 -c "x = bytearray(256 * 1024 * 1024); x[::4096] = b\"y\" * len(x[::4096])"'}
resources: {memory_max: 32M}
YAML
cat > "$WORK/share/big.yaml" <<'YAML'
name: big
workspace: ws-big
instrument: cli
pause_between_sheets_seconds: 0
sheet: {size: 1, total_items: 1}
prompt:
  template: |
    {% for i in range(800) %}
    # padding line {{ i }}: more than an argument may carry
    {% endfor %}
    echo "from stdin" > big.txt
YAML

# boot_container unified|hybrid: sets NSPAWN_PID and INIT
boot_container() {
        local unified=0
        [ "$1" = unified ] && unified=1
        SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=$unified systemd-nspawn -D / --volatile=yes --boot --register=no --keep-unit \
                -M "$MACHINE-$1" --console=pipe --overlay-ro=/usr:"$STAGE/usr":/usr --bind="$WORK/share":/srv/marianne \
                systemd.firstboot=off >"$CONSOLE" 2>&1 &
        NSPAWN_PID=$!
        INIT=
        for _ in $(seq 300); do
                kill -0 "$NSPAWN_PID" 2>/dev/null || skip "systemd-nspawn could not boot here: $(tail -n 3 "$CONSOLE" | tr '\n' ' ')"
                INIT=$(pgrep -P "$NSPAWN_PID" -x systemd || true)
                if [ -n "$INIT" ]; then
                        state=$(nsenter -t "$INIT" -a systemctl is-system-running 2>/dev/null || true)
                        case "$state" in running|degraded) break;; esac
                fi
                sleep 0.2
        done
        [ -n "$INIT" ] || skip "no systemd came up in the container"
        echo "booted ($1 cgroup hierarchy): $(inside systemctl is-system-running || true)"
}
stop_container() {
        kill "$NSPAWN_PID" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$NSPAWN_PID" 2>/dev/null || true
        NSPAWN_PID=
}
inside() { nsenter -t "$INIT" -a "$@"; }

boot_container unified

echo "--- D-Bus activation starts the unit"
inside systemctl stop marianne.service
[ "$(inside systemctl is-active marianne.service || true)" = inactive ] || fail "marianne.service did not stop"
inside mariannectl list >/dev/null || fail "mariannectl list did not activate the conductor"
[ "$(inside systemctl is-active marianne.service)" = active ] || fail "marianne.service is not active after activation"
inside systemctl show -p ControlGroup --value marianne.service | grep -q marianne.service || fail "no cgroup"

echo "--- a job runs to completion; the journal has it"
inside mariannectl start /srv/marianne/batches.yaml --wait >/dev/null || fail "batches did not complete"
[ "$(cat "$WORK/share/workspaces/batches/total.txt")" = 55 ] || fail "batches computed the wrong total"
inside journalctl -u marianne.service --no-pager -o json MARIANNE_JOB=batches-1 | python3 -c '
import json, sys
e = [json.loads(l) for l in sys.stdin if l.strip()]
assert any(x.get("MARIANNE_SHEET") == "4" and "completed" in x["MESSAGE"] for x in e), e[-3:]
' || fail "journal entries with MARIANNE_JOB=batches-1 are missing"
mode=$(inside busctl get-property org.marianne.Conductor /org/marianne/Conductor org.marianne.Conductor ExecutionMode)
[ "$mode" = 's "systemd"' ] || fail "the conductor does not use the systemd runner under systemd: $mode"
inside mariannectl conductor-status | grep -q "systemd" || fail "conductor-status does not name the systemd runner"
inside systemctl show -p StatusText --value marianne.service | grep -q "jobs running" \
        || fail "no STATUS= in systemctl status: $(inside systemctl show -p StatusText --value marianne.service)"
[ "$(inside systemctl show -p WatchdogUSec --value marianne.service)" = 1min ] || fail "no watchdog"

job_state() { inside mariannectl status "$1" --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["job"]["status"])' || true; }
wait_state() {  # job state [tries of 0.2 s]
        local st=
        for _ in $(seq "${3:-150}"); do st=$(job_state "$1"); [ "$st" = "$2" ] && return 0; sleep 0.2; done
        fail "$1 did not reach $2 (state: $st)"
}
job_units() { inside systemctl list-units --all --plain --no-legend "marianne-$1.sheet-*" | awk '{print $1}'; }
check_ran_once() {      # runs file, total sheets: every sheet ran exactly once
        python3 - "$1" "$2" <<'PY' || fail "sheets did not run exactly once: $(tr '\n' ' ' < "$1")"
import collections, sys
c = collections.Counter(l.strip() for l in open(sys.argv[1]))
assert sorted(c) == sorted(str(n) for n in range(1, int(sys.argv[2]) + 1)) and set(c.values()) == {1}, c
PY
}

echo "--- busctl starts a job; its sheets are transient units in the job's slice; signals in order"
inside timeout 120 gdbus monitor --system --dest org.marianne.Conductor >"$WORK/monitor.log" 2>&1 &
MONITOR_PID=$!
sleep 1
out=$(inside busctl call org.marianne.Conductor /org/marianne/Conductor org.marianne.Conductor StartJob 'sa{sv}' \
        /srv/marianne/units.yaml 0) || fail "busctl StartJob: $out"
units_job=$(sed -n 's/^so "\([^"]*\)".*/\1/p' <<<"$out")
[ -n "$units_job" ] || fail "no job id in the StartJob reply: $out"
for _ in $(seq 50); do [ -n "$(job_units "$units_job")" ] && break; sleep 0.1; done
unit=$(job_units "$units_job" | head -n1)
[ -n "$unit" ] || fail "no transient unit for $units_job"
slice=$(inside systemctl show -P Slice "$unit")
[ "$slice" = "marianne-${units_job//-/\\x2d}.slice" ] || fail "$unit is in $slice, not the job's slice"
[ "$(inside systemctl show -P ControlGroup "$unit")" = "/marianne.slice/$slice/$unit" ] \
        || fail "$unit's cgroup is not under marianne.slice: $(inside systemctl show -P ControlGroup "$unit")"
[ "$(inside systemctl show -P TasksMax "$unit")" = 64 ] || fail "tasks_max did not reach the unit"
[ "$(inside systemctl show -P CPUQuotaPerSecUSec "$unit")" = 1.500000s ] || fail "cpu_quota did not reach the unit: $(inside systemctl show -P CPUQuotaPerSecUSec "$unit")"
[ "$(inside systemctl show -P IOWeight "$unit")" = 50 ] || fail "io_weight did not reach the unit"
[ "$(inside systemctl show -P WorkingDirectory "$unit")" = /srv/marianne/ws-units ] || fail "the unit's working directory"
[ "$(inside systemctl show -P RuntimeMaxUSec "$unit")" != infinity ] || fail "no runtime limit on the unit"

echo "--- pause freezes the job's units in the cgroup freezer; resume thaws them"
inside mariannectl pause "$units_job" >/dev/null || fail "pause"
for _ in $(seq 50); do [ "$(inside systemctl show -P FreezerState "$unit")" = frozen ] && break; sleep 0.1; done
[ "$(inside systemctl show -P FreezerState "$unit")" = frozen ] || fail "$unit is not frozen: $(inside systemctl show -P FreezerState "$unit")"
inside grep -qx "frozen 1" "/sys/fs/cgroup/marianne.slice/$slice/$unit/cgroup.events" || fail "the kernel does not report $unit frozen"
sleep 3.5       # longer than a sheet: a frozen one must not finish
[ ! -e "$WORK/share/ws-units/done" ] || fail "a sheet finished while the job was paused"
inside mariannectl resume "$units_job" >/dev/null || fail "resume"
[ "$(inside systemctl show -P FreezerState "$unit")" = running ] || sleep 0.5
[ "$(inside systemctl show -P FreezerState "$unit")" = running ] || fail "$unit was not thawed"

echo "--- systemctl restart mid-job: the units run on, are adopted, nothing runs twice"
for _ in $(seq 100); do [ "$(wc -l < "$WORK/share/ws-units/runs" 2>/dev/null || echo 0)" -ge 3 ] && break; sleep 0.1; done
running_unit=$(job_units "$units_job" | tail -n1)
inside systemctl restart marianne.service
[ "$(inside systemctl is-active "$running_unit")" = active ] || fail "$running_unit did not survive the conductor's restart"
# the journal may take a moment to have the new instance's lines
for _ in $(seq 50); do
        adopted=$(inside journalctl -u marianne.service --no-pager -o cat | grep -c "following it" || true)
        [ "$adopted" -gt 0 ] && break
        sleep 0.1
done
[ "$adopted" -gt 0 ] || fail "the restarted conductor did not adopt the running sheets"
wait_state "$units_job" completed
check_ran_once "$WORK/share/ws-units/runs" 4
check_ran_once "$WORK/share/ws-units/done" 4
for _ in $(seq 50); do [ -z "$(job_units "$units_job")" ] && break; sleep 0.1; done
[ -z "$(job_units "$units_job")" ] || fail "the finished job's units were not collected: $(job_units "$units_job")"
kill "$MONITOR_PID" 2>/dev/null || true
python3 - "$WORK/monitor.log" "$units_job" <<'PY' || fail "signals out of order: $(grep -c StateChanged "$WORK/monitor.log") state signals"
import re, sys
log, job = open(sys.argv[1]).read(), sys.argv[2]
jobs = re.findall(r"JobStateChanged \('%s', objectpath '[^']*', '(\w+)', '(\w+)'\)" % re.escape(job), log)
assert jobs, log[-2000:]
assert jobs[-1][1] == "completed", jobs
# each change starts where the previous one ended
for a, b in zip(jobs, jobs[1:]):
    assert a[1] == b[0], jobs
sheets = re.findall(r"SheetStateChanged \('%s', uint32 (\d+), '(\w+)', '(\w+)'\)" % re.escape(job), log)
for n in "1234":
    seq = [(a, b) for s, a, b in sheets if s == n]
    assert seq and seq[-1][1] == "completed", (n, seq)
    for x, y in zip(seq, seq[1:]):
        assert x[1] == y[0], (n, seq)
PY
inside journalctl --no-pager -o cat "MARIANNE_JOB=$units_job" | grep -q "$units_job" || fail "no journal entries with MARIANNE_JOB=$units_job"

echo "--- cancel stops every unit of the job"
cancel_job=$(inside mariannectl start /srv/marianne/units.yaml --workspace=/srv/marianne/ws-cancel --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["job_id"])')
for _ in $(seq 50); do [ -n "$(job_units "$cancel_job")" ] && break; sleep 0.1; done
[ -n "$(job_units "$cancel_job")" ] || fail "no sheet of $cancel_job runs: $(inside mariannectl status "$cancel_job" 2>&1)"
inside mariannectl cancel "$cancel_job" >/dev/null || fail "cancel"
wait_state "$cancel_job" cancelled 50
for _ in $(seq 100); do [ -z "$(job_units "$cancel_job")" ] && break; sleep 0.1; done
[ -z "$(job_units "$cancel_job")" ] || fail "units of the cancelled job remain: $(job_units "$cancel_job")"

echo "--- a prompt over 32 KiB reaches its unit on stdin"
inside mariannectl start /srv/marianne/big.yaml --wait >/dev/null || fail "the big-prompt job did not complete"
grep -qx "from stdin" "$WORK/share/ws-big/big.txt" || fail "the big prompt did not run"

echo "--- socket activation: a stopped conductor starts on a connection to /run/marianne/conductor.socket"
inside systemctl stop marianne.service
inside systemctl start marianne.socket
[ "$(inside systemctl is-active marianne.socket)" = active ] || fail "marianne.socket is not active"
inside test -S /run/marianne/conductor.socket || fail "no socket in /run/marianne"
out=$(inside mariannectl --socket list 2>&1) || fail "mariannectl --socket list: $out"
grep -q "$units_job" <<<"$out" || fail "the socket-activated conductor does not list the jobs: $out"
[ "$(inside systemctl is-active marianne.service)" = active ] || fail "the connection did not start marianne.service"
out=$(inside setpriv --reuid=65534 --regid=65534 --clear-groups mariannectl --socket list 2>&1 || true)
grep -qi "root\|denied\|refused\|permission" <<<"$out" || fail "an unprivileged peer was served on the socket: $out"

echo "--- the unit files verify (system, and the user unit for systemctl --user)"
out=$(inside systemd-analyze verify --man=no /usr/lib/systemd/system/marianne.service 2>&1) || fail "system unit: $out"
! grep -q "marianne" <<<"$out" || fail "systemd-analyze verify complains about the system unit: $out"
out=$(inside bash -c 'XDG_RUNTIME_DIR=$(mktemp -d) systemd-analyze --user verify --man=no /usr/lib/systemd/user/marianne.service' 2>&1) \
        || fail "user unit: $out"
! grep -q "marianne" <<<"$out" || fail "systemd-analyze verify complains about the user unit: $out"

echo "--- another user: polkit decides, jobs run as their owner"
inside useradd -m marianne-test
tuid=$(inside id -u marianne-test); tgid=$(inside id -g marianne-test)
as_user() { inside setpriv --reuid="$tuid" --regid="$tgid" --init-groups "$@"; }
as_gdbus() { as_user gdbus call --system --dest org.marianne.Conductor --object-path /org/marianne/Conductor \
                --method "org.marianne.Conductor.$1" "${@:2}" 2>&1 || true; }
inside mariannectl start /srv/marianne/slow.yaml --workspace=/root/ws-root >/dev/null   # root's job, running
root_job=$(inside mariannectl list --json | python3 -c 'import json,sys; print([j["id"] for j in json.load(sys.stdin) if j["name"] == "slow"][0])')

# without a rule, a user outside an active session may not start jobs
out=$(as_user mariannectl start /srv/marianne/ids.yaml --workspace=/home/marianne-test/ws 2>&1 || true)
grep -q "start-job" <<<"$out" || fail "starting was not refused by polkit: $out"
grep -q "org.marianne.Conductor.Error.AccessDenied" <<<"$(as_gdbus StartJob "'/srv/marianne/ids.yaml'" "{}")" \
        || fail "gdbus StartJob was not AccessDenied"

# the rules file the test installs allows it
inside bash -c 'cat > /etc/polkit-1/rules.d/50-marianne-test.rules' <<'RULES'
polkit.addRule(function(action, subject) {
    if (action.id == "org.marianne.conductor.start-job" && subject.user == "marianne-test")
        return polkit.Result.YES;
});
RULES
for _ in $(seq 50); do
        as_user mariannectl start /srv/marianne/ids.yaml --workspace=/home/marianne-test/ws --wait >/dev/null 2>&1 && break
        sleep 0.2       # polkitd rereads rules.d when it changes
done
[ "$(inside cat /home/marianne-test/ws/ids)" = "$(printf '%s\n%s' "$tuid" "$(inside id -G marianne-test)")" ] \
        || fail "the sheet did not run with the owner's uid and groups: $(inside cat /home/marianne-test/ws/ids 2>&1)"
[ "$(inside stat -c %U /home/marianne-test/ws/ids)" = marianne-test ] || fail "the sheet's output is not the owner's"
as_user mariannectl status ids >/dev/null || fail "the owner cannot see their job"
[ "$(as_user mariannectl output ids 1 stderr)" = "" ] || fail "the owner cannot read their sheet's output"
as_user mariannectl output ids 1 >/dev/null || fail "the owner cannot read their sheet's output"
inside mariannectl list | grep -q "ids-.*marianne-test" || fail "root's list does not show the owner"
as_user mariannectl list | grep -q slow && fail "the user sees root's job in the list"

# others' jobs and the conductor: refused, through mariannectl, busctl and gdbus
for call in "PauseJob '$root_job'" "CancelJob '$root_job'" "DeleteJob '$root_job'" "GetSheet '$root_job' 1" \
            "GetJobStatus '$root_job'" "ClearJobs {'all_users':<true>}" "Shutdown" \
            "OpenSheetOutput '$root_job' 1 'stdout'"; do
        out=$(as_gdbus $call)
        grep -q "org.marianne.Conductor.Error.AccessDenied" <<<"$out" || fail "$call by the user: $out"
done
out=$(as_gdbus SetLimits "{'max_jobs_per_user': <uint32 1>}")
grep -q "org.marianne.Conductor.Error.AccessDenied" <<<"$out" || fail "SetLimits by the user: $out"
for cmd in "pause $root_job" "cancel $root_job" "sheet $root_job 1"; do
        out=$(as_user mariannectl $cmd 2>&1 || true)
        grep -q "needs authentication\|not allow" <<<"$out" || fail "mariannectl $cmd by the user: $out"
done
out=$(as_user busctl call org.marianne.Conductor /org/marianne/Conductor org.marianne.Conductor CancelJob s "$root_job" 2>&1 || true)
grep -q "manage-jobs" <<<"$out" || fail "busctl CancelJob by the user: $out"
[ "$(inside mariannectl status "$root_job" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["job"]["status"])')" = running ] \
        || fail "root's job changed state"

# the daemon reads scores and writes workspaces only with the user's rights
inside bash -c 'printf "name: secret\nsheet: {size: 1, total_items: 1}\n" > /root/secret.yaml; chmod 600 /root/secret.yaml'
out=$(as_user mariannectl start /root/secret.yaml 2>&1 || true)
grep -q "Permission denied" <<<"$out" || fail "a root-only score was read for the user: $out"
out=$(as_user mariannectl start /srv/marianne/ids.yaml --workspace=/root/ws-user 2>&1 || true)
grep -q "cannot create or write workspace" <<<"$out" || fail "a workspace in /root was accepted: $out"
inside test ! -e /root/ws-user || fail "the refused workspace was created"
out=$(as_gdbus StartJob "'/root/secret.yaml'" "{}")
grep -q "AccessDenied.*Permission denied" <<<"$out" || fail "gdbus StartJob of a root-only score: $out"
out=$(as_gdbus StartJob "'/srv/marianne/ids.yaml'" "{'workspace': <'/root/ws-user'>}")
grep -q "AccessDenied.*cannot create or write workspace" <<<"$out" || fail "gdbus StartJob into /root: $out"
out=$(as_user busctl call org.marianne.Conductor /org/marianne/Conductor org.marianne.Conductor StartJob 'sa{sv}' \
        /srv/marianne/ids.yaml 1 workspace s /home/marianne-test/ws-busctl 2>&1) || fail "busctl StartJob by the user: $out"
for _ in $(seq 50); do inside test -s /home/marianne-test/ws-busctl/ids && break; sleep 0.1; done
[ "$(inside head -n1 /home/marianne-test/ws-busctl/ids)" = "$tuid" ] || fail "the busctl-started job did not run as the user"

# polkit unreachable: refused, and the message says so
inside systemctl mask --runtime --now polkit.service >/dev/null 2>&1
out=$(as_gdbus GetJobStatus "'$root_job'")
grep -q "polkit could not be asked" <<<"$out" || fail "with polkit gone: $out"
out=$(as_user mariannectl list 2>&1) && grep -q "ids-" <<<"$out" || fail "the owner needs no polkit for their own jobs: $out"
inside systemctl unmask --runtime polkit.service >/dev/null 2>&1
inside mariannectl cancel "$root_job"

echo "--- Slurm: a user's sheets are batch jobs that user submitted"
. "$SOURCE_DIR/tests/slurm/cluster.sh"
if [ -n "$(slurm_cluster_missing)" ]; then
        echo "(not run: $(slurm_cluster_missing) is not installed)"
else
        cp "$SOURCE_DIR/tests/slurm/cluster.sh" "$WORK/share/"
        cat > "$WORK/share/slurm.yaml" <<'YAML'
name: onslurm
pause_between_sheets_seconds: 0
runner: {type: slurm}
sheet: {size: 1, total_items: 1}
prompt: {template: 'id -u > who; sleep 3; echo played'}
YAML
        # the container's /etc is empty: no /etc/alternatives, through which
        # Debian finds the Slurm daemons, no /etc/hosts with the node in it
        inside bash -c 'echo "127.0.0.1 localhost $(hostname)" >> /etc/hosts'
        inside mkdir -p /etc/alternatives
        for l in /etc/alternatives/slurm*; do
                if [ -L "$l" ]; then inside ln -sfn "$(readlink "$l")" "$l"; fi
        done
        inside env SLURM_CLUSTER_CGROUP_PLUGIN=cgroup/v1 \
                bash -c 'mkdir -p /var/lib/marianne-slurm && . /srv/marianne/cluster.sh &&
                SLURM_CLUSTER_USERS=1 slurm_cluster_start /var/lib/marianne-slurm' >/dev/null \
                || fail "the Slurm cluster did not start in the container: $(inside bash -c 'tail -n 15 /var/lib/marianne-slurm/log/*.log /var/lib/marianne-slurm/munge/*.log' 2>&1)"
        inside systemctl set-environment SLURM_CONF=/var/lib/marianne-slurm/slurm.conf
        inside systemctl restart marianne.service
        out=$(inside mariannectl conductor-status)
        grep -qi "slurm: *up" <<<"$out" || fail "conductor-status does not see the controller: $out"
        as_user mariannectl start /srv/marianne/slurm.yaml --workspace=/home/marianne-test/ws-slurm >/dev/null \
                || fail "the user could not start a Slurm job"
        sq() { inside env SLURM_CONF=/var/lib/marianne-slurm/slurm.conf squeue -h -o '%U %j %t'; }
        for _ in $(seq 100); do sq | grep -q "^$tuid marianne\.onslurm-.*\.sheet-1\.attempt-1 R$" && break; sleep 0.1; done
        sq | grep -q "^$tuid marianne\.onslurm-.*\.sheet-1\.attempt-1 R$" \
                || fail "squeue does not show the user's batch job running: $(sq)"
        script=$(inside bash -c 'ls /home/marianne-test/ws-slurm/.marianne-slurm/*.sbatch')
        [ "$(inside stat -c '%U %a' "$script")" = "marianne-test 600" ] \
                || fail "the batch script is not the user's own: $(inside stat -c '%U %a' "$script")"
        for _ in $(seq 100); do
                st=$(as_user mariannectl status onslurm --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["job"]["status"])')
                [ "$st" = completed ] && break
                sleep 0.2
        done
        [ "$st" = completed ] || fail "the Slurm job did not complete: $(as_user mariannectl status onslurm 2>&1 | tail -5)"
        [ "$(inside cat /home/marianne-test/ws-slurm/who)" = "$tuid" ] || fail "the batch job did not run as the user"
        [ "$(as_user mariannectl output onslurm 1)" = played ] || fail "the batch job's output did not reach the sheet"
fi

echo "--- kill -9: systemd restarts the conductor, the job finishes, nothing ran twice"
crash_job=$(inside mariannectl start /srv/marianne/slow.yaml --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["job_id"])')
for _ in $(seq 50); do [ -s "$WORK/share/ws-slow/runs" ] && break; sleep 0.1; done
sleep 0.7
inside systemctl kill -s KILL --kill-whom=main marianne.service
inside mariannectl status "$crash_job" >/dev/null 2>&1 || true     # activation or Restart= brings it back
for _ in $(seq 100); do
        st=$(inside mariannectl status "$crash_job" --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["job"]["status"])' || true)
        [ "$st" = completed ] && break
        sleep 0.2
done
[ "$st" = completed ] || fail "$crash_job did not complete after the crash (state: $st)"
check_ran_once "$WORK/share/ws-slow/runs" 6     # in their units, sheets outlive the crash
[ "$(inside systemctl show -p NRestarts --value marianne.service)" -ge 1 ] || fail "systemd did not restart the conductor"

echo "--- systemctl reload rereads the configuration; exit on idle, then activation"
inside mkdir -p /etc/marianne
inside bash -c 'printf "[Conductor]\nMaxJobsPerUser=7\nExitOnIdleSec=2\n" > /etc/marianne/conductor.conf'
inside systemctl reload marianne.service
for _ in $(seq 30); do
        [ "$(inside busctl get-property org.marianne.Conductor /org/marianne/Conductor org.marianne.Conductor MaxJobsPerUser)" = "u 7" ] && break
        sleep 0.1
done
[ "$(inside busctl get-property org.marianne.Conductor /org/marianne/Conductor org.marianne.Conductor MaxJobsPerUser)" = "u 7" ] \
        || fail "systemctl reload did not apply conductor.conf"
for _ in $(seq 100); do
        [ "$(inside systemctl is-active marianne.service || true)" = inactive ] && break
        sleep 0.1
done
[ "$(inside systemctl is-active marianne.service || true)" = inactive ] || fail "the idle conductor did not exit"
[ "$(inside systemctl is-failed marianne.service || true)" != failed ] || fail "exiting on idle left the unit failed"
inside mariannectl list >/dev/null || fail "activation after the idle exit failed"
[ "$(inside systemctl is-active marianne.service)" = active ] || fail "not active again after activation"
inside mariannectl list | grep -q "$crash_job" || fail "the jobs are gone after the idle exit"
inside rm /etc/marianne/conductor.conf

echo "--- a clean stop"
inside systemctl stop marianne.service
[ "$(inside systemctl is-failed marianne.service || true)" != failed ] || fail "stopping left the unit failed"
stop_container

# The memory controller of this host may be a cgroup v1 one (hybrid): the
# unified container above then has none, and a container on the host's
# hierarchy gets its v1 controllers read-only.  Make the memory one
# writable and let the service manager see it again, so MemoryMax= holds.
echo "--- resources: a sheet over its memory_max is killed and reported as such"
boot_container hybrid
if ! inside test -f /sys/fs/cgroup/memory.max -o -f /sys/fs/cgroup/cgroup.controllers; then
        inside mount -o remount,bind,rw /sys/fs/cgroup/memory || fail "cannot make the memory controller writable"
        inside systemctl daemon-reexec
fi
out=$(inside mariannectl start /srv/marianne/hungry.yaml --wait 2>&1) && fail "the hungry sheet was not stopped: $out"
hungry=$(inside mariannectl list --json | python3 -c 'import json,sys; print([j["id"] for j in json.load(sys.stdin) if j["name"] == "hungry"][0])')
inside mariannectl sheet "$hungry" 1 --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["status"] == "failed", s
assert s["error_category"] == "oom", s
assert "memory_max" in s["error_message"], s
assert s["exit_reason"] == "oom-kill", s
' || fail "the sheet is not reported as killed for its memory: $(inside mariannectl sheet "$hungry" 1 2>&1)"
stop_container
echo ok
