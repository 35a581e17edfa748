"""Sym's approval template: `ApprovalTemplate.approve/deny/ignore` and `get_step_output`."""

import symtui_sdk

from sym.sdk.exceptions import SymException

__all__ = ["ApprovalTemplate", "StepOutput", "get_step_output"]


class ApprovalTemplate(object):
    """The steps an `on_*` hook may move a request to (Sym's sym:approval template)."""

    @staticmethod
    def approve(reason=None):
        """Approve now (on_request) or let this approval stand (on_approve)."""
        return symtui_sdk.approve(reason)

    @staticmethod
    def deny(reason=None):
        """Deny, with a reason the requester sees."""
        return symtui_sdk.deny(reason if reason is not None else "denied by the flow's handler")

    @staticmethod
    def ignore(message=None):
        """Block the action that triggered the hook and tell its actor why; the request is unchanged."""
        return symtui_sdk.ignore(message if message is not None else "blocked by the flow's handler")


class StepOutput(object):
    """What a step's strategy answered: `.payload` (its JSON output, a dict) and `.errors` (a list of str).

    A `command` strategy's JSON on stdout (an `http` strategy's JSON answer) is its output. Sym's Lambda shape
    `{"body": {...}, "errors": [...]}` reads as is: `.payload["body"]`, `.errors`.
    """

    def __init__(self, step, payload):
        self.step = step
        self.payload = payload if isinstance(payload, dict) else ({} if payload is None else {"value": payload})
        errors = self.payload.get("errors")
        self.errors = [str(e) for e in errors] if isinstance(errors, list) else []

    def __getitem__(self, key):
        return self.payload[key]

    def get(self, key, default=None):
        return self.payload.get(key, default)

    def __repr__(self):
        return "StepOutput(%r, %r)" % (self.step, self.payload)


STEPS_WITH_OUTPUT = ("escalate",)


def get_step_output(step_name=None):
    """The output of `step_name` (default and only choice: "escalate") for the request being handled.

    Returns a StepOutput (empty payload when the strategy answered nothing); raises SymException outside a
    handler, for another step, or before access was granted.
    """
    step = step_name or "escalate"
    if step not in STEPS_WITH_OUTPUT:
        raise SymException("get_step_output(%r): only the escalate step has output in SymTUI" % step_name)
    event = symtui_sdk.current_event()
    if event is None:
        raise SymException("get_step_output() works only while a handler runs")
    if event.request.state not in ("escalating", "active", "deescalating", "ended"):
        raise SymException("get_step_output(): request %s has not been escalated" % event.request.id)
    return StepOutput(step, event.raw.get("step_output"))
