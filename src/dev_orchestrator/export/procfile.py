"""A services.yaml from a Procfile (foreman / honcho / Heroku format).

Each ``name: command`` line becomes a service whose command runs through a shell, as
foreman and honcho run it; ``$`` is escaped so that the shell, not the loader, expands
``$PORT``. With ``ports``, each process gets ``PORT`` as honcho assigns it: base 5000,
then 100 more per process in file order. A ``release`` process runs first, as on Heroku.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..config.models import SERVICE_NAME, Condition
from ..errors import ConfigError, Diagnostic, Location, UsageError
from .imported import Imported
from .view import relative_path

_LINE = re.compile(r"^([A-Za-z0-9_-]+)\s*:\s*(.*)$")
BASE_PORT = 5000
PORT_STEP = 100


def parse_procfile(text: str, file: str) -> dict[str, str]:
    """``name -> command`` in file order; ConfigError names every bad line."""
    out: dict[str, str] = {}
    lines: dict[str, int] = {}
    errors: list[Diagnostic] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        where = Location(file, number, 1)
        if not match:
            errors.append(Diagnostic('expected "name: command"', "", where))
            continue
        name, command = match.group(1), match.group(2).strip()
        if not command:
            errors.append(Diagnostic(f'process "{name}" has no command', name, where))
        elif name in out:
            errors.append(Diagnostic(f'process "{name}" is defined twice (first on line {lines[name]})', name, where))
        else:
            out[name] = command
            lines[name] = number
    if errors:
        raise ConfigError(errors)
    if not out:
        raise ConfigError(Diagnostic("the Procfile defines no processes", "", Location(file, 1, 1)))
    return out


def import_procfile(
    path: Path,
    *,
    env_file: Path | None = None,
    ports: bool = False,
    base_port: int = BASE_PORT,
    out_dir: Path | None = None,
) -> Imported:
    """Build a services.yaml document from a Procfile; paths relative to ``out_dir``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    processes = parse_procfile(text, str(path))
    out_dir = out_dir or Path.cwd()
    result = Imported({}, path.name)
    env_ref: str | None = None
    if env_file is not None:
        if not env_file.is_file():
            raise UsageError(f"{env_file}: no such file", hint="pass --env-file path/to/.env")
        env_ref = relative_path(str(env_file.resolve()), out_dir, out_dir)
    services: dict[str, Any] = {}
    for index, (raw, command) in enumerate(processes.items()):
        name = raw.lower().replace("_", "-") if not SERVICE_NAME.match(raw) else raw
        if name != raw:
            result.notes.add(f'{raw}: renamed to "{name}" (service names are lowercase)')
        service: dict[str, Any] = {"command": command.replace("$", "$$"), "shell": True}
        if env_ref:
            service["env_file"] = [env_ref]
        if ports and raw != "release":  # a one-shot serves nothing
            port = base_port + index * PORT_STEP
            service["environment"] = {"PORT": str(port)}
            service["ports"] = [port]
        services[name] = service
    if "release" in services and len(services) > 1:
        for name, service in services.items():
            if name != "release":
                service["depends_on"] = {"release": {"condition": Condition.COMPLETED.value}}
        result.notes.add("release: runs once before the other processes start (as Heroku's release phase)")
    result.document = {"services": services}
    return result
