"""End-to-end: the fleet as one bastion sees it on a SQLite store — `host_name`, a request's `host`, a target's
`runs_on`, the daemon's heartbeat and `symtui hosts`. Needs only the daemon (the two-daemon run is on PostgreSQL, in
fleet_e2e.py). Loaded by run.py."""

import json
import os
import time

from symtui_harness import SymtuiCase as E2ECase


class HostsTests(E2ECase):
    """A daemon named by `host_name`, a command target pinned to another host, and `symtui hosts` as a real user."""

    @classmethod
    def config_text(cls):
        cls.host_name = f"bastion-{cls.hex}"
        cls.other_host = f"elsewhere-{cls.hex}"
        cfg = json.loads(super().config_text().split("\n", 1)[1])
        cfg["host_name"] = cls.host_name
        cmd = cfg["strategies"][0]
        cmd["targets"].append({"name": "remote", "label": "Pinned elsewhere", "runs_on": cls.other_host})
        return "// SymTUI hosts e2e config (JSON5)\n" + json.dumps(cfg, indent=2) + "\n"

    def hosts(self, role="a"):
        return json.loads(self.ok(role, "hosts", "--json").stdout)

    def test_hosts_shows_this_daemon_alive_with_its_version(self):
        version = json.loads(self.ok(None, "version", "--json").stdout)["version"]
        mine = [h for h in self.hosts()["hosts"] if h["host"] == self.host_name]
        self.assertEqual(len(mine), 1, "the daemon's own heartbeat is listed once")
        self.assertTrue(mine[0]["alive"])
        self.assertEqual(mine[0]["version"], version)
        self.assertEqual(mine[0]["pid"], self.daemon.pid)
        text = self.ok("b", "hosts").stdout
        line = next(l for l in text.splitlines() if l.startswith(self.host_name))
        self.assertIn("alive", line)
        self.assertIn(version, line)

    def test_show_and_list_json_have_the_host_the_request_was_made_on(self):
        rid = self.request("a", "note")
        self.assertEqual(self.show(rid)["host"], self.host_name)
        listed = json.loads(self.ok("a", "list", "--json").stdout)
        rows = listed if isinstance(listed, list) else listed["requests"]
        self.assertEqual([r["host"] for r in rows if r["id"] == rid], [self.host_name])

    def test_escalate_and_deescalate_events_record_the_host_that_ran_them(self):
        rid = self.request("a", "db", "orders", duration="1h")
        self.ok("c", "approve", rid)
        self.wait_state(rid, "active")
        self.ok("c", "revoke", rid, "--reason", "done")
        req = self.wait_state(rid, "ended")
        ran = {e["type"]: e["data"].get("host") for e in req["events"] if e["type"] in ("escalate", "deescalate")}
        self.assertEqual(ran, {"escalate": self.host_name, "deescalate": self.host_name})

    def test_a_target_pinned_to_another_host_waits_for_that_host(self):
        rid = self.request("a", "db", "remote", duration="1h")
        self.ok("c", "approve", rid)
        # Any daemon may start the escalation (a decision); only the pinned host's daemon runs the strategy.
        self.wait_state(rid, "escalating")
        deadline = time.time() + 10
        while True:
            other = [h for h in self.hosts("b")["hosts"] if h["host"] == self.other_host]
            if other and other[0]["waiting"] >= 1:
                break
            self.assertLess(time.time(), deadline, f"{self.other_host} never showed its waiting step: {other}")
            time.sleep(0.2)
        self.assertEqual((other[0]["alive"], other[0]["last_seen"], other[0]["version"]), (False, None, None))
        # Several loop passes later it still waits, and no escalation ran here.
        time.sleep(1.5)
        self.assertEqual(self.show(rid)["state"], "escalating")
        self.assertEqual(self.strategy_log(rid), [])
        text = self.ok("a", "hosts").stdout
        self.assertIn("never", next(l for l in text.splitlines() if l.startswith(self.other_host)))

    def test_hosts_is_69_when_the_daemon_is_down(self):
        self.stop_daemon()
        self.assert_refused(self.run_as("a", "hosts"), 69)

    def test_config_check_refuses_a_bad_host_name_or_runs_on_with_65_naming_each(self):
        cfg = json.loads(self.config_text().split("\n", 1)[1])
        cfg["host_name"] = "not a host"
        cfg["strategies"][0]["targets"][0]["runs_on"] = "no_such_place!"
        path = os.path.join(self.dir, "bad-hosts.json5")
        with open(path, "w") as f:
            json.dump(cfg, f)
        os.chmod(path, 0o644)
        r = self.run_as("a", "config", "check", path, config=False)
        self.assertEqual(r.returncode, 65, r.stderr)
        self.assertIn("host_name", r.stdout + r.stderr)
        self.assertIn("strategies[0].targets[0].runs_on", r.stdout + r.stderr)
