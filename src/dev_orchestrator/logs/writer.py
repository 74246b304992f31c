"""One service's log: timestamped lines to ``logs/<service>.log`` with size rotation.

Hot path: output arrives in chunks of up to 64 KiB; each chunk gets one timestamp
prefixed to all of its lines with a single ``bytes.replace`` (C speed), so a service
writing hundreds of MB/s is logged completely without a Python loop per line.

What services print can be secret, so the folder is 0700 and the files are 0600 (existing
ones of ours are tightened; a symlink as the folder or the file is refused, never
followed). A write that fails (disk full, quota, I/O error) never reaches the pipe reader
that feeds the sink, or the service would block on a full pipe: the bytes are dropped and
counted, the in-memory tail, listeners and watchers go on, and the file says how much is
missing once writing works again.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from ..errors import UsageError

LineListener = Callable[[str, bytes], None]
Opener = Callable[[Path, int, int], int]
"""Opens a log file like ``os.open(path, flags, mode)``; a seam (tests give ``/dev/full``)."""

DIR_MODE = 0o700
FILE_MODE = 0o600
_ROTATED = re.compile(r".+\.log\.\d+")  # a rotated backup: <service>.log.1, .2, ...
_TIGHTENED: set[Path] = set()  # log folders whose backups were made private by this process
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
_REASONS = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large",
    errno.EIO: "I/O error",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ELOOP: "is a symlink",
}


def timestamp(now: float | None = None) -> bytes:
    now = time.time() if now is None else now
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now))
    return f"{base}.{int(now % 1 * 1000):03d} ".encode()


def human_size(count: int) -> str:
    """``512 bytes``, ``3.2 kB``, ``1.2 MB``: decimal units, as disk tools print them."""
    if count < 1000:
        return f"{count} bytes"
    value = float(count)
    for unit in ("kB", "MB", "GB"):
        value /= 1000
        if value < 999.95 or unit == "GB":
            break
    return f"{value:.1f} {unit}"


def _reason(exc: OSError) -> str:
    return _REASONS.get(exc.errno or 0) or (exc.strerror or str(exc)).lower()


class LogSink:
    """Receives a service's raw output, writes complete lines to a rotating file.

    Listeners get each batch of complete lines (``b"line\\n..."``, without timestamps);
    a log-line probe registers a regex and is told on the first match.
    """

    def __init__(
        self,
        service: str,
        path: Path,
        *,
        max_bytes: int = 10 << 20,
        backups: int = 3,
        opener: Opener = os.open,
    ) -> None:
        self.service = service
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._opener = opener
        self._pending: dict[str, bytes] = {}
        self._listeners: list[LineListener] = []
        self._watchers: list[tuple[re.Pattern[bytes], Callable[[str], None]]] = []
        self.tail: deque[bytes] = deque(maxlen=20)
        self.dropped_bytes = 0  # output (timestamps included) that could not be written
        self._unreported = 0  # dropped since the file last said so
        self._failure: str | None = None  # why the last write failed; None once one works again
        self._cause: str | None = None  # why bytes were dropped, for ``problem``
        self._rotation_failure: str | None = None
        self._midline = False  # a short write left the file in the middle of a line
        _private_folder(path.parent)
        try:
            self._fd = opener(path, _OPEN_FLAGS, FILE_MODE)
        except OSError as exc:
            raise _unusable(path, path.parent, exc) from exc
        self._size = os.fstat(self._fd).st_size
        _make_private(self._fd)
        self._tighten_rotated()

    @property
    def problem(self) -> str | None:
        """What went wrong writing this log (``logs/web.log: disk full, 1.2 MB dropped``), or None."""
        parts = []
        if self.dropped_bytes:
            again = "; writing again" if self._failure is None else ""
            parts.append(f"{self._cause}, {human_size(self.dropped_bytes)} dropped{again}")
        if self._rotation_failure:
            parts.append(self._rotation_failure)
        return f"{self.path}: " + "; ".join(parts) if parts else None

    def add_listener(self, listener: LineListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: LineListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def watch(self, pattern: str, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call ``callback(line)`` once on the first line matching ``pattern``; returns an unwatch."""
        entry = (re.compile(pattern.encode(), re.MULTILINE), callback)
        self._watchers.append(entry)

        def unwatch() -> None:
            if entry in self._watchers:
                self._watchers.remove(entry)

        return unwatch

    def feed(self, data: bytes, stream: str = "stdout") -> None:
        """Take a raw chunk; write out every complete line it finishes."""
        data = self._pending.pop(stream, b"") + data
        cut = data.rfind(b"\n")
        if cut < 0:
            if len(data) > 1 << 20:  # a very long line without newline: flush it as is
                data += b"\n"
                cut = len(data) - 1
            else:
                self._pending[stream] = data
                return
        lines, rest = data[: cut + 1], data[cut + 1 :]
        if rest:
            self._pending[stream] = rest
        self._emit(lines)

    def flush(self) -> None:
        """Write out partial lines (the service exited without a final newline)."""
        for stream in list(self._pending):
            rest = self._pending.pop(stream)
            if rest:
                self._emit(rest + b"\n")

    def note(self, message: str) -> None:
        """A line from the orchestrator itself (e.g. "exited with code 1")."""
        self._emit(f"[dev-orchestrator] {message}\n".encode())

    def _emit(self, lines: bytes) -> None:
        stamp = timestamp()
        self._write(stamp + lines[:-1].replace(b"\n", b"\n" + stamp) + b"\n", stamp)
        self._remember(lines)
        for pattern, callback in list(self._watchers):
            match = pattern.search(lines)
            if match:
                self._watchers.remove((pattern, callback))
                start = lines.rfind(b"\n", 0, match.start()) + 1
                end = lines.find(b"\n", match.end())
                callback(lines[start:end].decode(errors="replace"))
        for listener in self._listeners:
            listener(self.service, lines)

    def _write(self, out: bytes, stamp: bytes) -> None:
        """Append ``out`` to the file, or drop and count it; never raises."""
        if self._size + len(out) > self.max_bytes and self._size > 0:
            self._rotate()
        if self._fd < 0 and not self._reopen():
            self._drop(len(out))
            return
        if self._unreported:
            notice = (
                f"[dev-orchestrator] {human_size(self._unreported)} of output could not be written here"
                f" ({self._cause})\n"
            ).encode()
            lead = b"\n" if self._midline else b""
            if self._put(lead + stamp + notice) < len(lead) + len(stamp) + len(notice):
                self._drop(len(out))
                return
            self._unreported = 0
        written = self._put(out)
        if written < len(out):
            self._drop(len(out) - written)

    def _put(self, data: bytes) -> int:
        """Write all of ``data`` (on again after a short write); how many bytes reached the file."""
        try:
            done = os.write(self._fd, data)
        except OSError as exc:
            self._failure = _reason(exc)
            return 0
        if done < len(data):
            done = self._put_rest(data, done)
        if done == len(data):
            self._failure = None
            self._midline = False
        elif done:
            self._midline = data[done - 1] != 0x0A
        self._size += done
        return done

    def _put_rest(self, data: bytes, done: int) -> int:
        view = memoryview(data)
        while done < len(data):
            try:
                wrote = os.write(self._fd, view[done:])
            except OSError as exc:
                self._failure = _reason(exc)
                break
            if wrote <= 0:
                self._failure = "nothing written"
                break
            done += wrote
        return done

    def _drop(self, count: int) -> None:
        self.dropped_bytes += count
        self._unreported += count
        self._cause = self._failure or self._cause

    def _remember(self, lines: bytes) -> None:
        # Keep the last lines for failure reports without splitting huge chunks.
        tail = lines[-8192:].split(b"\n")[-21:-1] if len(lines) > 8192 else lines.split(b"\n")[:-1]
        self.tail.extend(tail)

    def _rotate(self) -> None:
        """``<name>`` -> ``<name>.1`` -> ... -> ``<name>.<backups>``, then a new file.

        A rename that fails leaves the current file in place: writing goes on there and the
        next try comes after another ``max_bytes`` (not on every write).
        """
        self._close_fd()
        try:
            for i in range(self.backups, 0, -1):
                src = self.path.with_name(f"{self.path.name}.{i - 1}") if i > 1 else self.path
                if os.path.lexists(src):
                    os.replace(src, self.path.with_name(f"{self.path.name}.{i}"))
            if self.backups == 0:
                self.path.unlink(missing_ok=True)
        except OSError as exc:
            where = f": {Path(exc.filename2).name}" if exc.filename2 else ""
            self._rotation_failure = f"cannot rotate ({exc.strerror or exc}{where}); the file keeps growing"
        else:
            self._rotation_failure = None
        self._size = 0
        self._reopen()

    def _reopen(self) -> bool:
        try:
            self._fd = self._opener(self.path, _OPEN_FLAGS, FILE_MODE)
        except OSError as exc:
            self._fd = -1
            self._failure = _reason(exc)
            return False
        _make_private(self._fd)
        return True

    def _tighten_rotated(self) -> None:
        # Backups written before files were private: make them 0600 too. Once per folder
        # and process: a pass over the folder for each of 500 services was O(N^2).
        folder = self.path.parent
        if folder in _TIGHTENED:
            return
        with contextlib.suppress(OSError):
            for entry in os.scandir(folder):
                if _ROTATED.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    if st.st_uid == os.geteuid() and st.st_mode & 0o077:
                        os.chmod(entry.path, stat.S_IMODE(st.st_mode) & 0o700)
            _TIGHTENED.add(folder)

    def last_lines(self, count: int = 20) -> list[str]:
        return [line.decode(errors="replace") for line in list(self.tail)[-count:]]

    def _close_fd(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):  # EIO on close: nothing more to do for that file
                os.close(self._fd)
            self._fd = -1

    def close(self) -> None:
        self.flush()
        self._close_fd()


