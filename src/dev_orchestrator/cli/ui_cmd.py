"""`ui`: the terminal dashboard over the supervisor (Textual, imported only here)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import common_options
from .common import project_paths as _paths
from .completion import service_names
from .progress import command_name, summary

UI_EPILOG = """\b
Examples:
  dev-orchestrator ui                   start the stack if it is not running, then show it live
  dev-orchestrator ui --no-start        look at what runs, start nothing
  dev-orchestrator ui --env staging
\b
Keys: Enter or 1-9 one service's log, s start, x stop, r restart, R apply the plan,
h probes now, / search, n/N next/previous, f filter (!pattern excludes, +N context),
y copy, ? help, q quit (the stack keeps running), Q stop the stack and quit.
"""


@click.command(epilog=UI_EPILOG)
@click.argument("services", nargs=-1, shell_complete=service_names)
@common_options
@click.option("--no-start", is_flag=True, help="Open the view without starting the stack.")
def ui(services: tuple[str, ...], file: Path | None, env: str | None, docker: bool | None, no_start: bool) -> int:
    """A live view of the stack: service table, merged logs, actions on keys; q leaves it running."""
    from ..control.client import Client
    from ..errors import UsageError

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("the dashboard needs a terminal (stdin and stdout are not one)",
                         hint=f"use {command_name()} status and {command_name()} logs -f instead")
    _path, paths = _paths(file)
    if not no_start and Client(paths).ping() is None:
        from .control_cmd import _start

        code = _start(services, file, env, docker, None, False, False)
        if code != 0:
            return code
    from ..ui.tui import STOPPED, Dashboard

    result = Dashboard(paths).run()
    if result == STOPPED:
        summary("stopped the stack; the supervisor exited")
    elif Client(paths).ping() is not None:
        summary(f"the stack keeps running   ·   stop: {command_name()} stop   ·   again: {command_name()} ui")
    return 0
