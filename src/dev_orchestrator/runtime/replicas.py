"""Replicas 2..N of a service with ``deploy.replicas``: their units, states and rotation.

Why apart from the engine: the service's own state (what dependents wait on, what the
restart policy of the service is judged by) follows replica 1, the unit the engine has
always run. The other replicas are units of the same definition, each with its own
private port behind the service's front (proxy mode) or the same listening socket (fd
mode, the kernel spreads accepts), and a small state of its own that ``status`` shows
one row each. New connections go to every replica that is up (round robin); a replica
that is down leaves the rotation until it is back, so a crash of one costs clients
nothing while another serves.

The engine mixes this in; every method runs on the event loop's thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import events as ev
from .states import ACTIVE, Health, ServiceStatus, State

if TYPE_CHECKING:
    from .front import Front, Instance
    from .unit import ServiceUnit

UP = (State.RUNNING,)


def replica_next(old: ServiceStatus, event: ev.Event, has_check: bool) -> ServiceStatus:
    """The state of one replica after ``event`` (the engine's rules, without conditions)."""
    match event:
        case ev.Replaced():
            return old.evolve(state=State.RUNNING, health=Health.HEALTHY if has_check else Health.NONE,
                              pid=event.pid, create_time=event.create_time, container=event.container,
                              started_at=time.time(), exit_code=None,
                              detail=f"replaced pid {event.old_pid} -> {event.pid}")
        case ev.Starting():
            return old.evolve(state=State.STARTING, health=Health.STARTING if has_check else Health.NONE,
                              exit_code=None, detail="starting", gave_up=False)
        case ev.Spawned():
            changes: dict[str, object] = {"pid": event.pid, "create_time": event.create_time,
                                          "container": event.container, "started_at": time.time()}
            if not has_check:
                changes.update(state=State.RUNNING, detail="running")
            return old.evolve(**changes)
        case ev.Healthy():
            return old.evolve(state=State.RUNNING, health=Health.HEALTHY, detail=event.detail)
        case ev.Unhealthy():
            return old.evolve(health=Health.UNHEALTHY, detail=event.detail)
        case ev.Exited():
            return old.evolve(state=State.EXITED if event.code == 0 and not event.signal else State.FAILED,
                              health=Health.NONE, pid=None, create_time=None, exit_code=event.code,
                              detail=event.describe())
        case ev.Failed():
            return old.evolve(state=State.FAILED, health=Health.NONE, pid=None, detail=event.reason)
        case ev.Stopping():
            return old.evolve(state=State.STOPPING, detail="stopping")
        case ev.Stopped():
            return old.evolve(state=State.STOPPED, health=Health.NONE, pid=None, create_time=None,
                              container=None, started_at=None,
                              detail="killed after grace period" if event.killed else "stopped")
        case ev.Restarting():
            return old.evolve(restarts=old.restarts + 1,
                              detail=f"restarting in {event.delay:g}s ({event.reason})")
        case ev.GaveUp():
            return old.evolve(detail=event.reason, gave_up=True)
    return old


def is_up(status: ServiceStatus) -> bool:
    return status.state in UP and status.health is not Health.UNHEALTHY


class Replicas:
    """Units 2..N per service, their states, and which instances take new connections."""

    replica_units: dict[str, dict[int, ServiceUnit]]
    replica_status: dict[str, dict[int, ServiceStatus]]
    fronts: dict[str, Front]
    instances: dict[str, Instance]
    units: dict[str, ServiceUnit]
    status: dict[str, ServiceStatus]
    _replica_changed: asyncio.Event

    if TYPE_CHECKING:  # provided by the engine and Instances
        def emit(self, event: ev.Event) -> None: ...
        def spawn(self, unit: ServiceUnit) -> None: ...
        async def make_unit(self, name: str, timeout: float | None, emit: Callable[[ev.Event], None],
                            replica: int = 1) -> ServiceUnit: ...

    def replica_emitter(self, name: str, replica: int) -> Callable[[ev.Event], None]:
        def emit(event: ev.Event) -> None:
            self.emit(ev.ReplicaEvent(name, replica, event))

        return emit

    def _apply_replica(self, event: ev.ReplicaEvent) -> None:
        """The one writer of replica states (called from the engine's ``emit``)."""
        table = self.replica_status.setdefault(event.service, {})
        unit = self.replica_units.get(event.service, {}).get(event.replica)
        has_check = unit is not None and unit.service.healthcheck is not None
        old = table.get(event.replica) or ServiceStatus(event.service, runtime=self.status[event.service].runtime)
        table[event.replica] = replica_next(old, event.event, has_check)
        self.rotate(event.service)
        previous, self._replica_changed = self._replica_changed, asyncio.Event()
        previous.set()

    def rotate(self, name: str) -> None:
        """New connections to every instance that is up; none up: to all (clients wait)."""
        front = self.fronts.get(name)
        units = self.replica_units.get(name)
        if front is None or not units:
            return
        first = self.instances.get(name)
        members: list[tuple[Instance, bool]] = []
        if first is not None:
            members.append((first, is_up(self.status[name])))
        for index, unit in sorted(units.items()):
            status = self.replica_status.get(name, {}).get(index)
            if unit.instance is not None:
                members.append((unit.instance, status is not None and is_up(status)))
        up = [inst for inst, ok in members if ok]
        front.switch(up or [inst for inst, _ in members])

    async def launch_replicas(self, name: str, indexes: list[int], timeout: float | None) -> None:
        """Start replicas ``indexes`` (2, 3, ...) beside the first (which the engine launched)."""
        table = self.replica_units.setdefault(name, {})
        for index in indexes:
            unit = await self.make_unit(name, timeout, self.replica_emitter(name, index), replica=index)
            table[index] = unit
            self.spawn(unit)

    async def replicas_ready(self, name: str, abort: asyncio.Event) -> str | None:
        """None once every replica is up; else why one of them never will be (or aborted)."""
        while True:
            units = self.replica_units.get(name, {})
            states = self.replica_status.get(name, {})
            for index, unit in sorted(units.items()):
                status = states.get(index)
                if unit.finished.is_set() or (status is not None and status.state in (State.FAILED, State.EXITED)
                                              and status.gave_up):
                    return f"replica {index}: {status.detail if status else 'stopped'}"
                if status is not None and status.state is State.FAILED and unit.service.restart == "no":
                    return f"replica {index}: {status.detail}"
            if all(states.get(i) is not None and is_up(states[i]) for i in units):
                return None
            if abort.is_set():
                return "aborted"
            changed = asyncio.ensure_future(self._replica_changed.wait())
            aborted = asyncio.ensure_future(abort.wait())
            try:
                await asyncio.wait([changed, aborted], return_when=asyncio.FIRST_COMPLETED)
            finally:
                changed.cancel()
                aborted.cancel()

    async def stop_replicas(self, name: str, grace: float | None, indexes: list[int] | None = None) -> None:
        """Stop replicas ``indexes`` of ``name`` (all beside the first when None), in parallel."""
        table = self.replica_units.get(name, {})
        chosen = sorted(table) if indexes is None else [i for i in indexes if i in table]
        units = [table[i] for i in chosen]
        for unit in units:
            unit.request_stop(grace)
        for unit in units:
            await unit.finished.wait()
        for index in chosen:
            table.pop(index, None)
            self.replica_status.get(name, {}).pop(index, None)
        if not table:
            self.replica_units.pop(name, None)
            self.replica_status.pop(name, None)
        self.rotate(name)

    def replica_records(self, name: str) -> list[tuple[int, ServiceStatus]]:
        """(index, state) of replicas 2..N that run or ran in this supervisor."""
        return sorted(self.replica_status.get(name, {}).items())

    def replicas_active(self, name: str) -> bool:
        return any(s.state in ACTIVE for s in self.replica_status.get(name, {}).values())
