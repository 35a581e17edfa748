"""End-to-end console habits in tmux: the `:` command line, `s`/`S` sort, the regex `/` filter with `!`, and the
`--readonly` wallboard, against a real root daemon with the console run as throwaway users. Loaded by run.py."""

import os
import re
import subprocess
import time

from symtui_harness import ConsoleCase


class ConsoleCommandLineTests(ConsoleCase):
    """A requester (a) and an approver (b, in the approvers group)."""

    REQUESTERS = ["a"]
    APPROVERS = ["b"]

    def open_console(self, role, *flags, view="2"):
        self.start_console(role, *flags)
        self.tm.keys(role, view)
        text, t = self.tm.wait_for(role, lambda s: f"[{view} " in s)
        self.assertIsNotNone(t, f"view {view} did not open:\n{text}")

    @staticmethod
    def row_ids(text):
        """Request ids of the list rows, top to bottom (the details pane repeats one below the separator)."""
        body = text.split("── Details")[0]
        return [int(m.group(1)) for m in re.finditer(r"^[ ▸][ ●]\s+#(\d+)\b", body, re.M)]

    def test_colon_approve_with_a_reason_approves_for_real(self):
        rid = self.request("a", "db", "orders", duration="1h", reason="approve me from the command line")
        self.open_console("b")
        text, t = self.tm.wait_for("b", lambda s: rid in self.row_ids(s), timeout=3)
        self.assertIsNotNone(t, f"#{rid} not in b's Review:\n{text}")
        self.tm.keys("b", ":")
        self.tm.type("b", f"approve {rid} looks right")
        self.tm.keys("b", "Enter")
        self.wait_state(rid, ["active"], timeout=5)
        req = self.show(rid)
        self.assertEqual([(a["user"], a["reason"]) for a in req["approvals"]], [(self.users["b"], "looks right")])

    def test_colon_deny_without_a_reason_is_refused_on_the_line(self):
        rid = self.request("a", "note", reason="deny me")
        self.open_console("b")
        self.tm.wait_for("b", lambda s: rid in self.row_ids(s), timeout=3)
        self.tm.keys("b", ":")
        self.tm.type("b", f"deny {rid}")
        self.tm.keys("b", "Enter")
        text, t = self.tm.wait_for("b", lambda s: "deny needs a reason" in s, timeout=3)
        self.assertIsNotNone(t, f"no error on the command line:\n{text}")
        time.sleep(0.3)
        self.assertEqual(self.show(rid)["state"], "pending")

    def test_s_sorts_the_review_list_and_S_reverses_it(self):
        # Made oldest first: note (x2), db, selfnote. Newest first they read 4 3 2 1; by flow: db, note, note, selfnote.
        ids = [self.request("a", "note", reason="one"), self.request("a", "note", reason="two"),
               self.request("a", "db", "orders", duration="1h", reason="three"), self.request("a", "selfnote", reason="four")]
        self.open_console("b")
        text, t = self.tm.wait_for("b", lambda s: self.row_ids(s) == ids[::-1], timeout=3)
        self.assertIsNotNone(t, f"the queue is not newest first:\n{text}")
        by_flow = [ids[2], ids[1], ids[0], ids[3]]
        self.tm.keys("b", "s", "s", "s")          # id → requester → flow
        text, t = self.tm.wait_for("b", lambda s: "Flow ▲" in s and self.row_ids(s) == by_flow, timeout=3)
        self.assertIsNotNone(t, f"s s s did not sort by flow:\n{text}")
        self.tm.keys("b", "S")
        # Reversed by flow; requests of one flow stay newest first.
        reversed_flow = [ids[3], ids[1], ids[0], ids[2]]
        text, t = self.tm.wait_for("b", lambda s: "Flow ▼" in s and self.row_ids(s) == reversed_flow, timeout=3)
        self.assertIsNotNone(t, f"S did not reverse the flow order:\n{text}")

    def test_slash_takes_a_regex_and_bang_inverts_it(self):
        keep = self.request("a", "db", "orders", duration="1h", reason="regex")
        other = self.request("a", "note", reason="regex")
        self.open_console("b")
        self.tm.wait_for("b", lambda s: self.row_ids(s) == [other, keep], timeout=3)
        self.tm.keys("b", "/")
        self.tm.type("b", "^d.$")
        self.tm.keys("b", "Enter")
        text, t = self.tm.wait_for("b", lambda s: self.row_ids(s) == [keep], timeout=3)
        self.assertIsNotNone(t, f"/^d.$ does not keep only the db request:\n{text}")
        # The match is highlighted: the row (not only the underlined header) carries an underline (SGR 4).
        row = [l for l in self.tm.screen("b", escapes=True).split("\n") if f"#{keep}" in l][0]
        self.assertRegex(row, r"\x1b\[(?:[0-9;]*;)?4(?:;[0-9;]*)?m", f"no underlined match in the row: {row!r}")
        # The / line edits the old filter: clear it with Backspace and type the inverted one.
        self.tm.keys("b", "/")
        for _ in range(6):
            self.tm.keys("b", "BSpace")
        self.tm.type("b", "!^d.$")
        self.tm.keys("b", "Enter")
        text, t = self.tm.wait_for("b", lambda s: self.row_ids(s) == [other], timeout=3)
        self.assertIsNotNone(t, f"/!^d.$ does not keep only the note request:\n{text}")

    def test_an_invalid_regex_keeps_the_old_filter(self):
        self.request("a", "note", reason="regex")
        self.open_console("b")
        self.tm.keys("b", "/")
        self.tm.type("b", "(")
        text, t = self.tm.wait_for("b", lambda s: "invalid regular expression" in s, timeout=3)
        self.assertIsNotNone(t, f"no error for an invalid regex:\n{text}")

    def test_readonly_console_sends_nothing_to_the_daemon(self):
        # A daemon that logs every change it makes, and who made it.
        self.stop_daemon()
        self.start_daemon(args=["--log-level", "debug"])
        rid = self.request("a", "db", "orders", duration="1h", reason="wallboard")
        events = self.event_count()
        with open(self.daemon_log, errors="replace") as f:
            logged = len(f.read())
        self.open_console("b", "--readonly")
        text, t = self.tm.wait_for("b", lambda s: "READ-ONLY" in s.split("\n")[0] and rid in self.row_ids(s), timeout=3)
        self.assertIsNotNone(t, f"no READ-ONLY banner or no row:\n{text}")
        self.tm.keys("b", "a")
        text, t = self.tm.wait_for("b", lambda s: "read-only console" in s, timeout=3)
        self.assertIsNotNone(t, f"`a` was not refused locally:\n{text}")
        self.tm.keys("b", "Enter")
        self.tm.type("b", "fine")
        self.tm.keys("b", "Enter", "d")
        self.tm.keys("b", ":")
        self.tm.type("b", f"approve {rid} from the wallboard")
        self.tm.keys("b", "Enter")
        text, t = self.tm.wait_for("b", lambda s: "read-only console" in s, timeout=3)
        self.assertIsNotNone(t, f":approve was not refused locally:\n{text}")
        self.tm.keys("b", "Escape", "s", "/")     # navigation, sort and filter still work
        self.tm.type("b", "wall")
        self.tm.keys("b", "Enter", "1", "Enter")   # the Request view's form is an action too
        time.sleep(1.0)
        req = self.show(rid)
        self.assertEqual((req["state"], req["approvals"]), ("pending", []))
        self.assertEqual(self.event_count(), events, "the read-only console changed the audit log")
        with open(self.daemon_log, errors="replace") as f:
            later = f.read()[logged:]
        self.assertNotIn(self.users["b"] + ":", later, f"the daemon logged a change by the wallboard:\n{later}")

    def test_a_console_key_bound_twice_is_refused_when_the_config_loads(self):
        with open(self.config) as f:
            text = f.read()
        bad = os.path.join(self.dir, "bad-keys.json5")
        with open(bad, "w") as f:
            f.write(text.rstrip().rstrip("}") + ', "console": {"keys": {"approve": "d"}}\n}\n')
        r = subprocess.run([self.bin, "--config", bad, "config", "check"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 65, r.stdout + r.stderr)
        self.assertIn("console.keys.approve", r.stdout + r.stderr)
        self.assertIn("key 'd' is bound twice (approve and deny)", r.stdout + r.stderr)
