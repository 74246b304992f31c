"""services.yaml and its overlays: valid in every environment, settings as variables."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from zyron.redis_dev import build_argv, find_redis_server

from dev_orchestrator.config import load
from dev_orchestrator.config.resolve import resolve

ROOT = Path(__file__).resolve().parents[3]
PROD_VARS = {
    "DB_HOST": "db.internal",
    "DB_PASSWORD": "pw",
    "REDIS_URL": "redis://r:6379/0",
    "VISUAL_BRAIN_API_KEY": "key",
    "PUBLIC_FRONTEND_URL": "https://zyron.example",
    "PUBLIC_BACKEND_URL": "https://api.zyron.example",
}


def clean_environ(**extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return {**keep, **extra}


@pytest.mark.parametrize("env", ["dev", "staging"])
def test_overlays_validate(env: str) -> None:
    loaded = load(ROOT / "services.yaml", env, cwd=ROOT, environ=clean_environ())
    names = set(loaded.spec.services)
    assert {"redis", "migrate", "backend", "visual-brain", "frontend"} <= names
    assert ("postgres" in names) == (env == "staging")
    for name, svc in loaded.spec.services.items():
        assert svc.docker is not None, f"{name} has no docker: section"
        if name not in ("postgres", "redis"):
            assert (
                svc.docker.build is not None and svc.docker.build.dockerfile == "docker/Dockerfile"
            )


def test_dev_settings_reach_services_as_variables() -> None:
    stack = resolve(
        load(ROOT / "services.yaml", "dev", cwd=ROOT, environ=clean_environ()),
        environ=clean_environ(),
    )
    vb = stack.services["visual-brain"].env
    assert vb["ZYRON_ENV"] == "dev"
    assert vb["VISUAL_BRAIN_PORT"] == "8710"
    assert vb["VISUAL_BRAIN_REDIS__URL"] == "redis://127.0.0.1:6390/0"
    backend = stack.services["backend"].env
    assert backend["BACKEND_DATABASE__URL"] == "sqlite:///data/zyron-dev.db"
    assert backend["BACKEND_VISUAL_BRAIN__URL"] == "http://127.0.0.1:8710"
    assert stack.services["migrate"].one_shot
    assert stack.services["backend"].argv == ("python", "-m", "zyron.backend")
    assert not stack.docker


def test_ports_follow_variables() -> None:
    environ = clean_environ(BACKEND_PORT="18700", VISUAL_BRAIN_PORT="18710", REDIS_PORT="16390")
    stack = resolve(load(ROOT / "services.yaml", "dev", cwd=ROOT, environ=environ), environ=environ)
    assert stack.services["backend"].ports == (18700,)
    assert (
        stack.services["visual-brain"].env["VISUAL_BRAIN_REDIS__URL"] == "redis://127.0.0.1:16390/0"
    )
    assert stack.services["frontend"].env["FRONTEND_BACKEND_URL"] == "http://127.0.0.1:18700"


def test_prod_is_strict() -> None:
    cli = [sys.executable, str(ROOT / "dev-orchestrator.py"), "config", "validate", "--env", "prod"]
    missing = subprocess.run(
        cli, cwd=ROOT, env=clean_environ(), capture_output=True, text=True, timeout=60
    )
    assert missing.returncode == 2
    for var in ("DB_PASSWORD", "REDIS_URL", "VISUAL_BRAIN_API_KEY"):
        assert var in missing.stderr + missing.stdout
    ok = subprocess.run(
        cli, cwd=ROOT, env=clean_environ(**PROD_VARS), capture_output=True, text=True, timeout=60
    )
    assert ok.returncode == 0, ok.stderr
    loaded = load(ROOT / "services.yaml", "prod", cwd=ROOT, environ=clean_environ(**PROD_VARS))
    assert loaded.spec.orchestrator.strict
    assert loaded.spec.settings["backend"]["debug"] is False
    assert "db.internal" in loaded.spec.settings["backend"]["database"]["url"]


def test_redis_dev_runs_the_bundled_server(tmp_path: Path) -> None:
    binary = find_redis_server()
    assert binary is not None
    assert build_argv(binary, 7000, "127.0.0.1", tmp_path, persist=False)[1:5] == [
        "--port",
        "7000",
        "--bind",
        "127.0.0.1",
    ]
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zyron.redis_dev",
            "--port",
            str(port),
            "--dir",
            str(tmp_path / "r"),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import redis

        client = redis.Redis(port=port, socket_connect_timeout=1)
        deadline = time.monotonic() + 20
        while True:
            try:
                assert client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.05)
        client.close()
        assert (tmp_path / "r").is_dir()
    finally:
        proc.send_signal(signal.SIGTERM)  # the exec'd redis-server itself gets it
        assert proc.wait(10) == 0
