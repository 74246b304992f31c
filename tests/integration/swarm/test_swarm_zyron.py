"""`deploy swarm --env staging` of the repository's Zyron stack on a real one-node swarm:
PostgreSQL, Redis, the migrate job and the three Zyron services in their images built
here (the same content-hashed images the Docker test builds), ports published in host
mode (this kernel has no IPVS: --swarm-network dnsrr); a thumbnail job goes backend ->
Visual Brain -> Redis and back; --rm leaves nothing of the stack."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from test_swarm_deploy import CLI, namespace_left
from zyron_copy import copy_with_build_context, free_ports, image_tag, thumbnail_job

pytestmark = [pytest.mark.swarm, pytest.mark.docker, pytest.mark.slow]


def test_deploy_the_staging_stack_and_run_a_job_through_it(tmp_path: Path, swarm: bool,
                                                           zyron_images: dict[str, str]) -> None:
    name = f"zyronswarm{uuid.uuid4().hex[:6]}"
    copy_with_build_context(tmp_path, name)
    pg, rd, vb, be, fe = free_ports(5)
    env = {k: v for k, v in os.environ.items() if k != "ZYRON_ENV"}
    env.update({
        "POSTGRES_IMAGE": zyron_images["postgres"], "REDIS_IMAGE": zyron_images["redis"],
        "ZYRON_BASE_IMAGE": zyron_images["base"], "ZYRON_IMAGE_TAG": image_tag(zyron_images["base"]),
        "POSTGRES_PORT": str(pg), "REDIS_PORT": str(rd), "VISUAL_BRAIN_PORT": str(vb),
        "BACKEND_PORT": str(be), "FRONTEND_PORT": str(fe), "NO_COLOR": "1",
    })

    def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(CLI), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=timeout)

    try:
        deployed = cli("deploy", "swarm", "--env", "staging", "--swarm-network", "dnsrr", "--build",
                       "--timeout", "240s")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert f"stack {name} converged" in deployed.stdout
        for service in ("postgres", "redis", "visual-brain", "backend", "frontend"):
            assert f"{service} " in deployed.stdout, deployed.stdout
        job = thumbnail_job(f"http://127.0.0.1:{be}", timeout=90)
        assert job["status"] == "done" and job["result_png"], job
        tasks = subprocess.run(["docker", "service", "ps", f"{name}_migrate", "--format", "{{.CurrentState}}"],
                               capture_output=True, text=True, timeout=30).stdout
        assert "Complete" in tasks, tasks  # the migrate job ran to completion
        removed = cli("deploy", "swarm", "--env", "staging", "--rm", "--timeout", "120s")
        assert removed.returncode == 0, removed.stdout + removed.stderr
        assert namespace_left(name) == {}
    finally:
        if namespace_left(name):
            cli("deploy", "swarm", "--env", "staging", "--rm", "--timeout", "120s")
