"""Carry out a reconcile plan on the running engine (the executor decides nothing).

The plan (plan.py) says what each service needs; this module does exactly that, in
three moves: stop what leaves or is replaced (dependents first), adopt the new stack,
then start what must run, dependency-ordered and health-gated with the same rollback
rules as a first start. Dependents of a replaced service keep running unless the plan
restarts them (``restart: true``).

A service with ``listen`` and ``order: start-first`` is not stopped first: after the new
stack is adopted its new instance starts beside the old one and takes over the port
(runtime/replace.py); a failed replacement leaves the old instance serving. A
stop-first restart of a listening service keeps its port, so clients wait meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..plan import Action, Observed, Plan

STOP_FIRST = (Action.REMOVE, Action.RECREATE, Action.RESTART)
START = (Action.CREATE, Action.RECREATE, Action.START, Action.RESTART)


@dataclass
class Applied:
    """What an apply did, for the reply."""

    removed: dict[str, Any] = field(default_factory=dict)
    replaced: dict[str, Any] = field(default_factory=dict)
    report: Any = None
    swapped: dict[str, Any] = field(default_factory=dict)  # start-first: name -> ReplaceReport

    @property
    def swap_failed(self) -> str | None:
        """The first service whose start-first replacement was abandoned, if any."""
        return next((name for name, rep in self.swapped.items() if not rep.ok), None)


def observe(engine: Any, fingerprints: Mapping[str, Mapping[str, Any]]) -> dict[str, Observed]:
    """What runs now, in the planner's terms."""
    out = {}
    for name, status in engine.status.items():
        out[name] = Observed(
            state=status.state.value,
            fingerprint=fingerprints.get(name),
            completed=status.completed,
            gave_up=status.gave_up,
        )
    return out


async def apply(engine: Any, plan: Plan, stack: Any, *, timeout: float | None) -> Applied:
    """Make ``engine`` run ``stack`` as ``plan`` says."""
    done = Applied()
    # Only the replica count changed, and the service runs: scale it, replace nothing.
    scale = [s.service for s in plan.steps if s.action is Action.SCALE]
    swap = [s.service for s in plan.steps if s.action in (Action.RECREATE, Action.RESTART)
            and s.service not in scale and _swappable(engine, stack, s.service)]
    removed = {s.service for s in plan.steps if s.action is Action.REMOVE}
    stop_now = [s.service for s in plan.steps
                if s.action in STOP_FIRST and engine.is_active(s.service) and s.service not in swap + scale]
    for names, keep in (([n for n in stop_now if n in removed], False), ([n for n in stop_now if n not in removed], True)):
        if not names:
            continue
        report = await engine.stop(names, cascade=False, keep_ports=keep)
        for name, result in report.stopped.items():
            (done.removed if name in removed else done.replaced)[name] = result
    # Statuses of removed services (now stopped) leave with the old stack.
    engine.set_stack(stack)
    order = stack.graph.order()
    for name in sorted(swap, key=order.index):
        done.swapped[name] = await engine.replace(name, timeout=timeout)
    for name in sorted(scale, key=order.index):
        done.swapped[name] = await engine.rescale(name, timeout=timeout)
    to_start = [s.service for s in plan.steps if s.action in START and s.service not in swap + scale]
    for name in to_start:
        engine.reset_counters(name)
    if to_start:
        done.report = await engine.start(to_start, timeout=timeout)
    return done


def _swappable(engine: Any, stack: Any, name: str) -> bool:
    """Replace start-first: the new definition asks for it and the old instance owns the same port."""
    svc = stack.services.get(name)
    front = engine.fronts.get(name)
    return (
        svc is not None and svc.start_first and front is not None
        and front.listen == svc.listen and engine.is_active(name) and name in engine.instances
        and engine.status[name].state.value == "running"
    )
