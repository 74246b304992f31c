"""The project's runtime folder: state file (atomic JSON), locks, and process identity.

``.orchestrator/`` (mode 0700) next to services.yaml holds ``state.json`` (with
``state.journal``: the spawns since its last full write),
``supervisor.sock`` (mode 0600), ``supervisor.lock`` (held by the running supervisor),
``spawn.lock`` (serialises starting one) and ``supervisor.log``.

A process is "ours" only when its pid, its create time and its marker all match what we
recorded: every process the supervisor spawns carries ``DEV_ORCHESTRATOR_MARKER`` =
``<project id>:<run token>:<service>`` in its environment (read back from
``/proc/PID/environ``), so neither a recycled pid nor a record edited by hand can make us
signal a stranger. pid 1, the caller and its ancestors are never signalled.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:  # psutil costs ~10 ms to import: only the functions that use it load it
    import psutil

from .errors import UsageError

STATE_VERSION = 1
JOURNAL_NAME = "state.journal"  # spawns since the last full write of state.json, one per line
RUNTIME_DIR = ".orchestrator"
MARKER_ENV = "DEV_ORCHESTRATOR_MARKER"
REPLICA_ENV = "DEV_ORCHESTRATOR_REPLICA"  # deploy.replicas: which instance this is (1..N)
CREATE_TIME_TOLERANCE = 0.05


class Paths:
    """Where a project's runtime files live (immutable; a plain class, as errors.py says why)."""

    __slots__ = ("root", "_project_id")

    def __init__(self, root: Path) -> None:
        self.root = root
        self._project_id: str | None = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Paths) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    def __repr__(self) -> str:
        return f"Paths(root={self.root!r})"

    @property
    def dir(self) -> Path:
        return self.root / RUNTIME_DIR

    @property
    def state(self) -> Path:
        return self.dir / "state.json"

    @property
    def journal(self) -> Path:
        return self.dir / JOURNAL_NAME

    @property
    def socket(self) -> Path:
        return self.dir / "supervisor.sock"

    @property
    def lock(self) -> Path:
        return self.dir / "supervisor.lock"

    @property
    def spawn_lock(self) -> Path:
        return self.dir / "spawn.lock"

    @property
    def log(self) -> Path:
        return self.dir / "supervisor.log"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def project_id(self) -> str:
        """A stable id of the project (its folder), the first part of every marker (computed
        once: the supervisor's snapshot asks for it for every service)."""
        if self._project_id is None:
            import hashlib

            self._project_id = hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:16]
        return self._project_id

    def ensure(self) -> None:
        """Create the runtime folder (0700); refuse symlinks and wrong file types."""
        for path, what in ((self.dir, "the runtime folder"), (self.logs, "the logs folder")):
            check_private_dir(path, what)
        self.dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.dir, 0o700, follow_symlinks=False)
        for path in (self.socket, self.lock, self.spawn_lock, self.state, self.journal, self.log):
            check_not_dir(path)


def check_private_dir(path: Path, what: str) -> None:
    """A folder of ours must be a real folder, never a symlink (we would chmod its target)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise UsageError(
            f"{path} is a symlink; {what} must be a real folder",
            hint=f"remove the link (rm {path}) and run the command again",
        )
    if not stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{path} is not a folder ({what} lives there)", hint=f"move {path} away")


def check_not_dir(path: Path) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "a symlink"
        raise UsageError(f"{path} is {kind}, where the supervisor keeps a file",
                         hint=f"remove it (rm -r {path}) and run the command again")


SUN_PATH_MAX = 107  # bytes in sockaddr_un.sun_path, less the final NUL


@contextlib.contextmanager
def socket_address(path: Path) -> Iterator[str]:
    """An address for ``path`` that fits a Unix socket, even below a deep folder.

    sun_path holds 107 bytes; a longer path is reached through an open handle on its
    folder (``/proc/self/fd/N/name``), which Linux resolves like the real path.
    """
    text = str(path)
    if len(os.fsencode(text)) <= SUN_PATH_MAX:
        yield text
        return
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def new_run_token() -> str:
    """A per-supervisor token: part of every marker, recorded in state.json."""
    import secrets

    return secrets.token_hex(8)


def marker(project_id: str, token: str, service: str) -> str:
    return f"{project_id}:{token}:{service}"


def marker_of(proc: psutil.Process) -> str | None:
    """The marker in a process's environment, or None (not ours, gone, or unreadable)."""
    import psutil

    try:
        return proc.environ().get(MARKER_ENV)
    except (psutil.Error, OSError):
        return None


