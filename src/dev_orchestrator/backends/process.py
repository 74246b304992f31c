"""Local processes: own session and process group, output read without blocking the child.

Every process gets the marker ``DEV_ORCHESTRATOR_MARKER=<project>:<run>:<service>`` in
its environment, and the process that runs the backend becomes a child subreaper
(``PR_SET_CHILD_SUBREAPER``): a descendant that escapes with ``setsid()`` and a double
fork is re-parented to us instead of init, so we can still find it (by its marker),
stop it with its service and reap it.

Stop sends ``stop_signal`` to the service's family, waits the grace period, then
SIGKILLs what is left. The family is the leader, its descendants, and the re-parented
orphans that carry the service's marker. ``killpg`` is used only while the leader is not
yet reaped: until then its pid, and so its process group id, cannot belong to anyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import psutil

from ..errors import BackendError
from ..state import MARKER_ENV, marker_of, new_run_token, protected_pids
from .base import ExecResult, ExitStatus, StopResult
from .proctree import children_of, family, has_kernel_children, kernel_children

if TYPE_CHECKING:
    from ..config.resolve import ResolvedService
    from ..logs.writer import LogSink
    from ..net.listener import Listener

PR_SET_CHILD_SUBREAPER = 36
FAMILY_RESCAN = 0.1  # seconds between two looks for new members of a family being stopped
log = logging.getLogger(__name__)


class _Children:
    """This process's own direct children, which asyncio reaps; the reaper leaves them alone.

    ``spawning`` counts launches in flight: between fork and registration a direct child
    is not in ``direct`` yet, so the reaper waits until no launch is in flight.
    """

    spawning = 0
    direct: set[int] = set()


def use_pidfd_watcher(loop: asyncio.AbstractEventLoop) -> bool:
    """Wait for children with a pidfd in ``loop``, not a thread each (for a process's one loop).

    Python 3.11's default child watcher blocks one thread in ``waitpid`` per child: 500
    services, 500 threads, each created at a spawn. A pidfd (Linux 5.3) is one more file
    descriptor in the loop, which Python 3.12 uses by default. The watcher is tied to
    ``loop``: only the supervisor and ``up``, which run one loop for their whole life,
    install it. True when children are watched that way.
    """
    if sys.version_info >= (3, 12):
        return True
    if not hasattr(os, "pidfd_open"):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))  # the kernel may not have it
    except OSError:
        return False
    watcher = asyncio.PidfdChildWatcher()
    watcher.attach_loop(loop)
    asyncio.set_child_watcher(watcher)
    return True


def become_subreaper() -> bool:
    """Make this process the reaper of its descendants' orphans (Linux); False elsewhere."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def reap_orphans() -> int:
    """Reap zombie children that are not ours to wait for (orphans re-parented to us)."""
    if _Children.spawning:
        return 0
    reaped = 0
    for pid in _own_children():
        if pid in _Children.direct:
            continue
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                continue
            done, _status = os.waitpid(pid, os.WNOHANG)
        except (psutil.Error, OSError):
            continue
        reaped += bool(done)
    return reaped


def _own_children() -> list[int]:
    """This process's children: its services and the orphans re-parented to it."""
    me = os.getpid()
    if has_kernel_children():
        return kernel_children(me)
    try:
        return [p.pid for p in psutil.Process(me).children()]
    except psutil.Error:
        return []


def orphans_marked(marker: str) -> list[psutil.Process]:
    """Living processes that carry ``marker`` and were re-parented to us, with their descendants.

    An orphan of a service is re-parented to the subreaper, so it is one of our own
    children that we did not spawn; what it forked stays below it. A descendant of a live
    direct child is not an orphan: it belongs to that child's family. This matters when
    two instances of one service run side by side (a start-first restart): both carry the
    service's marker, and stopping the old one must not reach the new one's children.
    Only our children and the orphans' trees are read, never the whole process table.
    """
    protected = protected_pids()
    out: list[psutil.Process] = []
    children = children_of()
    for pid in _own_children():
        if pid in protected or pid in _Children.direct:
            continue
        for member in family(pid, children):
            if member in protected:
                continue
            try:
                proc = psutil.Process(member)
            except psutil.Error:
                continue
            if marker_of(proc) == marker and _alive(proc):
                out.append(proc)
    return out


class ProcessHandle:
    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        protocol: _Protocol,
        sink: LogSink,
        service: ResolvedService,
        marker: str,
    ) -> None:
        self.proc = proc
        self._protocol = protocol
        self._exited = protocol.exited
        self.marker = marker
        self.pid: int | None = proc.pid
        self.container: str | None = None
        self.service = service
        self.sink = sink
        try:
            self.create_time: float | None = psutil.Process(proc.pid).create_time()
        except psutil.Error:
            self.create_time = None
        self._status: ExitStatus | None = None
        self._waiter: asyncio.Future[ExitStatus] | None = None
        self._stopping = False

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
        _Children.direct.discard(self.proc.pid)
        code = self.proc.returncode
        assert code is not None
        if not self._stopping:
            left = self.family()
            if left:
                # The service exited by itself but left processes behind (a crashed
                # parent's children, escaped or not): they belong to the service and go with it.
                sig = signal.Signals[self.service.stop_signal]
                for proc in left:
                    _signal_process(proc, sig)
                if not await self._gone(left, self.service.stop_grace_period):
                    for proc in self.family(left):
                        _signal_process(proc, signal.SIGKILL)
                    await _reap(left)
            reap_orphans()
        # Output may still be buffered in the pipes: drain before reporting the exit.
        # A grandchild holding the pipe open must not block us forever: after a second its
        # output is no longer read.
        await asyncio.wait([self._protocol.drained], timeout=1.0)
        self._protocol.finish()
        self.sink.flush()
        self._status = ExitStatus(None, -code) if code < 0 else ExitStatus(code)
        return self._status

    def descendants(self) -> list[psutil.Process]:
        """The leader's living descendants (ours by parentage while the leader is unreaped)."""
        if self.proc.returncode is not None:
            return []
        out: list[psutil.Process] = []
        for pid in family(self.proc.pid, children_of())[1:]:
            with contextlib.suppress(psutil.Error):
                out.append(psutil.Process(pid))
        return out

    def family(self, known: Iterable[psutil.Process] = ()) -> list[psutil.Process]:
        """Every living process of this service except the leader: its descendants, the
        orphans re-parented to us that carry its marker, and ``known`` members still alive."""
        members = {p.pid: p for p in known if _alive(p)}
        for proc in self.descendants():
            members.setdefault(proc.pid, proc)
        for proc in orphans_marked(self.marker):
            members.setdefault(proc.pid, proc)
        protected = protected_pids()
        return [p for pid, p in members.items() if pid not in protected and pid != self.proc.pid]

    async def _gone(self, family: list[psutil.Process], timeout: float) -> bool:
        """Wait up to ``timeout`` until ``family`` (and members found meanwhile) are gone."""
        deadline = time.monotonic() + timeout
        rescan = time.monotonic() + FAMILY_RESCAN
        alive = [p for p in family if _alive(p)]
        while alive:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await asyncio.sleep(min(0.02, left))
            alive = [p for p in alive if _alive(p)]
            if time.monotonic() >= rescan:
                rescan = time.monotonic() + FAMILY_RESCAN
                alive = self.family(alive)
        return True

    def _signal_all(self, sig: signal.Signals, family: Iterable[psutil.Process]) -> None:
        if self.proc.returncode is None:
            # Not reaped yet: the group id is still the leader's, so killpg is safe.
            _signal_group(self.proc.pid, sig)
        for proc in family:
            _signal_process(proc, sig)

    async def stop(self, signal_name: str, grace: float) -> StopResult:
        began = time.monotonic()
        sig = signal.Signals[signal_name]
        self._stopping = True
        family = self.family()
        self._signal_all(sig, family)
        killed = False
        try:
            await asyncio.wait_for(self.wait(), timeout=grace)
        except TimeoutError:
            killed = True
        else:
            # The leader is gone; the rest of its family gets what is left of the grace.
            killed = not await self._gone(family, grace - (time.monotonic() - began))
        # Kill what is left: the group, escaped descendants, late children.
        leftovers = self.family(family)
        if killed or leftovers:
            self._signal_all(signal.SIGKILL, leftovers)
            await self.wait()
            await _reap(leftovers)
        reap_orphans()
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
    if proc.pid in protected_pids():
        return
    with contextlib.suppress(psutil.Error):
        proc.send_signal(sig)  # psutil checks the create time: a recycled pid is not hit


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
    _Children.spawning += 1
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
    else:
        _Children.direct.add(proc.pid)
    finally:
        _Children.spawning -= 1
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
        _Children.direct.discard(proc.pid)
    return ExecResult(proc.returncode or 0, out.decode(errors="replace").strip()[-500:])


