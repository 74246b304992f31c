"""Plain-text rendering of start-up progress, failures and stops (shared by up/start/stop)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import click

from .common import style

PALETTE = ("cyan", "yellow", "green", "magenta", "blue", "bright_cyan", "bright_yellow", "bright_green",
           "bright_magenta", "bright_blue", "red", "bright_red")


def color_for(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def seconds(value: float) -> str:
    return f"{value:.2f}s" if value < 10 else f"{value:.1f}s"


def progress_line(event: Any, status: Any, service: Any, width: int, elapsed: float | None = None) -> str | None:
    """One line for an interesting event, or None."""
    from ..runtime import events as ev

    name = event.service.ljust(width)
    match event:
        case ev.Spawned():
            ident = f"pid {event.pid}" if event.pid else f"container {str(event.container)[:12]}"
            if service.healthcheck is None and not service.one_shot:
                return f"  {name}  {style('started', fg='green')}  {ident}"
            return None
        case ev.Healthy():
            took = f" in {seconds(elapsed)}" if elapsed is not None else ""
            ident = f"pid {status.pid}" if status.pid else f"container {str(status.container)[:12]}"
            return f"  {name}  {style('started', fg='green')}  {ident}   {style('healthy', fg='green')}{took}  ({event.detail})"
        case ev.Exited() if status.completed:
            took = f" in {seconds(elapsed)}" if elapsed is not None else ""
            return f"  {name}  {style('completed', fg='green')}  exited 0{took}"
        case ev.Exited() if event.code == 0 and not event.signal:
            return f"  {name}  {style('exited', fg='yellow')}  code 0"
        case ev.Exited():
            return f"  {name}  {style('FAILED', fg='red', bold=True)}: {event.describe()}"
        case ev.Failed():
            return f"  {name}  {style('FAILED', fg='red', bold=True)}: {event.reason}"
        case ev.Restarting():
            return f"  {name}  {style('restarting', fg='yellow')} in {event.delay:g}s ({event.reason})"
        case ev.Skipped():
            return f"  {name}  {style('skipped', fg='yellow')}: {event.reason}"
    return None


def stop_lines(stopped: dict[str, Any], width: int) -> Iterable[str]:
    for name, result in stopped.items():
        killed = style("  killed after grace period", fg="yellow") if result.killed else ""
        yield f"  {name.ljust(width)}  stopped in {seconds(result.duration)}{killed}"


def failure_block(report: Any, logs_dir: str) -> str:
    """What went wrong, what was rolled back, and the failing service's last log lines."""
    rolled = ", ".join(report.rolled_back) or "nothing"
    spent = sum((r.duration for r in report.rolled_back.values()), 0.0)
    lines = [
        f"{style('✗', fg='red', bold=True)} {report.failed} failed: {report.reason}",
        f"  rolled back: stopped {rolled} ({seconds(spent)}). Nothing is left running.",
    ]
    if report.log_tail:
        lines.append(f"\n  last lines of {logs_dir}/{report.failed}.log:")
        lines.extend(f"    {line}" for line in report.log_tail)
    return "\n".join(lines)


class LogPrinter:
    """Multiplexed service output, honcho-style: ``12:01:07.311 backend | line``."""

    def __init__(self, names: list[str]) -> None:
        self.width = max((len(n) for n in names), default=0)
        self.color = sys.stdout.isatty()
        self.prefixes: dict[str, bytes] = {}
        for i, name in enumerate(sorted(names)):
            label = f"{name.ljust(self.width)} | "
            self.prefixes[name] = (click.style(label, fg=color_for(i)) if self.color else label).encode()
        self.out = sys.stdout.buffer

    def __call__(self, service: str, lines: bytes) -> None:
        import time

        now = time.time()
        stamp = (time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d} ").encode()
        prefix = stamp + self.prefixes.get(service, f"{service} | ".encode())
        self.out.write(prefix + lines[:-1].replace(b"\n", b"\n" + prefix) + b"\n")
        self.out.flush()
