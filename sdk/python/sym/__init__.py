"""Sym's module names for the SymTUI handler SDK, so that a Sym `impl.py` runs here unmodified.

Only `sym.sdk` lives here; see sym/sdk/__init__.py and docs/coming-from-sym.md.
"""
