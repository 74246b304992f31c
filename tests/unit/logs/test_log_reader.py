"""Reading logs: the last N lines of large files, lines holding a carriage return, and
following a log across any number of rotations, on real files written by the real sink."""

from __future__ import annotations

from pathlib import Path

import pytest

from dev_orchestrator.logs.reader import STAMP_LEN, Follower, follow, last_lines, tail_lines
from dev_orchestrator.logs.writer import LogSink

STAMP = "2026-11-26T12:01:07.311 "
PAD = "x" * 80


def numbers(lines: list[str]) -> list[int]:
    return [int(line.split("n=", 1)[1][:7]) for line in lines if "n=" in line]


def feed_numbered(sink: LogSink, first: int, count: int, per_chunk: int = 20) -> int:
    """Feed lines ``n=<first>`` .. in chunks as a service's pipe delivers them; the next number."""
    n = first
    while n < first + count:
        top = min(n + per_chunk, first + count)
        sink.feed(b"".join(f"n={i:07d} {PAD}\n".encode() for i in range(n, top)))
        n = top
    return n


# -- tail -----------------------------------------------------------------------------------


@pytest.mark.timeout(120)  # a bound on the run, not a measurement: reading must be linear
def test_tail_of_a_large_file_with_long_lines_is_exact(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    width = 48 * 1024
    pad = b"y" * width
    total = 2600  # about 125 MB; the last 1500 lines alone are about 72 MB
    with open(path, "wb") as fh:
        for start in range(0, total, 100):
            fh.write(b"".join(b"%sn=%07d %s\n" % (STAMP.encode(), i, pad) for i in range(start, start + 100)))
    for block in (1 << 16, 4096):
        got = tail_lines(path, 1500, block=block)
        assert len(got) == 1500
        assert numbers(got) == list(range(total - 1500, total))
        assert all(len(line) == STAMP_LEN + len("n=0000000 ") + width for line in got)
    assert numbers(tail_lines(path, 3)) == [total - 3, total - 2, total - 1]


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64, 1 << 16])
def test_tail_is_exact_for_any_block_size(tmp_path: Path, block: int) -> None:
    path = tmp_path / "svc.log"
    lines = [f"{STAMP}line {i} {'z' * (i % 13)}" for i in range(40)]
    path.write_bytes(("\n".join(lines) + "\n").encode())
    for count in (1, 2, 5, 39, 40, 41, 1000):
        assert tail_lines(path, count, block=block) == lines[-count:]
    assert tail_lines(path, 0, block=block) == []
    # The last line without its newline yet is a line too.
    path.write_bytes(("\n".join(lines)).encode())
    assert tail_lines(path, 3, block=block) == lines[-3:]
    # ``upto`` stops the tail where a follower took over.
    upto = len(("\n".join(lines[:10]) + "\n").encode())
    path.write_bytes(("\n".join(lines) + "\n").encode())
    assert tail_lines(path, 4, block=block, upto=upto) == lines[6:10]
    assert tail_lines(path, 4, block=block, upto=0) == []


def test_tail_of_an_empty_or_missing_file(tmp_path: Path) -> None:
    (tmp_path / "empty.log").write_bytes(b"")
    assert tail_lines(tmp_path / "empty.log", 10) == []
    assert tail_lines(tmp_path / "missing.log", 10) == []
    (tmp_path / "nl.log").write_bytes(b"\n\n")
    assert tail_lines(tmp_path / "nl.log", 10) == ["", ""]


def test_tail_keeps_a_line_with_carriage_returns_whole(tmp_path: Path) -> None:
    sink = LogSink("svc", tmp_path / "svc.log")
    sink.feed(b"first\nprogress 10%\rprogress 20%\rprogress 30%\nform\x0cfeed and \x1e and \xc2\x85\nlast\r\n")
    sink.close()
    texts = [line.text for line in last_lines(tmp_path, ["svc"], 10)]
    assert texts == ["first", "progress 10%\rprogress 20%\rprogress 30%", "form\x0cfeed and \x1e and \x85", "last"]
    assert [line.split(" ", 1)[1] for line in tail_lines(tmp_path / "svc.log", 2)] == [
        "form\x0cfeed and \x1e and \x85",
        "last\r",
    ]


