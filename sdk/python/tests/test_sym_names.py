"""Sym-style handler files (written for these tests) run through the SymTUI runner as their Sym meaning says."""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

SDK = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(os.path.dirname(SDK))
sys.path.insert(0, SDK)

import symtui_sdk  # noqa: E402
from symtui_sdk import Event  # noqa: E402
from symtui_sdk.run import answer  # noqa: E402
from sym.sdk.exceptions import SymException  # noqa: E402
from sym.sdk.field_option import FieldOption  # noqa: E402
from sym.sdk.integrations import slack  # noqa: E402
from sym.sdk.request_permission import PermissionLevel, RequestPermission  # noqa: E402

EVENT = {
    "name": "request", "handler": "on_request", "time": "2026-12-01T10:00:00Z", "user": "bob",
    "fields": {"reason": "INC-7 database is down", "urgency": "Emergency"},
    "flow": {"name": "db-access", "label": "DB access", "approval_only": False, "vars": {"approvers": "carol,dave"}},
    "target": {"name": "orders", "label": "orders DB", "settings": {"role": "orders_rw"}},
    "request": {"id": 7, "flow": "db-access", "state": "pending", "requester": "bob", "approvals": [],
                "denial": None, "fields": {"reason": "INC-7 database is down"}},
    "approvals": [], "actors": {"request": "bob"},
    "emails": {"bob": "bob@corp.example"},
}


def run_sym(body, handler, event=EVENT):
    """Writes a Sym-style impl.py and runs one handler of it as the daemon does: (exit, answer or None, stderr)."""
    handle = tempfile.NamedTemporaryFile("w", suffix=".py", delete=False)
    handle.write(textwrap.dedent(body))
    handle.close()
    try:
        request = json.dumps({"protocol": 1, "handler": handler, "event": event})
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONPATH": SDK, "PYTHONDONTWRITEBYTECODE": "1"}
        done = subprocess.run([sys.executable, "-m", "symtui_sdk.run", handle.name], input=request,
                              capture_output=True, text=True, env=env, cwd="/", timeout=60)
    finally:
        os.unlink(handle.name)
    out = json.loads(done.stdout) if done.returncode == 0 else None
    return done.returncode, out, done.stderr


