#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Hostile calls against the running marianned: wrong signatures, malformed
# job ids, hostile paths and files, YAML bombs, limits, bad options and
# hostile mariannectl invocations.  After each one the daemon must still
# answer on the bus with the same pid, and two reference jobs (one
# completed, one running) must be exactly as they were.  Every call must be
# refused with a named error.
. "$(dirname "$0")/lib.sh"

E=org.marianne.Conductor.Error
D=org.freedesktop.DBus.Error

start_bus
start_daemon

# Stop the running reference sheet however the test ends, then clean up.
REF_RUN=
hostile_cleanup() {
        local status=$?
        set +e          # errexit would end the trap at the '(exit ...)' below
        if [ -n "$REF_RUN" ] && [ -n "$DAEMON_PID" ]; then
                timeout 10 "$MARIANNECTL" cancel "$REF_RUN" >/dev/null 2>&1 || true
        fi
        (exit "$status")
        cleanup
}
trap hostile_cleanup EXIT

# ---- reference jobs ------------------------------------------------------

done_score=$(write_score refdone <<'YAML'
name: refdone
workspace: ws-refdone
pause_between_sheets_seconds: 0
sheet: {size: 1, total_items: 2}
prompt: {template: 'true'}
YAML
)
run_score=$(write_score refrun <<'YAML'
name: refrun
workspace: ws-refrun
pause_between_sheets_seconds: 0
sheet: {size: 1, total_items: 1}
prompt: {template: 'sleep 300'}
YAML
)
ctl start "$done_score" --wait >/dev/null || fail "the completed reference job did not complete"
REF_DONE=$(ctl list --json | python3 -c 'import json,sys; print([j["id"] for j in json.load(sys.stdin) if j["name"] == "refdone"][0])')
[ "$(job_state "$REF_DONE")" = completed ] || fail "reference job $REF_DONE is not completed"
REF_RUN=$(ctl start "$run_score" --quiet)
wait_state "$REF_RUN" running
for _ in $(seq 100); do
        ctl status "$REF_RUN" --json | grep -q '"running_sheets":1' && break
        sleep 0.05
done
ctl status "$REF_RUN" --json | grep -q '"running_sheets":1' || fail "the running reference sheet did not start"

conductor_pid() { mcall GetConductorStatus | sed -n 's/.*"pid" u \([0-9]*\).*/\1/p'; }
CONDUCTOR_PID=$(conductor_pid)
[ -n "$CONDUCTOR_PID" ] || fail "GetConductorStatus gave no pid"

# The state of both reference jobs: GetJobStatus (through mariannectl) and
# ListSheets.  Neither has time-varying keys (GetConductorStatus, with its
# uptime, is only checked for an answer and the pid).
snapshot() {
        local j
        for j in "$REF_DONE" "$REF_RUN"; do
                ctl status "$j" --json
                mcall ListSheets s "$j"
        done
}
SNAPSHOT=$(snapshot)
grep -q '"status":"completed"' <<<"$SNAPSHOT" && grep -q '"status":"running"' <<<"$SNAPSHOT" \
        || fail "reference snapshot is wrong: $SNAPSHOT"

# check_daemon CASE: still answering, same process, reference jobs unchanged
check_daemon() {
        local now
        mcall GetConductorStatus >/dev/null 2>&1 || fail "$1: the daemon no longer answers GetConductorStatus"
        kill -0 "$DAEMON_PID" 2>/dev/null || fail "$1: the daemon process is gone"
        [ "$(conductor_pid)" = "$CONDUCTOR_PID" ] || fail "$1: the conductor pid changed"
        now=$(snapshot) || fail "$1: cannot read the reference jobs any more"
        [ "$now" = "$SNAPSHOT" ] || fail "$1: a reference job changed:
--- before
$SNAPSHOT
--- after
$now"
}

# error_name: the D-Bus error name in the output of gdbus, of busctl under
# SYSTEMD_LOG_LEVEL=debug, or of rawcall.py
error_name() {
        sed -n -e 's/.*GDBus\.Error:\([A-Za-z0-9_.]*\):.*/\1/p' \
               -e '/type=error/s/.*error-name=\([A-Za-z0-9_.]*\).*/\1/p' \
               -e 's/^error \([A-Za-z0-9_.]*\)$/\1/p' | tail -n 1
}

# hostile CASE NAMES COMMAND...: COMMAND fails within 15 s with one of the
# '|'-separated error NAMES; then the daemon is checked.
hostile() {
        local case=$1 want=$2 out rc=0 name
        shift 2
        out=$(timeout 15 bash -c '"$@"' hostile "$@" 2>&1) || rc=$?
        [ "$rc" != 124 ] || fail "$case: no answer within 15 s"
        [ "$rc" != 0 ] || fail "$case: succeeded, expected $want: ${out:0:400}"
        name=$(error_name <<<"$out")
        [ -n "$name" ] && [[ "|$want|" == *"|$name|"* ]] \
                || fail "$case: expected $want, got ${name:-no error name}: ${out:0:400}"
        check_daemon "$case"
        echo "ok: $case"
}

# busctl with the wire error name in its debug log; for signatures gdbus
# will not send (it converts arguments to the introspected types)
bdebug() { SYSTEMD_LOG_LEVEL=debug busctl --address="$MARIANNE_BUS_ADDRESS" call org.marianne.Conductor \
                /org/marianne/Conductor org.marianne.Conductor "$@"; }

