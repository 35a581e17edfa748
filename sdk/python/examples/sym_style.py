"""A Sym-style implementation file: Sym's module names, run by SymTUI unmodified.

Config:  { name: "db-access", strategy: "db", implementation: "/etc/symtui/impl/db.py",
           vars: { approvers: "carol,dave" },
           prompt_fields: [ { name: "reason", type: "string" },
                            { name: "urgency", type: "string", allowed_values: ["Normal", "Emergency"] },
                            { name: "database", type: "string", prefetch: true } ] }
"""

import sys

from sym.sdk.annotations import hook, prefetch, reducer
from sym.sdk.field_option import FieldOption
from sym.sdk.integrations import slack
from sym.sdk.templates import ApprovalTemplate, get_step_output


@reducer
def get_approvers(event):
    # In Sym a group DM; in SymTUI these users may approve (they see the request in their console).
    return slack.group(event.flow.vars["approvers"].split(","))


@prefetch(field_name="database")
def get_databases(event):
    return [FieldOption(value="orders", label="Orders (primary)"), FieldOption(value="billing", label="Billing")]


@hook
def on_request(event):
    if event.payload.fields.get("urgency") == "Emergency":
        return ApprovalTemplate.approve(reason="emergency: approved without waiting")


@hook
def on_approve(event):
    if event.user.username == event.get_actor("request").username:
        return ApprovalTemplate.ignore(message="Ask someone else to approve your request.")


@hook
def after_escalate(event):
    # What the strategy printed as JSON when it granted access.
    output = get_step_output()
    sys.stderr.write("granted: %s\n" % output.payload)
