"""`dashboard`: the web dashboard that the supervisor serves on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import click

from .common import common_options
from .common import project_paths as _paths
from .completion import service_names
from .progress import command_name, summary

DASHBOARD_EPILOG = """\b
Examples:
  dev-orchestrator dashboard            start the stack if it is not running, print the dashboard's URL
  dev-orchestrator dashboard --open     ... and open it in a browser
  dev-orchestrator dashboard --no-start only the URL, start nothing (a supervisor must run)
\b
The URL carries a token; the page trades it for a cookie. Set the port with
orchestrator.dashboard.port in services.yaml (default: a free port). The dashboard
stops with the stack.
"""


@click.command(epilog=DASHBOARD_EPILOG)
@click.argument("services", nargs=-1, shell_complete=service_names)
@common_options
@click.option("--open", "open_browser", is_flag=True, help="Open the dashboard in the default browser.")
@click.option("--no-start", is_flag=True, help="Do not start the stack; a supervisor must be running.")
def dashboard(services: tuple[str, ...], file: Path | None, env: str | None, docker: bool | None,
              open_browser: bool, no_start: bool) -> int:
    """The stack in a browser: service table, logs, actions, dependency graph, start-up waterfall."""
    from ..control.client import Client
    from ..errors import SupervisorNotRunning

    _path, paths = _paths(file)
    client = Client(paths)
    if client.ping() is None:
        if no_start:
            raise SupervisorNotRunning("no supervisor is running for this project",
                                       hint=f"start the stack: {command_name()} start (or leave out --no-start)")
        from .control_cmd import _start

        code = _start(services, file, env, docker, None, False, False)
        if code != 0:
            return code
    reply = client.call("POST", "/v1/dashboard", {})
    url = str(reply["url"])
    summary(f"dashboard: {url}")
    summary(f"  keep it to yourself: its token lets whoever has it act on the stack · "
            f"the dashboard stops with the stack ({command_name()} stop)")
    if open_browser:
        import webbrowser

        if not webbrowser.open(url):
            summary("  no browser could be opened here: open the URL above by hand")
    return 0
