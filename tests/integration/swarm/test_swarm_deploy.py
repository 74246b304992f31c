"""`deploy swarm` on a real one-node swarm: converge, serve, roll an update, remove.

The stack: ``store`` (a dependency with a tcp healthcheck), ``web`` (2 replicas of busybox
httpd built here, an http healthcheck, a Swarm secret, ports published in host mode on
ephemeral ports) that waits for ``store`` by its DNS name, as a Swarm service must (Swarm
ignores depends_on). This kernel has no IPVS, so the stack runs with --swarm-network dnsrr.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.swarm, pytest.mark.docker]

CLI = Path(sys.executable).parent / "dev-orchestrator"
LABEL = "dev-orchestrator.project"

SERVICES = """
name: {name}
services:
  store:
    docker:
      image: {busybox}
      command: [sh, -c, "echo stored > /www/index.html && exec httpd -f -p 7000 -h /www"]
    healthcheck: {{tcp: {{port: 7000}}, interval: 1s, retries: 30}}
    restart: always
  web:
    docker:
      image: {name}/web:{version}
      build: {{context: ./web, args: {{VERSION: "{version}"}}}}
      ports: ["8080"]
      volumes: ["./secrets/token.txt:/run/secrets/token:ro"]
      healthcheck: {{http: {{url: "http://127.0.0.1:8080/index.html"}}, interval: 1s, retries: 30}}
    deploy:
      replicas: 2
      update_config: {{order: start-first, monitor: 1s}}
    depends_on: {{store: {{condition: service_healthy}}}}
    restart: always
"""
DOCKERFILE = """\
FROM {busybox}
ARG VERSION
RUN ["/bin/sh", "-c", "echo $VERSION > /www/index.html"]
# Swarm ignores depends_on: wait for store by its DNS name (bounded), then serve.
CMD ["sh", "-c", "for i in $(seq 150); do wget -q -O /www/store.txt http://store:7000/ && break; sleep 0.2; done; cp /run/secrets/token /www/token.txt; exec httpd -f -p 8080 -h /www"]
"""


def cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ZYRON_ENV"}
    return subprocess.run([str(CLI), *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout)


def docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def namespace_left(name: str) -> dict[str, list[str]]:
    label = f"label=com.docker.stack.namespace={name}"
    kinds = {
        "services": ["service", "ls", "-q", "--filter", label],
        "containers": ["ps", "-a", "-q", "--filter", label],
        "networks": ["network", "ls", "-q", "--filter", label],
        "secrets": ["secret", "ls", "-q", "--filter", label],
        "configs": ["config", "ls", "-q", "--filter", label],
    }
    found = {kind: docker(*args).stdout.split() for kind, args in kinds.items()}
    return {kind: ids for kind, ids in found.items() if ids}


def get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return response.read().decode().strip()


def web_ports(stdout: str) -> list[int]:
    line = next(line for line in stdout.splitlines() if line.strip().startswith("web "))
    return sorted(int(p) for p in re.findall(r"(\d+)->8080/tcp", line))


@pytest.fixture
def project(tmp_path: Path, swarm: bool, busybox_image: str) -> Iterator[dict[str, Any]]:
    name = f"swarmtest{uuid.uuid4().hex[:8]}"
    (tmp_path / "web").mkdir()
    (tmp_path / "secrets").mkdir()
    (tmp_path / "web" / "Dockerfile").write_text(DOCKERFILE.format(busybox=busybox_image))
    (tmp_path / "secrets" / "token.txt").write_text("t0ken-123\n")
    info: dict[str, Any] = {"name": name, "folder": tmp_path, "busybox": busybox_image}

    def write(version: str) -> None:
        text = SERVICES.format(name=name, busybox=busybox_image, version=version)
        (tmp_path / "services.yaml").write_text(textwrap.dedent(text).lstrip())

    info["write"] = write
    write("1")
    try:
        yield info
    finally:
        if namespace_left(name):  # a failed test: take the stack down before the swarm goes
            cli("deploy", "swarm", "--rm", "--timeout", "90s", cwd=tmp_path)
        for version in ("1", "2"):
            docker("image", "rm", "-f", f"{name}/web:{version}")


def test_a_daemon_out_of_swarm_mode_is_refused_with_the_fix(tmp_path: Path) -> None:
    """Runs before the module's swarm fixture turns swarm mode on (when it was off)."""
    (tmp_path / "services.yaml").write_text("name: notswarm\nservices:\n  a: {docker: {image: none/none:1}}\n")
    state = docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()
    done = cli("deploy", "swarm", cwd=tmp_path, timeout=60)
    if state == "active":  # a daemon found in swarm mode: the check lets it through to the images
        assert "not in swarm mode" not in done.stderr
        assert done.returncode == 2 and "none/none:1" in done.stderr
        return
    assert done.returncode == 2, done.stdout + done.stderr
    assert "not in swarm mode" in done.stderr
    assert "docker swarm init --advertise-addr 127.0.0.1" in done.stderr
    assert "Traceback" not in done.stderr


def test_deploy_serve_update_and_remove(project: dict[str, Any]) -> None:
    folder, name = project["folder"], project["name"]

    deployed = cli("deploy", "swarm", "--swarm-network", "dnsrr", "--build", "--timeout", "120s", cwd=folder)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert f"stack {name} converged" in deployed.stdout
    assert re.search(r"web\s+2/2 running", deployed.stdout), deployed.stdout
    assert re.search(r"store\s+1/1 running", deployed.stdout), deployed.stdout
    ports = web_ports(deployed.stdout)
    assert len(ports) == 2, deployed.stdout
    for port in ports:  # each replica on its own host-mode port, reached on 127.0.0.1
        assert get(port, "/index.html") == "1"
        assert get(port, "/store.txt") == "stored"  # found its dependency by DNS (dnsrr)
        assert get(port, "/token.txt") == "t0ken-123"  # the Swarm secret, as a file
    endpoint = docker("service", "inspect", f"{name}_web", "--format", "{{.Spec.EndpointSpec.Mode}}")
    assert endpoint.stdout.strip() == "dnsrr"

    # a new image: a rolling update, start-first, one task at a time
    project["write"]("2")
    updated = cli("deploy", "swarm", "--swarm-network", "dnsrr", "--build", "--timeout", "120s", cwd=folder)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert "update updating" in updated.stderr or "update completed" in updated.stderr, updated.stderr
    status = docker("service", "inspect", f"{name}_web", "--format", "{{.UpdateStatus.State}} {{.Spec.TaskTemplate.ContainerSpec.Image}}")
    assert status.stdout.split() == ["completed", f"{name}/web:2"], status.stdout
    ports = web_ports(updated.stdout)
    assert len(ports) == 2
    assert [get(port, "/index.html") for port in ports] == ["2", "2"]

    removed = cli("deploy", "swarm", "--rm", "--timeout", "90s", cwd=folder)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert f"removed stack {name}" in removed.stdout
    assert namespace_left(name) == {}


def test_a_stack_that_cannot_converge_exits_1_with_the_task_error(project: dict[str, Any]) -> None:
    folder, name = project["folder"], project["name"]
    (folder / "services.yaml").write_text(textwrap.dedent(f"""
    name: {name}
    services:
      broken:
        docker:
          image: {project["busybox"]}
          command: [sh, -c, "echo cannot start >&2; exit 3"]
        restart: always
    """).lstrip())
    done = cli("deploy", "swarm", "--swarm-network", "dnsrr", "--timeout", "15s", cwd=folder)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"stack {name} did not converge in 15s" in done.stderr
    assert "broken 0/1 running" in done.stderr
    assert "non-zero exit (3)" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
