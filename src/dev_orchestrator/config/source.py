"""Read one YAML file into plain data plus the file position of every value.

Positions let every later error (validation, graph, interpolation) name
``file:line:col``. PyYAML's composer keeps marks on nodes; we build the data
from the node tree ourselves so that each key path maps to its place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, Diagnostic, Location

PathKey = tuple[str | int, ...]

# The C loader is much faster where libyaml is present (it depends on the PyYAML build).
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class Source:
    """One parsed file: its data and where each value (and key) sits."""

    file: str
    data: Any
    values: dict[PathKey, Location] = field(default_factory=dict)
    keys: dict[PathKey, Location] = field(default_factory=dict)


def _loc(file: str, node: yaml.Node) -> Location:
    return Location(file, node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.values: dict[PathKey, Location] = {}
        self.keys: dict[PathKey, Location] = {}
        self.errors: list[Diagnostic] = []
        self._constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        self.values[path] = _loc(self.file, node)
        if isinstance(node, yaml.MappingNode):
            self._constructor.flatten_mapping(node)  # resolves `<<` merge keys
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self._constructor.construct_object(key_node, deep=True)
                if isinstance(key, (list, dict)):
                    self.errors.append(
                        Diagnostic("a mapping key must be a scalar", _dotted(path), _loc(self.file, key_node))
                    )
                    continue
                if key is None:
                    key = "null"
                key = str(key) if not isinstance(key, (str, int)) else key
                if key in out:
                    self.errors.append(
                        Diagnostic(
                            f'duplicate key "{key}" (the key already appears at line '
                            f"{self.keys[(*path, key)].line}; keep one)",
                            _dotted((*path, key)),
                            _loc(self.file, key_node),
                        )
                    )
                    continue
                self.keys[(*path, key)] = _loc(self.file, key_node)
                out[key] = self.build(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._constructor.construct_object(node, deep=True)


def _dotted(path: PathKey) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


dotted = _dotted


def parse_text(text: str, file: str) -> Source:
    """Parse YAML text; raise ConfigError naming file:line:col on bad syntax."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(file, mark.line + 1, mark.column + 1) if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(Diagnostic(f"YAML syntax error: {problem}", "", loc)) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(Diagnostic(f"YAML error: {exc}", "", Location(file, 1, 1))) from exc
    if node is None:
        return Source(file, {})
    builder = _Builder(file)
    try:
        data = builder.build(node, ())
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        loc = Location(file, mark.line + 1, mark.column + 1) if mark else None
        raise ConfigError(Diagnostic(f"YAML error: {exc.problem}", "", loc)) from exc
    if builder.errors:
        raise ConfigError(builder.errors)
    if not isinstance(data, dict):
        raise ConfigError(
            Diagnostic("the top level must be a mapping (name:, services:, ...)", "", Location(file, 1, 1))
        )
    return Source(file, data, builder.values, builder.keys)


def parse_file(path: Path, display: str | None = None) -> Source:
    """Read and parse a YAML file; ``display`` is the name used in messages."""
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(Diagnostic(f"cannot read {name}: {exc.strerror}")) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(Diagnostic(f"{name} is not UTF-8 text (byte {exc.start})")) from exc
    return parse_text(text, name)
