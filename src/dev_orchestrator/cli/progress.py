"""Rendering of progress records and results (start, stop, restart, up): one look for the
foreground engine and the supervisor's stream alike."""

from __future__ import annotations

from typing import Any

import click

from .common import style


def seconds(value: float) -> str:
    return f"{value:.2f}s" if value < 10 else f"{value:.1f}s"


def ident(record: dict[str, Any]) -> str:
    if record.get("pid"):
        return f"pid {record['pid']}"
    if record.get("container"):
        return f"container {str(record['container'])[:12]}"
    return ""


def record_line(record: dict[str, Any], width: int) -> str | None:
    """One line for an interesting progress record, or None."""
    name = str(record["service"]).ljust(width)
    kind = record["kind"]
    took = f" in {seconds(record['elapsed'])}" if "elapsed" in record else ""
    if kind == "Spawned" and not record["has_healthcheck"] and not record["one_shot"]:
        return f"  {name}  {style('started', fg='green')}  {ident(record)}"
    if kind == "Healthy":
        return (f"  {name}  {style('started', fg='green')}  {ident(record).ljust(10)}  "
                f"{style('healthy', fg='green')}{took}  ({record.get('detail', '')})")
    if kind == "Exited" and record.get("completed"):
        return f"  {name}  {style('completed', fg='green')}  exited 0{took}"
    if kind == "Exited" and record.get("state") == "exited":
        return f"  {name}  {style('exited', fg='yellow')}  code 0"
    if kind == "Exited" and record.get("state") == "failed":
        return f"  {name}  {style('FAILED', fg='red', bold=True)}: {record.get('describe')} after {seconds(record['elapsed'])}"
    if kind == "Failed":
        return f"  {name}  {style('FAILED', fg='red', bold=True)}: {record.get('reason')}"
    if kind == "Restarting":
        return f"  {name}  {style('restarting', fg='yellow')} in {record.get('delay'):g}s ({record.get('reason')})"
    if kind == "Skipped":
        return f"  {name}  {style('skipped', fg='yellow')}: {record.get('reason')}"
    if kind == "Stopped":
        killed = style("  killed after grace period", fg="yellow") if record.get("killed") else ""
        return f"  {name}  stopped in {seconds(record.get('duration') or 0.0)}{killed}"
    return None


def failure_text(result: dict[str, Any], logs_dir: str) -> str:
    rolled = result.get("rolled_back") or {}
    names = ", ".join(rolled) or "nothing"
    # Wall time: the rollback's stops run in parallel, so their durations do not add up.
    spent = result.get("rollback_duration")
    if spent is None:
        spent = max((r["duration"] for r in rolled.values()), default=0.0)
    left = result.get("left_running") or []
    after = f" Still running: {', '.join(left)}." if left else " Nothing is left running."
    lines = [
        f"{style('✗', fg='red', bold=True)} {result['failed']} failed: {result['reason']}",
        f"  rolled back: stopped {names} ({seconds(spent)}).{after}",
    ]
    if result.get("log_tail"):
        lines.append(f"\n  last lines of {logs_dir}/{result['failed']}.log:")
        lines.extend(f"    {line}" for line in result["log_tail"])
    return "\n".join(lines)


def echo(line: str) -> None:
    """Progress and diagnostics: stderr, so that stdout keeps results for scripts."""
    click.echo(line, err=True)


def summary(line: str) -> None:
    """The result line of a command (`start > start.log` keeps it): stdout."""
    click.echo(line)


def command_name() -> str:
    """How the user can call the command again from this shell: `./dev` or `dev-orchestrator`."""
    import os
    import shutil

    launcher = os.environ.get("DEV_ORCHESTRATOR_LAUNCHER")
    if launcher:
        return launcher
    return "dev-orchestrator" if shutil.which("dev-orchestrator") else "./dev"
