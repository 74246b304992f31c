"""What the stack itself gives each service as environment: the environment's name and settings.

Settings follow the pydantic-settings convention: an application reads its own prefix
(``env_prefix="BACKEND_"``, ``env_nested_delimiter="__"``), so ``settings.backend`` goes
to the backend service alone, as ``BACKEND_PORT``, ``BACKEND_DATABASE__URL``, ... A
service receives its own section (the section named like the service; ``visual_brain``
and ``visual-brain`` are the same name once upper-cased) and the sections it lists in
``settings_from``; a section no service names or lists reaches nobody. The environment's
name goes to every service in the variable ``orchestrator.env_var``, when set.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import Diagnostic, Location
from .models import StackFile
from .source import PathKey

if TYPE_CHECKING:
    from .loader import LoadedConfig


def env_key(key: Any) -> str:
    return str(key).upper().replace("-", "_").replace(".", "_")


def env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def flatten_settings(settings: Mapping[str, Any]) -> dict[str, str]:
    """``{backend: {port: 1, db: {url: u}}}`` -> ``BACKEND_PORT=1``, ``BACKEND_DB__URL=u``.

    The first level names the section (joined with ``_``), deeper levels join with ``__``:
    the pydantic-settings convention (``env_prefix="BACKEND_"``, ``env_nested_delimiter="__"``).
    """
    out: dict[str, str] = {}
    for section, value in settings.items():
        prefix = env_key(section)
        if isinstance(value, Mapping):
            for key, sub in value.items():
                _flatten(f"{prefix}_{env_key(key)}", sub, out)
        else:
            out[prefix] = env_value(value)
    return out


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, Mapping):
        for key, sub in value.items():
            _flatten(f"{prefix}__{env_key(key)}", sub, out)
    else:
        out[prefix] = env_value(value)


def settings_name(path: PathKey) -> tuple[str, bool] | None:
    """The variable that carries the settings value at ``path``, and whether it is the whole value.

    ``("settings", "backend", "database", "url")`` -> ``("BACKEND_DATABASE__URL", True)``;
    an item of a list is part of the list's JSON: ``(..., "origins", 0)`` -> ``(BACKEND_ORIGINS, False)``.
    """
    if len(path) < 2 or path[0] != "settings" or isinstance(path[1], int):
        return None
    name = env_key(path[1])
    rest = path[2:]
    for i, part in enumerate(rest):
        if isinstance(part, int):
            return name, False
        name += ("_" if i == 0 else "__") + env_key(part)
    return name, True


def sections_of(spec: StackFile, service: str) -> list[str]:
    """The settings sections ``service`` receives, in the order of ``settings``."""
    wanted = {env_key(service), *(env_key(s) for s in spec.services[service].settings_from)}
    return [section for section in spec.settings if env_key(section) in wanted]


def env_name_entry(spec: StackFile, env: str) -> dict[str, str]:
    """``{orchestrator.env_var: env}``, or nothing when the stack names no variable."""
    name = spec.orchestrator.env_var
    return {name: env} if name else {}


def stack_env(config: LoadedConfig, service: str) -> dict[str, str]:
    """The environment's name and the service's settings, flattened."""
    spec = config.spec
    sections = {s: spec.settings[s] for s in sections_of(spec, service)}
    return {**env_name_entry(spec, config.env), **flatten_settings(sections)}


def secret_env(config: LoadedConfig, service: str, *, docker: bool) -> dict[str, str | None]:
    """Variables of ``service`` whose value interpolates a secret -> the value as written.

    Layers as the service sees them: settings, then ``environment``, then (``docker``)
    ``docker.environment``; a later layer that sets a variable to a plain value clears
    it. The text is ``None`` where the variable is built from several values (a list).
    """
    out: dict[str, str | None] = {}
    sections = set(sections_of(config.spec, service))
    for path, text in config.secrets.items():
        found = settings_name(path)
        if found is not None and path[1] in sections:
            name, whole = found
            out[name] = text if whole and name not in out else None
    layers: list[tuple[PathKey, Mapping[str, str | None]]] = [
        (("services", service, "environment"), config.spec.services[service].environment)
    ]
    docker_spec = config.spec.services[service].docker
    if docker and docker_spec is not None:
        layers.append((("services", service, "docker", "environment"), docker_spec.environment))
    for base, variables in layers:
        for key in variables:
            written = config.secrets.get((*base, key))
            if written is not None:
                out[key] = written
            else:
                out.pop(key, None)
    return out


def unreached_sections(spec: StackFile) -> list[str]:
    """Settings sections that no service is named after or lists in ``settings_from``."""
    reached = {env_key(s) for name in spec.services for s in (name, *spec.services[name].settings_from)}
    return [str(section) for section in spec.settings if env_key(section) not in reached]


def settings_from_diagnostics(spec: StackFile, values: Mapping[PathKey, Location]) -> list[Diagnostic]:
    """Every ``settings_from`` entry must name a settings section or a service."""
    known = {env_key(s): str(s) for s in spec.settings} | {env_key(n): n for n in spec.services}
    out = []
    for name, service in spec.services.items():
        for i, entry in enumerate(service.settings_from):
            if env_key(entry) in known:
                continue
            close = difflib.get_close_matches(entry, sorted(known.values()), n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else f" (sections: {', '.join(map(str, spec.settings)) or 'none'})"
            base = ("services", name, "settings_from")
            out.append(
                Diagnostic(f'unknown settings section "{entry}"{hint}', ".".join(map(str, base)),
                           values.get((*base, i)) or values.get(base))
            )
    return out
