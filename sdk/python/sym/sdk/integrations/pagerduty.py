"""Sym's `pagerduty` integration. Its local meaning is SymTUI's on-call schedules (`oncall` in the config), which
this SymTUI does not have yet: `is_on_call` and `users_on_call` raise SymException until they land, so a handler
that asks fails closed instead of guessing. Every other call has no local meaning.
"""

from sym.sdk.exceptions import PagerDutyError, not_configured_yet
from sym.sdk.integrations._unsupported import install

__all__ = ["is_on_call", "users_on_call"]

WHAT = "on-call schedules"


def is_on_call(user, schedule_name=None, schedule_id=None, escalation_policy_name=None, escalation_policy_id=None):
    """Whether `user` is on call now in the named schedule (any schedule when none is named)."""
    raise not_configured_yet("pagerduty.is_on_call", WHAT, PagerDutyError)


def users_on_call(schedule_name=None, schedule_id=None, escalation_policy_name=None, escalation_policy_id=None):
    """The users on call now in the named schedule."""
    raise not_configured_yet("pagerduty.users_on_call", WHAT, PagerDutyError)


install(__name__, "pagerduty", (), PagerDutyError)
__all__ = ["is_on_call", "users_on_call"]
