#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# AI instruments on the real daemon, played by the fake CLIs in
# tests/fake-ai: prompt delivery per profile, tokens and cost from their
# JSON, a rate limit that makes sheets of every job wait and then runs
# again without spending a retry, an auth failure that moves a sheet to
# its fallback instrument; then a score with movements, fan-out,
# cross-sheet context, completion mode and on_success hooks end to end.
. "$(dirname "$0")/lib.sh"

FAKES=$SOURCE_DIR/tests/fake-ai
for f in claude gemini codex; do [ -x "$FAKES/$f" ] || fail "$FAKES/$f is missing"; done

# sheets find the fakes first on their PATH
printf '[Conductor]\nExecSearchPath=%s:/usr/local/bin:/usr/bin:/bin\n' "$FAKES" > "$TEST_DIR/conductor.conf"
start_bus
start_daemon

json_field() { # JSON on stdin; python expression on j
        python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"
}
sheet_json() { ctl sheet "$1" "$2" --json; }
job_id() { json_field 'j["job_id"]'; }
invocations() { # WORKSPACE → the fakes' record, one JSON object per line
        cat "$1/.fake-ai/invocations.jsonl"
}

echo "--- each profile delivers the prompt its own way; tokens and cost are read"
score=$(write_score delivery <<'YAML'
name: delivery
workspace: ws-delivery
instrument: claude-code
instrument_config: {model: claude-sonnet-4-6}
sheet:
  size: 1
  total_items: 3
  per_sheet_instruments: {2: gemini-cli, 3: codex-cli}
retry: {max_retries: 0}
prompt:
  template: |
    Write the file.
    RUN: echo {{ sheet_num }} > out-{{ sheet_num }}.txt
    SAY: sheet {{ sheet_num }} on {{ instrument_name }}
validations:
  - {type: file_exists, path: "{workspace}/out-{sheet_num}.txt"}
pause_between_sheets_seconds: 0
YAML
)
ws=$TEST_DIR/scores/ws-delivery
ctl start "$score" --dry-run > "$TEST_DIR/plan.txt"
grep -q "Instrument: claude-code (prompt on stdin)" "$TEST_DIR/plan.txt" || fail "dry run: no claude line: $(cat "$TEST_DIR/plan.txt")"
grep -q "Runs: $FAKES/claude --model claude-sonnet-4-6 --output-format json -p -$" "$TEST_DIR/plan.txt" ||
        fail "dry run: claude command line: $(grep Runs "$TEST_DIR/plan.txt")"
grep -q "Runs: $FAKES/gemini .*-p {prompt}" "$TEST_DIR/plan.txt" || fail "dry run: gemini command line"
grep -q "Runs: $FAKES/codex exec .*{prompt}" "$TEST_DIR/plan.txt" || fail "dry run: codex command line"
job=$(ctl start "$score" --json | job_id)
wait_state "$job" completed 60
invocations "$ws" | python3 -c '
import json, sys
inv = [json.loads(l) for l in sys.stdin]
via = {i["cli"]: i["prompt_via"] for i in inv}
assert via == {"claude": "stdin", "gemini": "flag", "codex": "positional"}, via
for i in inv:
    assert "RUN: echo" in i["prompt"], i
' || fail "prompt delivery"
sheet_json "$job" 1 | json_field 'j["sheet"]' >/dev/null 2>&1 || true
s1=$(sheet_json "$job" 1)
python3 - "$s1" <<'PY' || fail "claude tokens/cost: $s1"
import json, sys
j = json.loads(sys.argv[1]); s = j.get("sheet", j)
assert s["instrument"] == "claude-code", s
assert s["input_tokens"] > 0 and s["output_tokens"] > 0, s
assert s["cost_usd"] > 0, s
PY
s2=$(sheet_json "$job" 2)
python3 - "$s2" <<'PY' || fail "gemini tokens summed over its models: $s2"
import json, sys
j = json.loads(sys.argv[1]); s = j.get("sheet", j)
assert s["instrument"] == "gemini-cli", s
assert s["input_tokens"] > 100 and s["output_tokens"] > 5, s   # the router model's 100/5 are added
PY
grep -q "Tokens:" <<<"$(ctl sheet "$job" 1)" || fail "the sheet view shows no tokens"

echo "--- a prompt over 32 KiB travels on stdin, even to bash"
big=$(write_score big <<'YAML'
name: big
workspace: ws-big
instrument: cli
sheet: {size: 1, total_items: 1}
prompt:
  template: |
    {% for i in range(800) %}
    # padding line {{ i }} so that the script is larger than an argument may be
    {% endfor %}
    echo "{{ sheet_num }} ran from stdin" > big.txt
validations:
  - {type: content_contains, path: "{workspace}/big.txt", pattern: "1 ran from stdin"}
YAML
)
ctl start "$big" --dry-run > "$TEST_DIR/big-plan.txt"
grep -q "Instrument: cli (prompt on stdin)" "$TEST_DIR/big-plan.txt" || fail "dry run: a big cli prompt is not on stdin"
job=$(ctl start "$big" --json | job_id)
wait_state "$job" completed 30
[ "$(stat -c %s "$TEST_DIR/state/logs/$job/sheet-1.attempt-1.prompt")" -gt 32768 ] || fail "no prompt file for stdin"