def _private_folder(folder: Path) -> None:
    """Create ``folder`` 0700, or take group and other access away if it is ours; never via a symlink."""
    if folder.is_symlink():
        raise _symlink(folder)
    try:
        folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise _unusable(folder, folder.parent, exc) from exc
    try:
        _make_private(fd)
    finally:
        os.close(fd)


def _make_private(fd: int) -> None:
    # Only real files and folders that are ours: never a device (a test opens /dev/full) or
    # something another user owns.
    with contextlib.suppress(OSError):
        st = os.fstat(fd)
        kind_ok = stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)
        if kind_ok and st.st_uid == os.geteuid() and st.st_mode & 0o077:
            os.fchmod(fd, stat.S_IMODE(st.st_mode) & 0o700)


def _symlink(path: Path) -> UsageError:
    try:
        target = f" to {os.readlink(path)}"
    except OSError:
        target = ""
    return UsageError(
        f"{path} is a symlink{target}; logs are kept private and never written through a link: "
        f"remove it (rm {path}) and run the command again"
    )


def _unusable(path: Path, folder: Path, exc: OSError) -> UsageError:
    """The boundary: why the logs folder or a log file cannot be used, with the fix."""
    if exc.errno == errno.ELOOP:
        return _symlink(path)
    if exc.errno in (errno.EACCES, errno.EPERM):
        fix = f"make {folder} writable for you (chmod u+rwx {folder})"
    elif exc.errno in (errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
        fix = f"move away what is in the way of {path}"
    else:
        fix = f"free space or repair {folder}"
    return UsageError(f"cannot write logs to {path}: {_reason(exc)}; {fix}")
