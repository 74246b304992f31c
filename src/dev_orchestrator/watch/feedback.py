"""Spot a service that restarts itself through the watcher, and stop the loop.

A service that writes into its own watched folder (a cache, a database file, a
generated module) restarts, writes again on start-up, and restarts again, forever.
Which process wrote a file is not known, so the guard approximates: the same files
keep changing while a restart runs or just after it completes. More than ``limit``
such restarts within ``window`` seconds suspend the rules that matched those files,
with a message that names them. Pure and clock-injected, like the debouncer.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .debounce import Batch, Clock
from .rules import RuleKey

DEFAULT_LIMIT = 5
DEFAULT_WINDOW = 10.0
DEFAULT_SETTLE = 2.0  # seconds after a restart completes in which its own writes still show up


@dataclass(frozen=True)
class Suspension:
    """The guard's verdict: do not act on the batch; stop watching these rules."""

    service: str
    rules: tuple[RuleKey, ...]
    files: tuple[Path, ...]
    restarts: int
    window: float
    message: str


@dataclass
class _History:
    began: float | None = None  # when the last watch-triggered restart began
    done: float | None = None  # ... and completed
    files: frozenset[Path] = frozenset()  # what triggered it
    loops: deque[tuple[float, frozenset[Path]]] = field(default_factory=deque)


class FeedbackGuard:
    """Count the restarts that look self-inflicted, per service; suspend past the limit.

    Call ``check(batch)`` before acting on a batch that restarts or rebuilds, and
    ``restarted(batch)`` once that restart has completed.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        limit: int = DEFAULT_LIMIT,
        window: float = DEFAULT_WINDOW,
        settle: float = DEFAULT_SETTLE,
        root: Path | None = None,
    ) -> None:
        self.clock = clock
        self.limit = limit
        self.window = window
        self.settle = settle
        self.root = root
        self._history: dict[str, _History] = {}

    def restarted(self, batch: Batch) -> None:
        """The restart that ``batch`` caused has completed (the service is up again)."""
        history = self._history.setdefault(batch.service, _History())
        history.began = batch.emitted_at
        history.done = self.clock()
        history.files = frozenset(batch.files)

    def reset(self, service: str | None = None) -> None:
        """Forget the history of ``service`` (of every service when None): its rules are back."""
        if service is None:
            self._history.clear()
        else:
            self._history.pop(service, None)

    def _looping(self, history: _History, batch: Batch) -> frozenset[Path]:
        """The files of ``batch`` that look written by the restart before it (empty: none)."""
        if history.began is None or history.done is None:
            return frozenset()
        if not history.began <= batch.first_seen <= history.done + self.settle:
            return frozenset()
        return frozenset(batch.files) & history.files

    def check(self, batch: Batch) -> Suspension | None:
        """None: go ahead. A Suspension: skip the batch and suspend its looping rules."""
        if not (batch.restart or batch.rebuild):
            return None
        history = self._history.setdefault(batch.service, _History())
        looping = self._looping(history, batch)
        if not looping:
            return None
        now = self.clock()
        history.loops.append((now, looping))
        while history.loops and now - history.loops[0][0] > self.window:
            history.loops.popleft()
        if len(history.loops) <= self.limit:
            return None
        files = frozenset().union(*(f for _, f in history.loops))
        rules = tuple(rf.rule.key for rf in batch.rules if files & set(rf.files))
        places = [rf.rule.place for rf in batch.rules if rf.rule.key in rules]
        count = len(history.loops)
        self._history.pop(batch.service, None)
        return Suspension(
            service=batch.service,
            rules=rules,
            files=tuple(sorted(files)),
            restarts=count,
            window=self.window,
            message=self._message(batch.service, count, sorted(files), places),
        )

    def _message(self, service: str, count: int, files: list[Path], places: Iterable[str]) -> str:
        shown = [self._display(f) for f in files[:5]] + ([f"and {len(files) - 5} more"] if len(files) > 5 else [])
        where = ", ".join(f"{p}.ignore" for p in places)
        return (
            f'watch of "{service}" suspended: it restarted {count} times in {self.window:g}s, each time '
            f"right after {', '.join(shown)} changed, which it seems to write itself (a feedback loop); "
            f"add {'them' if len(files) > 1 else 'it'} to {where}, then edit the config to watch again"
        )

    def _display(self, path: Path) -> str:
        if self.root is not None:
            try:
                return os.path.relpath(path, self.root)
            except ValueError:
                pass
        return str(path)
