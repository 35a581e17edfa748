"""Sym's `pagerduty` integration. Its local meaning is SymTUI's on-call schedules.

The answer comes from the event: key `oncall`, an object {schedule name: [user names on call now]}, which the
daemon gives handlers once on-call schedules are configured. This SymTUI has no on-call schedules yet, so the
event carries no `oncall` and `is_on_call`/`users_on_call` raise SymException: a handler that asks fails
closed instead of guessing. Every other call has no local meaning.
"""

import symtui_sdk

from sym.sdk.exceptions import PagerDutyError, SymException, not_configured
from sym.sdk.integrations._unsupported import install
from sym.sdk.user import User, username_of

WHAT = "on-call schedules"


def _schedules(call, schedule_id, escalation_policy_name, escalation_policy_id):
    if schedule_id is not None or escalation_policy_name is not None or escalation_policy_id is not None:
        raise SymException("%s: SymTUI names on-call schedules by schedule_name; ids and escalation policies "
                           "have no local meaning" % call)
    event = symtui_sdk.current_event()
    oncall = event.raw.get("oncall") if event is not None else None
    if not isinstance(oncall, dict):
        raise not_configured(call, WHAT, PagerDutyError)
    return oncall


def _on_call(call, oncall, schedule_name):
    if schedule_name is None:
        names = []
        for users in oncall.values():
            names += [u for u in users if u not in names]
        return names
    if schedule_name not in oncall:
        raise PagerDutyError("%s: there is no on-call schedule named %r" % (call, schedule_name))
    return list(oncall[schedule_name])


def is_on_call(user, schedule_name=None, schedule_id=None, escalation_policy_name=None, escalation_policy_id=None):
    """Whether `user` is on call now in the named schedule (in any schedule when none is named)."""
    call = "pagerduty.is_on_call"
    oncall = _schedules(call, schedule_id, escalation_policy_name, escalation_policy_id)
    return username_of(user, call) in _on_call(call, oncall, schedule_name)


def users_on_call(schedule_name=None, schedule_id=None, escalation_policy_name=None, escalation_policy_id=None):
    """The users on call now in the named schedule (in every schedule when none is named)."""
    call = "pagerduty.users_on_call"
    oncall = _schedules(call, schedule_id, escalation_policy_name, escalation_policy_id)
    return [User(name) for name in _on_call(call, oncall, schedule_name)]


install(__name__, "pagerduty", (), PagerDutyError)
__all__ = ["is_on_call", "users_on_call"]
