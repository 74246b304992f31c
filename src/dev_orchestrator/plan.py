"""The reconcile planner: what to do to each service so that what runs matches the files.

Decide, then act. From the resolved stack and what was observed (each service's state
and the fingerprint of the definition its instance was started from) to an ordered plan
of steps, each with the reasons a user reads. Nothing here touches processes, files or
the clock, so start, restart, config reload, watch and the dashboards share one
decision, tested as golden text, and the executor only carries it out.

Reasons never show environment values (they may be secret), only the names of the
variables that were added (``+KEY``), removed (``-KEY``) or changed (``KEY``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from .config.gc_pause import gc_paused
from .errors import UsageError
from .runtime.states import ACTIVE, State

if TYPE_CHECKING:
    from .config.models import HealthCheck
    from .config.resolve import ResolvedService, ResolvedStack

# Fields of the docker: section that users know by their bare name; the others are
# shown as ``docker.<field>`` so that they do not clash with the service's own fields.
_DOCKER_TOP = ("image", "build", "volumes")
# Fields whose values are environment mappings: reasons name keys, never values.
_ENV_FIELDS = ("environment", "docker.environment")
# Fields short and harmless enough to show as ``old -> new``.
_SHOWN_FIELDS = ("ports", "image", "replicas")

RESTART_REQUESTED = "restart requested"
_REMOVE_HINT = "run `dev-orchestrator start` without names to remove it"


def fingerprint(svc: ResolvedService, environ: Mapping[str, str]) -> dict[str, Any]:
    """What an instance of ``svc`` is started from, as JSON-able data keyed by field name.

    Stored with the running instance (state.json) and compared with the current
    definition to tell what changed. ``environment`` keeps only the variables whose value
    differs from ``environ`` (the shell the stack is started from): what the files declare
    or override, so that another shell's PATH is not a change. The docker: section
    counts only when the service runs in Docker.
    """
    out: dict[str, Any] = {
        "runtime": svc.runtime,
        "command": list(svc.argv),
        "working_dir": str(svc.cwd),
        "environment": {k: v for k, v in sorted(svc.env.items()) if environ.get(k) != v},
        "ports": list(svc.ports),
        "healthcheck": _healthcheck(svc.healthcheck),
        "stop_signal": svc.stop_signal,
        # how the stable ports are held and how many instances run: a change needs new ones
        "listen": [entry.model_dump(mode="json") for entry in svc.spec.listen],
        # replicas apart from the rest of deploy: a change of the count alone scales
        # (replicas start or stop) without replacing the running ones
        "deploy": svc.spec.deploy.model_dump(mode="json", exclude={"replicas"}) if svc.spec.deploy is not None else None,
        "replicas": svc.replicas,  # --scale included
    }
    if svc.runtime == "docker" and svc.docker is not None:
        # the docker healthcheck is already the resolved healthcheck above
        docker = svc.docker.model_dump(mode="json", exclude={"healthcheck"})
        for key in _DOCKER_TOP:
            out[key] = docker.pop(key)
        out.update({f"docker.{key}": value for key, value in docker.items()})
    return out


def _healthcheck(check: HealthCheck | str | None) -> Any:
    if check is None or isinstance(check, str):
        return check
    return check.model_dump(mode="json")


def changed_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    """The reasons two fingerprints differ, in field order: ``("command", "ports 80 -> 81")``.

    A runtime switch is the one reason shown (everything else follows from it). A field
    present in only one of them is not compared: fingerprints written by an older
    version do not make every service look changed.
    """
    if old.get("runtime") != new.get("runtime"):
        return (f"runtime {old.get('runtime') or 'unknown'} -> {new.get('runtime')}",)
    out: list[str] = []
    for key, value in new.items():
        if key not in old or old[key] == value:
            continue
        before = old[key]
        if key in _ENV_FIELDS and isinstance(before, Mapping) and isinstance(value, Mapping):
            out.append(f"{key} {_env_keys(before, value)}")
        elif key in _SHOWN_FIELDS:
            out.append(f"{key} {_show(before)} -> {_show(value)}")
        else:
            out.append(key)
    return tuple(out)


def _env_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    names = []
    for key in sorted(set(old) | set(new)):
        if key not in old:
            names.append(f"+{key}")
        elif key not in new:
            names.append(f"-{key}")
        elif old[key] != new[key]:
            names.append(key)
    return " ".join(names)


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "none"
    return "none" if value is None else str(value)


class Action(StrEnum):
    CREATE = "create"  # never ran here: start it for the first time
    RECREATE = "recreate"  # its definition changed: replace the instance
    START = "start"  # not running: start it from its current definition
    KEEP = "keep"  # leave it as it is
    REMOVE = "remove"  # no longer in the stack: stop it and forget it
    RESTART = "restart"  # same definition, new instance
    SCALE = "scale"  # only deploy.replicas changed: start or stop replicas, replace nothing


@dataclass(frozen=True)
class Observed:
    """What is known about one service's instance, as the supervisor recorded it."""

    state: str  # a runtime.states.State value
    fingerprint: Mapping[str, Any] | None  # what it was started from; None: never started here
    completed: bool = False  # a one-shot job that exited 0
    gave_up: bool = False  # used up its restart policy


