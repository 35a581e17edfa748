#!/usr/bin/env python3
"""Target down: a `command` strategy whose deescalate fails while a flag file exists, then recovers.

Run as root:  SYMTUI_BIN=$PWD/.build/debug/symtui python3 Tests/reliability/targetdown.py [--failures N]
A 2 s grant is approved and goes active; the flag file is created before it expires, so deescalate exits 1.
Checks: the grant stays `deescalating` (never abandoned) and is retried; after 3 failures `list --json` says
`stuck: true` (and the table says "(stuck)"); the gaps between tries follow the deescalation RetryPolicy
(base 2 s doubling, x0.5-1.5 jitter, cap 300 s); once the flag is removed (after N failures, default 3) the next
try succeeds: `ended`/`expired`, `stuck: false`, one `deescalate` event after N `deescalate_failed`, audit verify.
There is no knob to shorten the backoff, so N is kept small: N=3 takes about 15-30 s, each extra failure doubles.
Prints a closing `targetdown: N passed, M failed`.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rig as R  # noqa: E402

CHECKS = []


def check(name, ok, detail=""):
    CHECKS.append((name, bool(ok)))
    print(f"targetdown: {'PASS' if ok else 'FAIL'} {name}" + (f": {detail}" if detail else ""), flush=True)


def config_text(cls):
    flag = os.path.join(cls.dir, "target-down")
    log = os.path.join(cls.dir, "attempts.jsonl")
    for action, fails in (("escalate", False), ("deescalate", True)):
        path = os.path.join(cls.dir, f"td-{action}")
        with open(path, "w") as f:
            f.write(f"""#!{R.e2e.PYTHON}
import json, os, sys, time
down = {fails!r} and os.path.exists({flag!r})
with open({log!r}, "a") as f:
    f.write(json.dumps({{"action": {action!r}, "at": time.time(), "down": down,
                        "request": os.environ.get("SYMTUI_REQUEST_ID")}}) + "\\n")
if down:
    print("target unreachable (flag file present)", file=sys.stderr)
    sys.exit(1)
""")
        os.chmod(path, 0o755)
    cfg = {"store": cls.store,
           "strategies": [{"name": "td", "type": "command",
                           "settings": {"escalate": os.path.join(cls.dir, "td-escalate"),
                                        "deescalate": os.path.join(cls.dir, "td-deescalate"), "timeout": "10s"},
                           "targets": [{"name": "db", "label": "Flaky DB"}]}],
           "flows": [{"name": "flaky", "strategy": "td", "approvers": {"groups": [cls.oncall]},
                      "prompt_fields": [{"name": "reason", "type": "string", "required": True},
                                        {"name": "duration", "type": "duration", "required": True}]}]}
    return json.dumps(cfg, indent=2)


def attempts(rig):
    try:
        with open(os.path.join(rig.dir, "attempts.jsonl")) as f:
            return [json.loads(l) for l in f if l.strip()]
    except FileNotFoundError:
        return []


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--failures", type=int, default=3)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("targetdown: needs root", file=sys.stderr)
        return 2
    rig = R.make_rig("TargetDown", config_text=config_text)
    flag = os.path.join(rig.dir, "target-down")
    try:
        rid = rig.request("a", "flaky", "db", duration="2s")
        rig.ok("c", "approve", rid)
        rig.wait_state(rid, "active", timeout=5)
        open(flag, "w").close()
        t0 = time.time()
        # Wait for N failed tries (about 2+4+8… s with jitter), watching `list --json` as a user would.
        stuck_seen_after = None
        deadline = time.time() + 10 + 3 * sum(min(300, 2 * 2 ** k) for k in range(args.failures))
        while time.time() < deadline:
            fails = [a for a in attempts(rig) if a["action"] == "deescalate" and a["down"]]
            req = [r for r in R.list_json(rig) if r["id"] == rid]
            if req and req[0]["stuck"] and stuck_seen_after is None:
                stuck_seen_after = len(fails)
            if len(fails) >= args.failures and (stuck_seen_after is not None or args.failures < 3):
                break
            if req and req[0]["state"] != "deescalating" and fails:
                break
            time.sleep(0.2)
        req = rig.show(rid)
        fails = [a for a in attempts(rig) if a["action"] == "deescalate" and a["down"]]
        check("retried while the target is down", len(fails) >= args.failures,
              f"{len(fails)} failed deescalations in {time.time() - t0:.1f} s")
        check("stays deescalating (never abandoned)", req["state"] == "deescalating", f"state {req['state']}")
        if args.failures >= 3:
            check("stuck: true after 3 failures", stuck_seen_after == 3 and req["stuck"] is True,
                  f"stuck first seen after {stuck_seen_after} failures; now stuck={req['stuck']}")
            table = R.cli(rig, "a", "list").stdout
            check("the table shows (stuck)", "(stuck)" in table, "")
        check("the error is shown", bool(req.get("error")), repr(req.get("error")))
        gaps = [round(b["at"] - a["at"], 2) for a, b in zip(fails, fails[1:])]
        bounds = [(0.5 * min(300, 2 * 2 ** k) - 0.3, 1.5 * min(300, 2 * 2 ** k) + 1.0) for k in range(len(gaps))]
        check("backoff follows the policy (2 s doubling, jitter x0.5-1.5)",
              all(lo <= g <= hi for g, (lo, hi) in zip(gaps, bounds)), f"gaps {gaps}, allowed {bounds}")
        os.remove(flag)
        t1 = time.time()
        end = rig.wait_state(rid, "ended", timeout=3 * min(300, 2 * 2 ** len(fails)) + 5)
        check("ends once the target is back", end["end_reason"] == "expired" and end["stuck"] is False and end["error"] is None,
              f"ended {time.time() - t1:.1f} s after recovery: end_reason {end['end_reason']}, stuck {end['stuck']}, "
              f"error {end['error']!r}")
        types = [e["type"] for e in end["events"]]
        check("events: N deescalate_failed then one deescalate",
              types.count("deescalate_failed") == len(fails) and types.count("deescalate") == 1
              and types.index("deescalate") > max(i for i, t in enumerate(types) if t == "deescalate_failed"),
              f"{types}")
        v = R.cli(rig, None, "audit", "verify")
        check("audit verify", v.returncode == 0, (v.stdout + v.stderr).strip()[:200])
    finally:
        R.teardown(rig)
    failed = sum(1 for _, ok in CHECKS if not ok)
    print(f"targetdown: {len(CHECKS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
