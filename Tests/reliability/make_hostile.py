#!/usr/bin/env python3
"""Writes the hostile-input corpus under Tests/Fixtures/hostile/ (committed; rerun only to regenerate).

cli.tsv        ARGS (shell words, \\e \\x.. escapes allowed)<TAB>EXIT<TAB>FRAGMENT
fields.jsonl   {"fields": {...}, "via": "cli"|"events", "exit": N, "expect": FRAGMENT} against flow `typed`
events.jsonl   {"line": RAW LINE, "exit": N, "expect": FRAGMENT}  (one line into `symtui events -`)
configs.jsonl  {"config": TEXT, "exit": N, "expect": FRAGMENT}    (`config check FILE` and `--config FILE list`)
inject.jsonl   {"reason": ..., "field": ...} terminal-injection payloads for the display checks
FRAGMENT is matched case-insensitively against stderr ("" = any message).
"""
import json
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Fixtures", "hostile")
ESC = "\x1b"
INJECT = [ESC + "[31mRED" + ESC + "[0m", ESC + "]52;c;ZWNobyBwd25lZA==" + "\x07", ESC + "]0;evil title" + ESC + "\\",
          ESC + "P+q544e" + ESC + "\\", ESC + "[2J" + ESC + "[H", ESC + "[6n", "\x9b31m", "\x9d0;c1 title\x9c", "\x90dcs\x9c",
          "abc\u202etxt.exe", "\u2066isolate\u2069", "zero\u200bwidth\u200c\u200d\u2060\ufeff", "bell\x07\x08back",
          "cr\roverwrite", "nl\nsecond line", "del\x7f", "tab\there", ESC + "]8;;http://evil/" + ESC + "\\link" + ESC + "]8;;" + ESC + "\\",
          "=HYPERLINK(\"http://evil\",\"x\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1+1", "\u061calm\u200e\u200f",
          "👩\u200d💻 ok", ESC + "(0lqk" + ESC + "(B", ESC + "c reset", "\x00nul"]


def esc(s):
    return s.encode("unicode_escape").decode("ascii").replace("\t", "\\t")


def cli_rows():
    rows = []
    add = lambda args, code, frag="": rows.append((args, code, frag))
    for w in ["frobnicate", "LIST", "lisst", "reqest", "\\e[31mred", "--", "-", "--json", "list\\x9b", "ünïcode", "a" * 300]:
        add(w, 64, "")
    for opt in ["--bogus", "--state", "--limit", "--limit -1", "--limit abc", "--limit 99999999999999999999", "--limit 0x10",
                "--state ACTIVE", "--state active,pending", "--state \\e[2J", "--mine=yes", "--json=1"]:
        add("list " + opt, 64, "")
    for i in ["abc", "0", "-1", "-0", "0x10", "1e3", "1.0", "' 1'", "١٢", "9223372036854775808", "99999999999999999999999",
              "'1 2'", "''", "1_000", "\\e[31m1"]:
        add(f"show {i}", 64, "not a request id")
        add(f"approve {i}", 64, "not a request id")
    for i in ["999999", "9223372036854775807"]:
        for c in ["show", "approve", "cancel", "release", "revoke"]:
            add(f"{c} {i}", 65, "no request")
    for d in ["banana", "-1h", "1x", "1h-", "1.5h", "'1 h'", "h", "''", "∞", "99999999999999999999d", "1h30", "0x10s", "\\e[31m1h"]:
        add(f"request db orders --reason x --duration {d}", 65, "duration")
    add("request typed t --reason x --duration 9h", 65, "max_duration")
    for flow in ["nosuch", "\\e]52;c;eA==\\x07", "DB", "db/../db", "''", "' db'", "a" * 500]:
        add(f"request {flow} --reason x", 65, "")
    for f in ["noequals", "=x", "''", "'=' "]:
        add(f"request note --reason x --field {f}", 64, "")
    for f in ["bogus=1", "'reason =x'", "\\e[2J=1", "Reason=x", "reasons=x"]:
        add(f"request note --reason x --field {f}", 65, "")
    add("request note --reason " + "x" * 5000, 65, "too long")
    add("request note --reason '   '", 65, "required")
    add("request note", 65, "required")
    add("deny 1", 64, "deny needs --reason")
    add("extend 1", 64, "extend needs --duration")
    add("wait 1 --timeout banana", 64, "not a duration")
    add("--config /dev/null list", 65, "")
    add("--config /nonexistent/c.json5 list", 66, "")
    add("--config / list", 74, "directory")
    add("--db /nonexistent/x.db list", 69, "")
    add("audit export --format xml", 64, "")
    add("audit export --since yesterday", 64, "")
    add("audit export --request abc", 64, "")
    add("audit verify --against /nonexistent", 66, "")
    add("audit verify --key /nonexistent", 66, "")
    add("audit verify --key /dev/null", 65, "not a regular file")
    add("audit verify --key", 64, "")
    add("events /nonexistent", 66, "cannot open")
    add("handlers test nosuch on_request --event /nonexistent", 65, "")
    add("help \\e[31m", 64, "")
    # Sizes (limits.field_bytes, 16 KiB by default) and a store that is not there.
    add("request note --reason " + "x" * 20000, 65, "too long")
    add("request note --reason x --field reason=" + "y" * 17000, 65, "field_bytes")
    add("audit verify --db /nonexistent/backup.db", 66, "no store")
    add("audit verify --db /nonexistent/backup.db --against /dev/null", 66, "no store")
    return rows


