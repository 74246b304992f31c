"""The receiving end of systemd's ``sd_notify`` protocol: a service says when it is ready.

Why: readiness reported by the service itself is exact (no probe interval, no guess at
what "up" means) and is what services written for systemd already send, so they need no
change. A child finds the socket in ``NOTIFY_SOCKET`` and sends datagrams of
newline-separated ``KEY=VALUE`` lines: ``READY=1``, ``RELOADING=1``, ``STOPPING=1``,
``STATUS=...``, ``MAINPID=...``, ``WATCHDOG=1``, ``ERRNO=...``.

A Python service needs no library (an address starting with ``@`` is Linux's abstract
namespace, a NUL byte on the wire)::

    import os, socket
    addr = os.environ["NOTIFY_SOCKET"]
    socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"READY=1", "\\0" + addr[1:] if addr[0] == "@" else addr)

A shell script runs ``systemd-notify --ready --status="..."``. Since systemd 246 it then
waits for a ``BARRIER=1`` answer: it sends a pipe's end along, and the barrier completes
when the receiver closes it, which this socket does with every fd it receives.

One socket per instance, not one shared socket that tells senders apart by their pid
(``SO_PASSCRED``): the pid that sends is often not the instance's own (``systemd-notify``
is a child of a script, workers of a pre-fork server report for their master, and a
privileged sender may even pass another pid), and mapping a pid back to an instance
races with exits and forks. With a socket per instance, whatever writes to it speaks
for that instance, at the cost of one fd. The sender's pid is still recorded
(``sender_pid``); the sender's uid must be ours or root's. A filesystem socket lives in a
private 0700 folder; an abstract one (used when the path would exceed the 107 bytes of
``sun_path``) has no permissions at all, so the uid check is what guards it.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import os
import re
import secrets
import socket
import stat
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import OrchestratorError

MAX_DATAGRAM = 4096  # systemd's limit too; a longer message arrives truncated and is dropped
MAX_FDS = 16  # fds accepted along with one message (all are closed)
READ_BATCH = 64  # datagrams read per wake-up before yielding to the loop
SUN_PATH_MAX = 107  # bytes of a socket path, without the final NUL
_UCRED = struct.Struct("iII")  # pid, uid, gid
_ANCILLARY = socket.CMSG_SPACE(_UCRED.size) + socket.CMSG_SPACE(MAX_FDS * 4)
_RECV_FLAGS = getattr(socket, "MSG_CMSG_CLOEXEC", 0)  # a received fd never reaches a child


@dataclass(frozen=True)
class NotifyMessage:
    """One datagram: its ``KEY=VALUE`` fields in order, and the sender's pid if known."""

    fields: tuple[tuple[str, str], ...]
    pid: int | None = None

    @property
    def values(self) -> Mapping[str, str]:
        """The fields as a mapping (the last value of a repeated key wins)."""
        return dict(self.fields)


def parse(data: bytes) -> tuple[tuple[str, str], ...]:
    """The ``KEY=VALUE`` lines of one datagram; lines without ``=`` are ignored."""
    fields = []
    for line in data.decode("utf-8", "replace").split("\n"):
        key, sep, value = line.partition("=")
        if sep and key:
            fields.append((key, value))
    return tuple(fields)


