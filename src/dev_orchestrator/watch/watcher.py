"""One file watcher for the whole stack: raw changes in, batches and config changes out.

On top of ``watchfiles.awatch`` (Rust's notify: inotify, FSEvents, or polling when
``WATCHFILES_FORCE_POLLING`` is set or ``force_polling=True``). Folders of rules are
watched recursively; single files (a rule's file, services.yaml, overlays, .env) through
their folder, not recursively, so that an editor's save by rename is still seen and the
project root is not crawled. The matcher sorts each raw change into rules, the
debouncer turns them into batches.

Usage::

    async with Watcher(rules, root=root, config_files=files, stop_event=stop) as watcher:
        async for event in watcher.batches():  # Batch | ConfigChanged
            ...

``async with`` returns once every watch is in place (a change made after it is seen).
The readers run in the watcher's own task group, so a failure (the inotify limit)
surfaces from the ``async with`` block as itself; ``batches()`` opens no task group or
timeout across a ``yield``, so breaking out of the loop early is safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, cast

from ..errors import OrchestratorError
from .debounce import Batch, ChangeKind, Clock, ConfigChanged, Debouncer, RuleFiles
from .matcher import Matcher
from .polling import Rechecker, polling_enabled
from .rules import RuleKey, WatchRule

STEP_MS = 20  # watchfiles hands over a group once no new change came for this long
GROUP_MS = 100  # ... or once the group is this old (the debouncer does the real batching)

WATCH_LIMIT = (
    "too many watched files: raise fs.inotify.max_user_watches "
    "(sysctl -w fs.inotify.max_user_watches=524288) or set WATCHFILES_FORCE_POLLING=1"
)
INSTANCE_LIMIT = (
    "too many file watchers: raise fs.inotify.max_user_instances "
    "(sysctl -w fs.inotify.max_user_instances=1024) or set WATCHFILES_FORCE_POLLING=1"
)

Event = Batch | ConfigChanged
RawChanges = Iterable[tuple[int, str]]  # (watchfiles.Change value, path)


class WatchError(OrchestratorError):
    """The file watcher could not watch what it was asked to."""


class WatchLimitError(WatchError):
    """The system's limit on file watches (inotify) was reached."""


class StopFlag(Protocol):
    """What a change source polls to know when to stop (``threading.Event``-like)."""

    def is_set(self) -> bool: ...

    def set(self) -> None: ...


class ChangeSource(Protocol):
    """Where raw changes come from: ``watchfiles.awatch`` in production, a fake in tests.

    The source polls ``stop_event`` while it waits and ends once it is set; its first
    poll tells the watcher that the watch is in place.
    """

    def __call__(
        self, paths: Sequence[Path], *, recursive: bool, stop_event: StopFlag
    ) -> AsyncIterator[RawChanges]: ...


def awatch_source(*, force_polling: bool | None = None, poll_delay_ms: int = 300) -> ChangeSource:
    """``watchfiles.awatch`` with the watcher's timings; ``force_polling=None`` reads the environment."""

    def source(paths: Sequence[Path], *, recursive: bool, stop_event: StopFlag) -> AsyncIterator[RawChanges]:
        from watchfiles import awatch

        return awatch(
            *paths,
            watch_filter=None,  # the matcher decides
            debounce=GROUP_MS,
            step=STEP_MS,
            stop_event=cast(Any, stop_event),  # watchfiles only calls is_set() and set()
            recursive=recursive,
            force_polling=force_polling,
            poll_delay_ms=poll_delay_ms,
            ignore_permission_denied=True,  # an unreadable cache folder must not stop the watch
        )

    return source


class _Flag:
    """One reader's stop flag. watchfiles polls it from its thread; the first poll means
    the watch is registered (notify adds its watches, or takes the polling snapshot,
    before it starts waiting), which is the reader's readiness."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_first_poll: Callable[[], None]) -> None:
        self._flag = threading.Event()
        self._loop = loop
        self._on_first_poll: Callable[[], None] | None = on_first_poll

    def set(self) -> None:
        self._flag.set()

    def is_set(self) -> bool:
        callback, self._on_first_poll = self._on_first_poll, None
        if callback is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                self._loop.call_soon_threadsafe(callback)
        return self._flag.is_set()


def config_files(file: Path, *, project: str, env: str) -> tuple[Path, ...]:
    """The files a stack's config is read from (existing or not: creating one is a change too)."""
    root = file.parent
    return (
        file,
        root / "config" / "base.yaml",
        root / "config" / f"{project}.{env}.yaml",
        root / ".env",
        root / f".env.{env}",
    )


