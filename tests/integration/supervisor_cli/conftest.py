"""Fixtures for driving the real CLI against a background supervisor in a temp project."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

CLI = [sys.executable, "-m", "dev_orchestrator.cli"]

SERVER = textwrap.dedent(
    """
    import http.server, os, signal, sys, time
    port = int(sys.argv[1]); delay = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    if os.environ.get("IGNORE_TERM"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(delay)
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"ok"
            self.send_response(200); self.send_header("content-length", "2"); self.end_headers()
            self.wfile.write(body)
        def log_message(self, *a):
            sys.stdout.write("request %s\\n" % self.path); sys.stdout.flush()
    print("listening on", port, flush=True)
    http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
    """
)


class Project:
    """A temp project with services.yaml; runs the CLI in it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "server.py").write_text(SERVER)

    def write(self, text: str) -> None:
        (self.root / "services.yaml").write_text(textwrap.dedent(text))

    def server(self, port: int, delay: float = 0.0) -> str:
        return json.dumps([sys.executable, str(self.root / "server.py"), str(port), str(delay)])

    def run(self, *args: str, timeout: float = 60, check: bool | None = None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
        proc = subprocess.run([*CLI, *args], cwd=self.root, capture_output=True, text=True, timeout=timeout, env=env)
        if check is not None:
            assert (proc.returncode == 0) == check, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc

    def status(self) -> dict[str, Any]:
        proc = self.run("status", "--json", check=True)
        return dict(json.loads(proc.stdout))

    def state(self) -> dict[str, Any]:
        return dict(json.loads((self.root / ".orchestrator" / "state.json").read_text()))

    def supervisor_pid(self) -> int | None:
        try:
            return int(self.state()["supervisor"]["pid"])
        except (OSError, KeyError, ValueError, TypeError):
            return None


def processes_in(root: Path) -> list[psutil.Process]:
    """Every live process whose command line mentions the project folder."""
    found = []
    me = os.getpid()
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        with contextlib.suppress(psutil.Error):
            if proc.pid == me or proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if any(str(root) in part for part in proc.info["cmdline"] or []):
                found.append(proc)
    return found


def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    root = tmp_path / "proj"
    root.mkdir()
    proj = Project(root)
    yield proj
    with contextlib.suppress(Exception):
        proj.run("stop", "--grace", "1s", timeout=60)
    leftovers = processes_in(root)
    for proc in leftovers:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGKILL)
    assert not leftovers, f"processes left behind: {[p.info['cmdline'] for p in leftovers]}"


@pytest.fixture
def ports() -> list[int]:
    """Four distinct free ports (held open together while they are picked)."""
    import socket

    socks = []
    for _ in range(4):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        socks.append(sock)
    picked = [s.getsockname()[1] for s in socks]
    for sock in socks:
        sock.close()
    return picked
