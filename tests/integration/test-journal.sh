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
assert bad.get("MESSAGE_ID") == "473ede54e30447e6a26bd5a4bebd2406", bad
assert jobend[0].get("MESSAGE_ID") == "b2b04fdd23b842e5ab81fc22b0ea81f6", jobend
print(f"ok: {len(entries)} journal entries for {job}")
PY

echo "--- mariannectl logs"
out=$(ctl logs "$job")
grep -q "sheet 2: in_progress → failed: exited with status 1" <<<"$out" || fail "logs lacks sheet 2's failure: $out"
grep -q "running → failed" <<<"$out" || fail "logs lacks the job's end"
out=$(ctl logs journal --sheet 1)          # by score name, one sheet
grep -q "sheet 1:" <<<"$out" && ! grep -q "sheet 2:" <<<"$out" || fail "--sheet 1 shows other sheets: $out"
[ "$(ctl logs "$job" -n 2 | wc -l)" = 2 ] || fail "-n 2 did not show two entries"
ctl logs "$job" --json | python3 -c '
import json, sys
e = [json.loads(l) for l in sys.stdin]
assert any(x["sheet"] == 2 and x["priority"] == 4 for x in e), e
' || fail "logs --json"
timeout 2 "$MARIANNECTL" logs "$job" -f > "$TEST_DIR/follow.txt" || [ $? = 124 ] || fail "logs -f failed"
grep -q "running → failed" "$TEST_DIR/follow.txt" || fail "logs -f did not print the entries"

echo "--- the message catalog explains the entries (journalctl -x)"
catalogs=$TEST_DIR/catalog
mkdir -p "$catalogs"
cp /usr/lib/systemd/catalog/*.catalog "$catalogs/" 2>/dev/null || true
cp "$SOURCE_DIR/catalog/marianne.catalog" "$catalogs/"
mkdir -p /var/lib/systemd/catalog
mount -t tmpfs tmpfs /var/lib/systemd/catalog
mount --bind "$catalogs" /usr/lib/systemd/catalog
journalctl --update-catalog
journalctl --no-pager -x MARIANNE_JOB="$job" MESSAGE_ID=473ede54e30447e6a26bd5a4bebd2406 > "$TEST_DIR/explained.txt"
grep -q "Subject: Sheet 2 of Marianne job $job failed" "$TEST_DIR/explained.txt" \
        || fail "journalctl -x does not explain the failed sheet: $(cat "$TEST_DIR/explained.txt")"
echo ok
