#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Every job and sheet state change reaches bus clients as signals, in
# order, and PropertiesChanged follows the job object.
. "$(dirname "$0")/lib.sh"

start_bus
start_daemon

gdbus monitor --address "$MARIANNE_BUS_ADDRESS" --dest org.marianne.Conductor > "$TEST_DIR/monitor.txt" 2>&1 &
MONITOR_PID=$!
sleep 0.5

score=$(write_score two <<'YAML'
name: two
workspace: ws
pause_between_sheets_seconds: 0
sheet: {size: 1, total_items: 2}
prompt: {template: 'true'}
YAML
)
job=$(gcall StartJob "'$score'" '{}' | sed -n "s/^('\([^']*\)'.*/\1/p")
[ -n "$job" ] || fail "StartJob via gdbus returned no job id"
wait_state "$job" completed
gcall DeleteJob "'$job'" >/dev/null
sleep 0.5
kill "$MONITOR_PID"; wait "$MONITOR_PID" 2>/dev/null || true; MONITOR_PID=

python3 - "$TEST_DIR/monitor.txt" "$job" <<'PY'
import re, sys
text, job = open(sys.argv[1]).read(), sys.argv[2]
events = []
for line in text.splitlines():
    m = re.search(r"org\.marianne\.Conductor\.(\w+) \((.*)\)$", line)
    if m:
        args = re.findall(r"'([^']*)'|uint32 (\d+)|objectpath '([^']*)'", m.group(2))
        events.append((m.group(1),) + tuple(next(x for x in a if x) for a in args))
    elif "PropertiesChanged" in line and "'State'" in line:
        events.append(("StateProperty",))
want = [
    ("JobAdded", job),
    ("SheetStateChanged", job, "1", "pending", "ready"),
    ("SheetStateChanged", job, "1", "ready", "dispatched"),
    ("JobStateChanged", job, None, "queued", "running"),
    ("SheetStateChanged", job, "1", "dispatched", "in_progress"),
    ("SheetStateChanged", job, "1", "in_progress", "completed"),
    ("SheetStateChanged", job, "2", "pending", "ready"),
    ("SheetStateChanged", job, "2", "ready", "dispatched"),
    ("SheetStateChanged", job, "2", "dispatched", "in_progress"),
    ("SheetStateChanged", job, "2", "in_progress", "completed"),
    ("JobStateChanged", job, None, "running", "completed"),
    ("JobRemoved", job),
]
got = [e for e in events if e[0] != "StateProperty"]
def match(w, g):
    return len(g) >= len(w) and all(a is None or a == b for a, b in zip(w, g))
i = 0
for g in got:
    if i < len(want) and match(want[i], g):
        i += 1
if i != len(want):
    print("signals seen:", *got, sep="\n  ")
    sys.exit(f"missing or out of order from: {want[i]}")
if not any(e[0] == "StateProperty" for e in events):
    sys.exit("no PropertiesChanged for the job's State property")
print(f"ok: {len(got)} signals in order")
PY
