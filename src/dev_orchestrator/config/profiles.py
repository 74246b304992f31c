"""Compose profiles: which services of a stack are active for one command.

Compose's rules: a service without ``profiles`` always runs; one with profiles runs when
one of them is active (``--profile``, ``COMPOSE_PROFILES``; ``*`` activates all) or when
it is named on the command line; the services an active one requires come with it.
Inactive services stay in the file and are reported as such, never silently missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the models are heavy: commands such as status read only the names below
    from . import models

PROFILE_VARIABLES = ("DEV_ORCHESTRATOR_PROFILES", "COMPOSE_PROFILES")
# Services named on the command line, so that a background supervisor, which loads the
# files again from the environment it is sent, activates the same ones.
NAMED_VARIABLE = "DEV_ORCHESTRATOR_NAMED_SERVICES"
ALL = "*"


def split_list(text: str | None) -> list[str]:
    """A comma-separated list (``debug,tools``) as names, blanks dropped."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def profiles_from_environ(environ: Mapping[str, str]) -> list[str]:
    """The profiles the shell activates: every name in DEV_ORCHESTRATOR_PROFILES and COMPOSE_PROFILES."""
    out: list[str] = []
    for variable in PROFILE_VARIABLES:
        out += [name for name in split_list(environ.get(variable)) if name not in out]
    return out


@dataclass(frozen=True)
class Activation:
    """The outcome for one stack: active profiles and each inactive service's profiles."""

    profiles: tuple[str, ...] = ()
    inactive: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def describe(self, name: str) -> str:
        """``inactive (profile debug)`` for a service left out by its profiles."""
        names = self.inactive.get(name, ())
        label = "profile" if len(names) == 1 else "profiles"
        return f"inactive ({label} {', '.join(names)})"


def activate(spec: models.StackFile, profiles: Sequence[str], named: Iterable[str] = ()) -> Activation:
    """Which services of ``spec`` run with ``profiles`` active and ``named`` on the command line."""
    active_profiles = set(profiles)
    every = ALL in active_profiles
    services = spec.services
    roots = [
        name for name, svc in services.items()
        if not svc.profiles or every or active_profiles & set(svc.profiles)
    ]
    roots += [name for name in named if name in services]
    active: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in active:
            continue
        active.add(name)
        todo.extend(dep for dep, rule in services[name].depends_on.items() if rule.required and dep in services)
    inactive = {name: tuple(svc.profiles) for name, svc in services.items() if name not in active}
    return Activation(tuple(profiles), inactive)


def without_inactive(spec: models.StackFile, activation: Activation) -> models.StackFile:
    """``spec`` with inactive services turned off (``enabled: false``), so no graph holds them."""
    if not activation.inactive:
        return spec
    services = {name: _off(svc) if name in activation.inactive else svc for name, svc in spec.services.items()}
    return spec.model_copy(update={"services": services})


def _off(service: models.Service) -> models.Service:
    """``service`` turned off, still dumped as written (``config`` must not show an ``enabled`` the user never set)."""
    copy = service.model_copy(update={"enabled": False})
    if "enabled" not in service.model_fields_set:
        copy.__pydantic_fields_set__.discard("enabled")
    return copy