jcall() { gdbus call --address "$MARIANNE_BUS_ADDRESS" --dest org.marianne.Conductor --object-path "$1" --method "$2" "${@:3}"; }

# A raw D-Bus client for what busctl and gdbus cannot send: an argument
# larger than one command-line argument may be (128 KiB), and strings that
# are not valid D-Bus strings.  rawcall.py METHOD FILE sends the bytes of
# FILE as the first 's' argument (then an empty a{sv} for the start and plan
# methods) and prints "error NAME", "return" or "disconnected".
RAWCALL=$TEST_DIR/rawcall.py
cat > "$RAWCALL" <<'PY'
import os, socket, struct, sys

def pad(buf, n):
    buf.extend(b"\0" * ((-len(buf)) % n))

def put_string(buf, s, signature=False):
    if signature:
        buf.append(len(s)); buf.extend(s); buf.append(0)
    else:
        pad(buf, 4); buf.extend(struct.pack("<I", len(s))); buf.extend(s); buf.append(0)

def message(serial, path, iface, member, dest, sig, body):
    fields = bytearray()
    for code, typ, val in ((1, b"o", path), (2, b"s", iface), (3, b"s", member), (6, b"s", dest), (8, b"g", sig)):
        if val is None:
            continue
        pad(fields, 8)
        fields.append(code)
        put_string(fields, typ, signature=True)
        put_string(fields, val, signature=(typ == b"g"))
    head = bytearray(b"l\x01\x00\x01") + struct.pack("<III", len(body), serial, len(fields)) + fields
    pad(head, 8)
    return bytes(head) + body

def receive(sock, buf):
    while True:
        if len(buf) >= 16:
            blen, _, flen = struct.unpack("<III", buf[4:16])
            total = 16 + flen + (-(16 + flen)) % 8 + blen
            if len(buf) >= total:
                msg = bytes(buf[:total]); del buf[:total]
                return msg
        data = sock.recv(65536)
        if not data:
            return None
        buf.extend(data)

def fields_of(msg):
    flen = struct.unpack("<I", msg[12:16])[0]
    f, i, out = msg[16:16 + flen], 0, {}
    while i < len(f):
        i += (-i) % 8
        code, sl = f[i], f[i + 1]
        sig = f[i + 2:i + 2 + sl]; i += 3 + sl
        if sig in (b"s", b"o"):
            i += (-i) % 4
            n = struct.unpack("<I", f[i:i + 4])[0]; out[code] = f[i + 4:i + 4 + n]; i += 5 + n
        elif sig == b"g":
            n = f[i]; out[code] = f[i + 1:i + 1 + n]; i += 2 + n
        elif sig == b"u":
            i += (-i) % 4; out[code] = struct.unpack("<I", f[i:i + 4])[0]; i += 4
        else:
            raise ValueError("header field type %r" % sig)
    return out

address, method, arg_file = sys.argv[1:4]
path = address.split("unix:path=", 1)[1].split(",")[0]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect(path)
sock.sendall(b"\0AUTH EXTERNAL " + str(os.getuid()).encode().hex().encode() + b"\r\n")
line = b""
while not line.endswith(b"\r\n"):
    line += sock.recv(1)
if not line.startswith(b"OK"):
    sys.exit("authentication failed: %r" % line)
sock.sendall(b"BEGIN\r\n")
sock.sendall(message(1, b"/org/freedesktop/DBus", b"org.freedesktop.DBus", b"Hello", b"org.freedesktop.DBus", None, b""))
buf = bytearray()
while True:
    msg = receive(sock, buf)
    if msg is None:
        sys.exit("the bus closed the connection during Hello")
    if msg[1] == 2 and fields_of(msg).get(5) == 1:
        break
body, sig = bytearray(), b"s"
put_string(body, open(arg_file, "rb").read())
if method in ("StartJob", "StartJobFromContent", "PlanJob", "PlanJobFromContent"):
    pad(body, 4); body.extend(struct.pack("<I", 0)); pad(body, 8)  # an empty a{sv}
    sig = b"sa{sv}"
sock.sendall(message(2, b"/org/marianne/Conductor", b"org.marianne.Conductor", method.encode(),
                     b"org.marianne.Conductor", sig, bytes(body)))
while True:
    msg = receive(sock, buf)
    if msg is None:
        print("disconnected"); sys.exit(1)
    f = fields_of(msg)
    if f.get(5) != 2:
        continue
    if msg[1] == 3:
        print("error", f.get(4, b"?").decode()); sys.exit(1)
    print("return"); sys.exit(0)
PY
rawcall() { python3 "$RAWCALL" "$MARIANNE_BUS_ADDRESS" "$@"; }

# hostile and ctl_hostile run the call under timeout(1), in a new bash
export -f ctl bctl mcall gcall bdebug jcall rawcall
export MARIANNECTL RAWCALL

