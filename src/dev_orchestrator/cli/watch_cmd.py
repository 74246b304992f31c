"""`watch`: follow the files of the stack in the foreground; Ctrl-C stops watching only.

As `docker compose watch`: the stack is started (or reused) through the supervisor,
then every change under a service's ``develop.watch`` paths restarts, syncs, rebuilds or
runs a command, one line per action; an edit of services.yaml, an overlay or .env is
applied through the reconcile plan. Ctrl-C stops watching; the stack keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

import click

from .common import common_options, load_config, print_warning
from .completion import service_names

EPILOG = """\b
Examples:
  dev-orchestrator watch                    every service with develop.watch rules
  dev-orchestrator watch backend frontend   only these services' rules
Ctrl-C stops watching; the stack keeps running (dev-orchestrator stop stops it).
"""


class ClientActions:
    """The runner's actions carried out through the supervisor's API (and Docker for syncs)."""

    def __init__(self, client: Any, file: Path | None, env: str | None, docker: bool | None) -> None:
        self.client = client
        self.file = file
        self.env = env
        self.docker = docker
        self.stack: Any = None
        self.runner: Any = None
        self._docker_client: Any = None

    def load(self) -> Any:
        from ..config.resolve import resolve

        self.stack = resolve(load_config(self.file, self.env, quiet_warnings=True), docker=self.docker)
        return self.stack

    async def _stream(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            result: dict[str, Any] = {}
            for record in self.client.stream(path, body):
                if record.get("type") in ("result", "plan"):
                    result[str(record["type"])] = record
            return result

        return await asyncio.to_thread(run)

    async def restart(self, services: list[str]) -> str:
        return _outcome((await self._stream("/v1/restart", {"services": services,
                                                            "environ": dict(os.environ)}))["result"])

    async def rebuild(self, service: str) -> str:
        return _outcome((await self._stream("/v1/restart", {"services": [service], "rebuild": True,
                                                            "environ": dict(os.environ)}))["result"])

    async def sync(self, rule: Any, files: tuple[Path, ...]) -> str:
        from ..errors import OrchestratorError
        from ..watch.sync import sync_container, sync_local

        began = time.monotonic()
        accept = self._accept(rule)
        if rule.container:
            container_id = await self.container_id(rule.service)
            if not container_id:
                raise OrchestratorError(f"{rule.service} has no running container to sync into")
            container = await asyncio.to_thread(self._container, container_id)
            result = await asyncio.to_thread(sync_container, container, rule.path, rule.target, files, accept=accept)
            where = f"{rule.target} in the container"
        else:
            target = rule.local_target(self.stack.root)
            result = await asyncio.to_thread(sync_local, rule.path, target, files, accept=accept)
            where = str(target)
        return (f"-> {where}: {len(result.written)} written, {len(result.deleted)} deleted "
                f"in {time.monotonic() - began:.2f}s")

    async def container_id(self, service: str) -> str | None:
        record = (await asyncio.to_thread(self.client.call, "GET", "/v1/status"))["services"].get(service)
        return str(record["container"]) if record and record.get("container") else None

    def _accept(self, rule: Any) -> Any:
        """Only files the rule takes (include/ignore) are copied from a folder."""
        watcher = getattr(self.runner, "watcher", None) if self.runner is not None else None
        if watcher is None:
            return None
        return lambda path: watcher.matcher.accepts(rule, path)

    def _container(self, container_id: str) -> Any:
        from ..backends.docker import connect

        if self._docker_client is None:
            self._docker_client = connect()
        return self._docker_client.containers.get(container_id)

    async def exec(self, rule: Any) -> str:
        from ..backends.process import run_command
        from ..watch.sync import run_exec

        if rule.container:
            container = await asyncio.to_thread(self._container, str(await self.container_id(rule.service)))
            code, output = await asyncio.to_thread(run_exec, container, rule.exec)
        else:
            svc = self.stack.services[rule.service]
            done = await run_command(rule.exec.argv(), 60.0, cwd=str(svc.cwd), env=dict(svc.env))
            code, output = done.code, done.output
        tail = f": {output.strip().splitlines()[-1]}" if output.strip() else ""
        return f"exec exited {code}{tail}"

    async def apply(self) -> list[str]:
        self.load()  # a config error is reported here, and nothing changes
        done = await self._stream("/v1/apply", {"environ": dict(os.environ)})
        plan = done.get("plan") or {}
        changes = [f"{s['service']} {s['action']} ({', '.join(s.get('reasons') or [])})"
                   for s in plan.get("steps", []) if s["action"] != "keep"]
        result = done["result"]
        if not result.get("ok", True):
            changes.append(f"FAILED: {result.get('reason')}")
        return changes

    def dependents(self, service: str) -> list[str]:
        graph = self.stack.graph
        return [n for n in graph.order() if n in graph.reverse_closure([service]) and n != service]


def _outcome(result: dict[str, Any]) -> str:
    from ..errors import OrchestratorError

    if result.get("type") == "error":
        raise OrchestratorError(str(result.get("message")))
    if not result.get("ok"):
        if result.get("replace_failed"):
            raise OrchestratorError(f"{result.get('failed')} not replaced: {result.get('reason')} "
                                    "(the old instance keeps serving)")
        raise OrchestratorError(f"{result.get('failed')} failed: {result.get('reason')}")
    swapped = [rep for rep in (result.get("replaced") or {}).values() if rep.get("ok")]
    if swapped:  # start-first, behind the supervisor's port
        rep = swapped[0]
        return (f"replaced pid {rep['old_pid']} -> {rep['new_pid']}, healthy in {rep['healthy_in']:.2f}s, "
                f"no request lost")
    ready = result.get("ready_after") or {}
    return f"healthy in {max(ready.values()):.2f}s" if ready else "done"


def setup_for(actions: ClientActions, names: list[str]) -> Any:
    """The rules of the watched services and the stack's config files, read now."""
    from ..watch.rules import Build, rules_for
    from ..watch.runner import Setup
    from ..watch.watcher import config_files

    stack = actions.load()
    rules: list[Any] = []
    for name in names or list(stack.graph.deps):
        svc = stack.services.get(name)
        if svc is None or svc.spec.develop is None:
            continue
        build = None
        if svc.docker is not None and svc.docker.build is not None:
            build = Build(stack.root / svc.docker.build.context, svc.docker.build.dockerfile)
        rules.extend(rules_for(name, svc.spec.develop, root=stack.root, container=svc.runtime == "docker",
                               build=build))
    return Setup(tuple(rules), config_files(stack.config.file, project=stack.project, env=stack.config.env))


