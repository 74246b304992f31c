"""`start`, `stop`, `restart`, `status`, `health`, `logs`, `ports`: the everyday commands.

They talk to the project's background supervisor over its Unix socket. `status`,
`logs` and `stop` avoid loading the configuration when the supervisor (or the files it
left) can answer, so they start fast.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from . import live
from .common import (
    common_options,
    common_options_no_short_file,
    display_path,
    load_config,
    parse_timeout,
    style,
)
from .completion import service_names
from .progress import echo, failure_text, record_line, seconds


def _paths(file: Path | None) -> tuple[Path, Any]:
    from ..config.locate import services_file
    from ..state import Paths

    path = services_file(file)
    return path, Paths(path.parent)


# -- start ----------------------------------------------------------------------------------

START_EPILOG = """\b
Examples:
  dev-orchestrator start                    everything; returns when healthy
  dev-orchestrator start backend            backend and what it depends on
  dev-orchestrator start --dry-run          print what would change, change nothing
  dev-orchestrator start --env staging --docker
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
def start(services: tuple[str, ...], file: Path | None, env: str | None, docker: bool | None,
          timeout: float | None, dry_run: bool = False, yes: bool = False) -> int:
    """Start services in the background supervisor; return once they are healthy."""
    import os

    from ..config.resolve import require_runnable, resolve
    from ..control.client import Client, ensure_supervisor
    from .selection import select

    began = time.monotonic()
    explicit_env = env is not None or bool(os.environ.get("ZYRON_ENV"))
    _, paths = _paths(file)
    # A running supervisor keeps its env and runtime unless they are given again.
    info = Client(paths).ping() if paths.socket.exists() else None
    effective_docker = docker
    if info is not None:
        env = env if explicit_env else str(info.get("env"))
        effective_docker = docker if docker is not None else bool(info.get("docker"))
    loaded = load_config(file, env)
    stack = resolve(loaded, docker=effective_docker)
    names = select(stack, services)
    require_runnable(stack, stack.graph.closure(names))
    if dry_run:
        return _dry_run(Client(paths), stack, names, explicit_env, docker)
    client, spawned = ensure_supervisor(paths, loaded.file, loaded.env, docker)
    body: dict[str, Any] = {"services": names if services else [], "timeout": timeout,
                            "environ": dict(os.environ)}
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
    if not result["ok"]:
        echo(failure_text(result, display_path(stack.root / "logs")))
        return 1
    changes = [s for s in (result.get("plan") or {}).get("steps", []) if s["action"] != "keep"]
    if not changes:
        echo(f"{style('✓', fg='green', bold=True)} nothing to change: {_kept_summary(result)}")
        return 0
    skipped = result.get("skipped") or {}
    total = time.monotonic() - began
    mark = style("✓", fg="green", bold=True) if not skipped else style("!", fg="yellow", bold=True)
    extra = f" ({len(skipped)} skipped)" if skipped else ""
    if spawned:
        echo(f"{mark} {len(result['started'])} services up{extra} in {seconds(total)}   ·   "
             "logs: dev-orchestrator logs -f   ·   stop: dev-orchestrator stop")
    else:
        echo(f"{mark} applied {len(changes)} change{'s' if len(changes) != 1 else ''}{extra} in {seconds(total)}")
    return 0


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


