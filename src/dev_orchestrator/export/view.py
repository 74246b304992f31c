"""The Docker view of a stack as exports see it: images, ports, volumes, environment, probes.

Kubernetes and Compose exports both start from the containers a stack would run with
``--docker``; the shared reading of ports, volumes and environment lives here so that
both engines agree on it.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..config.models import DockerSpec, HealthCheck
from ..config.resolve import ResolvedService, ResolvedStack, read_env_files
from ..errors import UsageError

_PORT = re.compile(
    r"^(?:(?P<ip>\[[0-9a-fA-F:.]+\]|\d+\.\d+\.\d+\.\d+):)?(?:(?P<host>\d+):)?(?P<container>\d+)(?:/(?P<proto>tcp|udp))?$"
)


@dataclass
class Notes:
    """Messages about what an export or import could not carry over, in input order."""

    items: list[str] = field(default_factory=list)

    def add(self, message: str) -> None:
        if message not in self.items:
            self.items.append(message)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class PortMapping:
    """One compose-style port mapping: ``[ip:][host:]container[/proto]``."""

    container: int
    host: int | None = None
    host_ip: str | None = None
    protocol: Literal["tcp", "udp"] = "tcp"

    @classmethod
    def parse(cls, text: str) -> PortMapping:
        match = _PORT.match(text.strip())
        if not match:
            raise UsageError(f'invalid port mapping "{text}"')
        host = match.group("host")
        proto = match.group("proto") or "tcp"
        return cls(
            container=int(match.group("container")),
            host=int(host) if host else None,
            host_ip=match.group("ip"),
            protocol="udp" if proto == "udp" else "tcp",
        )


@dataclass(frozen=True)
class Mount:
    """One volume entry: a named volume, a bind mount or an anonymous volume.

    ``mode`` is the flags part as written (``ro``, ``rw,Z``, ``rshared``, ``nocopy``...),
    kept whole so that an export writes back every flag.
    """

    kind: Literal["named", "bind", "anonymous"]
    target: str
    source: str = ""
    read_only: bool = False
    mode: str = ""

    @classmethod
    def parse(cls, text: str) -> Mount:
        parts = text.split(":")
        mode = ""
        if len(parts) >= 2 and parts[-1] and set(parts[-1].split(",")) <= MOUNT_FLAGS:
            mode = parts.pop()
        read_only = "ro" in mode.split(",")
        if len(parts) == 1:
            return cls("anonymous", parts[0], read_only=read_only, mode=mode)
        source, target = parts[0], ":".join(parts[1:])
        kind: Literal["named", "bind"] = (
            "bind" if source.startswith((".", "/", "~")) or "/" in source else "named"
        )
        return cls(kind, target, source, read_only, mode)


MOUNT_FLAGS = {"ro", "rw", "z", "Z", "shared", "rshared", "slave", "rslave", "private", "rprivate",
               "nocopy", "consistent", "cached", "delegated"}


def container_ports(svc: ResolvedService) -> list[PortMapping]:
    """Ports the container listens on: its docker ports, else the service's declared ports."""
    docker = svc.docker
    if docker is not None and docker.ports:
        out: list[PortMapping] = []
        for item in docker.ports:
            mapping = PortMapping.parse(item)
            if all(m.container != mapping.container or m.protocol != mapping.protocol for m in out):
                out.append(mapping)
        return out
    return [PortMapping(container=p, host=p) for p in svc.ports]


def in_container_port(svc: ResolvedService, port: int) -> int:
    """A port the orchestrator probes from the host, seen from inside the container.

    ``8081:8080`` publishes container port 8080 on host port 8081; a probe of 8081 from
    the host is a probe of 8080 inside the container (and inside a Kubernetes pod).
    """
    for mapping in container_ports(svc):
        if mapping.host == port:
            return mapping.container
    return port


def docker_healthcheck(svc: ResolvedService) -> HealthCheck | Literal["docker"] | None:
    """The health check of the container: ``docker.healthcheck`` first, then the service's."""
    if svc.docker is not None and svc.docker.healthcheck is not None:
        return svc.docker.healthcheck
    return svc.spec.healthcheck


def command_list(value: list[str] | str | None) -> list[str] | None:
    """A compose-style command: a string splits like a shell (without running one)."""
    if value is None:
        return None
    return shlex.split(value) if isinstance(value, str) else list(value)


def own_environment(svc: ResolvedService) -> dict[str, str | None]:
    """The variables a service sets itself: ``environment`` then ``docker.environment``.

    ``None`` means "pass through from the environment of whoever runs the stack".
    """
    env: dict[str, str | None] = dict(svc.spec.environment)
    if svc.docker is not None:
        env.update(svc.docker.environment)
    return env


def env_file_values(stack: ResolvedStack, svc: ResolvedService) -> dict[str, str]:
    """The contents of the service's env files (service-level, then docker-level)."""
    files = list(svc.spec.env_file)
    if svc.docker is not None:
        files.extend(svc.docker.env_file)
    return read_env_files(stack.root, files) if files else {}


def image_of(stack: ResolvedStack, name: str, docker: DockerSpec) -> tuple[str, bool]:
    """The image a service runs and whether it is only built locally (no ``image:`` given)."""
    if docker.image:
        return docker.image, False
    return f"{stack.project}-{name}:latest", True


def relative_path(path: str, root: Path, base: Path) -> str:
    """``path`` (relative to the stack root) rewritten relative to ``base``."""
    target = Path(path).expanduser()
    if not target.is_absolute():
        target = root / target
    try:
        rel = Path(os.path.relpath(target.resolve(), base.resolve()))
    except ValueError:
        return str(target)
    text = rel.as_posix()
    return text if text.startswith(".") else f"./{text}"


def project_labels(project: str, name: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": project,
        "app.kubernetes.io/managed-by": "dev-orchestrator",
    }


@dataclass(frozen=True)
class UpdateIntent:
    """How many instances a service wants and how one is replaced (issue: exports carry it).

    ``given`` is false when the service says nothing about it (no ``deploy:``, no
    ``listen``): exports then write nothing and leave each engine's own default.
    ``explicit_order`` tells a written ``update_config.order`` from the default.
    """

    replicas: int = 1
    order: Literal["start-first", "stop-first"] = "stop-first"
    monitor: float = 1.0
    failure_action: str = "rollback"
    given: bool = False
    explicit_order: bool = False


def update_intent(svc: ResolvedService) -> UpdateIntent:
    """The service's ``deploy`` as written, with the orchestrator's defaults.

    The resolved service runs containers stop-first (their ports are published, not
    owned by the supervisor), so the order is read from the spec: start-first by default
    for a service with ``listen``, which promises zero-downtime replacement wherever it runs.
    """
    spec = svc.spec
    deploy = spec.deploy
    order = deploy.update_config.order if deploy is not None else None
    return UpdateIntent(
        replicas=deploy.replicas if deploy is not None else 1,
        order=order or ("start-first" if spec.listen else "stop-first"),
        monitor=deploy.update_config.monitor if deploy is not None else 1.0,
        failure_action=deploy.update_config.failure_action if deploy is not None else "rollback",
        given=deploy is not None or bool(spec.listen),
        explicit_order=order is not None,
    )


def exported_services(stack: ResolvedStack) -> tuple[list[str], list[str]]:
    """Services in start order, split into those with a docker section and those without."""
    order = stack.graph.order()
    with_image = [n for n in order if stack.services[n].docker is not None]
    without = [n for n in order if stack.services[n].docker is None]
    return with_image, without
