"""Compose ``secrets:`` and ``configs:`` as read-only file mounts, as compose itself runs them.

Without swarm, compose bind-mounts a file-based secret read-only at
``/run/secrets/<name>`` (a config at ``/<name>``, or the given target); doing the same
keeps the value out of the services.yaml, the environment and every listing: only the
file's path is written.
"""

from __future__ import annotations

from typing import Any

from ..source import PathKey
from .fields import FieldReader
from .keys import kind_of as _kind

_DEFAULT_FOLDER = {"secrets": "/run/secrets", "configs": ""}


class Sources:
    """The top-level ``secrets:`` or ``configs:`` of a file: name -> source file (or None)."""

    def __init__(self, reader: FieldReader, kind: str, value: Any) -> None:
        self.reader = reader
        self.kind = kind
        self.files: dict[str, str | None] = {}
        if value is None:
            return
        if not isinstance(value, dict):
            reader.error((kind,), f"expected a mapping of {kind}, got {_kind(value)}")
            return
        for name, spec in value.items():
            here: PathKey = (kind, name)
            if not isinstance(spec, dict):
                reader.error(here, f"expected a mapping (file: or environment:), got {_kind(spec)}")
                continue
            if isinstance(spec.get("file"), str):
                self.files[str(name)] = spec["file"]
                for key in spec:
                    if key not in ("file", "name"):
                        reader.note((*here, key), "not carried over")
            else:
                source = next((k for k in ("environment", "external", "content") if k in spec), "source")
                reader.note(here, f"{source}-based {kind[:-1]} not carried over (only file: sources are mounted)")
                self.files[str(name)] = None

    def mounts(self, path: PathKey, value: Any) -> list[str]:
        """A service's ``secrets:``/``configs:`` list as read-only mounts of the source files."""
        if not isinstance(value, list):
            self.reader.error(path, f"expected a list of {self.kind}, got {_kind(value)}")
            return []
        out = []
        for i, item in enumerate(value):
            here = (*path, i)
            if isinstance(item, str):
                name, target = item, None
            elif isinstance(item, dict) and isinstance(item.get("source"), str):
                name, target = item["source"], item.get("target")
                for key in item:
                    if key not in ("source", "target"):
                        self.reader.note((*here, key), "not carried over (the mount keeps the file's own mode)")
            else:
                self.reader.error(here, f'expected a {self.kind[:-1]} name or a mapping with "source"')
                continue
            if name not in self.files:
                self.reader.error(here, f'unknown {self.kind[:-1]} "{name}" (declare it under the top-level {self.kind}:)')
                continue
            source = self.files[name]
            if source is None:
                continue  # noted where it is declared
            folder = _DEFAULT_FOLDER[self.kind]
            where = str(target) if target else name
            if not where.startswith("/"):
                where = f"{folder}/{where}"
            out.append(f"{source}:{where}:ro")
        return out