class SymHandlerFileTests(unittest.TestCase):
    def test_on_request_auto_approves_an_emergency_with_approval_template(self):
        code, out, err = run_sym("""
            from sym.sdk.annotations import hook
            from sym.sdk.templates import ApprovalTemplate

            @hook
            def on_request(event):
                if event.payload.fields.get("urgency") == "Emergency":
                    return ApprovalTemplate.approve(reason="emergency: approved without waiting")
            """, "on_request")
        self.assertEqual((code, out), (0, {"result": "approve", "reason": "emergency: approved without waiting"}), err)

    def test_get_approvers_with_slack_users_names_the_approvers(self):
        code, out, err = run_sym("""
            from sym.sdk.annotations import reducer
            from sym.sdk.integrations import slack

            @reducer
            def get_approvers(event):
                names = event.flow.vars["approvers"].split(",")
                return slack.group([slack.mention(n)[1:] for n in names])
            """, "get_approvers")
        self.assertEqual(out, {"result": "approvers", "users": ["carol", "dave"], "groups": []}, err)

    def test_get_permissions_reducer_answers_who_may_approve(self):
        code, out, err = run_sym("""
            from sym.sdk.annotations import reducer
            from sym.sdk.request_permission import PermissionLevel, RequestPermission
            from sym.sdk.user import user_ids

            @reducer
            def get_permissions(event):
                return RequestPermission(webapp_view=PermissionLevel.MEMBER,
                                         approve_deny=user_ids(["carol", "@dave"]), allow_self_approval=False)
            """, "get_approvers")
        self.assertEqual(out, {"result": "approvers", "users": ["carol", "dave"], "groups": []}, err)

    def test_ignore_blocks_an_approval_with_its_message(self):
        event = dict(EVENT, name="approve", handler="on_approve", user="bob")
        code, out, err = run_sym("""
            from sym.sdk.annotations import hook
            from sym.sdk.templates import ApprovalTemplate

            @hook
            def on_approve(event):
                if event.get_actor("request") == event.user:
                    return ApprovalTemplate.ignore(message="You cannot approve your own request.")
            """, "on_approve", event)
        self.assertEqual(out, {"result": "ignore", "message": "You cannot approve your own request."}, err)

    def test_deny_without_a_reason_still_gives_the_requester_one(self):
        code, out, err = run_sym("""
            from sym.sdk.annotations import hook
            from sym.sdk.templates import ApprovalTemplate

            @hook
            def on_request(event):
                return ApprovalTemplate.deny()
            """, "on_request")
        self.assertEqual(out["result"], "deny", err)
        self.assertTrue(out["reason"])

    def test_prefetch_with_field_options_answers_value_label_pairs(self):
        event = dict(EVENT, name="prefetch", handler="prefetch:database")
        code, out, err = run_sym("""
            from sym.sdk.annotations import prefetch
            from sym.sdk.field_option import FieldOption

            @prefetch(field_name="database")
            def get_databases(event):
                return [FieldOption(value="orders", label="Orders (primary)"), FieldOption(value=2, label="Billing")]
            """, "prefetch:database", event)
        self.assertEqual(out, {"result": "options", "options": [{"value": "orders", "label": "Orders (primary)"},
                                                                {"value": 2, "label": "Billing"}]}, err)

    def test_step_output_after_escalate_reads_what_the_strategy_answered(self):
        event = dict(EVENT, name="escalate", handler="after_escalate",
                     request=dict(EVENT["request"], state="active"),
                     step_output={"body": {"message": "role orders_rw granted"}, "errors": []})
        code, out, err = run_sym("""
            import sys
            from sym.sdk.annotations import hook
            from sym.sdk.templates import get_step_output

            @hook
            def after_escalate(event):
                output = get_step_output()
                sys.stderr.write("escalated: %s; errors: %d\\n" % (output.payload["body"]["message"], len(output.errors)))
            """, "after_escalate", event)
        self.assertEqual(out, {"result": "none"}, err)
        self.assertIn("escalated: role orders_rw granted; errors: 0", err)

    def test_an_unsupported_integration_fails_closed_with_its_message(self):
        code, out, err = run_sym("""
            from sym.sdk.annotations import hook
            from sym.sdk.integrations import aws_lambda
            from sym.sdk.templates import ApprovalTemplate

            @hook
            def on_request(event):
                aws_lambda.invoke("arn:aws:lambda:us-east-1:1:function:check", {"user": event.user.email})
                return ApprovalTemplate.approve()
            """, "on_request")
        self.assertEqual((code, out), (1, None))
        self.assertIn("aws_lambda.invoke has no local meaning in SymTUI: use a command strategy or a handler",
                      err.strip().splitlines()[-1])

    def test_pagerduty_on_call_fails_closed_until_schedules_exist(self):
        code, out, err = run_sym("""
            from sym.sdk.annotations import hook
            from sym.sdk.integrations import pagerduty
            from sym.sdk.templates import ApprovalTemplate

            @hook
            def on_request(event):
                if pagerduty.is_on_call(event.user, schedule_name="primary"):
                    return ApprovalTemplate.approve(reason="on call")
            """, "on_request")
        self.assertEqual(code, 1)
        self.assertIn("pagerduty.is_on_call: no on-call schedules are configured in this SymTUI", err)

    def test_pagerduty_answers_from_the_events_oncall_schedules(self):
        event = dict(EVENT, oncall={"primary": ["bob"], "secondary": ["carol"]})
        code, out, err = run_sym("""
            from sym.sdk.annotations import hook
            from sym.sdk.integrations import pagerduty
            from sym.sdk.templates import ApprovalTemplate

            @hook
            def on_request(event):
                if pagerduty.is_on_call(event.user, schedule_name="primary"):
                    names = [u.username for u in pagerduty.users_on_call()]
                    return ApprovalTemplate.approve(reason="on call with " + ",".join(names))
            """, "on_request", event)
        self.assertEqual(out, {"result": "approve", "reason": "on call with bob,carol"}, err)

    def test_pagerduty_schedule_ids_have_no_local_meaning(self):
        event = dict(EVENT, oncall={"primary": ["bob"]})
        code, out, err = run_sym("""
            from sym.sdk.annotations import hook
            from sym.sdk.integrations import pagerduty

            @hook
            def on_request(event):
                pagerduty.is_on_call(event.user, schedule_id="P123")
            """, "on_request", event)
        self.assertEqual(code, 1)
        self.assertIn("SymTUI names on-call schedules by schedule_name", err)

    def test_slack_send_message_to_a_channel_puts_the_message_in_the_answer(self):
        event = dict(EVENT, name="approve", handler="after_approve")
        code, out, err = run_sym("""
            from sym.sdk.annotations import hook
            from sym.sdk.integrations import slack

            @hook
            def after_approve(event):
                slack.send_message(slack.channel("#ops"), "approved: " + event.payload.fields["reason"])
            """, "after_approve", event)
        self.assertEqual(code, 0, err)
        self.assertEqual(out, {"result": "none", "messages": [{"channel": "ops", "text": "approved: INC-7 database is down"}]})

    def test_slack_send_message_to_a_user_and_a_group_names_each_user(self):
        event = dict(EVENT, name="approve", handler="after_approve")
        code, out, err = run_sym("""
            from sym.sdk.annotations import hook
            from sym.sdk.integrations import slack

            @hook
            def after_approve(event):
                slack.send_message(slack.user(event.user), "you are in")
                slack.send_message(slack.group(["carol", "@dave"]), "bob is in")
                slack.send_message("#audit", "noted")
            """, "after_approve", event)
        self.assertEqual(code, 0, err)
        self.assertEqual(out["messages"], [{"user": "bob", "text": "you are in"}, {"user": "carol", "text": "bob is in"},
                                           {"user": "dave", "text": "bob is in"}, {"channel": "audit", "text": "noted"}])

    def test_slack_send_message_beside_a_decision_keeps_the_decision(self):
        code, out, err = run_sym("""
            from sym.sdk.annotations import hook
            from sym.sdk.integrations import slack
            from sym.sdk.templates import ApprovalTemplate

            @hook
            def on_request(event):
                slack.send_message(slack.channel("ops"), "auto-approving an emergency")
                return ApprovalTemplate.approve(reason="emergency")
            """, "on_request")
        self.assertEqual(code, 0, err)
        self.assertEqual((out["result"], out["messages"]), ("approve", [{"channel": "ops", "text": "auto-approving an emergency"}]))

    def test_a_handler_that_fails_after_send_message_sends_nothing(self):
        code, out, err = run_sym("""
            from sym.sdk.annotations import hook
            from sym.sdk.integrations import slack

            @hook
            def on_request(event):
                slack.send_message(slack.channel("ops"), "about to fail")
                raise RuntimeError("boom")
            """, "on_request")
        self.assertEqual((code, out), (1, None))

    def test_slack_send_message_refuses_blocks_and_more_than_ten_messages(self):
        for body, words in [("slack.send_message(slack.channel('ops'), [{'type': 'section'}])", "must be a string"),
                            ("[slack.send_message(slack.channel('ops'), 'x') for _ in range(11)]", "at most 10 messages")]:
            code, out, err = run_sym("""
                from sym.sdk.annotations import hook
                from sym.sdk.integrations import slack

                @hook
                def on_request(event):
                    %s
                """ % body, "on_request")
            self.assertEqual(code, 1)
            self.assertIn(words, err)

    def test_a_sym_reducer_without_local_meaning_fails_at_load(self):
        code, out, err = run_sym("""
            from sym.sdk.annotations import reducer

            @reducer
            def get_request_notifications(event):
                return []
            """, "on_request")
        self.assertEqual(code, 1)
        self.assertIn("get_request_notifications has no local meaning in SymTUI", err)


