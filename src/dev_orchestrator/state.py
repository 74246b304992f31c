"""The project's runtime folder: state file (atomic JSON), locks, and process identity.

``.orchestrator/`` (mode 0700) next to services.yaml holds ``state.json``,
``supervisor.sock`` (mode 0600), ``supervisor.lock`` (held by the running supervisor),
``spawn.lock`` (serialises starting one) and ``supervisor.log``. A process is "ours" only
when both its pid and its create time match what we recorded, so a recycled pid is
never mistaken for a service.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

STATE_VERSION = 1
RUNTIME_DIR = ".orchestrator"


@dataclass(frozen=True)
class Paths:
    """Where a project's runtime files live."""

    root: Path

    @property
    def dir(self) -> Path:
        return self.root / RUNTIME_DIR

    @property
    def state(self) -> Path:
        return self.dir / "state.json"

    @property
    def socket(self) -> Path:
        return self.dir / "supervisor.sock"

    @property
    def lock(self) -> Path:
        return self.dir / "supervisor.lock"

    @property
    def spawn_lock(self) -> Path:
        return self.dir / "spawn.lock"

    @property
    def log(self) -> Path:
        return self.dir / "supervisor.log"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def ensure(self) -> None:
        self.dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.dir, 0o700)


def write_state(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically: temp file in the same folder, fsync, rename."""
    fd, tmp = tempfile.mkstemp(prefix=".state-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"version": STATE_VERSION, **data}, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_state(path: Path) -> dict[str, Any] | None:
    """The last state written, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        return None
    return data


def process_matches(pid: int | None, create_time: float | None) -> bool:
    """True when ``pid`` runs and is the very process we started (create time matches)."""
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return create_time is None or abs(proc.create_time() - create_time) < 0.05
    except psutil.Error:
        return False


class Lock:
    """An advisory ``flock`` on a file; released when the holder exits, even by kill -9."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def acquire(self, *, blocking: bool = True, timeout: float = 30.0) -> bool:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if not blocking or time.monotonic() >= deadline:
                    os.close(self.fd)
                    self.fd = None
                    return False
                time.sleep(0.02)

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def is_held_elsewhere(self) -> bool:
        """True when another process holds the lock right now."""
        try:
            fd = os.open(self.path, os.O_RDWR)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def held(self, timeout: float = 30.0) -> Iterator[bool]:
        got = self.acquire(timeout=timeout)
        try:
            yield got
        finally:
            if got:
                self.release()
