"""The real CLI, the real docker-compose and a locally built busybox image.

This machine and CI have no registry: the test image is Debian's static busybox on an
empty image. Every compose project gets a unique name and is taken down with its
volumes (``down -v``) whatever the test's outcome.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

CLI = Path(sys.executable).parent / "dev-orchestrator"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
IMAGE = "dev-orchestrator-test/export-busybox:1"
DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ENV PATH=/bin
"""


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    environ = {k: v for k, v in os.environ.items() if k != "ZYRON_ENV"}
    environ.update(env or {})
    return subprocess.run([str(CLI), *args], cwd=cwd, capture_output=True, text=True, env=environ, timeout=120)


def compose_command() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return ["docker", "compose"]


def compose(*args: str, cwd: Path, stdin: str | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*compose_command(), *args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=timeout
    )


def supports_wait() -> bool:
    out = subprocess.run([*compose_command(), "up", "--help"], capture_output=True, text=True).stdout
    return "--wait" in out


@pytest.fixture(scope="session")
def busybox_image() -> str:
    """Build (once) an image holding only a static busybox: sh, httpd, nc, wget."""
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode == 0:
        return IMAGE
    source = next((p for p in (Path("/bin/busybox"), Path("/usr/bin/busybox")) if p.is_file()), None)
    if source is None:
        pytest.fail("no static busybox to build the test image: apt-get install busybox-static")
    with tempfile.TemporaryDirectory(prefix="export-busybox-") as folder:
        shutil.copy(source, Path(folder) / "busybox")
        (Path(folder) / "Dockerfile").write_text(DOCKERFILE)
        built = subprocess.run(["docker", "build", "-q", "-t", IMAGE, folder], capture_output=True, text=True)
        if built.returncode != 0:
            pytest.fail(f"building {IMAGE} failed:\n{built.stderr}")
    return IMAGE


class Project:
    """One compose project with a unique name, always taken down with its volumes."""

    def __init__(self, folder: Path, file: str) -> None:
        self.folder = folder
        self.file = file
        self.name = f"devorch-export-{uuid.uuid4().hex[:10]}"

    def run(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return compose("-p", self.name, "-f", self.file, *args, cwd=self.folder, timeout=timeout)

    def up(self, timeout: float = 120) -> None:
        """Start detached and wait until every long-running container is healthy or running."""
        if supports_wait():
            done = self.run("up", "-d", "--wait", timeout=timeout)
            assert done.returncode == 0, done.stderr
            return
        done = self.run("up", "-d", timeout=timeout)
        assert done.returncode == 0, done.stderr
        deadline = time.monotonic() + timeout
        while True:
            states = self.states()
            waiting = [n for n, s in states.items() if s not in ("healthy", "running", "exited:0")]
            if not waiting:
                return
            if time.monotonic() > deadline:
                logs = self.run("logs", "--no-color").stdout[-3000:]
                pytest.fail(f"not ready after {timeout}s: {states}\n{logs}")
            time.sleep(0.5)

    def states(self) -> dict[str, str]:
        ids = self.run("ps", "-a", "-q").stdout.split()
        out: dict[str, str] = {}
        if not ids:
            return out
        info = json.loads(subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True).stdout)
        for item in info:
            service = item["Config"]["Labels"].get("com.docker.compose.service", item["Name"])
            state = item["State"]
            if state.get("Health"):
                out[service] = state["Health"]["Status"]
            elif state["Status"] == "exited":
                out[service] = f"exited:{state['ExitCode']}"
            else:
                out[service] = state["Status"]
        return out

    def down(self) -> None:
        self.run("down", "-v", "--remove-orphans", timeout=120)


@pytest.fixture
def project_factory() -> Iterator[list[Project]]:
    projects: list[Project] = []
    yield projects
    for project in projects:
        project.down()
        left = subprocess.run(
            ["docker", "ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={project.name}"],
            capture_output=True, text=True,
        ).stdout.split()
        assert not left, f"containers left behind by {project.name}: {left}"
