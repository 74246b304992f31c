"""Listening sockets and socket activation, with real child processes."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dev_orchestrator.errors import PortConflictError
from dev_orchestrator.net import Listener, activation, fd_env, free_loopback_port, preexec

pytestmark = pytest.mark.timeout(60)

# A child that serves one connection on every socket it received, as a systemd service
# would: the fds start at 3 and LISTEN_PID must be its own pid. The sockets arrive in
# non-blocking mode (shared with the supervisor), so a blocking server says so first.
CHILD = textwrap.dedent(
    """
    import json, os, socket
    count = int(os.environ["LISTEN_FDS"])
    names = os.environ["LISTEN_FDNAMES"].split(":")
    fds = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
    for index in range(count):
        sock = socket.socket(fileno=3 + index)
        sock.setblocking(True)
        conn, _ = sock.accept()
        conn.recv(100)
        conn.sendall(json.dumps({
            "pid": os.getpid(), "listen_pid": os.environ["LISTEN_PID"], "name": names[index],
            "port": sock.getsockname()[1], "fds": fds, "marker": os.environ.get("SERVICE_MARK"),
            "leaked": os.environ.get("ONLY_IN_SUPERVISOR"),
        }).encode())
        conn.close()
    """
)


def ask(port: int, timeout: float = 20.0) -> dict[str, object]:
    """Connect, send a line, read the child's JSON answer until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(b"hi\n")
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return json.loads(b"".join(chunks))


def service_env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", os.defpath), "SERVICE_MARK": "api:1"}


def test_listener_binds_loopback_non_blocking_and_closes() -> None:
    with Listener() as listener:
        assert listener.host == "127.0.0.1" and listener.port > 0
        sock = listener.socket
        assert sock.getblocking() is False
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1
        assert listener.inheritable_fd() == listener.fileno() == sock.fileno()
        assert not os.get_inheritable(listener.fileno())  # only the child gets it
        with socket.create_connection(listener.address, timeout=5):
            pass  # accepted by the kernel into the backlog, nobody has to accept
    assert listener.closed
    listener.close()  # idempotent


def test_a_busy_port_is_a_port_conflict() -> None:
    with Listener() as first, pytest.raises(PortConflictError, match=str(first.port)):
        Listener(first.port)


def test_free_loopback_port_is_bindable() -> None:
    port = free_loopback_port()
    with Listener(port) as listener:
        assert listener.port == port


def test_fd_env_follows_the_systemd_protocol() -> None:
    with Listener() as a, Listener() as b:
        pass_fds, env = fd_env([("http", a), ("admin", b)])
        assert pass_fds == (3, 4)
        assert env == {"LISTEN_FDS": "2", "LISTEN_FDNAMES": "http:admin", "LISTEN_PID": "0"}
        assert "LISTEN_PID" not in fd_env([("http", a)], pid_placeholder=False)[1]
        for fd in pass_fds:  # Popen needs them open in the parent
            os.fstat(fd)
        with pytest.raises(ValueError, match="no ':'"):
            fd_env([("a:b", a)])


def test_child_accepts_on_fd_3_with_its_own_pid(tmp_path: Path) -> None:
    with Listener() as listener:
        argv = [sys.executable, "-c", CHILD]
        act = activation([("http", listener)], argv, service_env())
        os.environ["ONLY_IN_SUPERVISOR"] = "1"
        try:
            proc = subprocess.Popen(argv, **act.popen_kwargs())
        finally:
            del os.environ["ONLY_IN_SUPERVISOR"]
        try:
            answer = ask(listener.port)
            assert proc.wait(timeout=20) == 0
        finally:
            proc.kill()
            proc.wait()
    assert answer["listen_pid"] == str(answer["pid"]) == str(proc.pid)
    assert answer["name"] == "http" and answer["port"] == listener.port
    assert answer["marker"] == "api:1"
    assert answer["leaked"] is None  # the child's environment is exactly the service's
    # 0-2, the socket at 3, and the fd of listdir itself: nothing else reached the child
    assert answer["fds"] == [0, 1, 2, 3, 4]


# Runs in a fresh interpreter whose fds 3 and up are closed first, so that listener A
# sits on fd 3 and B on fd 4; B is passed first: it must land on 3 without clobbering A.
CROSSING = textwrap.dedent(
    """
    import json, os, subprocess, sys
    os.closerange(3, 64)
    from dev_orchestrator.net import Listener, activation
    a, b = Listener(), Listener()
    assert (a.fileno(), b.fileno()) == (3, 4), (a.fileno(), b.fileno())
    argv = [sys.executable, "-c", sys.argv[1]]
    proc = subprocess.Popen(argv, **activation([("b", b), ("a", a)], argv, dict(os.environ)).popen_kwargs())
    print(json.dumps({"b": b.port, "a": a.port}), flush=True)
    sys.exit(proc.wait(timeout=30))
    """
)


def drive(script: str) -> tuple[object, list[dict[str, object]]]:
    """Run a driver interpreter that spawns CHILD; ask each port it prints, in order."""
    with subprocess.Popen([sys.executable, "-c", script, CHILD], stdout=subprocess.PIPE, text=True) as driver:
        try:
            assert driver.stdout is not None
            line = driver.stdout.readline()
            assert line, "the driver failed before spawning"
            ports = json.loads(line)
            answers = [ask(port) for port in (ports.values() if isinstance(ports, dict) else ports)]
            assert driver.wait(timeout=30) == 0
        finally:
            driver.kill()
    return ports, answers


