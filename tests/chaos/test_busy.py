"""A busy control socket: many idle clients, a frozen supervisor, a full accept queue.

A supervisor that is alive but cannot answer must read as busy, never as dead (a
"died" verdict invites the user to clean up after a supervisor that still runs).
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import Project, alive, wait_until

IDLE_CLIENTS = 1100
QUEUE_FILL_MAX = 6000


@pytest.fixture
def many_fds() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = QUEUE_FILL_MAX + 500
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _connect_idle(path: str, count: int) -> tuple[list[socket.socket], bool]:
    """Up to ``count`` connections that send nothing; True when the queue refused one."""
    socks: list[socket.socket] = []
    full = False
    for _ in range(count):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.connect(path)
        except BlockingIOError:
            sock.close()
            full = True
            break
        except OSError:
            sock.close()
            raise
        socks.append(sock)
    return socks, full


def _close(socks: list[socket.socket]) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.close()
    socks.clear()


def _healthy_again(project: Project, sup: int, pids: dict[str, Any]) -> None:
    def answers() -> bool:
        proc = project.run("status", timeout=30)
        return proc.returncode == 0 and f"supervisor pid {sup} · up" in proc.stdout

    assert wait_until(answers, timeout=30, interval=0.2), "status did not recover"
    assert project.pids() == pids
    assert all(alive(p) for p in pids.values())


@pytest.mark.timeout(90)
def test_idle_connections_do_not_make_status_say_died(project: Project, many_fds: None) -> None:
    project.sleepers("web")
    project.run("start", check=True)
    sup = project.supervisor_pid()
    pids = project.pids()
    socks, _full = _connect_idle(str(project.socket_path), IDLE_CLIENTS)
    try:
        assert len(socks) > 100
        proc = project.run("status", timeout=40)
        assert proc.returncode == 0, proc.stderr
        assert "died" not in proc.stdout and "NOT running" not in proc.stdout, proc.stdout
        assert f"supervisor pid {sup} · up" in proc.stdout or "alive but busy" in proc.stdout, proc.stdout
        data = project.status(timeout=40)
        assert data["supervisor"]["running"] is True
    finally:
        _close(socks)
    _healthy_again(project, sup, pids)


@pytest.mark.timeout(120)
def test_frozen_supervisor_with_a_full_queue_reads_as_busy(project: Project, many_fds: None) -> None:
    """SIGSTOP the supervisor (a process this test caused to exist): first a request that
    is queued but never answered, then an accept queue filled to the brim."""
    project.sleepers("web")
    project.run("start", check=True)
    sup = project.supervisor_pid()
    pids = project.pids()
    socks: list[socket.socket] = []
    os.kill(sup, signal.SIGSTOP)
    try:
        data = project.status(timeout=40)
        assert data["supervisor"]["running"] is True, data["supervisor"]
        assert data["supervisor"].get("busy") is True, data["supervisor"]

        socks, full = _connect_idle(str(project.socket_path), QUEUE_FILL_MAX)
        assert full, f"{len(socks)} connections did not fill the accept queue"
        proc = project.run("status", timeout=40)
        assert proc.returncode == 0, proc.stderr
        assert "alive but busy" in proc.stdout, proc.stdout
        assert "queue is full" in proc.stdout, proc.stdout
        assert "died" not in proc.stdout and "NOT running" not in proc.stdout, proc.stdout
        assert alive(sup) and all(alive(p) for p in pids.values())
    finally:
        _close(socks)
        os.kill(sup, signal.SIGCONT)
    _healthy_again(project, sup, pids)