# -- follow ---------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_follow_keeps_a_line_with_carriage_returns_whole_and_in_order(tmp_path: Path) -> None:
    sink = LogSink("svc", tmp_path / "svc.log")
    sink.feed(b"before\n")
    watching = [Follower("svc", tmp_path / "svc.log")]
    sink.feed(b"one\ntwo 10%\rtwo 20%\nthree\n")
    batches = follow(watching, interval=0.01)
    got = [line.text for line in next(batches)]  # one poll: the three lines in one batch
    batches.close()
    sink.close()
    assert got == ["one", "two 10%\rtwo 20%", "three"]


def test_follower_reads_every_file_of_several_rotations_between_polls(tmp_path: Path) -> None:
    path = tmp_path / "svc.log"
    sink = LogSink("svc", path, max_bytes=64 << 10, backups=5)
    sink.feed(b"before the follower\n")
    follower = Follower("svc", path)
    seen: list[int] = []
    n = 0
    for _burst in range(20):
        first = n
        n = feed_numbered(sink, n, 2000)  # about 230 KiB: three rotations or more per poll
        # svc.log.2 began in this burst: the rotations that made .2, .1 and the current file
        # all happened since the last poll.
        assert numbers([(tmp_path / "svc.log.2").read_text().split("\n", 1)[0]])[0] >= first
        seen += numbers([line.text for line in follower.poll()])
    sink.close()
    seen += numbers([line.text for line in follower.poll()])
    follower.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["svc.log"] + [f"svc.log.{i}" for i in range(1, 6)]
    assert seen == list(range(n))


def test_follower_without_backups_follows_each_new_file(tmp_path: Path) -> None:
    path = tmp_path / "svc.log"
    sink = LogSink("svc", path, max_bytes=4096, backups=0)
    follower = Follower("svc", path)
    seen: list[int] = []
    n = 0
    for _ in range(30):
        n = feed_numbered(sink, n, 30, per_chunk=30)  # one rotation per poll
        seen += numbers([line.text for line in follower.poll()])
    sink.close()
    follower.close()
    assert seen == list(range(n))


def test_follower_loses_only_files_already_deleted_and_never_repeats(tmp_path: Path) -> None:
    path = tmp_path / "svc.log"
    sink = LogSink("svc", path, max_bytes=8 << 10, backups=2)
    follower = Follower("svc", path)
    seen: list[int] = []
    n = 0
    for burst in range(12):
        # Odd bursts outrun the two backups, so some files are gone before the poll.
        n = feed_numbered(sink, n, 600 if burst % 2 else 60)
        seen += numbers([line.text for line in follower.poll()])
    sink.close()
    seen += numbers([line.text for line in follower.poll()])
    follower.close()
    assert seen == sorted(set(seen))
    assert seen[-1] == n - 1
    on_disk = numbers(
        [line for name in ("svc.log.2", "svc.log.1", "svc.log") for line in (tmp_path / name).read_text().splitlines()]
    )
    assert seen[-len(on_disk) :] == on_disk


def test_follower_starts_again_after_truncation(tmp_path: Path) -> None:
    path = tmp_path / "svc.log"
    path.write_bytes(f"{STAMP}old 1\n{STAMP}old 2\n".encode())
    follower = Follower("svc", path)
    assert follower.poll() == []
    with open(path, "r+b") as fh:
        fh.truncate(0)
    assert follower.poll() == []
    with open(path, "ab") as fh:
        fh.write(f"{STAMP}new\n".encode())
    assert [line.text for line in follower.poll()] == ["new"]
    follower.close()


def test_follower_takes_over_at_a_line_boundary(tmp_path: Path) -> None:
    path = tmp_path / "svc.log"
    path.write_bytes(f"{STAMP}one\n{STAMP}tw".encode())  # the writer is in the middle of a line
    follower = Follower("svc", path)
    assert [line.text for line in last_lines(tmp_path, ["svc"], 10, {"svc": follower.offset})] == ["one"]
    with open(path, "ab") as fh:
        fh.write(b"o\n")
    assert [line.text for line in follower.poll()] == ["two"]
    follower.close()