class SymExampleTests(unittest.TestCase):
    EXAMPLE = os.path.join(SDK, "examples", "sym_style.py")

    def run_example(self, handler, event):
        with open(self.EXAMPLE, encoding="utf-8") as f:
            return run_sym(f.read(), handler, event)

    def test_example_routes_to_the_users_in_vars(self):
        event = dict(EVENT, handler="get_approvers")
        self.assertEqual(self.run_example("get_approvers", event)[1],
                         {"result": "approvers", "users": ["carol", "dave"], "groups": []})

    def test_example_auto_approves_emergencies(self):
        self.assertEqual(self.run_example("on_request", EVENT)[1]["result"], "approve")

    def test_example_prefetch_lists_databases(self):
        event = dict(EVENT, name="prefetch", handler="prefetch:database")
        self.assertEqual(len(self.run_example("prefetch:database", event)[1]["options"]), 2)

    def test_docs_show_the_sym_example_verbatim(self):
        with open(os.path.join(ROOT, "docs", "coming-from-sym.md"), encoding="utf-8") as f:
            docs = f.read()
        with open(self.EXAMPLE, encoding="utf-8") as f:
            self.assertIn(f.read(), docs, "docs/coming-from-sym.md must show examples/sym_style.py as it is")


class SymEventShapeTests(unittest.TestCase):
    def setUp(self):
        self.event = Event(EVENT)

    def test_payload_fields_are_the_prompt_fields(self):
        self.assertEqual(self.event.payload.fields["urgency"], "Emergency")

    def test_user_has_username_and_email(self):
        self.assertEqual((self.event.user.username, self.event.user.email), ("bob", "bob@corp.example"))

    def test_a_user_without_a_known_address_has_no_email(self):
        self.assertIsNone(Event(dict(EVENT, user="carol")).user.email)

    def test_flow_name_and_vars(self):
        self.assertEqual((self.event.flow.name, self.event.flow.vars["approvers"]), ("db-access", "carol,dave"))

    def test_event_type_is_the_step(self):
        self.assertEqual(self.event.event.type, "request")

    def test_get_actor_request_is_the_requester_with_email(self):
        self.assertEqual(self.event.get_actor("request").email, "bob@corp.example")