class NotifySocket:
    """An ``AF_UNIX`` datagram socket that collects one instance's ``sd_notify`` messages.

    Why events, not polling: ``await ready()`` returns at the datagram that says so.
    Reading starts at construction inside a running loop, else at ``start()``; until
    then the kernel queues what the service sends (a short queue: a service that
    sends many messages into a socket nobody reads blocks in ``sendto``).
    """

    def __init__(
        self, address: str | os.PathLike[str], *, on_message: Callable[[NotifyMessage], None] | None = None
    ) -> None:
        self.address = os.fspath(address)
        self.on_message = on_message  # called in the loop after each message is applied; must not raise
        self.is_ready = False
        self.is_stopping = False
        self.status: str | None = None
        self.main_pid: int | None = None
        self.sender_pid: int | None = None
        self.watchdog_at: float | None = None  # loop time of the last WATCHDOG=1
        self.values: dict[str, str] = {}  # the last value of every key received
        self._abstract = self.address.startswith("@")
        self._waiters: dict[str, set[asyncio.Future[bool]]] = {"ready": set(), "stopping": set()}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            if self._abstract:
                sock.bind("\0" + self.address[1:])
            else:
                with contextlib.suppress(FileNotFoundError):
                    if stat.S_ISSOCK(os.lstat(self.address).st_mode):
                        os.unlink(self.address)  # left by an instance that did not clean up
                sock.bind(self.address)
                os.chmod(self.address, 0o600)
        except OSError as exc:
            sock.close()
            raise OrchestratorError(f"cannot create the notify socket {self.address}: {exc.strerror}") from exc
        self._sock = sock
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop()
            self.start()

    @classmethod
    def in_folder(
        cls, folder: str | os.PathLike[str], name: str, *, on_message: Callable[[NotifyMessage], None] | None = None
    ) -> NotifySocket:
        """A socket for instance ``name`` in a private folder (made 0700 if new).

        Why the fallback: a socket path is at most 107 bytes; a deeper project gets an
        abstract address with a random part instead (guarded by the uid check).
        """
        base = Path(folder)
        if base.is_symlink():
            raise OrchestratorError(f"{base} is a symlink; the notify folder must be a real folder")
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = base.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            raise OrchestratorError(f"{base} is not a folder of this user")
        if stat.S_IMODE(info.st_mode) != 0o700:
            os.chmod(base, 0o700)
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:64] or "instance"
        path = base.resolve() / f"{safe}.sock"
        if len(os.fsencode(path)) <= SUN_PATH_MAX:
            return cls(path, on_message=on_message)
        return cls(f"@dev-orchestrator-{secrets.token_hex(8)}-{safe}", on_message=on_message)

    def env(self) -> dict[str, str]:
        """What the child's environment needs: ``NOTIFY_SOCKET``."""
        return {"NOTIFY_SOCKET": self.address}

    def start(self) -> None:
        """Start reading in the running loop (idempotent)."""
        if self._loop is None and not self._closed:
            self._loop = asyncio.get_running_loop()
            self._loop.add_reader(self._sock.fileno(), self._on_readable)

    async def ready(self, timeout: float | None = None) -> bool:
        """Wait for ``READY=1``; False on ``timeout`` or when the socket is closed first."""
        return await self._wait("ready", lambda: self.is_ready, timeout)

    async def stopping(self, timeout: float | None = None) -> bool:
        """Wait for ``STOPPING=1``; False on ``timeout`` or when the socket is closed first."""
        return await self._wait("stopping", lambda: self.is_stopping, timeout)

    def close(self) -> None:
        """Stop reading, close the socket, remove its file; waiters get False."""
        if self._closed:
            return
        self._closed = True
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        if not self._abstract:
            with contextlib.suppress(OSError):
                os.unlink(self.address)
        for waiters in self._waiters.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(False)
            waiters.clear()

    def __enter__(self) -> NotifySocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- inside ----------------------------------------------------------------------------

    async def _wait(self, what: str, done: Callable[[], bool], timeout: float | None) -> bool:
        if done():
            return True
        if self._closed:
            return False
        self.start()
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiters[what].add(waiter)
        try:
            finished, _ = await asyncio.wait({waiter}, timeout=timeout)
            return bool(finished) and waiter.result()
        finally:
            self._waiters[what].discard(waiter)

    def _on_readable(self) -> None:
        for _ in range(READ_BATCH):
            try:
                data, ancillary, flags, _ = self._sock.recvmsg(MAX_DATAGRAM, _ANCILLARY, _RECV_FLAGS)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # a reader error on a datagram socket is not the sender's to cause
            pid, uid = _credentials_and_close_fds(ancillary)
            if flags & socket.MSG_TRUNC:
                continue
            if uid is None and self._abstract:
                continue  # no credentials: nothing vouches for the sender
            if uid is not None and uid not in (os.getuid(), 0):
                continue
            self._apply(NotifyMessage(parse(data), pid))

    def _apply(self, message: NotifyMessage) -> None:
        if message.pid is not None:
            self.sender_pid = message.pid
        for key, value in message.fields:
            self.values[key] = value
            if key == "READY" and value == "1":
                self.is_ready = True
                self._wake("ready")
            elif key == "RELOADING" and value == "1":
                self.is_ready = False
            elif key == "STOPPING" and value == "1":
                self.is_stopping = True
                self._wake("stopping")
            elif key == "STATUS":
                self.status = value
            elif key == "MAINPID" and value.isdigit():
                self.main_pid = int(value)
            elif key == "WATCHDOG" and value == "1" and self._loop is not None:
                self.watchdog_at = self._loop.time()
        if self.on_message is not None:
            self.on_message(message)

    def _wake(self, what: str) -> None:
        waiters = self._waiters[what]
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(True)
        waiters.clear()


def _credentials_and_close_fds(ancillary: list[tuple[int, int, bytes]]) -> tuple[int | None, int | None]:
    """(pid, uid) from ``SCM_CREDENTIALS``; every fd that came along is closed.

    Why close: ``systemd-notify`` waits until its barrier fd is closed, and ``FDSTORE=1``
    is not supported here, so a received fd is never used (keeping it would leak it).
    """
    pid = uid = None
    for level, kind, data in ancillary:
        if level != socket.SOL_SOCKET:
            continue
        if kind == socket.SCM_CREDENTIALS and len(data) >= _UCRED.size:
            pid, uid, _ = _UCRED.unpack_from(data)
        elif kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
    return pid, uid


def sd_notify(state: str, address: str | None = None) -> bool:
    """Send ``state`` (e.g. ``"READY=1\\nSTATUS=up"``) as a service would; False if no socket.

    Why here: Python services of this repository and the tests use it; a service
    elsewhere uses the three lines in the module docstring, or ``sdnotify``/``systemd``.
    """
    target = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
    if not target:
        return False
    if target.startswith("@"):
        target = "\0" + target[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.sendto(state.encode(), target)
    return True
