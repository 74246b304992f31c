"""``logs -f`` against a service that writes in bursts rotating its log several times
between two polls: a writer thread on the real sink, the follower polling meanwhile."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from dev_orchestrator.logs.reader import Follower, LogLine
from dev_orchestrator.logs.writer import LogSink

BURSTS = 40
LINES = 2000  # about 230 KiB a burst: three rotations or more of 64 KiB, kept by 5 backups
PAD = "x" * 80


def numbers(lines: list[LogLine]) -> list[int]:
    return [int(line.text[2:9]) for line in lines if line.text.startswith("n=")]


class Polls:
    """How many polls the follower has finished; the writer waits on it between bursts."""

    def __init__(self) -> None:
        self.done = 0
        self.changed = threading.Condition()

    def finished_one(self) -> None:
        with self.changed:
            self.done += 1
            self.changed.notify_all()

    def wait_for_two_more(self) -> None:
        # Two polls after this point: the second started after the burst ended, so it read
        # all of it; the next burst cannot outrun the backups.
        with self.changed:
            target = self.done + 2
            self.changed.wait_for(lambda: self.done >= target, timeout=10)


@pytest.mark.timeout(120)
def test_follow_sees_every_line_once_and_in_order_through_bursts_of_rotations(tmp_path: Path) -> None:
    path = tmp_path / "svc.log"
    sink = LogSink("svc", path, max_bytes=64 << 10, backups=5)
    sink.feed(b"before the follower\n")
    follower = Follower("svc", path)
    polls = Polls()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            n = 0
            for _ in range(BURSTS):
                top = n + LINES
                while n < top:
                    sink.feed(b"".join(f"n={i:07d} {PAD}\n".encode() for i in range(n, n + 20)))
                    n += 20
                polls.wait_for_two_more()
        except BaseException as exc:  # reported by the test below
            errors.append(exc)
        finally:
            sink.close()

    writer = threading.Thread(target=write, name="log-writer")
    writer.start()
    seen: list[int] = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and (writer.is_alive() or not seen or seen[-1] != BURSTS * LINES - 1):
            seen += numbers(follower.poll())
            polls.finished_one()
    finally:
        writer.join(30)
        seen += numbers(follower.poll())
        follower.close()
    assert not errors
    assert not writer.is_alive()
    assert len(seen) == BURSTS * LINES
    assert seen == list(range(BURSTS * LINES))
