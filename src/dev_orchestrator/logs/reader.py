"""Reading service logs: last N lines merged in time order, and following across rotation.

Lines in ``logs/<service>.log`` start with an ISO timestamp (``2026-11-26T12:01:07.311 ``),
which sorts as text, so merging is a heap merge on that prefix. Lines end at ``\\n`` only:
a ``\\r`` (a progress bar) or any other control character is part of the line.

The tail reads backwards in blocks and stops as soon as it has enough lines, so its cost
depends on the lines shown, not on the size of the file.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from itertools import chain
from operator import attrgetter
from pathlib import Path
from typing import BinaryIO, NamedTuple

from ..config.gc_pause import gc_paused

STAMP_LEN = len("2026-11-26T12:01:07.311 ")
POLL_BYTES = 8 << 20  # read at most this much per poll; the next poll goes on from there
_LOOKS = 5  # scans of the rotated files before a poll gives up (a rotation kept moving them)
_UNPLACED_POLLS = 20  # polls without finding the file held among the rotated ones


class LogLine(NamedTuple):  # ordered by stamp, service, text; not a dataclass (see errors.py)
    stamp: str
    service: str
    text: str

    @property
    def clock(self) -> str:
        """``12:01:07.311`` for display."""
        return self.stamp[11:23] if len(self.stamp) >= 23 else self.stamp


def parse(service: str, raw: str) -> LogLine:
    """One line as written by the sink (without its ``\\n``; a final ``\\r`` of CRLF output goes too)."""
    raw = raw.rstrip("\n")
    if raw.endswith("\r"):
        raw = raw[:-1]
    if len(raw) >= STAMP_LEN - 1 and raw[4:5] == "-" and raw[10:11] == "T":
        return LogLine(raw[: STAMP_LEN - 1], service, raw[STAMP_LEN:])
    return LogLine("", service, raw)


def tail_lines(path: Path, count: int, block: int = 1 << 16, upto: int | None = None) -> list[str]:
    """The last ``count`` lines of a file (before byte ``upto``), reading backwards in blocks."""
    if count <= 0:
        return []
    try:
        with open(path, "rb") as fh:
            end = fh.seek(0, os.SEEK_END) if upto is None else min(upto, fh.seek(0, os.SEEK_END))
            blocks: list[bytes] = []
            newlines = 0
            pos = end
            # count + 1 newlines: the one before the first line shown, or the start of the file.
            while pos > 0 and newlines <= count:
                step = min(block, pos)
                pos -= step
                fh.seek(pos)
                chunk = fh.read(step)
                blocks.append(chunk)
                newlines += chunk.count(b"\n")
    except FileNotFoundError:
        return []
    data = b"".join(reversed(blocks))
    lines = data.split(b"\n")
    if not data or data.endswith(b"\n"):
        lines.pop()  # nothing after the last newline
    if pos > 0:
        del lines[0]  # the end of a line that began before what was read
    return [line.decode(errors="replace") for line in lines[-count:]]


@gc_paused()  # a million lines read at once: the collector's passes over them doubled the time
def last_lines(
    logs_dir: Path, services: list[str], count: int, upto: dict[str, int] | None = None
) -> list[LogLine]:
    """The last ``count`` lines of the selected services, merged in time order.

    ``upto`` (service -> byte offset) stops each file where a follower took over, so that
    no line is shown twice or lost between the tail and the follow.
    """
    upto = upto or {}
    per_service = [
        [parse(s, raw) for raw in tail_lines(logs_dir / f"{s}.log", count, upto=upto.get(s))] for s in services
    ]
    # Each file is in time order already: one service needs no merge, and a stable sort of
    # the runs one after another is the merge in C (timsort finds the runs), ties in the
    # order of ``services`` as heapq.merge gives them, without a Python call per line.
    merged = per_service[0] if len(per_service) == 1 else sorted(chain.from_iterable(per_service),
                                                                 key=attrgetter("stamp"))
    return merged[-count:] if count else []


FileId = tuple[int, int]  # (st_dev, st_ino)


def _file_id(path: Path) -> FileId | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class Follower:
    """Follows one log file: new lines as they come, across any number of rotations.

    The writer renames ``<name>`` -> ``<name>.1`` -> ``<name>.2`` ... and starts a new
    ``<name>``; it closes a file before renaming it, so a file that no longer has the name
    is complete. The follower keeps the file it reads open, reads it to its end even after
    it was renamed, then opens the file rotated right after it (found by inode among
    ``<name>.N``), and so on up to the current file: nothing is lost unless the writer
    deleted a file (more rotations than backups) before it was reached. A file truncated
    in place is read again from its start.
    """

    def __init__(self, service: str, path: Path) -> None:
        self.service = service
        self.path = path
        self._fh: BinaryIO | None = None
        self._id: FileId | None = None
        self.offset = 0
        self._partial = b""
        self._unplaced = 0  # polls in a row that did not find the held file among the rotated
        self._rotated_name = re.compile(re.escape(path.name) + r"\.(\d+)")
        self._open(at_end=True)

    def _open(self, *, at_end: bool) -> None:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - kept open across polls on purpose
        except FileNotFoundError:
            return
        if at_end:
            # Take over after the last complete line: a line being written is the follower's.
            end = fh.seek(0, os.SEEK_END)
            start = max(0, end - (1 << 16))
            fh.seek(start)
            cut = fh.read(end - start).rfind(b"\n")
            fh.seek(start + cut + 1 if cut >= 0 else (0 if start == 0 else end))
        self.offset = fh.tell()
        st = os.fstat(fh.fileno())
        self._fh, self._id = fh, (st.st_dev, st.st_ino)

    @gc_paused()  # up to 8 MB of lines at once, as in last_lines
    def poll(self) -> list[LogLine]:
        """The lines written since the last poll (at most about ``POLL_BYTES`` of them)."""
        return [parse(self.service, raw) for block in self.poll_text() for raw in block.split("\n")]

    def poll_text(self) -> list[str]:
        """``poll`` before parsing: blocks of whole lines as written, ``"\n"`` between the
        lines of a block and none after its last (for a reader that formats whole blocks)."""
        if self._fh is None:
            self._open(at_end=False)
            if self._fh is None:
                return []
        out: list[str] = []
        budget = POLL_BYTES
        while True:
            # Look before reading: once the name has moved on, the file held is complete.
            position = self._fh.tell()
            try:
                current = os.stat(self.path)
            except OSError:
                current = None  # between the writer's rename and its new file: look next poll
            moved = current is not None and (current.st_dev, current.st_ino) != self._id
            if current is not None and not moved and current.st_size < position:
                self._fh.seek(0)  # truncated in place
                self._partial = b""
            data = self._fh.read(budget)
            budget -= len(data)
            block = self._lines(data)
            if block is not None:
                out.append(block)
            if budget <= 0 or not moved:
                return out
            if self._partial:  # a finished file's last line, even without its newline
                out.append(self._partial.decode(errors="replace"))
                self._partial = b""
            if not self._advance():
                return out

    def _lines(self, data: bytes) -> str | None:
        """The whole lines ``data`` completes, as one block (None: no line ended)."""
        if not data:
            return None
        data = self._partial + data
        cut = data.rfind(b"\n")
        if cut < 0:
            self._partial = data
            return None
        self._partial = data[cut + 1 :]
        return data[:cut].decode(errors="replace")

    def _advance(self) -> bool:
        """Switch to the file written right after the (finished) one held; False: not found yet."""
        assert self._fh is not None and self._id is not None
        for _ in range(_LOOKS):
            n = next((n for n, path in self._rotated() if _file_id(path) == self._id), None)
            if n is None:
                if os.fstat(self._fh.fileno()).st_nlink == 0:
                    return self._after_deleted()  # rotated past the last backup
                continue  # being renamed while we looked
            self._unplaced = 0
            # The writer renames from the oldest down, so while ``<name>.n`` still holds our
            # file, the name below it holds the file that came next.
            below = self._name(n - 1)
            after = _file_id(below)
            if after is not None and _file_id(self._name(n)) == self._id:
                return self._switch(below, after)
        self._unplaced += 1
        if self._unplaced >= _UNPLACED_POLLS:  # moved away by hand: go on with the current file
            current = _file_id(self.path)
            return current is not None and self._switch(self.path, current)
        return False

    def _after_deleted(self) -> bool:
        # Every file still there came after the one held: go on with the oldest of them.
        assert self._fh is not None
        mtime = os.fstat(self._fh.fileno()).st_mtime_ns
        for path in [p for _n, p in reversed(self._rotated())] + [self.path]:
            try:
                st = os.stat(path)
            except OSError:
                continue
            if st.st_mtime_ns >= mtime:  # not a leftover of a run with more backups
                return self._switch(path, (st.st_dev, st.st_ino))
        return False

    def _rotated(self) -> list[tuple[int, Path]]:
        """``(N, <name>.N)`` of every rotated copy, newest (N = 1) first."""
        try:
            names = os.listdir(self.path.parent)
        except OSError:
            return []
        found = [(int(m.group(1)), name) for name in names if (m := self._rotated_name.fullmatch(name))]
        return [(n, self.path.with_name(name)) for n, name in sorted(found)]

    def _name(self, n: int) -> Path:
        return self.path if n == 0 else self.path.with_name(f"{self.path.name}.{n}")

    def _switch(self, path: Path, expected: FileId) -> bool:
        try:
            fh = open(path, "rb")  # noqa: SIM115 - kept open across polls on purpose
        except OSError:
            return False
        st = os.fstat(fh.fileno())
        if (st.st_dev, st.st_ino) != expected:  # renamed again before it was opened
            fh.close()
            return False
        assert self._fh is not None
        self._fh.close()
        self._fh, self._id = fh, expected
        return True

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def followers(logs_dir: Path, services: list[str]) -> list[Follower]:
    """Followers positioned at the current end of each log (open them before reading the tail)."""
    return [Follower(s, logs_dir / f"{s}.log") for s in services]


def follow_text(follower: Follower, *, interval: float = 0.1) -> Iterator[list[str]]:
    """One follower's new lines as ``poll_text`` blocks, a list per poll, until interrupted
    (nothing to merge with: the reader formats whole blocks)."""
    try:
        while True:
            blocks = follower.poll_text()
            if blocks:
                yield blocks
            else:
                time.sleep(interval)
    finally:
        follower.close()


def follow(watching: list[Follower], *, interval: float = 0.1) -> Iterator[list[LogLine]]:
    """Yield the new lines of every follower, a batch per poll in time order, until
    interrupted (Ctrl-C); the caller writes a batch out at once (one flush, not one a line)."""
    try:
        while True:
            batch: list[LogLine] = []
            for follower in watching:
                batch.extend(follower.poll())
            if batch:
                if len(watching) > 1:
                    batch.sort(key=attrgetter("stamp"))  # stable: each file's order kept
                yield batch
            else:
                time.sleep(interval)
    finally:
        for follower in watching:
            follower.close()
