"""Carry out a reconcile plan on the running engine (the executor decides nothing).

The plan (plan.py) says what each service needs; this module does exactly that, in
three moves: stop what leaves or is replaced (dependents first), adopt the new stack,
then start what must run, dependency-ordered and health-gated with the same rollback
rules as a first start. Dependents of a replaced service keep running unless the plan
restarts them (``restart: true``).
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
    stop_now = [s.service for s in plan.steps if s.action in STOP_FIRST and engine.is_active(s.service)]
    if stop_now:
        removed = {s.service for s in plan.steps if s.action is Action.REMOVE}
        report = await engine.stop(stop_now, cascade=False)
        for name, result in report.stopped.items():
            (done.removed if name in removed else done.replaced)[name] = result
    # Statuses of removed services (now stopped) leave with the old stack.
    engine.set_stack(stack)
    to_start = [s.service for s in plan.steps if s.action in START]
    for name in to_start:
        engine.reset_counters(name)
    if to_start:
        done.report = await engine.start(to_start, timeout=timeout)
    return done