echo "--- wrong signatures"
hostile "StartJob with signature 'i'" "$D.InvalidArgs" bdebug StartJob i 5
hostile "StartJob with no arguments" "$D.InvalidArgs" bdebug StartJob
hostile "StartJob with a missing argument (s)" "$D.InvalidArgs" bdebug StartJob s "$done_score"
hostile "StartJob with an extra argument (sa{sv}s)" "$D.InvalidArgs" bdebug StartJob 'sa{sv}s' "$done_score" 0 extra
hostile "StartJob with options as 'as'" "$D.InvalidArgs" bdebug StartJob 'sas' "$done_score" 0
hostile "StartJobFromContent with signature 'u'" "$D.InvalidArgs" bdebug StartJobFromContent u 1
hostile "GetSheet with signature 'ss'" "$D.InvalidArgs" bdebug GetSheet ss "$REF_DONE" 1
hostile "GetSheet with a signed sheet (si)" "$D.InvalidArgs" bdebug GetSheet si "$REF_DONE" 1
hostile "ClearJobs with signature 'as'" "$D.InvalidArgs" bdebug ClearJobs as 1 completed
hostile "ClearJobs with signature 'a{ss}'" "$D.InvalidArgs" bdebug ClearJobs 'a{ss}' 1 states completed
hostile "PauseJob with an object path (o)" "$D.InvalidArgs" bdebug PauseJob o /org/marianne/Conductor
hostile "GetConductorStatus with an argument" "$D.InvalidArgs" bdebug GetConductorStatus s x
hostile "unknown method" "$D.UnknownMethod" bdebug NoSuchMethod
hostile "unknown interface" "$D.UnknownMethod|$D.UnknownInterface" \
        env SYSTEMD_LOG_LEVEL=debug busctl --address="$MARIANNE_BUS_ADDRESS" call org.marianne.Conductor \
        /org/marianne/Conductor org.marianne.NoSuchInterface StartJob 'sa{sv}' "$done_score" 0
hostile "StartJob with a missing argument (gdbus)" "$D.InvalidArgs" gcall StartJob "'$done_score'"
hostile "StartJob with an extra argument (gdbus)" "$D.InvalidArgs" gcall StartJob "'$done_score'" '{}' "'extra'"

echo "--- unknown and malformed job ids"
for m in PauseJob ResumeJob CancelJob DeleteJob GetJob GetJobStatus ListSheets VerifyProcessHealth; do
        hostile "$m ''" "$E.NoSuchJob" gcall $m "''"
        hostile "$m 'nope'" "$E.NoSuchJob" gcall $m "'nope'"
done
long_id=$(head -c 4096 /dev/zero | tr '\0' a)
for m in CancelJob DeleteJob GetJobStatus; do
        hostile "$m of 4 KiB of 'a'" "$E.LimitExceeded" gcall $m "'$long_id'"
done
hostile "GetJobStatus of 257 bytes" "$E.LimitExceeded" gcall GetJobStatus "'${long_id:0:257}'"
for id in "a/b" "/" ".." "../$REF_DONE" "$REF_DONE/" "$REF_DONE/.." "./$REF_DONE" "$REF_DONE\\n" "\\n$REF_DONE" "*" "refdone*" "refdon%" "refdone-_" "%s%s%n" \
          "x' OR '1'='1" "x'; DELETE FROM jobs; --" " $REF_DONE" "$REF_DONE "; do
        for m in GetJobStatus CancelJob DeleteJob; do
                hostile "$m \"$id\"" "$E.NoSuchJob" gcall $m "\"${id//\"/\\\"}\""
        done
done
printf 'refdone-\xff\xfe' > "$TEST_DIR/bad-utf8"
out=$(timeout 15 python3 "$RAWCALL" "$MARIANNE_BUS_ADDRESS" DeleteJob "$TEST_DIR/bad-utf8" 2>&1) && fail "invalid UTF-8 job id: succeeded"
[[ "$out" == disconnected || "$out" == "error $D.InvalidArgs" ]] || fail "invalid UTF-8 job id: $out"
check_daemon "invalid UTF-8 job id"
echo "ok: invalid UTF-8 job id (refused by the bus: $out)"
printf "%s\0x" "$REF_DONE" > "$TEST_DIR/nul-id"
out=$(timeout 15 python3 "$RAWCALL" "$MARIANNE_BUS_ADDRESS" DeleteJob "$TEST_DIR/nul-id" 2>&1) && fail "job id with a NUL byte: succeeded"
[[ "$out" == disconnected || "$out" == "error $D.InvalidArgs" ]] || fail "job id with a NUL byte: $out"
check_daemon "job id with a NUL byte"
echo "ok: job id with a NUL byte (refused by the bus: $out)"
head -c 200000 /dev/zero | tr '\0' a > "$TEST_DIR/200k-id"
hostile "GetJobStatus of 200 KB (raw)" "$E.LimitExceeded" rawcall GetJobStatus "$TEST_DIR/200k-id"