def field_rows():
    rows = []
    add = lambda fields, exit, expect, via="both": rows.append({"fields": fields, "exit": exit, "expect": expect, "via": via})
    for v in ["ten", "1.5", "1e3", "0x10", "9007199254740992", "-9007199254740992", "٣", "1 2", "--1", "+-1", "1,000"]:
        add({"count": v}, 65, "count")
    for v in ["maybe", "2", "yes please", "ture", "ja"]:
        add({"flag": v}, 65, "flag")
    for v in ["1x", "-5m", "1h1", "99999999999999d", "1.5h", "m", "1m m", "8h1s", "9h"]:
        add({"duration": v}, 65, "duration")
    for v in ["dev", "PROD", " prod", "prod,staging"]:
        add({"env": v}, 65, "allowed")
    for v in ["1,x", "1,,y", "0x1", "1.5,2", "9007199254740992"]:
        add({"ports": v}, 65, "ports")
    for v in ["bad name", "-root", "nosuchuser_zz", "a" * 40, "root;id", "$x", "root\\e[31m"]:
        add({"buddy": v}, 65, "buddy")
    for v in ["root,nosuchuser_zz", "root,bad name"]:
        add({"team": v}, 65, "team")
    add({"reason": "x" * 4097}, 65, "limit")
    add({"reason": "x" * 20000}, 65, "field_bytes")
    add({"reason": "é" * 9000}, 65, "field_bytes")
    add({"tags": ",".join(["t" * 90] * 200)}, 65, "field_bytes")
    add({"reason": ""}, 65, "required")
    add({"nosuch": "1"}, 65, "no field")
    add({"\x1b[2Jx": "1"}, 65, "no field")
    for j in [{"count": "1.5"}, {"count": 1.5}, {"count": True}, {"count": [1]}, {"count": {"a": 1}}, {"count": 1e300},
              {"flag": "maybe"}, {"flag": 1}, {"flag": None, "reason": None}, {"duration": 3600}, {"duration": True},
              {"ports": [1, "x"]}, {"ports": [1.5]}, {"ports": "a,b"}, {"team": ["root", 1]}, {"team": "nosuchuser_zz"},
              {"tags": [1, 2]}, {"tags": {"a": "b"}}, {"reason": "a\u0000b"}, {"reason": 12}, {"reason": ["x"]},
              {"env": "dev"}, {"buddy": ["root"]}, {"count": 9007199254740993}]:
        add(j, 65, "", via="events")
    return rows


