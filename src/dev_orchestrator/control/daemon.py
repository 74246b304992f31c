"""The background supervisor: one per project, owns the engine, serves the control API.

Started detached by `start` (own session, stdin closed, output to
``.orchestrator/supervisor.log``) as ``python -m dev_orchestrator.control.daemon``. It
holds ``supervisor.lock`` for its whole life, writes ``state.json`` after every change
(a spawn at once, as a line of the spawn journal; the full state debounced; a failed write, such
as on a full disk, is logged and retried, never fatal), and exits after `stop` of
everything (or SIGTERM), removing its socket. It is a child subreaper, so orphans of its
services come back to it (backends/process.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psutil

from ..errors import OrchestratorError
from ..state import Lock, Paths, SpawnJournal, boot_time, marker, new_run_token, write_state
from . import protocol
from .dashboard import WebDashboard
from .following import Following
from .requests import HealthBody, StopBody, parse
from .server import ControlServer
from .usage import Usage

log = logging.getLogger("dev_orchestrator.supervisor")
STATE_DEBOUNCE = 0.05
STATE_RETRY_FIRST = 0.5
STATE_RETRY_CAP = 10.0
IDLE_GRACE = 2.0  # an idle supervisor (nothing running) exits after this long


class Supervisor(Following):
    def __init__(self, stack: Any, paths: Paths, *, file: Path, docker: bool | None) -> None:
        self.stack = stack
        self.paths = paths
        self.file = file
        self.docker_flag = docker
        self.engine: Any = None
        self.started_at = time.time()
        self.shutdown = asyncio.Event()
        self.op_lock = asyncio.Lock()
        self._dirty = asyncio.Event()
        self.usage = Usage()
        self._container_stats: Any = None
        self.environ: dict[str, str] = dict(os.environ)
        self.scale: dict[str, int] = {}  # start --scale SVC=N: replicas for this run, over the files
        # What each running instance was started from (plan.fingerprint), by service.
        self.fingerprints: dict[str, dict[str, Any]] = {}
        self._desired: tuple[float, Any] | None = None  # (files' mtime, stack) for drift
        self._desired_prints: dict[str, Any] = {}
        self._desired_problem: str | None = None
        self._idle: asyncio.Task[None] | None = None
        # watchers: pid -> (create time, services) of `watch` commands; watching_here: start --watch
        self.watchers: dict[int, tuple[float, set[str]]] = {}
        self.watching_here: set[str] = set()
        self._config_mtime = self._mtime()
        self.token = new_run_token()
        self.marker_prefix = f"{paths.project_id}:{self.token}"
        self.state_problem: str | None = None
        self.journal = SpawnJournal(paths.journal, self.token)
        self._generation = 0  # snapshots taken, numbered in order
        self._written_generation = 0  # the newest one on disk
        self._write_lock = threading.Lock()  # the writer's thread and the loop's own writes
        self._boot_time = boot_time()
        self._create_time = psutil.Process().create_time()
        self.web = WebDashboard(self)  # served on the first POST /v1/dashboard

    def _mtime(self) -> float:
        """Newest modification time of the files the stack is read from (and its .env files)."""
        root = self.stack.root
        files = [root / f for f in self.stack.config.files] + [root / ".env", root / f".env.{self.stack.config.env}"]
        for svc in self.stack.services.values():
            files.extend(root / f for f in svc.spec.env_file)
        newest = 0.0
        for f in files:
            with contextlib.suppress(OSError):
                newest = max(newest, f.stat().st_mtime)
        return newest

    # -- state file -------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        services = {}
        for name, status in self.engine.status.items():
            record = self._record(name, status)
            if record is not None:
                services[name] = record
        return {
            "project": self.stack.project,
            "env": self.stack.config.env,
            "file": str(self.file),
            "docker": self.stack.docker,
            "project_id": self.paths.project_id,
            "run_token": self.token,
            "journal_seq": self.journal.seq,
            "boot_time": self._boot_time,
            "supervisor": {"pid": os.getpid(), "create_time": self._create_time,
                           "started_at": protocol.iso(self.started_at)},
            "services": services,
            # services left running with names given (no longer in the files) come last
            "order": self.stack.graph.order() + [n for n in services if n not in self.stack.graph],
        }

    def _record(self, name: str, status: Any) -> dict[str, Any] | None:
        """One service's record in the state file (None for a name the stack does not know)."""
        svc = self.service(name)
        if svc is None:
            return None
        record = protocol.status_record(status)
        record["stop_signal"] = svc.stop_signal
        record["stop_grace_period"] = svc.stop_grace_period
        record["marker"] = marker(self.paths.project_id, self.token, name) if svc.runtime == "process" else None
        if svc.runtime == "docker":
            from ..backends.docker_spec import image_of

            record["image"] = image_of(self.stack.project, svc)
        replicas = self.engine.replica_records(name)
        if replicas:  # deploy.replicas: one record per instance (1 is the service's own)
            record["replicas"] = [{"replica": 1, **protocol.status_record(status)}] + [
                {"replica": index, **protocol.status_record(rep)} for index, rep in replicas]
        return record

    def _next_generation(self) -> int:
        self._generation += 1
        return self._generation

    def write_state_now(self, extra: dict[str, Any] | None = None, *, data: dict[str, Any] | None = None,
                        generation: int = 0, in_thread: bool = False) -> bool:
        """Write state.json; a failure (full disk, read-only folder) is logged, not raised.

        ``data``: a snapshot taken on the event loop, ``generation`` its number from
        ``_next_generation`` (the write itself may run in a thread, ``in_thread``: then the
        caller empties the journal, on the loop, where spawns are appended to it). A write
        of an older snapshot that comes after a newer one's (a thread's, finishing after
        the final write at shutdown) is dropped: the newer state stays on disk.
        """
        if data is None:
            generation = self._next_generation()
            data = self.snapshot()
        try:
            with self._write_lock:
                if generation <= self._written_generation:
                    return True
                write_state(self.paths.state, data | (extra or {}))
                self._written_generation = generation
        except OSError as exc:
            if self.state_problem is None:
                log.error("cannot write %s: %s (will retry)", self.paths.state, exc)
            self.state_problem = f"cannot write {self.paths.state.name}: {exc.strerror or exc}"
            return False
        if self.state_problem is not None:
            log.info("%s written again", self.paths.state)
            self.state_problem = None
        if not in_thread:
            self.journal.covered(data["journal_seq"])
        return True

    async def _state_writer(self) -> None:
        # Debounced: a burst of events during start-up costs one write, not one per event.
        # A failed write is retried with a growing pause; the supervisor never dies of it.
        retry = STATE_RETRY_FIRST
        while True:
            await self._dirty.wait()
            await asyncio.sleep(STATE_DEBOUNCE)
            self._dirty.clear()
            try:
                generation = self._next_generation()
                data = self.snapshot()
            except Exception:  # a bug here must not end the supervisor (and orphan its services)
                log.exception("cannot take a state snapshot")
                await asyncio.sleep(retry)
                continue
            if await asyncio.to_thread(self.write_state_now, data=data, generation=generation, in_thread=True):
                self.journal.covered(data["journal_seq"])
                retry = STATE_RETRY_FIRST
            else:
                self._dirty.set()  # try again after a pause
                await asyncio.sleep(retry)
                retry = min(retry * 2, STATE_RETRY_CAP)

    def _on_event(self, event: Any, status: Any) -> None:
        from ..runtime import events as ev

        if isinstance(event, ev.Starting):
            self._record_fingerprint(event)
        if isinstance(event, (ev.Stopped, ev.Exited, ev.Failed)):
            self._maybe_idle()
        self._dirty.set()
        if isinstance(event, ev.ReplicaEvent):
            event = event.event  # a replica's spawn is recorded before it is told, as the first's
        if isinstance(event, ev.Spawned):
            # The pid is on disk before anyone hears of the spawn: a supervisor killed
            # right now leaves a record that recovery can prove (and the marker besides).
            # One line in the journal (O(1)); the full state follows, debounced.
            current = self.engine.status.get(event.service)
            record = None if current is None else self._record(event.service, current)
            if record is None:
                return
            try:
                self.journal.append(event.service, record)
            except OSError:
                self.write_state_now()  # logs and reports the problem; the writer retries

    # -- handlers ---------------------------------------------------------------------------

    async def h_status(self, body: dict[str, Any]) -> dict[str, Any]:
        data = self.snapshot()
        data["supervisor"]["running"] = True
        data["config_changed"] = self._mtime() != self._config_mtime
        problems = [self.state_problem] if self.state_problem else []
        for name, sink in self.engine.sinks.items():
            problem = getattr(sink, "problem", None)
            if problem:
                problems.append(problem)
                if name in data["services"]:
                    data["services"][name]["log_problem"] = problem
        data["problems"] = problems
        drift = self.drift()
        watched = self.watched()
        for name, record in data["services"].items():
            # JSON: the field names; the text table shows the full reasons (drift_detail)
            record["drift"] = [reason.split(" ", 1)[0] for reason in drift.get(name, ())]
            record["drift_detail"] = list(drift.get(name, ()))
            record["watch"] = name in watched
        data["config_problem"] = self._desired_problem
        self.usage.fill(data["services"])
        docker: Any = self.engine.started_backend("docker")
        if docker is not None and any(r.get("container") for r in data["services"].values()):
            from ..backends.docker_stats import ContainerStats

            if self._container_stats is None:
                self._container_stats = ContainerStats()
            await self._container_stats.fill(docker.client.api, data["services"])
        return data

    def _names(self, names: list[str], stack: Any = None) -> list[str]:
        """The names, checked against the stack: the same exit-2 error the CLI gives."""
        from ..config.selection import select

        names = list(dict.fromkeys(names))
        return select(stack or self.stack, names) if names else []

    async def _stream(self, operation: Any) -> AsyncIterator[dict[str, Any]]:
        """Run ``operation(send)`` under the operation lock and stream its events and records."""
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        began = time.monotonic()

        def forward(event: Any, status: Any) -> None:
            svc = self.service(event.service)
            if svc is None:
                return
            queue.put_nowait(protocol.event_record(event, status, svc, time.monotonic() - began))

        async def run() -> None:
            async with self.op_lock:
                self.engine.listeners.append(forward)
                try:
                    result = await operation(queue.put_nowait)
                except OrchestratorError as exc:
                    result = protocol.error_reply(exc.message, code=type(exc).__name__, hint=exc.hint,
                                                  exit_code=exc.exit_code)
                except Exception as exc:  # a bug in one operation must not end the supervisor
                    log.exception("operation failed")
                    result = protocol.error_reply(f"internal error: {type(exc).__name__}: {exc}",
                                                  code="internal", hint=f"see {self.paths.log}")
                finally:
                    self.engine.listeners.remove(forward)
                if not self.engine.active() and (result.get("type") == "error" or not result.get("ok", True)):
                    # A start that stopped before anything ran leaves no supervisor behind.
                    log.info("nothing runs after a failed operation: exiting")
                    self.shutdown.set()
                queue.put_nowait(result)
                queue.put_nowait(None)

        # The operation belongs to the supervisor's task group, not to the connection:
        # a client that goes away (Ctrl-C) does not cut a start or stop in half.
        self.group.create_task(run())
        while (record := await queue.get()) is not None:
            yield record

    async def h_stop(self, body: dict[str, Any]) -> Any:
        request = parse(StopBody, body)
        names = self._names(request.services)
        grace = request.grace
        everything = not names

        async def operation(send: Any) -> dict[str, Any]:
            report = await self.engine.stop(names or None, grace=grace)
            if everything:
                self.shutdown.set()
            result = protocol.stop_result(report)
            result["supervisor_exiting"] = everything
            return result

        return self._stream(operation)

    async def h_health(self, body: dict[str, Any]) -> dict[str, Any]:
        from ..health.report import check_health

        request = parse(HealthBody, body)
        names = self._names(request.services) or list(self.stack.graph.order())
        handles = {n: u.handle for n, u in self.engine.units.items() if u.handle is not None and not u.finished.is_set()}
        completed = {n for n, s in self.engine.status.items() if s.completed}
        ready = {n for n, s in self.engine.status.items() if s.health.value == "healthy"}
        return await check_health(self.stack, names, deep=request.deep, handles=handles,
                                  completed=completed, ready=ready)

    async def h_ping(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"type": "pong", "api": protocol.API_VERSION, "pid": os.getpid(),
                "project": self.stack.project, "env": self.stack.config.env, "file": str(self.file),
                "docker": self.stack.docker}

    def _maybe_idle(self) -> None:
        if not self.shutdown.is_set() and (self._idle is None or self._idle.done()):
            self._idle = self.group.create_task(self._idle_exit())

    async def _idle_exit(self) -> None:
        await asyncio.sleep(IDLE_GRACE)
        async with self.op_lock:  # never in the middle of an operation
            if self.engine.active() or self.shutdown.is_set():
                return
            log.info("nothing has been running for %gs: exiting", IDLE_GRACE)
            self.shutdown.set()

    # -- main loop --------------------------------------------------------------------------

    async def run(self, ready_fd: int | None) -> None:
        from ..backends.process import use_pidfd_watcher
        from ..runtime.engine import Engine

        loop = asyncio.get_running_loop()
        use_pidfd_watcher(loop)  # this loop lives as long as the supervisor: no thread per service
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(sig, self.shutdown.set)
        routes: dict[tuple[str, str], Any] = {
            ("GET", "/v1/ping"): self.h_ping,
            ("GET", "/v1/status"): self.h_status,
            ("POST", "/v1/start"): self.h_start,
            ("POST", "/v1/stop"): self.h_stop,
            ("POST", "/v1/restart"): self.h_restart,
            ("POST", "/v1/apply"): self.h_apply,
            ("POST", "/v1/watching"): self.h_watching,
            ("POST", "/v1/health"): self.h_health,
            ("POST", "/v1/dashboard"): self.web.h_dashboard,
        }
        server = ControlServer(self.paths.socket, routes)
        async with asyncio.TaskGroup() as group, Engine(self.stack, marker_prefix=self.marker_prefix) as engine:
            self.group = group
            self.engine = engine
            engine.listeners.append(self._on_event)
            engine.listeners.append(self.web.on_event)
            writer = group.create_task(self._state_writer())
            await server.start()
            if not self.write_state_now():
                self._dirty.set()
            _signal_ready(ready_fd, {"ok": True, "pid": os.getpid()})
            log.info("supervisor %s ready on %s", os.getpid(), self.paths.socket)
            await self.shutdown.wait()
            log.info("shutting down")
            if self._idle is not None:
                self._idle.cancel()
            async with self.op_lock:
                await engine.stop()
            await self.web.close()
            await server.close()
            writer.cancel()
            self.write_state_now({"stopped": True})
            self.journal.close()


