"""Approval-only: the freeze override goes to the release managers."""

from sym.sdk.annotations import reducer
from sym.sdk.request_permission import PermissionLevel, RequestPermission


@reducer
def get_permissions(event):
    return RequestPermission(webapp_view=PermissionLevel.MEMBER, approve_deny=["carol", "erin"])
