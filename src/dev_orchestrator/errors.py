"""The one exception tree of dev-orchestrator.

Library code raises these; only the CLI maps them to exit codes (``exit_code``).
Foreign exceptions are translated at the boundary with ``raise ... from exc``.

    OrchestratorError                 exit 1 unless stated
    ├── UsageError                    exit 2  bad command-line usage
    ├── ConfigError                   exit 2  invalid configuration (carries Diagnostics)
    │   └── GraphError                exit 2  unknown dependency, cycle
    ├── PortConflictError             exit 1  a declared port is busy
    ├── BackendError                  exit 1  a backend could not do what was asked
    │   └── DockerUnavailableError    exit 1  the Docker engine cannot be reached
    ├── ServiceFailedError            exit 1  a service failed to start / became unhealthy
    ├── StopTimeoutError              exit 1  something could not be stopped
    └── SupervisorError               exit 1  the background supervisor misbehaved
        ├── SupervisorNotRunning      exit 1
        └── SupervisorBusy            exit 1  alive, but did not take the request in time
"""

from __future__ import annotations

from typing import NamedTuple

# Named tuples, not dataclasses: `dataclasses` pulls in `inspect`, about 10 ms of a quick
# command's start-up (cli/quick.py), and these are plain immutable values.


class Location(NamedTuple):
    """Where a value came from: file, 1-based line and column (ordered by all three)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class Diagnostic(NamedTuple):
    """One problem in a configuration, with its place and dotted path."""

    message: str
    path: str = ""
    location: Location | None = None

    def __str__(self) -> str:
        head = f"{self.location}: " if self.location else ""
        path = f"{self.path}: " if self.path else ""
        return f"{head}{path}{self.message}"


class OrchestratorError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(OrchestratorError):
    """The command line asks for something that cannot be done as asked."""

    exit_code = 2


class ConfigError(OrchestratorError):
    """The configuration is invalid; carries every problem found in one load."""

    exit_code = 2

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic | str) -> None:
        if isinstance(diagnostics, str):
            diagnostics = [Diagnostic(diagnostics)]
        elif isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics = sorted(
            diagnostics,
            key=lambda d: (d.location is None, d.location or Location("", 0, 0), d.path),
        )
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class GraphError(ConfigError):
    """The dependency graph is invalid (unknown service, cycle)."""


class PortConflictError(OrchestratorError):
    """A port a service needs is already taken."""


class BackendError(OrchestratorError):
    """A backend (process, docker) failed to carry out an action."""


class DockerUnavailableError(BackendError):
    """The Docker engine is needed but cannot be reached."""


class ServiceFailedError(OrchestratorError):
    """A service failed to start or to become healthy."""


class StopTimeoutError(OrchestratorError):
    """A service could not be stopped."""


class SupervisorError(OrchestratorError):
    """The background supervisor could not be reached or answered badly."""


class SupervisorNotRunning(SupervisorError):
    """No supervisor runs for this project."""


class SupervisorBusy(SupervisorError):
    """The supervisor is alive but its queue is full or it did not answer in time."""
