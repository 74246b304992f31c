"""The engine: owns every service's state (the one writer), starts and stops the graph.

Start: each selected service waits for its own dependencies' conditions and starts the
moment they hold (no levels, no sleeps); a critical failure aborts the run and rolls
back what it started, in reverse dependency order. Stop: reverse dependency order,
independent branches in parallel.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config.models import Condition
from ..config.resolve import ResolvedStack, require_runnable
from ..errors import BackendError, OrchestratorError
from ..graph import walk
from ..logs.writer import LogSink
from ..ports import check_ports
from . import events as ev
from .front import Front, Instance
from .instances import Instances
from .replicas import Replicas
from .secret_files import remove_private
from .states import ACTIVE, Health, ServiceStatus, State, check_transition
from .unit import ServiceUnit

if TYPE_CHECKING:
    from ..backends.base import Backend, StopResult

Listener = Callable[[ev.Event, ServiceStatus], None]


@dataclass
class StartReport:
    ok: bool = True
    failed: str | None = None
    reason: str = ""
    log_tail: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    already_running: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    rolled_back: dict[str, StopResult] = field(default_factory=dict)
    rollback_duration: float = 0.0  # wall time of the rollback (its stops run in parallel)
    ready_after: dict[str, float] = field(default_factory=dict)
    duration: float = 0.0


@dataclass
class StopReport:
    stopped: dict[str, StopResult] = field(default_factory=dict)
    duration: float = 0.0

    @property
    def killed(self) -> list[str]:
        return [n for n, r in self.stopped.items() if r.killed]


class Engine(Instances, Replicas):
    """Runs one stack. Use as ``async with Engine(stack) as engine: ...``."""

    def __init__(
        self,
        stack: ResolvedStack,
        *,
        backends: Mapping[str, Backend] | None = None,
        logs_dir: Path | None = None,
        marker_prefix: str | None = None,
    ) -> None:
        self.stack = stack
        # "<project id>:<run token>": every process this engine spawns carries it (state.py).
        self.marker_prefix = marker_prefix
        self.logs_dir = logs_dir or stack.root / "logs"
        self._backends: dict[str, Backend] = dict(backends or {})
        self.status: dict[str, ServiceStatus] = {
            name: ServiceStatus(name, runtime=svc.runtime, ports=svc.ports)
            for name, svc in stack.services.items()
        }
        self.units: dict[str, ServiceUnit] = {}
        self.sinks: dict[str, LogSink] = {}
        self.listeners: list[Listener] = []
        self._reached: dict[str, set[Condition]] = {name: set() for name in stack.services}
        self._failed: dict[str, str] = {}
        self._changed = asyncio.Event()
        # One event per service, so that an event wakes only the waiters on that service
        # (one shared event woke every waiter of the stack on every probe attempt).
        self._service_changed = {name: asyncio.Event() for name in stack.services}
        self._group: asyncio.TaskGroup | None = None
        self._start_times: dict[str, float] = {}
        self._spawned_once: set[str] = set()
        self._coming_back: set[str] = set()  # restarted, not ready again yet
        # Services with `listen`: the ports the engine owns, and what each unit serves on.
        self.fronts: dict[str, Front] = {}
        self.instances: dict[str, Instance] = {}
        self.candidates: dict[str, ServiceUnit] = {}  # new instances of a start-first replace
        # deploy.replicas: units 2..N of a service and their states (runtime/replicas.py)
        self.replica_units: dict[str, dict[int, ServiceUnit]] = {}
        self.replica_status: dict[str, dict[int, ServiceStatus]] = {}
        self._replica_changed = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Engine:
        self._group = asyncio.TaskGroup()
        await self._group.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if exc[0] is not None or any(u for u in self.units.values() if not u.finished.is_set()):
                # Leaving with services up (error or cancellation): never leave orphans.
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.stop())
        finally:
            assert self._group is not None
            try:
                await self._group.__aexit__(*exc)  # type: ignore[arg-type]
            except BaseExceptionGroup as group:
                # TaskGroup wraps the body's own error (e.g. a BackendError from
                # prepare()); when nothing else failed, give the caller that error.
                if exc[1] is not None and list(group.exceptions) == [exc[1]]:
                    raise exc[1] from None  # type: ignore[misc]
                raise
            finally:
                for front in list(self.fronts.values()):
                    with contextlib.suppress(Exception):
                        await front.close()
                self.fronts.clear()
                for sink in self.sinks.values():
                    sink.close()
                for backend in self._backends.values():
                    with contextlib.suppress(Exception):
                        await backend.close()
                remove_private(s for svc in self.stack.services.values() for s in svc.secrets)

    def set_stack(self, stack: ResolvedStack) -> None:
        """Adopt a newly loaded stack (reconcile): services that left it must be stopped first.

        Units already running keep the definition they were started with until they are
        replaced; statuses of new services start as stopped.
        """
        for name in list(self.status):
            if name not in stack.services and not self.is_active(name):
                for table in (self.status, self._reached, self._service_changed):
                    table.pop(name, None)  # type: ignore[attr-defined]
                self._failed.pop(name, None)
                self.units.pop(name, None)
        for name, svc in stack.services.items():
            if name not in self.status:
                self.status[name] = ServiceStatus(name, runtime=svc.runtime, ports=svc.ports)
                self._reached[name] = set()
                self._service_changed[name] = asyncio.Event()
            elif not self.is_active(name):
                self.status[name] = self.status[name].evolve(runtime=svc.runtime, ports=svc.ports)
        self.stack = stack
        for backend in self._backends.values():
            if hasattr(backend, "stack"):
                backend.stack = stack

    def reset_counters(self, name: str) -> None:
        """A fresh start on request: restart count and give-up mark go back to zero."""
        if name in self.status and not self.is_active(name):
            self.status[name] = self.status[name].evolve(restarts=0, gave_up=False)

    def started_backend(self, runtime: str) -> Backend | None:
        """The backend of ``runtime`` if one was made (never makes one)."""
        return self._backends.get(runtime)

    def backend(self, runtime: str) -> Backend:
        if runtime not in self._backends:
            if runtime == "process":
                from ..backends.process import ProcessBackend

                self._backends[runtime] = ProcessBackend(self.marker_prefix)
            else:
                from ..backends.docker import DockerBackend  # type: ignore[import-not-found,unused-ignore]

                self._backends[runtime] = DockerBackend(self.stack)
        return self._backends[runtime]

    def sink(self, name: str) -> LogSink:
        if name not in self.sinks:
            orch = self.stack.config.spec.orchestrator
            self.sinks[name] = LogSink(
                name, self.logs_dir / f"{name}.log", max_bytes=orch.log_max_bytes, backups=orch.log_backups
            )
        return self.sinks[name]

    # -- the one writer of state --------------------------------------------------------------

    def emit(self, event: ev.Event) -> None:
        name = event.service
        if isinstance(event, ev.ReplicaEvent):
            self._apply_replica(event)
            for listener in list(self.listeners):
                listener(event, self.status[name])
            return
        old = self.status[name]
        new = self._next(old, event)
        if new.state is not old.state:
            check_transition(name, old.state, new.state)
        self.status[name] = new
        previous, self._changed = self._changed, asyncio.Event()
        previous.set()
        mine, self._service_changed[name] = self._service_changed[name], asyncio.Event()
        mine.set()
        if name in self.replica_units and (new.state is not old.state or new.health is not old.health):
            self.rotate(name)
        for listener in list(self.listeners):
            listener(event, new)
        self._restart_dependents(event)

    def _restart_dependents(self, event: ev.Event) -> None:
        """``depends_on: {dep: {restart: true}}``: restart the dependent once dep is back."""
        name = event.service
        if isinstance(event, ev.Starting) and name in self._spawned_once:
            self._coming_back.add(name)
        elif isinstance(event, ev.Spawned):
            self._spawned_once.add(name)
        if name not in self._coming_back or self.readiness(name) not in self._reached[name]:
            return
        self._coming_back.discard(name)
        for dependent, svc in self.stack.services.items():
            unit = self.units.get(dependent)
            if unit is not None and not unit.finished.is_set() and any(
                d.name == name and d.restart for d in svc.depends_on
            ):
                unit.request_restart(f"{name} restarted")

    def definition(self, name: str) -> Any:
        """What ``name`` runs: its unit's definition, else the stack's (a unit may outlive it)."""
        unit = self.units.get(name)
        return unit.service if unit is not None else self.stack.services[name]

    def _next(self, old: ServiceStatus, event: ev.Event) -> ServiceStatus:
        svc = self.definition(event.service)
        reached = self._reached[event.service]
        match event:
            case ev.Replaced():
                self._start_times[event.service] = time.monotonic()
                reached.update({Condition.STARTED, Condition.HEALTHY} if svc.healthcheck else {Condition.STARTED})
                return old.evolve(state=State.RUNNING, health=Health.HEALTHY if svc.healthcheck else Health.NONE,
                                  pid=event.pid, create_time=event.create_time, container=event.container,
                                  started_at=time.time(), exit_code=None,
                                  detail=f"replaced pid {event.old_pid} -> {event.pid}")
            case ev.Replacing():
                return old.evolve(detail=f"starting a new instance beside pid {event.pid}")
            case ev.Notified():
                return old.evolve(extra={**old.extra, "status": event.status})
            case ev.Starting():
                reached.clear()
                self._failed.pop(event.service, None)
                health = Health.STARTING if svc.healthcheck is not None else Health.NONE
                return old.evolve(state=State.STARTING, health=health, exit_code=None, detail="starting",
                                  completed=False, gave_up=False)
            case ev.Spawned():
                self._start_times[event.service] = time.monotonic()
                changes: dict[str, object] = {
                    "pid": event.pid,
                    "create_time": event.create_time,
                    "container": event.container,
                    "started_at": time.time(),
                }
                reached.add(Condition.STARTED)
                if svc.healthcheck is None and not svc.one_shot:
                    changes.update(state=State.RUNNING, detail="running")
                return old.evolve(**changes)
            case ev.ProbeProgress():
                return old.evolve(detail=f"probing {event.attempt}: {event.detail}")
            case ev.Healthy():
                reached.add(Condition.HEALTHY)
                return old.evolve(state=State.RUNNING, health=Health.HEALTHY, detail=event.detail)
            case ev.Unhealthy():
                self._failed[event.service] = event.detail
                return old.evolve(health=Health.UNHEALTHY, detail=event.detail)
            case ev.Exited():
                ok = event.code == 0 and not event.signal
                if ok and svc.one_shot:
                    reached.add(Condition.COMPLETED)
                else:
                    self._failed[event.service] = event.describe()
                state = State.EXITED if ok else State.FAILED
                return old.evolve(
                    state=state, health=Health.NONE, pid=None, create_time=None, exit_code=event.code,
                    detail=event.describe(), completed=ok and svc.one_shot,
                )
            case ev.Failed():
                self._failed[event.service] = event.reason
                return old.evolve(state=State.FAILED, health=Health.NONE, pid=None, detail=event.reason)
            case ev.Stopping():
                return old.evolve(state=State.STOPPING, detail="stopping")
            case ev.Stopped():
                reached.clear()
                return old.evolve(
                    state=State.STOPPED, health=Health.NONE, pid=None, create_time=None, container=None,
                    started_at=None, detail="killed after grace period" if event.killed else "stopped",
                )
            case ev.Restarting():
                return old.evolve(restarts=old.restarts + 1, detail=f"restarting in {event.delay:g}s ({event.reason})")
            case ev.Skipped():
                self._failed[event.service] = event.reason
                return old.evolve(detail=event.reason)
            case ev.GaveUp():
                return old.evolve(detail=event.reason, gave_up=True)
        return old

    # -- waiting on conditions -------------------------------------------------------------

    def _condition_state(self, name: str, condition: Condition) -> bool | None:
        """True: met; False: cannot be met any more; None: not yet."""
        if condition in self._reached[name]:
            return True
        if condition is Condition.STARTED and Condition.COMPLETED in self._reached[name]:
            return True
        if name in self._failed:
            return False
        return None

    async def _wait_for(self, name: str, condition: Condition, abort: asyncio.Event) -> bool | None:
        """Wait until ``condition`` holds for ``name``; None when the run was aborted."""
        while True:
            if abort.is_set():
                return None
            state = self._condition_state(name, condition)
            if state is not None:
                return state
            changed = self._service_changed[name]
            waiter = asyncio.ensure_future(changed.wait())
            aborter = asyncio.ensure_future(abort.wait())
            try:
                await asyncio.wait([waiter, aborter], return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
                aborter.cancel()

    def readiness(self, name: str) -> Condition:
        svc = self.definition(name)
        if svc.one_shot:
            return Condition.COMPLETED
        return Condition.HEALTHY if svc.healthcheck is not None else Condition.STARTED

    def is_active(self, name: str) -> bool:
        unit = self.units.get(name)
        return unit is not None and not unit.finished.is_set()

    # -- start -------------------------------------------------------------------------------

    async def start(self, names: Iterable[str] | None = None, *, timeout: float | None = None) -> StartReport:
        """Start ``names`` plus their dependencies; roll back on a critical failure."""
        began = time.monotonic()
        graph = self.stack.graph
        wanted = list(names) if names else list(graph.deps)
        targets = graph.closure(wanted)
        report = StartReport()
        report.already_running = sorted(
            n for n in targets if self.is_active(n) or Condition.COMPLETED in self._reached[n]
        )
        todo = [n for n in graph.order() if n in targets and n not in report.already_running]
        require_runnable(self.stack, set(todo))
        # A port the engine already listens on (a stop-first restart keeps it) is ours, not busy.
        check_ports({n: tuple(p for p in self.stack.services[n].ports if p not in self._owned_ports(n)) for n in todo})
        by_runtime: dict[str, list] = {}
        for name in todo:
            by_runtime.setdefault(self.stack.services[name].runtime, []).append(self.stack.services[name])
        for runtime, services in by_runtime.items():
            await self.backend(runtime).prepare(services)

        orchestrator = self.stack.config.spec.orchestrator
        if timeout is None:
            timeout = orchestrator.start_timeout
        # orchestrator.concurrency bounds how many services are starting (launched, not yet
        # ready) at once; waiting for dependencies does not hold a place.
        gate: contextlib.AbstractAsyncContextManager[object] = (
            asyncio.Semaphore(orchestrator.concurrency) if orchestrator.concurrency else contextlib.nullcontext()
        )
        abort = asyncio.Event()
        started_here: list[str] = []

        async def start_one(name: str) -> None:
            svc = self.stack.services[name]
            for dep in svc.depends_on:
                ok = await self._wait_for(dep.name, dep.condition, abort)
                if ok is None:
                    return
                if not ok:
                    reason = f"skipped: {dep.name} did not reach {dep.condition.value} ({self._failed.get(dep.name, 'failed')})"
                    report.skipped[name] = reason
                    self.emit(ev.Skipped(name, reason))
                    return
            async with gate:
                if abort.is_set():
                    return
                try:
                    await self._launch(name, timeout)
                except OrchestratorError as exc:  # its listen port was taken meanwhile
                    self.emit(ev.Starting(name))
                    self.emit(ev.Failed(name, exc.message))
                started_here.append(name)
                ok = await self._wait_for(name, self.readiness(name), abort)
                if ok and name in self.replica_units:
                    why = await self.replicas_ready(name, abort)
                    if why == "aborted":
                        return
                    if why is not None:
                        ok = False
                        self._failed[name] = why
            if ok:
                report.ready_after[name] = time.monotonic() - began
            elif ok is False:
                reason = self._failed.get(name, "failed")
                report.failures[name] = reason
                if svc.critical and not abort.is_set():
                    report.ok = False
                    report.failed = name
                    report.reason = reason
                    abort.set()

        def watch_crashes(event: ev.Event, status: ServiceStatus) -> None:
            # A critical service that dies while the run is still going fails the run,
            # even when it had already counted as started.
            name = event.service
            if (
                isinstance(event, (ev.Exited, ev.Failed))
                and status.state is State.FAILED
                and name in started_here
                and self.stack.services[name].critical
                and not abort.is_set()
            ):
                report.ok = False
                report.failed = name
                report.reason = self._failed.get(name, status.detail)
                report.failures[name] = report.reason
                abort.set()

        self.listeners.append(watch_crashes)
        try:
            async with asyncio.TaskGroup() as group:
                for name in todo:
                    group.create_task(start_one(name), name=f"start:{name}")
        finally:
            self.listeners.remove(watch_crashes)

        report.started = [n for n in todo if n in started_here]
        if report.failed is not None:
            report.log_tail = self.sink(report.failed).last_lines(20)
            stop = await self.stop(started_here)
            report.rolled_back = stop.stopped
            report.rollback_duration = stop.duration
        report.duration = time.monotonic() - began
        return report

    async def replace(self, name: str, *, timeout: float | None = None) -> Any:
        """Replace ``name``'s instance start-first (runtime/replace.py); a ReplaceReport."""
        from .replace import replace

        return await replace(self, name, timeout=timeout)

    async def rescale(self, name: str, *, timeout: float | None = None) -> Any:
        """Start or stop replicas of ``name`` to match deploy.replicas; a ReplaceReport."""
        from .replace import rescale

        return await rescale(self, name, timeout=timeout)

    async def _launch(self, name: str, timeout: float | None) -> None:
        # A fresh instance: what the previous one reached or failed no longer counts
        # (a waiter would otherwise read the old failure before the new unit says Starting).
        self._failed.pop(name, None)
        self._reached[name].clear()
        unit = await self.make_unit(name, timeout, self.emit)
        self.units[name] = unit
        instance = unit.instance
        front = self.fronts.get(name)
        if instance is not None and front is not None:
            # Connections go to it at once: the proxy retries a refused connect until the
            # instance listens (up to its hold timeout), so clients wait, never refused.
            self.instances[name] = instance
            front.switch([instance])
        self.spawn(unit)
        count = self.stack.services[name].replicas
        if count > 1:
            await self.launch_replicas(name, list(range(2, count + 1)), timeout)

    # -- stop --------------------------------------------------------------------------------

    async def stop(
        self, names: Iterable[str] | None = None, *, grace: float | None = None, cascade: bool = True,
        keep_ports: bool = False,
    ) -> StopReport:
        """Stop ``names`` and everything running that depends on them (all when None).

        ``cascade=False`` stops only the named services (a restart keeps dependents up);
        ``keep_ports`` keeps their listen ports (a stop-first restart: clients wait).
        """
        began = time.monotonic()
        graph = self.stack.graph
        if names is None:
            targets = set(graph.deps) | set(self.units)
        else:
            known = [n for n in names if n in graph]
            targets = (graph.reverse_closure(known) if cascade else set(known)) | {n for n in names if n not in graph}
        targets = {n for n in targets if n in self.units}
        report = StopReport()
        # Services no longer in the stack (left running when names were given) have no
        # place in the current graph: they go first, in parallel with each other.
        strays = {n for n in targets if n not in graph}
        targets -= strays

        async def stop_one(name: str) -> bool:
            candidate = self.candidates.get(name)
            if candidate is not None:  # a replace in progress: its new instance goes too
                candidate.request_stop(grace)
            unit = self.units.get(name)
            if unit is None:
                return True
            front = self.fronts.get(name)
            instance = self.instances.get(name)
            others = [u.instance for u in self.replica_units.get(name, {}).values() if u.instance is not None]
            if keep_ports and front is not None and instance is not None:
                # Stop-first: new connections wait in the proxy while the old instances
                # finish the ones they have, then stop; the port stays ours.
                front.switch([])
                wait = unit.service.stop_grace_period if grace is None else grace
                await asyncio.gather(*(front.drain(inst, wait) for inst in [instance, *others]))
            unit.request_stop(grace)
            replicas = asyncio.ensure_future(self.stop_replicas(name, grace))
            await unit.finished.wait()
            await replicas
            if candidate is not None:
                await candidate.finished.wait()
            if not keep_ports and front is not None:
                self.fronts.pop(name, None)
                await front.close()
            self.instances.pop(name, None)
            if unit.stop_result is not None:
                report.stopped[name] = unit.stop_result
            elif self.status[name].state in (State.EXITED, State.FAILED):
                self.emit(ev.Stopped(name, 0.0))
            self.units.pop(name, None)
            return True

        if strays:
            async with asyncio.TaskGroup() as group:
                for name in strays:
                    group.create_task(stop_one(name))
        await walk(graph.subgraph(targets), stop_one, reverse=True)
        report.duration = time.monotonic() - began
        return report

    def active(self) -> list[str]:
        return [n for n in self.stack.graph.order() if self.status[n].state in ACTIVE]

    async def wait_idle(self) -> None:
        """Wait until no unit runs any more (every service ended by itself)."""
        for unit in list(self.units.values()):
            await unit.finished.wait()


__all__ = ["BackendError", "Engine", "StartReport", "StopReport"]
