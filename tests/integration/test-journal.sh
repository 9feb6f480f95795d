#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# With a real systemd-journald, every job and sheet state change is in the
# journal with MARIANNE_JOB= and MARIANNE_SHEET= fields and a priority by
# severity.  journald runs in a private mount namespace so the machine's
# own /run/systemd (and any journal it has) is left alone.
if [ -z "${MARIANNE_IN_NAMESPACE:-}" ]; then
        command -v unshare >/dev/null || { echo "SKIP: unshare is not installed"; exit 77; }
        [ -x /lib/systemd/systemd-journald ] || { echo "SKIP: systemd-journald is not installed"; exit 77; }
        MARIANNE_IN_NAMESPACE=1 exec unshare --mount --propagation private "$0" "$@" \
                || { echo "SKIP: cannot create a mount namespace"; exit 77; }
fi
. "$(dirname "$0")/lib.sh"

mkdir -p /run/systemd /run/log
mount -t tmpfs tmpfs /run/systemd
mount -t tmpfs tmpfs /run/log
/lib/systemd/systemd-journald &
journald=$!
trap 'kill $journald 2>/dev/null; cleanup' EXIT
for _ in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
[ -S /run/systemd/journal/socket ] || fail "systemd-journald did not start"

start_bus
"$MARIANNED" --state-dir="$TEST_DIR/state" >>"$DAEMON_LOG" 2>&1 &   # default log target: auto
DAEMON_PID=$!
for _ in $(seq 100); do ctl conductor-status >/dev/null 2>&1 && break; sleep 0.05; done

score=$(write_score journal <<'YAML'
name: journal
workspace: ws
pause_between_sheets_seconds: 0
retry: {max_retries: 0}
sheet: {size: 1, total_items: 2, dependencies: {}}
prompt: {template: 'test {{ sheet_num }} = 1'}
YAML
)
job=$(ctl start "$score" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["job_id"])')
expect_exit 1 ctl watch "$job"
journalctl --sync 2>/dev/null || sleep 0.5
[ ! -s "$DAEMON_LOG" ] || ! grep -q "sheet 1" "$DAEMON_LOG" || fail "messages went to stderr, not the journal"

journalctl --no-pager -o json MARIANNE_JOB="$job" > "$TEST_DIR/journal.json"
python3 - "$TEST_DIR/journal.json" "$job" <<'PY'
import json, sys
entries = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
job = sys.argv[2]
assert entries, "no journal entries with MARIANNE_JOB=" + job
def find(sheet, text):
    for e in entries:
        if e.get("MARIANNE_SHEET") == sheet and text in e["MESSAGE"]:
            return e
    sys.exit(f"no entry for sheet {sheet} with {text!r}: " + "\n".join(e["MESSAGE"] for e in entries))
ok = find("1", "in_progress → completed")
assert ok["PRIORITY"] == "6" and ok["SYSLOG_IDENTIFIER"] == "marianned", ok
bad = find("2", "in_progress → failed")
assert bad["PRIORITY"] == "4", bad          # warning
assert "exited with status 1" in bad["MESSAGE"], bad
jobend = [e for e in entries if "MARIANNE_SHEET" not in e and "running → failed" in e["MESSAGE"]]
assert jobend and jobend[0]["PRIORITY"] == "4", jobend
assert all(e.get("CODE_FILE") for e in entries)
print(f"ok: {len(entries)} journal entries for {job}")
PY
