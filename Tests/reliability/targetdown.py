#!/usr/bin/env python3
"""Target down: a `command` strategy that fails while a flag file exists, for a long outage, then recovers.

Run as root:  SYMTUI_BIN=$PWD/.build/debug/symtui python3 Tests/reliability/targetdown.py [--down MIN] [--scale S]
Time is compressed S times (default 100) through the daemon's retry knobs: SYMTUI_RETRY_BASE = 2 s / S and
SYMTUI_RETRY_CAP = 300 s / S, so the production backoff (first delay 2 s doubling, x0.5-1.5 jitter, at most 5 min)
runs at 1/S scale, and an outage of MIN minutes (default 30) takes MIN*60/S seconds of wall time.

Deescalation (a 2 s grant expires while the target is down): the grant stays `deescalating` through the whole
outage (never abandoned) and is retried as often as the policy allows in that time; `list --json` says
`stuck: true` from the 3rd failure (the table says "(stuck)") with the script's stderr as `error`; the gaps follow
the policy; once the target is back the next try ends it (`ended`/`expired`, `stuck: false`, `error: null`, N
`deescalate_failed` then one `deescalate`).
Escalation (the target is down when a grant is approved): 5 tries in all, then a deescalation to be sure (the
last try may have half-applied), then `failed` with the error shown; `symtui wait` exits 1.
`audit verify` passes. Prints a closing `targetdown: N passed, M failed`.
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
    for action in ("escalate", "deescalate"):
        path = os.path.join(cls.dir, f"td-{action}")
        with open(path, "w") as f:
            f.write(f"""#!{R.harness.PYTHON}
import json, os, sys, time
down = os.path.exists({flag!r})
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


BASE, CAP, BUDGET = 2.0, 300.0, 5          # RetryPolicy.deescalation (base, cap) and the escalation budget


def delay(k, scale):
    """The policy's k-th delay (0-based) before jitter, in scaled seconds."""
    return min(CAP, BASE * 2 ** k) / scale


def tries_within(seconds, scale, factor):
    """How many tries fit in `seconds` when every delay is `factor` times the policy's (first try at 0)."""
    t, n = 0.0, 1
    while True:
        t += factor * delay(n - 1, scale)
        if t > seconds:
            return n
        n += 1


def outage(rig, flag, down_s, scale):
    rid = rig.request("a", "flaky", "db", duration="2s")
    rig.ok("c", "approve", rid)
    rig.wait_state(rid, "active", timeout=5)
    open(flag, "w").close()
    # The outage starts with the first failed try (the grant's expiry) and lasts down_s.
    deadline = time.time() + 10
    while not [a for a in attempts(rig) if a["action"] == "deescalate"] and time.time() < deadline:
        time.sleep(0.02)
    first = [a for a in attempts(rig) if a["action"] == "deescalate"]
    t0 = first[0]["at"] if first else time.time()
    states, stuck_seen_after, table_stuck = set(), None, False
    while time.time() < t0 + down_s:
        fails = [a for a in attempts(rig) if a["action"] == "deescalate" and a["down"]]
        req = [r for r in R.list_json(rig) if r["id"] == rid][0]
        states.add(req["state"])
        if req["stuck"] and stuck_seen_after is None:
            stuck_seen_after = len(fails)   # what a user saw; the exact attempt comes from the events below
            table_stuck = "(stuck)" in R.cli(rig, "a", "list").stdout
        time.sleep(0.1)
    req = rig.show(rid)
    fails = [a for a in attempts(rig) if a["action"] == "deescalate" and a["down"]]
    lo, hi = tries_within(down_s, scale, 1.5) - 1, tries_within(down_s, scale, 0.5) + 1
    check("retried through the whole outage as the policy allows", lo <= len(fails) <= hi,
          f"{len(fails)} failed tries in {down_s * scale / 60:.0f} simulated minutes ({down_s:.1f} s); policy allows {lo}-{hi}")
    check("stays deescalating while the target is down (never abandoned)", states == {"deescalating"}
          and req["state"] == "deescalating", f"states seen {sorted(states)}")
    # The harness reads the attempts log and `list` one after the other, so what it saw can be off by one try under
    # load; the events say exactly which failure set the flag.
    flags = [(e["data"].get("attempt"), e["data"].get("stuck")) for e in req["events"] if e["type"] == "deescalate_failed"]
    first_stuck = next((n for n, stuck in flags if stuck), None)
    check("stuck: true from the 3rd failure", first_stuck == 3 and req["stuck"] is True and stuck_seen_after is not None,
          f"events (attempt, stuck): {flags[:4]}…; `list` showed stuck after {stuck_seen_after} failed tries; now stuck={req['stuck']}")
    check("the table shows (stuck)", table_stuck)
    check("the error is the script's stderr", "target unreachable" in (req.get("error") or ""), repr(req.get("error")))
    gaps = [b["at"] - a["at"] for a, b in zip(fails, fails[1:])]
    # A try also costs a Python start and a loop wake-up: 0.5 s of slack on top of the jittered delay.
    bad = [(k, round(g, 3), round(0.5 * delay(k, scale), 3), round(1.5 * delay(k, scale) + 0.5, 3))
           for k, g in enumerate(gaps) if not 0.5 * delay(k, scale) - 0.01 <= g <= 1.5 * delay(k, scale) + 0.5]
    check("each gap follows the policy (delay doubling to the cap, jitter x0.5-1.5)", not bad,
          f"gaps outside their bounds (k, gap, low, high): {bad[:5]}; longest gap {max(gaps, default=0):.2f} s")
    os.remove(flag)
    t1 = time.time()
    end = rig.wait_state(rid, "ended", timeout=1.5 * CAP / scale + 10)
    after = time.time() - t1
    check("ends once the target is back (within one capped delay)",
          end["end_reason"] == "expired" and end["stuck"] is False and end["error"] is None and after <= 1.5 * CAP / scale + 1,
          f"ended {after:.1f} s after recovery: end_reason {end['end_reason']}, stuck {end['stuck']}, error {end['error']!r}")
    types = [e["type"] for e in end["events"]]
    failed_tries = len(attempts_of(rig, "deescalate", True))     # including one that began just before recovery
    check("events: every failed try, then one deescalate",
          types.count("deescalate_failed") == failed_tries and types.count("deescalate") == 1
          and types.index("deescalate") > max(i for i, t in enumerate(types) if t == "deescalate_failed"),
          f"{types.count('deescalate_failed')} deescalate_failed, {types.count('deescalate')} deescalate")
    return len(fails)


