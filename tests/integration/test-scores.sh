#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Real scores, offline: every score of the original project (../shared)
# and of our own examples validates without errors (warnings for what only
# the original's AI runtime does are fine) and every sheet of it renders.
LIB_REQUIRED_TOOLS="python3"
. "$(dirname "$0")/lib.sh"

SHARED=${MARIANNE_SHARED_DIR:-$SOURCE_DIR/../shared}
scores=("$SOURCE_DIR"/examples/*.yaml)
if [ -d "$SHARED/scores/marianne" ]; then
        scores+=("$SHARED"/scores/marianne/*.yaml)
else
        echo "note: $SHARED/scores/marianne is absent; checking the examples only"
fi

for score in "${scores[@]}"; do
        out=$(ctl validate --json "$score") || fail "$score does not validate: $out"
        n=$(python3 - "$out" <<'PY'
import json, sys
v = json.loads(sys.argv[1])
assert v["valid"] is True, v
errors = [d for d in v["diagnostics"] if d["severity"] == "error"]
assert not errors, errors
for d in v["diagnostics"]:
    assert d["code"][0] == "W" and len(d["code"]) == 4, d
print(v["total_sheets"])
PY
) || fail "$score: $out"
        for sheet in $(seq "$n"); do
                ctl render "$score" --sheet="$sheet" > "$TEST_DIR/prompt" || fail "$score sheet $sheet does not render"
        done
        echo "$(basename "$score"): $n sheets validate and render"
done

echo "--- stable codes, exit statuses"
bad=$(write_score bad <<'YAML'
name: bad
sheet: {size: 1, total_items: 2}
sheeet: 1
YAML
)
set +e; out=$(ctl validate --json "$bad"); rc=$?; set -e
[ "$rc" = 1 ] || fail "an invalid score exits $rc"
python3 - "$out" <<'PY' || fail "invalid score JSON: $out"
import json, sys
v = json.loads(sys.argv[1])
d = v["diagnostics"][0]
assert v["valid"] is False
assert (d["code"], d["name"], d["line"], d["column"], d["key"]) == ("E005", "unknown-key", 3, 1, "sheeet"), d
PY
out=$(ctl validate "$bad" 2>&1 || true)
grep -q "bad.yaml:3:1: key 'sheeet': unknown key.*\[E005\]" <<<"$out" || fail "text form of E005: $out"
expect_exit 2 ctl validate "$TEST_DIR/nonexistent.yaml"
expect_exit 2 ctl validate "$TEST_DIR"
nosuch=$(write_score nosuch <<'YAML'
name: nosuch
instrument: no-such-instrument
sheet: {size: 1, total_items: 1}
YAML
)
out=$(ctl validate "$nosuch" 2>&1 || true)
grep -q "\[E009\]" <<<"$out" || fail "an unknown instrument is not E009: $out"
expect_exit 1 ctl validate "$nosuch"
expect_exit 1 ctl render "$bad" --sheet=1
expect_exit 4 ctl render "$SOURCE_DIR/examples/hello-conductor.yaml" --sheet=99
echo "OK"
