"""The Zyron images, built here, and the whole staging stack in containers.

The base image is Debian's Python 3.11 with the requirements installed from wheels
downloaded on the host (images.zyron_base); the stack's own ``build:`` sections build
zyron/backend, zyron/visual-brain and zyron/frontend from docker/Dockerfile on it, with
no network. Then ``start --env staging --docker`` runs every service in a container
(staging's ``orchestrator.containers`` limits that to the databases; the copy drops it),
a thumbnail job goes backend -> Visual Brain -> Redis and back, and ``stop --volumes``
leaves nothing of the project.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_docker_zyron_staging_cli import leftovers
from zyron_copy import copy_with_build_context, free_ports, image_tag, thumbnail_job

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_staging_with_every_zyron_service_in_a_container(
    tmp_path: Path, project: str, postgres_image: str, redis_image: str, zyron_base_image: str,
    docker_client: Any
) -> None:
    copy_with_build_context(tmp_path, project)
    pg, rd, vb, be, fe = free_ports(5)
    tag = image_tag(zyron_base_image)  # the images stay: an unchanged tree reuses them
    env = {
        **os.environ, "NO_COLOR": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "POSTGRES_IMAGE": postgres_image, "REDIS_IMAGE": redis_image,
        "ZYRON_BASE_IMAGE": zyron_base_image, "ZYRON_IMAGE_TAG": tag,
        "POSTGRES_PORT": str(pg), "REDIS_PORT": str(rd), "VISUAL_BRAIN_PORT": str(vb),
        "BACKEND_PORT": str(be), "FRONTEND_PORT": str(fe),
    }
    env.pop("ZYRON_ENV", None)

    def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "dev_orchestrator.cli", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=timeout)

    try:
        started = cli("start", "--env", "staging", "--docker")
        assert started.returncode == 0, started.stdout + started.stderr
        status = json.loads(cli("status", "--json").stdout)
        runtimes = {n: (r["runtime"], r["state"]) for n, r in status["services"].items()}
        assert runtimes == {
            "postgres": ("docker", "running"), "redis": ("docker", "running"), "migrate": ("docker", "exited"),
            "visual-brain": ("docker", "running"), "backend": ("docker", "running"),
            "frontend": ("docker", "running"),
        }
        assert status["services"]["migrate"]["exit_code"] == 0
        for name in ("backend", "visual-brain", "frontend"):
            assert status["services"][name]["health"] == "healthy", status["services"][name]
            image = f"zyron/{name}:{tag}"
            assert status["services"][name]["image"] == image
            built = docker_client.images.get(image)
            assert built.attrs["Config"]["User"] == "zyron"  # docker/Dockerfile's app stage
        job = thumbnail_job(f"http://127.0.0.1:{be}")
        assert job["status"] == "done" and job["result_png"], job
        with httpx.Client(timeout=15) as client:
            overview = client.get(f"http://127.0.0.1:{be}/api/status").json()
            assert overview["healthy"] is True, overview
            assert "postgresql" in overview["services"]["database"]["detail"].lower()
            page = client.get(f"http://127.0.0.1:{fe}/")
            assert page.status_code == 200 and "<html" in page.text.lower()
        stopped = cli("stop", "--volumes")
        assert stopped.returncode == 0, stopped.stderr
        assert leftovers(docker_client, project) == {"containers": [], "networks": [], "volumes": []}
    finally:
        with contextlib.suppress(Exception):
            cli("stop", "--volumes", timeout=120)
