"""The CLI's side of the control API: HTTP over the supervisor's Unix socket (stdlib only,
so that quick commands such as `status` start fast), and spawning the supervisor."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import OrchestratorError, SupervisorBusy, SupervisorError, SupervisorNotRunning
from ..state import Lock, Paths, socket_address

SPAWN_TIMEOUT = 30.0
CONNECT_BUSY_WAIT = 10.0


class _BadReply(Exception):
    """The supervisor's reply is not the HTTP/1.1 this client understands."""


def _connect(path: Path, timeout: float | None) -> socket.socket:
    # A full accept queue answers EAGAIN at once (AF_UNIX): the supervisor is alive
    # but busy, so wait for a place in the queue until the timeout.
    deadline = time.monotonic() + (timeout if timeout is not None else CONNECT_BUSY_WAIT)
    pause = 0.005
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            with socket_address(path) as address:
                sock.connect(address)
        except BlockingIOError as exc:
            sock.close()
            if time.monotonic() + pause >= deadline:
                raise SupervisorBusy("the supervisor is alive but busy (its request queue is full)",
                                     hint="try again in a moment") from exc
            time.sleep(pause)
            pause = min(pause * 2, 0.2)
            continue
        except OSError:
            sock.close()
            raise
        return sock


class _Response:
    """One HTTP/1.1 reply read straight from the socket (the server sends one reply per
    connection, with content-length or chunked encoding, then closes). A hand parse instead
    of http.client, which imports the email package: most of a quick command's start-up."""

    def __init__(self, sock: socket.socket) -> None:
        self._file = sock.makefile("rb")
        self._sock = sock
        line = self._file.readline(65537)
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise _BadReply(f"bad status line {line[:80]!r}")
        self.status = int(parts[1])
        self.headers: dict[str, str] = {}
        for _ in range(100):
            header = self._file.readline(65537)
            if header in (b"\r\n", b"\n", b""):
                break
            name, _, value = header.decode("latin-1").partition(":")
            self.headers[name.strip().lower()] = value.strip()
        else:
            raise _BadReply("too many headers")
        self._chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        length = self.headers.get("content-length")
        self._left: int | None = int(length) if length is not None and not self._chunked else None
        self._buffer = b""
        self._done = False

    def _chunk(self) -> bytes:
        size_line = self._file.readline(1024)
        if not size_line:
            raise _BadReply("connection closed inside a chunked reply")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise _BadReply(f"bad chunk size {size_line[:40]!r}") from exc
        if size == 0:
            while self._file.readline(65537) not in (b"\r\n", b"\n", b""):
                pass
            self._done = True
            return b""
        data = self._file.read(size)
        if len(data) < size:
            raise _BadReply("connection closed inside a chunk")
        self._file.readline(3)
        return data

    def read(self) -> bytes:
        if not self._chunked:
            data = self._file.read() if self._left is None else self._file.read(self._left)
            self._done = True
            return data
        parts = [self._buffer]
        self._buffer = b""
        while not self._done:
            parts.append(self._chunk())
        return b"".join(parts)

    def readline(self) -> bytes:
        if not self._chunked:
            return self._file.readline()
        while b"\n" not in self._buffer and not self._done:
            self._buffer += self._chunk()
        line, sep, rest = self._buffer.partition(b"\n")
        self._buffer = rest
        return line + sep

    def close(self) -> None:
        self._file.close()
        self._sock.close()


def _request(sock: socket.socket, method: str, path: str, payload: bytes | None) -> None:
    head = f"{method} {path} HTTP/1.1\r\nHost: supervisor\r\n"
    if payload is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
    sock.sendall(head.encode("ascii") + b"\r\n" + (payload or b""))


