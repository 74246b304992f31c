"""The real CLI and the real docker-compose, run in a test's folder with a bounded time."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "dev_orchestrator.cli"]


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("ZYRON_ENV", "COMPOSE_PROFILES")}
    environ.update({"NO_COLOR": "1", **(env or {})})
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, env=environ, timeout=timeout)


def compose(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    command = ["docker-compose"] if shutil.which("docker-compose") else ["docker", "compose"]
    return subprocess.run([*command, *args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=120)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
