"""Service states and health as Enums, with the transition table the engine enforces."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum


class State(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    EXITED = "exited"
    FAILED = "failed"


class Health(StrEnum):
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    STARTING = "starting"
    NONE = "none"


# state -> states it may move to
TRANSITIONS: dict[State, frozenset[State]] = {
    State.STOPPED: frozenset({State.STARTING}),
    State.STARTING: frozenset({State.RUNNING, State.STOPPING, State.EXITED, State.FAILED}),
    State.RUNNING: frozenset({State.STOPPING, State.EXITED, State.FAILED, State.STARTING}),
    State.STOPPING: frozenset({State.STOPPED, State.FAILED}),
    State.EXITED: frozenset({State.STARTING, State.STOPPED, State.STOPPING}),
    State.FAILED: frozenset({State.STARTING, State.STOPPED, State.STOPPING}),
}

ACTIVE = frozenset({State.STARTING, State.RUNNING, State.STOPPING})


class TransitionError(RuntimeError):
    """A unit reported an event that its current state does not allow (a bug, not user error)."""


def check_transition(name: str, old: State, new: State) -> None:
    if new is not old and new not in TRANSITIONS[old]:
        raise TransitionError(f"{name}: illegal transition {old.value} -> {new.value}")


@dataclass(frozen=True)
class ServiceStatus:
    """A snapshot of one service, as status shows it. Only the engine makes new ones."""

    name: str
    runtime: str = "process"
    state: State = State.STOPPED
    health: Health = Health.NONE
    pid: int | None = None
    create_time: float | None = None
    container: str | None = None
    started_at: float | None = None
    restarts: int = 0
    exit_code: int | None = None
    ports: tuple[int, ...] = ()
    detail: str = ""
    completed: bool = False
    gave_up: bool = False  # used up its restart policy
    extra: dict[str, str] = field(default_factory=dict)

    def evolve(self, **changes: object) -> ServiceStatus:
        return replace(self, **changes)  # type: ignore[arg-type]
