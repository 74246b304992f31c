"""Typed events that service units send to the engine (the only writer of state)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    service: str


@dataclass(frozen=True)
class Starting(Event):
    attempt: int = 0


@dataclass(frozen=True)
class Spawned(Event):
    pid: int | None
    create_time: float | None = None
    container: str | None = None


@dataclass(frozen=True)
class Replaced(Spawned):
    """A new instance took over from the old one (start-first): the service's pid changes.

    A Spawned, so that whatever records spawns at once (the state file) records it too.
    """

    old_pid: int | None = None
    healthy_in: float = 0.0
    drained_in: float = 0.0


@dataclass(frozen=True)
class Replacing(Event):
    """A start-first replace began: a new instance starts beside ``pid`` (which keeps serving)."""

    pid: int | None = None


@dataclass(frozen=True)
class Notified(Event):
    """An instance said ``STATUS=...`` over sd_notify (shown in status)."""

    status: str


@dataclass(frozen=True)
class Healthy(Event):
    latency_ms: float
    detail: str = ""


@dataclass(frozen=True)
class Unhealthy(Event):
    detail: str


@dataclass(frozen=True)
class ProbeProgress(Event):
    attempt: int
    detail: str


@dataclass(frozen=True)
class Exited(Event):
    code: int | None
    signal: int | None = None
    during_startup: bool = False

    def describe(self) -> str:
        if self.signal:
            import signal as _signal

            try:
                name = _signal.Signals(self.signal).name
            except ValueError:
                name = str(self.signal)
            return f"killed by {name}"
        return f"exited with code {self.code}"


@dataclass(frozen=True)
class Failed(Event):
    reason: str


@dataclass(frozen=True)
class Stopping(Event):
    pass


@dataclass(frozen=True)
class Stopped(Event):
    duration: float
    killed: bool = False


@dataclass(frozen=True)
class Restarting(Event):
    attempt: int
    delay: float
    reason: str


@dataclass(frozen=True)
class Skipped(Event):
    reason: str


@dataclass(frozen=True)
class GaveUp(Event):
    """The restart policy is used up: the service stays down (``gave up after 3 restarts``)."""

    reason: str


@dataclass(frozen=True)
class ReplicaEvent(Event):
    """An event of replica ``replica`` (2, 3, ...) of a service with ``deploy.replicas``.

    Why wrapped: the service's own state follows its first replica; the others have
    their own small state each (runtime/replicas.py), and listeners (the state file,
    progress) still hear of them.
    """

    replica: int
    event: Event