def attempts_of(rig, action, down):
    return [a for a in attempts(rig) if a["action"] == action and a["down"] == down]


def escalation_budget(rig, flag, scale):
    open(flag, "w").close()
    rid = rig.request("a", "flaky", "db", duration="1h")
    rig.ok("c", "approve", rid)
    mine = lambda action: [a for a in attempts_of(rig, action, True) if a["request"] == str(rid)]
    deadline = time.time() + 10 + 1.5 * sum(delay(k, scale) for k in range(BUDGET))
    while len(mine("escalate")) < BUDGET and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)   # room for a 6th try, which must not come
    cleanup = rig.show(rid)
    os.remove(flag)
    end = rig.wait_state(rid, "failed", timeout=1.5 * CAP / scale + 10)
    types = [e["type"] for e in end["events"]]
    check(f"escalation: {BUDGET} tries, then no more", len(mine("escalate")) == BUDGET
          and types.count("escalate_failed") == BUDGET and "escalate" not in types,
          f"{len(mine('escalate'))} tries; events {types}")
    check("escalation: after the last try it deescalates to be sure (possibly half-applied)",
          cleanup["state"] == "deescalating", f"state after the budget: {cleanup['state']}")
    check("escalation: ends `failed` with the error shown", end["state"] == "failed" and "target unreachable" in (end.get("error") or ""),
          f"{end['state']}: {end.get('error')!r}")
    w = R.cli(rig, "a", "wait", str(rid), "--timeout", "5s")
    check("escalation: `symtui wait` exits 1 for a failed request", w.returncode == 1, f"exit {w.returncode}: {w.stderr.strip()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--down", type=float, default=30, help="outage in (simulated) minutes")
    ap.add_argument("--scale", type=float, default=100, help="time compression of the retry policy")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("targetdown: needs root", file=sys.stderr)
        return 2
    os.environ["SYMTUI_RETRY_BASE"] = f"{BASE / args.scale:.6f}"
    os.environ["SYMTUI_RETRY_CAP"] = f"{CAP / args.scale:.6f}"
    down_s = args.down * 60 / args.scale
    rig = R.make_rig("TargetDown", config_text=config_text)
    flag = os.path.join(rig.dir, "target-down")
    started = time.time()
    try:
        n = outage(rig, flag, down_s, args.scale)
        escalation_budget(rig, flag, args.scale)
        v = R.cli(rig, None, "audit", "verify")
        check("audit verify", v.returncode == 0, (v.stdout + v.stderr).strip()[:200])
        print(f"targetdown: a {args.down:.0f}-minute outage at 1/{args.scale:.0f} time: {n} failed deescalations, "
              f"{time.time() - started:.0f} s in all", flush=True)
    finally:
        R.teardown(rig)
        for k in ("SYMTUI_RETRY_BASE", "SYMTUI_RETRY_CAP"):
            os.environ.pop(k, None)
    failed = sum(1 for _, ok in CHECKS if not ok)
    print(f"targetdown: {len(CHECKS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
