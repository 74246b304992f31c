"""The ``develop.watch`` section of a service as typed, frozen models (compose's keys).

They mirror what the user wrote, so that ``Service.develop`` embeds them and the file
still validates with compose; the ``x-`` options are ours. The rules the watcher works
with are derived from them in watch/rules.py.
"""

from __future__ import annotations

import difflib
import posixpath
import shlex
from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..errors import Diagnostic
from .types import Duration

DEFAULT_DEBOUNCE = 0.3  # seconds of quiet before a batch fires
DEFAULT_DEBOUNCE_CAP = 2.0  # a steady stream of writes still fires this long after its first change


class Action(StrEnum):
    """What a change under a rule's path does to its service."""

    RESTART = "restart"
    SYNC = "sync"
    SYNC_RESTART = "sync+restart"
    SYNC_EXEC = "sync+exec"
    REBUILD = "rebuild"

    @property
    def syncs(self) -> bool:
        return self in (Action.SYNC, Action.SYNC_RESTART, Action.SYNC_EXEC)


class OnBusy(StrEnum):
    """What a batch does while its service is still busy with the previous one."""

    QUEUE = "queue"  # keep one pending batch, run it when the service is done
    RESTART = "restart"  # abandon the running action and start over
    IGNORE = "ignore"  # drop the batch


_EXTENSIONS = {"x-debounce", "x-cascade", "x-on-busy"}


def _drop_unknown_extensions(value: Any) -> Any:
    """Keep compose's free-form ``x-`` keys out of the way; a near miss of ours is an error."""
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        text = str(key)
        if text.startswith("x-") and text not in _EXTENSIONS:
            close = difflib.get_close_matches(text, sorted(_EXTENSIONS), n=1, cutoff=0.8)
            if close:
                raise ValueError(f'unknown key "{text}" (did you mean "{close[0]}"?)')
            continue
        out[key] = item
    return out


class Spec(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={"patternProperties": {"^x-": {}}},
    )

    @model_validator(mode="before")
    @classmethod
    def _extensions(cls, value: Any) -> Any:
        return _drop_unknown_extensions(value)


def _str_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class ExecSpec(Spec):
    """The command a ``sync+exec`` rule runs after syncing (in the container, or locally)."""

    command: list[str] | str
    user: str | None = None
    privileged: bool = False
    working_dir: str | None = None
    environment: dict[str, str] = Field(default_factory=dict)

    @field_validator("command")
    @classmethod
    def _command(cls, value: list[str] | str) -> list[str] | str:
        if isinstance(value, str):
            try:
                parts = shlex.split(value)
            except ValueError as exc:
                raise ValueError(f'cannot split command "{value}": {exc}') from None
        else:
            parts = value
        if not parts:
            raise ValueError("command is empty")
        return value

    @field_validator("environment", mode="before")
    @classmethod
    def _environment(cls, value: Any) -> Any:
        if isinstance(value, list):
            return dict(str(item).partition("=")[::2] for item in value)
        if isinstance(value, dict):
            return {str(k): "" if v is None else str(v) for k, v in value.items()}
        return value

    def argv(self) -> list[str]:
        """The command as argv (a string is split like a shell)."""
        return shlex.split(self.command) if isinstance(self.command, str) else list(self.command)


class WatchEntry(Spec):
    """One ``develop.watch`` item, as written.

    The cross-field checks sit on the fields themselves (validated even when absent), so
    that an error names the key to fix: ``develop.watch[0].target``.
    """

    path: str = Field(description="file or folder to watch, relative to services.yaml")
    action: Action
    target: str | None = Field(
        None,
        validate_default=True,
        description="for sync actions: the path in the container, or a local folder for a process",
    )
    exec: ExecSpec | None = Field(None, validate_default=True, description="for sync+exec: the command to run")
    initial_sync: bool = Field(False, validate_default=True, description="sync the whole path once at start")
    ignore: list[str] = Field(default_factory=list, description="gitignore-style patterns, relative to path")
    include: list[str] = Field(
        default_factory=list, description="only changes matching one of these patterns count (default: all)"
    )
    x_debounce: Duration | None = Field(None, alias="x-debounce", description="quiet time before a batch fires")
    x_cascade: bool | None = Field(None, alias="x-cascade", description="also restart the services that depend on it")
    x_on_busy: OnBusy | None = Field(None, alias="x-on-busy", description="queue, restart or ignore")

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("path is empty (use ./folder or ./file, relative to services.yaml)")
        return value

    @field_validator("target")
    @classmethod
    def _target(cls, value: str | None, info: ValidationInfo) -> str | None:
        action = info.data.get("action")
        if action is None:
            return value
        if action.syncs and not (value or "").strip():
            raise ValueError(
                f"{action.value} needs a target: the path in the container (e.g. /app/src) "
                "or, for a local process, the folder to copy into"
            )
        if not action.syncs and value is not None:
            fix = "remove it, or use action: sync+restart" if action is Action.RESTART else "remove it"
            raise ValueError(f"target is used by sync actions only; {fix}")
        return value

    @field_validator("exec")
    @classmethod
    def _exec(cls, value: ExecSpec | None, info: ValidationInfo) -> ExecSpec | None:
        action = info.data.get("action")
        if action is Action.SYNC_EXEC and value is None:
            raise ValueError("sync+exec needs exec: {command: [...]} (the command to run after syncing)")
        if action is not None and action is not Action.SYNC_EXEC and value is not None:
            raise ValueError("exec is used by sync+exec only; remove it, or use action: sync+exec")
        return value

    @field_validator("initial_sync")
    @classmethod
    def _initial_sync(cls, value: bool, info: ValidationInfo) -> bool:
        action = info.data.get("action")
        if value and action is not None and not action.syncs:
            raise ValueError("initial_sync is used by sync actions only; remove it")
        return value

    @field_validator("ignore", "include", mode="before")
    @classmethod
    def _patterns(cls, value: Any) -> Any:
        return _str_list(value)

    @field_validator("ignore", "include")
    @classmethod
    def _no_empty(cls, value: list[str]) -> list[str]:
        if any(not item.strip() for item in value):
            raise ValueError("empty pattern (remove it)")
        return value


class Develop(Spec):
    """A service's ``develop:`` section; ``x-`` options here apply to each of its rules."""

    watch: list[WatchEntry] = Field(default_factory=list)
    x_debounce: Duration = Field(DEFAULT_DEBOUNCE, alias="x-debounce", description="quiet time before a batch fires")
    x_cascade: bool = Field(False, alias="x-cascade", description="also restart the services that depend on it")
    x_on_busy: OnBusy = Field(OnBusy.QUEUE, alias="x-on-busy", description="queue (one pending), restart or ignore")


RuleKey = tuple[str, int]  # (service, index in develop.watch)


def rule_diagnostics(
    service: str, develop: Develop, *, container: bool, has_build: bool
) -> list[Diagnostic]:
    """Checks that need the service around the section: its runtime and its build."""
    out = []
    for index, entry in enumerate(develop.watch):
        place = f"services.{service}.develop.watch[{index}]"
        if entry.action is Action.REBUILD and not has_build:
            hint = (
                "rebuild needs a docker: section with build:; use restart for a local process"
                if not container
                else "rebuild needs build: in the docker: section (an image alone cannot be rebuilt); use restart"
            )
            out.append(Diagnostic(hint, f"{place}.action"))
        if container and entry.action.syncs and entry.target and not posixpath.isabs(entry.target):
            out.append(
                Diagnostic(
                    f'target "{entry.target}" must be an absolute path in the container (e.g. /app/src)',
                    f"{place}.target",
                )
            )
    return out