@click.command(epilog=EPILOG)
@click.argument("services", nargs=-1, shell_complete=service_names)
@common_options
@click.option("--no-start", is_flag=True, hidden=True, help="Watch a stack that already runs (start --watch).")
def watch(services: tuple[str, ...], file: Path | None, env: str | None, docker: bool | None,
          no_start: bool = False) -> int:
    """Start the stack, then restart, sync or rebuild services as their files change."""
    from ..control.client import Client
    from ..state import Paths
    from .control_cmd import start
    from .selection import select

    if not no_start:
        ctx = click.get_current_context()
        code = int(ctx.invoke(start, services=services, file=file, env=env, docker=docker, timeout=None) or 0)
        if code:
            return code
    loaded = load_config(file, env, quiet_warnings=True)
    client = Client(Paths(loaded.root))
    actions = ClientActions(client, file, env, docker)
    stack = actions.load()
    names = select(stack, services) if services else []
    setup = setup_for(actions, names)
    watched = sorted({r.service for r in setup.rules})
    if not watched:
        print_warning("no service has develop.watch rules; watching the config files only")
    def ready() -> None:
        # Said once every watch is in place: a change from now on is seen.
        click.echo(f"watching {len(watched)} service{'s' if len(watched) != 1 else ''}"
                   f"{' (' + ', '.join(watched) + ')' if watched else ''} · Ctrl-C stops watching, "
                   "the stack keeps running", err=True)

    client.call("POST", "/v1/watching", {"services": watched, "pid": os.getpid()})
    try:
        asyncio.run(_run(actions, names, stack, ready))
    finally:
        from ..errors import SupervisorError

        with contextlib.suppress(SupervisorError):
            client.call("POST", "/v1/watching", {"services": [], "pid": os.getpid()})
    return 0