def _dry_run(client: Any, stack: Any, names: list[str], explicit_env: bool, docker: bool | None) -> int:
    """Print the plan; with no supervisor, the plan of a first start (everything created)."""
    import os

    from ..errors import SupervisorNotRunning
    from ..plan import plan as make_plan

    body: dict[str, Any] = {"services": names if names != list(stack.graph.deps) else [], "dry_run": True,
                            "environ": dict(os.environ)}
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
            echo("nothing is running (no supervisor for this project)")
            return 0
        width = max(len(n) for n in leftovers)
        for name, record in leftovers.items():
            echo(record_line({"kind": "Stopped", "service": name, **record}, width) or name)
        echo(f"{style('✓', fg='green', bold=True)} stopped {len(leftovers)} services left by a supervisor "
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
    echo(f"{style('✓', fg='green', bold=True)} stopped {len(result['stopped'])} services in "
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
    if not result["ok"]:
        echo(failure_text(result, display_path(paths.logs)))
        return 1
    echo(f"{style('✓', fg='green', bold=True)} restarted {', '.join(result['restarted'])} in "
         f"{seconds(time.monotonic() - began)}")
    return 0


# -- status ---------------------------------------------------------------------------------

STATUS_EPILOG = """\b
Examples:
  dev-orchestrator status               a table: state, health, pid, uptime, restarts, ports, CPU, memory
  dev-orchestrator status --json        the same for scripts (shape in docs/SERVICES.md)
"""


@click.command(epilog=STATUS_EPILOG)
@common_options
@click.option("--json", "as_json", is_flag=True, help="Print the status JSON (see docs/SERVICES.md).")
def status(file: Path | None, env: str | None, docker: bool | None, as_json: bool) -> int:
    """Show every service: state, health, pid or container, uptime, restarts, ports, CPU, memory."""
    from ..control.client import Client
    from ..control.recovery import supervisor_alive
    from ..errors import SupervisorError

    path, paths = _paths(file)
    try:
        data = Client(paths).call("GET", "/v1/status", timeout=5.0)
    except SupervisorError as exc:
        data = _offline_status(path, paths, env)
        if supervisor_alive(paths):
            # Alive (it holds its lock) but not answering: busy, not dead.
            data["supervisor"].update(running=True, busy=str(exc), died=False)
            data["orphans"] = []
    data.pop("type", None)
    if as_json:
        out = {
            "project": data["project"],
            "env": data["env"],
            "supervisor": {"running": data["supervisor"].get("running", False), "pid": data["supervisor"].get("pid"),
                           **({"busy": True} if data["supervisor"].get("busy") else {})},
            "problems": data.get("problems") or [],
            "services": {
                name: {k: record.get(k) for k in ("state", "health", "runtime", "pid", "container", "image",
                                                   "started_at", "restarts", "exit_code", "ports", "cpu_percent",
                                                   "rss_bytes", "detail", "drift")}
                for name, record in data["services"].items()
            },
        }
        click.echo(json.dumps(out, indent=2))
        return 0
    _print_status(data)
    return 0


def _offline_status(path: Path, paths: Any, env: str | None) -> dict[str, Any]:
    """Status from the files when no supervisor answers: the state file, else the config."""
    from ..control.recovery import find_leftovers

    found = find_leftovers(paths)
    state = found.state
    if found.unreadable:
        from .common import print_warning

        print_warning(f"{found.unreadable}; it was ignored. Processes of this project are still "
                      "found by their marker" + (f" (found: {', '.join(found.ours)})" if found.ours else ""))
    if state is None:
        loaded = load_config(path, env, quiet_warnings=True)
        from ..config.resolve import resolve

        stack = resolve(loaded)
        services = {
            n: {"state": "stopped", "health": "none", "runtime": s.runtime, "pid": None, "container": None,
                "started_at": None, "restarts": 0, "exit_code": None, "ports": list(s.ports)}
            for n, s in stack.services.items()
        }
        for name, record in found.ours.items():
            base = name.split(" ", 1)[0]
            if base in services:
                services[base].update(state="running", pid=record["pid"],
                                      detail="left running by a supervisor that died")
        orphaned = sorted(found.ours)
        return {"project": loaded.project, "env": loaded.env,
                "supervisor": {"running": False, "pid": None, "died": bool(orphaned)},
                "services": services, "orphans": orphaned}
    alive = found.ours
    for name, record in state["services"].items():
        if name in alive:
            record["detail"] = "left running by a supervisor that died"
        elif name in found.foreign:
            record.update(state="stopped", health="none", pid=None, create_time=None,
                          detail=f"not ours any more: {found.foreign[name]}")
        else:
            record.update(state="stopped" if record.get("state") not in ("exited", "failed") else record["state"],
                          health="none", pid=None, container=None)
    supervisor = {"running": False, "pid": None, "died": bool(alive) or not state.get("stopped")}
    return {"project": state["project"], "env": state["env"], "supervisor": supervisor,
            "services": state["services"], "orphans": sorted(alive), "order": state.get("order"),
            "foreign": found.foreign}


def _age(iso: str | None) -> str:
    if not iso:
        return "-"
    from datetime import datetime

    seconds_up = time.time() - datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    if seconds_up < 60:
        return f"{int(seconds_up)}s"
    if seconds_up < 3600:
        return f"{int(seconds_up // 60)}m"
    return f"{int(seconds_up // 3600)}h{int(seconds_up % 3600 // 60):02d}m"


def _mem(value: int | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1e6:.0f} MB" if value < 1e9 else f"{value / 1e9:.1f} GB"


STATE_COLORS = {"running": "green", "starting": "yellow", "stopping": "yellow", "failed": "red", "exited": "white"}
HEALTH_COLORS = {"healthy": "green", "unhealthy": "red", "starting": "yellow"}


def _print_status(data: dict[str, Any]) -> None:
    sup = data["supervisor"]
    if sup.get("busy"):
        head = style(f"supervisor pid {sup.get('pid') or '?'} is alive but busy ({sup['busy']}); "
                     "showing the last recorded state", fg="yellow")
    elif sup.get("running"):
        head = f"supervisor pid {sup['pid']} · up {_age(sup.get('started_at'))}"
    elif data.get("orphans"):
        head = style("supervisor NOT running (it died); still alive: " + ", ".join(data["orphans"]), fg="red")
    else:
        head = "supervisor not running"
    click.echo(f"{data['project']} · env {data['env']} · {head}")
    header = ["SERVICE", "RUNTIME", "STATE", "HEALTH", "PID/CONTAINER", "UPTIME", "RESTARTS", "PORTS", "CPU", "MEM"]
    images = any(r.get("image") for r in data["services"].values())
    if images:
        header.append("IMAGE")
    rows = []
    order = data.get("order") or list(data["services"])
    for name in order:
        r = data["services"][name]
        ident = str(r.get("pid") or (str(r.get("container"))[:12] if r.get("container") else "-"))
        running = r["state"] in ("running", "starting")
        cpu = r.get("cpu_percent")
        rows.append([
            name, r.get("runtime", "process"), r["state"], r["health"] if r["health"] != "none" else "-", ident,
            _age(r.get("started_at")) if running else "-", str(r.get("restarts", 0)),
            ",".join(str(p) for p in r.get("ports") or []) or "-",
            f"{cpu:.1f}%" if cpu is not None else "-", _mem(r.get("rss_bytes")),
        ] + ([r.get("image") or "-"] if images else []))
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=True)]
        cells[2] = style(cells[2], fg=STATE_COLORS.get(row[2]))
        cells[3] = style(cells[3], fg=HEALTH_COLORS.get(row[3]))
        click.echo("  ".join(cells).rstrip())
    for name in order:
        r = data["services"][name]
        if r["state"] == "failed" and r.get("detail"):
            click.echo(style(f"{name}: {r['detail']}", fg="red"))
    for name, why in (data.get("foreign") or {}).items():
        click.echo(style(f"note: {name}: not ours any more: {why}; left alone", fg="yellow"))
    for problem in data.get("problems") or []:
        click.echo(style(f"warning: {problem}", fg="yellow"))
    drifted = {n: r.get("drift_detail") or r["drift"] for n, r in data["services"].items() if r.get("drift")}
    for name, fields in drifted.items():
        click.echo(style(f"changed: {name}: {', '.join(fields)}", fg="yellow"))
    if data.get("config_problem"):
        click.echo(style(f"the files have an error, so what runs may differ from them: {data['config_problem']}",
                         fg="yellow"))
    if drifted:
        click.echo(style("what runs differs from the files: dev-orchestrator start applies them "
                         "(--dry-run shows the plan)", fg="yellow"))


