"""`listen` at start: a busy port is refused before anything starts; `env:` names the private port's variable."""

from __future__ import annotations

import asyncio
import socket

from .conftest import ZeroDowntimeProject, port_is_free
from .load import request


def test_a_busy_listen_port_fails_before_anything_starts(project: ZeroDowntimeProject, port: int) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        project.service(port)
        proc = project.run("start", check=False)
    assert proc.returncode == 1
    assert f"port {port} is needed by web" in proc.stderr, proc.stderr
    assert "Nothing was started" in proc.stderr


def test_listen_env_gives_the_private_port_in_the_services_own_variable(project: ZeroDowntimeProject,
                                                                       port: int) -> None:
    # The app reads PORT; `env: PORT` is the explicit form of the default, and the stable
    # port stays visible to the service in STABLE (interpolated from the files, unchanged).
    project.service(port, extra="")
    text = (project.root / "services.yaml").read_text()
    text = text.replace(f"listen: [{{port: {port}, mode: proxy}}]",
                        f"listen: [{{port: {port}, mode: proxy, env: PORT}}]\n    ports: [{port}]")
    (project.root / "services.yaml").write_text(text)
    project.run("start", check=True)
    outcome, body = asyncio.run(request(port))
    assert outcome == "ok"
    status = project.status()["services"]["web"]
    assert status["ports"] == [port] and body.startswith(str(status["pid"]))
    project.run("stop", check=True)
    assert port_is_free(port)
