#!/usr/bin/env python3
"""Hostile input against a live root daemon, and terminal injection on every display path.

Run as root:  SYMTUI_BIN=$PWD/.build/debug/symtui python3 Tests/reliability/hostile.py [--only cli,fields,events,configs,inject]
Corpus: Tests/Fixtures/hostile/ (written by make_hostile.py). Every case runs as an unprivileged throwaway user;
for each it asserts the expected exit code and message fragment, that stderr is exactly one line starting
`symtui: `, that nothing is on stdout, and that the store did not change (event and request counts).
Injection: requests whose reasons and field values (and a flow/target label in the config) carry ESC/CSI/OSC 52/
DCS/C1/bidi/zero-width payloads are created through the events API; then `list`, `list --all`, `show` (tables)
must hold no raw ESC/C0/C1/bidi/zero-width control, `audit export --format csv` cells must be inert (no controls;
a cell starting = + - @ TAB CR is escaped), and a console in tmux (capture-pane -e) must show no sequence but SGR,
keep its pane title and leave tmux's paste buffers (OSC 52) empty.
Prints one line per failed case and `hostile: N passed, M failed`.
"""

import argparse
import csv
import io
import json
import os
import re
import shlex
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rig as R  # noqa: E402

HOSTILE = os.path.join(R.REPO, "Tests", "Fixtures", "hostile")
EVIL_LABEL = "Evil label"   # config validation refuses C0/C1 and bidi/zero-width controls in labels
PASSED, FAILED = [0], []


def record(name, problems):
    if problems:
        FAILED.append(name)
        print(f"hostile: FAIL {name}: {'; '.join(problems)}", flush=True)
    else:
        PASSED[0] += 1


def config_text(cls):
    base = R.harness.SymtuiCase.config_text.__func__(cls)
    cfg = json.loads(base[base.index("{"):])
    cfg["strategies"].append({"name": "typedcmd", "type": "command",
                              "settings": {"escalate": "/bin/true", "deescalate": "/bin/true"},
                              "targets": [{"name": "t", "label": EVIL_LABEL}]})
    cfg["flows"].append({"name": "typed", "label": EVIL_LABEL, "strategy": "typedcmd", "max_duration": "8h",
                         "approvers": {"groups": [cls.oncall]},
                         "prompt_fields": [
                             {"name": "reason", "type": "string", "required": True},
                             {"name": "duration", "type": "duration", "required": True},
                             {"name": "count", "type": "int", "required": False},
                             {"name": "flag", "type": "bool", "required": False},
                             {"name": "tags", "type": "str_list", "required": False},
                             {"name": "ports", "type": "int_list", "required": False},
                             {"name": "buddy", "type": "user", "required": False},
                             {"name": "team", "type": "user_list", "required": False},
                             {"name": "env", "type": "string", "allowed_values": ["staging", "prod"], "required": False},
                             {"name": "note", "type": "string", "required": False}]})
    return json.dumps(cfg, indent=2)


def unescape(word):
    word = word.replace("\\e", "\x1b")
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), word)


def refusal_problems(r, code, fragment):
    p = []
    if r.returncode != code:
        p.append(f"exit {r.returncode}, expected {code}")
    lines = r.stderr.splitlines()
    # One error line; a usage error may add one `symtui: usage: …` hint line.
    if len(lines) == 0 or any(not l.startswith("symtui: usage: ") for l in lines[1:]):
        p.append(f"stderr has {len(lines)} lines: {r.stderr.strip()[:160]!r}")
    for l in lines:
        if not l.startswith("symtui: "):
            p.append(f"stderr line without 'symtui: ': {l[:100]!r}")
    if "\x1b" in r.stderr or re.search("[\x80-\x9f]", r.stderr):
        p.append("raw ESC/C1 on stderr")
    if fragment and fragment.lower() not in r.stderr.lower():
        p.append(f"no {fragment!r} in {r.stderr.strip()[:160]!r}")
    if r.stdout.strip():
        p.append(f"stdout not empty: {r.stdout[:80]!r}")
    return p


def unchanged(rig, before):
    after = R.store_counts(rig)
    return [] if after == before else [f"the store changed: {before} -> {after}"]


