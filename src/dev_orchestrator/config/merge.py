"""Layered merge: mappings merge recursively; lists and scalars replace (as compose does).

Positions travel with values so that a merged value still names the file it came from.
"""

from __future__ import annotations

from typing import Any

from ..errors import Location
from .source import PathKey


def merge(base: Any, overlay: Any) -> Any:
    """Return ``overlay`` merged onto ``base`` (neither is changed)."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        out = dict(base)
        for key, value in overlay.items():
            out[key] = merge(base[key], value) if key in base else value
        return out
    return overlay


def merge_positions(
    base: dict[PathKey, Location], overlay: dict[PathKey, Location], overlay_data: Any
) -> dict[PathKey, Location]:
    """Positions after ``merge``: a replaced (non-mapping) value drops the base's positions below it."""
    out = dict(base)
    replaced = _replaced_paths(overlay_data, ())
    if replaced:
        for path in list(out):
            if any(len(path) > len(r) and path[: len(r)] == r for r in replaced):
                del out[path]
    out.update(overlay)
    return out


def _replaced_paths(data: Any, path: PathKey) -> list[PathKey]:
    if isinstance(data, dict):
        found: list[PathKey] = []
        for key, value in data.items():
            found.extend(_replaced_paths(value, (*path, key)))
        return found
    return [path]
