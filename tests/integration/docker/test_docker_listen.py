"""Containers behind `listen`: start-first restarts under load, replicas, no container left.

The supervisor binds the stable port; each container publishes its own port on a
private loopback port, and the proxy sends new connections to the healthy instance.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dev_orchestrator.backends.docker import cleanup_project


def _load(name: str) -> Any:
    # the zero-downtime load generator, by path (this folder is not a package)
    path = Path(__file__).parents[1] / "zero_downtime" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"dev_orchestrator_test_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


load = _load("load")
CLI = [sys.executable, "-m", "dev_orchestrator.cli"]
# index.html says which replica and which container answered ($$: not interpolated by the loader)
SERVE = ("mkdir -p /www && echo \"$$DEV_ORCHESTRATOR_REPLICA $$HOSTNAME\" > /www/index.html; "
         "trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Listening:
    def __init__(self, stack: Any, image: str) -> None:
        self.stack = stack
        self.port = free_port()
        self.image = image

    def write(self, replicas: int = 1, command: str = SERVE) -> None:
        self.stack.write({
            "web": {
                "listen": [{"port": self.port}],
                "deploy": {"replicas": replicas, "update_config": {"monitor": "300ms"}},
                "docker": {"image": self.image, "ports": [f"127.0.0.1:{self.port}:8080"],
                           "command": ["sh", "-c", command]},
                "healthcheck": {"http": {"url": f"http://127.0.0.1:{self.port}/"}, "interval": "0.2s"},
                "stop_grace_period": "5s",
            },
        })

    def cli(self, *args: str, timeout: float = 120, code: int = 0) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([*CLI, *args, "-f", str(self.stack.root / "services.yaml")], cwd=self.stack.root,
                              env={**os.environ, "NO_COLOR": "1"}, capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == code, proc.stdout + proc.stderr
        return proc

    def status(self) -> dict[str, Any]:
        return dict(json.loads(self.cli("status", "--json").stdout)["services"]["web"])

    def containers(self, client: Any) -> list[str]:
        flt = {"label": [f"dev-orchestrator.project={self.stack.project}"]}
        return sorted(c["Names"][0].lstrip("/") for c in client.api.containers(all=True, filters=flt))


@pytest.fixture
def listening(stack: Any, busybox_image: str) -> Iterator[Listening]:
    web = Listening(stack, busybox_image)
    yield web
    subprocess.run([*CLI, "stop", "--grace", "2s", "-f", str(stack.root / "services.yaml")], cwd=stack.root,
                   capture_output=True, timeout=120)
    cleanup_project(stack.project)


def test_a_container_restarts_start_first_under_load_and_loses_no_request(
    listening: Listening, docker_client: Any
) -> None:
    listening.write()
    listening.cli("start", "--docker")
    first = listening.status()["container"]
    assert first
    containers = {first}
    with load.Background(listening.port, rate=100, duration=12.0) as background:
        load.wait_time(0.5)
        for _ in range(3):
            listening.cli("restart", "web")
            containers.add(listening.status()["container"])
            load.wait_time(0.3)
        result = background.finish()
    assert len(containers) == 4
    assert result.failed == 0, (result.outcomes, result.errors)
    assert result.ok > 300
    assert len({body.split()[-1] for body in result.bodies}) >= 3, result.bodies  # successive containers answered
    # the old containers are gone; only the serving one is left, under a name of its own
    (name,) = listening.containers(docker_client)
    assert name.startswith(f"{listening.stack.project}-web-1-")
    listening.cli("stop")
    assert listening.containers(docker_client) == []
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", listening.port))  # the stable port is released


def test_replicas_of_a_container_share_the_port_round_robin(listening: Listening, docker_client: Any) -> None:
    listening.write(replicas=2)
    listening.cli("start", "--docker")
    replicas = listening.status()["replicas"]
    assert [r["replica"] for r in replicas] == [1, 2]
    assert all(r["state"] == "running" and r["container"] for r in replicas)
    assert len(listening.containers(docker_client)) == 2
    answered = set()
    deadline = time.monotonic() + 10
    while len(answered) < 2 and time.monotonic() < deadline:
        outcome, body = asyncio.run(load.request(listening.port))
        assert outcome == "ok", body
        answered.add(body.split()[0])
    assert answered == {"1", "2"}
    text = listening.cli("status").stdout
    assert "web#2" in text
    listening.cli("stop")
    assert listening.containers(docker_client) == []


def test_a_new_container_that_exits_at_start_leaves_the_old_one_serving(
    listening: Listening, docker_client: Any
) -> None:
    listening.write()
    listening.cli("start", "--docker")
    old = listening.status()["container"]
    listening.write(command="echo 'cannot start: configuration error'; exit 3")
    with load.Background(listening.port, rate=50, duration=6.0) as background:
        load.wait_time(0.3)
        proc = listening.cli("restart", "web", code=1)
        result = background.finish()
    assert "cannot start: configuration error" in proc.stdout + proc.stderr
    assert result.failed == 0 and result.ok > 100, (result.outcomes, result.errors)
    assert listening.status()["container"] == old
    assert len(listening.containers(docker_client)) == 1  # the failed one is gone