def run_cli(rig):
    with open(os.path.join(HOSTILE, "cli.tsv")) as f:
        rows = [l.rstrip("\n").split("\t") for l in f if l.strip() and not l.startswith("#")]
    for n, (args, code, frag) in enumerate(rows, 1):
        argv = [unescape(w) for w in shlex.split(args)]
        before = R.store_counts(rig)
        r = R.cli(rig, "a", *argv, config="--config" not in argv, timeout=20)
        record(f"cli.tsv:{n} symtui {args[:60]!r}", refusal_problems(r, int(code), frag) + unchanged(rig, before))


def run_fields(rig):
    with open(os.path.join(HOSTILE, "fields.jsonl")) as f:
        rows = [json.loads(l) for l in f if l.strip()]
    for n, row in enumerate(rows, 1):
        fields = dict(row["fields"])
        fields.setdefault("reason", "hostile")
        fields.setdefault("duration", "1h")
        for via in (["cli", "events"] if row["via"] == "both" else [row["via"]]):
            before = R.store_counts(rig)
            if via == "cli":
                argv = ["request", "typed", "t"]
                for k, v in fields.items():
                    argv += ["--field", f"{k}={v}"]
                r = R.cli(rig, "a", *argv, timeout=20)
                p = refusal_problems(r, row["exit"], row["expect"])
            else:
                line = json.dumps({"event": "request", "flow": "typed", "target": "t", "fields": fields})
                r = R.cli(rig, "a", "events", "-", input=line + "\n", timeout=20)
                p = events_problems(r, row["exit"], row["expect"])
            record(f"fields.jsonl:{n} via {via} {json.dumps(row['fields'])[:60]}", p + unchanged(rig, before))


def events_problems(r, code, fragment):
    p = []
    if r.returncode != code:
        p.append(f"exit {r.returncode}, expected {code}")
    out = [l for l in r.stdout.splitlines() if l.strip()]
    if len(out) != 1:
        p.append(f"{len(out)} answer lines")
    else:
        try:
            a = json.loads(out[0])
            if a.get("ok") is not False or a.get("exit") != code:
                p.append(f"answer {out[0][:120]}")
            if fragment and fragment.lower() not in str(a.get("error", "")).lower():
                p.append(f"no {fragment!r} in {a.get('error')!r}")
            if "\x1b" in out[0] or re.search("[\x80-\x9f]", out[0]):
                p.append("raw ESC/C1 in the answer line")
        except ValueError:
            p.append(f"answer is not JSON: {out[0][:80]!r}")
    for l in r.stderr.splitlines():
        if not l.startswith("symtui: "):
            p.append(f"stderr line without 'symtui: ': {l[:100]!r}")
    return p


def run_events(rig):
    with open(os.path.join(HOSTILE, "events.jsonl")) as f:
        rows = [json.loads(l) for l in f if l.strip()]
    for n, row in enumerate(rows, 1):
        before = R.store_counts(rig)
        r = R.cli(rig, "a", "events", "-", input=row["line"] + "\n", timeout=30)
        record(f"events.jsonl:{n} {row['line'][:50]!r}", events_problems(r, row["exit"], row["expect"]) + unchanged(rig, before))


def run_configs(rig):
    with open(os.path.join(HOSTILE, "configs.jsonl")) as f:
        rows = [json.loads(l) for l in f if l.strip()]
    path = os.path.join(rig.dir, "hostile.json5")
    for n, row in enumerate(rows, 1):
        with open(path, "w") as f:
            f.write(row["config"])
        os.chmod(path, 0o644)
        before = R.store_counts(rig)
        r = R.cli(rig, "a", "config", "check", path, config=False, timeout=20)
        p = []
        if r.returncode != row["exit"]:
            p.append(f"config check exit {r.returncode}, expected {row['exit']}")
        for l in r.stderr.splitlines() + r.stdout.splitlines():
            if "\x1b" in l or re.search("[\x80-\x9f]", l):
                p.append(f"raw ESC/C1 in output {l[:80]!r}")
        bad = [l for l in r.stderr.splitlines() if not l.startswith("symtui: ")]
        if bad:
            p.append(f"stderr lines without 'symtui: ': {bad[:2]}")
        r2 = R.cli(rig, "a", "--config", path, "list", config=False, timeout=20)
        if r2.returncode != row["exit"]:
            p.append(f"--config FILE list exit {r2.returncode}, expected {row['exit']}")
        record(f"configs.jsonl:{n} {row['config'][:50]!r}", p + unchanged(rig, before))


