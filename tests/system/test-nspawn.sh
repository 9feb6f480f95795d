#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# System test: the installed build inside a booted systemd (systemd-nspawn
# of the host's own /usr with the staged install laid over it).  Checks
# what only a real service manager and system bus can: the unit, D-Bus
# activation, the bus policy, the journal, Restart= after a crash.
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

cleanup() {
        if [ -n "$NSPAWN_PID" ]; then
                kill "$NSPAWN_PID" 2>/dev/null || true
                for _ in $(seq 100); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.1; done
                kill -9 "$NSPAWN_PID" 2>/dev/null || true
        fi
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

systemd-nspawn -D / --volatile=yes --boot --register=no --keep-unit -M "$MACHINE" --console=pipe \
        --overlay-ro=/usr:"$STAGE/usr":/usr --bind="$WORK/share":/srv/marianne \
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
inside() { nsenter -t "$INIT" -a "$@"; }
echo "booted: $(inside systemctl is-system-running || true)"

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
echo "execution mode: $mode"
inside systemctl show -p StatusText --value marianne.service | grep -q "jobs running" \
        || fail "no STATUS= in systemctl status: $(inside systemctl show -p StatusText --value marianne.service)"
[ "$(inside systemctl show -p WatchdogUSec --value marianne.service)" = 1min ] || fail "no watchdog"

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
python3 - "$WORK/share/ws-slow/runs" <<'PY' || fail "sheets ran more than they may have"
import collections, sys
c = collections.Counter(l.strip() for l in open(sys.argv[1]))
assert all(c[str(n)] >= 1 for n in range(1, 7)), c
assert sum(c.values()) <= 7, c      # at most the interrupted sheet ran twice
PY
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
echo ok
