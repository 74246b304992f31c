"""Crash recovery, one supervisor per project, and a control socket that survives bad input."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading

import psutil

from .conftest import CLI, Project, processes_in, wait_until
from .test_supervisor_lifecycle import http_ok, port_free, stack


def test_kill_9_supervisor_then_stop_leaves_nothing(project: Project, ports: list[int]) -> None:
    stack(project, ports, delay=0)
    project.run("start", check=True)
    services = project.status()["services"]
    pids = [r["pid"] for r in services.values()]
    sup = project.supervisor_pid()
    assert sup is not None
    os.kill(sup, signal.SIGKILL)
    assert wait_until(lambda: not psutil.pid_exists(sup) or psutil.Process(sup).status() == psutil.STATUS_ZOMBIE)
    # status says the supervisor died and lists what is still alive
    status = project.status()
    assert status["supervisor"]["running"] is False
    assert {r["state"] for r in status["services"].values()} == {"running"}
    table = project.run("status").stdout
    assert "NOT running" in table and "still alive" in table
    proc = project.run("stop", check=True)
    assert "left by a supervisor that had died" in proc.stdout
    assert all(not psutil.pid_exists(p) or psutil.Process(p).status() == psutil.STATUS_ZOMBIE for p in pids)
    assert not processes_in(project.root)
    assert all(port_free(p) for p in ports[:3])


def test_start_after_crash_cleans_up_then_starts(project: Project, ports: list[int]) -> None:
    stack(project, ports, delay=0)
    project.run("start", check=True)
    old = {n: r["pid"] for n, r in project.status()["services"].items()}
    sup = project.supervisor_pid()
    assert sup is not None
    os.kill(sup, signal.SIGKILL)
    project.run("start", check=True)  # ports were held by the orphans: they must be gone first
    new = project.status()
    assert new["supervisor"]["running"] is True and new["supervisor"]["pid"] != sup
    assert all(new["services"][n]["pid"] != pid for n, pid in old.items())
    assert all(not psutil.pid_exists(p) or psutil.Process(p).status() == psutil.STATUS_ZOMBIE for p in old.values())


def test_recycled_pid_is_not_ours(project: Project, ports: list[int]) -> None:
    """A state file naming a live pid with another create time must not kill that process."""
    stack(project, ports)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        runtime = project.root / ".orchestrator"
        runtime.mkdir(mode=0o700)
        record = {"state": "running", "health": "healthy", "runtime": "process", "pid": bystander.pid,
                  "create_time": psutil.Process(bystander.pid).create_time() - 1000, "container": None,
                  "started_at": None, "restarts": 0, "exit_code": None, "ports": [], "detail": ""}
        state = {"version": 1, "project": "demo", "env": "dev", "docker": False,
                 "supervisor": {"pid": 999999, "create_time": 0}, "services": {"db": record}}
        (runtime / "state.json").write_text(json.dumps(state))
        proc = project.run("stop", check=True)
        assert "nothing is running" in proc.stdout
        assert bystander.poll() is None  # still alive
    finally:
        bystander.kill()
        bystander.wait()


def test_stale_socket_and_state_are_handled(project: Project, ports: list[int]) -> None:
    stack(project, ports, delay=0)
    runtime = project.root / ".orchestrator"
    runtime.mkdir(mode=0o700)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(runtime / "supervisor.sock"))
    stale.close()  # the file stays: a socket nobody listens on
    (runtime / "state.json").write_text("{not json")
    assert project.status()["supervisor"]["running"] is False
    project.run("start", check=True)
    assert all(http_ok(p) for p in ports[:3])


def test_two_concurrent_starts_give_one_supervisor(project: Project, ports: list[int]) -> None:
    stack(project, ports, delay=0.2)
    env = {**os.environ, "NO_COLOR": "1"}
    procs = [subprocess.Popen([*CLI, "start"], cwd=project.root, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    codes = [p.wait(timeout=60) for p in procs]
    for p in procs:
        p.communicate()
    assert codes == [0, 0]
    daemons = [p for p in processes_in(project.root) if "dev_orchestrator.control.daemon" in " ".join(p.cmdline())]
    assert len(daemons) == 1
    status = project.status()
    assert {r["state"] for r in status["services"].values()} == {"running"}
    assert len({r["pid"] for r in status["services"].values()}) == 3  # each service started once


def test_socket_is_private_to_its_owner(project: Project, ports: list[int]) -> None:
    stack(project, ports, delay=0)
    project.run("start", check=True)
    runtime = project.root / ".orchestrator"
    assert stat.S_IMODE(runtime.stat().st_mode) == 0o700
    sock_mode = (runtime / "supervisor.sock").stat()
    assert stat.S_ISSOCK(sock_mode.st_mode)
    assert stat.S_IMODE(sock_mode.st_mode) == 0o600
    assert sock_mode.st_uid == os.getuid()


def _raw(path: str, payload: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(15)
        sock.connect(path)
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_garbage_on_the_socket_does_not_kill_the_supervisor(project: Project, ports: list[int]) -> None:
    stack(project, ports, delay=0)
    project.run("start", check=True)
    path = str(project.root / ".orchestrator" / "supervisor.sock")
    assert b" 400 " in _raw(path, os.urandom(4096).replace(b"\n", b"x"))
    assert b" 400 " in _raw(path, b"POST /v1/start HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n{notjson}")
    assert b" 400 " in _raw(path, b"POST /v1/start HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n[]")
    big = b"POST /v1/start HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n" + b"x" * 1000
    assert b" 413 " in _raw(path, big)
    assert b" 404 " in _raw(path, b"GET /v1/nothing HTTP/1.1\r\nHost: x\r\n\r\n")
    reply = _raw(path, b'POST /v1/stop HTTP/1.1\r\nHost: x\r\nContent-Length: 26\r\n\r\n{"services": ["nosuchsvc"]}'[:-1])
    assert b"unknown service" in reply or b" 400 " in reply
    # a client that connects and sends nothing, in parallel with real requests
    idle = socket.socket(socket.AF_UNIX)
    idle.connect(path)
    threads = [threading.Thread(target=_raw, args=(path, b"\x00\xff" * 100)) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    status = project.status()
    assert status["supervisor"]["running"] is True
    assert {r["state"] for r in status["services"].values()} == {"running"}
    idle.close()
