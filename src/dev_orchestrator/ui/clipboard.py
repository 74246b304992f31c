"""Copying text out of the dashboard: OSC 52 (the terminal puts it on the clipboard, also
over SSH), and a file beside the state that always holds the last copy.

A terminal may ignore OSC 52 without saying so (some do, or cap its size), so the text is
written to ``.orchestrator/clipboard.txt`` as well, private (0600) like the logs.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

OSC52_LIMIT = 100_000  # bytes of base64: terminals drop larger sequences (xterm's default cap)


def osc52(text: str, *, tmux: bool = False) -> str:
    """The escape sequence that asks the terminal to put ``text`` on the clipboard.

    Inside tmux the sequence is wrapped in a DCS passthrough, which tmux hands on to the
    terminal it runs in.
    """
    payload = base64.b64encode(text.encode("utf-8")).decode("ascii")
    sequence = f"\x1b]52;c;{payload}\x07"
    if tmux:
        sequence = "\x1bPtmux;" + sequence.replace("\x1b", "\x1b\x1b") + "\x1b\\"
    return sequence


@dataclass(frozen=True)
class Copied:
    lines: int
    sent: bool  # the OSC 52 sequence went to the terminal
    file: Path | None  # where the text was saved (None: it could not be)
    reason: str = ""  # why it was not sent, or the file not written

    def message(self) -> str:
        what = f"copied {self.lines} line{'s' if self.lines != 1 else ''}"
        where = []
        if self.sent:
            where.append("to the clipboard (OSC 52)")
        if self.file is not None:
            where.append(f"{'also ' if self.sent else ''}saved in {self.file}")
        if self.reason:
            where.append(self.reason)
        return f"{what} " + "; ".join(where)


def save(text: str, path: Path) -> None:
    """Write ``text`` to ``path``, 0600, never through a symlink."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


def copy_text(text: str, *, write: Callable[[str], None] | None, fallback: Path,
              tmux: bool | None = None) -> Copied:
    """Send ``text`` through OSC 52 with ``write`` (None: no terminal) and save it to ``fallback``."""
    tmux = bool(os.environ.get("TMUX")) if tmux is None else tmux
    sequence = osc52(text, tmux=tmux)
    lines = len(text.splitlines())
    sent = False
    reasons = []
    if write is None:
        reasons.append("no terminal to send it to")
    elif len(sequence) > OSC52_LIMIT:
        reasons.append(f"too large for OSC 52 ({len(sequence)} bytes)")
    else:
        write(sequence)
        sent = True
    saved: Path | None = fallback
    try:
        save(text, fallback)
    except OSError as exc:
        saved = None
        reasons.append(f"cannot write {fallback}: {exc.strerror or exc}")
    return Copied(lines, sent, saved, "; ".join(reasons))
