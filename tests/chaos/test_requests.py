"""Bad requests on the control socket, and unknown service names on the command line.

Each is refused with a message that names what is wrong (HTTP 400 on the socket, exit 2
on the command line); the supervisor and its services carry on untouched.
"""

from __future__ import annotations

import json
import random
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import Project, alive, module_project


def raw_request(path: str, payload: bytes, timeout: float = 15.0) -> tuple[int, dict[str, Any] | None, bytes]:
    """Send ``payload`` on the Unix socket, half-close, read the whole reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    reply = b"".join(chunks)
    head, _, body = reply.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    return status, data, reply


def post(target: str, body: bytes) -> bytes:
    return (f"POST {target} HTTP/1.1\r\nHost: supervisor\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, int, dict[str, Any]]]:
    """One supervisor with two services for the whole module: (project, pid, service pids)."""
    with module_project(tmp_path_factory, "requests") as proj:
        proj.sleepers("web", "worker")
        proj.run("start", check=True)
        status = proj.status()
        yield proj, int(status["supervisor"]["pid"]), {n: r["pid"] for n, r in status["services"].items()}


def _untouched(project: Project, sup: int, pids: dict[str, Any]) -> None:
    status = project.status()
    assert status["supervisor"]["running"] is True and status["supervisor"]["pid"] == sup, status["supervisor"]
    now = {n: r["pid"] for n, r in status["services"].items()}
    assert now == pids, f"services changed: {pids} -> {now}"
    assert all(r["state"] == "running" for r in status["services"].values()), status["services"]
    assert all(alive(p) for p in pids.values())


JSON_CASES: dict[str, tuple[str, bytes, str]] = {
    # id: (target, body, what the message must name)
    "start timeout a string": ("/v1/start", b'{"services": ["web"], "timeout": "abc"}', "timeout"),
    "start timeout negative": ("/v1/start", b'{"services": ["web"], "timeout": -1}', "timeout"),
    "start timeout a bool": ("/v1/start", b'{"timeout": true}', "timeout"),
    "start environ not strings": ("/v1/start", b'{"environ": {"A": 1}}', "environ"),
    "stop grace a string": ("/v1/stop", b'{"grace": "abc"}', "grace"),
    "stop grace NaN": ("/v1/stop", b'{"grace": NaN}', "grace"),
    "stop grace Infinity": ("/v1/stop", b'{"grace": Infinity}', "grace"),
    "stop services a string": ("/v1/stop", b'{"services": "web"}', "services"),
    "stop unknown field": ("/v1/stop", b'{"services": ["web"], "bogus": 1}', "bogus"),
    "restart timeout a list": ("/v1/restart", b'{"timeout": [1]}', "timeout"),
    "restart services not strings": ("/v1/restart", b'{"services": [1, null]}', "services"),
    "health services a string": ("/v1/health", b'{"services": "web"}', "services"),
    "health deep a string": ("/v1/health", b'{"deep": "yes"}', "deep"),
    "health unknown field": ("/v1/health", b'{"verbose": true}', "verbose"),
    "apply env not a name": ("/v1/apply", b'{"env": "../prod"}', "env"),
    "apply docker a bool": ("/v1/apply", b'{"docker": true}', "docker"),
    "stop unknown service": ("/v1/stop", b'{"services": ["nope"]}', "nope"),
    "body not JSON": ("/v1/stop", b"{not json", "JSON"),
    "body a JSON list": ("/v1/stop", b'["web"]', "object"),
    "body not UTF-8": ("/v1/stop", b'{"grace": "\xff\xfe"}', "JSON"),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", list(JSON_CASES))
def test_bad_body_gets_400_naming_the_field(running: tuple[Project, int, dict[str, Any]], case: str) -> None:
    project, sup, pids = running
    target, body, named = JSON_CASES[case]
    status, data, reply = raw_request(str(project.socket_path), post(target, body))
    assert status == 400, reply[:500]
    assert data is not None and data.get("type") == "error", reply[:500]
    assert named in data["message"], data
    _untouched(project, sup, pids)
    assert "Traceback" not in project.log_text()


RAW_CASES: dict[str, bytes] = {
    "garbage bytes": random.Random(5).randbytes(4096).replace(b"\n", b"x"),
    "NUL bytes": b"\x00" * 512,
    "bad content-length": b"POST /v1/stop HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
    "two content-lengths": b"POST /v1/stop HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    "header without colon": b"POST /v1/stop HTTP/1.1\r\nHost x\r\n\r\n",
    "bad request line": b"POST\r\n\r\n",
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", list(RAW_CASES))
def test_malformed_http_gets_400(running: tuple[Project, int, dict[str, Any]], case: str) -> None:
    project, sup, pids = running
    status, data, reply = raw_request(str(project.socket_path), RAW_CASES[case])
    assert status == 400, reply[:500]
    assert data is not None and "malformed" in data["message"], data
    _untouched(project, sup, pids)
    assert "Traceback" not in project.log_text()


NAME_CASES = {
    "stop nope": (["stop", "nope"], "services: web, worker"),
    "stop web nope": (["stop", "web", "nope"], "services: web, worker"),
    "restart nope": (["restart", "nope"], "services: web, worker"),
    "health nope": (["health", "nope"], "services: web, worker"),
    "health --json nope": (["health", "--json", "nope"], "services: web, worker"),
    "start nope": (["start", "nope"], "services: web, worker"),
    "restart wbe": (["restart", "wbe"], 'did you mean "web"?'),
    "stop workr": (["stop", "workr"], 'did you mean "worker"?'),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", list(NAME_CASES))
def test_unknown_service_name_exits_2_with_a_hint(running: tuple[Project, int, dict[str, Any]], case: str) -> None:
    project, sup, pids = running
    args, hint = NAME_CASES[case]
    name = args[-1]
    proc = project.run(*args)
    assert proc.returncode == 2, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert f'unknown service "{name}"' in proc.stderr, proc.stderr
    assert f"hint: {hint}" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "internal error" not in proc.stderr
    _untouched(project, sup, pids)
    assert "Traceback" not in project.log_text()


@pytest.mark.timeout(60)
def test_deeply_nested_body_gets_400(project: Project) -> None:
    """A JSON body nested deeper than the parser's recursion limit is a bad request like
    any other: 400 naming the body, no internal error, no traceback in the log."""
    project.sleepers("web")
    project.run("start", check=True)
    before = project.status()
    sup, pid = before["supervisor"]["pid"], before["services"]["web"]["pid"]
    body = b'{"services": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    status, data, reply = raw_request(str(project.socket_path), post("/v1/stop", body))
    after = project.status()
    assert after["supervisor"]["pid"] == sup and after["services"]["web"]["pid"] == pid
    assert status == 400, reply[:500]
    assert data is not None and "internal error" not in data["message"], data
    assert "Traceback" not in project.log_text()