echo "--- sheets and states of the reference jobs"
hostile "GetSheet sheet 0" "$E.NoSuchSheet" gcall GetSheet "'$REF_DONE'" 0
hostile "GetSheet sheet 3 of 2" "$E.NoSuchSheet" gcall GetSheet "'$REF_DONE'" 3
hostile "GetSheet sheet 2^32-1" "$E.NoSuchSheet" gcall GetSheet "'$REF_DONE'" 4294967295
hostile "GetSheet sheet 2^32-1 of the running job" "$E.NoSuchSheet" gcall GetSheet "'$REF_RUN'" 4294967295
hostile "PauseJob on the completed job" "$E.InvalidState" gcall PauseJob "'$REF_DONE'"
hostile "PauseJob on the completed job by name" "$E.InvalidState" gcall PauseJob "'refdone'"
hostile "ResumeJob on the completed job" "$E.InvalidState" gcall ResumeJob "'$REF_DONE'"
hostile "CancelJob on the completed job" "$E.InvalidState" gcall CancelJob "'$REF_DONE'"
hostile "ResumeJob on the running job" "$E.InvalidState" gcall ResumeJob "'$REF_RUN'"
hostile "DeleteJob on the running job" "$E.InvalidState" gcall DeleteJob "'$REF_RUN'"
hostile "DeleteJob on the running job by name" "$E.InvalidState" gcall DeleteJob "'refrun'"
done_path=$(gcall GetJob "'$REF_DONE'" | sed -n "s/^(objectpath '\([^']*\)',)$/\1/p")
run_path=$(gcall GetJob "'$REF_RUN'" | sed -n "s/^(objectpath '\([^']*\)',)$/\1/p")
[ -n "$done_path" ] && [ -n "$run_path" ] || fail "GetJob gave no object paths"
hostile "Job.Pause on the completed job" "$E.InvalidState" jcall "$done_path" org.marianne.Conductor.Job.Pause
hostile "Job.Delete on the running job" "$E.InvalidState" jcall "$run_path" org.marianne.Conductor.Job.Delete
hostile "Job.GetSheet sheet 0" "$E.NoSuchSheet" jcall "$done_path" org.marianne.Conductor.Job.GetSheet 0
hostile "Job.Pause on a job path that names no job" "$D.UnknownObject" \
        jcall /org/marianne/Conductor/job/nope org.marianne.Conductor.Job.Pause
hostile "Job.Pause below a job path" "$D.UnknownObject" jcall "$done_path/x" org.marianne.Conductor.Job.Pause
hostile "setting the State property" "$D.PropertyReadOnly" \
        jcall "$done_path" org.freedesktop.DBus.Properties.Set org.marianne.Conductor.Job State "<'running'>"
hostile "setting the Pid property" "$D.PropertyReadOnly" \
        jcall /org/marianne/Conductor org.freedesktop.DBus.Properties.Set org.marianne.Conductor Pid "<uint32 1>"

echo "--- ClearJobs filters"
hostile "ClearJobs states ['running']" "$D.InvalidArgs" gcall ClearJobs "{'states': <['running']>}"
hostile "ClearJobs states ['completed', 'running']" "$D.InvalidArgs" gcall ClearJobs "{'states': <['completed', 'running']>}"
hostile "ClearJobs states ['']" "$D.InvalidArgs" gcall ClearJobs "{'states': <['']>}"
hostile "ClearJobs states as a string" "$D.InvalidArgs" gcall ClearJobs "{'states': <'completed'>}"
hostile "ClearJobs older_than_seconds as int32" "$D.InvalidArgs" gcall ClearJobs "{'older_than_seconds': <-1>}"
hostile "ClearJobs older_than_seconds 2^64-1" "$D.InvalidArgs" \
        gcall ClearJobs "{'older_than_seconds': <uint64 18446744073709551615>}"
hostile "ClearJobs unknown filter" "$D.InvalidArgs" gcall ClearJobs "{'bogus': <1>}"

echo "--- hostile score paths and files"
S=$TEST_DIR/hostile
mkdir -p "$S"
printf 'name: [unclosed\n' > "$S/invalid.yaml"
for f in x.txt noext x.yaml.bak x.YAML; do cp "$S/invalid.yaml" "$S/$f"; done
mkdir "$S/dir.yaml" "$S/dir.yml"
mkfifo "$S/fifo.yaml"
ln -s /dev/zero "$S/zero.yaml"
ln -s "$S/dir.yaml" "$S/dirlink.yaml"
ln -s "$S/fifo.yaml" "$S/fifolink.yaml"
ln -s loop-b.yaml "$S/loop-a.yaml"
ln -s loop-a.yaml "$S/loop-b.yaml"
ln -s "$S/nothing-there" "$S/dangling.yaml"
ln -s /proc/self/mem "$S/mem.yaml"
ln -s /proc/self/pagemap "$S/pagemap.yaml"
ln -s /proc/self/status "$S/status.yaml"
hostile "StartJob ''" "$E.InvalidConfig" gcall StartJob "''" '{}'
hostile "StartJob relative path" "$E.InvalidConfig" gcall StartJob "'hostile/invalid.yaml'" '{}'
hostile "StartJob path with '..'" "$E.InvalidConfig" gcall StartJob "'$S/../hostile/invalid.yaml'" '{}'
hostile "StartJob path ending in '/..'" "$E.InvalidConfig" gcall StartJob "'$S/..'" '{}'
hostile "StartJob .txt" "$E.InvalidConfig" gcall StartJob "'$S/x.txt'" '{}'
hostile "StartJob without suffix" "$E.InvalidConfig" gcall StartJob "'$S/noext'" '{}'
hostile "StartJob .yaml.bak" "$E.InvalidConfig" gcall StartJob "'$S/x.yaml.bak'" '{}'
hostile "StartJob .YAML" "$E.InvalidConfig" gcall StartJob "'$S/x.YAML'" '{}'
hostile "StartJob path with a trailing slash" "$E.InvalidConfig" gcall StartJob "'$S/dir.yaml/'" '{}'
hostile "StartJob missing file" "$E.InvalidConfig" gcall StartJob "'$S/missing.yaml'" '{}'
hostile "StartJob through a file" "$E.InvalidConfig" gcall StartJob "'/dev/null/x.yaml'" '{}'
hostile "StartJob directory x.yaml" "$E.InvalidConfig" gcall StartJob "'$S/dir.yaml'" '{}'
hostile "StartJob directory x.yml" "$E.InvalidConfig" gcall StartJob "'$S/dir.yml'" '{}'
hostile "StartJob symlink to a directory" "$E.InvalidConfig" gcall StartJob "'$S/dirlink.yaml'" '{}'
hostile "StartJob FIFO x.yaml" "$E.InvalidConfig" timeout 10 gdbus call --address "$MARIANNE_BUS_ADDRESS" \
        --dest org.marianne.Conductor --object-path /org/marianne/Conductor \
        --method org.marianne.Conductor.StartJob "'$S/fifo.yaml'" '{}'
