"""End-to-end: the console reads again only what a commit touches (the change feed names the changed requests and
the caller's review head), yet still shows every change that affects it. A real root daemon, consoles in tmux as
throwaway users. Loaded by run.py."""

import re

from symtui_harness import ConsoleCase


class ConsoleChangeFeedTests(ConsoleCase):
    """A requester (a) and two approvers (b watches the console, c decides from the CLI)."""

    REQUESTERS = ["a"]
    APPROVERS = ["b", "c"]

    def open_review(self, role, rows):
        self.start_console(role, rows=rows)
        self.tm.keys(role, "2")
        text, t = self.tm.wait_for(role, lambda s: "[2 Review" in s, timeout=3)
        self.assertIsNotNone(t, f"{role}'s console did not open Review:\n{text}")

    @staticmethod
    def status(text):
        return text.rstrip("\n").split("\n")[-1]

    @staticmethod
    def waiting(text):
        m = re.search(r"\b(\d+) (requests? waits? for you|waiting)\b", ConsoleChangeFeedTests.status(text))
        return int(m.group(1)) if m else None

    @staticmethod
    def shown_ids(text):
        """The request ids on screen, top to bottom, each once (the detail pane repeats the selected one)."""
        out = []
        for m in re.findall(r"#(\d+)\b", text):
            if int(m) not in out:
                out.append(int(m))
        return out

    def test_a_change_to_a_request_off_screen_updates_the_review_count(self):
        rids = [self.request("a", "note", reason=f"queue {i}") for i in range(20)]
        self.open_review("b", rows=24)
        text, t = self.tm.wait_for("b", lambda s: self.waiting(s) == 20, timeout=5)
        self.assertIsNotNone(t, f"b's console does not count 20 waiting:\n{text}")
        oldest = rids[0]
        self.assertNotIn(oldest, self.shown_ids(text), f"#{oldest} should be below the screen:\n{text}")
        shown = self.shown_ids(text)
        self.ok("a", "cancel", oldest)
        text, t = self.tm.wait_for("b", lambda s: self.waiting(s) == 19, timeout=3)
        self.assertIsNotNone(t, f"cancelling #{oldest} (off screen) did not update the count:\n{text}")
        self.assertEqual(self.shown_ids(text), shown, "the rows on screen did not change")

    def test_a_change_to_a_request_on_screen_updates_its_row(self):
        rids = [self.request("a", "note", reason=f"queue {i}") for i in range(3)]
        self.open_review("b", rows=30)
        text, t = self.tm.wait_for("b", lambda s: all(r in self.shown_ids(s) for r in rids), timeout=5)
        self.assertIsNotNone(t, f"b's Review does not show {rids}:\n{text}")
        self.ok("c", "approve", rids[1])
        text, t = self.tm.wait_for("b", lambda s: rids[1] not in self.shown_ids(s) and self.waiting(s) == 2, timeout=3)
        self.assertIsNotNone(t, f"#{rids[1]}, approved by c, is still in b's Review (or the count is not 2):\n{text}")
        self.assertEqual([r for r in self.shown_ids(text) if r in rids], [rids[2], rids[0]])

    def test_commits_that_touch_nothing_on_screen_are_not_read_but_the_next_one_that_does_is(self):
        # b's own requests are never in b's queue: commits to them touch nothing b's Review shows. After several,
        # a commit that does (c approves the one request b sees) still reaches b's screen.
        mine = [self.request("b", "note", reason=f"b's own {i}") for i in range(5)]
        self.open_review("b", rows=30)
        rid = self.request("a", "note", reason="for b")
        text, t = self.tm.wait_for("b", lambda s: rid in self.shown_ids(s), timeout=3)
        self.assertIsNotNone(t, f"#{rid} not in b's Review:\n{text}")
        for r in mine:
            self.ok("b", "cancel", r)   # b's own requests were never in b's queue
        self.ok("c", "approve", rid)
        text, t = self.tm.wait_for("b", lambda s: rid not in self.shown_ids(s), timeout=3)
        self.assertIsNotNone(t, f"#{rid}, approved by c after unrelated commits, is still in b's Review:\n{text}")

    def test_a_break_glass_approval_by_another_approver_is_announced_on_an_idle_console(self):
        # b's console sits idle (it reads the log for announcements only after a change line came); c's self-approval
        # is that change, and b is told within the 5-second look.
        self.open_review("b", rows=30)
        rid = self.request("c", "selfnote", reason="prod is down")
        self.ok("c", "approve", rid, "--reason", "incident 9")
        text, t = self.tm.wait_for("b", lambda s: "break-glass" in s and f"#{rid}" in s, timeout=12, interval=0.2)
        self.assertIsNotNone(t, f"b's console did not announce c's self-approval of #{rid}:\n{text}")
        self.assertIn("incident 9", text)
