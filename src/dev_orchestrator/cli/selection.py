"""Service names given on the command line: see config/selection.py (shared with the supervisor)."""

from __future__ import annotations

from ..config.selection import select

__all__ = ["select"]
