"""Group raw file changes into batches, one per service, after a quiet spell.

Pure and clock-injected: the watcher feeds changes in and asks what is due, so that
the timing rules are tested with a fake clock. A batch fires once its service's files
have been quiet for the debounce time, and no later than the cap after the batch's
first change, so that a steady stream of writes (a build writing for minutes) still
triggers every couple of seconds instead of never.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from .rules import DEFAULT_DEBOUNCE, DEFAULT_DEBOUNCE_CAP, Action, OnBusy, RuleKey, WatchRule


class Clock(Protocol):
    """Monotonic seconds; ``time.monotonic`` in production, a fake in tests."""

    def __call__(self) -> float: ...


class ChangeKind(StrEnum):
    ADDED = "added"
    MODIFIED = "modified"
    DELETED = "deleted"


def _collapse(before: ChangeKind | None, after: ChangeKind) -> ChangeKind:
    """Two changes to one path within a batch, as one."""
    if before is ChangeKind.ADDED and after is ChangeKind.MODIFIED:
        return ChangeKind.ADDED
    if before is ChangeKind.DELETED and after is not ChangeKind.DELETED:
        return ChangeKind.MODIFIED  # replaced (an editor's save by rename)
    return after


@dataclass(frozen=True)
class RuleFiles:
    """The files of one batch that one rule matched."""

    rule: WatchRule
    files: tuple[Path, ...]


def combined_action(actions: Iterable[Action]) -> Action:
    """The one action a service gets for a batch that several rules matched.

    A rebuild replaces the container, so it covers everything else; a restart after
    syncing covers an exec.
    """
    found = set(actions)
    if Action.REBUILD in found:
        return Action.REBUILD
    restarts = bool(found & {Action.RESTART, Action.SYNC_RESTART})
    syncs = any(a.syncs for a in found)
    if restarts:
        return Action.SYNC_RESTART if syncs else Action.RESTART
    if Action.SYNC_EXEC in found:
        return Action.SYNC_EXEC
    return Action.SYNC


@dataclass(frozen=True)
class Batch:
    """What changed for one service, and when: the unit the supervisor acts on.

    ``first_seen`` is the monotonic time the first raw change of the batch reached the
    watcher, ``emitted_at`` when the batch was handed out: the supervisor's "restart
    begun" minus ``first_seen`` is the latency a user feels.
    """

    service: str
    action: Action
    files: tuple[Path, ...]
    rules: tuple[RuleFiles, ...]
    changes: tuple[tuple[Path, ChangeKind], ...]
    first_seen: float
    emitted_at: float

    @property
    def restart(self) -> bool:
        """The service must get a new instance (restart, or sync then restart)."""
        return self.action in (Action.RESTART, Action.SYNC_RESTART)

    @property
    def rebuild(self) -> bool:
        return self.action is Action.REBUILD

    @property
    def syncs(self) -> tuple[RuleFiles, ...]:
        """The sync rules and their files, to copy before anything else (none for a rebuild)."""
        if self.rebuild:
            return ()
        return tuple(rf for rf in self.rules if rf.rule.action.syncs)

    @property
    def execs(self) -> tuple[WatchRule, ...]:
        """The sync+exec rules whose command runs after syncing (none when restarting)."""
        if self.action is not Action.SYNC_EXEC:
            return ()
        return tuple(rf.rule for rf in self.rules if rf.rule.action is Action.SYNC_EXEC and rf.rule.exec)

    @property
    def cascade(self) -> bool:
        """Dependents restart too: a rule that restarts or rebuilds asked for it."""
        renews = (Action.RESTART, Action.SYNC_RESTART, Action.REBUILD)
        return any(rf.rule.cascade for rf in self.rules if rf.rule.action in renews)

    @property
    def on_busy(self) -> OnBusy:
        return self.rules[0].rule.on_busy if self.rules else OnBusy.QUEUE

    @property
    def deleted(self) -> tuple[Path, ...]:
        return tuple(p for p, kind in self.changes if kind is ChangeKind.DELETED)

    @property
    def latency(self) -> float:
        """Seconds from the first raw change to the batch's emission."""
        return self.emitted_at - self.first_seen

    def merge(self, later: Batch) -> Batch:
        """This batch and a later one of the same service, as one (a queued batch that grew)."""
        if later.service != self.service:
            raise ValueError(f"cannot merge batches of {self.service} and {later.service}")
        changes = dict(self.changes)
        for path, kind in later.changes:
            changes[path] = _collapse(changes.get(path), kind)
        by_rule: dict[RuleKey, tuple[WatchRule, dict[Path, None]]] = {}
        for rf in (*self.rules, *later.rules):
            entry = by_rule.setdefault(rf.rule.key, (rf.rule, {}))
            entry[1].update(dict.fromkeys(rf.files))
        rules = tuple(RuleFiles(rule, tuple(sorted(files))) for rule, files in by_rule.values())
        return Batch(
            service=self.service,
            action=combined_action(rf.rule.action for rf in rules),
            files=tuple(sorted(changes)),
            rules=rules,
            changes=tuple(sorted(changes.items())),
            first_seen=min(self.first_seen, later.first_seen),
            emitted_at=max(self.emitted_at, later.emitted_at),
        )


