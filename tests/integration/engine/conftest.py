"""Real-process stacks in temporary folders, and the checks that nothing is left behind.

Every process a test starts carries a marker in its environment (inherited by children,
grandchildren and processes that left the session), so the finalizer can find, kill and
report every leftover with psutil, whatever its parent or process group.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest
import yaml

from dev_orchestrator.config.loader import load
from dev_orchestrator.config.resolve import ResolvedStack, resolve
from dev_orchestrator.ports import free_port, port_is_free
from dev_orchestrator.runtime import events as ev
from dev_orchestrator.runtime.engine import Engine
from dev_orchestrator.runtime.states import ServiceStatus

PROGRAM = Path(__file__).parent / "programs" / "svc.py"
CLI = Path(sys.executable).parent / "dev-orchestrator"
MARK_VAR = "DEV_ORCHESTRATOR_TEST_MARK"

T = TypeVar("T")
HANDED_OUT: set[int] = set()


def run_async(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """Run one scenario on a fresh loop, bounded so a hang fails the test instead of CI."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def marked_processes(mark: str) -> list[psutil.Process]:
    """Every live process whose environment carries ``mark`` (zombies do not count)."""
    found = []
    me = os.getpid()
    for proc in psutil.process_iter(["pid"]):
        if proc.pid == me:
            continue
        try:
            if proc.environ().get(MARK_VAR) == mark and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


