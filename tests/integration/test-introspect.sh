#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# dbus/org.marianne.Conductor.xml is the documented interface: hold it
# against what the running daemon exports, for the conductor object and a
# job object, through both busctl and gdbus.
. "$(dirname "$0")/lib.sh"

start_bus
start_daemon

score=$(write_score one <<'YAML'
name: one
workspace: ws
sheet: {size: 1, total_items: 1}
prompt: {template: 'true'}
YAML
)
read -r _ job_path < <(mcall StartJob 'sa{sv}' "$score" 0 | sed 's/^so "\([^"]*\)" "\([^"]*\)"$/\1 \2/')
[ -n "$job_path" ] || fail "StartJob returned no object path"

bctl introspect --xml-interface org.marianne.Conductor /org/marianne/Conductor > "$TEST_DIR/conductor.xml"
bctl introspect --xml-interface org.marianne.Conductor "$job_path" > "$TEST_DIR/job.xml"
gdbus introspect --address "$MARIANNE_BUS_ADDRESS" --dest org.marianne.Conductor \
        --object-path /org/marianne/Conductor --xml > "$TEST_DIR/conductor-gdbus.xml"

python3 - "$SOURCE_DIR/dbus/org.marianne.Conductor.xml" "$TEST_DIR/conductor.xml" "$TEST_DIR/job.xml" \
        "$TEST_DIR/conductor-gdbus.xml" <<'PY'
import sys
import xml.etree.ElementTree as ET

def interfaces(path):
    out = {}
    for iface in ET.parse(path).getroot().iter("interface"):
        name = iface.get("name")
        if not name.startswith("org.marianne."):
            continue
        members = set()
        for m in iface:
            if m.tag == "method":
                args = tuple((a.get("direction", "in"), a.get("type"), a.get("name")) for a in m.findall("arg"))
                members.add(("method", m.get("name"), args))
            elif m.tag == "signal":
                args = tuple((a.get("type"), a.get("name")) for a in m.findall("arg"))
                members.add(("signal", m.get("name"), args))
            elif m.tag == "property":
                members.add(("property", m.get("name"), m.get("type"), m.get("access")))
        out[name] = members
    return out

documented = interfaces(sys.argv[1])
exported = {}
for p in sys.argv[2:4]:
    exported.update(interfaces(p))
bad = False
for name in sorted(set(documented) | set(exported)):
    d, e = documented.get(name, set()), exported.get(name, set())
    for m in sorted(d - e, key=str):
        print(f"documented but not exported: {name} {m}"); bad = True
    for m in sorted(e - d, key=str):
        print(f"exported but not documented: {name} {m}"); bad = True
gd = interfaces(sys.argv[4])
if gd.get("org.marianne.Conductor") != documented["org.marianne.Conductor"]:
    print("gdbus sees a different org.marianne.Conductor"); bad = True
if bad:
    sys.exit(1)
print("ok:", ", ".join(f"{n} ({len(m)} members)" for n, m in sorted(documented.items())))
PY

# the ObjectManager at the root lists the job object
bctl call org.marianne.Conductor /org/marianne/Conductor org.freedesktop.DBus.ObjectManager GetManagedObjects \
        | grep -q "$job_path" || fail "GetManagedObjects does not list $job_path"
bctl tree org.marianne.Conductor | grep -q "${job_path##*/}" || fail "busctl tree does not show the job object"

# every shipped XML file is well-formed (dbus-daemon silently skips a
# policy file it cannot parse, which then denies everything)
python3 - "$SOURCE_DIR" <<'PY' || fail "a shipped XML file is not well-formed"
import glob, sys, xml.dom.minidom
for f in glob.glob(sys.argv[1] + "/dbus/*.xml") + glob.glob(sys.argv[1] + "/dbus/*.conf") + glob.glob(sys.argv[1] + "/polkit/*.policy"):
    xml.dom.minidom.parse(f)
PY
