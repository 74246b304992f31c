"""`dev-orchestrator ui` itself: it needs a terminal, starts the stack when none runs, and
quitting with q leaves the stack running (on a real pseudo-terminal)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator

from supervisor_cli.conftest import CLI

from .conftest import Project, chatty


def write_stack(project: Project, port: int) -> None:
    project.write(
        f"""
        name: demo
        services:
          web:
            command: {project.server(port)}
            ports: [{port}]
            healthcheck: {{http: {{url: "http://127.0.0.1:{port}/"}}, interval: 1s}}
          worker:
            command: {chatty(project)}
        """
    )


def test_ui_needs_a_terminal_and_starts_nothing_without_one(project: Project, ports: list[int]) -> None:
    write_stack(project, ports[0])
    proc = project.run("ui")
    assert proc.returncode == 2
    assert "needs a terminal" in proc.stderr and "logs -f" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (project.root / ".orchestrator" / "supervisor.sock").exists()


def test_textual_is_imported_only_when_the_view_opens() -> None:
    code = "import sys, dev_orchestrator.cli.ui_cmd; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


def terminal_env() -> dict[str, str]:
    """A user's terminal: its size comes from the pseudo-terminal, so no COLUMNS or LINES
    (pytest-xdist's workers set them to 80x24, which an app would take over the pty's size)."""
    env = {**os.environ, "TERM": "xterm-256color", "PYTHONUNBUFFERED": "1"}
    for name in ("NO_COLOR", "COLUMNS", "LINES"):
        env.pop(name, None)
    return env


def read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


@contextlib.contextmanager
def on_terminal(project: Project, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """The CLI on a 150x40 pseudo-terminal: the process and the terminal's side to read and type on."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 150, 0, 0))
    proc = subprocess.Popen([*CLI, *args], cwd=project.root, stdin=slave, stdout=slave, stderr=slave,
                            env=terminal_env(), start_new_session=True)
    os.close(slave)
    try:
        yield proc, master
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        with contextlib.suppress(OSError):
            os.close(master)


def test_ui_starts_the_stack_and_q_leaves_it_running(project: Project, ports: list[int]) -> None:
    write_stack(project, ports[0])
    with on_terminal(project, "ui") as (proc, master):
        seen = read_until(master, b"Q stop all", timeout=60)
        assert b"Q stop all" in seen, seen[-2000:]
        assert b"services up" in seen  # the start's own progress came first
        seen += read_until(master, b"worker ready", timeout=20)
        assert b"worker ready" in seen
        os.write(master, b"q")
        tail = read_until(master, b"keeps running", timeout=30)
        assert proc.wait(timeout=30) == 0
        assert b"the stack keeps running" in tail
    status = project.status()
    assert status["supervisor"]["running"] is True
    assert {n: r["state"] for n, r in status["services"].items()} == {"web": "running", "worker": "running"}


def test_up_ui_needs_a_terminal_and_starts_nothing_without_one(project: Project, ports: list[int]) -> None:
    write_stack(project, ports[0])
    proc = project.run("up", "--ui")
    assert proc.returncode == 2
    assert "needs a terminal" in proc.stderr and "without --ui" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (project.root / ".orchestrator" / "supervisor.sock").exists()


def test_up_ui_shows_the_dashboard_and_leaving_it_stops_the_stack(project: Project, ports: list[int]) -> None:
    import psutil

    write_stack(project, ports[0])
    pids: list[int] = []
    with on_terminal(project, "up", "--ui") as (proc, master):
        seen = read_until(master, b"Q stop all", timeout=60)
        assert b"Q stop all" in seen, seen[-2000:]
        seen += read_until(master, b"worker ready", timeout=20)
        assert b"worker ready" in seen  # the merged log pane
        status = project.status()
        assert {n: r["state"] for n, r in status["services"].items()} == {"web": "running", "worker": "running"}
        pids = [int(r["pid"]) for r in status["services"].values()]
        supervisor = project.supervisor_pid()
        os.write(master, b"q")
        tail = read_until(master, b"stopped 2 services", timeout=30)
        assert proc.wait(timeout=30) == 0
        assert b"leaving up --ui: stopping the stack" in tail and b"stopped 2 services" in tail, tail[-2000:]
    assert not (project.root / ".orchestrator" / "supervisor.sock").exists()
    deadline = time.monotonic() + 10
    while any(psutil.pid_exists(p) for p in [*pids, supervisor or 0] if p) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pids and not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