async def _while_supervisor_lives(client: Any, stop: asyncio.Event, every: float = 1.0, misses: int = 3) -> None:
    """Set ``stop`` once the supervisor has not answered ``misses`` pings in a row."""
    missed = 0
    while not stop.is_set():
        await asyncio.sleep(every)
        missed = 0 if await asyncio.to_thread(client.ping) is not None else missed + 1
        if missed >= misses:
            click.echo("the supervisor is gone: stopped watching", err=True)
            stop.set()


async def _run(actions: ClientActions, names: list[str], stack: Any, ready: Any = None) -> None:
    from ..watch.runner import WatchRunner

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def report(line: str) -> None:
        click.echo(line)

    runner = WatchRunner(lambda: setup_for(actions, names), actions, report, root=stack.root,
                         logs_dir=stack.root / "logs", on_ready=ready)
    actions.runner = runner
    async with asyncio.TaskGroup() as group:
        # A watcher without its supervisor has nothing to act on: it ends with it.
        alive = group.create_task(_while_supervisor_lives(actions.client, stop))
        await runner.run(stop)
        alive.cancel()
    click.echo("stopped watching; the stack keeps running", err=True)


class EngineActions(ClientActions):
    """`up --watch`: the same actions on the foreground engine (no supervisor)."""

    def __init__(self, engine: Any, file: Path | None, env: str | None, docker: bool | None) -> None:
        super().__init__(None, file, env, docker)
        self.engine = engine
        self.stack = engine.stack

    async def container_id(self, service: str) -> str | None:
        return self.engine.status[service].container

    async def restart(self, services: list[str]) -> str:
        await self.engine.stop(services, cascade=False)
        report = await self.engine.start(services)
        from ..control.protocol import start_result

        return _outcome(start_result(report))

    async def rebuild(self, service: str) -> str:
        await self.engine.backend("docker").rebuild(self.engine.definition(service), self.engine.sink(service))
        return await self.restart([service])

    async def apply(self) -> list[str]:
        from ..control.reconcile import apply
        from ..plan import Observed, fingerprint, plan

        old = self.stack
        new = self.load()  # a config error is reported here, and nothing changes
        observed = {}
        for name, status in self.engine.status.items():
            running = self.engine.is_active(name) or status.completed
            spec = self.engine.definition(name) if name in old.services or name in self.engine.units else None
            observed[name] = Observed(status.state.value, fingerprint(spec, os.environ) if running and spec else None,
                                      completed=status.completed, gave_up=status.gave_up)
        steps = plan(new, observed, environ=os.environ, observed_order=old.graph.order())
        done = await apply(self.engine, steps, new, timeout=None)
        lines = [f"{s.service} {s.action.value} ({', '.join(s.reasons)})" for s in steps.changes()]
        if done.report is not None and not done.report.ok:
            lines.append(f"FAILED: {done.report.failed}: {done.report.reason}")
        return lines


async def watch_engine(engine: Any, stop: asyncio.Event, file: Path | None, env: str | None,
                       docker: bool | None, names: list[str]) -> None:
    """Run the watch runner on a foreground engine until ``stop`` is set (`up --watch`)."""
    from ..watch.runner import WatchRunner

    actions = EngineActions(engine, file, env, docker)
    runner = WatchRunner(lambda: setup_for(actions, names), actions, lambda line: click.echo(line, err=True),
                         root=engine.stack.root, logs_dir=engine.logs_dir)
    actions.runner = runner
    await runner.run(stop)
