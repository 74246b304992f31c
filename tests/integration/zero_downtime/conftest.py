"""Fixtures for the zero-downtime tests: a temp project with the test service, its ports, cleanup."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from supervisor_cli.conftest import Project, processes_in

APP = Path(__file__).with_name("app.py")


class ZeroDowntimeProject(Project):
    """A project whose services run app.py (copied in, so processes_in finds them)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        (root / "app.py").write_text(APP.read_text())

    def app(self) -> str:
        return json.dumps([sys.executable, str(self.root / "app.py")])

    def service(self, port: int, *, mode: str = "proxy", version: str = "1", fail: str = "",
                probe: str = "http", order: str | None = None, monitor: str = "300ms",
                replicas: int = 1, extra: str = "") -> None:
        """services.yaml with one service `web` listening on ``port``."""
        if probe == "http":
            check = f"http: {{url: 'http://127.0.0.1:{port}/health'}}"
        elif probe == "notify":
            check = "notify: true"
        else:
            check = probe
        update = f"order: {order}, " if order else ""
        self.write(
            f"""
            name: zd
            services:
              web:
                command: {self.app()}
                environment: {{APP_VERSION: "{version}", APP_FAIL: "{fail}"}}
                listen: [{{port: {port}, mode: {mode}}}]
                deploy: {{replicas: {replicas}, update_config: {{{update}monitor: {monitor}}}}}
                healthcheck: {{{check}, interval: 200ms, retries: 3, start_period: 5s}}
                stop_grace_period: 5s
""" + textwrap.indent(textwrap.dedent(extra), " " * 16)
        )


def port_is_free(port: int) -> bool:
    """Nobody listens on ``port`` (TIME_WAIT of closed connections does not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.fixture
def project(tmp_path: Path) -> Iterator[ZeroDowntimeProject]:
    root = tmp_path / "proj"
    root.mkdir()
    proj = ZeroDowntimeProject(root)
    yield proj
    with contextlib.suppress(Exception):
        proj.run("stop", "--grace", "1s", timeout=60)
    leftovers = processes_in(root)
    for proc in leftovers:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGKILL)
    assert not leftovers, f"processes left behind: {[p.info['cmdline'] for p in leftovers]}"


@pytest.fixture
def port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
