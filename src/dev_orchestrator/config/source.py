"""Read one YAML file into plain data plus the file position of every value.

Positions let every later error (validation, graph, interpolation) name
``file:line:col``. The node tree comes from ``yaml_tree`` (bounded depth and size);
we build the data from it ourselves so that each key path maps to its place, and so
that merge keys (``<<: *anchor``) follow YAML's rule: the mapping's own keys win.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, Diagnostic, Location
from .yaml_tree import MAX_DEPTH, TreeComposer

PathKey = tuple[str | int, ...]

# The C parser is much faster where libyaml is present (it depends on the PyYAML build).
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_STR = "tag:yaml.org,2002:str"
_SCALAR_TAGS = {
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "timestamp", "binary")
}


@dataclass
class Source:
    """One parsed file: its data and where each value (and key) sits."""

    file: str
    data: Any
    values: dict[PathKey, Location] = field(default_factory=dict)
    keys: dict[PathKey, Location] = field(default_factory=dict)


def _loc(file: str, node: yaml.Node) -> Location:
    return Location(file, node.start_mark.line + 1, node.start_mark.column + 1)


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag


class _Builder:
    """Plain data from a node tree, with the place of every value and key."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.values: dict[PathKey, Location] = {}
        self.keys: dict[PathKey, Location] = {}
        self.errors: list[Diagnostic] = []
        self._reported: set[tuple[str, Location]] = set()
        self._constructor = yaml.SafeLoader("")

    def error(self, message: str, path: PathKey, node: yaml.Node) -> None:
        loc = _loc(self.file, node)
        if (message, loc) not in self._reported:  # a mapping reached through several aliases
            self._reported.add((message, loc))
            self.errors.append(Diagnostic(message, _dotted(path), loc))

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        if len(path) > MAX_DEPTH:  # yaml_tree bounds the depth already; never recurse unbounded
            raise ConfigError(Diagnostic(f"nesting deeper than {MAX_DEPTH} levels", _dotted(path), _loc(self.file, node)))
        mark = node.start_mark
        self.values[path] = Location(self.file, mark.line + 1, mark.column + 1)
        if type(node) is yaml.ScalarNode and node.tag == _STR:  # most values: plain text
            return node.value
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP:
                return self.bad_tag(node, path)
            out: dict[Any, Any] = {}
            for key, (key_node, value_node) in self.entries(node, path).items():
                mark = key_node.start_mark
                self.keys[(*path, key)] = Location(self.file, mark.line + 1, mark.column + 1)
                out[key] = self.build(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                return self.bad_tag(node, path)
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.scalar(node, path)

    def scalar(self, node: yaml.Node, path: PathKey) -> Any:
        if node.tag == _STR:
            return node.value
        if node.tag not in _SCALAR_TAGS:
            return self.bad_tag(node, path)
        try:
            return self._constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError, TypeError) as exc:
            # e.g. 2024-13-45 looks like a date; 1_000...(5000 digits) exceeds int conversion
            problem = getattr(exc, "problem", None) or str(exc)
            self.error(f'cannot read "{node.value[:40]}": {problem} (quote it to keep it as text)', path, node)
            return node.value

    def bad_tag(self, node: yaml.Node, path: PathKey) -> None:
        self.error(
            f"unsupported YAML tag {_short_tag(node.tag)} (only plain values, lists and mappings "
            "are allowed; remove the tag)",
            path,
            node,
        )
        return None

    def key(self, node: yaml.Node, path: PathKey) -> str | int | None:
        """A mapping key as data; ``None`` (after an error) when it cannot be one."""
        if node.tag == _STR and type(node) is yaml.ScalarNode:  # most keys
            return str(node.value)
        if not isinstance(node, yaml.ScalarNode):
            self.error("a mapping key must be a scalar", path, node)
            return None
        if node.tag != _STR and node.tag not in _SCALAR_TAGS:
            self.bad_tag(node, path)
            return None
        value = self.scalar(node, path)
        if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        if value is None:
            return "null"
        return str(node.value)  # true, 1.5, 2024-01-01: the key as written

    def entries(self, node: yaml.MappingNode, path: PathKey) -> dict[str | int, tuple[yaml.Node, yaml.Node]]:
        """Key -> (key node, value node), merge keys expanded.

        YAML's merge rule: the mapping's own keys override merged ones, and among merged
        mappings (``<<: [*a, *b]``) an earlier one wins. Duplicates among the mapping's
        own keys are errors. Merged keys take the place of the ``<<`` key.
        """
        own: dict[str | int, tuple[yaml.Node, yaml.Node]] = {}
        own_keys: dict[int, str | int] = {}  # id(key node) -> key, for the output order
        merges: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE and isinstance(key_node, yaml.ScalarNode):
                if merges:
                    self.error('duplicate merge key "<<" (list the mappings: <<: [*a, *b])', path, key_node)
                    continue
                merges.append((key_node, value_node))
                continue
            key = self.key(key_node, path)
            if key is None:
                continue
            if key in own:
                self.error(
                    f'duplicate key "{key}" (the key already appears at line '
                    f"{own[key][0].start_mark.line + 1}; keep one)",
                    (*path, key),
                    key_node,
                )
                continue
            own[key] = (key_node, value_node)
            own_keys[id(key_node)] = key
        if not merges:
            return own
        merged: dict[str | int, tuple[yaml.Node, yaml.Node]] = {}
        for source in self.merge_sources(merges[0][1], path):
            for key, pair in self.entries(source, path).items():
                if key not in own:
                    merged.setdefault(key, pair)
        out: dict[str | int, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, _value in node.value:
            if key_node is merges[0][0]:
                out.update(merged)
            elif id(key_node) in own_keys:
                key = own_keys[id(key_node)]
                out[key] = own[key]
        return out

    def merge_sources(self, value: yaml.Node, path: PathKey) -> list[yaml.MappingNode]:
        if isinstance(value, yaml.MappingNode):
            return [value]
        if isinstance(value, yaml.SequenceNode) and all(isinstance(v, yaml.MappingNode) for v in value.value):
            return list(value.value)
        self.error('a merge key "<<" needs a mapping or a list of mappings (<<: *anchor)', path, value)
        return []


def _dotted(path: PathKey) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


dotted = _dotted


def _syntax_error(exc: yaml.YAMLError, text: str, file: str) -> ConfigError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        loc = Location(file, mark.line + 1, mark.column + 1) if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        return ConfigError(Diagnostic(f"YAML syntax error: {problem}", "", loc))
    if isinstance(exc, yaml.reader.ReaderError):
        pos = min(max(exc.position, 0), len(text))
        loc = Location(file, text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos))
        char = exc.character if isinstance(exc.character, int) else ord(exc.character[:1] or "?")
        return ConfigError(Diagnostic(f"YAML error: unacceptable character #x{char:04x} (remove it)", "", loc))
    return ConfigError(Diagnostic(f"YAML error: {exc}", "", Location(file, 1, 1)))


def parse_text(text: str, file: str) -> Source:
    """Parse YAML text; raise ConfigError naming file:line:col on bad syntax or hostile structure."""
    try:
        node = TreeComposer(file, _Loader).compose(text)
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, text, file) from exc
    except UnicodeEncodeError as exc:  # a lone surrogate cannot reach the C parser
        raise ConfigError(Diagnostic(f"YAML error: invalid character at offset {exc.start}", "", None)) from exc
    if node is None:
        return Source(file, {})
    builder = _Builder(file)
    try:
        data = builder.build(node, ())
    except RecursionError as exc:  # depth is bounded above; this is a last line of defence
        raise ConfigError(Diagnostic(f"nesting deeper than {MAX_DEPTH} levels", "", Location(file, 1, 1))) from exc
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
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(Diagnostic(f"cannot read {name}: {exc.strerror}")) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - raw.rfind(b"\n", 0, exc.start)
        raise ConfigError(
            Diagnostic(f"not UTF-8 text (byte {exc.start}: 0x{raw[exc.start]:02x}); save the file as UTF-8",
                       "", Location(name, line, column))
        ) from exc
    return parse_text(text, name)