@dataclass(frozen=True)
class Step:
    service: str
    action: Action
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """Steps in the order they are carried out: removals, then dependency order."""

    steps: tuple[Step, ...]
    warnings: tuple[str, ...] = ()

    def changes(self) -> tuple[Step, ...]:
        """Every step that does something (all but KEEP)."""
        return tuple(s for s in self.steps if s.action is not Action.KEEP)

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.service == name), None)

    def render(self) -> list[str]:
        """One aligned line per change, then the kept services on one line (no colour)."""
        changes = self.changes()
        width = max([14, *(len(s.service) for s in changes)])
        lines = [
            f"  {s.service:<{width}} {s.action.value:<9} {', '.join(s.reasons)}".rstrip()
            for s in changes
        ]
        kept = [s for s in self.steps if s.action is Action.KEEP]
        unchanged = [s.service for s in kept if "completed" not in s.reasons]
        completed = [s.service for s in kept if "completed" in s.reasons]
        if unchanged:
            lines.append(f"  {', '.join(unchanged)}: unchanged")
        if completed:
            lines.append(f"  {', '.join(completed)}: completed")
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "steps": [
                {"service": s.service, "action": s.action.value, "reasons": list(s.reasons)}
                for s in self.steps
            ],
            "warnings": list(self.warnings),
        }


@gc_paused()
def plan(
    desired: ResolvedStack,
    observed: Mapping[str, Observed],
    *,
    environ: Mapping[str, str],
    names: Sequence[str] | None = None,
    restart: Sequence[str] = (),
    observed_order: Sequence[str] | None = None,
) -> Plan:
    """The steps that bring what runs in line with ``desired``.

    ``names`` limits the plan to those services and their dependencies (a restart: true
    dependent outside them is still restarted when it runs); ``restart`` names services
    that must end with a fresh instance (they join the targets). ``observed_order`` is
    the order the observed services were started in (default: the order of
    ``observed``); services that left the stack are removed in reverse of it.
    ``environ`` is the shell the stack was resolved with (see ``fingerprint``).
    """
    unknown = [n for n in dict.fromkeys([*(names or ()), *restart]) if n not in desired.services]
    if unknown:
        listed = ", ".join(f'"{n}"' for n in unknown)
        known = ", ".join(sorted(desired.services))
        raise UsageError(f"unknown service {listed}", hint=f"services: {known}")
    graph = desired.graph
    targets = set(desired.services) if names is None else graph.closure(names)
    targets |= graph.closure(restart)
    requested = set(restart)

    decided: dict[str, Step] = {}
    running_before = any(r.fingerprint is not None for r in observed.values())
    for name in graph.order():
        svc = desired.services[name]
        record = observed.get(name)
        if name in targets:
            decided[name] = _decide(svc, record, environ, requested=name in requested,
                                    known=running_before)
        # order() puts dependencies first, so a dependency's step is known here and a
        # restart cascades down a chain of restart: true edges
        bumped = [
            dep.name
            for dep in svc.depends_on
            if dep.restart
            and dep.name in decided
            and decided[dep.name].action in (Action.RECREATE, Action.RESTART)
        ]
        current = decided.get(name)
        if bumped and _running(record) and (current is None or current.action is Action.KEEP):
            reasons = tuple(f"depends on {dep} with restart: true" for dep in bumped)
            decided[name] = Step(name, Action.RESTART, reasons)

    removals, warnings = _removals(desired, observed, observed_order, limited=names is not None)
    ordered = [decided[n] for n in graph.order() if n in decided]
    return Plan((*removals, *ordered), tuple(warnings))