def _signal_ready(fd: int | None, message: dict[str, Any]) -> None:
    if fd is None:
        return
    with contextlib.suppress(OSError):
        os.write(fd, json.dumps(message).encode() + b"\n")
        os.close(fd)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dev-orchestrator-supervisor")
    parser.add_argument("--file", required=True, type=Path)
    parser.add_argument("--env", required=True)
    parser.add_argument("--docker", choices=["on", "off", "config"], default="config")
    parser.add_argument("--ready-fd", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    docker = {"on": True, "off": False, "config": None}[args.docker]
    paths = Paths(args.file.parent)
    try:
        paths.ensure()
    except OrchestratorError as exc:
        _signal_ready(args.ready_fd, {"ok": False, "message": str(exc), "exit_code": exc.exit_code})
        return exc.exit_code
    lock = Lock(paths.lock)
    if not lock.acquire(blocking=False):
        _signal_ready(args.ready_fd, {"ok": False, "message": "another supervisor runs for this project",
                                      "exit_code": 0})
        return 0
    try:
        from ..config import load
        from ..config.resolve import resolve

        try:
            config = load(args.file, args.env)
            stack = resolve(config, docker=docker)
        except OrchestratorError as exc:
            _signal_ready(args.ready_fd, {"ok": False, "message": str(exc), "exit_code": exc.exit_code})
            return exc.exit_code
        supervisor = Supervisor(stack, paths, file=args.file, docker=docker)
        asyncio.run(supervisor.run(args.ready_fd))
        return 0
    except Exception as exc:
        log.exception("supervisor failed")
        _signal_ready(args.ready_fd, {"ok": False, "message": f"supervisor failed: {exc}", "exit_code": 1})
        return 1
    finally:
        lock.release()


if __name__ == "__main__":
    sys.exit(main())