echo "--- a rate limit: the sheet waits (and other jobs' sheets on it too), then runs without spending a retry"
limited=$(write_score limited <<'YAML'
name: limited
workspace: ws-limited
instrument: claude-code
sheet: {size: 1, total_items: 1}
retry: {max_retries: 0}
prompt:
  template: "RUN: touch done\nSAY: finally\n"
validations:
  - {type: file_exists, path: "{workspace}/done"}
YAML
)
mkdir -p "$TEST_DIR/scores/ws-limited/.fake-ai"
echo "rate-limit API Error: Rate limit reached. Please try again in 3s" > "$TEST_DIR/scores/ws-limited/.fake-ai/script"
job=$(ctl start "$limited" --json | job_id)
for _ in $(seq 100); do
        st=$(sheet_json "$job" 1 | json_field '(j.get("sheet", j))["status"]')
        [ "$st" = waiting ] && break
        sleep 0.05
done
[ "$st" = waiting ] || fail "a rate-limited sheet did not wait (state $st)"
other=$(sed 's/^name: limited/name: other/; s/ws-limited/ws-other/' "$limited" | write_score other)
job2=$(ctl start "$other" --json | job_id)
for _ in $(seq 40); do
        st2=$(sheet_json "$job2" 1 | json_field '(j.get("sheet", j))["status"]')
        [ "$st2" = waiting ] && break
        sleep 0.05
done
[ "$st2" = waiting ] || fail "another job's sheet on the limited instrument did not wait (state $st2)"
[ ! -e "$TEST_DIR/scores/ws-other/.fake-ai/count" ] || fail "the other job ran its instrument while it was limited"
wait_state "$job" completed 30
wait_state "$job2" completed 30
s=$(sheet_json "$job" 1)
python3 - "$s" <<'PY' || fail "rate-limit bookkeeping: $s"
import json, sys
j = json.loads(sys.argv[1]); s = j.get("sheet", j)
assert s["rate_limit_waits"] == 1, s
assert s["attempt_count"] == 2, s
PY

echo "--- an auth failure moves the sheet to its fallback instrument"
fallback=$(write_score fallback <<'YAML'
name: fallback
workspace: ws-fallback
instrument: claude-code
instrument_fallbacks: [gemini-cli]
sheet: {size: 1, total_items: 1}
retry: {max_retries: 0}
prompt:
  template: "RUN: touch done\n"
validations:
  - {type: file_exists, path: "{workspace}/done"}
YAML
)
mkdir -p "$TEST_DIR/scores/ws-fallback/.fake-ai"
echo auth > "$TEST_DIR/scores/ws-fallback/.fake-ai/script"
job=$(ctl start "$fallback" --json | job_id)
wait_state "$job" completed 30
s=$(sheet_json "$job" 1)
python3 - "$s" <<'PY' || fail "fallback: $s"
import json, sys
j = json.loads(sys.argv[1]); s = j.get("sheet", j)
assert s["instrument"] == "gemini-cli", s
assert s["instrument_index"] == 1, s
PY
invocations "$TEST_DIR/scores/ws-fallback" | python3 -c '
import json, sys
clis = [json.loads(l)["cli"] for l in sys.stdin]
assert clis == ["claude", "gemini"], clis' || fail "fallback order"

echo "--- movements, fan-out, cross-sheet context, completion mode and hooks, end to end"
cat > "$TEST_DIR/scores/chained.yaml" <<'YAML'
name: chained
workspace: ws-chained
instrument: cli
sheet: {size: 1, total_items: 1}
prompt: {template: "echo chained >> runs.txt"}
on_success:
  - {type: run_job, job_path: chained.yaml}
