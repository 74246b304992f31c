"""The live start-up view on a terminal: one line per service that changes in place
(waiting for redis, starting, probing 3, healthy in 0.9s), drawn with rich.

Only on a TTY without NO_COLOR; elsewhere the same progress comes as plain lines. The
view is transient: when it closes, the plain lines of what happened are printed, so the
scrollback reads the same either way.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from .progress import record_line, seconds


def wanted() -> bool:
    return sys.stderr.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


class LiveView:
    def __init__(self, names: Iterable[str], deps: Mapping[str, Iterable[str]], width: int) -> None:
        self.names = list(names)
        self.width = width
        self.state: dict[str, tuple[str, str]] = {}  # name -> (style, text)
        for name in self.names:
            needs = [d for d in deps.get(name, ()) if d in self.names]
            self.state[name] = ("dim", f"waiting for {', '.join(needs)}" if needs else "queued")
        self.lines: list[str] = []
        self._live: Any = None

    @property
    def active(self) -> bool:
        return self._live is not None

    def __enter__(self) -> LiveView:
        from rich.console import Console
        from rich.live import Live

        console = Console(file=sys.stderr)
        # Service output (`up`) printed meanwhile scrolls above the live lines.
        self._live = Live(self._render(), console=console, transient=True, refresh_per_second=12,
                          redirect_stdout=True, redirect_stderr=False)
        self._live.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._live.__exit__(kind, exc, tb)
        self._live = None
        for line in self.lines:
            print(line, file=sys.stderr)
        self.lines.clear()

    def update(self, record: dict[str, Any]) -> None:
        """Take one progress record; keep its plain line for the scrollback."""
        line = record_line(record, self.width)
        if line:
            self.lines.append(line)
        name = record.get("service")
        if name not in self.state:
            return
        kind = record["kind"]
        took = f" in {seconds(record['elapsed'])}" if "elapsed" in record else ""
        if kind == "Starting":
            self.state[name] = ("yellow", "starting")
        elif kind == "Spawned":
            what = "probing" if record.get("has_healthcheck") else ("running" if not record.get("one_shot") else "running (one-shot)")
            style = "green" if what == "running" else "yellow"
            self.state[name] = (style, f"{what}  pid {record['pid']}" if record.get("pid") else what)
        elif kind == "ProbeProgress":
            self.state[name] = ("yellow", f"probing {record.get('attempt', '')}: {record.get('detail', '')}"[:90])
        elif kind == "Healthy":
            self.state[name] = ("green", f"healthy{took}")
        elif kind == "Exited" and record.get("completed"):
            self.state[name] = ("green", f"completed{took}")
        elif kind in ("Exited", "Failed"):
            self.state[name] = ("bold red", f"FAILED: {record.get('reason') or record.get('describe')}")
        elif kind == "Restarting":
            self.state[name] = ("yellow", f"restarting in {record.get('delay'):g}s")
        elif kind == "Skipped":
            self.state[name] = ("yellow", "skipped")
        elif kind == "Stopping":
            self.state[name] = ("yellow", "stopping")
        if self._live is not None:
            self._live.update(self._render())

    def _render(self) -> Any:
        from rich.text import Text

        text = Text()
        for i, name in enumerate(self.names):
            style, what = self.state[name]
            if i:
                text.append("\n")
            text.append(f"  {name.ljust(self.width)}  ")
            text.append(what, style=style)
        return text