def event_rows():
    rows = []
    add = lambda line, exit, expect="": rows.append({"line": line, "exit": exit, "expect": expect})
    for line in ["{", "}", "[", "nul", "{\"event\":}", "{'event':'approve' 'request':1}", "\ufeff{\"event\":\"ping\"", "\"\\ud800\"x",
                 "{\"event\":\"approve\",\"request\":1,}x", "[" * 100000, "{\"a\":" * 50000, "\x00", "{\"event\":\"approve\"\x00}",
                 "{\"event\":\"approve\",\"request\":1} trailing", "NaN", "{\"event\":\"approve\",\"request\":1e999}"]:
        add(line, 65)
    for obj in [[], "approve", 1, None, True, {}, {"event": None}, {"event": 1}, {"event": "APPROVE", "request": 1},
                {"event": "frob"}, {"event": "\x1b]52;c;eA==\x07"}, {"event": "approve"},                 {"event": "approve", "request": 1.5}, {"event": "approve", "request": "abc"}, {"event": "approve", "request": -1}, {"event": "approve", "request": 0},
                {"event": "approve", "request": 2 ** 63}, {"event": "approve", "request": 999999},
                {"event": "approve", "request": 999999, "reason": 5}, {"event": "approve", "request": 1, "bogus": 1},
                {"event": "approve", "request": 1, "\x1b[2J": 1}, {"event": "deny", "request": 999999},
                {"event": "extend", "request": 999999}, {"event": "extend", "request": 999999, "duration": "banana"},
                {"event": "request"}, {"event": "request", "flow": 1}, {"event": "request", "flow": "nosuch"},
                {"event": "request", "flow": "note", "fields": []}, {"event": "request", "flow": "note", "fields": "x"},
                {"event": "request", "flow": "note", "fields": {"reason": "x"}, "target": "t"},
                {"event": "request", "flow": "db", "target": "orders", "fields": {"reason": "x", "duration": "banana"}},
                {"event": "request", "flow": "db", "target": 5, "fields": {"reason": "x"}},
                {"event": "request", "flow": "db", "fields": {"reason": "x", "duration": "1h"}},
                {"event": "request", "flow": "note", "fields": {"reason": "x"}, "v": 999},
                {"event": "cancel", "request": 999999}, {"event": "revoke", "request": 999999}, {"event": "release", "request": 999999},
                {"event": "request", "flow": "note", "fields": {"reason": "x" * 5000}},
                {"event": "request", "flow": "note", "fields": {"reason": "x"}, "duration": "1h"},
                {"event": "request", "flow": "note", "fields": {"reason": "x" * 20000}},
                {"event": "request", "flow": "note", "fields": {f"f{i}": "v" * 3000 for i in range(30)}},
                {"event": "request", "flow": "note", "fields": {"k" * 70000: "x"}},
                {"event": "request", "flow": "note", "fields": {"reason": ["x" * 1000] * 100}},
                {"event": "extend", "request": 999999, "duration": "1h", "reason": "r" * 20000},
                {"event": "request", "flow": "note", "fields": {"reason": "x"}, "reason": "r" * 20000}]:
        add(json.dumps(obj), 65)
    return rows


