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
            if svc.runtime == "docker":
                problems.extend(_container_listen(config, name, index, entry, svc))
            if entry.mode == "fd" and svc.runtime != "docker":
                kind = _probe_kind(svc.healthcheck)
                if kind not in FD_PROBES:
                    found = f"{'an' if kind == 'http' else 'a'} {kind} probe" if kind else "no healthcheck"
                    problems.append(Diagnostic(
                        f"fd mode needs a notify, log or command probe (found {found}): probes through the "
                        "shared port cannot tell the old instance from the new one",
                        f"{path}.mode", config.location("services", name, "listen", index, "mode")))
        if svc.runtime == "docker" and svc.listen:
            listened = {entry.port for entry in svc.listen}
            for index, mapping in enumerate(svc.docker.ports):
                pair = published(mapping)
                if pair is not None and pair[0] not in listened:
                    problems.append(Diagnostic(
                        f"port {pair[0]} is published by every instance of {name}, and two run at once "
                        f"(a start-first restart, replicas): add `{{port: {pair[0]}}}` to listen, or drop the mapping",
                        f"{where}.docker.ports.{index}", config.location("services", name, "docker", "ports", index)))
        if svc.runtime == "docker" and svc.docker.container_name and (svc.listen or svc.replicas > 1):
            problems.append(Diagnostic(
                f"container_name {svc.docker.container_name!r} names one container, and {name} runs several "
                "(a start-first restart behind listen, or replicas): drop container_name",
                f"{where}.docker.container_name", config.location("services", name, "docker", "container_name")))
        if svc.replicas > 1 and svc.spec.ports and not svc.spec.listen:
            # Two instances cannot bind one port; behind a listen port they share it.
            problems.append(Diagnostic(
                f"deploy.replicas {svc.replicas} needs a listen port: the replicas would all bind "
                f"port {svc.spec.ports[0]}; add `listen: [{{port: {svc.spec.ports[0]}}}]` so they share it",
                f"{where}.deploy.replicas", config.location("services", name, "deploy", "replicas")))
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


def published(mapping: str) -> tuple[int, int] | None:
    """(host port, container port) of a compose port mapping ("8080", "8080:80",
    "127.0.0.1:8080:80", "[::1]:8080:80/tcp"); None for what is not one."""
    parts = mapping.split("/", 1)[0].rsplit(":", 2)
    numbers = parts[-2:] if len(parts) > 1 else parts * 2
    if not all(n.isdigit() for n in numbers):
        return None
    return int(numbers[0]), int(numbers[1])


def _container_listen(config: LoadedConfig, name: str, index: int, entry: Any, svc: Any) -> list[Diagnostic]:
    """A container's listen port: proxied to the container port its docker.ports publishes."""
    path = f"services.{name}.listen.{index}"
    if entry.mode == "fd":
        return [Diagnostic("fd mode hands the socket to a local process; a container's listen port is "
                           "proxied: drop `mode: fd`, or run the service as a process",
                           f"{path}.mode", config.location("services", name, "listen", index, "mode"))]
    hosts = [found[0] for found in map(published, svc.docker.ports) if found is not None]
    if entry.port not in hosts:
        return [Diagnostic(f"listen port {entry.port} of a container must be one of its docker.ports "
                           f'(add "127.0.0.1:{entry.port}:<container port>"): the supervisor binds {entry.port} '
                           "and each container publishes that container port on a private loopback port",
                           f"{path}.port", config.location("services", name, "listen", index, "port"))]
    return []


def _probe_kind(check: Any) -> str | None:
    if check is None:
        return None
    if check == "docker":
        return "docker"
    return str(check.kind)
