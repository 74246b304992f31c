"""Compose's ``secrets:``: files (or variables) a service reads a secret from, never its value inline.

Why files: a value in the environment shows up in ``ps e``, crash dumps and every child;
a file readable by the service alone does not, and images already read ``*_FILE``
variables (``POSTGRES_PASSWORD_FILE``). A container gets the secret mounted read-only
at ``/run/secrets/<name>`` (or its ``target``), as compose does; a local process gets a
copy private to it (0600, in a 0700 folder outside the project) and that file's path in
``<NAME>_FILE``. An ``environment:`` source is the value of a variable (the shell's or
``.env``), written to such a private file for both.

The resolved secrets carry values only for ``environment:`` sources, and only to be
written to the private file (``repr=False``, by runtime/secret_files.py when the service
starts); the definition compared by plans holds paths, never values.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..errors import Diagnostic

if TYPE_CHECKING:
    from .loader import LoadedConfig

SECRET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MOUNT_FOLDER = "/run/secrets"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class SecretSource(_Model):
    """A top-level secret: one of ``file`` or ``environment``."""

    file: str | None = Field(None, description="a file holding the value (relative to services.yaml)")
    environment: str | None = Field(None, description="a variable holding the value (the shell's, or .env)")

    @model_validator(mode="after")
    def _one(self) -> SecretSource:
        if (self.file is None) == (self.environment is None):
            raise ValueError("a secret needs one of file or environment")
        return self


class SecretUse(_Model):
    """A service's use of a secret: its name, and where it appears (compose's long syntax)."""

    source: str
    target: str | None = Field(None, description="file name (or absolute path in a container)")

    @field_validator("source")
    @classmethod
    def _name(cls, value: str) -> str:
        if not SECRET_NAME.match(value):
            raise ValueError(f'invalid secret name "{value}"')
        return value


def secret_uses(value: Any) -> Any:
    """``[name, {source, target}]``: the short form is the name alone."""
    if isinstance(value, list):
        return [{"source": v} if isinstance(v, str) else v for v in value]
    return value


@dataclass(frozen=True)
class SecretFile:
    """One secret of one service, resolved: where it is read from, where the service finds it."""

    name: str
    path: Path  # the file the service reads (the user's file in a container; a private copy for a process)
    target: str  # the container path, or the private file's name for a process
    variable: str  # <NAME>_FILE, for a process
    source: Path | None = None  # the user's file (copied to ``path`` for a process)
    value: str | None = field(default=None, repr=False)  # an environment: source's value, to write


def private_dir(root: Path, service: str) -> Path:
    """The 0700 folder of a service's private secret files: outside the project, per user."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    project = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    return Path(base) / f"dev-orchestrator-{os.getuid()}" / project / service


def resolve_secrets(
    config: LoadedConfig, name: str, uses: list[SecretUse], shared: Mapping[str, str], *, container: bool
) -> tuple[list[SecretFile], list[Diagnostic]]:
    """The secrets of service ``name``, each checked at its place (unknown, missing file or variable)."""
    sources: Mapping[str, SecretSource] = config.spec.secrets
    files: list[SecretFile] = []
    problems: list[Diagnostic] = []
    for index, use in enumerate(uses):
        place = ("services", name, "secrets", index)
        source = sources.get(use.source)
        if source is None:
            known = ", ".join(sorted(sources)) or "none"
            problems.append(Diagnostic(f'unknown secret "{use.source}" (declare it under the top-level secrets:; '
                                       f"declared: {known})", ".".join(map(str, place)), config.location(*place)))
            continue
        where = ("secrets", use.source)
        target = use.target or use.source
        variable = re.sub(r"[^A-Za-z0-9]", "_", Path(target).name).upper() + "_FILE"
        private = private_dir(config.root, name) / Path(target).name
        if source.file is not None:
            path = (config.root / source.file).resolve()
            if not path.is_file():
                problems.append(Diagnostic(f"{source.file} does not exist (the file of secret {use.source})",
                                           ".".join((*where, "file")), config.location(*where, "file")))
                continue
            files.append(SecretFile(use.source, path if container else private, target, variable, source=path))
        else:
            assert source.environment is not None
            value = shared.get(source.environment)
            if value is None:
                problems.append(Diagnostic(
                    f"{source.environment} is not set (the variable of secret {use.source}): set it in the "
                    "shell or in .env", ".".join((*where, "environment")), config.location(*where, "environment")))
                continue
            files.append(SecretFile(use.source, private, target, variable, value=value))
    return files, problems


def container_mount(secret: SecretFile) -> str:
    """The read-only bind mount of a secret in a container (``/run/secrets/<target>``)."""
    target = secret.target if secret.target.startswith("/") else f"{MOUNT_FOLDER}/{secret.target}"
    return f"{secret.path}:{target}:ro"