# -- health ---------------------------------------------------------------------------------

HEALTH_EPILOG = """\b
Examples:
  dev-orchestrator health               probe every service now, in parallel
  dev-orchestrator health backend --deep
  dev-orchestrator health --json        {"healthy": ..., "wall_ms": ..., "services": {...}}
"""


@click.command(epilog=HEALTH_EPILOG)
@click.argument("services", nargs=-1, shell_complete=service_names)
@common_options
@click.option("--deep", is_flag=True, help="Also run the services' deep probes.")
@click.option("--json", "as_json", is_flag=True, help="Print the health JSON.")
def health(services: tuple[str, ...], file: Path | None, env: str | None, docker: bool | None,
           deep: bool, as_json: bool) -> int:
    """Run every selected probe now, in parallel; exit 1 if any is unhealthy."""
    from ..control.client import Client
    from ..errors import SupervisorNotRunning

    began = time.perf_counter()
    path, paths = _paths(file)
    try:
        report = Client(paths).call("POST", "/v1/health", {"services": list(services), "deep": deep}, timeout=60.0)
    except SupervisorNotRunning:
        report = _offline_health(path, paths, env, docker, list(services), deep)
    report.pop("type", None)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        results = report["services"]
        width = max((len(n) for n in results), default=0)
        for name, r in results.items():
            word = style("healthy  ", fg="green") if r["healthy"] else style("UNHEALTHY", fg="red", bold=True)
            click.echo(f"{name.ljust(width)}  {word}  {r['latency_ms']:>6.0f} ms   {r['detail']}")
        bad = [n for n, r in results.items() if not r["healthy"]]
        total = (time.perf_counter() - began) * 1000
        if bad:
            click.echo(f"{style('✗', fg='red', bold=True)} {len(bad)} of {len(results)} unhealthy "
                       f"({', '.join(bad)}) in {total:.0f} ms")
        else:
            click.echo(f"{style('✓', fg='green', bold=True)} {len(results)} healthy in {total:.0f} ms")
    return 0 if report["healthy"] else 1


