"""`start --env staging --docker` on the repository's stack, through the real CLI and the
background supervisor: PostgreSQL and Redis in containers beside the Zyron services as
local processes; a job goes through the PostgreSQL-backed backend; `stop --volumes`
leaves no container, network or volume of the project."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from zyron_copy import copy_stack, free_ports, png


def leftovers(client: Any, project: str) -> dict[str, list[str]]:
    labels = {"label": [f"dev-orchestrator.project={project}"]}
    return {
        "containers": [c["Names"][0] for c in client.api.containers(all=True, filters=labels)],
        "networks": [n["Name"] for n in client.api.networks(filters=labels)],
        "volumes": [v["Name"] for v in client.api.volumes(filters=labels).get("Volumes") or []],
    }


def test_staging_with_docker_through_the_supervisor(
    tmp_path: Path, project: str, postgres_image: str, redis_image: str, docker_client: Any
) -> None:
    copy_stack(tmp_path, project)
    pg, rd, vb, be, fe = free_ports(5)
    env = {
        **os.environ, "NO_COLOR": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "POSTGRES_IMAGE": postgres_image, "REDIS_IMAGE": redis_image,
        "POSTGRES_PORT": str(pg), "REDIS_PORT": str(rd), "VISUAL_BRAIN_PORT": str(vb),
        "BACKEND_PORT": str(be), "FRONTEND_PORT": str(fe),
    }
    env.pop("ZYRON_ENV", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "dev_orchestrator.cli", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)

    try:
        started = cli("start", "--env", "staging", "--docker")
        assert started.returncode == 0, started.stderr
        status = json.loads(cli("status", "--json").stdout)
        runtimes = {n: (r["runtime"], r["state"]) for n, r in status["services"].items()}
        assert runtimes["postgres"] == ("docker", "running")
        assert runtimes["redis"] == ("docker", "running")
        for name in ("visual-brain", "backend", "frontend"):
            assert runtimes[name] == ("process", "running"), runtimes
        assert status["services"]["postgres"]["container"] and status["services"]["postgres"]["pid"] is None
        table = cli("status").stdout
        assert "docker" in table and status["services"]["redis"]["container"][:12] in table
        assert "IMAGE" in table and redis_image in table
        assert status["services"]["redis"]["image"] == redis_image
        # containers have CPU and memory too (Docker's stats), like processes
        again = json.loads(cli("status", "--json").stdout)["services"]["postgres"]
        assert isinstance(again["rss_bytes"], int) and again["rss_bytes"] > 1_000_000
        assert isinstance(again["cpu_percent"], float)

        with httpx.Client(timeout=15) as client:
            job = client.post(f"http://127.0.0.1:{be}/api/jobs", data={"kind": "thumbnail"},
                              files={"file": ("a.png", png(), "image/png")}).json()
            deadline = time.monotonic() + 30
            while job["status"] not in ("done", "failed") and time.monotonic() < deadline:
                time.sleep(0.1)
                job = client.get(f"http://127.0.0.1:{be}/api/jobs/{job['id']}").json()
            assert job["status"] == "done", job
            database = client.get(f"http://127.0.0.1:{be}/api/status").json()["services"]["database"]
            assert database["ok"] and "postgresql" in database["detail"].lower()

        stopped = cli("stop", "--volumes")
        assert stopped.returncode == 0, stopped.stderr
        assert leftovers(docker_client, project) == {"containers": [], "networks": [], "volumes": []}
    finally:
        with contextlib.suppress(Exception):
            cli("stop", "--volumes")
