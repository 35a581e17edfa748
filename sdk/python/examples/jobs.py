"""Handlers for the approval-only `run-reindex` flow: once approved, run the maintenance job.

Config:  { name: "run-reindex", approvers: { groups: ["dba"] }, handler_timeout: "30m",
           implementation: "/etc/symtui/impl/jobs.py" }
"""

import subprocess

from symtui_sdk import deny, hook

# An argv list, never a shell string: field values can never become shell syntax.
REINDEX = ["/usr/local/sbin/reindex", "--all-tables"]


@hook
def on_request(event):
    if not event.fields.get("reason"):
        return deny("Say which incident or ticket this is for.")


@hook
def after_approve(event):
    argv = REINDEX + ["--requested-by", event.request.requester, "--approved-by", event.get_actor("approve")]
    # Capture the job's output: the handler's real stdout (fd 1) carries the answer to SymTUI, and a child
    # process that inherited it would corrupt that answer.
    job = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=25 * 60)
    print(job.stdout[-2000:])  # goes to stderr: kept in the audit event's stderr_tail
    if job.returncode != 0:
        # The approval stands (after_* cannot undo it); the failure is recorded in the handler event.
        raise RuntimeError("reindex failed with exit %d: %s" % (job.returncode, job.stderr[-500:]))