concert: {max_chain_depth: 2}
pause_between_sheets_seconds: 0
YAML
e2e=$(write_score e2e <<'YAML'
name: e2e
workspace: ws-e2e
instrument: cli
instruments:
  writer: {profile: claude-code, config: {model: claude-haiku-4-5-20251001}}
movements:
  1: {name: Gather}
  2: {name: Voices, voices: 2, instrument: writer}
  3: {name: Finale}
sheet:
  size: 1
  total_items: 3
  dependencies: {2: [1], 3: [2]}
cross_sheet:
  auto_capture_stdout: true
  max_output_chars: 200
  capture_files: ["{{ workspace }}/gather.txt"]
retry: {max_retries: 0, max_completion_attempts: 2, completion_delay_seconds: 0}
parallel: {max_concurrent: 2}
pause_between_sheets_seconds: 0
prompt:
  variables:
    colors: {1: red, 2: blue}
  template: |
    {% if stage == 1 %}
    echo "gathered by {{ movement_name }} for {{ voice_count }} voice{{ 's' if voice_count != 1 }}" | tee gather.txt
    {% elif stage == 2 %}
    {% set color = colors[voice] %}
    RUN: echo "{{ previous_files.values() | list | first | default("nothing yet") | trim }}" > seen-{{ voice }}.txt
    RUN: if [ -f tried-{{ voice }} ]; then touch done-{{ voice }}; else touch tried-{{ voice }}; fi
    SAY: voice {{ voice }} of {{ voice_count }} is {{ color | upper }}
    {% else %}
    echo "{% for k, v in previous_outputs | dictsort %}[{{ k }}:{{ v | trim }}]{% endfor %}" > finale.txt
    {% endif %}
validations:
  - {type: file_exists, path: "{workspace}/seen-{instance}.txt", condition: "stage == 2"}
  - {type: file_exists, path: "{workspace}/done-{instance}", condition: "stage == 2", retry_count: 0}
  - {type: content_contains, path: "{workspace}/finale.txt", pattern: "[3:voice 2 of 2 is BLUE]", condition: "stage == 3"}
on_success:
  - {type: run_command, command: "touch hook-ran", description: "mark the end"}
  - {type: run_job, job_path: chained.yaml}
concert: {cooldown_between_jobs_seconds: 0.5}
YAML
)
ws=$TEST_DIR/scores/ws-e2e
ctl render "$e2e" --sheet=3 > "$TEST_DIR/rendered.txt"
grep -qx "SAY: voice 2 of 2 is BLUE" "$TEST_DIR/rendered.txt" || fail "render: $(cat "$TEST_DIR/rendered.txt")"
job=$(ctl start "$e2e" --json | job_id)
wait_state "$job" completed 60
grep -qx "gathered by Gather for 1 voice" "$ws/seen-1.txt" || fail "previous_files: $(cat "$ws/seen-1.txt")"
grep -qF "[1:gathered by Gather for 1 voice][2:voice 1 of 2 is RED][3:voice 2 of 2 is BLUE]" "$ws/finale.txt" ||
        fail "previous_outputs: $(cat "$ws/finale.txt")"
s=$(sheet_json "$job" 2)
python3 - "$s" <<'PY' || fail "completion mode: $s"
import json, sys
j = json.loads(sys.argv[1]); s = j.get("sheet", j)
assert s["completion_attempts"] == 1, s
assert s["attempt_count"] == 2, s
assert s["instrument"] == "claude-code", s
PY
invocations "$ws" | python3 -c '
import json, sys
inv = [json.loads(l) for l in sys.stdin]
assert len(inv) == 4, len(inv)
completion = [i for i in inv if "COMPLETION MODE" in i["prompt"]]
assert len(completion) == 2, [i["prompt"] for i in inv]
assert all("done-" in i["prompt"].split("COMPLETION MODE")[1] for i in completion)
assert all("--model" in i["argv"] and "claude-haiku-4-5-20251001" in i["argv"] for i in inv)
' || fail "completion attempts carry the failing checks in their prompt"
grep -q "passed" <<<"$(ctl sheet "$job" 2)" || fail "the sheet view shows no validations"

for _ in $(seq 100); do [ -e "$ws/hook-ran" ] && break; sleep 0.1; done
[ -e "$ws/hook-ran" ] || fail "the run_command hook did not run"
[ "$(stat -c %U "$ws/hook-ran")" = "$(id -un)" ] || fail "the hook did not run as the job's owner"
for _ in $(seq 150); do
        n=$(ctl list --json | python3 -c 'import json,sys; print(sum(1 for j in json.load(sys.stdin) if j["name"] == "chained" and j["state"] == "completed"))')
        [ "$n" = 2 ] && grep -q "max_chain_depth" "$DAEMON_LOG" && break
        sleep 0.1
done
[ "$n" = 2 ] || fail "expected a chain of 2 chained jobs, got $n"
grep -q "already 2 deep in a chain, and concert.max_chain_depth is 2" "$DAEMON_LOG" || fail "the chain was not stopped at its depth"
first_chained=$(ctl list --json | python3 -c 'import json,sys; print(sorted(j["id"] for j in json.load(sys.stdin) if j["name"] == "chained")[0])')
grep -q "Chained from: $job" <<<"$(ctl status "$first_chained")" || fail "the chained job does not name its parent"
[ "$(wc -l < "$TEST_DIR/scores/ws-chained/runs.txt")" = 2 ] || fail "the chained score ran $(wc -l < "$TEST_DIR/scores/ws-chained/runs.txt") times"

echo "OK"
