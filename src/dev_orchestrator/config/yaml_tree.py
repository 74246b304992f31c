"""PyYAML's node tree built from its event stream, with limits that hostile files hit first.

PyYAML's own composer recurses once per nesting level and keeps an alias as a shared
node, so an "alias bomb" (anchors of anchors, a few lines that expand to billions of
values) and a document nested hundreds of levels deep only fail later, as a hang or as
a RecursionError. This composer is a loop over events: it knows, at every event, how
deep the document is and how many values it expands to, aliases counted as what they
stand for, and stops at the event that crosses a limit, naming its place.
"""

from __future__ import annotations

from typing import Any

import yaml

from ..errors import ConfigError, Diagnostic, Location

# A services.yaml holds hundreds of values and a few levels; these bounds are far above
# any real file and far below what takes noticeable time or memory to build.
MAX_DEPTH = 64
MAX_NODES = 100_000


class _Open:
    """A collection whose end event has not arrived yet."""

    __slots__ = ("node", "anchor", "size", "height", "key", "items", "mapping")

    def __init__(self, node: yaml.Node, anchor: str | None) -> None:
        self.node = node
        self.anchor = anchor
        self.size = 1  # this node and everything below it, aliases expanded
        self.height = 1  # collection levels from this node down, aliases expanded
        self.key: yaml.Node | None = None  # a mapping's key waiting for its value
        self.items: list[Any] = []
        self.mapping = isinstance(node, yaml.MappingNode)


# The events the composer acts on (the others, stream and document ends, build nothing).
_KINDS = (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent, yaml.SequenceEndEvent,
          yaml.MappingEndEvent, yaml.AliasEvent, yaml.DocumentStartEvent)


def _where(file: str, mark: Any) -> Location | None:
    return Location(file, mark.line + 1, mark.column + 1) if mark is not None else None


class TreeComposer:
    """Compose the one document of a YAML stream into nodes; ``None`` for an empty stream."""

    def __init__(self, file: str, loader: Any) -> None:
        self.file = file
        self.loader = loader
        self.resolver = yaml.SafeLoader("")  # implicit tags (int, bool, null, <<) of plain scalars
        self.anchors: dict[str, tuple[yaml.Node, int, int]] = {}  # anchor -> node, size, height
        self.stack: list[_Open] = []
        self.total = 0

    def fail(self, message: str, mark: Any) -> ConfigError:
        return ConfigError(Diagnostic(message, "", _where(self.file, mark)))

    def compose(self, text: str) -> yaml.Node | None:
        root: yaml.Node | None = None
        documents = 0
        events: Any = yaml.parse(text, Loader=self.loader)
        stack = self.stack
        resolve = self.resolver.resolve
        anchors = self.anchors
        scalar_node, scalar_event = yaml.ScalarNode, yaml.ScalarEvent
        ends = (yaml.SequenceEndEvent, yaml.MappingEndEvent)
        starts = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
        for event in events:
            kind = type(event)
            if kind not in _KINDS:  # a subclass (none is known): handled as its base class
                kind = next((k for k in _KINDS if isinstance(event, k)), kind)
            if kind is scalar_event:  # most events: one loop turn, no calls but the node's
                tag = event.tag
                if tag is None or tag == "!":
                    tag = resolve(scalar_node, event.value, event.implicit)
                scalar = scalar_node(tag, event.value, event.start_mark, event.end_mark, style=event.style)
                self.total += 1
                if self.total > MAX_NODES:
                    raise self.fail(f"too many values (more than {MAX_NODES:,}); split the document",
                                    event.start_mark)
                if event.anchor is not None:
                    anchors[event.anchor] = (scalar, 1, 0)  # a later anchor of the same name wins
                if not stack:
                    root = scalar
                    continue
                parent = stack[-1]  # self.add(scalar, 1, 0), inlined: most values are scalars
                parent.size += 1
                if parent.mapping:
                    if parent.key is None:
                        parent.key = scalar
                    else:
                        parent.items.append((parent.key, scalar))
                        parent.key = None
                else:
                    parent.items.append(scalar)
            elif kind in ends:
                done = stack.pop()
                done.node.value = done.items
                done.node.end_mark = event.end_mark
                self.remember(done.anchor, done.node, done.size, done.height)
                if not stack:
                    root = done.node
                else:
                    self.add(done.node, done.size, done.height)
            elif kind in starts:
                self.start(event)
            elif kind is yaml.AliasEvent:
                node = self.alias(event)
                if node is not None and not stack:
                    root = node
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise self.fail(
                        "more than one YAML document (a line with --- starts another); keep one", event.start_mark
                    )
            # stream start and end, document end: nothing to build
        return root

    def start(self, event: Any) -> None:
        kind = yaml.SequenceNode if isinstance(event, yaml.SequenceStartEvent) else yaml.MappingNode
        if len(self.stack) >= MAX_DEPTH:
            raise self.fail(f"nesting deeper than {MAX_DEPTH} levels; flatten the document", event.start_mark)
        tag = event.tag if event.tag not in (None, "!") else self.resolver.resolve(kind, None, event.implicit)
        node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
        self.count(event.start_mark)
        self.stack.append(_Open(node, event.anchor))

    def alias(self, event: Any) -> yaml.Node | None:
        name = event.anchor
        if any(frame.anchor == name for frame in self.stack):
            raise self.fail(f"recursive alias *{name} (it is used inside its own anchor &{name})", event.start_mark)
        if name not in self.anchors:
            raise self.fail(f"unknown alias *{name} (define &{name} before using it)", event.start_mark)
        node, size, height = self.anchors[name]
        if len(self.stack) + height > MAX_DEPTH:
            raise self.fail(
                f"nesting deeper than {MAX_DEPTH} levels once alias *{name} is expanded; use fewer nested aliases",
                event.start_mark,
            )
        if self.total + size > MAX_NODES:
            raise self.fail(
                f"too many aliases (*{name} would make the document more than {MAX_NODES:,} values; "
                "an alias of an alias multiplies); use fewer nested aliases",
                event.start_mark,
            )
        self.total += size
        if self.stack:
            self.add(node, size, height)
        return node

    def count(self, mark: Any) -> None:
        self.total += 1
        if self.total > MAX_NODES:
            raise self.fail(f"too many values (more than {MAX_NODES:,}); split the document", mark)

    def remember(self, anchor: str | None, node: yaml.Node, size: int, height: int) -> None:
        if anchor is not None:
            self.anchors[anchor] = (node, size, height)  # a later anchor of the same name wins

    def add(self, node: yaml.Node, size: int, height: int) -> None:
        parent = self.stack[-1]
        parent.size += size
        parent.height = max(parent.height, height + 1)
        if parent.mapping:
            if parent.key is None:
                parent.key = node
            else:
                parent.items.append((parent.key, node))
                parent.key = None
        else:
            parent.items.append(node)
