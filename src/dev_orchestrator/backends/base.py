"""The Backend/Handle protocols that the engine drives; backends never import the engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..config.resolve import ResolvedService
    from ..logs.writer import LogSink


@dataclass(frozen=True)
class ExitStatus:
    code: int | None
    signal: int | None = None

    @property
    def ok(self) -> bool:
        return self.code == 0 and not self.signal


@dataclass(frozen=True)
class StopResult:
    duration: float
    killed: bool = False


@dataclass(frozen=True)
class ExecResult:
    code: int
    output: str


class Handle(Protocol):
    """One running instance of a service."""

    pid: int | None
    create_time: float | None
    container: str | None

    async def wait(self) -> ExitStatus:
        """Return when the service has exited (and its output is fully logged)."""
        ...

    async def stop(self, signal_name: str, grace: float) -> StopResult:
        """Signal, wait up to ``grace`` seconds, then kill whatever is left."""
        ...

    async def exec(self, argv: list[str], timeout: float) -> ExecResult:
        """Run a command beside (process) or inside (container) the service, for probes."""
        ...

    def probe_host(self) -> str:
        """Host to use for http/tcp probes."""
        ...


class Backend(Protocol):
    async def prepare(self, services: list[ResolvedService]) -> None:
        """Check (and build/pull) everything before anything starts; raise to stop early."""
        ...

    async def start(self, service: ResolvedService, sink: LogSink) -> Handle:
        """Start the service; output goes to ``sink``."""
        ...

    async def close(self) -> None:
        """Release what the backend holds once every service has stopped."""
        ...