class ProcessBackend:
    """Runs services as local processes, each marked with ``<marker_prefix>:<service>``."""

    def __init__(self, marker_prefix: str | None = None) -> None:
        self.marker_prefix = marker_prefix or f"adhoc:{new_run_token()}"
        become_subreaper()
        self._loop: asyncio.AbstractEventLoop | None = None
        with contextlib.suppress(RuntimeError, ValueError, NotImplementedError):
            loop = asyncio.get_running_loop()
            # A re-parented orphan's death sends SIGCHLD to us: reap it then.
            loop.add_signal_handler(signal.SIGCHLD, reap_orphans)
            self._loop = loop

    def marker(self, service: str) -> str:
        return f"{self.marker_prefix}:{service}"

    async def close(self) -> None:
        """Each process is stopped by its handle; reap the last orphans and stop listening."""
        reap_orphans()
        if self._loop is not None:
            with contextlib.suppress(RuntimeError, ValueError):
                self._loop.remove_signal_handler(signal.SIGCHLD)
            self._loop = None

    async def prepare(self, services: list[ResolvedService]) -> None:
        for svc in services:
            if not svc.cwd.is_dir():
                raise BackendError(
                    f"{svc.name}: working_dir {svc.cwd} does not exist",
                    hint=f"create it or fix services.{svc.name}.working_dir",
                )

    async def start(
        self, service: ResolvedService, sink: LogSink, *, sockets: Sequence[tuple[str, Listener]] = ()
    ) -> ProcessHandle:
        """Spawn ``service``; ``sockets`` are passed as fds 3, 4, ... (systemd socket activation)."""
        if not service.argv:
            raise BackendError(f"{service.name} has no command to run as a local process")
        loop = asyncio.get_running_loop()
        exited: asyncio.Future[None] = loop.create_future()
        marker = self.marker(service.name)
        env = {**service.env, MARKER_ENV: marker}
        spawn: dict[str, Any] = {"env": env}
        if sockets:
            from ..net.listener import activation

            # The environment is installed in the child (LISTEN_PID is its own pid): env=None.
            spawn = activation(sockets, service.argv, env).popen_kwargs()
        _Children.spawning += 1
        try:
            transport, protocol = await loop.subprocess_exec(
                lambda: _Protocol(exited, sink, loop),
                *service.argv,
                cwd=str(service.cwd),
                **spawn,
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
        else:
            _Children.direct.add(transport.get_pid())
        finally:
            _Children.spawning -= 1
        proc = asyncio.subprocess.Process(transport, protocol, loop)
        return ProcessHandle(proc, protocol, sink, service, marker)


class _Protocol(asyncio.SubprocessProtocol):
    """Output straight from the pipes into the service's log sink, and the exit as a future.

    Not asyncio's stream protocol: a StreamReader per pipe copied each chunk into its
    buffer and out again, and woke a reader task for it; here each chunk the loop reads
    (up to 64 KiB) is one ``sink.feed`` call.
    """

    stdin = stdout = stderr = None  # asyncio.subprocess.Process reads these; no streams here

    def __init__(self, exited: asyncio.Future[None], sink: LogSink, loop: asyncio.AbstractEventLoop) -> None:
        self.exited = exited
        self.sink = sink
        self.drained: asyncio.Future[None] = loop.create_future()  # both output pipes closed
        self._transport: asyncio.SubprocessTransport | None = None
        self._open = {1, 2}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def pipe_data_received(self, fd: int, data: bytes | bytearray) -> None:
        self.sink.feed(bytes(data), "stdout" if fd == 1 else "stderr")

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self._open.discard(fd)
        if not self._open and not self.drained.done():
            self.drained.set_result(None)

    def finish(self) -> None:
        """After the exit: read no more output (a process that outlived the service may
        still hold a pipe) and close the transport (the process is reaped already)."""
        if self._transport is None:
            return
        for fd in list(self._open):
            pipe = self._transport.get_pipe_transport(fd)
            if pipe is not None:
                pipe.close()
        self._transport.close()

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)
