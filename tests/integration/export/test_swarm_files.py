"""Stack files from the real CLI, checked by `docker stack config` (the loader of docker stack deploy)."""

from __future__ import annotations

import os
import subprocess
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from export_cli_support import cli

pytestmark = pytest.mark.docker

STACK = """
name: {name}
orchestrator: {{secrets: [API_KEY]}}
services:
  cache:
    docker:
      image: {image}
      command: [httpd, -f, -p, "6379", -h, /]
    healthcheck: {{tcp: {{port: 6379}}, interval: 1s}}
    restart: always
  web:
    environment: {{TOKEN: "${{API_KEY}}", GREETING: "price $$5"}}
    docker:
      build: {{context: ./web}}
      ports: ["8080", "127.0.0.1:9090:9090"]
      volumes: ["./secrets/pw.txt:/run/secrets/db_password:ro"]
      healthcheck: {{http: {{url: "http://127.0.0.1:8080/"}}, interval: 1s}}
    deploy: {{replicas: 2, update_config: {{order: start-first}}}}
    depends_on: {{cache: {{condition: service_healthy}}}}
"""


def _docker_stack_config_available() -> bool:
    done = subprocess.run(["docker", "stack", "config", "--help"], capture_output=True, text=True)
    return done.returncode == 0


@pytest.fixture
def project(tmp_path: Path, busybox_image: str) -> Iterator[tuple[Path, str]]:
    name = f"swfile{uuid.uuid4().hex[:8]}"
    (tmp_path / "web").mkdir()
    (tmp_path / "secrets").mkdir()
    (tmp_path / "web" / "Dockerfile").write_text(f'FROM {busybox_image}\nCMD ["httpd", "-f", "-p", "8080", "-h", "/"]\n')
    (tmp_path / "secrets" / "pw.txt").write_text("pw\n")
    (tmp_path / ".env").write_text("API_KEY=abc\n")
    (tmp_path / "services.yaml").write_text(textwrap.dedent(STACK.format(name=name, image=busybox_image)).lstrip())
    yield tmp_path, name
    subprocess.run(["docker", "image", "rm", "-f", f"{name}-web:latest"], capture_output=True)


def test_without_build_the_missing_images_are_listed(project: tuple[Path, str]) -> None:
    folder, name = project
    done = cli("export", "swarm", cwd=folder)
    assert done.returncode == 2
    assert f"{name}-web:latest  (web has build:)" in done.stderr
    assert "--build" in done.stderr and "Traceback" not in done.stderr


def test_built_stack_file_passes_docker_stack_config(project: tuple[Path, str]) -> None:
    folder, name = project
    done = cli("export", "swarm", "--build", "--swarm-network", "dnsrr", "-o", "stack.yaml", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert f"built {name}-web:latest" in done.stderr
    assert subprocess.run(["docker", "image", "inspect", f"{name}-web:latest"], capture_output=True).returncode == 0
    if _docker_stack_config_available():
        checked = subprocess.run(["docker", "stack", "config", "-c", "stack.yaml"], cwd=folder, capture_output=True,
                                 text=True, env={**os.environ, "API_KEY": "abc"}, timeout=60)
        assert checked.returncode == 0, checked.stderr
        config = yaml.safe_load(checked.stdout)
    else:  # an older docker: the compose schema that docker-compose checks against
        checked = subprocess.run(["docker-compose", "-f", "stack.yaml", "config"], cwd=folder, capture_output=True,
                                 text=True, timeout=60)
        assert checked.returncode == 0, checked.stderr
        config = yaml.safe_load(checked.stdout)
    web = config["services"]["web"]
    assert web["deploy"]["endpoint_mode"] == "dnsrr"
    assert web["deploy"]["replicas"] == 2
    assert web["environment"]["TOKEN"] == "abc" and web["environment"]["GREETING"] == "price $5"
    assert {p["mode"] for p in web["ports"]} == {"host"}
    assert web["secrets"][0]["target"] == "/run/secrets/db_password"
    # the same file from export compose --target swarm
    again = cli("export", "compose", "--target", "swarm", "--swarm-network", "dnsrr", cwd=folder)
    assert again.returncode == 0, again.stderr
    assert again.stdout == (folder / "stack.yaml").read_text()
