"""`status`, `health`, `logs`, `ports`: looking at the stack without changing it.

They ask the supervisor when one runs and fall back to the files it left (the state
file, the logs) when none does, avoiding the configuration where they can, so they
start fast.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from .common import (
    common_options,
    common_options_no_short_file,
    load_config,
    style,
)
from .common import (
    project_paths as _paths,
)
from .completion import service_names
from .views import LogLines, only, print_health, print_status, status_json

# -- status ---------------------------------------------------------------------------------

STATUS_EPILOG = """\b
Examples:
  dev-orchestrator status               a table: state, health, pid, uptime, restarts, ports, CPU, memory
  dev-orchestrator status --json        the same for scripts (shape in docs/SERVICES.md)
  dev-orchestrator status backend redis only these services
"""


@click.command(epilog=STATUS_EPILOG)
@click.argument("services", nargs=-1, shell_complete=service_names)
@common_options
@click.option("--json", "as_json", is_flag=True, help="Print the status JSON (see docs/SERVICES.md).")
def status(services: tuple[str, ...], file: Path | None, env: str | None, docker: bool | None, as_json: bool) -> int:
    """Show every service: state, health, pid or container, uptime, restarts, ports, CPU, memory."""
    from ..control.client import Client
    from ..errors import SupervisorError

    path, paths = _paths(file)
    try:
        data = _call(Client(paths), "GET", "/v1/status", None, 5.0)
    except SupervisorError as exc:
        from ..control.recovery import supervisor_alive

        data = _offline_status(path, paths, env)
        if supervisor_alive(paths):
            # Alive (it holds its lock) but not answering: busy, not dead.
            from ..state import read_state

            recorded = ((read_state(paths.state) or {}).get("supervisor") or {}).get("pid")
            reason = "its request queue is full" if "queue" in exc.message else "it did not answer in time"
            data["supervisor"].update(running=True, busy=reason, died=False, pid=recorded)
            data["orphans"] = []
    data.pop("type", None)
    if services:
        only(data, list(dict.fromkeys(services)))
    if as_json:
        click.echo(json.dumps(status_json(data), indent=2))
        return 0
    print_status(data)
    return 0


def _call(client: Any, method: str, path: str, body: dict[str, Any] | None, timeout: float) -> dict[str, Any]:
    """The supervisor's reply; a failure the quick path already met (cli/quick.py) is raised
    again instead of being waited for a second time."""
    from .quick import failed

    earlier = failed(method, path)
    if earlier is not None:
        raise earlier
    return dict(client.call(method, path, body, timeout=timeout))


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
        report = _call(Client(paths), "POST", "/v1/health", {"services": list(services), "deep": deep}, 60.0)
    except SupervisorNotRunning:
        report = _offline_health(path, paths, env, docker, list(services), deep)
    report.pop("type", None)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        print_health(report, began)
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
    alive = {n: True for n in orphans(paths, state)}
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
    from ..logs.reader import follow_text, followers, last_lines

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
    printer = LogLines(names)
    out = printer.out

    watching = followers(paths.logs, names) if follow else []
    upto = {f.service: f.offset for f in watching}
    printer.show_all(last_lines(paths.logs, names, count, upto))
    out.flush()
    if follow:
        try:
            if len(watching) == 1:  # nothing to merge: whole blocks, formatted at once
                for blocks in follow_text(watching[0]):
                    printer.show_text(watching[0].service, blocks)
                    out.flush()
            else:
                for batch in follow_lines(watching):
                    printer.show_all(batch)
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
    ours = {r.get("pid"): n for n, r in orphans(Paths(loaded.root), state).items()}
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
                supervisor = (state.get("supervisor") or {}).get("pid")
                if holder is None and owner.pid is not None and owner.pid == supervisor:
                    holder = f"the supervisor for {name} (listen)"  # a port it keeps across restarts
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
