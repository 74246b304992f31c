"""`start`, `stop`, `restart`: the commands that change the stack, through the supervisor.

They talk to the project's background supervisor over its Unix socket; `start` and
`restart` go through its reconcile path (plan, then apply). `stop` avoids loading the
configuration, so it starts fast, and cleans up after a supervisor that died.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from . import live
from .common import (
    common_options,
    display_path,
    load_config,
    parse_timeout,
    style,
)
from .common import (
    project_paths as _paths,
)
from .completion import service_names
from .progress import command_name, echo, failure_text, record_line, seconds, summary

# -- start ----------------------------------------------------------------------------------

START_EPILOG = """\b
Examples:
  dev-orchestrator start                    everything; returns when healthy
  dev-orchestrator start backend            backend and what it depends on
  dev-orchestrator start --dry-run          print what would change, change nothing
  dev-orchestrator start --env staging --docker
  dev-orchestrator start --scale web=3      three replicas of web behind its listen port
With a supervisor running, start applies the files as they are now: it prints the
plan (what is created, recreated and why, removed), then carries it out.
"""


@click.command(epilog=START_EPILOG)
@click.argument("services", nargs=-1, shell_complete=service_names)
@common_options
@click.option("--timeout", callback=parse_timeout, metavar="DURATION",
              help="Start-up deadline for each service (default: from its healthcheck).")
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before switching --env or --docker.")
@click.option("--watch", "watch_files", is_flag=True,
              help="Also follow the services' develop.watch rules in the background (see watch).")
@click.option("--scale", multiple=True, metavar="SVC=N",
              help="Run N replicas of SVC for this run, over deploy.replicas (repeatable).")
def start(services: tuple[str, ...], file: Path | None, env: str | None, docker: bool | None,
          timeout: float | None, dry_run: bool = False, yes: bool = False, watch_files: bool = False,
          scale: tuple[str, ...] = ()) -> int:
    """Start services in the background supervisor; return once they are healthy."""
    code = _start(services, file, env, docker, timeout, dry_run, yes, scale)
    if code == 0 and watch_files and not dry_run:
        _background_watch(services, file, env, docker)
    return code


def _background_watch(services: tuple[str, ...], file: Path | None, env: str | None, docker: bool | None) -> None:
    """`start --watch`: a detached watcher beside the supervisor, ending with it."""
    import subprocess

    from ..config.locate import services_file

    path, paths = _paths(file)
    argv = [sys.executable, "-m", "dev_orchestrator.cli", "watch", "--no-start", *services, "-f", str(path)]
    if env:
        argv += ["--env", env]
    if docker is not None:
        argv.append("--docker" if docker else "--no-docker")
    log = paths.dir / "watch.log"
    with open(log, "ab") as out:
        subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
                         cwd=str(services_file(file).parent), close_fds=True)
    summary(f"watching in the background (log: {log}); it stops with the stack")


def _start(services: tuple[str, ...], file: Path | None, env: str | None, docker: bool | None,
           timeout: float | None, dry_run: bool, yes: bool, scale_items: tuple[str, ...] = ()) -> int:
    import os

    from ..config.loader import env_from_environ
    from ..config.resolve import parse_scale, require_runnable, resolve, scaled
    from ..config.source import parse_file
    from ..control.client import Client, ensure_supervisor
    from .selection import select

    began = time.monotonic()
    path, paths = _paths(file)
    explicit_env = env is not None or env_from_environ(parse_file(path).data, os.environ) is not None
    # A running supervisor keeps its env and runtime unless they are given again.
    info = Client(paths).ping() if paths.socket.exists() else None
    effective_docker = docker
    if info is not None:
        env = env if explicit_env else str(info.get("env"))
        effective_docker = docker if docker is not None else bool(info.get("docker"))
    loaded = load_config(file, env)
    scale = parse_scale(scale_items)
    stack = scaled(resolve(loaded, docker=effective_docker), scale)
    names = select(stack, services)
    require_runnable(stack, stack.graph.closure(names))
    if dry_run:
        return _dry_run(Client(paths), stack, names, explicit_env, docker, scale)
    client, spawned = ensure_supervisor(paths, loaded.file, loaded.env, docker)
    body: dict[str, Any] = {"services": names if services else [], "timeout": timeout,
                            "environ": dict(os.environ), "scale": scale}
    if not spawned:
        info = client.ping() or {}
        switching = (explicit_env and info.get("env") != loaded.env) or (
            docker is not None and info.get("docker") != stack.docker)
        if explicit_env:
            body["env"] = loaded.env
        if docker is not None:
            body["docker"] = "on" if docker else "off"
        if switching and not yes:
            preview = client.call("POST", "/v1/apply", body | {"dry_run": True}, timeout=60.0)
            _confirm_switch(info, loaded.env, stack.docker, preview["plan"], names if services else [])
    targets = [n for n in stack.graph.order() if n in stack.graph.closure(names)]
    width = max(len(n) for n in targets)
    if spawned:
        click.echo(f"{loaded.project} · env {loaded.env} · {len(targets)} services · {' + '.join(loaded.files)}",
                   err=True)
    header = None if spawned else f"plan for {loaded.project} · env {loaded.env}"
    if live.wanted() and spawned:
        with live.LiveView(targets, stack.graph.deps, width) as view:
            result = _stream(client, "/v1/apply", body, width, view=view, plan_header=header)
    else:
        result = _stream(client, "/v1/apply", body, width, plan_header=header, show_stops=not spawned)
    _echo_replaced(result, width)
    if not result["ok"]:
        echo(_failure(result, display_path(stack.root / "logs")))
        return 1
    changes = [s for s in (result.get("plan") or {}).get("steps", []) if s["action"] != "keep"]
    if not changes:
        summary(f"{style('✓', fg='green', bold=True)} nothing to change: {_kept_summary(result)}")
        return 0
    skipped = result.get("skipped") or {}
    total = time.monotonic() - began
    mark = style("✓", fg="green", bold=True) if not skipped else style("!", fg="yellow", bold=True)
    extra = f" ({len(skipped)} skipped)" if skipped else ""
    if spawned:
        summary(f"{mark} {len(result['started'])} services up{extra} in {seconds(total)}   ·   "
                f"logs: {command_name()} logs -f   ·   stop: {command_name()} stop")
    else:
        summary(f"{mark} applied {len(changes)} change{'s' if len(changes) != 1 else ''}{extra} in {seconds(total)}")
    return 0


def _echo_replaced(result: dict[str, Any], width: int) -> None:
    """One line per start-first replacement that took over (failures come in the failure block)."""
    for name, rep in (result.get("replaced") or {}).items():
        if rep["ok"] and not rep.get("scaled"):
            drained = "old drained" if rep["drained"] else "old not drained (grace period over)"
            echo(f"  {name.ljust(width)}  replaced pid {rep['old_pid']} -> {rep['new_pid']} "
                 f"(healthy in {seconds(rep['healthy_in'])}, {drained} in {seconds(rep['drained_in'])})")
        for index, (old, new) in (rep.get("replicas") or {}).items():  # deploy.replicas: the rolling steps
            label = f"{name}#{index}".ljust(width)
            if old and new:
                echo(f"  {label}  replaced pid {old} -> {new}")
            elif new:
                echo(f"  {label}  started pid {new}")
            else:
                echo(f"  {label}  stopped pid {old} (scaled down)")


def _failure(result: dict[str, Any], logs_dir: str) -> str:
    """The failure block: a start-first replacement that was abandoned, or a failed start."""
    if not result.get("replace_failed"):
        return failure_text(result, logs_dir)
    name = result["failed"]
    rep = result["replaced"][name]
    lines = [f"{style('✗', fg='red', bold=True)} {name} not replaced: {result['reason']}",
             f"  pid {rep['old_pid']} keeps serving; the new instance was stopped."]
    if result.get("log_tail"):
        lines.append(f"\n  last lines of {logs_dir}/{name}.log:")
        lines.extend(f"    {line}" for line in result["log_tail"])
    return "\n".join(lines)


def _kept_summary(result: dict[str, Any]) -> str:
    completed = set(result.get("completed") or [])
    steps = (result.get("plan") or {}).get("steps", [])
    running = [s["service"] for s in steps if s["action"] == "keep" and s["service"] not in completed]
    done = [s["service"] for s in steps if s["action"] == "keep" and s["service"] in completed]
    parts = []
    if running:
        parts.append(f"{', '.join(running)} running")
    if done:
        parts.append(f"{', '.join(done)} completed")
    return "; ".join(parts) or "nothing selected"


def _plan_lines(plan: dict[str, Any]) -> list[str]:
    from ..plan import Action, Plan, Step

    steps = tuple(Step(s["service"], Action(s["action"]), tuple(s.get("reasons") or ())) for s in plan["steps"])
    lines = Plan(steps, tuple(plan.get("warnings") or ())).render()
    lines.extend(style(f"  warning: {w}", fg="yellow") for w in plan.get("warnings") or [])
    return lines


def _dry_run(client: Any, stack: Any, names: list[str], explicit_env: bool, docker: bool | None,
             scale: dict[str, int] | None = None) -> int:
    """Print the plan; with no supervisor, the plan of a first start (everything created)."""
    import os

    from ..errors import SupervisorNotRunning
    from ..plan import plan as make_plan

    body: dict[str, Any] = {"services": names if names != list(stack.graph.deps) else [], "dry_run": True,
                            "environ": dict(os.environ), "scale": scale or {}}
    if explicit_env:
        body["env"] = stack.config.env
    if docker is not None:
        body["docker"] = "on" if docker else "off"
    try:
        plan = client.call("POST", "/v1/apply", body, timeout=60.0)["plan"]
        where = "the running stack"
    except SupervisorNotRunning:
        plan = make_plan(stack, {}, environ=os.environ, names=body["services"] or None).to_json()
        where = "no supervisor runs"
    click.echo(f"plan for {stack.project} · env {stack.config.env} ({where}; --dry-run: nothing changes)")
    for line in _plan_lines(plan):
        click.echo(line)
    return 0


def _confirm_switch(info: dict[str, Any], env: str, docker: bool, plan: dict[str, Any], named: list[str]) -> None:
    """Switching env or runtime recreates services: show the plan and ask (or require --yes)."""
    from ..errors import UsageError

    beyond = [s["service"] for s in plan["steps"]
              if s["action"] in ("recreate", "remove", "restart") and s["service"] not in named]
    if not beyond:
        return
    was = f"env {info.get('env')}{' with Docker' if info.get('docker') else ''}"
    now = f"env {env}{' with Docker' if docker else ''}"
    echo(f"the supervisor runs {was}; switching to {now} changes {len(beyond)} more service(s):")
    for line in _plan_lines(plan):
        echo(line)
    if sys.stdin.isatty() and sys.stderr.isatty():
        if click.confirm("apply this plan?", default=False, err=True):
            return
        raise UsageError("nothing changed")
    raise UsageError(f"switching from {was} to {now} recreates {', '.join(beyond)}",
                     hint="run again with --yes to apply the plan above, or stop first")


def _stream(client: Any, path: str, body: dict[str, Any], width: int, *, show_stops: bool = False,
            view: Any = None, plan_header: str | None = None) -> dict[str, Any]:
    for record in client.stream(path, body):
        if record.get("type") == "result":
            return dict(record)
        if record.get("type") == "plan":
            if plan_header is not None and any(s["action"] != "keep" for s in record["steps"]):
                echo(plan_header)
                for text in _plan_lines(record):
                    echo(text)
            elif plan_header is not None:
                for warning in record.get("warnings") or []:
                    echo(style(f"  warning: {warning}", fg="yellow"))
            continue
        if record.get("kind") == "Stopped" and not show_stops:
            continue  # `stop` lists them from its result, with their durations
        if record.get("kind") == "Replacing":
            echo(f"  {record['service'].ljust(width)}  starting a new instance beside pid {record['pid']} "
                 "(it keeps serving)")
            continue
        if view is not None:
            view.update(record)
            continue
        line = record_line(record, width)
        if line:
            echo(line)
    raise AssertionError("unreachable: stream ends with a result")


# -- stop / restart -------------------------------------------------------------------------

STOP_EPILOG = """\b
Examples:
  dev-orchestrator stop                 everything; the supervisor exits
  dev-orchestrator stop backend         backend and the services that depend on it
  dev-orchestrator stop --volumes       also remove the project's named Docker volumes
