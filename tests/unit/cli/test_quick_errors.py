"""The quick path's endings when printing fails: a reader that left, a bug, Ctrl-C."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from dev_orchestrator.cli import quick


class _Broken(io.StringIO):
    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error

    def write(self, text: str) -> int:
        raise self.error


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "services.yaml").write_text("name: q\nservices:\n  web:\n    command: sleep 1\n")
    (tmp_path / "logs").mkdir(mode=0o700)
    (tmp_path / "logs" / "web.log").write_text("2026-12-04T10:00:00.000 hello\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    return tmp_path


def test_a_reader_that_left_ends_quietly_with_exit_1(project: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdout", _Broken(BrokenPipeError()))
    assert quick.run(["logs", "-n", "5"]) == 1
    assert capsys.readouterr().err == ""


def test_a_bug_while_printing_is_the_full_clis_internal_error(project: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdout", _Broken(RuntimeError("boom")))
    assert quick.run(["logs", "-n", "5"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: internal error: RuntimeError: boom\n") and "--debug" in err


def test_ctrl_c_is_aborted_and_130(project: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdout", _Broken(KeyboardInterrupt()))
    assert quick.run(["logs", "-n", "5"]) == 130
    assert capsys.readouterr().err == "\nerror: aborted\n"


def test_the_plain_forms_only(project: Path) -> None:
    assert quick._parse("logs", ["-n", "²"]) is None  # isdigit, not a number int() takes
    assert quick._parse("logs", ["-n", "3", "web"]) == (["web"], {"lines": 3})
    assert quick._parse("status", ["--json", "--env", "dev"]) is None
    assert quick._parse("health", ["--deep", "web", "web"]) == (["web"], {"--deep": True})
    assert quick.run(["logs", "-n", "5", "nope"]) is None  # unknown: the full CLI says so
