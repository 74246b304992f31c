"""The load pipeline: find files -> parse -> interpolate -> merge -> validate -> graph check.

Every problem of one load is collected and raised together as one ConfigError.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import ConfigError, Diagnostic, Location, UsageError
from . import models
from .gc_pause import gc_paused
from .interpolate import InterpolationError, Interpolator, walk_strings
from .locate import SERVICES_FILE as SERVICES_FILE
from .locate import find_services_file, is_compose_path, stack_file_in
from .merge import merge, merge_positions
from .profiles import (
    NAMED_VARIABLE,
    Activation,
    activate,
    profiles_from_environ,
    split_list,
    without_inactive,
)
from .service_env import settings_from_diagnostics
from .source import PathKey, Source, dotted, parse_file
from .taint import declared_secrets, is_secret_variable, merge_secrets, normalize_secrets, value_at
from .validation import pydantic_diagnostics

DEFAULT_ENV = "dev"


@dataclass(frozen=True)
class LoadedConfig:
    """A validated stack and where it came from.

    ``secrets`` maps the path of every value that interpolates a secret variable to its
    text as written (before interpolation): such a value is itself secret.
    """

    root: Path
    file: Path
    files: tuple[str, ...]
    env: str
    project: str
    spec: models.StackFile
    dotenv: Mapping[str, str]
    warnings: tuple[str, ...] = ()
    locations: Mapping[PathKey, Location] = field(default_factory=dict)
    secrets: Mapping[PathKey, str] = field(default_factory=dict)
    activation: Activation = field(default_factory=Activation)
    compose: bool = False  # the stack was read from a compose file, translated as import compose does
    notes: tuple[str, ...] = ()  # what the compose translation could not carry over

    def location(self, *path: str | int) -> Location | None:
        return self.locations.get(tuple(path))

    @property
    def secret_paths(self) -> frozenset[PathKey]:
        return frozenset(self.secrets)


def project_name(data: Mapping[str, Any], root: Path) -> str:
    name = data.get("name")
    if isinstance(name, str) and name:
        return name
    slug = re.sub(r"[^a-z0-9_-]+", "-", root.name.lower()).strip("-_")
    return slug or "stack"


ENV_VARIABLE = "DEV_ORCHESTRATOR_ENV"


def env_from_environ(data: Mapping[str, Any], environ: Mapping[str, str]) -> str | None:
    """The environment named by the shell: $DEV_ORCHESTRATOR_ENV, else the variable the
    stack names in ``orchestrator.env_var`` (e.g. $APP_ENV); None if neither."""
    value = environ.get(ENV_VARIABLE)
    if value:
        return value
    orchestrator = data.get("orchestrator")
    name = orchestrator.get("env_var") if isinstance(orchestrator, Mapping) else None
    if isinstance(name, str) and name and environ.get(name):
        return environ[name]
    return None


def available_envs(root: Path, project: str) -> list[str]:
    folder = root / "config"
    prefix = f"{project}."
    if not folder.is_dir():
        return []
    return sorted(
        p.name[len(prefix) : -len(".yaml")]
        for p in folder.glob(f"{project}.*.yaml")
        if p.name.startswith(prefix)
    )


def _display(path: Path, cwd: Path) -> str:
    try:
        return str(path.resolve().relative_to(cwd.resolve()))
    except ValueError:
        return str(path)


def _read_dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values  # only where a .env file exists: 8 ms of every command

    return {k: v for k, v in dotenv_values(path, interpolate=True).items() if v is not None}


@gc_paused()
def load(
    file: Path | None = None,
    env: str | None = None,
    *,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
    profiles: Sequence[str] | None = None,
    named: Sequence[str] = (),
    overlay: bool = True,
) -> LoadedConfig:
    """Load, merge and validate the stack; raise ConfigError with every problem found.

    ``overlay=False`` reads the base files alone (services.yaml and config/base.yaml, no
    environment's file) under the name ``env``: the common part a Kustomize base holds.

    ``profiles`` are the active compose profiles (default: from the environment) and
    ``named`` the services named on the command line, which are active whatever their
    profiles. A compose file is read through the same translation as ``import compose``.
    """
    cwd = cwd or Path.cwd()
    environ = os.environ if environ is None else environ
    located = file is None or file.is_dir()
    if file is None:
        file = find_services_file(cwd)
    elif file.is_dir():
        file = stack_file_in(file)
    if not file.is_file():
        raise UsageError(f"{file}: no such file", hint="pass -f path/to/services.yaml (or a compose file)")
    file = file.resolve()
    root = file.parent

    compose = is_compose_path(file)
    notes: tuple[str, ...] = ()
    if compose:
        from .compose import read_compose_file

        base, notes = read_compose_file(file, _display(file, cwd), with_override=located)
    else:
        base = parse_file(file, _display(file, cwd))
    project = project_name(base.data, root)
    if compose and environ.get("COMPOSE_PROJECT_NAME"):
        project = environ["COMPOSE_PROJECT_NAME"]
    chosen = env_from_environ(base.data, environ)
    explicit_env = env is not None or chosen is not None
    env = env or chosen or DEFAULT_ENV
    if not re.fullmatch(r"[A-Za-z0-9_-]+", env):
        raise UsageError(f'invalid environment name "{env}" (use letters, digits, - and _)')

    overlay_path = root / "config" / f"{project}.{env}.yaml"
    envs = available_envs(root, project)
    if not overlay:
        overlay_path = root / "config" / "base.yaml"  # read once below: no environment's file
    elif not overlay_path.is_file() and explicit_env and (envs or env != DEFAULT_ENV):
        listed = ", ".join(envs) if envs else "none"
        raise UsageError(
            f'no environment "{env}": {_display(overlay_path, cwd)} does not exist '
            f"(environments: {listed})",
            hint=f"create {_display(overlay_path, cwd)} or pick one of: {listed}",
        )

    sources = [base]
    diagnostics: list[Diagnostic] = []
    for extra in dict.fromkeys((root / "config" / "base.yaml", overlay_path)):
        if extra.is_file():
            try:
                sources.append(parse_file(extra, _display(extra, cwd)))
            except ConfigError as exc:
                diagnostics.extend(exc.diagnostics)

    dotenv = {**_read_dotenv(root / ".env"), **_read_dotenv(root / f".env.{env}")}
    variables = {**dotenv, **environ}
    strict = _strict_flag(sources, variables)
    declared = declared_secrets(sources)

    warnings: list[str] = []
    merged: Any = {}
    values: dict[PathKey, Location] = {}
    keys: dict[PathKey, Location] = {}
    secrets: dict[PathKey, str] = {}
    bad_paths: set[PathKey] = set()
    for source in sources:
        found: dict[PathKey, str] = {}
        data = _interpolate(source, variables, strict, diagnostics, warnings, bad_paths, (declared, found))
        merged = merge(merged, data)
        values = merge_positions(values, source.values, data)
        keys = merge_positions(keys, source.keys, data)
        secrets = merge_secrets(secrets, found, data)
    merged.setdefault("name", project)
    if compose and environ.get("COMPOSE_PROJECT_NAME"):
        merged["name"] = project
    if declared and isinstance(merged.get("orchestrator"), dict):
        merged["orchestrator"] = {**merged["orchestrator"], "secrets": sorted(declared)}

    spec: models.StackFile | None = None
    try:
        spec = models.StackFile.model_validate(merged)
    except ValidationError as exc:
        for diag in pydantic_diagnostics(exc, merged, values, keys):
            if not any(diag.path == dotted(p) for p in bad_paths):
                diagnostics.append(diag)
    from ..graph import graph_diagnostics

    locations = _dependency_locations(merged, values, keys)
    if spec is not None:
        dependencies = {n: {d: r.required for d, r in s.depends_on.items()} for n, s in spec.services.items()}
        enabled = {n: s.enabled for n, s in spec.services.items()}
        _drop_uninterpolated(dependencies, merged, bad_paths)
        diagnostics.extend(graph_diagnostics(dependencies, enabled, locations))
        diagnostics.extend(_container_diagnostics(spec, values))
        diagnostics.extend(_develop_diagnostics(spec, values))
        diagnostics.extend(settings_from_diagnostics(spec, values))
    else:
        # Validation failed elsewhere: still report unknown services and cycles now,
        # from the raw document, except where depends_on itself is malformed.
        dependencies, enabled = _raw_dependencies(merged)
        _drop_uninterpolated(dependencies, merged, bad_paths)
        broken = {d.path for d in diagnostics}
        diagnostics.extend(
            d for d in graph_diagnostics(dependencies, enabled, locations)
            if not any(b == d.path or b.startswith(d.path + ".") or b.startswith(d.path + "[") for b in broken)
        )
    if diagnostics:
        raise ConfigError(diagnostics)
    assert spec is not None  # for the type checker: no diagnostics means validation passed
    wanted = profiles_from_environ(environ) if profiles is None else list(profiles)
    activation = activate(spec, wanted, [*named, *split_list(environ.get(NAMED_VARIABLE))])
    spec = without_inactive(spec, activation)
    return LoadedConfig(
        root=root,
        file=file,
        files=tuple(s.file for s in sources),
        env=env,
        project=project,
        spec=spec,
        dotenv=dotenv,
        warnings=tuple(warnings),
        locations={**keys, **values},
        secrets=normalize_secrets(merged, secrets),
        activation=activation,
        compose=compose,
        notes=notes,
    )


def _drop_uninterpolated(
    dependencies: dict[str, dict[str, bool]], data: Any, bad_paths: set[PathKey]
) -> None:
    """Forget dependencies whose name could not be interpolated (that error is reported).

    ``depends_on: ["${DB:?set DB}"]`` without DB is one error, not a second "unknown
    service" for the text left as written.
    """
    for path in bad_paths:
        if len(path) in (3, 4) and path[0] == "services" and path[2] == "depends_on":
            text = value_at(data, path)
            if isinstance(text, str):
                dependencies.get(str(path[1]), {}).pop(text, None)


def _container_diagnostics(spec: models.StackFile, values: Mapping[PathKey, Location]) -> list[Diagnostic]:
    """``orchestrator.containers`` may only name services that have a docker: section."""
    out = []
    for i, name in enumerate(spec.orchestrator.containers or []):
        service = spec.services.get(name)
        if service is None:
            close = difflib.get_close_matches(name, list(spec.services), n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            message = f'unknown service "{name}"{hint}'
        elif service.docker is None:
            message = f'"{name}" has no docker: section to run as a container'
        else:
            continue
        out.append(Diagnostic(message, "orchestrator.containers", values.get(("orchestrator", "containers", i))))
    return out


def _develop_diagnostics(spec: models.StackFile, values: Mapping[PathKey, Location]) -> list[Diagnostic]:
    """``develop.watch`` checks that need the rest of the service (its docker: section)."""
    from .develop import rule_diagnostics

    out = []
    for name, service in spec.services.items():
        if service.develop is None:
            continue
        container = service.docker is not None and service.command is None
        has_build = service.docker is not None and service.docker.build is not None
        for problem in rule_diagnostics(name, service.develop, container=container, has_build=has_build):
            index = int(problem.path.split("[", 1)[1].split("]", 1)[0])
            field_name = problem.path.rsplit(".", 1)[1]
            where = values.get(("services", name, "develop", "watch", index, field_name))
            out.append(Diagnostic(problem.message, problem.path, where))
    return out


def _raw_dependencies(data: Any) -> tuple[dict[str, dict[str, bool]], dict[str, bool]]:
    """Dependencies and enabled flags read from an unvalidated document, where readable."""
    dependencies: dict[str, dict[str, bool]] = {}
    enabled: dict[str, bool] = {}
    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, dict):
        return dependencies, enabled
    for name, service in services.items():
        service = service if isinstance(service, dict) else {}
        enabled[str(name)] = service.get("enabled", True) is not False
        deps = service.get("depends_on", [])
        deps = [deps] if isinstance(deps, str) else deps
        needs: dict[str, bool] = {}
        if isinstance(deps, list):
            needs = {d: True for d in deps if isinstance(d, str)}
        elif isinstance(deps, dict):
            needs = {str(d): not (isinstance(r, dict) and r.get("required") is False) for d, r in deps.items()}
        dependencies[str(name)] = needs
    return dependencies, enabled


def _dependency_locations(
    data: Any, values: Mapping[PathKey, Location], keys: Mapping[PathKey, Location]
) -> dict[tuple[str, str], Location]:
    out: dict[tuple[str, str], Location] = {}
    services = data.get("services")
    if not isinstance(services, dict):
        return out
    for name, service in services.items():
        deps = service.get("depends_on") if isinstance(service, dict) else None
        base = ("services", name, "depends_on")
        items = [deps] if isinstance(deps, str) else deps
        if isinstance(items, list):
            for i, dep in enumerate(items):
                loc = values.get((*base, i)) or values.get(base)
                if isinstance(dep, str) and loc:
                    out[(name, dep)] = loc
        elif isinstance(items, dict):
            for dep in items:
                loc = keys.get((*base, dep))
                if loc:
                    out[(name, str(dep))] = loc
    return out


def _strict_flag(sources: list[Source], variables: Mapping[str, str]) -> bool:
    strict: Any = False
    for source in sources:
        orch = source.data.get("orchestrator")
        if isinstance(orch, dict) and "strict" in orch:
            strict = orch["strict"]
    if isinstance(strict, str):
        try:
            strict = Interpolator(variables, lambda name: "").expand(strict)
        except InterpolationError:
            return True
        return strict.strip().lower() in ("1", "true", "yes", "on")
    return bool(strict)


def _interpolate(
    source: Source,
    variables: Mapping[str, str],
    strict: bool,
    diagnostics: list[Diagnostic],
    warnings: list[str],
    bad_paths: set[PathKey],
    taint: tuple[frozenset[str], dict[PathKey, str]],
) -> Any:
    """``source`` with every string expanded; paths of values that read a secret go to taint[1]."""
    declared, secrets = taint
    current: list[PathKey] = [()]
    warned: set[str] = set()

    def missing(name: str) -> str:
        if strict:
            raise InterpolationError(
                f"variable {name} is not set (strict mode: set it in the environment or .env, "
                f"or give a default with ${{{name}:-default}})"
            )
        if name not in warned:
            warned.add(name)
            loc = source.values.get(current[0])
            where = f"{loc}: " if loc else f"{source.file}: "
            warnings.append(f"{where}variable {name} is not set; using an empty string")
        return ""

    interpolator = Interpolator(variables, missing)

    def expand(value: str, path: PathKey) -> str:
        if "$" not in value:
            return value
        current[0] = path
        try:
            expanded, read = interpolator.expand_tracked(value)
        except InterpolationError as exc:
            for message in exc.messages:
                diagnostics.append(Diagnostic(message, dotted(path), source.values.get(path)))
            bad_paths.add(path)
            return value
        if any(is_secret_variable(name, declared) for name in read):
            secrets[path] = value
        return expanded

    return walk_strings(source.data, expand)
