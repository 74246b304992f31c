"""The quick path: ``status``, ``health`` and ``logs -n`` without click.

A cold ``status`` spent about a third of its time importing click. The plain forms of
the commands people run all day, against a running supervisor, are served here with the
same client, the same rendering (cli/views.py) and the same output as the click
commands:

    status|ps [--json] [SERVICE...]
    health [--json] [--deep] [SERVICE...]
    logs [-n N | --lines N] [SERVICE...]

Anything else (another option, ``--help``, ``-f``, ``--env``), and anything that is not
the everyday case (no supervisor answers, an unknown service, a refused runtime folder),
returns None before a byte is printed, and the full CLI takes the command line from the
start: its parsing, its errors and its fallbacks stay the only ones.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from typing import Any

Handler = Any


def run(argv: list[str]) -> int | None:
    """The exit code when the command was served here; None: the full CLI takes it."""
    if not argv:
        return None
    handler = _HANDLERS.get(argv[0])
    if handler is None:
        return None
    parsed = _parse(argv[0], argv[1:])
    if parsed is None:
        return None
    names, flags = parsed
    began = time.perf_counter()
    try:
        paths = _paths()
        output = None if paths is None else handler(paths, names, flags, began)
    except KeyboardInterrupt:
        return _aborted()
    except Exception:  # nothing printed yet: the full CLI runs it again and says what it is
        return None
    if output is None:
        return None
    try:
        return int(output())
    except KeyboardInterrupt:
        return _aborted()
    except BrokenPipeError:  # `status | head`: the reader left; quiet, exit 1 (as click does)
        _quiet_stdout()
        return 1
    except Exception as exc:  # a bug while printing: as the full CLI says it (app.run)
        from .views import print_error

        print_error(f"internal error: {type(exc).__name__}: {exc}",
                    hint="run again with --debug for the traceback, and report it")
        return 1


def _aborted() -> int:
    """Ctrl-C: a new line after the terminal's ^C and "aborted", exit 130 (as click does)."""
    from .views import print_error

    sys.stderr.write("\n")
    print_error("aborted")
    return 130


def _quiet_stdout() -> None:
    """Standard output to /dev/null, so that the flush at exit does not fail again."""
    import os

    with contextlib.suppress(OSError, ValueError, AttributeError):  # a stream without a file
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _parse(command: str, args: list[str]) -> tuple[list[str], dict[str, Any]] | None:
    """Service names and flags, or None for anything but the plain forms above."""
    allowed = {"status": {"--json"}, "ps": {"--json"}, "health": {"--json", "--deep"}, "logs": set()}[command]
    names: list[str] = []
    flags: dict[str, Any] = {}
    rest = iter(args)
    for arg in rest:
        if arg in allowed:
            flags[arg] = True
        elif command == "logs" and arg in ("-n", "--lines"):
            value = next(rest, None)
            if value is None or not value.isdecimal():
                return None
            flags["lines"] = int(value)
        elif command == "logs" and (arg.startswith("--lines=") or (arg.startswith("-n") and len(arg) > 2)):
            value = arg[8:] if arg.startswith("--lines=") else arg[2:]
            if not value.isdecimal():
                return None
            flags["lines"] = int(value)
        elif arg.startswith("-") or not arg:
            return None
        else:
            names.append(arg)
    return list(dict.fromkeys(names)), flags


def _paths() -> Any:
    """The project's runtime paths, or None when the full CLI has something to say about them."""
    from ..config.locate import services_file
    from ..errors import OrchestratorError
    from ..state import Paths, check_private_dir

    try:
        paths = Paths(services_file(None).parent)
        check_private_dir(paths.dir, "the runtime folder")
        check_private_dir(paths.logs, "the logs folder")
    except OrchestratorError:
        return None
    return paths


# A request that failed here, other than for want of a supervisor (a busy or silent one,
# an error reply), is not asked again by the full CLI: it takes the failure (``failed``)
# and goes on as if its own request had failed, instead of waiting out a timeout twice.
_failed: dict[tuple[str, str], Exception] = {}


def failed(method: str, path: str) -> Exception | None:
    """The failure of the quick path's ``method path`` request in this process, if any (once)."""
    return _failed.pop((method, path), None)


def _ask(paths: Any, method: str, path: str, body: dict[str, Any] | None, timeout: float) -> dict[str, Any] | None:
    from ..control.client import Client
    from ..errors import OrchestratorError, SupervisorNotRunning

    try:
        return Client(paths).call(method, path, body, timeout=timeout)
    except SupervisorNotRunning:  # the full CLI reads what the files say
        return None
    except OrchestratorError as exc:
        _failed[(method, path)] = exc
        return None


def _status(paths: Any, names: list[str], flags: dict[str, Any], began: float) -> Any:
    from . import views

    data = _ask(paths, "GET", "/v1/status", None, 5.0)
    if data is None or views.unknown_service(data, names) is not None:
        return None
    data.pop("type", None)
    if names:
        views.only(data, names)

    def output() -> int:
        if flags.get("--json"):
            views.echo(json.dumps(views.status_json(data), indent=2))
        else:
            views.print_status(data)
        return 0

    return output


def _health(paths: Any, names: list[str], flags: dict[str, Any], began: float) -> Any:
    from . import views

    report = _ask(paths, "POST", "/v1/health", {"services": names, "deep": bool(flags.get("--deep"))}, 60.0)
    if report is None:
        return None
    report.pop("type", None)

    def output() -> int:
        if flags.get("--json"):
            views.echo(json.dumps(report, indent=2))
        else:
            views.print_health(report, began)
        return 0 if report["healthy"] else 1

    return output


def _logs(paths: Any, names: list[str], flags: dict[str, Any], began: float) -> Any:
    from ..logs.reader import last_lines
    from . import views

    available = sorted(p.name[:-4] for p in paths.logs.glob("*.log")) if paths.logs.is_dir() else []
    names = names or available
    if any(n not in available for n in names):
        return None

    def output() -> int:
        printer = views.LogLines(names)
        printer.show_all(last_lines(paths.logs, names, flags.get("lines", 100), {}))
        printer.out.flush()
        return 0

    return output


_HANDLERS: dict[str, Handler] = {"status": _status, "ps": _status, "health": _health, "logs": _logs}
