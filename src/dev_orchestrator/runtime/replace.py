"""Start-first replacement of a running instance behind a supervisor-owned port.

Why: a restart that stops the old process before the new one listens refuses clients in
between. Here the new instance starts beside the old one on a private port, must become
healthy and stay healthy for ``deploy.update_config.monitor``, and only then does the
proxy send new connections to it; the old instance finishes the connections it has
(up to ``stop_grace_period``) and is stopped. If the new instance exits, never becomes
healthy or flaps, it is stopped and the old one keeps serving, untouched.

One writer of state still holds: the new instance's unit sends its events to a
``Candidate`` (which only watches them) until the switch; then they go to the engine,
which applies one ``Replaced`` event. The old unit's events (its stop) are dropped from
the switch on, so the service never looks stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..health.prober import Prober
from . import events as ev
from .states import State

if TYPE_CHECKING:
    from .engine import Engine
    from .unit import ServiceUnit

MONITOR_PROBES = 10  # active probes during the monitor window (at least every 100 ms)


@dataclass
class ReplaceReport:
    """What one replace did, for the reply: pids, how long, or why it was abandoned."""

    service: str
    ok: bool = False
    old_pid: int | None = None
    new_pid: int | None = None
    healthy_in: float = 0.0
    drained_in: float = 0.0
    drained: bool = True
    reason: str = ""
    log_tail: list[str] = field(default_factory=list)
    # deploy.replicas: replica number (2, 3, ...) -> [old pid, new pid] as the rolling update went
    replicas: dict[int, list[int | None]] = field(default_factory=dict)
    scaled: bool = False  # only the replica count changed: instance 1 was left alone

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok, "old_pid": self.old_pid, "new_pid": self.new_pid,
                               "healthy_in": round(self.healthy_in, 4), "drained_in": round(self.drained_in, 4),
                               "drained": self.drained, "reason": self.reason, "log_tail": self.log_tail}
        if self.replicas:
            out["replicas"] = {str(i): pids for i, pids in sorted(self.replicas.items())}
        if self.scaled:
            out["scaled"] = True
        return out


class Candidate:
    """Watches a new instance's events before it serves: ready, or failed and why."""

    def __init__(self, has_check: bool) -> None:
        loop = asyncio.get_running_loop()
        self.has_check = has_check
        self.ready: asyncio.Future[None] = loop.create_future()
        self.failed: asyncio.Future[str] = loop.create_future()
        self.pid: int | None = None
        self.create_time: float | None = None
        self.container: str | None = None
        self.status: str | None = None  # its last STATUS= (sd_notify), carried over at the switch

    def __call__(self, event: ev.Event) -> None:
        match event:
            case ev.Spawned():
                self.pid, self.create_time, self.container = event.pid, event.create_time, event.container
                if not self.has_check and not self.ready.done():
                    self.ready.set_result(None)
            case ev.Healthy():
                if not self.ready.done():
                    self.ready.set_result(None)
            case ev.Exited():
                self._fail(event.describe())
            case ev.Unhealthy():
                self._fail(event.detail)
            case ev.Failed():
                self._fail(event.reason)
            case ev.Notified():
                self.status = event.status

    def _fail(self, reason: str) -> None:
        if not self.failed.done():
            self.failed.set_result(reason)


def _drop(event: ev.Event) -> None:
    """Where the old instance's events go after the switch: nowhere (the service runs on)."""


async def replace(engine: Engine, name: str, *, timeout: float | None) -> ReplaceReport:
    """Replace every instance of ``name`` start-first, one replica after another (rolling).

    On a failure the instance being replaced keeps serving and the update stops there
    (the replicas not reached yet keep the old definition); the report says which.
    The number of replicas follows the files: extra ones start, surplus ones stop.
    """
    report = await _replace_one(engine, name, 1, timeout=timeout)
    if not report.ok:
        return report
    count = engine.stack.services[name].replicas
    for index in sorted(engine.replica_units.get(name, {})):
        if index > count:
            gone = engine.replica_status.get(name, {}).get(index)
            await engine.stop_replicas(name, None, [index])
            report.replicas[index] = [gone.pid if gone is not None else None, None]
            continue
        step = await _replace_one(engine, name, index, timeout=timeout)
        report.replicas[index] = [step.old_pid, step.new_pid]
        if not step.ok:
            report.ok = False
            report.reason = f"replica {index}: {step.reason} (the rolling update stopped there)"
            report.log_tail = step.log_tail
            return report
    await _start_missing(engine, name, count, report, timeout)
    return report


async def rescale(engine: Engine, name: str, *, timeout: float | None) -> ReplaceReport:
    """Only the replica count changed: start the missing replicas or stop the surplus ones;
    the running instances are left as they are (compose's ``--scale``)."""
    pid = engine.status[name].pid
    report = ReplaceReport(name, ok=True, old_pid=pid, new_pid=pid, scaled=True)
    count = engine.stack.services[name].replicas
    unit = engine.units.get(name)
    if unit is not None:  # its definition differs in the count alone: it is the new one now
        unit.service = engine.stack.services[name]
    for index in sorted(engine.replica_units.get(name, {}), reverse=True):
        if index > count:
            gone = engine.replica_status.get(name, {}).get(index)
            await engine.stop_replicas(name, None, [index])
            report.replicas[index] = [gone.pid if gone is not None else None, None]
    await _start_missing(engine, name, count, report, timeout)
    return report


