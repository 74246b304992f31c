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
    def __init__(self, proc: asyncio.subprocess.Process, sink: LogSink, service: ResolvedService) -> None:
        self.proc = proc
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

    async def _pump(self, stream: asyncio.StreamReader | None, name: str) -> None:
        if stream is None:
            return
        while True:
            chunk = await stream.read(CHUNK)
            if not chunk:
                return
            self.sink.feed(chunk, name)

    async def wait(self) -> ExitStatus:
        if self._status is None:
            code = await self.proc.wait()
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

    async def stop(self, signal_name: str, grace: float) -> StopResult:
        began = time.monotonic()
        sig = signal.Signals[signal_name]
        family = self.descendants()
        if self.proc.returncode is None:
            _signal_group(self.proc.pid, sig)
            for child in family:
                _signal_process(child, sig)
        killed = False
        try:
            await asyncio.wait_for(self.wait(), timeout=grace)
        except TimeoutError:
            killed = True
        # Kill what is left: the group, escaped descendants, late children.
        leftovers = [p for p in {*family, *self.descendants()} if _alive(p)]
        if killed or leftovers:
            _signal_group(self.proc.pid, signal.SIGKILL)
            for proc in leftovers:
                _signal_process(proc, signal.SIGKILL)
            await self.wait()
            _reap(leftovers)
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


def _reap(procs: Iterable[psutil.Process]) -> None:
    with contextlib.suppress(psutil.Error):
        psutil.wait_procs(list(procs), timeout=2)


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
        try:
            proc = await asyncio.create_subprocess_exec(
                *service.argv,
                cwd=str(service.cwd),
                env=dict(service.env),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                limit=CHUNK,
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
        return ProcessHandle(proc, sink, service)
