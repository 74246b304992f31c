"""OSC 52 copy: the escape sequence, tmux passthrough, the size cap and the file."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

from dev_orchestrator.ui.clipboard import OSC52_LIMIT, copy_text, osc52


def test_sequence_carries_base64_of_utf8() -> None:
    seq = osc52("héllo\nworld")
    assert seq.startswith("\x1b]52;c;") and seq.endswith("\x07")
    assert base64.b64decode(seq[7:-1]).decode() == "héllo\nworld"


def test_tmux_passthrough_doubles_escapes() -> None:
    seq = osc52("x", tmux=True)
    assert seq.startswith("\x1bPtmux;\x1b\x1b]52;c;") and seq.endswith("\x07\x1b\\")


def test_copy_sends_and_saves(tmp_path: Path) -> None:
    sent: list[str] = []
    target = tmp_path / "clipboard.txt"
    done = copy_text("a\nb", write=sent.append, fallback=target, tmux=False)
    assert sent == [osc52("a\nb")]
    assert target.read_text() == "a\nb"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert done.sent and done.lines == 2
    assert done.message() == f"copied 2 lines to the clipboard (OSC 52); also saved in {target}"


def test_no_terminal_or_too_large_falls_back_to_the_file(tmp_path: Path) -> None:
    target = tmp_path / "clipboard.txt"
    done = copy_text("one", write=None, fallback=target, tmux=False)
    assert not done.sent and target.read_text() == "one"
    assert "no terminal" in done.message()
    sent: list[str] = []
    big = "x" * OSC52_LIMIT
    done = copy_text(big, write=sent.append, fallback=target, tmux=False)
    assert sent == [] and not done.sent and "too large" in done.reason
    assert target.read_text() == big


def test_never_writes_through_a_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    link = tmp_path / "clipboard.txt"
    link.symlink_to(victim)
    done = copy_text("new", write=None, fallback=link, tmux=False)
    assert done.file is None and "cannot write" in done.reason
    assert victim.read_text() == "keep"
