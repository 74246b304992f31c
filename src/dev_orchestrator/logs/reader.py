"""Reading service logs: last N lines merged in time order, and following across rotation.

Lines in ``logs/<service>.log`` start with an ISO timestamp (``2026-11-26T12:01:07.311 ``),
which sorts as text, so merging is a heap merge on that prefix.
"""

from __future__ import annotations

import heapq
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

STAMP_LEN = len("2026-11-26T12:01:07.311 ")


@dataclass(frozen=True, order=True)
class LogLine:
    stamp: str
    service: str
    text: str

    @property
    def clock(self) -> str:
        """``12:01:07.311`` for display."""
        return self.stamp[11:23] if len(self.stamp) >= 23 else self.stamp


def parse(service: str, raw: str) -> LogLine:
    raw = raw.rstrip("\n")
    if len(raw) >= STAMP_LEN - 1 and raw[4:5] == "-" and raw[10:11] == "T":
        return LogLine(raw[: STAMP_LEN - 1], service, raw[STAMP_LEN:])
    return LogLine("", service, raw)


def tail_lines(path: Path, count: int, block: int = 1 << 16, upto: int | None = None) -> list[str]:
    """The last ``count`` lines of a file (before byte ``upto``), reading backwards in blocks."""
    if count <= 0:
        return []
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            end = fh.tell() if upto is None else min(upto, fh.tell())
            data = b""
            while end > 0 and data.count(b"\n") <= count:
                step = min(block, end)
                end -= step
                fh.seek(end)
                data = fh.read(step) + data
    except FileNotFoundError:
        return []
    lines = data.decode(errors="replace").splitlines()
    return lines[-count:]


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
    merged = list(heapq.merge(*per_service, key=lambda line: line.stamp))
    return merged[-count:] if count else []


class Follower:
    """Follows one log file: new lines as they come, across rotation and truncation."""

    def __init__(self, service: str, path: Path) -> None:
        self.service = service
        self.path = path
        self._fh: BinaryIO | None = None
        self._inode: int | None = None
        self.offset = 0
        self._partial = b""
        self._open(at_end=True)

    def _open(self, *, at_end: bool) -> None:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - kept open across polls on purpose
        except FileNotFoundError:
            self._fh = None
            self._inode = None
            return
        if at_end:
            fh.seek(0, os.SEEK_END)
        self.offset = fh.tell()
        self._fh = fh
        self._inode = os.fstat(fh.fileno()).st_ino

    def poll(self) -> list[LogLine]:
        out: list[LogLine] = []
        if self._fh is None:
            self._open(at_end=False)
            if self._fh is None:
                return out
        out.extend(self._read())
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            return out
        rotated = current.st_ino != self._inode
        truncated = not rotated and current.st_size < self._fh.tell()
        if rotated or truncated:
            out.extend(self._read())  # the rest of the old file first
            self._fh.close()
            self._partial = b""
            self._open(at_end=False)
            out.extend(self._read())
        return out

    def _read(self) -> list[LogLine]:
        assert self._fh is not None
        data = self._partial + self._fh.read()
        if not data:
            return []
        cut = data.rfind(b"\n")
        if cut < 0:
            self._partial = data
            return []
        self._partial = data[cut + 1 :]
        return [parse(self.service, raw) for raw in data[: cut + 1].decode(errors="replace").splitlines()]

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def followers(logs_dir: Path, services: list[str]) -> list[Follower]:
    """Followers positioned at the current end of each log (open them before reading the tail)."""
    return [Follower(s, logs_dir / f"{s}.log") for s in services]


def follow(watching: list[Follower], *, interval: float = 0.1) -> Iterator[LogLine]:
    """Yield new lines of every follower until interrupted (Ctrl-C)."""
    try:
        while True:
            batch: list[LogLine] = []
            for follower in watching:
                batch.extend(follower.poll())
            if batch:
                batch.sort(key=lambda line: line.stamp)
                yield from batch
            else:
                time.sleep(interval)
    finally:
        for follower in watching:
            follower.close()
