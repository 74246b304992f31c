"""The ``develop.watch`` section as typed, frozen models, and the rules derived from it.

The spec models (``Develop``, ``WatchEntry``, ``ExecSpec``) mirror what the user wrote,
with compose's keys unchanged, so that ``Service.develop: Develop | None`` can embed
them. ``WatchRule`` is the resolved form the watcher works with: absolute paths, the
service's runtime and build context, and the effective ``x-`` options.
"""

from __future__ import annotations

import difflib
import os
import posixpath
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..config.types import Duration
from ..errors import ConfigError, Diagnostic

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


class _Spec(BaseModel):
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


class ExecSpec(_Spec):
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


class WatchEntry(_Spec):
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


class Develop(_Spec):
    """A service's ``develop:`` section; ``x-`` options here apply to each of its rules."""

    watch: list[WatchEntry] = Field(default_factory=list)
    x_debounce: Duration = Field(DEFAULT_DEBOUNCE, alias="x-debounce", description="quiet time before a batch fires")
    x_cascade: bool = Field(False, alias="x-cascade", description="also restart the services that depend on it")
    x_on_busy: OnBusy = Field(OnBusy.QUEUE, alias="x-on-busy", description="queue (one pending), restart or ignore")


RuleKey = tuple[str, int]  # (service, index in develop.watch)


@dataclass(frozen=True)
class WatchRule:
    """One resolved watch rule: absolute paths and the effective options of one entry."""

    service: str
    index: int
    path: Path  # absolute, normalised (symlinks kept, so it compares with what the watcher reports)
    action: Action
    target: str | None = None
    exec: ExecSpec | None = field(default=None, hash=False)  # its environment is a dict
    initial_sync: bool = False
    ignore: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    debounce: float = DEFAULT_DEBOUNCE
    debounce_cap: float = DEFAULT_DEBOUNCE_CAP
    cascade: bool = False
    on_busy: OnBusy = OnBusy.QUEUE
    container: bool = False  # the service runs as a container (target is a container path)
    build_context: Path | None = None  # for .dockerignore
    dockerfile: Path | None = None

    @property
    def key(self) -> RuleKey:
        return (self.service, self.index)

    @property
    def place(self) -> str:
        """The dotted place of the entry in the config, for messages."""
        return f"services.{self.service}.develop.watch[{self.index}]"

    def local_target(self, root: Path) -> Path | None:
        """For a process: the folder (or file) a sync copies into, resolved against ``root``."""
        if self.target is None:
            return None
        return Path(os.path.normpath(root / os.path.expanduser(self.target)))


@dataclass(frozen=True)
class Build:
    """What the rules need of a service's ``docker.build``: where its .dockerignore lives."""

    context: Path
    dockerfile: Path | None = None


def _abs(root: Path, text: str) -> Path:
    return Path(os.path.normpath(root / os.path.expanduser(text)))


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


def rules_for(
    service: str,
    develop: Develop | None,
    *,
    root: Path,
    container: bool,
    build: Build | None = None,
) -> tuple[WatchRule, ...]:
    """The resolved rules of one service; raise ConfigError when a rule cannot apply to it.

    ``root`` is the folder of services.yaml (paths are relative to it); ``container``
    says whether the service runs as a container in this run.
    """
    if develop is None:
        return ()
    problems = rule_diagnostics(service, develop, container=container, has_build=build is not None)
    if problems:
        raise ConfigError(problems)
    rules = []
    for index, entry in enumerate(develop.watch):
        debounce = entry.x_debounce if entry.x_debounce is not None else develop.x_debounce
        rules.append(
            WatchRule(
                service=service,
                index=index,
                path=_abs(root, entry.path),
                action=entry.action,
                target=entry.target,
                exec=entry.exec,
                initial_sync=entry.initial_sync,
                ignore=tuple(entry.ignore),
                include=tuple(entry.include),
                debounce=debounce,
                debounce_cap=max(DEFAULT_DEBOUNCE_CAP, debounce),
                cascade=entry.x_cascade if entry.x_cascade is not None else develop.x_cascade,
                on_busy=entry.x_on_busy or develop.x_on_busy,
                container=container,
                build_context=build.context if container and build else None,
                dockerfile=build.dockerfile if container and build else None,
            )
        )
    return tuple(rules)


def from_dict(
    service_name: str, raw: Mapping[str, Any], root: Path, *, container: bool | None = None
) -> tuple[WatchRule, ...]:
    """Validate a service's raw mapping (its ``develop:`` and ``docker:``) into rules.

    Every problem is reported at once, as ``services.<name>.develop.watch[<i>].<field>``.
    ``container`` defaults to "has a docker: section and no command" (a service with both
    runs as a container only when Docker is on: pass it explicitly then).
    """
    docker = raw.get("docker")
    if container is None:
        container = isinstance(docker, Mapping) and raw.get("command") is None
    build = _raw_build(docker, root)
    develop_raw = raw.get("develop")
    if develop_raw is None:
        return ()
    try:
        develop = Develop.model_validate(develop_raw)
    except ValidationError as exc:
        raise ConfigError(_diagnostics(service_name, exc, develop_raw)) from None
    return rules_for(service_name, develop, root=root, container=container, build=build)


def _raw_build(docker: Any, root: Path) -> Build | None:
    if not isinstance(docker, Mapping):
        return None
    build = docker.get("build")
    if isinstance(build, str):
        return Build(_abs(root, build))
    if isinstance(build, Mapping):
        context = _abs(root, str(build.get("context") or "."))
        dockerfile = build.get("dockerfile")
        return Build(context, _abs(context, str(dockerfile)) if dockerfile else None)
    return None


_CHOICES = {
    "action": ", ".join(a.value for a in Action),
    "x-on-busy": ", ".join(o.value for o in OnBusy),
}


def _diagnostics(service: str, exc: ValidationError, data: Any) -> list[Diagnostic]:
    """Pydantic's errors in the file's words, one per place, each naming the key."""
    seen: dict[str, Diagnostic] = {}
    for err in exc.errors():
        loc = [part for part in err["loc"] if not _is_tag(part)]
        path = f"services.{service}.develop" + "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc
        )
        kind = err["type"]
        key = str(loc[-1]) if loc else ""
        if kind == "extra_forbidden":
            known = _known_keys(loc[:-1])
            close = difflib.get_close_matches(key, known, n=1)
            message = f'unknown key "{key}"' + (f' (did you mean "{close[0]}"?)' if close else " (remove it)")
        elif kind == "missing":
            message = f'missing required key "{key}"'
        elif kind in ("enum", "literal_error") and key in _CHOICES:
            message = f"unknown {key} {_shown(err.get('input'))} (use {_CHOICES[key]})"
        elif kind == "value_error":
            message = str(err["msg"]).removeprefix("Value error, ")
        else:
            message = f"{str(err['msg']).replace('Input should be', 'should be')} (got {_shown(err.get('input'))})"
        seen.setdefault(path, Diagnostic(message, path))
    return list(seen.values())


def _is_tag(part: Any) -> bool:
    # pydantic names union members and validator wrappers in loc: "list[str]", "str", "function-after[...]"
    return isinstance(part, str) and (any(c in part for c in "[]()") or part in ("str", "list", "int", "bool"))


def _known_keys(loc: list[Any]) -> list[str]:
    model: type[_Spec] = Develop
    for part in loc:
        if model is Develop and part == "watch":
            model = WatchEntry
        elif model is WatchEntry and part == "exec":
            model = ExecSpec
    return sorted(field.alias or name for name, field in model.model_fields.items())


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f'"{value}"' if isinstance(value, str) else str(value)
