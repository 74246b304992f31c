"""Compose ``secrets:`` (carried as they are: config/stack_secrets.py runs them) and
``configs:`` (read-only file mounts, as compose itself runs them).

Without swarm, compose bind-mounts a file-based config read-only at ``/<name>`` (or the
given target); doing the same keeps the file's content out of the services.yaml: only
its path is written. Secrets keep their own section, with ``file:`` and
``environment:`` sources, so that local processes can read them too.
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
        self.variables: dict[str, str] = {}  # secrets: name -> environment variable
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
            elif kind == "secrets" and isinstance(spec.get("environment"), str):
                self.variables[str(name)] = spec["environment"]
            else:
                source = next((k for k in ("environment", "external", "content") if k in spec), "source")
                reader.note(here, f"{source}-based {kind[:-1]} not carried over (only file: sources are mounted)")
                self.files[str(name)] = None

    def declared(self) -> dict[str, dict[str, str]]:
        """The top-level secrets that carry over, as services.yaml writes them."""
        out: dict[str, dict[str, str]] = {n: {"file": f} for n, f in self.files.items() if f is not None}
        out.update({n: {"environment": v} for n, v in self.variables.items()})
        return dict(sorted(out.items()))

    def uses(self, path: PathKey, value: Any) -> list[Any]:
        """A service's ``secrets:`` list, checked against the declared ones."""
        if not isinstance(value, list):
            self.reader.error(path, f"expected a list of {self.kind}, got {_kind(value)}")
            return []
        out: list[Any] = []
        for i, item in enumerate(value):
            here = (*path, i)
            entry: Any
            if isinstance(item, str):
                name, entry = item, item
            elif isinstance(item, dict) and isinstance(item.get("source"), str):
                name = item["source"]
                entry = {k: v for k, v in item.items() if k in ("source", "target")}
                for key in item:
                    if key not in ("source", "target"):
                        self.reader.note((*here, key), "not carried over (the file is readable by the service only)")
            else:
                self.reader.error(here, 'expected a secret name or a mapping with "source"')
                continue
            if name not in self.files and name not in self.variables:
                self.reader.error(here, f'unknown secret "{name}" (declare it under the top-level secrets:)')
            elif self.files.get(name) is not None or name in self.variables:
                out.append(entry)
        return out

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
