"""Checks across `listen`, `deploy` and `healthcheck` that one field's validator cannot see.

Why separate from the models: each needs the whole stack (a port used by two services)
or the runtime a service resolves to (a notify probe only works for a local process),
and each error names its place in the files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import Diagnostic

if TYPE_CHECKING:
    from .loader import LoadedConfig

FD_PROBES = ("notify", "log", "command")


def listen_diagnostics(config: LoadedConfig, services: Mapping[str, Any]) -> list[Diagnostic]:
    """Every problem with listen ports, replicas and notify probes, each at its place."""
    problems: list[Diagnostic] = []
    owners: dict[int, str] = {}  # port -> "services.x.listen.N" or "services.x.ports"
    for name, svc in services.items():
        for index, port in enumerate(svc.spec.ports):
            owners.setdefault(port, f"services.{name}.ports.{index}")
    for name, svc in services.items():
        where = f"services.{name}"
        for index, entry in enumerate(svc.listen):
            path = f"{where}.listen.{index}"
            first = owners.get(entry.port)
            own_ports = f"{where}.ports."
            if first is not None and first != path and not first.startswith(own_ports):
                problems.append(Diagnostic(f"port {entry.port} is already used by {first}; "
                                           "each listen port belongs to one service",
                                           f"{path}.port", config.location("services", name, "listen", index, "port")))
            else:
                owners[entry.port] = path
            if entry.mode == "fd":
                kind = _probe_kind(svc.healthcheck)
                if kind not in FD_PROBES:
                    found = f"{'an' if kind == 'http' else 'a'} {kind} probe" if kind else "no healthcheck"
                    problems.append(Diagnostic(
                        f"fd mode needs a notify, log or command probe (found {found}): probes through the "
                        "shared port cannot tell the old instance from the new one",
                        f"{path}.mode", config.location("services", name, "listen", index, "mode")))
        if svc.replicas > 1:
            # One instance runs behind a listen port so far; saying so beats running fewer silently.
            why = ("needs a listen port to share between the instances" if not svc.spec.listen
                   else "is not supported yet (one instance serves the listen port; restarts are start-first)")
            problems.append(Diagnostic(f"deploy.replicas above 1 {why}", f"{where}.deploy.replicas",
                                       config.location("services", name, "deploy", "replicas")))
        if _probe_kind(svc.healthcheck) == "notify" and svc.runtime == "docker":
            problems.append(Diagnostic("healthcheck notify works for local processes only",
                                       f"{where}.healthcheck.notify",
                                       config.location("services", name, "healthcheck", "notify")))
        names = [entry.name for entry in svc.listen if entry.name]
        for dup in sorted({n for n in names if names.count(n) > 1}):
            problems.append(Diagnostic(f'listen name "{dup}" is used twice', f"{where}.listen",
                                       config.location("services", name, "listen")))
        unnamed = [i for i, entry in enumerate(svc.listen) if not entry.name and not entry.env]
        if len(unnamed) > 1:
            problems.append(Diagnostic("only one listen entry may go without a name (it is $PORT); name the "
                                       "others", f"{where}.listen.{unnamed[1]}",
                                       config.location("services", name, "listen", unnamed[1])))
    return problems


def _probe_kind(check: Any) -> str | None:
    if check is None:
        return None
    if check == "docker":
        return "docker"
    return str(check.kind)