BAD_DISPLAY = re.compile("[\x00-\x08\x0b-\x1f\x7f\x80-\x9f\u061c\u200b\u200c\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")


def display_problems(what, text):
    p = []
    m = BAD_DISPLAY.search(text)
    if m:
        i = m.start()
        p.append(f"{what}: raw U+{ord(m.group()):04X} near {text[max(0, i - 20):i + 20]!r}")
    for m in re.finditer("\u200d", text):
        i = m.start()
        a, b = text[i - 1:i], text[i + 1:i + 2]
        if not (a and b and ord(a) >= 0x2000 and ord(b) >= 0x2000):
            p.append(f"{what}: U+200D outside an emoji sequence near {text[max(0, i - 20):i + 20]!r}")
            break
    return p


# The hostile rig's own pending limit: the injection run leaves ~30 requests of one user pending, and the flood run
# fills another user's quota to exactly this.
PENDING_LIMIT = 100


def run_flood(rig):
    """One user asks for far more than the pending limit in one burst: exactly the limit is kept, the rest refused."""
    line = json.dumps({"event": "request", "flow": "note", "fields": {"reason": "flood"}})
    r = R.cli(rig, "b", "events", "-", input=(line + "\n") * (PENDING_LIMIT + 30), timeout=120)
    answers = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
    refused = [a for a in answers if not a.get("ok")]
    p = []
    pending = int(R.cli(rig, "b", "list", "--mine", "--state", "pending", "--json").stdout.count('"id"'))
    if pending != PENDING_LIMIT:
        p.append(f"b has {pending} pending requests, expected exactly the limit {PENDING_LIMIT}")
    if not refused or not all("pending_per_user" in json.dumps(a) for a in refused):
        p.append(f"refusals do not name limits.pending_per_user: {refused[:1]}")
    record(f"flood: {len(answers)} requests by one user against limits.pending_per_user {PENDING_LIMIT}", p)


def run_inject(rig):
    with open(os.path.join(HOSTILE, "inject.jsonl")) as f:
        payloads = [json.loads(l)["payload"] for l in f if l.strip()]
    lines = []
    for p in payloads:
        lines.append(json.dumps({"event": "request", "flow": "typed", "target": "t", "duration": "1h",
                                 "fields": {"reason": p, "note": p, "tags": [p, "ok"]}}))
    r = R.cli(rig, "a", "events", "-", input="\n".join(lines) + "\n", timeout=60)
    ids = [json.loads(l)["request"]["id"] for l in r.stdout.splitlines() if l.strip() and json.loads(l).get("ok")]
    record("inject: payloads accepted as data (all but NUL)", [] if len(ids) >= len(payloads) - 1 else
           [f"only {len(ids)} of {len(payloads)} created: {r.stdout[-300:]}"])
    for i, rid in enumerate(ids[:8]):
        if i % 2:
            rig.run_as("c", "deny", rid, "--reason", payloads[i])
        else:
            rig.run_as("c", "approve", rid, "--reason", payloads[i])
    outs = {"list (as c)": R.cli(rig, "c", "list"), "list --all (as a)": R.cli(rig, "a", "list", "--all"),
            "list --review (as c)": R.cli(rig, "c", "list", "--review"), "flows": R.cli(rig, "a", "flows"),
            "audit tail": R.cli(rig, "a", "audit", "tail")}
    for rid in ids:
        outs[f"show {rid}"] = R.cli(rig, "a", "show", rid)
    for what, res in outs.items():
        record(f"inject: {what}", ([f"exit {res.returncode}: {res.stderr[:100]}"] if res.returncode != 0 else [])
               + display_problems(what, res.stdout + res.stderr))
    # CSV export
    res = R.cli(rig, "a", "audit", "export", "--format", "csv")
    p = [] if res.returncode == 0 else [f"exit {res.returncode}"]
    rows = list(csv.reader(io.StringIO(res.stdout)))
    for row in rows[1:]:
        for cell in row:
            if re.search("[\x00-\x08\x0b-\x1f\x7f\x80-\x9f\u202a-\u202e\u2066-\u2069]", cell):
                p.append(f"a cell holds a raw control: {cell[:60]!r}")
            if cell[:1] in ("=", "+", "-", "@", "\t", "\r") and not re.fullmatch(r"-?\d+(\.\d+)?", cell):
                p.append(f"a cell starts with a formula prefix: {cell[:60]!r}")
    record(f"inject: audit export --format csv ({len(rows) - 1} rows)", sorted(set(p))[:6])
    run_console(rig, ids)


