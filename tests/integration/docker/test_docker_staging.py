"""The repository's staging overlay: PostgreSQL and Redis as containers, data kept in volumes.

The images are built from Debian's packages (no registry here) and passed through the
overlay's image variables, as a user would pass another image.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

from zyron_copy import copy_config

from dev_orchestrator.backends.docker import cleanup_project, container_status
from dev_orchestrator.config.loader import load
from dev_orchestrator.config.resolve import resolve
from dev_orchestrator.runtime.engine import Engine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def psql(client: Any, container: str, sql: str) -> str:
    exec_id = client.api.exec_create(container, ["psql", "-U", "zyron", "-d", "zyron", "-tA", "-c", sql])["Id"]
    out = client.api.exec_start(exec_id).decode()
    assert client.api.exec_inspect(exec_id)["ExitCode"] == 0, out
    return str(out.strip())


def redis_cli(client: Any, container: str, *args: str) -> str:
    exec_id = client.api.exec_create(container, ["redis-cli", "-p", "6390", *args])["Id"]
    return str(client.api.exec_start(exec_id).decode().strip())


def test_staging_postgres_and_redis_keep_data_across_stop_start(
    tmp_path: Path, project: str, postgres_image: str, redis_image: str, docker_client: Any
) -> None:
    path = copy_config(tmp_path, project)
    environ = {
        "POSTGRES_IMAGE": postgres_image, "REDIS_IMAGE": redis_image,
        "POSTGRES_PORT": str(free_port()), "REDIS_PORT": str(free_port()), "PATH": "/usr/bin:/bin",
    }
    stack = resolve(load(path, "staging", cwd=tmp_path, environ=environ), docker=True, environ=environ)
    assert stack.services["postgres"].runtime == "docker" and stack.services["redis"].runtime == "docker"

    async def cycle(write: bool) -> tuple[str, str]:
        async with Engine(stack, logs_dir=tmp_path / "logs") as engine:
            report = await engine.start(["postgres", "redis"])
            assert report.ok, (report.reason, report.log_tail)
            pg = engine.status["postgres"].container
            rd = engine.status["redis"].container
            assert pg and rd
            if write:
                psql(docker_client, pg, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('survives')")
                assert redis_cli(docker_client, rd, "SET", "kept", "survives") == "OK"
            rows = psql(docker_client, pg, "SELECT v FROM kept")
            value = redis_cli(docker_client, rd, "GET", "kept")
            await engine.stop()
            assert container_status(project) == {}
            return rows, value

    assert asyncio.run(cycle(write=True)) == ("survives", "survives")
    assert asyncio.run(cycle(write=False)) == ("survives", "survives")  # volumes kept
    volumes = {v["Name"] for v in docker_client.api.volumes(filters={"label": [f"dev-orchestrator.project={project}"]})["Volumes"]}
    assert volumes == {f"{project}_zyron-postgres", f"{project}_zyron-redis"}
    done = cleanup_project(project, volumes=True)
    assert sorted(done.volumes) == sorted(volumes)
