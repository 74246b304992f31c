"""The transition table, the backoff schedule and log sink details, without processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from dev_orchestrator.logs.writer import LogSink
from dev_orchestrator.runtime import events as ev
from dev_orchestrator.runtime.states import TRANSITIONS, State, TransitionError, check_transition
from dev_orchestrator.runtime.unit import BACKOFF_CAP, backoff_delay


def test_every_state_has_a_row_and_stopped_only_starts() -> None:
    assert set(TRANSITIONS) == set(State)
    assert TRANSITIONS[State.STOPPED] == {State.STARTING}


@pytest.mark.parametrize(
    ("old", "new"),
    [(State.STOPPED, State.RUNNING), (State.STOPPED, State.FAILED), (State.STOPPING, State.RUNNING)],
)
def test_illegal_transitions_raise(old: State, new: State) -> None:
    with pytest.raises(TransitionError, match=f"svc: illegal transition {old.value} -> {new.value}"):
        check_transition("svc", old, new)


def test_restart_paths_are_legal() -> None:
    for old in (State.RUNNING, State.EXITED, State.FAILED):
        check_transition("svc", old, State.STARTING)


def test_backoff_doubles_from_half_a_second_to_the_cap() -> None:
    assert [backoff_delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert backoff_delay(40) == BACKOFF_CAP == 30.0


def test_exit_descriptions() -> None:
    assert ev.Exited("a", 3).describe() == "exited with code 3"
    assert ev.Exited("a", None, 9).describe() == "killed by SIGKILL"


def test_sink_timestamps_every_line_and_keeps_partial_lines(tmp_path: Path) -> None:
    sink = LogSink("svc", tmp_path / "svc.log")
    got: list[bytes] = []
    sink.add_listener(lambda _name, lines: got.append(lines))
    sink.feed(b"one\ntw")
    sink.feed(b"o\nthree")
    sink.close()
    lines = (tmp_path / "svc.log").read_text().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["one", "two", "three"]
    assert got == [b"one\n", b"two\n", b"three\n"]
    assert sink.last_lines(2) == ["two", "three"]


def test_sink_keeps_streams_apart(tmp_path: Path) -> None:
    sink = LogSink("svc", tmp_path / "svc.log")
    sink.feed(b"out-", "stdout")
    sink.feed(b"err\n", "stderr")
    sink.feed(b"line\n", "stdout")
    sink.close()
    assert [line.split(" ", 1)[1] for line in (tmp_path / "svc.log").read_text().splitlines()] == ["err", "out-line"]


def test_sink_watch_fires_once_on_the_matching_line(tmp_path: Path) -> None:
    sink = LogSink("svc", tmp_path / "svc.log")
    seen: list[str] = []
    sink.watch(r"listening on \d+", seen.append)
    sink.feed(b"booting\nnow listening on 8000 ok\nlistening on 9\n")
    sink.close()
    assert seen == ["now listening on 8000 ok"]


def test_sink_rotation_keeps_n_backups(tmp_path: Path) -> None:
    sink = LogSink("svc", tmp_path / "svc.log", max_bytes=1024, backups=2)
    for i in range(200):
        sink.feed(f"line {i:04d}\n".encode())
    sink.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["svc.log", "svc.log.1", "svc.log.2"]
    last = (tmp_path / "svc.log").read_text().splitlines()[-1]
    assert last.endswith("line 0199")
