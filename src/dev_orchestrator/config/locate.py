"""Finding the stack's file without loading anything heavy (quick commands use this).

A stack is a services.yaml, or a compose file that stands in for one: a folder without
services.yaml but with compose.yaml (or docker-compose.yml, ...) runs that file as it is.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import UsageError

SERVICES_FILE = "services.yaml"
COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")


def is_compose_path(path: Path) -> bool:
    """A compose file by its name: compose.yaml, docker-compose.yml, or any ``*compose*.y(a)ml``."""
    return path.name in COMPOSE_FILES or re.fullmatch(r".*compose.*\.ya?ml", path.name) is not None


def stack_file_in(folder: Path) -> Path:
    """The stack file of ``folder``: services.yaml, else its compose file (services.yaml if neither)."""
    candidate = folder / SERVICES_FILE
    if candidate.is_file():
        return candidate
    for name in COMPOSE_FILES:
        if (folder / name).is_file():
            return folder / name
    return candidate


def find_services_file(start: Path) -> Path:
    """Walk up from ``start`` to the first folder holding services.yaml or a compose file (as git and compose do)."""
    here = start.resolve()
    for folder in (here, *here.parents):
        candidate = stack_file_in(folder)
        if candidate.is_file():
            return candidate
    raise UsageError(
        f"no {SERVICES_FILE} found in {start} or any folder above it",
        hint="run the command inside a project, or pass -f path/to/services.yaml",
    )


def services_file(file: Path | None, cwd: Path | None = None) -> Path:
    """The stack file a command means: ``-f`` (a file or its folder), else found by walking up."""
    if file is None:
        return find_services_file(cwd or Path.cwd())
    if file.is_dir():
        file = stack_file_in(file)
    if not file.is_file():
        raise UsageError(f"{file}: no such file", hint="pass -f path/to/services.yaml (or a compose file)")
    return file.resolve()