hostile "PlanJob FIFO x.yaml" "$E.InvalidConfig" timeout 10 gdbus call --address "$MARIANNE_BUS_ADDRESS" \
        --dest org.marianne.Conductor --object-path /org/marianne/Conductor \
        --method org.marianne.Conductor.PlanJob "'$S/fifo.yaml'" '{}'
hostile "StartJob symlink to a FIFO" "$E.InvalidConfig" timeout 10 gdbus call --address "$MARIANNE_BUS_ADDRESS" \
        --dest org.marianne.Conductor --object-path /org/marianne/Conductor \
        --method org.marianne.Conductor.StartJob "'$S/fifolink.yaml'" '{}'
hostile "StartJob /dev/zero as zero.yaml" "$E.InvalidConfig" timeout 10 gdbus call --address "$MARIANNE_BUS_ADDRESS" \
        --dest org.marianne.Conductor --object-path /org/marianne/Conductor \
        --method org.marianne.Conductor.StartJob "'$S/zero.yaml'" '{}'
if [ -r /etc/shadow ]; then
        ln -s /etc/shadow "$S/shadow.yaml"
        hostile "StartJob symlink to /etc/shadow" "$E.InvalidConfig" gcall StartJob "'$S/shadow.yaml'" '{}'
else
        echo "ok: StartJob symlink to /etc/shadow (skipped: no readable /etc/shadow)"
fi
hostile "StartJob symlink loop" "$E.InvalidConfig" gcall StartJob "'$S/loop-a.yaml'" '{}'
hostile "StartJob dangling symlink" "$E.InvalidConfig" gcall StartJob "'$S/dangling.yaml'" '{}'
hostile "StartJob /proc/self/mem" "$E.InvalidConfig" gcall StartJob "'$S/mem.yaml'" '{}'
hostile "StartJob /proc/self/pagemap" "$E.InvalidConfig|$E.LimitExceeded" gcall StartJob "'$S/pagemap.yaml'" '{}'
hostile "StartJob /proc/self/status" "$E.InvalidConfig" gcall StartJob "'$S/status.yaml'" '{}'
long_path="/$(head -c 5000 /dev/zero | tr '\0' a).yaml"
hostile "StartJob path longer than PATH_MAX" "$E.LimitExceeded" gcall StartJob "'$long_path'" '{}'
hostile "PlanJob path longer than PATH_MAX" "$E.LimitExceeded" gcall PlanJob "'$long_path'" '{}'

# A symlink flipped between an invalid score and a FIFO while the daemon
# stats and opens it: every call must fail, none may hang.
ln -s invalid.yaml "$S/flip.yaml"
( while :; do ln -sfn fifo.yaml "$S/flip.yaml"; ln -sfn invalid.yaml "$S/flip.yaml"; done ) &
flipper=$!
for i in $(seq 20); do
        out=$(timeout 10 gdbus call --address "$MARIANNE_BUS_ADDRESS" --dest org.marianne.Conductor \
                --object-path /org/marianne/Conductor --method org.marianne.Conductor.StartJob "'$S/flip.yaml'" '{}' 2>&1) \
                && { kill "$flipper"; fail "symlink flipped to a FIFO: call $i succeeded"; }
        [ "$(error_name <<<"$out")" = "$E.InvalidConfig" ] || { kill "$flipper"; fail "symlink flipped to a FIFO: call $i: $out"; }
done
kill "$flipper"
wait "$flipper" 2>/dev/null || true
check_daemon "symlink flipped to a FIFO"
echo "ok: symlink flipped between a score and a FIFO (20 calls)"

