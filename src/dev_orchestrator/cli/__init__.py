"""The command line: the entry point, the quick path, and the click application (app.py).

``status``, ``health`` and ``logs -n`` in their plain forms, against a running
supervisor, are served by cli/quick.py without importing click (about a third of such a
command's start-up); every other command line, and every error, goes to the full CLI.
"""

from __future__ import annotations

import os
import sys

QUICK_ENV = "DEV_ORCHESTRATOR_QUICK"  # 0: every command line goes through the full CLI
QUICK_COMMANDS = ("status", "ps", "health", "logs")  # the commands cli/quick.py may serve


def debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("DEV_ORCHESTRATOR_DEBUG", "") not in ("", "0")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and turn errors into messages and exit codes."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in QUICK_COMMANDS and os.environ.get(QUICK_ENV, "") != "0" and not debug_requested(args):
        from .quick import run as quick

        code = quick(args)
        if code is not None:
            sys.exit(code)
    from .app import main as full

    full(args)
