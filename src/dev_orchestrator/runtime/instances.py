"""The engine's part that deals with instances behind supervisor-owned ports.

Why apart from engine.py: services with ``listen`` add a second life cycle beside the
service's own (the port outlives instances; a start-first replace runs two instances
of one service for a while), and the engine's start/stop logic reads better without it.
The engine mixes this in; every method runs on the event loop's thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..state import REPLICA_ENV
from . import events as ev
from .front import Front, Instance
from .unit import ServiceUnit

if TYPE_CHECKING:
    from ..backends.base import Backend
    from ..config.resolve import ResolvedStack
    from ..logs.writer import LogSink


class Instances:
    """Fronts (listeners, proxies) per service, and units made for instances behind them."""

    stack: ResolvedStack
    fronts: dict[str, Front]
    instances: dict[str, Instance]
    candidates: dict[str, ServiceUnit]
    _group: asyncio.TaskGroup | None

    if TYPE_CHECKING:  # provided by the engine
        def backend(self, runtime: str) -> Backend: ...
        def sink(self, name: str) -> LogSink: ...
        def is_active(self, name: str) -> bool: ...

    def _owned_ports(self, name: str) -> tuple[int, ...]:
        front = self.fronts.get(name)
        return front.ports if front is not None else ()

    async def front(self, name: str) -> Front | None:
        """The listeners of ``name`` (made on first use, serving in the engine's group)."""
        svc = self.stack.services[name]
        front = self.fronts.get(name)
        if front is not None and front.listen != svc.listen and not self.is_active(name):
            self.fronts.pop(name)  # listen changed (kept by a stop-first restart): bind anew
            await front.close()
            front = None
        if front is None and svc.listen:
            assert self._group is not None, "use the engine as an async context manager"
            front = Front(svc.listen)  # PortConflictError when the port is taken
            front.serve(self._group)
            self.fronts[name] = front
        return front

    async def make_unit(self, name: str, timeout: float | None, emit: Callable[[ev.Event], None],
                        replica: int = 1) -> ServiceUnit:
        """A unit for a new instance of ``name`` (private ports and sockets when it listens).

        With ``deploy.replicas`` every instance learns its number in DEV_ORCHESTRATOR_REPLICA.
        """
        svc = self.stack.services[name]
        front = await self.front(name)
        instance = front.instance(svc, replica) if front is not None else None
        if instance is None and svc.replicas > 1:
            instance = Instance(dataclasses.replace(svc, env={**svc.env, REPLICA_ENV: str(replica)}), {})
        return ServiceUnit(svc, self.backend(svc.runtime), self.sink(name), emit, startup_deadline=timeout,
                           instance=instance, notify_dir=self.stack.root / ".orchestrator" / "notify")

    def spawn(self, unit: ServiceUnit) -> None:
        """Run ``unit`` in the engine's task group (every unit belongs to it)."""
        assert self._group is not None, "use the engine as an async context manager"
        self._group.create_task(unit.run(), name=f"unit:{unit.name}")