echo "--- hostile score content"
never=$TEST_DIR/ws-never-created
H="name: hostile
workspace: $never
pause_between_sheets_seconds: 0
prompt: {template: \"true\"}
"
python3 - "$S" "$H" "$never" <<'PY'
import sys
d, H, never = sys.argv[1], sys.argv[2], sys.argv[3]
def w(name, text):
    open(f"{d}/{name}.yaml", "w").write(text)
# billion laughs: 10 aliases of 10 aliases of ... nine levels deep
laughs = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
for i in range(1, 10):
    laughs.append(f"l{i}: &l{i} [" + ",".join([f"*l{i-1}"] * 10) + "]")
w("laughs", H.replace('prompt: {template: "true"}\n', "") + 'prompt:\n  template: "true"\n  variables:\n'
  + "".join("    " + l + "\n" for l in laughs) + "sheet: {size: 1, total_items: 1}\n")
w("deep", H + "sheet: {size: 1, total_items: 1}\nx: " + "[" * 10000 + "]" * 10000 + "\n")
w("deep-open", H + "sheet: {size: 1, total_items: 1}\nx: " + "[" * 10000 + "\n")
w("deep-maps", H + "sheet: {size: 1, total_items: 1}\nx: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n")
w("duplicate", H + "sheet: {size: 1, total_items: 1}\nsheet: {size: 1, total_items: 2}\n")
w("duplicate-nested", H + "sheet: {size: 1, total_items: 1, size: 2}\n")
w("cycle", H + "sheet: {size: 1, total_items: 3, dependencies: {1: [3], 2: [1], 3: [2]}}\n")
w("self", H + "sheet: {size: 1, total_items: 3, dependencies: {2: [2]}}\n")
w("unknown-stage", H + "sheet: {size: 1, total_items: 3, dependencies: {2: [7]}}\n")
w("unknown-stage-key", H + "sheet: {size: 1, total_items: 3, dependencies: {9: [1]}}\n")
w("stage-zero", H + "sheet: {size: 1, total_items: 3, dependencies: {2: [0]}}\n")
w("sheets-10001", H + "sheet: {size: 1, total_items: 10001}\n")
w("sheets-2^32-1", H + "sheet: {size: 1, total_items: 4294967295}\n")
w("sheets-overflow", H + "sheet: {size: 1, total_items: 99999999999999999999}\n")
w("fan-10001", H + "sheet: {size: 1, total_items: 2, fan_out: {1: 10000}}\n")
w("all-to-all", H + "sheet: {size: 1, total_items: 2, fan_out: {1: 2000, 2: 8000}, dependencies: {2: [1]}}\n")
w("size-zero", H + "sheet: {size: 0, total_items: 1}\n")
w("unknown-key", H + "sheet: {size: 1, total_items: 1}\nnmae: typo\n")
w("not-rendering", H.replace('"true"', '"{{ nope }}"') + "sheet: {size: 1, total_items: 1}\n")
w("template-fifo", H.replace('template: "true"', f'template_file: "{d}/fifo.yaml"') + "sheet: {size: 1, total_items: 1}\n")
w("template-zero", H.replace('template: "true"', 'template_file: "/dev/zero"') + "sheet: {size: 1, total_items: 1}\n")
w("bad-workspace", H.replace(never, "/dev/null/ws") + "sheet: {size: 1, total_items: 1}\n")
w("list", "- 1\n- 2\n")
w("empty", "")
w("alias-self", "a: &a [*a]\n")
w("limit-exact", H + "sheet: {size: 1, total_items: 1}\n")
# exactly 1 MiB (accepted by the limit) and 1 MiB + 1 (refused)
base = open(f"{d}/limit-exact.yaml").read()
w("over-limit", base + "#" * (1024 * 1024 + 1 - len(base) - 1) + "\n")
# a 2 MiB body for StartJobFromContent
open(f"{d}/2mib.txt", "w").write(base + "#" * (2 * 1024 * 1024) + "\n")
PY
[ "$(stat -c %s "$S/over-limit.yaml")" = $((1024 * 1024 + 1)) ] || fail "over-limit.yaml has the wrong size"
for c in "invalid InvalidConfig" "laughs LimitExceeded" "deep LimitExceeded" "deep-open LimitExceeded" \
         "deep-maps LimitExceeded" "duplicate InvalidConfig" "duplicate-nested InvalidConfig" "cycle InvalidConfig" \
         "self InvalidConfig" "unknown-stage InvalidConfig" "unknown-stage-key InvalidConfig" \
         "stage-zero InvalidConfig" "sheets-10001 LimitExceeded" "sheets-2^32-1 LimitExceeded" \
         "sheets-overflow InvalidConfig" "fan-10001 LimitExceeded" "all-to-all LimitExceeded" \
         "size-zero InvalidConfig" "unknown-key InvalidConfig" "not-rendering InvalidConfig" \
         "template-fifo InvalidConfig" "template-zero InvalidConfig" "bad-workspace InvalidConfig" \
         "list InvalidConfig" "empty InvalidConfig" "alias-self InvalidConfig" "over-limit LimitExceeded"; do
        set -- $c
        hostile "StartJob $1.yaml" "$E.$2" gcall StartJob "'$S/$1.yaml'" '{}'
done
for c in "laughs LimitExceeded" "deep LimitExceeded" "cycle InvalidConfig" "sheets-10001 LimitExceeded" \
         "over-limit LimitExceeded"; do
        set -- $c
        hostile "PlanJob $1.yaml" "$E.$2" gcall PlanJob "'$S/$1.yaml'" '{}'
done
hostile "StartJobFromContent ''" "$E.InvalidConfig" gcall StartJobFromContent "''" '{}'
hostile "StartJobFromContent invalid YAML" "$E.InvalidConfig" gcall StartJobFromContent "'name: [unclosed'" '{}'
hostile "StartJobFromContent a scalar" "$E.InvalidConfig" gcall StartJobFromContent "'42'" '{}'
hostile "StartJobFromContent YAML tags" "$E.InvalidConfig" gcall StartJobFromContent "'!!python/object:os.system x'" '{}'
hostile "StartJobFromContent 2 MiB (raw)" "$E.LimitExceeded" rawcall StartJobFromContent "$S/2mib.txt"
hostile "PlanJobFromContent 2 MiB (raw)" "$E.LimitExceeded" rawcall PlanJobFromContent "$S/2mib.txt"
printf 'name: x\n\xff\xfe: 1\n' > "$S/bad-utf8.txt"
out=$(timeout 15 python3 "$RAWCALL" "$MARIANNE_BUS_ADDRESS" StartJobFromContent "$S/bad-utf8.txt" 2>&1) \
        && fail "StartJobFromContent with invalid UTF-8: succeeded"
[[ "$out" == disconnected || "$out" == "error $D.InvalidArgs" ]] || fail "StartJobFromContent with invalid UTF-8: $out"
check_daemon "StartJobFromContent with invalid UTF-8"
echo "ok: StartJobFromContent with invalid UTF-8 (refused by the bus: $out)"

echo "--- start options"
ok_score=$(write_score okscore <<YAML
name: okscore
workspace: $TEST_DIR/ws-okscore
pause_between_sheets_seconds: 0
sheet: {size: 1, total_items: 2}
prompt: {template: 'true'}
YAML
)
for c in "start_sheet 0|<uint32 0>|$D.InvalidArgs" \
         "start_sheet beyond the end|<uint32 3>|$E.InvalidConfig" \
         "start_sheet 2^32-1|<uint32 4294967295>|$E.InvalidConfig" \
         "start_sheet as a string|<'1'>|$D.InvalidArgs" \
         "start_sheet as int32|<int32 1>|$D.InvalidArgs" \
         "start_sheet as a nested variant|<<uint32 1>>|$D.InvalidArgs" \
         "workspace relative|<'rel/ws'>|$D.InvalidArgs" \
         "workspace empty|<''>|$D.InvalidArgs" \
         "workspace with '..'|<'$TEST_DIR/../ws'>|$E.InvalidConfig" \
         "workspace ending in '/..'|<'$TEST_DIR/ws/..'>|$E.InvalidConfig" \
         "workspace as uint32|<uint32 1>|$D.InvalidArgs" \
         "workspace as a string array|<['/tmp']>|$D.InvalidArgs" \
         "workspace over 64 KiB|<'/$(head -c 70000 /dev/zero | tr '\0' a)'>|$D.InvalidArgs|$E.LimitExceeded" \
         "self_healing as a string|<'yes'>|$D.InvalidArgs" \
         "unknown option bogus|<1>|$D.InvalidArgs" \
         "unknown option dry_run|<true>|$D.InvalidArgs" \
         "base_dir on StartJob|<'/tmp'>|$D.InvalidArgs" \
         "empty option key|<1>|$D.InvalidArgs"; do
        IFS='|' read -r what value want <<<"$c"
        want=${c#"$what|$value|"}
        case $what in
        start_sheet*) key=start_sheet ;;
        workspace*) key=workspace ;;
        self_healing*) key=self_healing ;;
        "unknown option bogus") key=bogus ;;
        "unknown option dry_run") key=dry_run ;;
        base_dir*) key=base_dir ;;
        "empty option key") key= ;;
        esac
        hostile "StartJob option $what" "$want" gcall StartJob "'$ok_score'" "{'$key': $value}"
