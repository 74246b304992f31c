"""Typed bodies of the control API's requests: every field checked before a handler runs.

A body that does not fit (``{"timeout": "abc"}``, an unknown field, a list where a name
belongs) is answered 400 with the field and the reason; it never reaches the engine.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import UsageError

MAX_SECONDS = 86400.0


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Names(Request):
    services: list[str] = Field(default_factory=list, max_length=10_000)


class StartBody(Names):
    timeout: float | None = Field(None, gt=0, le=MAX_SECONDS)
    environ: dict[str, str] | None = None
    dry_run: bool = False


class StopBody(Names):
    grace: float | None = Field(None, ge=0, le=MAX_SECONDS)


class RestartBody(Names):
    timeout: float | None = Field(None, gt=0, le=MAX_SECONDS)
    environ: dict[str, str] | None = None
    rebuild: bool = False  # build the containers' images again first (a failed build changes nothing)


class WatchingBody(Request):
    """A watcher says which services it watches (an empty list: it stopped)."""

    services: list[str] = Field(default_factory=list, max_length=10_000)
    pid: int = Field(gt=1)


class HealthBody(Names):
    deep: bool = False


class ApplyBody(Request):
    """Reconcile: ``env``/``docker`` switch the stack (None keeps the supervisor's)."""

    services: list[str] = Field(default_factory=list, max_length=10_000)
    timeout: float | None = Field(None, gt=0, le=MAX_SECONDS)
    environ: dict[str, str] | None = None
    dry_run: bool = False
    env: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]+$")
    docker: Literal["on", "off", "config"] | None = None
    restart: bool = False
    scale: dict[str, int] = Field(default_factory=dict, max_length=10_000)  # --scale: replicas for this run


class DashboardActionBody(Names):
    """An action of the web dashboard (``POST /api/<action>``): ``dry_run`` only shows the plan."""

    dry_run: bool = False


class BadBody(UsageError):
    """A request body that does not match its model (answered 400)."""


def parse(model: type[Request], body: dict[str, Any]) -> Any:
    """``body`` as ``model``, or BadBody naming every bad field and why."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "body"
            problems.append(f"{where}: {error['msg']}")
        raise BadBody("bad request: " + "; ".join(problems)) from None

