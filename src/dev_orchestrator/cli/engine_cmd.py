"""`up`: run services in the foreground with multiplexed output; Ctrl-C stops them."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

from . import live
from .common import common_options, display_path, load_config, parse_timeout, print_error, style
from .completion import service_names

UP_EPILOG = """\b
Examples:
  dev-orchestrator up                   the whole stack, output of every service
  dev-orchestrator up backend           backend and what it depends on
  dev-orchestrator up --env staging --timeout 60s
  dev-orchestrator up --ui              the same in the terminal dashboard; leaving it stops all
Ctrl-C stops everything gracefully; a second Ctrl-C kills what is left.
"""


@click.command(epilog=UP_EPILOG)
@click.argument("services", nargs=-1, shell_complete=service_names)
@common_options
@click.option("--timeout", callback=parse_timeout, metavar="DURATION",
              help="Start-up deadline for each service (default: from its healthcheck).")
@click.option("--watch", "watch_files", is_flag=True, help="Also follow the services' develop.watch rules.")
@click.option("--dry-run", is_flag=True, help="Print the plan (everything is created) and change nothing.")
@click.option("--scale", multiple=True, metavar="SVC=N",
              help="Run N replicas of SVC, over deploy.replicas (repeatable).")
@click.option("--ui", "with_ui", is_flag=True,
              help="Show the terminal dashboard instead of the merged output; leaving it stops the stack.")
def up(services: tuple[str, ...], file: Path | None, env: str | None, docker: bool | None, timeout: float | None,
       watch_files: bool = False, dry_run: bool = False, scale: tuple[str, ...] = (), with_ui: bool = False) -> int:
    """Start services (and their dependencies) in the foreground; stop them on Ctrl-C."""
    from ..config.resolve import parse_scale, resolve, scaled
    from ..errors import UsageError
    from ..state import Lock, Paths, new_run_token
    from .selection import select

    if with_ui and not dry_run:
        return _up_ui(services, file, env, docker, timeout, scale, watch_files)

    loaded = load_config(file, env)
    stack = scaled(resolve(loaded, docker=docker), parse_scale(scale))
    names = select(stack, services)
    if dry_run:
        import os

        from ..plan import plan

        click.echo(f"plan for {stack.project} · env {stack.config.env} (up --dry-run: nothing changes)")
        for line in plan(stack, {}, environ=os.environ, names=names if services else None).render():
            click.echo(line)
        return 0
    paths = Paths(loaded.root)
    paths.ensure()
    # One runner per project: `up` holds the supervisor's lock, so a background
    # supervisor (or its crash recovery) never takes `up`'s processes for its own.
    lock = Lock(paths.lock)
    if not lock.acquire(blocking=False):
        raise UsageError("a background supervisor already runs this project",
                         hint="use dev-orchestrator logs -f to watch it, or dev-orchestrator stop first")
    try:
        watch = (file, env, docker, names if services else []) if watch_files else None
        return asyncio.run(_up(stack, names, timeout, f"{paths.project_id}:{new_run_token()}", watch))
    finally:
        lock.release()


def _up_ui(services: tuple[str, ...], file: Path | None, env: str | None, docker: bool | None,
           timeout: float | None, scale: tuple[str, ...], watch_files: bool) -> int:
    """``up --ui``: the stack under a supervisor of its own, the dashboard over it, all stopped on leaving.

    The dashboard is a client of the supervisor's API, so the stack runs under one; what
    makes it ``up`` is that it lasts as long as the view: leaving with q, Q or Ctrl-C
    stops every service and the supervisor, as Ctrl-C ends ``up``.
    """
    from ..control.client import Client
    from ..errors import UsageError
    from .common import project_paths
    from .control_cmd import _start, stop
    from .progress import command_name, summary

    if watch_files:
        raise UsageError("up --ui does not follow develop.watch",
                         hint=f"run {command_name()} start --watch, then {command_name()} ui")
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("the dashboard needs a terminal (stdin and stdout are not one)",
                         hint=f"use {command_name()} up without --ui")
    _path, paths = project_paths(file)
    if Client(paths).ping() is not None:
        raise UsageError("a background supervisor already runs this project",
                         hint=f"{command_name()} ui shows it; up --ui runs (and stops) a stack of its own")
    code = _start(services, file, env, docker, timeout, False, False, scale)
    if code != 0:
        return code
    from ..ui.tui import Dashboard

    try:
        Dashboard(paths).run()
    finally:
        if Client(paths).ping() is not None:
            summary("leaving up --ui: stopping the stack")
            stop.callback((), file, None, None, False, None)  # type: ignore[misc]
    return 0


async def _up(stack: Any, names: list[str], timeout: float | None, marker_prefix: str,
              watch: tuple[Any, ...] | None = None) -> int:
    from ..backends.process import use_pidfd_watcher
    from ..control.protocol import event_record, start_result, stop_record
    from ..runtime.engine import Engine
    from .progress import failure_text, record_line, seconds
    from .render import LogPrinter

    targets = [n for n in stack.graph.order() if n in stack.graph.closure(names)]
    width = max(len(n) for n in targets)
    loop = asyncio.get_running_loop()
    use_pidfd_watcher(loop)  # up's one loop: no thread per service
    interrupts = 0
    stop_requested = asyncio.Event()
    kill_requested = asyncio.Event()  # a second Ctrl-C; an Event, so that none is lost

    def on_signal() -> None:
        nonlocal interrupts
        interrupts += 1
        stop_requested.set()
        if interrupts >= 2:
            kill_requested.set()
        if interrupts == 1:
            click.echo("\nstopping (Ctrl-C again to kill)...", err=True)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)

    config = stack.config
    click.echo(
        f"{config.project} · env {config.env} · {len(targets)} services · {' + '.join(config.files)}", err=True
    )
    began = time.monotonic()
    async with Engine(stack, marker_prefix=marker_prefix) as engine:
        printer = LogPrinter(targets)
        for name in targets:
            engine.sink(name).add_listener(printer)

        view = live.LiveView(targets, stack.graph.deps, width) if live.wanted() else None

        def on_event(event: Any, status: Any) -> None:
            record = event_record(event, status, stack.services[event.service], time.monotonic() - began)
            if view is not None and view.active:
                view.update(record)
                return
            line = record_line(record, width)
            if line:
                click.echo(line, err=True)

        engine.listeners.append(on_event)
        start = asyncio.ensure_future(engine.start(names, timeout=timeout))
        interrupted = asyncio.ensure_future(stop_requested.wait())
        with view if view is not None else contextlib.nullcontext():
            await asyncio.wait([start, interrupted], return_when=asyncio.FIRST_COMPLETED)
        interrupted.cancel()
        if not start.done():  # Ctrl-C during start-up: abandon the start, then stop all
            start.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await start
            report = None
        else:
            report = start.result()
        if report is not None and not report.ok:
            click.echo(failure_text(start_result(report), display_path(stack.root / "logs")), err=True)
            return 1
        if report is not None and not stop_requested.is_set():
            click.echo(
                f"{style('✓', fg='green', bold=True)} {len(targets)} services up in {seconds(report.duration)}"
                "   ·   Ctrl-C to stop",
                err=True,
            )
            if watch is not None:
                from .watch_cmd import watch_engine

                # Watching runs until Ctrl-C; services that end by themselves do not end it.
                await watch_engine(engine, stop_requested, *watch)
            else:
                idle = asyncio.ensure_future(engine.wait_idle())
                waiter = asyncio.ensure_future(stop_requested.wait())
                await asyncio.wait([idle, waiter], return_when=asyncio.FIRST_COMPLETED)
                idle.cancel()
                waiter.cancel()
        engine.listeners.remove(on_event)
        stop_task = asyncio.ensure_future(engine.stop())
        killer = asyncio.ensure_future(kill_requested.wait())
        await asyncio.wait([stop_task, killer], return_when=asyncio.FIRST_COMPLETED)
        if killer.done() and not stop_task.done():
            print_error("killing what is left")
            await engine.stop(grace=0)
        killer.cancel()
        await stop_task
        result = stop_task.result()
        for name, stopped in result.stopped.items():
            click.echo(record_line({"kind": "Stopped", "service": name, **stop_record(stopped)}, width), err=True)
        click.echo(f"{style('✓', fg='green', bold=True)} stopped {len(result.stopped)} services in "
                   f"{seconds(result.duration)}", err=True)
    return 0
