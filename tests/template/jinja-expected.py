#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Render every case of cases.yaml with Jinja2 itself, configured as the
original Marianne configures it, and write the results for
test-template-conformance.c on stdout.

Each case becomes five fields: id, template, variables (YAML text, as the
case has it), status ("ok", "error", or "skip" for a case whose "since"
names a newer Jinja2 than the one installed: the engine follows the
latest 3.1 release where releases differ) and the output (or the error).  A
field is written as "<length in bytes>:<bytes>\\n", so any byte may occur.

Exit status 77 (skip) when python3-jinja2 or python3-yaml is missing."""

import sys

try:
    import jinja2
    import yaml
except ImportError as e:
    print(f"cannot compute the expected results: {e}", file=sys.stderr)
    sys.exit(77)


def version(text):
    return tuple(int(part) for part in str(text).split(".")[:3])


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = yaml.safe_load(f)

    env = jinja2.Environment(undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, autoescape=False)
    out = sys.stdout.buffer
    seen = set()
    bad = 0

    def field(data):
        out.write(b"%d:" % len(data))
        out.write(data)
        out.write(b"\n")

    for case in cases:
        ident = case["id"]
        if ident in seen:
            print(f"duplicate case id {ident!r}", file=sys.stderr)
            bad += 1
        seen.add(ident)
        template = case["template"]
        variables_text = case.get("vars") or ""
        variables = yaml.safe_load(variables_text) or {}
        if "since" in case and version(jinja2.__version__) < version(case["since"]):
            for data in (ident.encode(), template.encode("utf-8"), variables_text.encode("utf-8"),
                         b"skip", f"needs Jinja2 {case['since']}".encode()):
                field(data)
            continue
        try:
            result = env.from_string(template).render(**variables)
            status, expected = "ok", result.encode("utf-8", "surrogateescape")
        except Exception as e:  # every Jinja failure is just "error" here
            status, expected = "error", f"{type(e).__name__}: {e}".encode()

        # a case may state what it is about; Jinja must agree
        if case.get("expect") == "error" and status != "error":
            print(f"case {ident}: expected Jinja to fail, it rendered {result!r}", file=sys.stderr)
            bad += 1
        if case.get("expect") == "ok" and status != "ok":
            print(f"case {ident}: expected Jinja to render, it failed: {expected.decode()}", file=sys.stderr)
            bad += 1

        for data in (ident.encode(), template.encode("utf-8"), variables_text.encode("utf-8"),
                     status.encode(), expected):
            field(data)

    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
