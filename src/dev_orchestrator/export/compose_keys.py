"""The compose vocabulary, kept importable from here (it lives with the reader in config.compose)."""

from __future__ import annotations

from ..config.compose.keys import CARRIED, NOT_CARRIED, TOP_LEVEL, kind_of, suggest

__all__ = ["CARRIED", "NOT_CARRIED", "TOP_LEVEL", "kind_of", "suggest"]