def protected_pids() -> set[int]:
    """pids never to signal: pid 0 and 1, this process and all its ancestors."""
    import psutil

    out = {0, 1, os.getpid()}
    with contextlib.suppress(psutil.Error):
        out.update(p.pid for p in psutil.Process().parents())
    return out


def boot_time() -> float:
    import psutil

    return psutil.boot_time()


def write_state(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically: temp file in the same folder, fsync, rename (OSError on a full disk)."""
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=".state-", dir=path.parent)
    try:
        # One line from json's C encoder (an indent or json.dump's chunked writes take the
        # Python one): the supervisor writes the whole state at every spawn, 500 of them
        # for a 500-service stack. `jq . .orchestrator/state.json` shows it indented.
        text = json.dumps({"version": STATE_VERSION, **data}, sort_keys=True, separators=(",", ":"))
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class SpawnJournal:
    """Append-only record of each spawn between two full writes of state.json.

    A spawn must be on disk before anyone hears of it; writing the whole state for each
    made a start O(N^2) in the number of services. A line here is one service's record,
    O(1): ``{"seq": n, "run_token": t, "service": name, "record": {...}}``. The full state,
    still written (debounced), names the last ``journal_seq`` it covers; readers
    (``load_state``) lay newer lines of the same run over it. No fsync: the page cache
    outlives a killed supervisor, and after a machine crash no recorded pid means
    anything (the boot time differs).
    """

    def __init__(self, path: Path, run_token: str) -> None:
        self.path = path
        self.run_token = run_token
        self.seq = 0
        self._fd: int | None = None
        self._size = 0  # bytes of whole lines in the file

    def append(self, service: str, record: dict[str, Any]) -> int:
        """Record one service's spawn; OSError (a full disk) is the caller's to handle.

        Never through a symlink (O_NOFOLLOW: ``Paths.ensure`` refuses one first); a short
        write is cut off again, so that the next line does not start in its middle.
        """
        if self._fd is None:
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW
            self._fd = os.open(self.path, flags, 0o600)
            self._size = 0
        line = json.dumps({"seq": self.seq + 1, "run_token": self.run_token, "service": service, "record": record},
                          sort_keys=True, separators=(",", ":")) + "\n"
        data = line.encode("utf-8")
        try:
            written = os.write(self._fd, data)
        except OSError:
            self._cut()
            raise
        if written != len(data):
            self._cut()
            raise OSError(28, "short write to the state journal")
        self._size += written
        self.seq += 1
        return self.seq

    def _cut(self) -> None:
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, self._size)  # type: ignore[arg-type]

    def covered(self, seq: int) -> None:
        """A full state written with ``journal_seq`` = ``seq`` is on disk: empty the journal when
        nothing newer was appended since."""
        if self._fd is not None and seq == self.seq:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
                self._size = 0

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


def _read_journal(path: Path) -> bytes:
    """The journal beside state file ``path`` (read before the state: a full write and the
    emptying of the journal between the two reads then lose nothing)."""
    try:
        return path.with_name(JOURNAL_NAME).read_bytes()
    except OSError:
        return b""


def _apply_journal(raw: bytes, data: dict[str, Any]) -> None:
    """Lay the spawns recorded after ``data`` was written over its services."""
    if not raw:
        return
    token, after = data.get("run_token"), data.get("journal_seq") or 0
    services, order = data["services"], data.get("order")
    for line in raw.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:  # a line cut short: the spawn is still found by its marker
            continue
        if (not isinstance(entry, dict) or entry.get("run_token") != token or not isinstance(entry.get("seq"), int)
                or entry["seq"] <= after or not isinstance(entry.get("record"), dict)
                or not isinstance(entry.get("service"), str)):
            continue
        services[entry["service"]] = entry["record"]
        if isinstance(order, list) and entry["service"] not in order:
            order.append(entry["service"])
        # what is written back from this data (recovery's cleanup) covers these lines
        data["journal_seq"] = max(data.get("journal_seq") or 0, entry["seq"])


class StateUnreadable(Exception):
    """state.json exists but cannot be used (truncated, corrupt, another version)."""


def read_state(path: Path) -> dict[str, Any] | None:
    """The last state written, or None when there is none or it is unreadable."""
    try:
        return load_state(path)
    except StateUnreadable:
        return None


def load_state(path: Path) -> dict[str, Any] | None:
    """The last state written; None when there is none; StateUnreadable when it is broken."""
    journal = _read_journal(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateUnreadable(f"{path}: {exc.strerror}") from exc
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError as exc:
        raise StateUnreadable(f"{path} is not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        raise StateUnreadable(f"{path} is not a state file of this version")
    services = data.get("services")
    if not isinstance(services, dict) or not all(isinstance(r, dict) for r in services.values()):
        raise StateUnreadable(f"{path} has no valid services table")
    _apply_journal(journal, data)
    return data


class Verdict(NamedTuple):  # not a dataclass: see errors.py
    """Whether a recorded process is ours: ``ours``, ``gone`` or ``foreign`` (with why)."""

    kind: str
    reason: str = ""

    @property
    def ours(self) -> bool:
        return self.kind == "ours"


def verify(pid: Any, create_time: Any, expected_marker: str | None) -> Verdict:
    """Prove that ``pid`` is the very process we started: create time and marker match.

    A record without a create time or marker proves nothing and is never ours.
    """
    import psutil

    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return Verdict("gone")
    if pid in protected_pids():
        return Verdict("foreign", f"pid {pid} is protected (init, this command or its parent)")
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return Verdict("gone")
        started = proc.create_time()
    except psutil.Error:
        return Verdict("gone")
    if not isinstance(create_time, (int, float)) or isinstance(create_time, bool):
        return Verdict("foreign", f"pid {pid} has no recorded start time, so it cannot be proven ours")
    if abs(started - float(create_time)) >= CREATE_TIME_TOLERANCE:
        return Verdict("foreign", f"pid {pid} was recycled (another process has it now)")
    if not expected_marker or marker_of(proc) != expected_marker:
        return Verdict("foreign", f"pid {pid} does not carry this project's marker")
    return Verdict("ours")


def process_matches(pid: int | None, create_time: float | None, expected_marker: str | None = None) -> bool:
    """True when ``pid`` runs and is provably the process we started (see ``verify``)."""
    return verify(pid, create_time, expected_marker).ours


def process_alive(pid: int | None, create_time: float | None) -> bool:
    """True while ``pid`` runs with that create time (no marker: for our own supervisor)."""
    import psutil

    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return create_time is None or abs(proc.create_time() - create_time) < CREATE_TIME_TOLERANCE
    except psutil.Error:
        return False


def marked_processes(prefix: str, *, among: list[psutil.Process] | None = None) -> list[psutil.Process]:
    """Live processes whose marker starts with ``prefix`` (all processes, or ``among``)."""
    import psutil

    protected = protected_pids()
    out = []
    for proc in among if among is not None else psutil.process_iter():
        if proc.pid in protected:
            continue
        value = marker_of(proc)
        if value is not None and value.startswith(prefix):
            with contextlib.suppress(psutil.Error):
                if proc.status() != psutil.STATUS_ZOMBIE:
                    out.append(proc)
    return out


class Lock:
    """An advisory ``flock`` on a file; released when the holder exits, even by kill -9."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def acquire(self, *, blocking: bool = True, timeout: float = 30.0) -> bool:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if not blocking or time.monotonic() >= deadline:
                    os.close(self.fd)
                    self.fd = None
                    return False
                time.sleep(0.02)

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def is_held_elsewhere(self) -> bool:
        """True when another process holds the lock right now."""
        try:
            fd = os.open(self.path, os.O_RDWR)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def held(self, timeout: float = 30.0) -> Iterator[bool]:
        got = self.acquire(timeout=timeout)
        try:
            yield got
        finally:
            if got:
                self.release()