def _offline_health(path: Path, paths: Any, env: str | None, docker: bool | None, names: list[str], deep: bool) -> dict[str, Any]:
    import asyncio

    from ..config.resolve import resolve
    from ..control.recovery import orphans
    from ..health.report import check_health
    from ..state import read_state
    from .selection import select

    stack = resolve(load_config(path, env, quiet_warnings=True), docker=docker)
    selected = select(stack, names)
    state = read_state(paths.state)
    alive = {n: True for n in orphans(state)}
    records = (state or {}).get("services") or {}
    completed = {n for n, r in records.items() if r.get("state") == "exited" and r.get("exit_code") == 0}
    ready = {n for n, r in records.items() if n in alive and r.get("health") == "healthy"}
    return asyncio.run(check_health(stack, selected, deep=deep, alive=alive, completed=completed, ready=ready))


# -- logs -----------------------------------------------------------------------------------

LOGS_EPILOG = """\b
Examples:
  dev-orchestrator logs                 last 100 lines of every service, merged in time order
  dev-orchestrator logs -f backend      follow backend (survives rotation and restarts)
  dev-orchestrator logs -n 20 redis backend
"""


@click.command(epilog=LOGS_EPILOG)
@click.argument("services", nargs=-1, shell_complete=service_names)
@common_options_no_short_file
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until Ctrl-C.")
@click.option("-n", "--lines", "count", type=click.IntRange(min=0), default=100, show_default=True,
              help="How many of the last lines to show.")
