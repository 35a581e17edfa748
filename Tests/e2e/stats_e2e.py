"""End-to-end: `symtui report` over a real root daemon, the console's Stats view (key 6) and the mouse in tmux
(clicks sent as the terminal's own X10 mouse reports, the protocol tmux-256color's kmous names). Loaded by run.py."""

import json
import os
import re
import shutil
import time

from symtui_harness import ConsoleCase, SymtuiCase as E2ECase


class ReportTests(E2ECase):
    """`symtui report` (text and --json) as an ordinary user, from the daemon's read."""

    REQUESTERS = ["a"]
    APPROVERS = ["b"]

    def setUp(self):
        # A fresh store per test: each counts only its own requests.
        shutil.rmtree(os.path.dirname(self.store), ignore_errors=True)
        super().setUp()

    def test_report_json_counts_what_happened_to_real_requests(self):
        ids = [self.request("a", "note", reason=f"report {i}") for i in range(3)]
        self.ok("b", "approve", ids[0], "--reason", "ok")
        self.ok("b", "approve", ids[1], "--reason", "ok")
        self.ok("b", "deny", ids[2], "--reason", "no")
        r = json.loads(self.ok("a", "report", "--json").stdout)
        self.assertEqual(sorted(r), ["days", "flows", "since", "total", "until"])
        note = [f for f in r["flows"] if f["flow"] == "note"]
        self.assertEqual(len(note), 1, r["flows"])
        self.assertEqual((note[0]["requests"], note[0]["approved"], note[0]["denied"], note[0]["break_glass"]), (3, 2, 1, 0))
        self.assertIsNotNone(note[0]["approval_seconds"]["median"])
        self.assertGreaterEqual(note[0]["approval_seconds"]["p90"], note[0]["approval_seconds"]["median"])
        self.assertEqual(r["total"]["requests"], 3)
        self.assertEqual(len(r["days"]), 31, "30 days back from now touch 31 UTC dates")
        self.assertEqual(r["days"][-1]["requests"], 3)

    def test_report_text_is_a_table_per_flow_and_per_day(self):
        self.request("a", "note", reason="one")
        out = self.ok("a", "report", "--since", "2d").stdout
        self.assertRegex(out, r"(?m)^flow\s+requests\s+approved\s+denied")
        self.assertRegex(out, r"(?m)^note(\s+\d+){8}\s")
        self.assertRegex(out, r"(?m)^all flows(\s+\d+){8}\s")
        self.assertEqual(len(re.findall(r"(?m)^\d{4}-\d{2}-\d{2}\s+\d+\s+\d+$", out)), 3, out)

    def test_root_reads_the_report_from_the_file_while_the_daemon_is_down_and_users_get_69(self):
        self.request("a", "note", reason="while down")
        through_daemon = json.loads(self.ok("a", "report", "--json").stdout)
        self.assertEqual(self.stop_daemon(), 0)
        r = self.run_as("a", "report")
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertIn("not running", r.stderr)
        direct = json.loads(self.ok(None, "report", "--json").stdout)
        self.assertEqual(direct["total"], through_daemon["total"], "the file read directly gives the daemon's figures")
        self.assertEqual(direct["flows"], through_daemon["flows"])

    def test_a_bad_since_is_a_usage_error_that_says_what_it_takes(self):
        for bad in ["yesterday", "2026-02-30", "9999d"]:
            r = self.run_as("a", "report", "--since", bad)
            self.assertEqual(r.returncode, 64, f"{bad}: {r.stderr}")
            self.assertIn("--since", r.stderr)


