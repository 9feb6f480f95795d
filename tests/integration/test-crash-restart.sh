#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A 30-sheet job survives five kill -9 of the conductor: it ends completed,
# every sheet wrote its line, and no sheet recorded as completed ran again.
. "$(dirname "$0")/lib.sh"

start_bus
start_daemon

score=$(write_score crash <<'YAML'
name: crash
workspace: ws
pause_between_sheets_seconds: 0
sheet: {size: 1, total_items: 30}
prompt:
  template: 'echo "{{ sheet_num }}" >> lines.txt; sleep 0.25'
YAML
)
job=$(ctl start "$score" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["job_id"])')
lines=$TEST_DIR/scores/ws/lines.txt

# completed sheets and their line counts, read from the store of a dead conductor
snapshot() {
        python3 - "$TEST_DIR/state/marianne.db" "$lines" "$job" <<'PY'
import collections, sqlite3, sys
db, lines, job = sys.argv[1:]
con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
done = [n for (n,) in con.execute("SELECT num FROM sheets WHERE job_id = ? AND state = 'completed'", (job,))]
try:
    counts = collections.Counter(l.strip() for l in open(lines))
except FileNotFoundError:
    counts = collections.Counter()
for n in sorted(done):
    print(n, counts[str(n)])
PY
}

: > "$TEST_DIR/completed.txt"
for kill in 1 2 3 4 5; do
        sleep "0.$((4 + RANDOM % 4))"
        [ "$(job_state "$job")" = running ] || fail "job finished before kill $kill; the test must kill mid-job"
        kill9_daemon
        snapshot >> "$TEST_DIR/completed.txt"
        echo "kill $kill: $(snapshot | wc -l) sheets completed"
        start_daemon
done

wait_state "$job" completed 60

python3 - "$TEST_DIR/completed.txt" "$lines" "$TEST_DIR/state/marianne.db" "$job" <<'PY'
import collections, sqlite3, sys
snap, lines, db, job = sys.argv[1:]
counts = collections.Counter(l.strip() for l in open(lines))
missing = [n for n in range(1, 31) if counts[str(n)] == 0]
assert not missing, f"sheets without their line: {missing}"
for row in open(snap):
    n, c = map(int, row.split())
    assert counts[str(n)] == c, f"sheet {n} was completed with {c} line(s) yet ran again ({counts[str(n)]} now)"
con = sqlite3.connect(db)
states = set(s for (s,) in con.execute("SELECT state FROM sheets WHERE job_id = ?", (job,)))
assert states == {"completed"}, states
interrupted = con.execute("SELECT COUNT(*) FROM attempts WHERE job_id = ? AND outcome = 'interrupted'", (job,)).fetchone()[0]
print(f"ok: 30 sheets completed, {sum(counts.values())} lines, {interrupted} interrupted attempts recorded")
PY
