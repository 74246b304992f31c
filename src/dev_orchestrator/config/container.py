"""Container options of a ``docker:`` section, in compose's words and shapes.

Why a module of its own: these keys (networks and aliases, hostname, labels, tmpfs,
capabilities, ulimits, ...) only shape the container the Docker backend creates; none
changes how the stack is ordered or probed. Each accepts the shapes compose accepts (a
list or a mapping for labels, a string or a list for tmpfs), normalised here, so a
compose file carries over as written.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

NETWORK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class NetworkAttachment(_Model):
    aliases: list[str] = Field(default_factory=list, description="more names the container has on this network")


class Ulimit(_Model):
    soft: int
    hard: int


def _pairs(value: Any, sep: str = "=") -> Any:
    """``["KEY=VALUE", ...]`` as a mapping; mapping values as strings."""
    if isinstance(value, list):
        out: dict[str, str] = {}
        for item in value:
            if not isinstance(item, str):
                raise ValueError(f'expected "KEY{sep}VALUE", got {item!r}')
            key, _, val = item.partition(sep)
            out[key] = val
        return out
    if isinstance(value, dict):
        return {str(k): "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
                for k, v in value.items()}
    return value


def _strings(value: Any) -> Any:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
    return value


class ContainerOptions(_Model):
    """What the container is created with beyond image, command, ports and volumes."""

    container_name: str | None = Field(None, description="a fixed container name (default <project>-<service>)")
    hostname: str | None = None
    labels: dict[str, str] = Field(default_factory=dict, description="labels of the container (ours are added)")
    networks: dict[str, NetworkAttachment] = Field(
        default_factory=dict,
        description="project networks to join, with aliases (default: the project's one network)")
    extra_hosts: list[str] = Field(default_factory=list, description='"host:ip" entries for /etc/hosts')
    expose: list[str] = Field(default_factory=list, description="ports the container exposes, unpublished")
    tmpfs: list[str] = Field(default_factory=list, description='"/path" or "/path:size=64m" mounts in memory')
    read_only: bool = False
    init: bool = False
    privileged: bool = False
    tty: bool = False
    stdin_open: bool = False
    cap_add: list[str] = Field(default_factory=list)
    cap_drop: list[str] = Field(default_factory=list)
    security_opt: list[str] = Field(default_factory=list)
    dns: list[str] = Field(default_factory=list)
    sysctls: dict[str, str] = Field(default_factory=dict)
    shm_size: str | None = Field(None, description='size of /dev/shm: "64m", "1g" or bytes')
    ulimits: dict[str, Ulimit] = Field(default_factory=dict, description="nofile: 1024, or nofile: {soft, hard}")

    @field_validator("labels", "sysctls", mode="before")
    @classmethod
    def _mapping(cls, value: Any) -> Any:
        return _pairs(value)

    @field_validator("extra_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: Any) -> Any:
        if isinstance(value, dict):  # compose's mapping form: {host: ip}
            return [f"{host}:{ip}" for host, ip in value.items()]
        if isinstance(value, list):  # "host=ip" is compose's newer spelling of "host:ip"
            return [re.sub(r"^([^:=\s]+)=", r"\1:", v) if isinstance(v, str) else v for v in value]
        return value

    @field_validator("expose", "tmpfs", "dns", "cap_add", "cap_drop", "security_opt", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        return _strings(value)

    @field_validator("shm_size", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("networks", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {str(name): {} for name in value}
        if isinstance(value, dict):
            return {str(name): {} if opts is None else opts for name, opts in value.items()}
        return value

    @field_validator("networks")
    @classmethod
    def _network_names(cls, value: dict[str, NetworkAttachment]) -> dict[str, NetworkAttachment]:
        for name in value:
            if not NETWORK_NAME.match(name):
                raise ValueError(f'invalid network name "{name}" (letters, digits, ".", "-", "_")')
        return value

    @field_validator("ulimits", mode="before")
    @classmethod
    def _ulimits(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: {"soft": v, "hard": v} if isinstance(v, int) and not isinstance(v, bool) else v
                    for k, v in value.items()}
        return value
