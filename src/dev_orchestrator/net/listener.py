"""Listening sockets the supervisor owns, and how a child receives them (socket activation).

Why: a socket that outlives the process serving it is what makes a restart invisible to
clients. The supervisor binds once; every instance of the service receives the same
socket as fd 3 (the systemd protocol: ``LISTEN_FDS``, ``LISTEN_FDNAMES``, ``LISTEN_PID``).
All holders share one accept queue, so a connection that arrives while no instance
accepts (between the old one's exit and the new one's start) waits in the kernel's
backlog instead of being refused, and an instance that stops accepting leaves its
queued connections to the next one (unlike ``SO_REUSEPORT``, which gives each socket its
own queue and drops it on close).

Spawning a child with sockets (how the process backend is meant to call it)::

    act = activation([("http", listener)], argv, env)
    await loop.subprocess_exec(factory, *argv, **act.popen_kwargs(), stdout=..., ...)

Three things make this less obvious than ``pass_fds``:

- ``LISTEN_PID`` must be the child's pid, which the parent learns only after fork. The
  child sets it itself in ``preexec_fn`` (between fork and exec). ``Popen(env=...)``
  builds the exec environment before fork, so a change to ``os.environ`` in the child
  would be lost: ``preexec`` therefore installs the whole environment in the child and
  ``Popen`` gets ``env=None`` (and ``executable=`` resolved against the service's own
  ``PATH``, since ``Popen`` would otherwise search the supervisor's).
- ``Popen`` closes every fd that is not in ``pass_fds`` *after* ``preexec_fn`` runs, so
  ``pass_fds`` names the target numbers 3, 4, ...; and it marks them inheritable before
  ``preexec_fn``, which fails (EBADF) if such a number is not open in the parent.
  ``fd_env`` keeps a ``/dev/null`` placeholder on each of those numbers that is free.
- The sockets are duplicates of the supervisor's: they share the open file description,
  so ``O_NONBLOCK`` (set here, as asyncio needs it) arrives in the child. asyncio
  servers (uvicorn ``--fd 3``) do not mind; a blocking server must call
  ``setblocking(True)`` first (``socket.socket(fileno=3).accept()`` raises
  ``BlockingIOError`` otherwise), which changes the flag for every holder. The
  supervisor therefore never accepts on a socket it passes to children (the proxy
  gets a listener of its own).
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import OrchestratorError, PortConflictError

LISTEN_FDS_START = 3  # SD_LISTEN_FDS_START: the first fd a socket-activated child receives
PID_PLACEHOLDER = "0"  # never a real pid, so a child that is not set up ignores the fds
BACKLOG = 1024


class Listener:
    """A bound, listening, non-blocking TCP socket that the supervisor keeps across restarts.

    Why a class: the engine holds one per declared port for the stack's lifetime, hands
    its fd to each instance (``fd_env``) or accepts on it (``Proxy``), and closes it once.
    """

    def __init__(self, port: int = 0, host: str = "127.0.0.1", *, backlog: int = BACKLOG) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(backlog)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise PortConflictError(
                    f"cannot listen on {host}:{port}: {exc.strerror}",
                    hint="stop the process that holds the port, or choose another port",
                ) from exc
            raise OrchestratorError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
        self._sock = sock
        self._address: tuple[str, int] = (host, int(sock.getsockname()[1]))

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) as bound; the port is the kernel's choice when 0 was asked."""
        return self._address

    @property
    def host(self) -> str:
        return self._address[0]

    @property
    def port(self) -> int:
        return self._address[1]

    @property
    def socket(self) -> socket.socket:
        """The socket itself, for ``loop.sock_accept``; closing it is this object's job."""
        return self._sock

    @property
    def closed(self) -> bool:
        return self._sock.fileno() < 0

    def fileno(self) -> int:
        return self._sock.fileno()

    def inheritable_fd(self) -> int:
        """The fd to hand to ``fd_env``/``preexec``; raises once the listener is closed.

        The socket stays non-inheritable here (PEP 446): ``Popen`` makes the numbers in
        ``pass_fds`` inheritable in the child only, so no other child gets it by accident.
        """
        fd = self._sock.fileno()
        if fd < 0:
            raise OrchestratorError(f"listener {self._address[0]}:{self._address[1]} is closed")
        return fd

    def close(self) -> None:
        """Stop listening (idempotent); children that received the socket keep their copy."""
        self._sock.close()

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"fd={self._sock.fileno()}"
        return f"Listener({self._address[0]}:{self._address[1]}, {state})"


def free_loopback_port(host: str = "127.0.0.1") -> int:
    """A port that is free on ``host`` right now, for an instance's private upstream port.

    Why only "right now": another process may take it before the instance binds it.
    A port the supervisor must keep belongs in a ``Listener`` instead.
    """
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def fd_env(
    listeners: Sequence[tuple[str, Listener]], pid_placeholder: bool = True
) -> tuple[tuple[int, ...], dict[str, str]]:
    """``(pass_fds, env)`` for a child that receives ``listeners`` as fds 3, 4, ... in order.

    Why ``pass_fds`` names 3, 4, ... and not the listeners' own fds: ``Popen`` keeps
    only those numbers open at exec, and ``preexec`` puts the sockets there. ``env`` has
    ``LISTEN_FDS``, ``LISTEN_FDNAMES`` and, with ``pid_placeholder``, ``LISTEN_PID=0``,
    which ``preexec`` replaces with the child's pid in the child.
    """
    names = [name for name, _ in listeners]
    for name in names:
        if not name or ":" in name or len(name) > 255 or not name.isprintable():
            raise ValueError(f"invalid socket name {name!r}: 1 to 255 printable characters, no ':'")
    for _, listener in listeners:
        listener.inheritable_fd()  # raises if closed
    count = len(listeners)
    _hold_slots(count)
    env = {"LISTEN_FDS": str(count), "LISTEN_FDNAMES": ":".join(names)}
    if pid_placeholder:
        env["LISTEN_PID"] = PID_PLACEHOLDER
    return tuple(range(LISTEN_FDS_START, LISTEN_FDS_START + count)), env


