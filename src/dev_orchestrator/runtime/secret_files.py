"""The private files of secrets (config/stack_secrets.py), written when a service starts.

Each is 0600 in a 0700 folder of the user's (``$XDG_RUNTIME_DIR`` or the temp folder,
``dev-orchestrator-<uid>/<project>/<service>``), written atomically; a folder on that
path that is not the user's own (a link, another owner) is refused rather than used.
The project's folder goes when the stack stops.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ..config.stack_secrets import SecretFile
from ..errors import BackendError


def write_private(secrets: Iterable[SecretFile]) -> None:
    """Write the private file of each secret that has one (a value, or a copy for a process)."""
    try:
        for secret in secrets:
            _write(secret)
    except OSError as exc:
        raise BackendError(f"cannot write the private file of a secret: {exc.strerror or exc}") from exc


def _write(secret: SecretFile) -> None:
    if secret.value is not None:
        data = secret.value.encode()
    elif secret.source is not None and secret.source != secret.path:
        data = secret.source.read_bytes()
    else:
        return  # a container reads the user's file itself
    folder = secret.path.parent
    _own_folder(folder.parent.parent)  # dev-orchestrator-<uid>
    _own_folder(folder.parent)  # the project
    _own_folder(folder)  # the service
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".secret-")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, secret.path)


def remove_private(secrets: Iterable[SecretFile]) -> None:
    """Remove the project folders of these secrets' private files (the stack stopped)."""
    for project in {s.path.parent.parent for s in secrets if s.value is not None or s.source != s.path}:
        with contextlib.suppress(OSError):
            shutil.rmtree(project)


def _own_folder(path: Path) -> None:
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise BackendError(f"{path} is not a folder of this user's: secrets are not written there",
                           hint="remove it, or set XDG_RUNTIME_DIR to a folder of your own")
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(path, 0o700)
