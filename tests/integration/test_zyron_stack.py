"""The repository's own Zyron stack, run by the real CLI from a copy of its files:
`start` brings every service to healthy, a thumbnail job goes backend -> Visual Brain ->
Redis and back, a browser sees the status page, and `stop` leaves nothing running."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from zyron_copy import free_ports

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "dev_orchestrator.cli"]


def leftovers(root: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd", "status"]):
        with contextlib.suppress(psutil.Error):
            if proc.pid == os.getpid() or proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if str(root) in " ".join(proc.info["cmdline"] or []) or str(proc.info["cwd"] or "").startswith(str(root)):
                found.append(proc)
    return found


class Stack:
    def __init__(self, root: Path) -> None:
        self.root = root
        redis, vb, backend, frontend = free_ports(4)
        self.ports = {"redis": redis, "visual-brain": vb, "backend": backend, "frontend": frontend}
        self.env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "NO_COLOR": "1",
            "REDIS_PORT": str(redis),
            "VISUAL_BRAIN_PORT": str(vb),
            "BACKEND_PORT": str(backend),
            "FRONTEND_PORT": str(frontend),
        }
        self.env.pop("ZYRON_ENV", None)

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, *args], cwd=self.root, env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def url(self, service: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    root = tmp_path / "zyron"
    root.mkdir()
    for name in ("services.yaml", ".env.example"):
        shutil.copy(REPO / name, root / name)
    for folder in ("config", "zyron", "visual_brain", "docker"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    running = Stack(root)
    yield running
    with contextlib.suppress(Exception):
        running.run("stop", "--grace", "2s")
    left = leftovers(root)
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    assert not left, [p.info["cmdline"] for p in left]


def png(width: int, height: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def wait_job(client: httpx.Client, url: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(url).json()
        if job["status"] in ("done", "failed", "cancelled") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def test_dev_stack_end_to_end(stack: Stack) -> None:
    from PIL import Image

    began = time.monotonic()
    proc = stack.run("start")
    took = time.monotonic() - began
    assert proc.returncode == 0, proc.stderr
    print(f"\nzyron dev stack healthy after {took:.2f}s (start command wall time)")
    status = json.loads(stack.run("status", "--json").stdout)
    states = {n: (r["state"], r["health"]) for n, r in status["services"].items()}
    assert states == {
        "redis": ("running", "healthy"),
        "migrate": ("exited", "none"),
        "visual-brain": ("running", "healthy"),
        "backend": ("running", "healthy"),
        "frontend": ("running", "healthy"),
    }
    assert status["services"]["migrate"]["exit_code"] == 0
    deep = stack.run("health", "--deep")
    assert deep.returncode == 0, deep.stdout

    with httpx.Client(timeout=10) as client:
        reply = client.post(stack.url("backend", "/api/jobs"),
                            files={"file": ("photo.png", png(800, 600), "image/png")},
                            data={"kind": "thumbnail", "params": json.dumps({"max_width": 200})})
        assert reply.status_code in (200, 201, 202), reply.text
        job_id = reply.json()["id"]
        job = wait_job(client, stack.url("backend", f"/api/jobs/{job_id}"))
        assert job["status"] == "done", job
        result = client.get(stack.url("backend", f"/api/jobs/{job_id}/result"))
        assert result.status_code == 200
        thumb = Image.open(io.BytesIO(result.content))
        assert thumb.width <= 200 and thumb.height < 600
        overview = client.get(stack.url("backend", "/api/status")).json()
        assert overview["healthy"] is True
        page = client.get(stack.url("frontend", "/"))
        assert page.status_code == 200 and "<html" in page.text.lower()

    proc = stack.run("stop")
    assert proc.returncode == 0, proc.stderr
    assert "supervisor exited" in proc.stdout
    assert not leftovers(stack.root)
    for port in stack.ports.values():
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))  # free again


def test_watch_on_the_dev_stack_restarts_what_a_code_edit_touches_and_syncs_static_files(stack: Stack) -> None:
    out = stack.root / "watch.out"
    watcher = subprocess.Popen([*CLI, "watch"], cwd=stack.root, env=stack.env, text=True,
                               stdout=out.open("w"), stderr=subprocess.STDOUT)

    def wait_text(text: str, count: int = 1, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            seen = out.read_text()
            if seen.count(text) >= count:
                return seen
            assert time.monotonic() < deadline and watcher.poll() is None, seen
            time.sleep(0.1)

    try:
        wait_text("watching 3 services (backend, frontend, visual-brain)")
        wait_text("initial:")  # the page's files are synced once before watching
        before = {n: r["pid"] for n, r in json.loads(stack.run("status", "--json").stdout)["services"].items()}
        # a static file: synced and served at once, no restart
        index = stack.root / "zyron" / "frontend" / "static" / "index.html"
        index.write_text(index.read_text().replace("</body>", "<!-- edited by watch test --></body>"))
        wait_text("frontend     sync")
        deadline = time.monotonic() + 20
        while "edited by watch test" not in httpx.get(stack.url("frontend", "/")).text:
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.1)
        # a backend code edit restarts the backend only
        server = stack.root / "zyron" / "backend" / "server.py"
        server.write_text(server.read_text() + "\n# edited\n")
        seen = wait_text("backend      restart")
        assert "replaced pid" in seen.split("backend      restart", 1)[1].splitlines()[0]  # start-first (listen)
        after = {n: r["pid"] for n, r in json.loads(stack.run("status", "--json").stdout)["services"].items()}
        assert after["backend"] != before["backend"]
        for name in ("redis", "visual-brain", "frontend"):
            assert after[name] == before[name], name
    finally:
        watcher.send_signal(2)
        watcher.wait(timeout=30)


def test_restart_backend_under_load_loses_no_request(stack: Stack) -> None:
    """docs/ZYRON.md's promise: the backend restarts with zero downtime (listen, start-first)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "zyron_load", Path(__file__).parent / "zero_downtime" / "load.py")
    assert spec is not None and spec.loader is not None
    load = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = load  # its dataclasses look themselves up there
    spec.loader.exec_module(load)
    proc = stack.run("start")
    assert proc.returncode == 0, proc.stderr
    before = json.loads(stack.run("status", "--json").stdout)["services"]["backend"]["pid"]
    with load.Background(stack.ports["backend"], rate=50, duration=8.0, path="/health") as background:
        for _ in range(2):
            time.sleep(1.0)
            restarted = stack.run("restart", "backend")
            assert restarted.returncode == 0, restarted.stderr
            assert "replaced pid" in restarted.stderr
    result = background.finish()
    assert result.ok > 100
    assert result.failed == 0, (result.outcomes, result.errors[:5])
    after = json.loads(stack.run("status", "--json").stdout)["services"]["backend"]["pid"]
    assert after != before