"""


@click.command(epilog=STOP_EPILOG)
@click.argument("services", nargs=-1, shell_complete=service_names)
@common_options
@click.option("--volumes", is_flag=True, help="Also remove the project's named Docker volumes.")
@click.option("--grace", callback=parse_timeout, metavar="DURATION", help="Override every stop_grace_period.")
def stop(services: tuple[str, ...], file: Path | None, env: str | None, docker: bool | None,
         volumes: bool, grace: float | None) -> int:
    """Stop services (dependents first); with no names stop everything and the supervisor."""
    from ..control.client import Client
    from ..control.recovery import cleanup_orphans
    from ..errors import SupervisorNotRunning

    _file, paths = _paths(file)
    began = time.monotonic()
    client = Client(paths)
    try:
        width = max((len(s) for s in services), default=12)
        status = client.call("GET", "/v1/status", timeout=5.0)
        width = max(len(n) for n in status["services"])
        result = _stream(client, "/v1/stop", {"services": list(services), "grace": grace}, width)
    except SupervisorNotRunning:
        leftovers = cleanup_orphans(paths, volumes=volumes)
        if not leftovers:
            summary("nothing is running (no supervisor for this project)")
            return 0
        width = max(len(n) for n in leftovers)
        for name, record in leftovers.items():
            echo(record_line({"kind": "Stopped", "service": name, **record}, width) or name)
        summary(f"{style('✓', fg='green', bold=True)} stopped {len(leftovers)} services left by a supervisor "
             f"that had died, in {seconds(time.monotonic() - began)}")
        return 0
    for name, record in result["stopped"].items():
        echo(record_line({"kind": "Stopped", "service": name, **record}, width) or name)
    if result.get("supervisor_exiting"):
        _wait_gone(paths, status["supervisor"].get("pid"))
        if volumes:
            cleanup_orphans(paths, volumes=True)
    killed = [n for n, r in result["stopped"].items() if r["killed"]]
    note = f"; {len(killed)} killed after their grace period ({', '.join(killed)})" if killed else ""
    tail = "; supervisor exited" if result.get("supervisor_exiting") else ""
    if result.get("errors"):
        for name, error in result["errors"].items():
            echo(f"{style('✗', fg='red', bold=True)} {name}: {error}")
        return 1
    summary(f"{style('✓', fg='green', bold=True)} stopped {len(result['stopped'])} services in "
         f"{seconds(time.monotonic() - began)}{note}{tail}")
    return 0


def _wait_gone(paths: Any, pid: int | None, timeout: float = 30.0) -> None:
    """Wait until the supervisor has released its lock and its process has ended."""
    from ..control.recovery import supervisor_alive
    from ..state import process_alive

    deadline = time.monotonic() + timeout
    while (supervisor_alive(paths) or process_alive(pid, None)) and time.monotonic() < deadline:
        time.sleep(0.02)


RESTART_EPILOG = """\b
Examples:
  dev-orchestrator restart backend      backend, and dependents marked restart: true
  dev-orchestrator restart              every service, in graph order
