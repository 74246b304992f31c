"""The CLI's hand-parsed HTTP/1.1 client against a real Unix-socket peer."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from dev_orchestrator.control.client import Client
from dev_orchestrator.errors import OrchestratorError, SupervisorError, SupervisorNotRunning
from dev_orchestrator.state import Paths


def _serve(path: Path, reply: bytes, seen: list[bytes]) -> threading.Thread:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    server.settimeout(5)

    def run() -> None:
        try:
            conn, _ = server.accept()
            with conn:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(4096)
                head, _, body = data.partition(b"\r\n\r\n")
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        while len(body) < int(line.split(b":")[1]):
                            body += conn.recv(4096)
                seen.append(head + b"\r\n\r\n" + body)
                conn.sendall(reply)
        finally:
            server.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def short_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tmp_path_factory.mktemp("c"))


def _client(root: Path) -> Client:
    paths = Paths(root)
    paths.ensure()
    return Client(paths)


def test_content_length_reply_and_post_body(short_root: Path) -> None:
    client = _client(short_root)
    seen: list[bytes] = []
    body = b'{"ok": true, "n": 5}'
    thread = _serve(client.paths.socket, b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                    + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body, seen)
    assert client.call("POST", "/v1/x", {"a": 1}) == {"ok": True, "n": 5}
    thread.join(5)
    request = seen[0]
    assert request.startswith(b"POST /v1/x HTTP/1.1\r\n")
    assert b"Content-Length: 8\r\n" in request and request.endswith(b'{"a": 1}')


def test_chunked_stream_split_across_chunks(short_root: Path) -> None:
    client = _client(short_root)
    records = b'{"type": "event", "i": 1}\n{"type": "res' + b'ult", "ok": true}\n'
    chunks = b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (records[:10], records[10:]))
    thread = _serve(client.paths.socket, b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + chunks
                    + b"0\r\n\r\n", [])
    assert list(client.stream("/v1/s", {})) == [{"type": "event", "i": 1}, {"type": "result", "ok": True}]
    thread.join(5)


def test_error_record_raises_with_exit_code(short_root: Path) -> None:
    client = _client(short_root)
    body = b'{"type": "error", "message": "no such service", "exit_code": 2}'
    _serve(client.paths.socket, b"HTTP/1.1 404 Not Found\r\ncontent-length: " + str(len(body)).encode()
           + b"\r\n\r\n" + body, [])
    with pytest.raises(OrchestratorError) as info:
        client.call("GET", "/v1/status")
    assert info.value.exit_code == 2 and "no such service" in info.value.message


def test_garbage_reply_is_a_supervisor_error(short_root: Path) -> None:
    client = _client(short_root)
    _serve(client.paths.socket, b"SSH-2.0-nope\r\n\r\n", [])
    with pytest.raises(SupervisorError, match="bad reply"):
        client.call("GET", "/v1/status")


def test_no_socket_means_not_running(short_root: Path) -> None:
    with pytest.raises(SupervisorNotRunning):
        _client(short_root).call("GET", "/v1/status")
