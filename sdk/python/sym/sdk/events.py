"""Sym's `Event`: the object every handler receives (the SymTUI event, which also has Sym's attribute names)."""

from symtui_sdk import Event

__all__ = ["Event"]