"""


@click.command(epilog=RESTART_EPILOG)
@click.argument("services", nargs=-1, shell_complete=service_names)
@common_options
@click.option("--timeout", callback=parse_timeout, metavar="DURATION", help="Start-up deadline for each service.")
def restart(services: tuple[str, ...], file: Path | None, env: str | None, docker: bool | None, timeout: float | None) -> int:
    """Stop then start services; dependents with `restart: true` on them restart too."""
    from ..control.client import Client
    from ..errors import SupervisorNotRunning

    _file, paths = _paths(file)
    client = Client(paths)
    try:
        status = client.call("GET", "/v1/status", timeout=5.0)
    except SupervisorNotRunning:
        echo("no supervisor runs for this project: starting instead")
        ctx = click.get_current_context()
        return int(ctx.invoke(start, services=services, file=file, env=env, docker=docker, timeout=timeout) or 0)
    import os

    width = max([len(n) for n in status["services"]] + [len(n) for n in services])
    began = time.monotonic()
    result = _stream(client, "/v1/restart", {"services": list(services), "timeout": timeout,
                                             "environ": dict(os.environ)}, width, show_stops=True)
    _echo_replaced(result, width)
    if not result["ok"]:
        echo(_failure(result, display_path(paths.logs)))
        return 1
    summary(f"{style('✓', fg='green', bold=True)} restarted {', '.join(result['restarted'])} in "
         f"{seconds(time.monotonic() - began)}")
    return 0
