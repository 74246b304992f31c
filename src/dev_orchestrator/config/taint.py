"""Which values of a stack are secret because they interpolate a secret variable.

A settings value such as ``postgresql://app:${DB_PASSWORD}@db/app`` is as secret as the
password it carries, although its key (``url``) looks harmless. The loader records,
per file, the path of every string whose interpolation read a secret variable, with the
text as written; the layers merge like the values do, so a later file that replaces a
value also replaces its taint.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .secrets import is_secret_key
from .source import PathKey, Source

# Paths of KEY=VALUE lists that the models turn into mappings.
_ENV_LISTS = ("environment", "args")


def declared_secrets(sources: Iterable[Source]) -> frozenset[str]:
    """``orchestrator.secrets`` of every file, added up: a variable secret in one file stays secret."""
    out: set[str] = set()
    for source in sources:
        orch = source.data.get("orchestrator")
        names = orch.get("secrets") if isinstance(orch, dict) else None
        if isinstance(names, list):
            out.update(n for n in names if isinstance(n, str))
    return frozenset(out)


def is_secret_variable(name: str, declared: frozenset[str]) -> bool:
    return name in declared or is_secret_key(name)


def _overridden(path: PathKey, overlay: Any) -> bool:
    """Whether merging ``overlay`` replaces the value at ``path`` (or one above it)."""
    node = overlay
    for part in path:
        if not isinstance(node, dict):
            return True  # a list or scalar above path replaces everything below it
        if part not in node:
            return False
        node = node[part]
    return True


def merge_secrets(
    base: Mapping[PathKey, str], overlay: Mapping[PathKey, str], overlay_data: Any
) -> dict[PathKey, str]:
    """The secret paths after merging a file: its own, plus the base's it does not replace."""
    out = {p: t for p, t in base.items() if not _overridden(p, overlay_data)}
    out.update(overlay)
    return out


def normalize_secrets(data: Any, secrets: Mapping[PathKey, str]) -> dict[PathKey, str]:
    """Paths as the models see them: ``environment[2]`` (``KEY=value``) becomes ``environment.KEY``.

    The text kept is then the value's part only, the way a ``KEY: value`` map writes it.
    """
    out: dict[PathKey, str] = {}
    for path, text in secrets.items():
        if path[:1] == ("services",) and isinstance(path[-1], int) and path[-2] in _ENV_LISTS:
            item = value_at(data, path)
            if isinstance(item, str) and "=" in text:
                key = item.partition("=")[0]
                out[(*path[:-1], key)] = text.partition("=")[2]
                continue
        out[path] = text
    return out


def value_at(data: Any, path: PathKey) -> Any:
    """The value at ``path`` in plain data, or None where the path does not exist."""
    node = data
    for part in path:
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if not in_list and not (isinstance(node, dict) and part in node):
            return None
        node = node[part]
    return node