def _running(record: Observed | None) -> bool:
    return record is not None and State(record.state) in (State.STARTING, State.RUNNING)


def _decide(
    svc: ResolvedService, record: Observed | None, environ: Mapping[str, str], *, requested: bool,
    known: bool = False,
) -> Step:
    """``known``: something runs already, so a service without a record is new in the files."""
    name = svc.name
    if record is None and known:
        return Step(name, Action.CREATE, ("new in the files",))
    if record is None or (record.fingerprint is None and State(record.state) is State.STOPPED):
        return Step(name, Action.CREATE, ("never started",))
    state = State(record.state)
    new = fingerprint(svc, environ)
    # no recorded definition (started by an older version): nothing to compare, so unchanged
    diff = changed_fields(record.fingerprint, new) if record.fingerprint is not None else ()
    asked = (RESTART_REQUESTED,) if requested else ()
    if state in (State.STARTING, State.RUNNING):
        if diff and not requested and all(reason.startswith("replicas ") for reason in diff):
            return Step(name, Action.SCALE, diff)
        if diff:
            return Step(name, Action.RECREATE, diff)
        if requested:
            return Step(name, Action.RESTART, asked)
        return Step(name, Action.KEEP, ("unchanged",))
    if record.completed and svc.one_shot:
        # the finished job's instance (an exited container) is replaced and runs again
        if diff:
            return Step(name, Action.RECREATE, diff)
        if requested:
            return Step(name, Action.START, ("completed", *asked))
        return Step(name, Action.KEEP, ("completed",))
    why = (state.value, "gave up restarting") if record.gave_up else (state.value,)
    return Step(name, Action.START, (*why, *diff, *asked))


def _removals(
    desired: ResolvedStack,
    observed: Mapping[str, Observed],
    observed_order: Sequence[str] | None,
    *,
    limited: bool,
) -> tuple[list[Step], list[str]]:
    """REMOVE steps for what left the stack, dependents first; warnings when names limit it."""
    old = list(observed) if observed_order is None else list(observed_order)
    rank = {n: i for i, n in enumerate(old)}
    # A service left out by its profiles stays as it is (compose's up leaves it running too).
    inactive = getattr(desired.config, "activation", None)
    gone = [
        name
        for name, record in observed.items()
        if name not in desired.services and State(record.state) is not State.STOPPED
        and not (inactive is not None and name in inactive.inactive)
    ]
    # reverse of the old start order; a service missing from that order goes first
    gone.sort(key=lambda n: (-rank.get(n, len(old)), n))
    steps: list[Step] = []
    warnings: list[str] = []
    for name in gone:
        spec = desired.config.spec.services.get(name)
        why = "disabled (enabled: false)" if spec is not None else "no longer in the files"
        if not limited:
            steps.append(Step(name, Action.REMOVE, (why,)))
        elif State(observed[name].state) in ACTIVE:
            warnings.append(f"{name} is {why}; left running ({_REMOVE_HINT})")
    return steps, warnings