def preexec(fds: Sequence[int], env: Mapping[str, str] | None = None) -> Callable[[], None]:
    """A ``preexec_fn`` that moves ``fds`` onto 3, 4, ... and sets ``LISTEN_PID`` in the child.

    Why it also takes ``env``: with ``Popen(env=...)`` the exec environment is fixed before
    fork, so ``LISTEN_PID`` set here would be lost. Given ``env``, the child's environment
    becomes exactly ``env`` plus ``LISTEN_PID``, and the caller passes ``env=None``.

    Hazard: this runs in the child between fork and exec, where only the forking thread
    exists; a lock that another thread held at fork time stays held forever. It uses only
    dup/dup2/close, getpid and putenv/unsetenv (``os.environ``), imports nothing and
    allocates little; CPython runs it with the GIL of the only thread. A thread inside
    ``setenv`` at the moment of fork would deadlock the child (glibc's environment lock).
    """
    sources = tuple(int(fd) for fd in fds)
    items = tuple(env.items()) if env is not None else None  # prepared in the parent
    count = len(sources)

    def _in_child() -> None:
        # Copy every source above the targets first, so that a source that sits on a
        # target number (listener B on fd 3 while A goes to 3) is not overwritten.
        temps = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, LISTEN_FDS_START + count) for fd in sources]
        for index, temp in enumerate(temps):
            os.dup2(temp, LISTEN_FDS_START + index)  # the new fd is inheritable: it survives exec
            os.close(temp)
        if items is not None:
            os.environ.clear()
            for key, value in items:
                os.environ[key] = value
        os.environ["LISTEN_PID"] = str(os.getpid())

    return _in_child


@dataclass(frozen=True)
class Activation:
    """Everything ``Popen`` needs to start a child with listening sockets at fds 3, 4, ...

    Why one object: the four keywords only work together (see the module docstring).
    """

    executable: str | None
    pass_fds: tuple[int, ...]
    preexec_fn: Callable[[], None]
    env: dict[str, str]  # what the child's environment will be (for logs and tests)

    def popen_kwargs(self) -> dict[str, Any]:
        """Keywords for ``subprocess.Popen`` or ``loop.subprocess_exec`` (``env`` is None)."""
        return {
            "executable": self.executable,
            "pass_fds": self.pass_fds,
            "preexec_fn": self.preexec_fn,
            "env": None,
        }


def activation(
    listeners: Sequence[tuple[str, Listener]], argv: Sequence[str], env: Mapping[str, str]
) -> Activation:
    """Prepare a spawn of ``argv`` with ``env`` that receives ``listeners`` (socket activation).

    Why ``executable``: with ``env=None`` ``Popen`` would look ``argv[0]`` up in the
    supervisor's ``PATH``; it is resolved here in the service's own ``PATH``. When it is not
    found there, ``executable`` is None and ``Popen`` reports it as usual.
    """
    pass_fds, extra = fd_env(listeners)
    child_env = {**env, **extra}
    program = argv[0] if argv else ""
    executable = None
    if program and os.sep not in program:
        executable = shutil.which(program, path=child_env.get("PATH", os.defpath))
    fds = [listener.inheritable_fd() for _, listener in listeners]
    return Activation(executable, pass_fds, preexec(fds, child_env), child_env)


_slots_lock = threading.Lock()
_slots: set[int] = set()  # fd numbers on which this module keeps a /dev/null placeholder


def _hold_slots(count: int) -> None:
    """Make sure fds 3 .. 2+count are open, with a ``/dev/null`` placeholder where free.

    Why: ``Popen`` marks each ``pass_fds`` number inheritable before ``preexec_fn`` and
    fails with EBADF on a number that is not open; and a free number there could be
    taken by ``Popen``'s own error pipe, which ``preexec`` would then overwrite. The
    placeholders are kept (close-on-exec, at most one per number ever asked for).
    ``F_DUPFD`` takes the lowest free number at or above the one asked, so this never
    replaces an fd that another thread opened meanwhile. Residual race: another thread
    closes its fd on such a number between this call and the fork (the spawn then fails
    with EBADF and can be retried).
    """
    with _slots_lock:
        for target in range(LISTEN_FDS_START, LISTEN_FDS_START + count):
            if _is_open(target):
                continue
            null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
            if null == target:
                _slots.add(target)
                continue
            try:
                got = fcntl.fcntl(null, fcntl.F_DUPFD_CLOEXEC, target)
            finally:
                os.close(null)
            if got == target:
                _slots.add(target)
            else:
                os.close(got)  # another thread opened ``target`` meanwhile: open is all we need


def _is_open(fd: int) -> bool:
    try:
        fcntl.fcntl(fd, fcntl.F_GETFD)
    except OSError:
        return False
    return True