async def _start_missing(engine: Engine, name: str, count: int, report: ReplaceReport,
                         timeout: float | None) -> None:
    missing = [i for i in range(2, count + 1) if i not in engine.replica_units.get(name, {})]
    if missing:
        await engine.launch_replicas(name, missing, timeout)
        why = await engine.replicas_ready(name, asyncio.Event())
        for index in missing:
            report.replicas[index] = [None, engine.replica_status.get(name, {}).get(index, engine.status[name]).pid]
        if why is not None:
            report.ok = False
            report.reason = why


async def _replace_one(engine: Engine, name: str, index: int, *, timeout: float | None) -> ReplaceReport:
    """Replace instance ``index`` of ``name`` (1: the service's own unit) start-first."""
    first = index == 1
    old = engine.units[name] if first else engine.replica_units[name][index]
    old_status = engine.status[name] if first else engine.replica_status.get(name, {}).get(index)
    old_instance = engine.instances.get(name) if first else old.instance
    report = ReplaceReport(name, old_pid=old_status.pid if old_status is not None else None)
    front = await engine.front(name)
    if front is None or old_instance is None:
        report.reason = f"{name} has no listen port to switch"
        return report
    began = time.monotonic()
    svc = engine.stack.services[name]
    watch = Candidate(svc.healthcheck is not None)
    unit = await engine.make_unit(name, timeout, watch, replica=index)
    engine.candidates[name] = unit
    emit = engine.emit if first else engine.replica_emitter(name, index)
    emit(ev.Replacing(name, report.old_pid))
    engine.spawn(unit)
    try:
        reason = await _until_ready(unit, watch)
        report.healthy_in = time.monotonic() - began
        if reason is None:
            reason = await _monitor(unit, watch, svc.monitor)
    except BaseException:
        await _abandon(engine, name, unit)
        raise
    if reason is not None:
        report.reason = f"new instance {reason}"
        report.new_pid = watch.pid
        await _abandon(engine, name, unit)
        engine.sink(name).note(f"replace abandoned: {report.reason}; pid {report.old_pid} keeps serving")
        report.log_tail = engine.sink(name).last_lines(20)
        return report
    # The switch. Everything from here to the Replaced event runs without an await, so
    # no other task sees the service with two units or a half-moved proxy.
    instance = unit.instance
    assert instance is not None
    old.route(_drop)
    unit.route(emit)
    engine.candidates.pop(name, None)
    if first:
        engine.units[name] = unit
        engine.instances[name] = instance
        if name in engine.replica_units:
            engine.rotate(name)
        else:
            front.switch([instance])
        if engine.status[name].state is not State.RUNNING:
            emit(ev.Starting(name))  # the old instance had crashed meanwhile
    else:
        engine.replica_units[name][index] = unit  # the old one leaves the rotation
    report.new_pid = watch.pid
    emit(ev.Replaced(name, watch.pid, watch.create_time, watch.container, report.old_pid, report.healthy_in))
    if watch.status is not None:
        emit(ev.Notified(name, watch.status))
    # The old instance finishes what it has (new connections no longer reach it).
    report.drained_in, report.drained = await front.drain(old_instance, old.service.stop_grace_period)
    old.request_stop()
    await old.finished.wait()
    engine.sink(name).note(f"replaced pid {report.old_pid} -> {report.new_pid} (healthy in "
                           f"{report.healthy_in:.2f}s, old drained in {report.drained_in:.2f}s)")
    report.ok = True
    return report


async def _until_ready(unit: ServiceUnit, watch: Candidate) -> str | None:
    """None once the new instance is ready; else why it never was (the unit's own deadline)."""
    finished = asyncio.ensure_future(unit.finished.wait())
    try:
        waiting: set[asyncio.Future[Any]] = {watch.ready, watch.failed, finished}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    finally:
        finished.cancel()
    if watch.failed.done():
        return watch.failed.result()
    if watch.ready.done():
        return None
    return "stopped before it was ready"


async def _monitor(unit: ServiceUnit, watch: Candidate, seconds: float) -> str | None:
    """The new instance must stay up (and pass its probe) for ``seconds``; else why not.

    Why probe actively: the liveness loop probes every ``interval`` (10 s by default),
    far too rarely to see a flap within the monitor window.
    """
    check = unit.running.healthcheck
    probing = check is not None and check != "docker" and check.kind in ("http", "tcp", "command")
    prober = Prober(check, unit.handle, unit.sink) if probing and check is not None else None
    deadline = time.monotonic() + seconds
    pause = min(0.1, seconds / MONITOR_PROBES) if seconds > 0 else 0.0
    try:
        while True:
            if watch.failed.done():
                return watch.failed.result()
            if unit.finished.is_set():
                return "stopped during the monitor window"
            left = deadline - time.monotonic()
            if prober is not None and prober.handle is not None:
                result = await prober.once()
                if not result.ok:
                    return f"flapped during the {seconds:g}s monitor window: {result.detail}"
            if left <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(watch.failed), min(pause, left) if pause else left)
    finally:
        if prober is not None:
            prober.close()


async def _abandon(engine: Engine, name: str, unit: ServiceUnit) -> None:
    """Stop a new instance that will not serve; the old one was never touched."""
    unit.request_stop()
    await asyncio.shield(unit.finished.wait())
    engine.candidates.pop(name, None)
