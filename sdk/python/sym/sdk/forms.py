"""Sym's form types: `FieldOption`, the options a `@prefetch` reducer returns."""

from sym.sdk.exceptions import SymException

__all__ = ["FieldOption"]

LABEL_LIMIT = 55


class FieldOption(object):
    """One choice of a prompt field: the `value` passed through and the `label` shown (at most 55 characters)."""

    __slots__ = ("value", "label")

    def __init__(self, value=None, label=None):
        if not isinstance(label, str) or not label:
            raise SymException("FieldOption needs a label (a non-empty string)")
        if len(label) > LABEL_LIMIT:
            raise SymException("FieldOption label %r is longer than %d characters" % (label[:20], LABEL_LIMIT))
        self.value = value
        self.label = label

    def _symtui_answer(self, handler):
        return {"value": self.value, "label": self.label}

    def __eq__(self, other):
        return isinstance(other, FieldOption) and (self.value, self.label) == (other.value, other.label)

    def __hash__(self):
        return hash((repr(self.value), self.label))

    def __repr__(self):
        return "FieldOption(value=%r, label=%r)" % (self.value, self.label)
