"""The CLI's side of the control API: HTTP over the supervisor's Unix socket (stdlib only,
so that quick commands such as `status` start fast), and spawning the supervisor."""

from __future__ import annotations

import http.client
import json
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import OrchestratorError, SupervisorBusy, SupervisorError, SupervisorNotRunning
from ..state import Lock, Paths, socket_address

SPAWN_TIMEOUT = 30.0
CONNECT_BUSY_WAIT = 10.0


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float | None) -> None:
        super().__init__("supervisor", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        # A full accept queue answers EAGAIN at once (AF_UNIX): the supervisor is alive
        # but busy, so wait for a place in the queue until the timeout.
        deadline = time.monotonic() + (self.timeout if self.timeout is not None else CONNECT_BUSY_WAIT)
        pause = 0.005
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                with socket_address(self.socket_path) as address:
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
            self.sock = sock
            return


class Client:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths

    def _open(self, method: str, path: str, body: dict[str, Any] | None, timeout: float | None) -> http.client.HTTPResponse:
        conn = _UnixConnection(self.paths.socket, timeout)
        payload = json.dumps(body or {}).encode() if method == "POST" else None
        headers = {"content-type": "application/json"} if payload is not None else {}
        try:
            conn.request(method, path, body=payload, headers=headers)
            return conn.getresponse()
        except SupervisorError:
            conn.close()
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
        except (ValueError, OSError) as exc:
            raise SupervisorError(f"bad reply from the supervisor: {exc}") from exc
        _raise_for_error(data)
        return dict(data)

    def stream(self, path: str, body: dict[str, Any], *, timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Yield NDJSON records until the final ``result`` record."""
        response = self._open("POST", path, body, timeout)
        if response.status != 200:
            data = json.loads(response.read() or b"{}")
            _raise_for_error(data)
            raise SupervisorError(f"supervisor answered HTTP {response.status}")
        while True:
            try:
                line = response.readline()
            except (OSError, http.client.HTTPException) as exc:
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
