"""Local processes: own session and process group, output read without blocking the child.

Stop sends ``stop_signal`` to the whole process group, waits the grace period, then
SIGKILLs the group and every descendant that escaped it (found with psutil before the
first signal, since a child that called setsid() is no longer in the group).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

import psutil

from ..errors import BackendError
from .base import ExecResult, ExitStatus, StopResult

if TYPE_CHECKING:
    from ..config.resolve import ResolvedService
    from ..logs.writer import LogSink

CHUNK = 1 << 16


class ProcessHandle:
    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        exited: asyncio.Future[None],
        sink: LogSink,
        service: ResolvedService,
    ) -> None:
        self.proc = proc
        self._exited = exited
        self.pid: int | None = proc.pid
        self.container: str | None = None
        self.service = service
        self.sink = sink
        try:
            self.create_time: float | None = psutil.Process(proc.pid).create_time()
        except psutil.Error:
            self.create_time = None
        self._readers = [
            asyncio.ensure_future(self._pump(proc.stdout, "stdout")),
            asyncio.ensure_future(self._pump(proc.stderr, "stderr")),
        ]
        self._status: ExitStatus | None = None
        self._waiter: asyncio.Future[ExitStatus] | None = None
        self._stopping = False

    async def _pump(self, stream: asyncio.StreamReader | None, name: str) -> None:
        if stream is None:
            return
        while True:
            chunk = await stream.read(CHUNK)
            if not chunk:
                return
            self.sink.feed(chunk, name)

    async def wait(self) -> ExitStatus:
        # One shared waiter: several tasks wait at once (supervision, stop), and a waiter
        # cancelled by a timeout must not cancel the clean-up that runs inside it.
        if self._waiter is None:
            self._waiter = asyncio.ensure_future(self._wait())
        return await asyncio.shield(self._waiter)

    async def _wait(self) -> ExitStatus:
        # Not proc.wait(): on Python 3.11 it returns only once every pipe is closed, and a
        # child that outlives the service keeps them open.
        await self._exited
        code = self.proc.returncode
        assert code is not None
        if not self._stopping and self._group_alive():
            # The service exited by itself but left processes in its group (a crashed
            # parent's children): they belong to the service and go with it.
            _signal_group(self.proc.pid, signal.Signals[self.service.stop_signal])
            if not await self._gone([], self.service.stop_grace_period):
                _signal_group(self.proc.pid, signal.SIGKILL)
        # Output may still be buffered in the pipes: drain before reporting the exit.
        # A grandchild holding the pipe open must not block us forever.
        _done, pending = await asyncio.wait(self._readers, timeout=1.0)
        for task in pending:
            task.cancel()
        self.sink.flush()
        self._status = ExitStatus(None, -code) if code < 0 else ExitStatus(code)
        return self._status

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.Error:
            return []

    def _group_alive(self) -> bool:
        """True while any process is left in the service's process group."""
        pgid = self.proc.pid
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        # Zombies still count for killpg until reaped, and orphans are reaped by init,
        # which may take its time: only living members count.
        for pid in psutil.pids():
            try:
                if os.getpgid(pid) == pgid and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    return True
            except (OSError, psutil.Error):
                continue
        return False

    async def _gone(self, family: list[psutil.Process], timeout: float) -> bool:
        """Wait up to ``timeout`` until the group and ``family`` are gone; False if not."""
        deadline = time.monotonic() + timeout
        while self._group_alive() or any(_alive(p) for p in family):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await asyncio.sleep(min(0.02, left))
        return True

    async def stop(self, signal_name: str, grace: float) -> StopResult:
        began = time.monotonic()
        sig = signal.Signals[signal_name]
        self._stopping = True
        family = self.descendants()
        _signal_group(self.proc.pid, sig)
        for child in family:
            _signal_process(child, sig)
        killed = False
        try:
            await asyncio.wait_for(self.wait(), timeout=grace)
        except TimeoutError:
            killed = True
        else:
            # The leader is gone; the rest of its family gets what is left of the grace.
            killed = not await self._gone(family, grace - (time.monotonic() - began))
        # Kill what is left: the group, escaped descendants, late children.
        leftovers = [p for p in {*family, *self.descendants()} if _alive(p)]
        if killed or leftovers:
            _signal_group(self.proc.pid, signal.SIGKILL)
            for proc in leftovers:
                _signal_process(proc, signal.SIGKILL)
            await self.wait()
            await _reap(leftovers)
        return StopResult(time.monotonic() - began, killed)

    async def exec(self, argv: list[str], timeout: float) -> ExecResult:
        return await run_command(argv, timeout, cwd=str(self.service.cwd), env=dict(self.service.env))

    def probe_host(self) -> str:
        return "127.0.0.1"


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _signal_process(proc: psutil.Process, sig: signal.Signals) -> None:
    with contextlib.suppress(psutil.Error):
        proc.send_signal(sig)


async def _reap(procs: Iterable[psutil.Process], timeout: float = 2.0) -> None:
    """Wait until killed processes are dead (a zombie counts as dead: init reaps it)."""
    procs = list(procs)
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in procs) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


async def run_command(
    argv: list[str], timeout: float, *, cwd: str | None = None, env: dict[str, str] | None = None
) -> ExecResult:
    """Run a short command in its own group; kill the group on timeout."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return ExecResult(127, f"cannot run {argv[0]}: {exc.strerror}")
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        _signal_group(proc.pid, signal.SIGKILL)
        await proc.wait()
        return ExecResult(124, f"timed out after {timeout:g}s")
    finally:
        if proc.returncode is None:
            _signal_group(proc.pid, signal.SIGKILL)
            await proc.wait()
    return ExecResult(proc.returncode or 0, out.decode(errors="replace").strip()[-500:])


class ProcessBackend:
    """Runs services as local processes."""

    async def close(self) -> None:
        """Nothing to release: each process is stopped by its handle."""

    async def prepare(self, services: list[ResolvedService]) -> None:
        for svc in services:
            if not svc.cwd.is_dir():
                raise BackendError(
                    f"{svc.name}: working_dir {svc.cwd} does not exist",
                    hint=f"create it or fix services.{svc.name}.working_dir",
                )

    async def start(self, service: ResolvedService, sink: LogSink) -> ProcessHandle:
        if not service.argv:
            raise BackendError(f"{service.name} has no command to run as a local process")
        loop = asyncio.get_running_loop()
        exited: asyncio.Future[None] = loop.create_future()
        try:
            transport, protocol = await loop.subprocess_exec(
                lambda: _Protocol(exited, limit=CHUNK, loop=loop),
                *service.argv,
                cwd=str(service.cwd),
                env=dict(service.env),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise BackendError(
                f"{service.name}: command not found: {service.argv[0]}",
                hint=f"install it or fix services.{service.name}.command",
            ) from exc
        except PermissionError as exc:
            raise BackendError(f"{service.name}: cannot execute {service.argv[0]}: permission denied") from exc
        except OSError as exc:
            raise BackendError(f"{service.name}: cannot start {service.argv[0]}: {exc.strerror}") from exc
        proc = asyncio.subprocess.Process(transport, protocol, loop)
        return ProcessHandle(proc, exited, sink, service)


class _Protocol(asyncio.subprocess.SubprocessStreamProtocol):
    """The stream protocol of asyncio, plus a future set the moment the process exits."""

    def __init__(self, exited: asyncio.Future[None], *, limit: int, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=limit, loop=loop)
        self._exited = exited

    def process_exited(self) -> None:
        super().process_exited()
        if not self._exited.done():
            self._exited.set_result(None)