def initial_syncs(rules: Iterable[WatchRule]) -> tuple[RuleFiles, ...]:
    """The syncs to run once before watching: each ``initial_sync`` rule with its whole path."""
    return tuple(RuleFiles(r, (r.path,)) for r in rules if r.initial_sync and r.action.syncs)


@dataclass(frozen=True)
class Roots:
    """What to watch: folders recursively, and folders of single files non-recursively."""

    recursive: tuple[Path, ...]
    flat: tuple[Path, ...]


def _covered(path: Path, folders: Iterable[Path]) -> bool:
    return any(path == f or f in path.parents for f in folders)


def watch_roots(rules: Iterable[WatchRule], config: Iterable[Path] = ()) -> Roots:
    """The fewest folders that see every rule's path and every config file."""
    folders: list[Path] = []
    singles: list[Path] = []
    for rule in rules:
        if rule.path.is_dir():
            folders.append(rule.path)
        elif rule.path.exists():
            singles.append(rule.path.parent)
        else:
            raise WatchError(
                f"{rule.place}.path: {rule.path} does not exist",
                hint="create it, or fix the path (relative to services.yaml)",
            )
    recursive = [f for f in sorted(set(folders)) if not _covered(f, [o for o in folders if o != f])]
    flat = {s for s in singles} | {c.parent for c in config if c.parent.is_dir()}
    return Roots(tuple(recursive), tuple(sorted(f for f in flat if not _covered(f, recursive))))


def _normalise(exc: BaseException, roots: Sequence[Path]) -> OrchestratorError:
    """A watchfiles/notify failure as one of ours, with the fix when it is a known limit."""
    text = str(exc)
    code = exc.errno if isinstance(exc, OSError) else None
    if code == errno.ENOSPC or any(
        s in text for s in ("os error 28", "No space left on device", "MaxFilesWatch", "watch limit")
    ):
        return WatchLimitError(WATCH_LIMIT)
    if code == errno.EMFILE or "os error 24" in text or "Too many open files" in text:
        return WatchLimitError(INSTANCE_LIMIT)
    shown = ", ".join(str(r) for r in roots)
    return WatchError(f"cannot watch {shown}: {text}")


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for item in group.exceptions:
        out.extend(_leaves(item) if isinstance(item, BaseExceptionGroup) else [item])
    return out


_KINDS = {1: ChangeKind.ADDED, 2: ChangeKind.MODIFIED, 3: ChangeKind.DELETED}


@dataclass
class Counters:
    """What the watcher saw, for benchmarks and ``--debug`` output."""

    raw: int = 0  # raw changes reported by watchfiles
    matched: int = 0  # of which a rule or a config file took
    batches: int = 0
    config_changes: int = 0
    rechecked: int = 0  # polling: edits the poller missed, found by a second look


