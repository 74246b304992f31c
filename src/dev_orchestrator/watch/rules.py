"""The rules the watcher works with, derived from a service's ``develop:`` section.

The spec models (``Develop``, ``WatchEntry``, ``ExecSpec``) live in config/develop.py,
where the service model embeds them; ``WatchRule`` is the resolved form: absolute paths,
the service's runtime and build context, and the effective ``x-`` options.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..config.develop import (
    DEFAULT_DEBOUNCE,
    DEFAULT_DEBOUNCE_CAP,
    Action,
    Develop,
    ExecSpec,
    OnBusy,
    RuleKey,
    Spec,
    WatchEntry,
    rule_diagnostics,
)
from ..errors import ConfigError, Diagnostic

__all__ = ["DEFAULT_DEBOUNCE", "DEFAULT_DEBOUNCE_CAP", "Action", "Build", "Develop", "ExecSpec", "OnBusy",
           "RuleKey", "WatchEntry", "WatchRule", "from_dict", "rule_diagnostics", "rules_for"]


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
    model: type[Spec] = Develop
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
