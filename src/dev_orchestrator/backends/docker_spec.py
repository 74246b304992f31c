"""What a service's container looks like: names, labels, ports, mounts, env and config hash.

Pure (no Docker calls), so the translation from ``docker:`` to container settings is
testable as data. The config hash covers everything that shapes the container, so a
changed definition (or a rebuilt image) is recreated and an unchanged one is reused.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..config.resolve import read_env_files
from ..state import REPLICA_ENV

if TYPE_CHECKING:
    from ..config.models import DockerSpec
    from ..config.resolve import ResolvedService, ResolvedStack

LABEL_PROJECT = "dev-orchestrator.project"
LABEL_SERVICE = "dev-orchestrator.service"
LABEL_HASH = "dev-orchestrator.config-hash"

DEFAULT_HOST_IP = "127.0.0.1"  # a dev tool must not expose a database to the LAN by default

_PORT = re.compile(
    r"^(?:(?P<ip>\[[0-9a-fA-F:.]+\]|\d{1,3}(?:\.\d{1,3}){3}):)?(?:(?P<host>\d+):)?(?P<container>\d+)(?:/(?P<proto>tcp|udp))?$"
)
# Flags a volume entry may end with, in any comma-separated combination (ro,Z / rshared / nocopy).
_MOUNT_FLAGS = {"ro", "rw", "z", "Z", "shared", "rshared", "slave", "rslave", "private", "rprivate",
                "nocopy", "consistent", "cached", "delegated"}


def network_name(project: str) -> str:
    return f"{project}_default"


def volume_name(project: str, name: str) -> str:
    return f"{project}_{name}"


def container_name(project: str, service: str) -> str:
    return f"{project}-{service}"


def project_labels(project: str) -> dict[str, str]:
    return {LABEL_PROJECT: project}


def project_filter(project: str, service: str | None = None) -> dict[str, Any]:
    """A Docker ``filters`` value that finds what carries the project's (service's) labels."""
    labels = [f"{LABEL_PROJECT}={project}"]
    if service is not None:
        labels.append(f"{LABEL_SERVICE}={service}")
    return {"label": labels}


@dataclass(frozen=True)
class PortBinding:
    container: int
    host: int
    host_ip: str = DEFAULT_HOST_IP
    proto: str = "tcp"

    @classmethod
    def parse(cls, text: str) -> PortBinding:
        """Compose syntax; a port alone publishes the same port number on the host.

        Unlike compose (which would pick a random host port), a single number keeps its
        number, so that probes and local processes can rely on it.
        """
        match = _PORT.match(text.strip())
        if match is None:
            raise ValueError(f'invalid port mapping "{text}" (use "8080", "8080:80" or "127.0.0.1:8080:80")')
        ip = (match["ip"] or DEFAULT_HOST_IP).strip("[]")
        container = int(match["container"])
        host = int(match["host"]) if match["host"] else container
        return cls(container, host, ip, match["proto"] or "tcp")


@dataclass(frozen=True)
class Mount:
    kind: Literal["named", "bind", "anonymous"]
    target: str
    source: str = ""
    mode: str = "rw"

    @classmethod
    def parse(cls, text: str, *, project: str, root: Path) -> Mount:
        """``name:/path``, ``./dir:/path`` or ``/path`` with optional flags (``:ro``, ``:rw,Z``, ``:rshared``).

        Named volumes get the project prefix; bind mounts are relative to services.yaml.
        Every flag goes to the engine as written.
        """
        parts = text.split(":")
        mode = "rw"
        if len(parts) >= 2 and parts[-1] and set(parts[-1].split(",")) <= _MOUNT_FLAGS:
            mode = parts.pop()
        if len(parts) == 1:
            return cls("anonymous", parts[0], mode=mode)
        source, target = parts[0], ":".join(parts[1:])
        if source.startswith((".", "/", "~")) or "/" in source:
            path = Path(source).expanduser()
            if not path.is_absolute():
                path = root / path
            return cls("bind", target, str(path.resolve()), mode)
        return cls("named", target, volume_name(project, source), mode)


@dataclass(frozen=True)
class ContainerPlan:
    """Everything the container is created with (pure data)."""

    service: str
    project: str
    name: str
    image: str
    command: list[str] | None
    entrypoint: list[str] | None
    environment: dict[str, str]
    ports: tuple[PortBinding, ...]
    mounts: tuple[Mount, ...]
    user: str | None
    working_dir: str | None
    stop_signal: str
    stop_grace_period: float
    network: str
    image_id: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    instance: bool = False  # one of several behind the service's listen ports (own name)
    # the networks to join, each with the container's aliases there (the first at create)
    networks: tuple[tuple[str, tuple[str, ...]], ...] = ()
    options: dict[str, Any] = field(default_factory=dict)  # more create_container arguments
    host_options: dict[str, Any] = field(default_factory=dict)  # more host config arguments
    own_labels: dict[str, str] = field(default_factory=dict)  # the user's labels
    expose: tuple[str, ...] = ()  # ports open to the project's networks, unpublished ("8080", "53/udp")

    def config_hash(self) -> str:
        data = {
            "image": self.image, "image_id": self.image_id, "command": self.command,
            "entrypoint": self.entrypoint, "environment": sorted(self.environment.items()),
            "ports": [vars(p) for p in self.ports], "mounts": [vars(m) for m in self.mounts],
            "user": self.user, "working_dir": self.working_dir, "stop_signal": self.stop_signal,
            "stop_grace_period": self.stop_grace_period, "network": self.network,
            "networks": [[n, list(a)] for n, a in self.networks], "options": self.options,
            "host_options": self.host_options, "own_labels": self.own_labels, "expose": list(self.expose),
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    def with_image_id(self, image_id: str) -> ContainerPlan:
        plan = ContainerPlan(**{**vars(self), "image_id": image_id, "labels": {}})
        labels = {**self.own_labels, LABEL_PROJECT: self.project, LABEL_SERVICE: self.service,
                  LABEL_HASH: plan.config_hash()}
        return ContainerPlan(**{**vars(plan), "labels": labels})

    @property
    def hash(self) -> str:
        return self.labels.get(LABEL_HASH) or self.config_hash()

    def port_map(self) -> dict[int | str, Any]:
        out: dict[int | str, Any] = {}
        for p in self.ports:
            out.setdefault(f"{p.container}/{p.proto}", []).append((p.host_ip, p.host))
        return out

    def binds(self) -> dict[str, Mapping[str, str]]:
        return {m.source: {"bind": m.target, "mode": m.mode} for m in self.mounts if m.kind != "anonymous"}

    def named_volumes(self) -> list[str]:
        return [m.source for m in self.mounts if m.kind == "named"]

    def anonymous_volumes(self) -> list[str]:
        return [m.target for m in self.mounts if m.kind == "anonymous"]

    def create_kwargs(self) -> dict[str, Any]:
        """Arguments of the low-level ``create_container`` (host config built separately)."""
        return {
            "image": self.image,
            "name": self.name,
            "command": self.command,
            "entrypoint": self.entrypoint,
            "environment": self.environment,
            "user": self.user or "",
            "working_dir": self.working_dir,
            "labels": self.labels,
            "stop_signal": self.stop_signal,
            "stop_timeout": max(int(round(self.stop_grace_period)), 0),
            "ports": [(p.container, p.proto) for p in self.ports] + self.exposed(),
            "volumes": [m.target for m in self.mounts],
            "detach": True,
            **self.options,
        }

    def exposed(self) -> list[tuple[int, str]]:
        return [(int(text.partition("/")[0]), text.partition("/")[2] or "tcp") for text in self.expose]

    def host_config(self) -> dict[str, Any]:
        """Arguments of ``create_host_config`` (ports, mounts, network and the options)."""
        return {"port_bindings": dict(self.port_map()), "binds": dict(self.binds()),
                "network_mode": self.network, **self.host_options}


def image_of(project: str, service: ResolvedService) -> str:
    """The image a service runs: ``image``, or ``<project>-<service>:latest`` when only built."""
    spec = service.docker
    assert spec is not None
    return spec.image or f"{project}-{service.name}:latest"


def _argv(value: list[str] | str | None) -> list[str] | None:
    if value is None:
        return None
    return shlex.split(value) if isinstance(value, str) else list(value)


def container_env(stack: ResolvedStack, service: ResolvedService) -> dict[str, str]:
    """The container's environment, as compose would pass it.

    Only what the stack sets: the environment's name (``orchestrator.env_var``), the
    service's own flattened settings, the env files, then
    ``environment`` and ``docker.environment``. Never the whole host environment (its
    PATH and HOME would break the image). A ``None`` value passes the variable through.
    """
    spec = service.spec
    docker = service.docker
    assert docker is not None
    env: dict[str, str] = dict(service.stack_env)
    files = [*spec.env_file, *docker.env_file]
    if files:
        env.update(read_env_files(stack.root, files))
    own: dict[str, str | None] = {**spec.environment, **docker.environment}
    for key, value in own.items():
        if value is not None:
            env[key] = value
        elif key in stack.base_env:
            env[key] = stack.base_env[key]
    return env


def plan_container(stack: ResolvedStack, service: ResolvedService) -> ContainerPlan:
    docker = service.docker
    assert docker is not None, f"{service.name} has no docker: section"
    project = stack.project
    networks = tuple(
        (network_name(project) if net == "default" else volume_name(project, net),
         (service.name, *attach.aliases))
        for net, attach in docker.networks.items()
    ) or ((network_name(project), (service.name,)),)
    return ContainerPlan(
        service=service.name,
        project=project,
        name=docker.container_name or container_name(project, service.name),
        image=image_of(project, service),
        command=_argv(docker.command),
        entrypoint=_argv(docker.entrypoint),
        environment=container_env(stack, service),
        ports=tuple(PortBinding.parse(p) for p in docker.ports),
        mounts=tuple(Mount.parse(v, project=project, root=stack.root) for v in docker.volumes),
        user=docker.user,
        working_dir=docker.working_dir,
        stop_signal=service.stop_signal,
        stop_grace_period=service.stop_grace_period,
        network=networks[0][0],
        networks=networks,
        options=container_options(docker),
        host_options=host_options(docker),
        own_labels=dict(docker.labels),
        expose=tuple(docker.expose),
    )


def container_options(docker: DockerSpec) -> dict[str, Any]:
    """The container options of ``create_container`` that the spec sets (compose's keys)."""
    out: dict[str, Any] = {}
    if docker.hostname:
        out["hostname"] = docker.hostname
    if docker.tty:
        out["tty"] = True
    if docker.stdin_open:
        out["stdin_open"] = True
    return out


def host_options(docker: DockerSpec) -> dict[str, Any]:
    """The options of ``create_host_config`` that the spec sets."""
    out: dict[str, Any] = {}
    for key in ("cap_add", "cap_drop", "security_opt", "dns", "extra_hosts"):
        if getattr(docker, key):
            out[key] = list(getattr(docker, key))
    for key in ("read_only", "init", "privileged"):
        if getattr(docker, key):
            out[key] = True
    if docker.tmpfs:
        out["tmpfs"] = dict(item.partition(":")[::2] for item in docker.tmpfs)
    if docker.sysctls:
        out["sysctls"] = dict(docker.sysctls)
    if docker.shm_size:
        out["shm_size"] = docker.shm_size
    if docker.ulimits:
        out["ulimits"] = [{"Name": name, "Soft": u.soft, "Hard": u.hard} for name, u in sorted(docker.ulimits.items())]
    return out


def instance_plan(stack: ResolvedStack, service: ResolvedService, prepared: ContainerPlan) -> ContainerPlan:
    """The plan of one instance behind ``listen``: the instance's port mapping (a private
    loopback port), the prepared image, and a name of its own,
    ``<project>-<service>-<replica>-<private port>``."""
    plan = plan_container(stack, service)
    replica = plan.environment.get(REPLICA_ENV, "1")
    private = next((p.host for p in plan.ports if p not in prepared.ports), None)
    name = f"{plan.name}-{replica}" + (f"-{private}" if private is not None else "")
    return ContainerPlan(**{**vars(plan), "name": name, "instance": True}).with_image_id(prepared.image_id)


def labels_of(attrs: Mapping[str, Any]) -> dict[str, str]:
    """A container's labels from its inspect data."""
    return dict((attrs.get("Config") or {}).get("Labels") or {})