class Watcher:
    """Watch every rule's path and the config files; hand out batches in arrival order."""

    def __init__(
        self,
        rules: Sequence[WatchRule],
        *,
        root: Path,
        config_files: Sequence[Path] = (),
        logs_dir: Path | None = None,
        clock: Clock = time.monotonic,
        stop_event: asyncio.Event | None = None,
        force_polling: bool | None = None,
        poll_delay_ms: int = 300,
        source: ChangeSource | None = None,
    ) -> None:
        root = Path(os.path.normpath(root))
        configs = tuple(Path(os.path.normpath(c)) for c in config_files)
        self.rules = tuple(rules)
        self.root = root
        self.matcher = Matcher(self.rules, root=root, logs_dir=logs_dir, config_files=configs)
        self.debouncer = Debouncer(clock)
        self.roots = watch_roots(self.rules, configs)
        self.counters = Counters()
        # A custom source polls only when told so; watchfiles also reads the environment.
        self.polling = bool(force_polling) if source is not None else polling_enabled(force_polling)
        self._recheck = Rechecker(clock) if self.polling else None
        self._clock = clock
        self._stop_event = stop_event
        self._source = source or awatch_source(force_polling=force_polling, poll_delay_ms=poll_delay_ms)
        self._flags: list[_Flag] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._waiting = 0  # readers not watching yet
        self._ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._stopped = False
        self._readers = 0
        self._group: asyncio.TaskGroup | None = None

    async def __aenter__(self) -> Watcher:
        """Start the readers; return once every one of them is watching."""
        if self._stopped or self._group is not None:
            raise RuntimeError("a Watcher runs once: make a new one (with the new rules, after a reload)")
        self._group = group = asyncio.TaskGroup()
        await group.__aenter__()
        try:
            if self._recheck is not None:
                # before the readers take their first snapshot: an edit in between is
                # seen by both, never by neither
                files = [r.path for r in self.rules if r.path.is_file()]
                self._recheck.recent([*self.matcher.config_files, *files])
            loop = asyncio.get_running_loop()
            for paths, recursive in ((self.roots.recursive, True), (self.roots.flat, False)):
                if paths:
                    flag = _Flag(loop, self._watching)
                    self._flags.append(flag)
                    self._readers += 1
                    self._waiting += 1
                    self._tasks.append(group.create_task(self._read(paths, recursive, flag)))
            if self._stop_event is not None:
                self._tasks.append(group.create_task(self._await_stop(self._stop_event)))
            if not self._waiting:
                self._ready.set()
            await self._ready.wait()
        except BaseException as exc:
            await self._close(type(exc), exc, exc.__traceback__)
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        return await self._close(kind, exc, tb)

    async def _close(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        group, self._group = self._group, None
        if group is None:
            return None
        self._halt()
        for task in self._tasks:
            task.cancel()  # a reader's watch thread sees its flag within a step and returns
        try:
            await group.__aexit__(kind, exc, tb)
            return None
        except BaseExceptionGroup as failed:
            # One failure (a reader's WatchLimitError, or the block's own error) is raised
            # as itself, not wrapped in a group of one.
            leaves = _leaves(failed)
            if len(leaves) != 1:
                raise
            if leaves[0] is exc:
                return False
            raise leaves[0] from leaves[0].__cause__

    def _halt(self) -> None:
        self._stopped = True
        for flag in self._flags:
            flag.set()
        self._wake.set()

    def _watching(self) -> None:
        self._waiting -= 1
        if self._waiting <= 0:
            self._ready.set()

    # -- the readers (tasks of the watcher's group) --------------------------------------

    async def _await_stop(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._halt()

    async def _read(self, paths: tuple[Path, ...], recursive: bool, flag: _Flag) -> None:
        announced = False
        try:
            async for changes in self._source(paths, recursive=recursive, stop_event=flag):
                if not announced:
                    announced = True
                    flag.is_set()  # a source that yields has surely started watching
                self._take(changes, self._clock())
                self._wake.set()
        except (OSError, RuntimeError) as exc:
            raise _normalise(exc, paths) from exc
        finally:
            flag.is_set()
            self._readers -= 1
            self._wake.set()

    def _take(self, changes: RawChanges, at: float) -> None:
        """Sort one group of raw changes into the debouncer (no await: atomic for the loop)."""
        for change, text in changes:
            self.counters.raw += 1
            self._take_one(Path(os.path.normpath(text)), _KINDS.get(int(change), ChangeKind.MODIFIED), at)

    def _take_one(self, path: Path, kind: ChangeKind, at: float) -> None:
        # A folder's own "modified" (an entry came or went) carries nothing: its entries'
        # changes do. Taking it would make a sync copy the whole folder.
        if kind is ChangeKind.MODIFIED and path.is_dir():
            return
        self.matcher.note_change(path)
        matched = False
        if self.matcher.is_config(path):
            self.debouncer.add_config(path, kind, at=at)
            matched = True
        for rule in self.matcher.rules_for(path):
            self.debouncer.add(rule, path, kind, at=at)
            matched = True
        self.counters.matched += matched
        if matched and self._recheck is not None and kind is not ChangeKind.DELETED:
            self._recheck.seen(path, at)

    # -- the consumer's side -------------------------------------------------------------

    def suspend(self, keys: Iterable[RuleKey]) -> None:
        """Stop matching these rules (a feedback loop); ``resume`` undoes it."""
        self.matcher.suspend(keys)

    def resume(self, service: str | None = None) -> None:
        self.matcher.resume(service)

    async def batches(self) -> AsyncIterator[Event]:
        """Batches and config changes as they come due; ends once stopped.

        Changes keep being collected while the caller acts on a batch; a service's
        changes that arrive meanwhile form its next batch.
        """
        if self._group is None:
            raise RuntimeError("Watcher.batches() runs inside `async with Watcher(...) as watcher:`")
        while True:
            # The readers set this event; a change that arrives while a batch is being
            # yielded sets it again, so the wait below returns at once and nothing is lost.
            self._wake.clear()
            if self._recheck is not None:
                now = self._clock()
                for path in self._recheck.due():
                    self.counters.rechecked += 1
                    self._take_one(path, ChangeKind.MODIFIED, now)
            for event in self.debouncer.due():
                if isinstance(event, Batch):
                    self.counters.batches += 1
                else:
                    self.counters.config_changes += 1
                yield event
            if self._stopped or self._readers == 0:
                return
            deadlines = [self.debouncer.next_deadline(), self._recheck.next_due() if self._recheck else None]
            deadline = min((d for d in deadlines if d is not None), default=None)
            delay = None if deadline is None else max(0.0, deadline - self._clock())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