done
hostile "PlanJob option start_sheet beyond the end" "$E.InvalidConfig" gcall PlanJob "'$ok_score'" "{'start_sheet': <uint32 3>}"
content="name: okcontent\nworkspace: ws\nsheet: {size: 1, total_items: 1}\nprompt: {template: 'true'}\n"
hostile "StartJobFromContent base_dir relative" "$D.InvalidArgs" gcall StartJobFromContent "\"$content\"" "{'base_dir': <'rel'>}"
hostile "StartJobFromContent base_dir with '..'" "$E.InvalidConfig" gcall StartJobFromContent "\"$content\"" "{'base_dir': <'$TEST_DIR/..'>}"
hostile "StartJobFromContent base_dir as uint32" "$D.InvalidArgs" gcall StartJobFromContent "\"$content\"" "{'base_dir': <uint32 7>}"

echo "--- an ambiguous name"
extra=$(ctl start "$done_score" --quiet)
wait_state "$extra" completed
hostile "DeleteJob by an ambiguous name" "$E.AmbiguousJob" gcall DeleteJob "'refdone'"
hostile "PauseJob by an ambiguous name" "$E.AmbiguousJob" gcall PauseJob "'refdone'"
hostile "GetJobStatus by an ambiguous name" "$E.AmbiguousJob" gcall GetJobStatus "'refdone'"
ctl delete "$extra" >/dev/null || fail "cannot delete $extra"
check_daemon "deleting the extra job"

echo "--- hostile mariannectl invocations"
# ctl_hostile CASE EXIT MESSAGE COMMAND...: mariannectl exits EXIT and says MESSAGE
ctl_hostile() {
        local case=$1 want=$2 msg=$3 out rc=0
        shift 3
        out=$(timeout 15 bash -c '"$@"' ctl_hostile "$@" 2>&1) || rc=$?
        [ "$rc" = "$want" ] || fail "$case: exit $rc, expected $want: ${out:0:400}"
        grep -q -- "$msg" <<<"$out" || fail "$case: the message does not say '$msg': ${out:0:400}"
        check_daemon "$case"
        echo "ok: $case"
}
huge=$(head -c 100000 /dev/zero | tr '\0' a)
ctl_hostile "mariannectl status with a 100 KB argument" 1 "longer than 256 bytes" ctl status "$huge"
ctl_hostile "mariannectl cancel with a 100 KB argument" 1 "longer than 256 bytes" ctl cancel "$huge"
ctl_hostile "mariannectl start with a 100 KB path" 1 "File name too long" ctl start "/$huge.yaml"
ctl_hostile "mariannectl start --dry-run of a FIFO" 1 "not a regular file" timeout 10 "$MARIANNECTL" start --dry-run "$S/fifo.yaml"
ctl_hostile "mariannectl start - with NUL bytes" 1 "NUL byte" \
        bash -c 'printf "name: x\0\x01\x02binary\nsheet: {size: 1, total_items: 1}\n" | "$0" start -' "$MARIANNECTL"