@dataclass(frozen=True)
class ConfigChanged:
    """A config file of the stack (services.yaml, an overlay, .env) changed: reload and apply."""

    files: tuple[Path, ...]
    first_seen: float
    emitted_at: float

    @property
    def latency(self) -> float:
        return self.emitted_at - self.first_seen


@dataclass
class _Window:
    """One batch being collected: its changes and its timing."""

    first: float
    last: float
    quiet: float
    cap: float
    changes: dict[Path, ChangeKind] = field(default_factory=dict)
    rules: dict[RuleKey, tuple[WatchRule, dict[Path, None]]] = field(default_factory=dict)

    @property
    def deadline(self) -> float:
        return min(self.last + self.quiet, self.first + self.cap)

    def note(self, path: Path, kind: ChangeKind, at: float) -> None:
        self.changes[path] = _collapse(self.changes.get(path), kind)
        self.last = max(self.last, at)


_CONFIG = ""  # the key of the config files' window: no service has an empty name


class Debouncer:
    """Collect changes per service (and for the config files); hand out the batches that are due."""

    def __init__(
        self, clock: Clock, *, config_debounce: float = DEFAULT_DEBOUNCE, config_cap: float = DEFAULT_DEBOUNCE_CAP
    ) -> None:
        self.clock = clock
        self.config_debounce = config_debounce
        self.config_cap = max(config_cap, config_debounce)
        self._windows: dict[str, _Window] = {}

    def _window(self, key: str, at: float, quiet: float, cap: float) -> _Window:
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window(first=at, last=at, quiet=quiet, cap=cap)
        else:
            window.quiet = min(window.quiet, quiet)
            window.cap = min(window.cap, cap)
        return window

    def add(self, rule: WatchRule, path: Path, kind: ChangeKind, *, at: float | None = None) -> None:
        """One change of ``path`` that ``rule`` matched, seen ``at`` (default: now)."""
        at = self.clock() if at is None else at
        window = self._window(rule.service, at, rule.debounce, rule.debounce_cap)
        window.note(path, kind, at)
        window.rules.setdefault(rule.key, (rule, {}))[1][path] = None

    def add_config(self, path: Path, kind: ChangeKind, *, at: float | None = None) -> None:
        at = self.clock() if at is None else at
        self._window(_CONFIG, at, self.config_debounce, self.config_cap).note(path, kind, at)

    def next_deadline(self) -> float | None:
        """When the next batch is due (monotonic seconds), None when nothing is pending."""
        return min((w.deadline for w in self._windows.values()), default=None)

    def __len__(self) -> int:
        return len(self._windows)

    def due(self) -> list[Batch | ConfigChanged]:
        """Take the batches whose time has come, oldest first (config changes before files)."""
        now = self.clock()
        ready = [key for key, w in self._windows.items() if w.deadline <= now]
        return self._take(ready, now)

    def flush(self) -> list[Batch | ConfigChanged]:
        """Take every pending batch now, due or not."""
        return self._take(list(self._windows), self.clock())

    def _take(self, keys: list[str], now: float) -> list[Batch | ConfigChanged]:
        out: list[Batch | ConfigChanged] = []
        for key in sorted(keys, key=lambda k: (k != _CONFIG, self._windows[k].first)):
            window = self._windows.pop(key)
            if key == _CONFIG:
                out.append(ConfigChanged(tuple(sorted(window.changes)), window.first, now))
                continue
            rules = tuple(RuleFiles(rule, tuple(sorted(files))) for rule, files in window.rules.values())
            out.append(
                Batch(
                    service=key,
                    action=combined_action(rf.rule.action for rf in rules),
                    files=tuple(sorted(window.changes)),
                    rules=rules,
                    changes=tuple(sorted(window.changes.items())),
                    first_seen=window.first,
                    emitted_at=now,
                )
            )
        return out