def config_rows():
    rows = []
    add = lambda text, expect="": rows.append({"config": text, "exit": 65, "expect": expect})
    base_flow = '{ name: "n", approvers: { users: ["root"] }, prompt_fields: [ { name: "reason", type: "string" } ] }'
    for text in ["", "   ", "[]", "null", "1", "{", "{ flows: [ }", "{ flows: " + "[" * 20000, "{ flows: 'x' }", "\x00{}",
                 "{ flows: [ { name: 1 } ] }", "{ flowz: [] }", "{ store: 5 }", "{ store_mode: '9999' }", "{ store_mode: 'abc' }",
                 "{ flows: [ " + base_flow + ", " + base_flow + " ] }",
                 "{ flows: [ { name: \"n\", strategy: \"nosuch\", approvers: { users: [\"root\"] } } ] }",
                 "{ flows: [ { name: \"n\", approvers: { users: [\"root\"] }, max_duration: \"1h\" } ] }",
                 "{ flows: [ { name: \"n\", approvers: { users: [\"root\"] }, required_approvals: 0 } ] }",
                 "{ flows: [ { name: \"n\", approvers: { users: [\"root\"] }, request_ttl: \"banana\" } ] }",
                 "{ flows: [ { name: \"n\", approvers: {} } ] }",
                 "{ flows: [ { name: \"n\", approvers: { users: [\"root\"] }, prompt_fields: [ { name: \"x\", type: \"float\" } ] } ] }",
                 "{ flows: [ { name: \"n\", approvers: { users: [\"root\"] }, prompt_fields: [ { name: \"x\", type: \"int\", allowed_values: [\"a\"] } ] } ] }",
                 "{ flows: [ { name: \"n\", approvers: { users: [\"root\"] }, prompt_fields: [ { name: \"x\", type: \"user\", allowed_values: [\"root\"] } ] } ] }",
                 "{ flows: [ { name: \"n\", approvers: { users: [\"root\"] }, prompt_fields: [ { name: \"x\", type: \"str_list\", default: \"a\" } ] } ] }",
                 "{ flows: [ { name: \"n\", approvers: { users: [\"root\"] }, prompt_fields: [ { name: \"duration\", type: \"duration\" } ] } ] }",
                 "{ strategies: [ { name: \"s\", type: \"unix_group\", targets: [ { name: \"t\" } ] } ] }",
                 "{ strategies: [ { name: \"s\", type: \"command\", settings: { escalate: \"rel\", deescalate: \"/bin/true\" }, targets: [ { name: \"t\" } ] } ] }",
                 "{ strategies: [ { name: \"s\", type: \"teleport\", targets: [] } ] }",
                 "{ strategies: [ { name: \"s\", type: \"unix_group\", targets: [ { name: \"t\", settings: { group: \"a;b\" } } ] } ] }",
                 "{ flows: [ { name: \"\\u001b]52;c;eA==\\u0007\", approvers: { users: [\"root\"] }, bogus\\u0000: 1 } ] }",
                 "{ \"\\u001b[2J\": 1 }", "{ 'a\\nb': 1 }", "{ reporting: { destinations: [ { type: \"ftp\" } ] } }",
                 "{ reporting: { destinations: [ { type: \"http\", url: \"not a url\" } ] } }",
                 "{ reporting: { hmac_key_file: 3 } }", "{ reporting: { hmac_key_file: \"\" } }",
                 "{ flows: [ { name: \"n\", approvers: { users: [\"root\"] }, allow_revoke: false, schedule_deescalation: false, strategy: \"s\" } ], strategies: [ { name: \"s\", type: \"command\", settings: { escalate: \"/bin/true\", deescalate: \"/bin/true\" }, targets: [ { name: \"t\" } ] } ] }",
                 "{ a: 1, a: 2 }", "{ flows: [], flows: [] }",
                 # Numbers and durations out of range (an http timeout of 1e17 used to crash the daemon).
                 "{ flows: [ " + base_flow + " ], strategies: [ { name: \"h\", type: \"http\", settings: { url: \"http://127.0.0.1:9/\", timeout: 1e17 }, targets: [ { name: \"t\" } ] } ] }",
                 "{ flows: [ " + base_flow + " ], strategies: [ { name: \"h\", type: \"http\", settings: { url: \"http://127.0.0.1:9/\", timeout: -1 }, targets: [ { name: \"t\" } ] } ] }",
                 "{ flows: [ " + base_flow + " ], strategies: [ { name: \"c\", type: \"command\", settings: { escalate: \"/bin/true\", deescalate: \"/bin/true\", timeout: \"3650d\" }, targets: [ { name: \"t\" } ] } ] }",
                 "{ flows: [ { name: \"n\", approvers: { users: [\"root\"] }, handler_timeout: \"2d\" } ] }",
                 "{ flows: [ " + base_flow + " ], reporting: { destinations: [ { type: \"http\", url: \"http://127.0.0.1:9/\", timeout: 1e17 } ] } }",
                 "{ flows: [ " + base_flow + " ], limits: { pending_per_user: 0 } }",
                 "{ flows: [ " + base_flow + " ], limits: { pending_per_user: 1e17 } }",
                 "{ flows: [ " + base_flow + " ], limits: { field_bytes: 99999999 } }",
                 "{ flows: [ " + base_flow + " ], limits: { field_bytes: 4096, request_bytes: 100 } }",
                 "{ flows: [ " + base_flow + " ], limits: { pending: 5 } }",
                 "{ flows: [ " + base_flow + " ], limits: 5 }"]:
        add(text)
    return rows


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "cli.tsv"), "w") as f:
        f.write("# ARGS<TAB>EXIT<TAB>FRAGMENT: run as an unprivileged user against a live daemon (hostile.py)\n")
        for args, code, frag in cli_rows():
            f.write(f"{args}\t{code}\t{frag}\n")
    for name, rows in [("fields.jsonl", field_rows()), ("events.jsonl", event_rows()), ("configs.jsonl", config_rows()),
                       ("inject.jsonl", [{"payload": p} for p in INJECT])]:
        with open(os.path.join(OUT, name), "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
    counts = {n: sum(1 for l in open(os.path.join(OUT, n)) if l.strip() and not l.startswith("#"))
              for n in sorted(os.listdir(OUT))}
    print(counts, sum(counts.values()))


if __name__ == "__main__":
    main()
