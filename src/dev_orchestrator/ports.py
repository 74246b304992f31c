"""Port conflicts and their owners, and free-port assignment."""

from __future__ import annotations

import contextlib
import errno
import shlex
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import psutil

from .errors import PortConflictError


@dataclass(frozen=True)
class PortOwner:
    port: int
    pid: int | None
    command: str

    def describe(self) -> str:
        if self.pid is None:
            return "another process (owner not visible to this user)"
        return f"pid {self.pid} ({self.command})" if self.command else f"pid {self.pid}"


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on ``port`` (bind test on all addresses and on ``host``)."""
    for address in ("0.0.0.0", host):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((address, port))
            except OSError as exc:
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    return False
                raise
    return True


def port_owner(port: int) -> PortOwner:
    """Who listens on ``port`` (pid and command line), as far as this user can see."""
    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                return PortOwner(port, conn.pid, _command(conn.pid))
    return PortOwner(port, None, "")


def _command(pid: int | None) -> str:
    if pid is None:
        return ""
    try:
        return shlex.join(psutil.Process(pid).cmdline())[:120]
    except psutil.Error:
        return ""


def check_ports(ports: Mapping[str, Iterable[int]]) -> None:
    """Raise PortConflictError naming every busy port, its service and its owner."""
    problems = []
    for service, service_ports in ports.items():
        for port in service_ports:
            if not port_is_free(port):
                owner = port_owner(port)
                problems.append(f"port {port} is needed by {service} but is in use by {owner.describe()}")
    if problems:
        raise PortConflictError(
            ".\n".join(problems) + ". Nothing was started.",
            hint="stop that process, or change the port in services.yaml (or its settings)",
        )


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel considers free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
