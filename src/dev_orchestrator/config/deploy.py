"""`listen` and `deploy`: the ports the supervisor owns, and how instances are replaced.

Why a module of its own: zero-downtime restarts add two sections to a service (compose's
``deploy`` vocabulary where it exists) and checks across them (a port used twice, an fd
mode that needs a probe able to tell instances apart); keeping them here keeps
models.py about one concept.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .types import Duration, Port

LISTEN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Listen(_Model):
    """A stable port that the supervisor binds and keeps across restarts of the service."""

    port: Port
    host: str = Field("127.0.0.1", description="address to bind (default loopback)")
    mode: Literal["proxy", "fd"] = Field(
        "proxy",
        description="proxy: forward to each instance's $PORT; fd: pass the socket as fd 3 (systemd protocol)",
    )
    name: str | None = Field(None, description="also given as PORT_<NAME> (proxy) or in LISTEN_FDNAMES (fd)")
    env: str | None = Field(
        None, description="proxy mode: the variable that receives the instance's private port "
        "(default PORT, or PORT_<NAME>), for a service that reads its own (e.g. BACKEND_PORT)")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not LISTEN_NAME.match(value):
            raise ValueError(f'invalid listen name "{value}" (use letters, digits and _, starting with a letter)')
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", value):
            raise ValueError(f'invalid variable name "{value}" (use letters, digits and _, not starting with a digit)')
        return value

    @property
    def env_name(self) -> str:
        """The variable an instance reads its private port from in proxy mode."""
        if self.env:
            return self.env
        return f"PORT_{self.name.upper()}" if self.name else "PORT"

    @property
    def fd_name(self) -> str:
        return self.name or "http"


class UpdateConfig(_Model):
    """How a restart replaces an instance (compose's ``deploy.update_config``)."""

    order: Literal["start-first", "stop-first"] | None = Field(
        None, description="default: start-first for a service with listen, stop-first otherwise"
    )
    monitor: Duration = Field(1.0, description="how long a new instance must stay healthy before the switch")
    failure_action: Literal["rollback"] = Field(
        "rollback", description="rollback: stop the new instance and keep the old one serving"
    )


class Deploy(_Model):
    """How many instances run behind the service's listen ports, and how they are replaced."""

    replicas: int = Field(1, ge=1, le=64)
    update_config: UpdateConfig = Field(default_factory=UpdateConfig)