def run_console(rig, ids):
    sock = f"rel{os.getpid()}"
    tm = ["tmux", "-L", sock]
    cmd = " ".join(shlex.quote(w) for w in ["setpriv", "--reuid", rig.users["c"], "--regid", "users", "--init-groups",
                                             "env", "TERM=xterm-256color", "LANG=C.UTF-8", rig.bin, "--config", rig.config])
    subprocess.run(tm + ["-f", "/dev/null", "new-session", "-d", "-x", "160", "-y", "45", cmd], check=True)
    subprocess.run(tm + ["set-option", "-g", "set-clipboard", "on"], capture_output=True)
    subprocess.run(tm + ["set-option", "-g", "allow-rename", "on"], capture_output=True)
    p = []
    captures = []
    try:
        time.sleep(1.5)
        title0 = subprocess.run(tm + ["display-message", "-p", "#{pane_title}"], capture_output=True, text=True).stdout
        for keys in [[], ["2"], ["Enter"], ["Escape", "3"], ["4"], ["5"], ["Enter"], ["Escape", "1"], ["Enter"]]:
            for k in keys:
                subprocess.run(tm + ["send-keys", "-t", "0", k])
                time.sleep(0.3)
            time.sleep(0.5)
            cap = subprocess.run(tm + ["capture-pane", "-p", "-e", "-t", "0"], capture_output=True, text=True).stdout
            captures.append((keys, cap))
        for keys, cap in captures:
            for m in re.finditer(r"\x1b(\[[0-?]*[ -/]*[@-~]|.)", cap):
                seq = m.group()
                if not (seq.startswith("\x1b[") and seq.endswith("m")):
                    p.append(f"after {keys}: a non-SGR sequence {seq!r}")
            plain = re.sub(r"\x1b\[[0-9;:]*m", "", cap)
            p += [f"after {keys}: {x}" for x in display_problems("console", plain)]
            for frag in ("pwned", "52;c;", "]0;", "2J"):
                if frag in plain:
                    p.append(f"after {keys}: payload fragment {frag!r} shows as text")
        title1 = subprocess.run(tm + ["display-message", "-p", "#{pane_title}"], capture_output=True, text=True).stdout
        if title1 != title0 or "pwned" in title1 or "evil" in title1.lower():
            p.append(f"the pane title changed: {title0.strip()!r} -> {title1.strip()!r}")
        bufs = subprocess.run(tm + ["list-buffers"], capture_output=True, text=True).stdout
        if bufs.strip():
            p.append(f"a paste buffer was set (OSC 52): {bufs.strip()[:80]!r}")
        alive = subprocess.run(tm + ["has-session"], capture_output=True).returncode == 0
        if not alive:
            p.append("the console exited")
        shown = sum(1 for _, c in captures if "Evil" in c or "RED" in c or "pwned" in c)
        if shown == 0:
            p.append("no capture shows the hostile requests (nothing was tested)")
    finally:
        subprocess.run(tm + ["kill-server"], capture_output=True)
    with open(os.path.join(rig.dir, "console-captures.txt"), "w") as f:
        for keys, cap in captures:
            f.write(f"=== after {keys}\n{cap}\n")
    record(f"inject: console (tmux capture-pane -e, {len(captures)} screens)", sorted(set(p))[:8])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="cli,fields,events,configs,inject,flood")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("hostile: needs root", file=sys.stderr)
        return 2
    rig = R.make_rig("Hostile", config_text=config_text, limits={"pending_per_user": PENDING_LIMIT})
    try:
        rig.request("b", "note")          # the store exists and holds something
        for part in args.only.split(","):
            {"cli": run_cli, "fields": run_fields, "events": run_events, "configs": run_configs, "inject": run_inject,
             "flood": run_flood}[part](rig)
        rig.assert_daemon_alive()
    finally:
        R.teardown(rig)
    print(f"hostile: {PASSED[0]} passed, {len(FAILED)} failed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
