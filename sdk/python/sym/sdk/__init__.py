"""Sym's handler SDK names, answered by SymTUI (standard library only; written for SymTUI, not Sym's package).

    from sym.sdk.annotations import hook, reducer, prefetch
    from sym.sdk.templates import ApprovalTemplate

    @hook
    def on_request(event):
        if event.payload.fields.get("urgency") == "Emergency":
            return ApprovalTemplate.approve(reason="emergency access")

Every name Sym documents exists. A name with a local meaning does what Sym says, in SymTUI's terms (user names
for people, the flow's config for channels); a name without one raises `SymException` saying so, and the handler
fails closed. See docs/coming-from-sym.md.
"""
