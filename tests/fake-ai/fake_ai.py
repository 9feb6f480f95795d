# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fake AI command-line tools for Marianne's tests: `claude`, `gemini` and
`codex` (the scripts next to this file) accept the flags Marianne's
built-in profiles pass, read the prompt the way the real tools do, run
every prompt line of the form

    RUN: <shell command>

with bash in the current directory (so a prompt can create the files a
validation checks), answer with the lines of the form

    SAY: <text>

(or "Done: ran N commands.") and print it in the real tool's format:

    claude  --output-format json: {"type":"result","result":..,"usage":{"input_tokens":N,"output_tokens":M}}
            otherwise the answer as text
    gemini  -o json: {"response":..,"stats":{"models":{MODEL:{"tokens":{"prompt":N,"candidates":M}},
            "gemini-2.5-flash-lite":{"tokens":{"prompt":100,"candidates":5}}}}}
            (the router model always adds 100 and 5)
    codex   exec --json: JSONL events thread.started, turn.started, command_execution items,
            a reasoning item, the agent_message item, turn.completed with usage

Tokens: input = bytes of the prompt, output = bytes of the answer, unless
FAKE_AI_INPUT_TOKENS / FAKE_AI_OUTPUT_TOKENS say otherwise.

State directory: $FAKE_AI_STATE, else .fake-ai in the working directory
(the sheet's workspace: a conductor passes no such variable), created when
missing.  In it:

    count             invocations so far (all three tools share it)
    script            behaviour of invocation N on line N; past its end
                      $FAKE_AI_BEHAVIOR, else "ok"
    invocations.jsonl one JSON object per invocation: cli, n, argv,
                      prompt_via (flag, stdin or positional), prompt, cwd,
                      env (the names of the environment received),
                      behavior

Behaviours (a script line, or $FAKE_AI_BEHAVIOR), an optional text after
the word replacing the tool's default message:

    ok                 run the prompt, answer, exit 0
    rate-limit [MSG]   the tool's rate-limit notice, exit 1
    rate-limit-exit0 [MSG]  the same with exit code 0 (claude does that)
    auth [MSG]         an authentication failure, exit 1
    capacity [MSG]     a 503 / overloaded error, exit 1
    fail [MSG]         a plain error on stderr, exit 2
    crash              some output, then killed by SIGSEGV
    garbage            exit 0 with output that is not the expected format
    exit N             run the prompt and answer, but exit with N
    sleep N            sleep N seconds, then as ok
    hang               sleep until killed
"""

import fcntl
import json
import os
import signal
import subprocess
import sys
import time

ROUTER_MODEL = "gemini-2.5-flash-lite"

DEFAULT_MESSAGES = {
    "claude": {
        "rate-limit": ("stdout", "You've hit your limit \u00b7 resets 3pm (UTC)"),
        "auth": ("stdout", "Invalid API key \u00b7 Please run /login"),
        "capacity": ("stdout", "API Error: 503 Service Unavailable"),
    },
    "gemini": {
        "rate-limit": ("stderr", "Error: [429 Too Many Requests] RESOURCE_EXHAUSTED: quota exceeded. "
                                 "Please retry in 20s."),
        "auth": ("stderr", "Error: not authenticated. Set GEMINI_API_KEY or run gemini to log in."),
        "capacity": ("stderr", "Error: 503 UNAVAILABLE: the service is temporarily unable to serve the request."),
    },
    "codex": {
        "rate-limit": ("stderr", "ERROR: stream error: rate limit exceeded, last status: 429 Too Many Requests; "
                                 "try again in 20s"),
        "auth": ("stderr", "ERROR: not authenticated: 401 Unauthorized (Invalid API key)"),
        "capacity": ("stderr", "ERROR: stream error: last status: 503 Service Unavailable"),
    },
}


class Usage(Exception):
    pass


def parse_claude(args):
    value_flags = {"--model", "--output-format", "--system-prompt", "--append-system-prompt",
                   "--allowedTools", "--allowed-tools", "--disallowedTools", "--mcp-config",
                   "--max-turns", "--permission-mode", "--input-format"}
    bool_flags = {"--dangerously-skip-permissions", "--strict-mcp-config", "--verbose", "--continue"}
    opts, positional, prompt_flag = {}, [], None
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-p", "--print"):
            # Marianne's profile passes "-p -" (stdin) or "-p PROMPT"
            if i + 1 < len(args) and (args[i + 1] == "-" or not args[i + 1].startswith("-")):
                prompt_flag = args[i + 1]
                i += 1
            else:
                prompt_flag = ""
        elif a in value_flags:
            if i + 1 >= len(args):
                raise Usage("option %s needs a value" % a)
            opts[a] = args[i + 1]
            i += 1
        elif a in bool_flags:
            opts[a] = True
        elif a == "--":
            positional.extend(args[i + 1:])
            break
        elif a.startswith("-") and a != "-":
            raise Usage("unknown option %s" % a)
        else:
            positional.append(a)
        i += 1
    if prompt_flag not in (None, "", "-"):
        return opts, "flag", prompt_flag
    if positional and positional[-1] != "-":
        return opts, "positional", positional[-1]
    return opts, "stdin", None


def parse_gemini(args):
    value_flags = {"-m": "--model", "--model": "--model", "-o": "--output-format",
                   "--output-format": "--output-format", "-p": "--prompt", "--prompt": "--prompt",
                   "--approval-mode": "--approval-mode"}
    bool_flags = {"-y": "--yolo", "--yolo": "--yolo", "-d": "--debug", "--debug": "--debug"}
    opts, positional = {}, []
    i = 0
    while i < len(args):
        a = args[i]
        if a in value_flags:
            if i + 1 >= len(args):
                raise Usage("option %s needs a value" % a)
            opts[value_flags[a]] = args[i + 1]
            i += 1
        elif a in bool_flags:
            opts[bool_flags[a]] = True
        elif a in ("-s", "--sandbox"):
            # a boolean that also takes an explicit true/false
            if i + 1 < len(args) and args[i + 1] in ("true", "false"):
                opts["--sandbox"] = args[i + 1] == "true"
                i += 1
            else:
                opts["--sandbox"] = True
        elif a.startswith("-"):
            raise Usage("unknown option %s" % a)
        else:
            positional.append(a)
        i += 1
    if "--prompt" in opts:
        return opts, "flag", opts["--prompt"]
    if positional:
        return opts, "positional", " ".join(positional)
    return opts, "stdin", None


def parse_codex(args):
    if not args or args[0] != "exec":
        raise Usage("only 'codex exec' is supported by this fake")
    args = args[1:]
    value_flags = {"-m": "--model", "--model": "--model", "-c": "--config", "--config": "--config",
                   "-s": "--sandbox", "--sandbox": "--sandbox", "-C": "--cd", "--cd": "--cd",
                   "--output-last-message": "--output-last-message"}
    bool_flags = {"--full-auto", "--json", "--skip-git-repo-check",
                  "--dangerously-bypass-approvals-and-sandbox"}
    opts, positional = {}, []
    i = 0
    while i < len(args):
        a = args[i]
        if a in value_flags:
            if i + 1 >= len(args):
                raise Usage("option %s needs a value" % a)
            opts[value_flags[a]] = args[i + 1]
            i += 1
        elif a in bool_flags:
            opts[a] = True
        elif a == "--":
            positional.extend(args[i + 1:])
            break
        elif a.startswith("-") and a != "-":
            raise Usage("unknown option %s" % a)
        else:
            positional.append(a)
        i += 1
    if len(positional) > 1:
        raise Usage("more than one prompt argument: %r" % positional)
    if positional and positional[0] != "-":
        return opts, "positional", positional[0]
    return opts, "stdin", None


PARSERS = {"claude": parse_claude, "gemini": parse_gemini, "codex": parse_codex}


def state_dir():
    d = os.environ.get("FAKE_AI_STATE") or ".fake-ai"
    os.makedirs(d, exist_ok=True)
    return os.path.abspath(d)


def next_invocation(state):
    """The invocation number and its behaviour line."""
    with open(os.path.join(state, "lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = os.path.join(state, "count")
        try:
            with open(path) as f:
                n = int(f.read().strip() or "0")
        except FileNotFoundError:
            n = 0
        n += 1
        with open(path + ".tmp", "w") as f:
            f.write("%d\n" % n)
        os.replace(path + ".tmp", path)
    behavior = None
    try:
        with open(os.path.join(state, "script")) as f:
            lines = [line.strip() for line in f.read().splitlines()]
        if n <= len(lines) and lines[n - 1]:
            behavior = lines[n - 1]
    except FileNotFoundError:
        pass
    return n, behavior or os.environ.get("FAKE_AI_BEHAVIOR") or "ok"


def environment_names():
    # /proc/self/environ is the environment as executed, before Python's
    # own locale coercion may have added LC_CTYPE.
    try:
        with open("/proc/self/environ", "rb") as f:
            entries = f.read().split(b"\0")
        return sorted({e.split(b"=", 1)[0].decode("utf-8", "replace") for e in entries if b"=" in e})
    except OSError:
        return sorted(os.environ)


def record(state, entry):
    with open(os.path.join(state, "lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with open(os.path.join(state, "invocations.jsonl"), "a") as f:
            f.write(json.dumps(entry) + "\n")


def run_prompt(prompt):
    """Run the RUN: lines; the answer from the SAY: lines; the commands run."""
    said, commands = [], []
    for line in prompt.splitlines():
        s = line.strip()
        if s.startswith("RUN:"):
            cmd = s[4:].strip()
            p = subprocess.run(["bash", "-c", cmd], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            out = p.stdout.decode("utf-8", "replace")
            sys.stderr.write(out)
            commands.append((cmd, out, p.returncode))
        elif s.startswith("SAY:"):
            said.append(s[4:].strip())
    answer = "\n".join(said) if said else "Done: ran %d command%s." % (len(commands), "" if len(commands) == 1 else "s")
    return answer, commands


def tokens(prompt, answer):
    i = int(os.environ.get("FAKE_AI_INPUT_TOKENS") or len(prompt.encode("utf-8")))
    o = int(os.environ.get("FAKE_AI_OUTPUT_TOKENS") or len(answer.encode("utf-8")))
    return i, o


def print_answer(cli, opts, prompt, answer, commands):
    n_in, n_out = tokens(prompt, answer)
    if cli == "claude":
        if opts.get("--output-format", "text") in ("json",):
            print(json.dumps({"type": "result", "subtype": "success", "is_error": False,
                              "duration_ms": 1, "num_turns": 1, "result": answer,
                              "session_id": "fake-session", "total_cost_usd": 0.0,
                              "usage": {"input_tokens": n_in, "cache_creation_input_tokens": 0,
                                        "cache_read_input_tokens": 0, "output_tokens": n_out}}))
        else:
            print(answer)
    elif cli == "gemini":
        if opts.get("--output-format", "text") == "json":
            model = opts.get("--model", "gemini-2.5-pro")
            print(json.dumps({"response": answer,
                              "stats": {"models": {
                                  ROUTER_MODEL: {"api": {"totalRequests": 1},
                                                 "tokens": {"prompt": 100, "candidates": 5, "total": 105}},
                                  model: {"api": {"totalRequests": 1},
                                          "tokens": {"prompt": n_in, "candidates": n_out,
                                                     "total": n_in + n_out}}},
                                  "tools": {"totalCalls": len(commands)}}}, indent=2))
        else:
            print(answer)
    else:
        if opts.get("--json"):
            events = [{"type": "thread.started", "thread_id": "fake-thread"}, {"type": "turn.started"}]
            k = 0
            for cmd, out, rc in commands:
                events.append({"type": "item.started", "item": {"id": "item_%d" % k, "type": "command_execution",
                                                                 "command": cmd, "status": "in_progress"}})
                events.append({"type": "item.completed", "item": {"id": "item_%d" % k, "type": "command_execution",
                                                                   "command": cmd, "aggregated_output": out,
                                                                   "exit_code": rc, "status": "completed"}})
                k += 1
            events.append({"type": "item.completed", "item": {"id": "item_%d" % k, "type": "reasoning",
                                                               "text": "**Working on the prompt**"}})
            events.append({"type": "item.completed", "item": {"id": "item_%d" % (k + 1), "type": "agent_message",
                                                               "text": answer}})
            events.append({"type": "turn.completed", "usage": {"input_tokens": n_in, "cached_input_tokens": 0,
                                                                "output_tokens": n_out}})
            for e in events:
                print(json.dumps(e))
        else:
            print(answer)


def main(cli):
    program = sys.argv[0]
    args = sys.argv[1:]
    state = state_dir()
    n, behavior = next_invocation(state)
    word, _, message = behavior.partition(" ")
    message = message.strip()

    try:
        opts, via, prompt = PARSERS[cli](args)
    except Usage as e:
        record(state, {"cli": cli, "n": n, "argv": [program] + args, "prompt_via": None, "prompt": None,
                       "cwd": os.getcwd(), "env": environment_names(), "behavior": behavior,
                       "usage_error": str(e)})
        sys.stderr.write("%s: %s\n" % (cli, e))
        return 2
    if via == "stdin":
        prompt = sys.stdin.buffer.read().decode("utf-8", "replace")

    record(state, {"cli": cli, "n": n, "argv": [program] + args, "prompt_via": via, "prompt": prompt,
                   "cwd": os.getcwd(), "env": environment_names(), "behavior": behavior})
    sys.stdout.flush()

    if word in ("rate-limit", "rate-limit-exit0", "auth", "capacity"):
        key = "rate-limit" if word.startswith("rate-limit") else word
        stream, text = DEFAULT_MESSAGES[cli][key]
        (sys.stdout if stream == "stdout" else sys.stderr).write((message or text) + "\n")
        return 0 if word == "rate-limit-exit0" else 1
    if word == "fail":
        sys.stderr.write("%s: %s\n" % (cli, message or "fake failure"))
        return 2
    if word == "crash":
        sys.stdout.write("partial output before the crash\n")
        sys.stdout.flush()
        signal.signal(signal.SIGSEGV, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGSEGV)
        time.sleep(5)
        return 139
    if word == "garbage":
        print("this is not what %s prints" % cli)
        return 0
    if word == "hang":
        while True:
            time.sleep(3600)
    if word == "sleep":
        time.sleep(float(message or "1"))

    answer, commands = run_prompt(prompt)
    print_answer(cli, opts, prompt, answer, commands)
    if word == "exit":
        return int(message or "1")
    if word not in ("ok", "sleep"):
        sys.stderr.write("%s: unknown behaviour '%s', ran as ok\n" % (cli, word))
    return 0