@dataclass
class Project:
    """A project folder: services.yaml written from dicts, programs run with ``sys.executable``."""

    root: Path
    mark: str
    ports_used: list[int] = field(default_factory=list)

    @property
    def record(self) -> Path:
        return self.root / "record"

    @property
    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "ZYRON_ENV" and not k.startswith("PYTEST_")}
        env[MARK_VAR] = self.mark
        return env

    def port(self) -> int:
        """A free port not handed out before in this test process.

        The kernel may give the same ephemeral port to two binds in a row once the first
        socket is closed; two services of one test on one port would probe each other.
        """
        for _ in range(100):
            port = free_port()
            if port not in HANDED_OUT:
                break
        HANDED_OUT.add(port)
        self.ports_used.append(port)
        return port

    def cmd(self, name: str, *args: object) -> list[str]:
        """argv of the test program for service ``name`` (see programs/svc.py for flags)."""
        return [sys.executable, str(PROGRAM), name, "--record", str(self.record), *map(str, args)]

    def server(self, name: str, port: int, *args: object, **spec: Any) -> dict[str, Any]:
        """A service spec: an HTTP server on ``port`` with an http healthcheck polled fast."""
        check = {"http": {"url": f"http://127.0.0.1:{port}/health"}, "interval": "200ms", "retries": 50}
        check.update(spec.pop("healthcheck", {}))
        return {"command": self.cmd(name, "--port", port, *args), "ports": [port], "healthcheck": check, **spec}

    def write(self, services: dict[str, Any], **top: Any) -> Path:
        self.record.mkdir(exist_ok=True)
        doc = {"name": "t", "services": services, **top}
        path = self.root / "services.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    def stack(self, services: dict[str, Any] | None = None, **top: Any) -> ResolvedStack:
        if services is not None:
            self.write(services, **top)
        config = load(self.root / "services.yaml", None, cwd=self.root, environ=self.environ)
        return resolve(config, environ=self.environ)

    def events(self, name: str) -> list[tuple[str, float, int]]:
        path = self.record / f"{name}.events"
        if not path.exists():
            return []
        out = []
        for line in path.read_text().splitlines():
            what, when, pid = line.split()
            out.append((what, float(when), int(pid)))
        return out

    def first(self, name: str, what: str) -> float:
        times = [t for w, t, _ in self.events(name) if w == what]
        assert times, f"{name} never recorded {what!r}"
        return times[0]

    def count(self, name: str, what: str) -> int:
        return sum(1 for w, _, _ in self.events(name) if w == what)

    def pids(self, name: str) -> list[int]:
        path = self.record / f"{name}.pids"
        return [int(x) for x in path.read_text().split()] if path.exists() else []

    def log(self, name: str) -> str:
        path = self.root / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def up(self, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
        """The real CLI ``up`` in the project folder, in its own session, output captured."""
        return subprocess.Popen(
            [str(CLI), "up", *args],
            cwd=self.root,
            env={**self.environ, "NO_COLOR": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            **kwargs,
        )


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    """A project folder; afterwards no marked process may live and every port must be free."""
    proj = Project(tmp_path, uuid.uuid4().hex)
    proj.record.mkdir()
    yield proj
    leftovers = assert_no_leftovers(proj)
    busy = [p for p in proj.ports_used if not wait_port_free(p)]
    assert not leftovers, f"processes left running: {leftovers}"
    assert not busy, f"ports still in use: {busy}"


def assert_no_leftovers(proj: Project, settle: float = 3.0) -> list[str]:
    """Kill and describe every marked process still alive (after a short settle for reaping)."""
    deadline = time.monotonic() + settle
    alive = marked_processes(proj.mark)
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = marked_processes(proj.mark)
    described = []
    for proc in alive:
        try:
            described.append(f"{proc.pid} {' '.join(proc.cmdline())}")
            proc.send_signal(signal.SIGKILL)
        except psutil.Error:
            continue
    psutil.wait_procs(alive, timeout=3)
    return described


def wait_port_free(port: int, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while not port_is_free(port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


class Recorder:
    """Engine listener: every event with its monotonic time; waits on predicates."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seen: list[tuple[float, ev.Event, ServiceStatus]] = []
        self._waiters: list[tuple[Callable[[ev.Event, ServiceStatus], bool], asyncio.Future[ev.Event]]] = []
        engine.listeners.append(self)

    def __call__(self, event: ev.Event, status: ServiceStatus) -> None:
        self.seen.append((time.monotonic(), event, status))
        for pred, fut in list(self._waiters):
            if not fut.done() and pred(event, status):
                fut.set_result(event)

    def of(self, kind: type[ev.Event], name: str | None = None) -> list[Any]:
        return [e for _, e, _ in self.seen if isinstance(e, kind) and (name is None or e.service == name)]

    async def wait(
        self, pred: Callable[[ev.Event, ServiceStatus], bool], timeout: float = 20.0, *, past: bool = True
    ) -> ev.Event:
        """The first event (already seen, unless ``past`` is False, or future) matching ``pred``."""
        if past:
            for _, event, status in self.seen:
                if pred(event, status):
                    return event
        fut: asyncio.Future[ev.Event] = asyncio.get_running_loop().create_future()
        entry = (pred, fut)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._waiters.remove(entry)

    async def wait_for(self, kind: type[ev.Event], name: str, timeout: float = 20.0, *, count: int = 1) -> Any:
        """The ``count``-th event of ``kind`` for ``name``."""
        seen = 0

        def pred(event: ev.Event, _status: ServiceStatus) -> bool:
            nonlocal seen
            if isinstance(event, kind) and event.service == name:
                seen += 1
                return seen >= count
            return False

        return await self.wait(pred, timeout)


async def poll(check: Callable[[], Awaitable[bool] | bool], timeout: float, step: float = 0.02) -> bool:
    """Poll an outside condition (a file, a port) until it holds; False on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class UpRun:
    """A running ``dev-orchestrator up``: output collected by threads, waits on lines."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        import queue
        import threading

        self.proc = proc
        self.lines: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._changed = threading.Condition()
        self._queue: queue.Queue[None] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._read, args=(name, stream), daemon=True)
            for name, stream in (("stdout", proc.stdout), ("stderr", proc.stderr))
        ]
        for thread in self._threads:
            thread.start()

    def _read(self, name: str, stream: Any) -> None:
        for line in stream:
            with self._changed:
                self.lines[name].append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_line(self, text: str, stream: str = "stderr", timeout: float = 20.0) -> str:
        """The first line containing ``text``; fails the test after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines[stream]:
                    if text in line:
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not any(t.is_alive() for t in self._threads)):
                    raise AssertionError(f"no line with {text!r} on {stream}:\n" + "\n".join(self.lines[stream]))
                self._changed.wait(min(left, 0.1))

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def finish(self, timeout: float = 30.0) -> int:
        try:
            code = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for thread in self._threads:
            thread.join(5)
        return code

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines["stderr"])

    @property
    def stdout(self) -> str:
        return "\n".join(self.lines["stdout"])