class SymAnswerTests(unittest.TestCase):
    def test_slack_channel_names_no_approvers(self):
        with self.assertRaisesRegex(SymException, "names no approvers"):
            answer("get_approvers", slack.channel("#sym-requests"))

    def test_fallback_uses_the_first_destination_with_a_local_meaning(self):
        value = slack.fallback(slack.channel("#missing"), slack.user("carol"))
        self.assertEqual(answer("get_approvers", value), {"result": "approvers", "users": ["carol"], "groups": []})

    def test_slack_user_by_address_is_refused(self):
        with self.assertRaises(SymException):
            slack.user("carol@corp.example")

    def test_permission_level_as_approvers_has_no_local_meaning(self):
        with self.assertRaises(SymException):
            answer("get_approvers", RequestPermission(webapp_view=PermissionLevel.ALL_USERS,
                                                      approve_deny=PermissionLevel.ALL_USERS))

    def test_field_option_label_is_at_most_55_characters(self):
        with self.assertRaises(SymException):
            FieldOption(value="x", label="y" * 56)

    def test_every_unsupported_integration_name_raises_sym_exception(self):
        import importlib
        for name in ("okta", "aws_lambda", "aws_iam", "aws_sso", "github", "google", "boundary", "onelogin",
                     "tailscale", "knowbe4"):
            module = importlib.import_module("sym.sdk.integrations." + name)
            for function in list(module.__all__) + ["some_future_call"]:
                with self.assertRaises(SymException, msg="%s.%s" % (name, function)) as raised:
                    getattr(module, function)("x")
                self.assertIn("%s.%s has no local meaning in SymTUI" % (name, function), str(raised.exception))


class SymRegistryTests(unittest.TestCase):
    def setUp(self):
        self.saved = dict(symtui_sdk._registry)
        symtui_sdk._registry.clear()

    def tearDown(self):
        symtui_sdk._registry.clear()
        symtui_sdk._registry.update(self.saved)

    def test_sym_prefetch_needs_field_name(self):
        from sym.sdk.annotations import prefetch
        with self.assertRaises(SymException):
            @prefetch
            def get_options(event):
                return []

    def test_sym_hook_with_an_unknown_name_is_a_sym_exception(self):
        from sym.sdk.annotations import hook
        with self.assertRaises(SymException):
            @hook
            def on_lunch(event):
                return None


if __name__ == "__main__":
    unittest.main()