ctl_hostile "mariannectl start - with 2 MiB of binary" 1 "larger than" \
        bash -c 'head -c 2097152 /dev/urandom | "$0" start -' "$MARIANNECTL"
ctl_hostile "mariannectl start - with invalid UTF-8" 1 "not valid UTF-8" \
        bash -c 'printf "name: \xff\xfe\n" | "$0" start -' "$MARIANNECTL"
ctl_hostile "mariannectl start --dry-run - with NUL bytes" 1 "NUL byte" \
        bash -c 'printf "\0\0\0" | "$0" start --dry-run -' "$MARIANNECTL"
ctl_hostile "mariannectl status with invalid UTF-8" 2 "not valid UTF-8" ctl status $'\xff'
ctl_hostile "mariannectl sheet 2^64" 2 "Invalid sheet number" ctl sheet "$REF_DONE" 18446744073709551616
ctl_hostile "mariannectl sheet 0" 2 "Invalid sheet number" ctl sheet "$REF_DONE" 0
ctl_hostile "mariannectl pause the completed job" 1 "only queued or running" ctl pause "$REF_DONE"
ctl_hostile "mariannectl start a FIFO" 1 "not a regular file" ctl start "$S/fifo.yaml"
ctl_hostile "mariannectl start --workspace with '..'" 1 "without '..'" ctl start "$ok_score" --workspace "$TEST_DIR/../x"

echo "--- a 10 000-sheet score is accepted, and the daemon stays responsive"
python3 - "$S/sheets-10000.yaml" "$TEST_DIR/ws-10000" <<'PY'
import sys
open(sys.argv[1], "w").write(f"name: tenk\nworkspace: {sys.argv[2]}\npause_between_sheets_seconds: 0\n"
                             "sheet: {size: 1, total_items: 10000}\nprompt: {template: 'true'}\n")
PY
t0=$(date +%s%N)
out=$(timeout 30 gdbus call --address "$MARIANNE_BUS_ADDRESS" --dest org.marianne.Conductor \
        --object-path /org/marianne/Conductor --method org.marianne.Conductor.StartJob "'$S/sheets-10000.yaml'" '{}') \
        || fail "the 10 000-sheet score was refused: $out"
t1=$(date +%s%N)
mcall GetConductorStatus >/dev/null || fail "no GetConductorStatus right after the 10 000-sheet start"
t2=$(date +%s%N)
tenk=$(sed -n "s/^('\([^']*\)'.*/\1/p" <<<"$out")
[ -n "$tenk" ] || fail "no job id from StartJob: $out"
[ "$(gcall GetJobStatus "'$tenk'" | grep -o "'total_sheets': <uint32 [0-9]*>")" = "'total_sheets': <uint32 10000>" ] \
        || fail "the 10 000-sheet job does not have 10 000 sheets"
ctl cancel "$tenk" >/dev/null || fail "cannot cancel the 10 000-sheet job"
t3=$(date +%s%N)
ctl delete "$tenk" >/dev/null || fail "cannot delete the 10 000-sheet job"
t4=$(date +%s%N)
check_daemon "10 000-sheet score"
echo "ok: 10 000-sheet score accepted: StartJob $(( (t1 - t0) / 1000000 )) ms," \
     "GetConductorStatus right after $(( (t2 - t1) / 1000000 )) ms," \
     "cancel $(( (t3 - t2) / 1000000 )) ms, delete $(( (t4 - t3) / 1000000 )) ms"

echo "--- a plan larger than the bus's message limit"
# 10 000 sheets with a 4 KiB prompt each: a plan of about 40 MiB, more than
# dbus-daemon's default 32 MiB message limit.  The daemon must answer (a
# plan, or LimitExceeded) and stay on the bus.
python3 - "$S/wide-plan.yaml" "$never" <<'PY'
import sys
open(sys.argv[1], "w").write(f"name: wideplan\nworkspace: {sys.argv[2]}\n"
                             "sheet: {size: 1, total_items: 10000}\nprompt:\n  template: 'echo "
                             + "x" * 4096 + "'\n")
PY
rc=0
out=$(timeout 30 gdbus call --address "$MARIANNE_BUS_ADDRESS" --dest org.marianne.Conductor \
        --object-path /org/marianne/Conductor --method org.marianne.Conductor.PlanJob "'$S/wide-plan.yaml'" '{}' 2>&1) || rc=$?
if [ "$rc" != 0 ]; then
        [ "$(error_name <<<"$out")" = "$E.LimitExceeded" ] || fail "PlanJob of a 40 MiB plan: ${out:0:400}"
fi
check_daemon "PlanJob of a 40 MiB plan"
echo "ok: PlanJob of a 40 MiB plan"

echo ok