def test_sockets_land_in_order_even_when_their_fds_cross() -> None:
    ports, answers = drive(CROSSING)
    assert isinstance(ports, dict)
    assert [(x["name"], x["port"]) for x in answers] == [("b", ports["b"]), ("a", ports["a"])]
    assert answers[0]["fds"] == [0, 1, 2, 3, 4, 5]


# Fds 3 to 9 are free in this interpreter (the listeners sit on 10 to 12). Without
# placeholders, Popen's error pipe would take 3 and 4 and the child would fail on 5 with
# EBADF; and a target that is the error pipe would hide a failed exec.
FREE_SLOTS = textwrap.dedent(
    """
    import json, os, subprocess, sys
    os.closerange(3, 64)
    from dev_orchestrator.net import Listener, activation
    hold = [os.open(os.devnull, os.O_RDONLY) for _ in range(7)]  # fds 3 to 9
    listeners = [Listener(), Listener(), Listener()]
    for fd in hold:
        os.close(fd)
    assert [x.fileno() for x in listeners] == [10, 11, 12]
    pairs = [(f"s{i}", x) for i, x in enumerate(listeners)]
    try:
        subprocess.Popen(["/nonexistent/program"], **activation(pairs, ["/nonexistent/program"], {}).popen_kwargs())
    except FileNotFoundError:
        pass
    else:
        sys.exit("a failed exec was not reported")
    argv = [sys.executable, "-c", sys.argv[1]]
    proc = subprocess.Popen(argv, **activation(pairs, argv, dict(os.environ)).popen_kwargs())
    print(json.dumps([x.port for x in listeners]), flush=True)
    sys.exit(proc.wait(timeout=30))
    """
)


def test_free_target_slots_in_the_parent_get_placeholders() -> None:
    ports, answers = drive(FREE_SLOTS)
    assert [x["port"] for x in answers] == ports
    assert answers[0]["fds"] == [0, 1, 2, 3, 4, 5, 6]


def test_preexec_with_popen_env_none_inherits_and_sets_listen_pid() -> None:
    """Without ``env``, preexec leaves the inherited environment and only adds LISTEN_PID."""
    with Listener() as listener:
        pass_fds, extra = fd_env([("web", listener)])
        old = {k: os.environ.get(k) for k in extra}
        os.environ.update(extra)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", CHILD], pass_fds=pass_fds, preexec_fn=preexec([listener.fileno()])
            )
        finally:
            for key, value in old.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        try:
            answer = ask(listener.port)
            assert proc.wait(timeout=20) == 0
        finally:
            proc.kill()
            proc.wait()
    assert answer["listen_pid"] == str(proc.pid)


def test_the_asyncio_spawn_path_of_the_process_backend() -> None:
    async def main() -> dict[str, object]:
        with Listener() as listener:
            argv = ["python3", "-c", CHILD]  # looked up in the service's PATH
            env = {**service_env(), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.defpath}"}
            act = activation([("http", listener)], argv, env)
            assert act.executable == str(Path(sys.executable).parent / "python3")
            loop = asyncio.get_running_loop()
            transport, _ = await loop.subprocess_exec(
                asyncio.SubprocessProtocol, *argv, stdin=subprocess.DEVNULL, start_new_session=True,
                **act.popen_kwargs(),
            )
            try:
                answer = await asyncio.to_thread(ask, listener.port)
            finally:
                transport.kill()
                transport.close()
            assert answer["listen_pid"] == str(transport.get_pid())
            return answer

    assert asyncio.run(main())["name"] == "http"


APP = """
import os

async def app(scope, receive, send):
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello from %d" % os.getpid()})
"""


def http_get(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.skipif(importlib.util.find_spec("uvicorn") is None, reason="uvicorn is not installed")
def test_uvicorn_serves_the_supervisors_port_and_a_restart_loses_nothing(tmp_path: Path) -> None:
    """Stop-first restart: a request sent while no instance runs is answered by the next one."""
    (tmp_path / "app.py").write_text(APP)
    argv = [sys.executable, "-m", "uvicorn", "--fd", "3", "--app-dir", str(tmp_path),
            "--lifespan", "off", "--log-level", "warning", "app:app"]
    env = {**service_env(), "PYTHONDONTWRITEBYTECODE": "1"}
    with Listener() as listener:
        first = subprocess.Popen(argv, **activation([("http", listener)], argv, env).popen_kwargs())
        try:
            reply = http_get(listener.port)  # no readiness wait: the backlog holds it
            assert reply.startswith(b"HTTP/1.1 200") and b"hello from %d" % first.pid in reply
        finally:
            first.terminate()
            first.wait(timeout=20)
        with socket.create_connection(listener.address, timeout=30) as pending:
            pending.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            second = subprocess.Popen(argv, **activation([("http", listener)], argv, env).popen_kwargs())
            try:
                chunks = []
                while chunk := pending.recv(65536):
                    chunks.append(chunk)
            finally:
                second.terminate()
                second.wait(timeout=20)
    reply = b"".join(chunks)
    assert reply.startswith(b"HTTP/1.1 200") and b"hello from %d" % second.pid in reply
