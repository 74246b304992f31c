"""One service's log: timestamped lines to ``logs/<service>.log`` with size rotation.

Hot path: output arrives in chunks of up to 64 KiB; each chunk gets one timestamp
prefixed to all of its lines with a single ``bytes.replace`` (C speed), so a service
writing hundreds of MB/s is logged completely without a Python loop per line.
"""

from __future__ import annotations

import os
import re
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

LineListener = Callable[[str, bytes], None]


def timestamp(now: float | None = None) -> bytes:
    now = time.time() if now is None else now
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now))
    return f"{base}.{int(now % 1 * 1000):03d} ".encode()


class LogSink:
    """Receives a service's raw output, writes complete lines to a rotating file.

    Listeners get each batch of complete lines (``b"line\\n..."``, without timestamps);
    a log-line probe registers a regex and is told on the first match.
    """

    def __init__(self, service: str, path: Path, *, max_bytes: int = 10 << 20, backups: int = 3) -> None:
        self.service = service
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._size = os.fstat(self._fd).st_size
        self._pending: dict[str, bytes] = {}
        self._listeners: list[LineListener] = []
        self._watchers: list[tuple[re.Pattern[bytes], Callable[[str], None]]] = []
        self.tail: deque[bytes] = deque(maxlen=20)

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
        out = stamp + lines[:-1].replace(b"\n", b"\n" + stamp) + b"\n"
        if self._size + len(out) > self.max_bytes and self._size > 0:
            self._rotate()
        os.write(self._fd, out)
        self._size += len(out)
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

    def _remember(self, lines: bytes) -> None:
        # Keep the last lines for failure reports without splitting huge chunks.
        tail = lines[-8192:].split(b"\n")[-21:-1] if len(lines) > 8192 else lines.split(b"\n")[:-1]
        self.tail.extend(tail)

    def _rotate(self) -> None:
        os.close(self._fd)
        for i in range(self.backups, 0, -1):
            src = self.path.with_name(f"{self.path.name}.{i - 1}") if i > 1 else self.path
            dst = self.path.with_name(f"{self.path.name}.{i}")
            if src.exists():
                os.replace(src, dst)
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self._size = 0

    def last_lines(self, count: int = 20) -> list[str]:
        return [line.decode(errors="replace") for line in list(self.tail)[-count:]]

    def close(self) -> None:
        self.flush()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
