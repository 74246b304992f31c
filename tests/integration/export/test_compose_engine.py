"""Exported compose files under the real docker-compose: config, round trips, a running stack."""

from __future__ import annotations

import shutil
import socket
import textwrap
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from export_cli_support import FIXTURES, Project, cli, compose

from dev_orchestrator.config.types import parse_duration

pytestmark = pytest.mark.docker

ROUND_TRIP = ["web-db-cache", "worker-migrate", "healthchecks", "interpolation"]
HEALTH_DEFAULTS = {"interval": 30.0, "timeout": 30.0, "retries": 3, "start_period": 0.0}


def _port(item: Any) -> str:
    if isinstance(item, dict):  # the long form compose v2 prints
        text = str(item["target"])
        if item.get("published"):
            text = f"{item['published']}:{text}"
            if item.get("host_ip"):
                text = f"{item['host_ip']}:{text}"
        return f"{text}/{item.get('protocol', 'tcp')}"
    return item if "/" in str(item) else f"{item}/tcp"


def _volume(item: Any) -> str:
    if isinstance(item, dict):
        text = f"{item['source']}:{item['target']}" if item.get("source") else item["target"]
        return text + (":ro" if item.get("read_only") else "")
    return str(item).removesuffix(":rw")


def _health(check: dict[str, Any] | None) -> dict[str, Any] | None:
    if not check or check.get("disable") or check.get("test") in (["NONE"], "NONE"):
        return None
    test = check["test"]
    out: dict[str, Any] = {"test": ["CMD-SHELL", test] if isinstance(test, str) else list(test)}
    for key, default in HEALTH_DEFAULTS.items():
        value = check.get(key, default)
        out[key] = value if key == "retries" else parse_duration(value)
    return out


def normalized(config_text: str) -> dict[str, Any]:
    """What a round trip must keep, from `docker-compose config` output, in one shape."""
    services = yaml.safe_load(config_text)["services"]
    out = {}
    for name, svc in services.items():
        env = dict(svc.get("environment") or {})
        env.pop("ZYRON_ENV", None)
        depends = svc.get("depends_on") or {}
        if isinstance(depends, list):
            depends = {d: {"condition": "service_started"} for d in depends}
        out[name] = {
            "image": svc.get("image"),
            "command": svc.get("command"),
            "depends_on": {d: r.get("condition", "service_started") for d, r in depends.items()},
            "healthcheck": _health(svc.get("healthcheck")),
            "ports": sorted(_port(p) for p in svc.get("ports") or []),
            "volumes": sorted(_volume(v) for v in svc.get("volumes") or []),
            "environment": env,
            "restart": svc.get("restart", "no"),
        }
    return out


def copy_fixtures(folder: Path) -> None:
    for path in (FIXTURES / "compose").iterdir():
        if path.suffix in (".yaml", ".env"):
            shutil.copy(path, folder / path.name)


@pytest.mark.parametrize("fixture", ROUND_TRIP)
def test_round_trip_keeps_the_stack(tmp_path: Path, fixture: str) -> None:
    copy_fixtures(tmp_path)
    original = compose("-f", f"{fixture}.yaml", "config", cwd=tmp_path)
    assert original.returncode == 0, original.stderr
    imported = cli("import", "compose", f"{fixture}.yaml", cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    exported = cli("export", "compose", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    # the exported file goes through `docker-compose -f - config` as it is
    again = compose("-f", "-", "config", cwd=tmp_path, stdin=exported.stdout)
    assert again.returncode == 0, again.stderr
    assert normalized(again.stdout) == normalized(original.stdout)


RUNNING = """
name: exportrun
services:
  cache:
    docker:
      image: {image}
      command: [httpd, -f, -p, "6379", -h, /]
    healthcheck: {{tcp: {{port: 6379}}, interval: 500ms, retries: 60}}
  migrate:
    docker:
      image: {image}
      command: [sh, -c, "echo migrated > /data/index.html"]
      volumes: ["webdata:/data"]
    depends_on: {{cache: {{condition: service_healthy}}}}
  web:
    docker:
      image: {image}
      command: [httpd, -f, -p, "8080", -h, /data]
      ports: ["127.0.0.1:${{WEB_PORT}}:8080"]
      volumes: ["webdata:/data"]
      environment: {{GREETING: "price $$5"}}
      healthcheck:
        http: {{url: "http://127.0.0.1:${{WEB_PORT}}/index.html"}}
        interval: 500ms
        retries: 60
    depends_on:
      cache: {{condition: service_healthy}}
      migrate: {{condition: service_completed_successfully}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_exported_stack_runs_under_docker_compose(
    tmp_path: Path, busybox_image: str, project_factory: list[Project]
) -> None:
    port = free_port()
    (tmp_path / "services.yaml").write_text(textwrap.dedent(RUNNING.format(image=busybox_image)))
    done = cli("export", "compose", "-o", "compose.yaml", cwd=tmp_path, env={"WEB_PORT": str(port)})
    assert done.returncode == 0, done.stderr
    project = Project(tmp_path, "compose.yaml")
    project_factory.append(project)
    project.up()
    states = project.states()
    assert states["migrate"] == "exited:0"
    assert states["web"] == "healthy" and states["cache"] == "healthy"
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=5) as reply:
        assert reply.read().decode().strip() == "migrated"
    env = project.run("exec", "-T", "web", "sh", "-c", "echo $GREETING")
    assert env.stdout.strip() == "price $5"


SECRET_STACK = """
name: exportsecret
settings:
  app: {database: {url: "postgresql://app:${DB_PASSWORD:?set DB_PASSWORD}@db/app"}}
services:
  app:
    docker: {image: "busybox:1.36", environment: {TOKEN: "t-${API_TOKEN}", PLAIN: "a$$b"}}
"""


def test_secret_references_are_filled_by_compose_from_env(tmp_path: Path) -> None:
    (tmp_path / "services.yaml").write_text(textwrap.dedent(SECRET_STACK))
    secrets = {"DB_PASSWORD": "pw-1", "API_TOKEN": "tok-2"}
    done = cli("export", "compose", "-o", "out/compose.yaml", cwd=tmp_path, env=secrets)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    assert "pw-1" not in (out / "compose.yaml").read_text()
    # the user fills in the example as .env; compose interpolates the references from it
    filled = (out / ".env.example").read_text().replace("API_TOKEN=", "API_TOKEN=tok-2")
    (out / ".env").write_text(filled.replace("DB_PASSWORD=", "DB_PASSWORD=pw-1"))
    config = compose("-f", "compose.yaml", "config", cwd=out)
    assert config.returncode == 0, config.stderr
    env = yaml.safe_load(config.stdout)["services"]["app"]["environment"]
    assert env["APP_DATABASE__URL"] == "postgresql://app:pw-1@db/app"
    assert env["TOKEN"] == "t-tok-2"
    assert env["PLAIN"] == "a$$b"  # a literal $, which `config` prints escaped again
