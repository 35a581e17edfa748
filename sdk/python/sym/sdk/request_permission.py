"""Sym's `RequestPermission` and `PermissionLevel`: what a `get_permissions` reducer returns (who may approve)."""

import enum

from sym.sdk.exceptions import SymException
from sym.sdk.user import username_of

__all__ = ["PermissionLevel", "RequestPermission"]


class PermissionLevel(str, enum.Enum):
    """Sym's account roles. SymTUI has no roles: a level as approve_deny has no local meaning (fails closed)."""

    ADMIN = "admin"
    MEMBER = "member"
    ALL_USERS = "all_users"


class RequestPermission(object):
    """Who may view and who may approve or deny a request.

    `approve_deny`: a list of users (User objects or user names) → they may approve or deny. A PermissionLevel
    has no local meaning. `webapp_view` is accepted and unused (there is no web app; who may see requests is
    SymTUI's own rule). Self-approval is decided by the flow's `allow_self_approval` in the config alone, so
    `allow_self_approval=True` here grants nothing by itself.
    """

    def __init__(self, webapp_view=None, approve_deny=None, allow_self_approval=False):
        self.webapp_view = webapp_view
        self.approve_deny = approve_deny
        self.allow_self_approval = bool(allow_self_approval)

    def _symtui_answer(self, handler):
        if handler != "get_approvers":
            raise SymException("RequestPermission is the answer of get_permissions, not of %s" % handler)
        if isinstance(self.approve_deny, PermissionLevel):
            raise SymException("RequestPermission(approve_deny=PermissionLevel.%s) has no local meaning in SymTUI: "
                               "SymTUI has no account roles; list the users who may approve" % self.approve_deny.name)
        if not isinstance(self.approve_deny, (list, tuple)):
            raise SymException("RequestPermission(approve_deny=...) must be a list of users, not %r" % (self.approve_deny,))
        users = [username_of(u, "RequestPermission(approve_deny)") for u in self.approve_deny]
        return {"users": users, "groups": []}

    def __repr__(self):
        return "RequestPermission(webapp_view=%r, approve_deny=%r, allow_self_approval=%r)" % (
            self.webapp_view, self.approve_deny, self.allow_self_approval)