def logs(services: tuple[str, ...], file: Path | None, env: str | None, docker: bool | None,
         follow: bool, count: int) -> int:
    """Show service logs merged in time order with coloured prefixes."""
    from ..errors import UsageError
    from ..logs.reader import follow as follow_lines
    from ..logs.reader import followers, last_lines
    from .render import color_for

    _path, paths = _paths(file)
    available = sorted(p.name[:-4] for p in paths.logs.glob("*.log")) if paths.logs.is_dir() else []
    names = list(dict.fromkeys(services)) or available
    unknown = [n for n in names if n not in available]
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], available, n=1)
        hint = f'did you mean "{close[0]}"?' if close else ("logs exist for: " + ", ".join(available) if available
                                                            else "no service has written a log yet")
        raise UsageError(f"no log for {', '.join(unknown)} in {paths.logs}", hint=hint)
    width = max((len(n) for n in names), default=0)
    colors = {n: color_for(i) for i, n in enumerate(sorted(names))}
    out = sys.stdout

    def show(line: Any) -> None:
        prefix = style(f"{line.service.ljust(width)} |", fg=colors[line.service])
        out.write(f"{line.clock} {prefix} {line.text}\n")

    watching = followers(paths.logs, names) if follow else []
    upto = {f.service: f.offset for f in watching}
    for line in last_lines(paths.logs, names, count, upto):
        show(line)
    out.flush()
    if follow:
        try:
            for line in follow_lines(watching):
                show(line)
                out.flush()
        except KeyboardInterrupt:
            return 0
    return 0


# -- ports ----------------------------------------------------------------------------------

PORTS_EPILOG = """\b
Examples:
  dev-orchestrator ports                every declared port: free, or who holds it
  dev-orchestrator ports --env staging --json
"""


@click.command(epilog=PORTS_EPILOG)
@common_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def ports(file: Path | None, env: str | None, docker: bool | None, as_json: bool) -> int:
    """Every declared port: its service, whether it is free, and who holds it if not."""
    from ..config.resolve import resolve
    from ..control.recovery import orphans
    from ..ports import port_is_free, port_owner
    from ..state import Paths, read_state

    loaded = load_config(file, env, quiet_warnings=as_json)
    stack = resolve(loaded, docker=docker)
    state = read_state(Paths(loaded.root).state) or {}
    ours = {r.get("pid"): n for n, r in orphans(state).items()}
    rows: list[dict[str, Any]] = []
    for name in stack.graph.order():
        for port in stack.services[name].ports:
            free = port_is_free(port)
            owner = None if free else port_owner(port)
            holder = None
            if owner is not None:
                holder = ours.get(owner.pid)
                if holder is None and owner.pid is not None:
                    holder = _owner_service(owner.pid, ours)
            rows.append({"port": port, "service": name, "free": free,
                         "pid": owner.pid if owner else None, "command": owner.command if owner else None,
                         "held_by_service": holder})
    if as_json:
        click.echo(json.dumps({"ports": rows}, indent=2))
        return 0
    width = max([len("SERVICE"), *(len(r["service"]) for r in rows)])
    click.echo(f"{'PORT':<6} {'SERVICE'.ljust(width)}  STATUS")
    for r in rows:
        if r["free"]:
            status_text = style("free", fg="green")
        elif r["held_by_service"]:
            status_text = f"in use by {r['held_by_service']} (pid {r['pid']})"
        else:
            status_text = style(f"in use by pid {r['pid']} ({r['command']})" if r["pid"] else "in use", fg="red")
        click.echo(f"{r['port']:<6} {r['service'].ljust(width)}  {status_text}")
    return 0


def _owner_service(pid: int, ours: dict[Any, str]) -> str | None:
    import psutil

    try:
        for parent in psutil.Process(pid).parents():
            if parent.pid in ours:
                return ours[parent.pid]
    except psutil.Error:
        return None
    return None
