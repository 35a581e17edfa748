"""Sym's older module name for `FieldOption` (now `sym.sdk.forms`)."""

from sym.sdk.forms import FieldOption

__all__ = ["FieldOption"]
