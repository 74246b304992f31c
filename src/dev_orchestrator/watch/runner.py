"""Turn the watcher's batches into actions on the stack, one line per action.

The runner decides the order (sync, then rebuild or restart, or exec) and what a batch
does while its service is still busy (``x-on-busy``); what an action *does* is behind
the ``Actions`` protocol: the `watch` command talks to the supervisor, the supervisor
(`start --watch`) acts on itself. A config file change goes through the reconcile path
(``Actions.apply``) and, when the rules changed with it, the watcher starts over with
the new ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..errors import OrchestratorError
from .debounce import Batch, ConfigChanged
from .feedback import FeedbackGuard
from .rules import OnBusy, WatchRule
from .watcher import Watcher, initial_syncs


class Actions(Protocol):
    """What the runner can do to the stack; each returns a short result for people."""

    async def restart(self, services: list[str]) -> str: ...

    async def rebuild(self, service: str) -> str: ...

    async def sync(self, rule: WatchRule, files: tuple[Path, ...]) -> str: ...

    async def exec(self, rule: WatchRule) -> str: ...

    async def apply(self) -> list[str]: ...

    def dependents(self, service: str) -> list[str]: ...


@dataclass(frozen=True)
class Setup:
    """What to watch: the rules and the config files (read again after a config change)."""

    rules: tuple[WatchRule, ...]
    config_files: tuple[Path, ...]


Report = Callable[[str], None]


def describe_files(files: Sequence[Path], root: Path, shown: int = 2) -> str:
    """``2 files: a.py, b.py`` / ``a.py (+3 more)``, relative to the project."""
    names = []
    for path in files:
        try:
            names.append(str(path.relative_to(root)))
        except ValueError:
            names.append(str(path))
    if len(names) <= shown:
        return f"{len(names)} file{'s' if len(names) != 1 else ''}: {', '.join(names)}"
    return f"{', '.join(names[:shown])} (+{len(names) - shown} more)"


class WatchRunner:
    """Runs until ``stop`` is set: batches in, actions out, a line for each."""

    def __init__(
        self,
        setup: Callable[[], Setup],
        actions: Actions,
        report: Report,
        *,
        root: Path,
        logs_dir: Path | None = None,
        force_polling: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        self.setup = setup
        self.actions = actions
        self.report = report
        self.root = root
        self.logs_dir = logs_dir
        self.force_polling = force_polling
        self.clock = clock
        self.guard = FeedbackGuard(clock, root=root)
        self._busy: dict[str, asyncio.Task[None]] = {}
        self._pending: dict[str, Batch] = {}
        self.latencies: list[float] = []  # first change seen -> action begun, per batch
        self.on_ready = on_ready  # called once, when the first watcher has every watch in place

    async def run(self, stop: asyncio.Event) -> None:
        first = True
        while not stop.is_set():
            current = self.setup()
            if first:
                first = False
                await self._initial_syncs(current)
            if not await self._watch(current, stop):
                return
            self.guard.reset()

    async def _initial_syncs(self, current: Setup) -> None:
        """``initial_sync: true``: the whole path once, before watching."""
        for rf in initial_syncs(current.rules):
            try:
                result = await self.actions.sync(rf.rule, rf.files)
            except OrchestratorError as exc:
                result = f"FAILED: {exc.message}"
            self.report(f"{_clock()}  {rf.rule.service:<12} sync      initial: {describe_files(rf.files, self.root)}  "
                        f"{result}")

    async def _watch(self, current: Setup, stop: asyncio.Event) -> bool:
        """Watch with one set of rules; True when a config change asks to start over."""
        async with Watcher(current.rules, root=self.root, config_files=current.config_files,
                           logs_dir=self.logs_dir, stop_event=stop, force_polling=self.force_polling) as watcher:
            self.watcher = watcher
            if self.on_ready is not None:
                ready, self.on_ready = self.on_ready, None
                ready()
            # Actions belong to this group: leaving the watch waits for those in flight.
            async with asyncio.TaskGroup() as group:
                async for event in watcher.batches():
                    if isinstance(event, ConfigChanged):
                        if await self._config_changed(event, current):
                            return True
                        continue
                    self._dispatch(event, group)
        return False

    async def _config_changed(self, event: ConfigChanged, current: Setup) -> bool:
        for task in list(self._busy.values()):  # the reload waits for actions in flight
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        names = ", ".join(describe_files(event.files, self.root).split(": ", 1)[-1:])
        try:
            lines = await self.actions.apply()
        except OrchestratorError as exc:
            self.report(f"{_clock()}  {names} changed: not applied: {exc.message}")
            return False
        self.report(f"{_clock()}  {names} changed: " + ("; ".join(lines) if lines else "nothing to change"))
        try:
            return self.setup().rules != current.rules
        except OrchestratorError:
            return False

    def _dispatch(self, batch: Batch, group: asyncio.TaskGroup) -> None:
        name = batch.service
        running = self._busy.get(name)
        if running is not None and not running.done():
            if batch.on_busy is OnBusy.IGNORE:
                self.report(f"{_clock()}  {name:<12} ignored   {describe_files(batch.files, self.root)} (busy)")
                return
            if batch.on_busy is OnBusy.QUEUE:
                pending = self._pending.get(name)
                self._pending[name] = pending.merge(batch) if pending is not None else batch
                return
            running.cancel()  # OnBusy.RESTART: start over with the newer change
        self._busy[name] = group.create_task(self._serve(batch), name=f"watch:{name}")

    async def _serve(self, batch: Batch) -> None:
        """Handle the batch, then whatever queued up for the service meanwhile."""
        current: Batch | None = batch
        while current is not None:
            await self._handle(current)
            current = self._pending.pop(current.service, None)

    async def _handle(self, batch: Batch) -> None:
        name = batch.service
        suspended = self.guard.check(batch)
        if suspended is not None:
            self.watcher.suspend(suspended.rules)
            self.report(f"{_clock()}  {name:<12} suspended {suspended.message}")
            return
        self.latencies.append(self.clock() - batch.first_seen)
        what = describe_files(batch.files, self.root)
        try:
            for rf in batch.syncs:
                result = await self.actions.sync(rf.rule, rf.files)
                if not (batch.restart or batch.execs):
                    self.report(f"{_clock()}  {name:<12} sync      {what}  {result}")
            if batch.rebuild:
                result = await self.actions.rebuild(name)
                self.report(f"{_clock()}  {name:<12} rebuild   {what}  {result}")
                self.guard.restarted(batch)
            elif batch.restart:
                targets = [name, *(self.actions.dependents(name) if batch.cascade else [])]
                result = await self.actions.restart(targets)
                extra = f" (and {', '.join(targets[1:])})" if len(targets) > 1 else ""
                self.report(f"{_clock()}  {name:<12} restart   {what}{extra}  {result}")
                self.guard.restarted(batch)
            for rule in batch.execs:
                result = await self.actions.exec(rule)
                self.report(f"{_clock()}  {name:<12} sync+exec {what}  {result}")
        except OrchestratorError as exc:
            self.report(f"{_clock()}  {name:<12} FAILED    {what}: {exc.message}")


def _clock() -> str:
    return time.strftime("%H:%M:%S")
