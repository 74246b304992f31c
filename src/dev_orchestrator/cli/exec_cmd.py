"""`exec` and `run`: a command in a service's context, and a one-off with its dependencies.

`exec SVC -- CMD` runs inside the running service: `docker exec` for a container, or for
a process in its working folder with its environment. `run SVC -- CMD` is compose's
`run`: the service's dependencies are started first (through the supervisor), then the
command (or the service's own command) runs in the foreground with the service's
definition. Both pass the exit code through and keep the terminal when there is one.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import click

from .common import common_options, load_config
from .completion import service_names

EXEC_EPILOG = """\b
Examples:
  dev-orchestrator exec backend -- python -m shop.backend --check
  dev-orchestrator exec redis -- redis-cli ping     (inside the container with --docker)
The exit code of the command is the exit code of exec.
"""

RUN_EPILOG = """\b
Examples:
  dev-orchestrator run migrate                      the service's own command, once
  dev-orchestrator run backend -- pytest -x         a one-off with backend's environment
Dependencies are started first (and left running, as compose's run does).
"""


def _resolve(file: Path | None, env: str | None, docker: bool | None, service: str) -> Any:
    from ..config.resolve import resolve
    from .selection import select

    stack = resolve(load_config(file, env, quiet_warnings=True), docker=docker)
    select(stack, [service])
    return stack


def _record(stack: Any, service: str) -> dict[str, Any] | None:
    """The service's live status record from the supervisor, or None when none runs."""
    from ..control.client import Client
    from ..errors import SupervisorNotRunning
    from ..state import Paths

    try:
        data = Client(Paths(stack.root)).call("GET", "/v1/status", timeout=5.0)
    except SupervisorNotRunning:
        return None
    record = data["services"].get(service)
    return dict(record) if record else None


def _exec_local(svc: Any, argv: list[str]) -> int:
    """Replace this process with ``argv`` in the service's folder and environment."""
    from ..errors import UsageError

    env = dict(svc.env)
    program = shutil.which(argv[0], path=env.get("PATH", os.environ.get("PATH")))
    if program is None:
        raise UsageError(f"command not found: {argv[0]}", hint="give the full path, or check PATH")
    sys.stdout.flush()
    sys.stderr.flush()
    os.chdir(svc.cwd)
    os.execve(program, argv, env)
    return 127  # not reached


def _docker_argv(verb: str, *parts: str) -> list[str]:
    from ..errors import UsageError

    docker = shutil.which("docker")
    if docker is None:
        raise UsageError("the docker command is needed for this", hint="install the Docker CLI")
    tty = ["-it"] if sys.stdin.isatty() and sys.stdout.isatty() else ["-i"]
    return [docker, verb, *tty, *parts]


@click.command("exec", epilog=EXEC_EPILOG, context_settings={"ignore_unknown_options": True})
@click.argument("service", shell_complete=service_names)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@common_options
def exec_(service: str, command: tuple[str, ...], file: Path | None, env: str | None, docker: bool | None) -> int:
    """Run a command inside a running service (its container, or its folder and environment)."""
    from ..errors import OrchestratorError

    stack = _resolve(file, env, docker, service)
    record = _record(stack, service)
    if record is None or record.get("state") not in ("running", "starting"):
        raise OrchestratorError(f"{service} is not running", hint=f"start it first: dev-orchestrator start {service}")
    argv = list(command)
    if record.get("container"):
        full = _docker_argv("exec", str(record["container"]), *argv)
        os.execv(full[0], full)
    return _exec_local(stack.services[service], argv)


@click.command("run", epilog=RUN_EPILOG, context_settings={"ignore_unknown_options": True})
@click.argument("service", shell_complete=service_names)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@common_options
def run(service: str, command: tuple[str, ...], file: Path | None, env: str | None, docker: bool | None) -> int:
    """A one-off of a service: its dependencies start first, then the command in the foreground."""
    from ..errors import UsageError
    from .control_cmd import start

    stack = _resolve(file, env, docker, service)
    svc = stack.services[service]
    deps = [d.name for d in svc.depends_on]
    if deps:
        ctx = click.get_current_context()
        code = int(ctx.invoke(start, services=tuple(deps), file=file, env=env, docker=docker, timeout=None) or 0)
        if code:
            return code
    argv = list(command) or list(svc.argv)
    if svc.runtime == "docker":
        from ..backends.docker_spec import image_of, network_name

        full = _docker_argv("run", "--rm", "--network", network_name(stack.project),
                            *(f"--env={k}={v}" for k, v in svc.spec.docker.environment.items() if v is not None),
                            image_of(stack.project, svc), *list(command))
        os.execv(full[0], full)
    if not argv:
        raise UsageError(f"{service} has no command to run as a local process", hint="give one after --")
    return _exec_local(svc, argv)
