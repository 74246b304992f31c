"""Fixtures for the web dashboard tests: a real supervisor with real processes in a temp
project (stopped in teardown by supervisor_cli's `project` fixture, which also checks that
nothing is left), and the dashboard it serves."""

from __future__ import annotations

import http.client
import json
import re
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from supervisor_cli.conftest import Project, ports, processes_in, project  # noqa: F401 - fixtures

CHATTY = textwrap.dedent(
    """
    import json, sys, time
    print("worker ready", flush=True)
    for n in range(5):
        print(f"job {n} done", flush=True)
    print("ERROR job 5 failed: upstream timeout", flush=True)
    print(json.dumps({"level": "info", "msg": "summary", "jobs": 6}), flush=True)
    time.sleep(600)
    """
)


@dataclass
class Dashboard:
    """The dashboard of a running stack: its URL, port and token, and a plain HTTP client."""

    url: str
    port: int
    token: str
    output: str

    def request(self, method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None,
                host: str | None = None, cookie: bool = True, raw: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            sent = {"Host": host or f"127.0.0.1:{self.port}"}
            if cookie:
                sent["Cookie"] = f"dev_orchestrator_{self.port}={self.token}"
            data = raw
            if body is not None:
                data = json.dumps(body).encode()
                sent["Content-Type"] = "application/json"
            sent.update(headers or {})
            conn.putrequest(method, path, skip_host=True)
            for key, value in sent.items():
                conn.putheader(key, value)
            if data is not None:
                conn.putheader("Content-Length", str(len(data)))
            conn.endheaders(data)
            reply = conn.getresponse()
            return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read()
        finally:
            conn.close()

    def same_origin(self) -> dict[str, str]:
        return {"Origin": f"http://127.0.0.1:{self.port}", "Sec-Fetch-Site": "same-origin"}


def write_stack(proj: Project, web_port: int, db_port: int, *, web_delay: float = 0.0, workers: int = 1) -> None:
    (proj.root / "chatty.py").write_text(CHATTY)
    worker = json.dumps([sys.executable, str(proj.root / "chatty.py")])
    proj.write(
        f"""
        name: demo
        services:
          db:
            command: {proj.server(db_port)}
            ports: [{db_port}]
            healthcheck: {{tcp: {{port: {db_port}}}, interval: 1s}}
          web:
            command: {proj.server(web_port, web_delay)}
            ports: [{web_port}]
            depends_on: [db]
            healthcheck: {{http: {{url: "http://127.0.0.1:{web_port}/"}}, interval: 1s}}
          worker:
            command: {worker}
            depends_on: [db]
            deploy: {{replicas: {workers}}}
        """
    )


URL = re.compile(r"http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]+)")


def open_dashboard(proj: Project, *args: str) -> Dashboard:
    proc = proj.run("dashboard", *args, check=True, timeout=90)
    found = URL.search(proc.stdout)
    assert found, proc.stdout
    return Dashboard(found.group(0), int(found.group(1)), found.group(2), proc.stdout)


@pytest.fixture
def dashboard(project: Project, ports: list[int]) -> Iterator[Dashboard]:  # noqa: F811 - the fixtures above
    """A three-service stack (db, web -> db, worker -> db), started by `dashboard` itself."""
    write_stack(project, ports[0], ports[1])
    yield open_dashboard(project)
    project.run("stop", "--grace", "1s", timeout=60)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, Dashboard]]:
    """One stack for a module's read-mostly checks (each test leaves it as it found it)."""
    import contextlib
    import signal
    import socket

    import psutil

    root = tmp_path_factory.mktemp("web") / "proj"
    root.mkdir()
    proj = Project(root)
    socks = [socket.socket() for _ in range(2)]
    for sock in socks:
        sock.bind(("127.0.0.1", 0))
    web_port, db_port = (s.getsockname()[1] for s in socks)
    for sock in socks:
        sock.close()
    write_stack(proj, web_port, db_port)
    try:
        yield proj, open_dashboard(proj)
    finally:
        with contextlib.suppress(Exception):
            proj.run("stop", "--grace", "1s", timeout=60)
        leftovers = processes_in(root)
        for proc in leftovers:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGKILL)
        assert not leftovers, f"processes left behind: {[p.info['cmdline'] for p in leftovers]}"
