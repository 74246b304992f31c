"""The spawn journal: lines of this run newer than the full state are laid over it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dev_orchestrator.state import JOURNAL_NAME, SpawnJournal, load_state, write_state


def _state(folder: Path, seq: int, token: str = "run-1") -> Path:
    path = folder / "state.json"
    write_state(path, {"run_token": token, "journal_seq": seq, "order": ["a"],
                       "services": {"a": {"state": "stopped", "pid": None}}})
    return path


def test_spawns_after_the_full_write_are_read_back(tmp_path: Path) -> None:
    path = _state(tmp_path, 0)
    journal = SpawnJournal(tmp_path / JOURNAL_NAME, "run-1")
    assert journal.append("a", {"state": "starting", "pid": 101}) == 1
    assert journal.append("b", {"state": "starting", "pid": 102}) == 2
    data = load_state(path)
    assert data is not None
    assert data["services"]["a"]["pid"] == 101 and data["services"]["b"]["pid"] == 102
    assert data["order"] == ["a", "b"] and data["journal_seq"] == 2
    assert (tmp_path / JOURNAL_NAME).stat().st_mode & 0o777 == 0o600
    journal.close()


def test_lines_the_full_state_covers_or_of_another_run_or_cut_short_are_ignored(tmp_path: Path) -> None:
    path = _state(tmp_path, 1)
    lines = [{"seq": 1, "run_token": "run-1", "service": "a", "record": {"pid": 1}},  # covered
             {"seq": 2, "run_token": "run-0", "service": "a", "record": {"pid": 2}},  # an older run
             {"seq": 3, "run_token": "run-1", "service": "a", "record": "not a record"}]
    text = "".join(json.dumps(line) + "\n" for line in lines) + '{"seq": 4, "run_token": "run-1", "serv'
    (tmp_path / JOURNAL_NAME).write_text(text)
    data = load_state(path)
    assert data is not None and data["services"]["a"]["pid"] is None and data["journal_seq"] == 1


def test_covered_empties_the_journal_only_when_nothing_newer_was_appended(tmp_path: Path) -> None:
    journal = SpawnJournal(tmp_path / JOURNAL_NAME, "run-1")
    journal.append("a", {"pid": 1})
    seq = journal.seq
    journal.append("a", {"pid": 2})
    journal.covered(seq)  # a spawn came after that snapshot: kept
    assert len((tmp_path / JOURNAL_NAME).read_text().splitlines()) == 2
    journal.covered(journal.seq)
    assert (tmp_path / JOURNAL_NAME).read_text() == ""
    journal.append("a", {"pid": 3})  # appends go on after the truncation
    assert [json.loads(x)["seq"] for x in (tmp_path / JOURNAL_NAME).read_text().splitlines()] == [3]
    journal.close()


def test_a_journal_left_by_an_earlier_supervisor_is_emptied_at_the_first_spawn(tmp_path: Path) -> None:
    (tmp_path / JOURNAL_NAME).write_text(json.dumps({"seq": 9, "run_token": "old", "service": "a",
                                                     "record": {"pid": 7}}) + "\n")
    journal = SpawnJournal(tmp_path / JOURNAL_NAME, "new")
    journal.append("a", {"pid": 8})
    assert [json.loads(x)["run_token"] for x in (tmp_path / JOURNAL_NAME).read_text().splitlines()] == ["new"]
    journal.close()


def test_the_journal_is_never_written_through_a_symlink(tmp_path: Path) -> None:
    import pytest

    from dev_orchestrator.errors import UsageError
    from dev_orchestrator.state import Paths

    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    paths = Paths(tmp_path)
    paths.dir.mkdir(mode=0o700)
    paths.journal.symlink_to(victim)
    with pytest.raises(UsageError, match="symlink"):
        paths.ensure()
    with pytest.raises(OSError):
        SpawnJournal(paths.journal, "run-1").append("a", {"pid": 1})
    assert victim.read_text() == "precious\n"


def test_a_short_write_is_cut_off_so_the_next_line_reads(tmp_path: Path, monkeypatch: Any) -> None:
    import dev_orchestrator.state as state

    path = _state(tmp_path, 0)
    journal = SpawnJournal(tmp_path / JOURNAL_NAME, "run-1")
    journal.append("a", {"pid": 1})
    real_write = state.os.write
    monkeypatch.setattr(state.os, "write", lambda fd, data: real_write(fd, data[:10]))  # a disk filling up
    try:
        journal.append("b", {"pid": 2})
    except OSError as exc:
        assert "short write" in str(exc)
    else:
        raise AssertionError("a short write must fail")
    monkeypatch.setattr(state.os, "write", real_write)
    journal.append("c", {"pid": 3})
    data = load_state(path)
    assert data is not None
    assert {n: r["pid"] for n, r in data["services"].items() if r.get("pid")} == {"a": 1, "c": 3}
    journal.close()