class StatsConsoleTests(ConsoleCase):
    """View 6 and the mouse, in tmux, over the real daemon: a requester (a) and an approver (b)."""

    REQUESTERS = ["a"]
    APPROVERS = ["b"]

    def open_console(self, role, *flags):
        self.start_console(role, *flags)

    def click(self, role, row, col):
        """A left press and release at a 0-based cell, as an xterm in X10 mouse mode reports it."""
        for button in (0, 3):
            self.tm.keys(role, "-H", *(f"{b:02x}" for b in [0x1B, ord("["), ord("M"), 32 + button, 33 + col, 33 + row]))

    def mouse_mode(self, role):
        """Whether the console asked the terminal for mouse reports (tmux knows the pane's mode)."""
        return self.tm.tmux("display-message", "-p", "-t", self.tm.target(role), "#{mouse_any_flag}#{mouse_standard_flag}").stdout.strip()

    def selected_line(self, text):
        return next((l for l in text.split("\n") if l.startswith("▸")), "")

    def review_rows(self, role, count):
        text, t = self.tm.wait_for(role, lambda s: len(re.findall(r"(?m)^.\s+#\d+\s", s)) >= count, timeout=5)
        self.assertIsNotNone(t, f"{count} review rows did not show:\n{text}")
        return text

    def test_key_6_shows_the_stats_of_real_requests(self):
        ids = [self.request("a", "note", reason=f"stats {i}") for i in range(3)]
        self.ok("b", "approve", ids[0], "--reason", "ok")
        self.ok("b", "deny", ids[1], "--reason", "no")
        self.open_console("b")
        self.tm.keys("b", "6")
        # The per-day line may come a frame after the table (its own read): wait for both.
        per_day = r"Requests per day\s+[▁▂▃▄▅▆▇█]+\s+max 3"
        text, t = self.tm.wait_for("b", lambda s: "[6 Stats]" in s and re.search(r"(?m)^ all flows\s+3\s+1\s+1\b", s)
                                   and re.search(per_day, s), timeout=5)
        self.assertIsNotNone(t, f"the Stats view does not count the three requests:\n{text}")
        self.assertRegex(text, r"(?m)^ note\s+3\s+1\s+1\b")
        self.assertRegex(text, per_day)
        # A new request shows without a key press (the change feed, at most every few seconds).
        self.request("a", "note", reason="one more")
        text, t = self.tm.wait_for("b", lambda s: re.search(r"(?m)^ all flows\s+4\b", s), timeout=10)
        self.assertIsNotNone(t, f"the Stats view did not follow the new request:\n{text}")
        self.note = f"followed the change in {t:.1f} s"

    def test_a_click_selects_a_row_and_a_click_on_a_tab_switches_view(self):
        for i in range(3):
            self.request("a", "note", reason=f"click {i}")
        self.open_console("b")            # something waits: it opens on Review
        text = self.review_rows("b", 3)
        self.assertIn("1", self.mouse_mode("b"), "the console turns the terminal's mouse reports on")
        lines = text.split("\n")
        third = lines[4]                  # tabs, column header, then the rows: the third row is screen row 4
        rid = re.search(r"#(\d+)", third).group(1)
        self.assertNotIn(f"#{rid}", self.selected_line(text), "the first row is selected before the click")
        self.click("b", 4, 20)
        text, t = self.tm.wait_for("b", lambda s: f"#{rid}" in self.selected_line(s), timeout=3)
        self.assertIsNotNone(t, f"a click on row 4 did not select #{rid}:\n{text}")
        col = lines[0].index("5 Audit")
        self.click("b", 0, col + 2)
        text, t = self.tm.wait_for("b", lambda s: "[5 Audit]" in s.split("\n")[0], timeout=3)
        self.assertIsNotNone(t, f"a click on the Audit tab did not switch to it:\n{text}")
        self.tm.keys("b", "-H", *(f"{b:02x}" for b in [0x1B, ord("["), ord("M"), 32 + 65, 33 + 10, 33 + 10]))  # wheel down
        self.tm.keys("b", "2")
        text, t = self.tm.wait_for("b", lambda s: "[2 Review" in s.split("\n")[0], timeout=3)
        self.assertIsNotNone(t, f"keys still work after the mouse:\n{text}")

    def test_no_mouse_leaves_clicks_to_the_terminal(self):
        for i in range(3):
            self.request("a", "note", reason=f"no mouse {i}")
        self.open_console("b", "--no-mouse")
        text = self.review_rows("b", 3)
        self.assertEqual(self.mouse_mode("b"), "00", "--no-mouse leaves the terminal's mouse reports off")
        # The selected row's id: its age and countdown cells tick on their own.
        before = self.selected_line(text).split()[1]
        col = text.split("\n")[0].index("5 Audit")
        # Reports sent anyway arrive as plain bytes: coordinates whose bytes are no key of the console ('+', '%', '[').
        self.click("b", 4, 10)
        self.click("b", 0, col + 2)
        time.sleep(1.0)
        text = self.tm.screen("b")
        self.assertIn("[2 Review", text.split("\n")[0], f"the tab click was not ignored:\n{text}")
        self.assertEqual(self.selected_line(text).split()[1], before, f"the row click was not ignored:\n{text}")
        self.tm.keys("b", "5")
        text, t = self.tm.wait_for("b", lambda s: "[5 Audit]" in s.split("\n")[0], timeout=3)
        self.assertIsNotNone(t, f"the console stopped answering keys:\n{text}")
