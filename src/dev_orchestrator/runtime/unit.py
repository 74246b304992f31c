"""One service's lifecycle: start, probe, supervise, restart by policy, stop on request.

A unit never changes state itself: it sends events to the engine (``emit``), the one
writer of state. It runs as one task in the engine's task group.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BackendError
from ..health.prober import Prober
from . import events as ev
from .secret_files import write_private

if TYPE_CHECKING:
    from ..backends.base import Backend, StopResult
    from ..config.resolve import ResolvedService
    from ..logs.writer import LogSink
    from ..net.notify import NotifyMessage, NotifySocket
    from .front import Instance

BACKOFF_FIRST = 0.5
BACKOFF_CAP = 30.0
BACKOFF_RESET_AFTER = 10.0  # seconds up before the backoff starts again from the beginning
RESTART_REQUESTED = "restart requested"
log = logging.getLogger(__name__)
_notify_ids = itertools.count(1)


def backoff_delay(failures_in_row: int) -> float:
    """0.5s, 1s, 2s, ... capped at 30s."""
    return min(BACKOFF_FIRST * (2 ** max(failures_in_row - 1, 0)), BACKOFF_CAP)


@dataclass
class StopRequest:
    grace: float | None = None


class ServiceUnit:
    def __init__(
        self,
        service: ResolvedService,
        backend: Backend,
        sink: LogSink,
        emit: Callable[[ev.Event], None],
        *,
        startup_deadline: float | None = None,
        instance: Instance | None = None,
        notify_dir: Path | None = None,
    ) -> None:
        self.service = service  # the definition, as the files say (plans compare it)
        # With `listen`: what this instance really runs (private ports, probes pointed at
        # them) and the listening sockets it receives as fds 3, 4, ... (socket activation).
        self.instance = instance
        self.notify_dir = notify_dir
        self.backend = backend
        self.sink = sink
        self.emit = emit
        self.startup_deadline = startup_deadline
        self.handle: Any = None
        self.stop_result: StopResult | None = None
        self._stop: asyncio.Future[StopRequest] = asyncio.get_running_loop().create_future()
        self._restart_now = asyncio.Event()
        self._restart_reason = ""
        self._kill = asyncio.Event()
        self.ever_ready = False
        self.finished = asyncio.Event()

    @property
    def name(self) -> str:
        return self.service.name

    def route(self, emit: Callable[[ev.Event], None]) -> None:
        """Send this unit's events to ``emit`` from now on.

        Why: during a start-first replace the new instance's events are watched by the
        replace, not applied to the service's state; at the switch they go to the engine,
        and the old instance's (its stop) stop counting.
        """
        self.emit = emit

    @property
    def running(self) -> ResolvedService:
        """What an instance of this unit is started from (the definition, or the instance's)."""
        return self.instance.service if self.instance is not None else self.service

    def _notify_socket(self) -> NotifySocket | None:
        """A fresh sd_notify socket for one attempt, when the healthcheck is ``notify``."""
        check = self.service.healthcheck
        if check is None or check == "docker" or not check.notify:
            return None
        from ..net.notify import NotifySocket

        folder = self.notify_dir or Path("/tmp")
        name = self.name

        def on_message(message: NotifyMessage) -> None:
            status = dict(message.fields).get("STATUS")
            if status is not None:
                self.emit(ev.Notified(name, status))

        return NotifySocket.in_folder(folder, f"{name}-{next(_notify_ids)}", on_message=on_message)

    def request_stop(self, grace: float | None = None) -> None:
        """Stop (``grace`` overrides stop_grace_period); a shorter grace while stopping kills."""
        if not self._stop.done():
            self._stop.set_result(StopRequest(grace))
            return
        current = self._stop.result().grace
        if grace is not None and (current is None or grace < current):
            self._kill.set()

    def request_restart(self, reason: str) -> None:
        """Restart the running instance now (a dependency restarted); no backoff, not a failure."""
        if not self.stopping:
            self._restart_reason = reason
            self._restart_now.set()

    @property
    def stopping(self) -> bool:
        return self._stop.done()

    async def run(self) -> None:
        try:
            await self._run()
        except Exception as exc:  # noqa: BLE001 - one unit's bug must not take the stack down
            # An unexpected error (a probe or backend bug) ends this service only: stop
            # what it runs, mark it failed, and leave the engine's task group alone.
            log.exception("%s: unexpected error", self.name)
            reason = f"internal error: {type(exc).__name__}: {exc}"
            with contextlib.suppress(Exception):
                self.sink.note(reason)
            if self.handle is not None:
                with contextlib.suppress(Exception):
                    await self.handle.stop(self.service.stop_signal, self.service.stop_grace_period)
            with contextlib.suppress(Exception):
                self.emit(ev.Failed(self.name, reason))
        finally:
            self.finished.set()

    async def _run(self) -> None:
        failures_in_row = 0
        attempt = 0
        while not self.stopping:
            self.emit(ev.Starting(self.name, attempt))
            self._restart_now.clear()
            service = self.running
            check = service.healthcheck
            # Made before the start, so that a log probe sees the very first lines (and a
            # notify socket exists before the process could send READY=1).
            notify = self._notify_socket()
            prober = Prober(check, None, self.sink, notify=notify) if check is not None else None
            if notify is not None:
                service = dataclasses.replace(service, env={**service.env, **notify.env()})
            try:
                if service.secrets:
                    write_private(service.secrets)  # BackendError: a folder that is not ours
                sockets = self.instance.sockets if self.instance is not None else ()
                if sockets:
                    self.handle = await self.backend.start(service, self.sink, sockets=sockets)  # type: ignore[call-arg]
                else:
                    self.handle = await self.backend.start(service, self.sink)
            except BackendError as exc:
                if prober is not None:
                    prober.close()
                self.sink.note(f"start failed: {exc.message}")
                self.emit(ev.Failed(self.name, exc.message))
                reason = exc.message
                up_for = 0.0
            else:
                handle = self.handle
                self.emit(ev.Spawned(self.name, handle.pid, handle.create_time, handle.container))
                began = time.monotonic()
                if prober is not None:
                    prober.handle = handle
                outcome = await self._supervise(handle, prober)
                up_for = time.monotonic() - began
                if outcome is None:  # stopped on request
                    return
                if outcome == RESTART_REQUESTED:
                    attempt += 1
                    continue
                reason = outcome
            if not self.ever_ready or self.stopping:
                return  # failures during start-up are reported, never retried
            if up_for >= BACKOFF_RESET_AFTER:
                failures_in_row = 0
            failures_in_row += 1
            if not self._should_restart(reason, failures_in_row):
                policy = self.service.restart
                if policy.mode == "on-failure" and policy.max_retries is not None and reason != "exited with code 0":
                    gave_up = f"gave up after {failures_in_row - 1} restarts (on-failure:{policy.max_retries})"
                    self.sink.note(gave_up)
                    self.emit(ev.GaveUp(self.name, gave_up))
                return
            delay = backoff_delay(failures_in_row)
            self.emit(ev.Restarting(self.name, attempt + 1, delay, reason))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._stop), delay)
            attempt += 1
        if self.stopping:
            self.emit(ev.Stopped(self.name, 0.0, False))

    def _should_restart(self, reason: str, failures_in_row: int) -> bool:
        policy = self.service.restart
        succeeded = reason == "exited with code 0"
        if self.service.one_shot and succeeded:
            return False
        if policy.mode == "no":
            return False
        if policy.mode == "on-failure":
            return not succeeded and (policy.max_retries is None or failures_in_row <= policy.max_retries)
        return True  # always, unless-stopped

    async def _supervise(self, handle: Any, prober: Prober | None) -> str | None:
        """Run until exit, liveness failure or stop; return the failure reason (None: stopped)."""
        exit_task = asyncio.ensure_future(handle.wait())
        stop_task = asyncio.ensure_future(asyncio.shield(self._stop))
        restart_task = asyncio.ensure_future(self._restart_now.wait())
        health_task: asyncio.Future[Any] | None = None
        try:
            if prober is not None:
                health_task = asyncio.ensure_future(self._startup(prober))
            elif not self.service.one_shot:
                self._became_ready()  # no healthcheck: started is ready
            while True:
                waiting = [t for t in (exit_task, stop_task, restart_task, health_task) if t is not None]
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if stop_task in done:
                    await self._stop_handle(handle)
                    return None
                if restart_task in done and exit_task not in done:
                    self.sink.note(f"restarting: {self._restart_reason}")
                    self.emit(ev.Restarting(self.name, 0, 0.0, self._restart_reason))
                    await self._stop_handle(handle, report=False)
                    return RESTART_REQUESTED
                if exit_task in done:
                    status = exit_task.result()
                    exited = ev.Exited(self.name, status.code, status.signal, not self.ever_ready)
                    self.sink.note(exited.describe())
                    self.emit(exited)
                    return exited.describe()
                assert health_task is not None and health_task in done
                outcome = health_task.result()
                if outcome is None:  # start-up probe passed: now watch liveness
                    health_task = asyncio.ensure_future(prober.until_unhealthy())  # type: ignore[union-attr]
                    continue
                # start-up timed out or liveness failed: the process is still up; stop it
                self.sink.note(outcome.detail)
                self.emit(ev.Unhealthy(self.name, outcome.detail))
                await self._stop_handle(handle, report=False)
                self.emit(ev.Failed(self.name, outcome.detail))
                return outcome.detail
        finally:
            if prober is not None:
                prober.close()
            for task in (exit_task, stop_task, restart_task, health_task):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task

    async def _startup(self, prober: Prober) -> Any:
        result = await prober.until_ready(
            self.startup_deadline,
            progress=lambda attempt, detail: self.emit(ev.ProbeProgress(self.name, attempt, detail)),
        )
        if not result.ok:
            return result
        self.emit(ev.Healthy(self.name, result.latency_ms, result.detail))
        self._became_ready()
        return None

    def _became_ready(self) -> None:
        self.ever_ready = True

    async def _stop_handle(self, handle: Any, *, report: bool = True) -> None:
        request = self._stop.result() if self._stop.done() else StopRequest()
        grace = self.service.stop_grace_period if request.grace is None else request.grace
        if report:
            self.emit(ev.Stopping(self.name))
        # A second, shorter stop request (a second Ctrl-C) kills without waiting the grace.
        stopping = asyncio.ensure_future(handle.stop(self.service.stop_signal, grace))
        kill = asyncio.ensure_future(self._kill.wait())
        try:
            await asyncio.wait([stopping, kill], return_when=asyncio.FIRST_COMPLETED)
            if not stopping.done():
                result = await handle.stop(self.service.stop_signal, 0)
                await stopping
            else:
                result = stopping.result()
        finally:
            kill.cancel()
        if report:
            self.stop_result = result
            if result.killed:
                self.sink.note(f"did not stop within {grace:g}s; killed")
            self.emit(ev.Stopped(self.name, result.duration, result.killed))