class Client:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths

    def _open(self, method: str, path: str, body: dict[str, Any] | None, timeout: float | None) -> _Response:
        payload = json.dumps(body or {}).encode() if method == "POST" else None
        sock: socket.socket | None = None
        try:
            try:
                sock = _connect(self.paths.socket, timeout)
                _request(sock, method, path, payload)
                return _Response(sock)
            except BaseException:
                if sock is not None:
                    sock.close()
                raise
        except _BadReply as exc:
            raise SupervisorError(f"bad reply from the supervisor: {exc}", hint=f"see {self.paths.log}") from exc
        except SupervisorError:
            raise
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise SupervisorNotRunning("no supervisor is running for this project") from exc
        except TimeoutError as exc:
            raise SupervisorBusy("the supervisor did not answer in time", hint=f"see {self.paths.log}") from exc
        except OSError as exc:
            raise SupervisorError(f"cannot talk to the supervisor: {exc}", hint=f"see {self.paths.log}") from exc

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, *, timeout: float | None = 10.0) -> dict[str, Any]:
        response = self._open(method, path, body, timeout)
        try:
            data = json.loads(response.read() or b"{}")
        except (ValueError, OSError, _BadReply) as exc:
            raise SupervisorError(f"bad reply from the supervisor: {exc}") from exc
        finally:
            response.close()
        _raise_for_error(data)
        return dict(data)

    def stream(self, path: str, body: dict[str, Any], *, timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Yield NDJSON records until the final ``result`` record."""
        response = self._open("POST", path, body, timeout)
        try:
            yield from self._records(response)
        finally:
            response.close()

    def _records(self, response: _Response) -> Iterator[dict[str, Any]]:
        if response.status != 200:
            data = json.loads(response.read() or b"{}")
            _raise_for_error(data)
            raise SupervisorError(f"supervisor answered HTTP {response.status}")
        while True:
            try:
                line = response.readline()
            except (OSError, _BadReply) as exc:
                raise SupervisorError(f"lost the supervisor while waiting: {exc}", hint=f"see {self.paths.log}") from exc
            if not line:
                raise SupervisorError("the supervisor closed the connection early", hint=f"see {self.paths.log}")
            record = json.loads(line)
            _raise_for_error(record)
            yield record
            if record.get("type") == "result":
                return

    def ping(self) -> dict[str, Any] | None:
        try:
            return self.call("GET", "/v1/ping", timeout=2.0)
        except SupervisorError:
            return None


def _raise_for_error(data: Any) -> None:
    if isinstance(data, dict) and data.get("type") == "error":
        error = OrchestratorError(str(data.get("message")), hint=data.get("hint"))
        error.exit_code = int(data.get("exit_code") or 1)
        raise error


def spawn(paths: Paths, file: Path, env: str, docker: bool | None) -> dict[str, Any]:
    """Start the supervisor detached and wait until it serves (or says why it cannot)."""
    import select
    import subprocess

    paths.ensure()
    read_fd, write_fd = os.pipe()
    flag = {True: "on", False: "off", None: "config"}[docker]
    argv = [sys.executable, "-m", "dev_orchestrator.control.daemon", "--file", str(file), "--env", env,
            "--docker", flag, "--ready-fd", str(write_fd)]
    with open(paths.log, "ab") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            pass_fds=(write_fd,), cwd=str(paths.root), close_fds=True,
        )
    os.close(write_fd)
    data = b""
    deadline = time.monotonic() + SPAWN_TIMEOUT
    try:
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read_fd], [], [], left)[0]:
                raise SupervisorError("the supervisor did not start in time", hint=f"see {paths.log}")
            chunk = os.read(read_fd, 4096)
            if not chunk:
                code = proc.wait(timeout=5)
                raise SupervisorError(f"the supervisor exited during start-up (code {code})", hint=f"see {paths.log}")
            data += chunk
    finally:
        os.close(read_fd)
    message: dict[str, Any] = json.loads(data.split(b"\n", 1)[0])
    proc.returncode = 0  # detached on purpose: it outlives this command; never reap it here
    return message


def ensure_supervisor(paths: Paths, file: Path, env: str, docker: bool | None) -> tuple[Client, bool]:
    """A client for the running supervisor, spawning one if needed; (client, spawned)."""
    from .recovery import cleanup_orphans

    client = Client(paths)
    paths.ensure()
    if client.ping() is not None:
        return client, False
    with Lock(paths.spawn_lock).held(timeout=SPAWN_TIMEOUT) as got:
        if not got:
            raise SupervisorError("another command is starting the supervisor and did not finish")
        if client.ping() is not None:
            return client, False
        cleanup_orphans(paths)
        message = spawn(paths, file, env, docker)
        if not message.get("ok"):
            if message.get("exit_code") == 0 and client.ping() is not None:
                return client, False
            error = OrchestratorError(str(message.get("message")), hint=f"see {paths.log}")
            error.exit_code = int(message.get("exit_code") or 1)
            raise error
    return client, True
