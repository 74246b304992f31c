"""Masking of secret values: those whose key looks secret, at any depth (also inside
environment maps), and those at paths known to interpolate a secret variable."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any

SECRET_KEY = re.compile(r"password|passwd|secret|token|api_?key|private_?key|credential", re.IGNORECASE)
MASK = "******"


def is_secret_key(key: object) -> bool:
    return bool(SECRET_KEY.search(str(key)))


def mask_secrets(data: Any) -> Any:
    """A copy of ``data`` with every scalar under a secret-looking key replaced by ``******``.

    ``KEY=VALUE`` list items (environment lists) are masked by their KEY as well.
    """
    if isinstance(data, dict):
        return {
            k: (_mask_all(v) if is_secret_key(k) else mask_secrets(v)) for k, v in data.items()
        }
    if isinstance(data, list):
        return [mask_secrets(v) for v in data]
    if isinstance(data, str) and "=" in data:
        key, _, value = data.partition("=")
        if is_secret_key(key) and value and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            return f"{key}={MASK}"
    return data


def _mask_all(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_all(v) for v in value]
    if value is None or value == "":
        return value
    return MASK


def mask_paths(data: Any, paths: Iterable[tuple[str | int, ...]]) -> Any:
    """A copy of ``data`` with the value at each of ``paths`` (where it exists) replaced by ``******``.

    The paths are those of values that interpolate a secret variable (``LoadedConfig.secrets``).
    """
    out = copy.deepcopy(data)
    for path in paths:
        if not path:
            continue
        node = out
        for part in path[:-1]:
            node = _child(node, part)
            if node is None:
                break
        last = path[-1]
        if isinstance(node, dict) and last in node or isinstance(node, list) and _index(node, last):
            node[last] = _mask_all(node[last])  # type: ignore[index]
    return out


def _index(node: list[Any], part: str | int) -> bool:
    return isinstance(part, int) and 0 <= part < len(node)


def _child(node: Any, part: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and _index(node, part):
        return node[part]  # type: ignore[index]
    return None
