"""The log pane's model: every service's lines interleaved, one service's view, filter with
context, search positions and pretty-printed JSON lines, as plain values.

It knows nothing of the terminal: the dashboard asks it for rows (the lines as they are
shown, in order) and draws them, so what the user sees is testable as text. Matching is
"smart case", as in vim and less: a pattern with a capital letter matches case, one
without ignores it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass

from ..logs.reader import LogLine

LINE_LIMIT = 20_000  # lines kept in memory; older ones leave the pane (the files keep them)
CONTEXT_LIMIT = 1000


def _fold(pattern: str) -> bool:
    """Smart case: ignore case unless the pattern has a capital letter."""
    return pattern == pattern.lower()


def spans(text: str, pattern: str) -> list[tuple[int, int]]:
    """Where ``pattern`` occurs in ``text`` (start, end), without overlaps."""
    if not pattern:
        return []
    hay, needle = (text.lower(), pattern.lower()) if _fold(pattern) else (text, pattern)
    out: list[tuple[int, int]] = []
    at = hay.find(needle)
    while at >= 0:
        out.append((at, at + len(needle)))
        at = hay.find(needle, at + len(needle))
    return out


def matches(text: str, pattern: str) -> bool:
    if _fold(pattern):
        return pattern.lower() in text.lower()
    return pattern in text


@dataclass(frozen=True)
class Filter:
    """Keep the lines that match ``pattern`` (or, with ``exclude``, those that do not),
    each with ``context`` lines around it as grep -C shows them."""

    pattern: str
    exclude: bool = False
    context: int = 0

    @classmethod
    def parse(cls, text: str) -> Filter | None:
        """``error``, ``!healthcheck``, ``timeout +2`` (two lines of context); empty: no filter.

        A pattern that really ends in `` +N`` can be given as ``timeout +2 +0``.
        """
        text = text.strip()
        context = 0
        head, sep, tail = text.rpartition(" +")
        if sep and tail.isdigit() and head.strip():
            text, context = head.strip(), min(int(tail), CONTEXT_LIMIT)
        exclude = text.startswith("!")
        if exclude:
            text = text[1:]
        if not text:
            return None
        return cls(text, exclude, 0 if exclude else context)

    def keeps(self, text: str) -> bool:
        return matches(text, self.pattern) != self.exclude

    def describe(self) -> str:
        what = f"not {self.pattern!r}" if self.exclude else repr(self.pattern)
        return what + (f" +{self.context}" if self.context else "")


@functools.lru_cache(maxsize=1 << 16)
def _pretty(text: str) -> tuple[str, ...] | None:
    found = pretty_json(text)
    return None if found is None else tuple(found)


def pretty_json(text: str) -> list[str] | None:
    """The JSON object or array that ``text`` holds (after any words before it, such as a
    level), indented; None when the line is not JSON."""
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    if start < 0:
        return None
    try:
        value = json.loads(text[start:])
    except ValueError:
        return None
    if not isinstance(value, (dict, list)):
        return None
    body = json.dumps(value, indent=2, ensure_ascii=False).splitlines()
    head = text[:start].rstrip()
    return ([head] if head else []) + body


@dataclass(frozen=True)
class Row:
    """One row of the pane: a log line, or one line of a pretty-printed JSON line."""

    service: str
    stamp: str
    text: str
    first: bool = True  # the first row of its log line
    context: bool = False  # shown as context of a filter match, not a match itself

    @property
    def clock(self) -> str:
        return self.stamp[11:23] if len(self.stamp) >= 23 else self.stamp.ljust(12)


class LogModel:
    """Lines of every service, and how the pane shows them."""

    def __init__(self, services: Iterable[str] = (), *, limit: int = LINE_LIMIT) -> None:
        self.services: list[str] = []
        self.limit = limit
        self.lines: list[LogLine] = []
        self.only: str | None = None  # one service's view
        self.filter: Filter | None = None
        self.search: str | None = None
        self.pretty = False
        self.timestamps = True
        self.follow = True
        self.version = 0  # bumped on every change
        # Rows are built once and then grow with new lines; ``epoch`` moves when they are
        # built again from the start (a setting changed, old lines were dropped), so that
        # the pane knows whether to lay out only the new rows or everything.
        self.epoch = 0
        self._rows: list[Row] | None = None
        self._done = 0  # lines turned into rows so far
        self._hits: list[int] = []
        self._hits_at = (-1, 0)  # (epoch, rows searched) of _hits
        self.current: int | None = None  # index into hits() of the search match shown
        for name in services:
            self.add_service(name)

    # -- content ----------------------------------------------------------------------------

    def add_service(self, name: str) -> None:
        if name not in self.services:
            self.services.append(name)
            self._changed()

    def add(self, lines: Iterable[LogLine]) -> int:
        """Append lines (in the order they came); returns how many were added."""
        new = list(lines)
        if not new:
            return 0
        for line in new:
            if line.service not in self.services:
                self.services.append(line.service)
                self._rows = None  # the prefix column widens
        self.lines.extend(new)
        # Dropped in batches (a tenth of the limit), so that a chatty stack rebuilds the
        # rows now and then, not on every poll.
        if len(self.lines) > self.limit + max(1, self.limit // 10):
            del self.lines[: len(self.lines) - self.limit]
            self._rows = None
        self.version += 1
        return len(new)

    def _changed(self) -> None:
        self.version += 1
        self._rows = None

    # -- view settings ----------------------------------------------------------------------

    def show_only(self, service: str | None) -> None:
        self.only = service
        self.current = None
        self._changed()

    def set_filter(self, spec: Filter | None) -> None:
        self.filter = spec
        self.current = None
        self._changed()

    def set_search(self, pattern: str | None) -> None:
        self.search = pattern or None
        self.current = None
        self._changed()

    def toggle_pretty(self) -> bool:
        self.pretty = not self.pretty
        self.current = None  # the rows move: the match shown is found again with n
        self._changed()
        return self.pretty

    def toggle_timestamps(self) -> bool:
        self.timestamps = not self.timestamps
        self._changed()
        return self.timestamps

    # -- what is shown ----------------------------------------------------------------------

    @property
    def width(self) -> int:
        """Width of the service prefix column."""
        return max((len(n) for n in self.services), default=0)

    def color_index(self, service: str) -> int:
        """A stable colour per service (its place among the names, sorted, as `logs` does)."""
        names = sorted(self.services)
        return names.index(service) if service in names else 0

    def selected_lines(self, lines: list[LogLine] | None = None) -> list[tuple[LogLine, bool]]:
        """(line, is_context) of the lines the service choice and the filter keep."""
        lines = [ln for ln in (self.lines if lines is None else lines) if self.only is None or ln.service == self.only]
        spec = self.filter
        if spec is None:
            return [(ln, False) for ln in lines]
        keep = [spec.keeps(ln.text) for ln in lines]
        if not spec.context:
            return [(ln, False) for ln, k in zip(lines, keep, strict=True) if k]
        shown = [False] * len(lines)
        for i, k in enumerate(keep):
            if k:
                for j in range(max(0, i - spec.context), min(len(lines), i + spec.context + 1)):
                    shown[j] = True
        return [(ln, not keep[i]) for i, ln in enumerate(lines) if shown[i]]

    def _rows_of(self, selected: list[tuple[LogLine, bool]]) -> list[Row]:
        out: list[Row] = []
        for line, context in selected:
            pretty = _pretty(line.text) if self.pretty else None
            for i, text in enumerate(pretty or (line.text,)):
                out.append(Row(line.service, line.stamp, text, i == 0, context))
        return out

    def rows(self) -> list[Row]:
        """The rows shown, top to bottom (built again only when a setting changed)."""
        if self._rows is not None and self._done < len(self.lines):
            if self.filter is not None and self.filter.context:
                self._rows = None  # a new match can pull earlier lines in as its context
            else:
                self._rows.extend(self._rows_of(self.selected_lines(self.lines[self._done:])))
                self._done = len(self.lines)
        if self._rows is None:
            self.epoch += 1
            self._rows = self._rows_of(self.selected_lines())
            self._done = len(self.lines)
        return self._rows

    def prefix(self, row: Row) -> str:
        """``12:01:07.311 backend | `` (no clock with timestamps off; blank on a JSON
        continuation row's clock so the block reads as one line)."""
        clock = ""
        if self.timestamps:
            clock = (row.clock if row.first else " " * 12) + " "
        return f"{clock}{row.service.ljust(self.width)} | "

    def plain(self, row: Row) -> str:
        return self.prefix(row) + row.text

    # -- search -----------------------------------------------------------------------------

    def hits(self) -> list[int]:
        """Indices of the rows the search matches, top to bottom."""
        rows = self.rows()
        epoch, searched = self._hits_at
        if epoch != self.epoch:
            self._hits, searched = [], 0
        pattern = self.search
        if pattern:
            self._hits.extend(i for i in range(searched, len(rows)) if matches(rows[i].text, pattern))
        self._hits_at = (self.epoch, len(rows))
        return self._hits

    def next_hit(self, after: int | None = None) -> int | None:
        """The row of the next match below row ``after`` (wrapping around), or None; n."""
        found = self.hits()
        if not found:
            self.current = None
            return None
        if after is None and self.current is not None:
            after = found[self.current]
        start = -1 if after is None else after
        index = next((k for k, row in enumerate(found) if row > start), 0)
        self.current = index
        return found[index]

    def prev_hit(self, before: int | None = None) -> int | None:
        """The row of the match above row ``before`` (wrapping around), or None; N."""
        found = self.hits()
        if not found:
            self.current = None
            return None
        if before is None and self.current is not None:
            before = found[self.current]
        end = len(self.rows()) if before is None else before
        index = next((k for k in range(len(found) - 1, -1, -1) if found[k] < end), len(found) - 1)
        self.current = index
        return found[index]

    def current_row(self) -> int | None:
        found = self.hits()
        if self.current is None or self.current >= len(found):
            return None
        return found[self.current]

    def describe(self) -> str:
        """The pane's title: what it shows and how."""
        parts = [self.only or "all services"]
        if self.filter is not None:
            parts.append(f"filter {self.filter.describe()}")
        if self.search:
            found = self.hits()
            at = f"{self.current + 1}/" if self.current is not None and found else ""
            parts.append(f"search {self.search!r} {at}{len(found)}")
        flags = [("follow", self.follow), ("json", self.pretty)]
        parts.extend(name for name, on in flags if on)
        return " · ".join(parts)
