"""Sym's integrations. `slack` and `pagerduty` map to SymTUI's notification channels and on-call schedules;
every other integration exists so that imports work, and each of its calls raises SymException (fail closed).
"""
