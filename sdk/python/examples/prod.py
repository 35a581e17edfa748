"""Handlers for the `prod-access` flow.

Config:  implementation: "/etc/symtui/impl/prod.py", vars: { team: "sre", approver_group: "oncall" }
Try it:  symtui handlers test prod-access on_request --event sample-request.json
"""

import datetime
import grp
import sys

from symtui_sdk import approve, deny, hook, ignore, prefetch, reducer

# Targets that only a DBA may approve.
DATABASE_TARGETS = {"orders-rw", "billing-rw"}


def members(group):
    """The users listed as members of a Unix group (empty if the group does not exist)."""
    try:
        return set(grp.getgrnam(group).gr_mem)
    except KeyError:
        return set()


@reducer
def get_approvers(event):
    # Who may decide: the flow's approver group, plus the DBAs for database targets.
    groups = [event.flow.vars.get("approver_group", "oncall")]
    if event.target is not None and event.target.name in DATABASE_TARGETS:
        groups.append("dba")
    return {"users": [], "groups": groups}


@prefetch("database")
def databases(event):
    # Options for the `database` prompt field (prefetch: true); plain values or {value, label}.
    return [
        {"value": "orders", "label": "orders (primary)"},
        {"value": "billing", "label": "billing"},
    ]


@hook
def on_request(event):
    reason = event.fields.get("reason", "")
    if len(reason.strip()) < 10:
        return deny("Please say why in at least 10 characters.")
    # People on call get short access without waiting for anyone.
    if event.fields.get("duration") == "15m" and event.user.username in members("oncall"):
        return approve("on call: 15 minutes auto-approved")
    # Returning nothing continues: the request goes to the approvers.


@hook
def on_approve(event):
    if event.target is not None and event.target.name in DATABASE_TARGETS and event.user not in members("dba"):
        # ignore() blocks this approval and tells the approver; the request stays pending.
        return ignore("Only members of dba may approve database access.")
    weekday = datetime.datetime.now(datetime.timezone.utc).weekday()
    if weekday >= 5 and "weekend" not in event.fields.get("reason", "").lower():
        return ignore("Weekend access needs the word 'weekend' in the reason.")


@hook
def after_approve(event):
    # print() goes to stderr, which the handler's audit event keeps (stderr_tail).
    print("%s approved %s for %s (team %s)" % (
        event.get_actor("approve"), event.target.label, event.request.requester, event.flow.vars.get("team")))


@hook
def after_escalate(event):
    sys.stderr.write("access active until %s\n" % event.request.access_expires_at)
