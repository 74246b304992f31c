"""A compose file run as it is on the real engine: profiles, a CMD-SHELL healthcheck, secrets
from a file and from a variable."""

from __future__ import annotations

import json
import textwrap
import urllib.request
from pathlib import Path
from typing import Any

from compose_cli_support import cli, free_port

SECRET = "tok-5a1e7c0ffee"
API_KEY = "key-77c0ffee12"
COMPOSE = """
name: {project}
services:
  db:
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; touch /tmp/ready; sleep 1000 & wait"]
    healthcheck:
      test: ["CMD-SHELL", "test -f /tmp/ready && test -s /run/secrets/token"]
      interval: 1s
      retries: 30
    secrets: [token, {{source: api_key, target: api.key}}]
  web:
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; mkdir -p /tmp/www; echo hello > /tmp/www/index.html; httpd -f -p 8080 -h /tmp/www & wait"]
    ports: ["127.0.0.1:{port}:8080"]
    depends_on:
      db: {{condition: service_healthy}}
  debug:
    image: {image}
    profiles: [debug]
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
secrets:
  token: {{file: ./token.txt}}
  api_key: {{environment: DEMO_API_KEY}}
"""


def _states(folder: Path) -> dict[str, Any]:
    status = cli("status", "--json", "-f", "compose.yaml", cwd=folder)
    assert status.returncode in (0, 1), status.stderr
    assert SECRET not in status.stdout + status.stderr
    return {name: svc["state"] for name, svc in json.loads(status.stdout)["services"].items()}


def test_start_a_compose_file_as_it_is(tmp_path: Path, busybox_image: str, project: str, docker_client: Any) -> None:
    port = free_port()
    (tmp_path / "compose.yaml").write_text(textwrap.dedent(COMPOSE.format(project=project, image=busybox_image,
                                                                           port=port)))
    (tmp_path / "token.txt").write_text(SECRET)
    try:
        started = cli("start", "-f", "compose.yaml", cwd=tmp_path, env={"DEMO_API_KEY": API_KEY})
        assert started.returncode == 0, started.stdout + started.stderr
        states = _states(tmp_path)
        assert states["db"] == "running" and states["web"] == "running"
        assert states.get("debug", "stopped") != "running"  # in an inactive profile
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
            assert reply.read().decode().strip() == "hello"
        container = docker_client.containers.get(f"{project}-db")
        code, out = container.exec_run(["cat", "/run/secrets/token"])
        assert code == 0 and out.decode() == SECRET
        code, out = container.exec_run(["cat", "/run/secrets/api.key"])  # written from the variable
        assert code == 0 and out.decode() == API_KEY
        assert API_KEY not in str(docker_client.api.inspect_container(container.id)["Config"]["Env"])
        shown = cli("config", "-f", "compose.yaml", cwd=tmp_path)
        assert shown.returncode == 0, shown.stderr
        assert "debug: inactive (profile debug)" in shown.stdout
        assert SECRET not in shown.stdout + shown.stderr and API_KEY not in shown.stdout + shown.stderr
        named = cli("start", "debug", "-f", "compose.yaml", cwd=tmp_path, env={"DEMO_API_KEY": API_KEY})  # named: active whatever its profile
        assert named.returncode == 0, named.stdout + named.stderr
        assert docker_client.containers.get(f"{project}-debug").status == "running"
    finally:
        stopped = cli("stop", "-f", "compose.yaml", cwd=tmp_path)  # every running service, named or not
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    running = docker_client.containers.list(filters={"label": f"dev-orchestrator.project={project}"})
    assert running == []
    for log in (tmp_path / "logs").glob("*.log"):
        assert SECRET not in log.read_text(errors="replace")


def test_up_a_compose_file_then_ctrl_c_leaves_nothing(tmp_path: Path, busybox_image: str, project: str,
                                                      docker_client: Any) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    port = free_port()
    (tmp_path / "compose.yaml").write_text(textwrap.dedent(COMPOSE.format(project=project, image=busybox_image,
                                                                           port=port)))
    (tmp_path / "token.txt").write_text(SECRET)
    env = {k: v for k, v in os.environ.items() if k not in ("ZYRON_ENV", "COMPOSE_PROFILES")}
    proc = subprocess.Popen([sys.executable, "-m", "dev_orchestrator.cli", "up", "--profile", "debug"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**env, "NO_COLOR": "1", "DEMO_API_KEY": API_KEY})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as reply:
                    if reply.read().decode().strip() == "hello":
                        break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "web did not come up"
            time.sleep(0.2)
        names = {c.name for c in docker_client.containers.list(filters={"label": f"dev-orchestrator.project={project}"})}
        assert names == {f"{project}-db", f"{project}-web", f"{project}-debug"}
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 0, err
    assert SECRET not in out + err
    assert docker_client.containers.list(all=True, filters={"label": f"dev-orchestrator.project={project}"}) == []
