"""Handlers of the okta-access flow: emergencies are approved at once, others go to the flow's approvers."""

from sym.sdk.annotations import hook, reducer
from sym.sdk.integrations import slack
from sym.sdk.templates import ApprovalTemplate


@reducer
def get_approvers(event):
    return slack.group(event.flow.vars["approver_users"].split(","))


@hook
def on_request(event):
    if event.payload.fields.get("urgency") == "Emergency":
        return ApprovalTemplate.approve(reason="emergency access")
