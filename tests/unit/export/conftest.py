"""Fixtures of the export tests (helpers live in export_unit_support)."""

from export_unit_support import make_stack

__all__ = ["make_stack"]
