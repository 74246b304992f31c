"""Finding services.yaml without loading anything heavy (quick commands use this)."""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError

SERVICES_FILE = "services.yaml"


def find_services_file(start: Path) -> Path:
    """Walk up from ``start`` to the first folder holding services.yaml (as git and compose do)."""
    here = start.resolve()
    for folder in (here, *here.parents):
        candidate = folder / SERVICES_FILE
        if candidate.is_file():
            return candidate
    raise UsageError(
        f"no {SERVICES_FILE} found in {start} or any folder above it",
        hint="run the command inside a project, or pass -f path/to/services.yaml",
    )


def services_file(file: Path | None, cwd: Path | None = None) -> Path:
    """The services.yaml a command means: ``-f`` (a file or its folder), else found by walking up."""
    if file is None:
        return find_services_file(cwd or Path.cwd())
    if file.is_dir():
        file = file / SERVICES_FILE
    if not file.is_file():
        raise UsageError(f"{file}: no such file", hint="pass -f path/to/services.yaml")
    return file.resolve()
