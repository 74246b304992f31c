"""The supervisor's reconcile side: reload the files, plan, apply; drift; watchers.

A mixin of the Supervisor (control/daemon.py): every command that changes the stack
(`start`, `restart`, `POST /v1/apply`) comes through ``_apply``, which loads the files
again (a config error changes nothing), plans against what runs (plan.py) and has the
executor (control/reconcile.py) carry the plan out under the operation lock.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import psutil

from ..errors import OrchestratorError, UsageError
from . import protocol
from .requests import ApplyBody, RestartBody, StartBody, WatchingBody, parse


class Following:
    """Reload, plan and apply; what the files say against what runs."""

    # Set by the Supervisor (control/daemon.py).
    stack: Any
    engine: Any
    file: Path
    docker_flag: bool | None
    environ: dict[str, str]
    fingerprints: dict[str, dict[str, Any]]
    watchers: dict[int, tuple[float, set[str]]]
    watching_here: set[str]
    op_lock: asyncio.Lock
    _desired: tuple[float, Any] | None
    _desired_prints: dict[str, Any]  # service -> fingerprint of its definition in _desired
    _desired_problem: str | None
    scale: dict[str, int]
    _config_mtime: float

    def _mtime(self) -> float:
        raise NotImplementedError

    def _names(self, names: list[str], stack: Any = None) -> list[str]:
        raise NotImplementedError

    def _stream(self, operation: Any) -> Any:
        raise NotImplementedError

    # -- reconcile --------------------------------------------------------------------------

    def load_stack(self, *, env: str | None = None, docker: Any = "same", environ: dict[str, str] | None = None) -> Any:
        """Read the files again (ConfigError: nothing changes) and resolve them."""
        from ..config import load
        from ..config.resolve import resolve, scaled

        environ = self.environ if environ is None else environ
        docker = self.docker_flag if docker == "same" else docker
        config = load(self.file, env or self.stack.config.env, cwd=self.stack.root, environ=environ)
        return scaled(resolve(config, docker=docker, environ=environ), self.scale, strict=False)

    def drift(self) -> dict[str, tuple[str, ...]]:
        """Per running service, how its definition in the files differs from what runs."""
        from ..plan import changed_fields, fingerprint

        mtime = self._mtime()
        if self._desired is None or self._desired[0] != mtime:
            try:
                stack = self.load_stack()
                self._desired_problem = None
            except OrchestratorError as exc:
                stack = None
                self._desired_problem = str(exc).splitlines()[0]
            self._desired = (mtime, stack)
            self._desired_prints = {}
        desired = self._desired[1]
        if desired is None:
            return {}
        out: dict[str, tuple[str, ...]] = {}
        for name, running in self.fingerprints.items():
            if not self.engine.is_active(name):
                continue
            if name not in desired.services:
                out[name] = ("removed",)
                continue
            wanted = self._desired_prints.get(name)
            if wanted is None:  # once per service and load of the files, not at every status
                wanted = self._desired_prints[name] = fingerprint(desired.services[name], self.environ)
            changes = changed_fields(running, wanted)
            if changes:
                out[name] = changes
        return out

    def _record_fingerprint(self, event: Any) -> None:
        from ..plan import fingerprint

        svc = self.service(event.service)
        if svc is not None:
            self.fingerprints[event.service] = fingerprint(svc, self.environ)

    def service(self, name: str) -> Any:
        """The definition an instance runs (its unit's), else the one in the current stack."""
        unit = self.engine.units.get(name) if self.engine is not None else None
        return unit.service if unit is not None else self.stack.services.get(name)

    async def h_start(self, body: dict[str, Any]) -> Any:
        """Start = apply the files as they are now (the reconcile path, habit 3)."""
        request = parse(StartBody, body)
        return await self._apply(request.services, timeout=request.timeout, environ=request.environ,
                                 dry_run=request.dry_run)

    async def h_apply(self, body: dict[str, Any]) -> Any:
        request = parse(ApplyBody, body)
        docker: Any = "same" if request.docker is None else {"on": True, "off": False, "config": None}[request.docker]
        return await self._apply(request.services, timeout=request.timeout, environ=request.environ,
                                 dry_run=request.dry_run, env=request.env, docker=docker, restart=request.restart,
                                 scale=request.scale)

    async def h_restart(self, body: dict[str, Any]) -> Any:
        """Each named service ends running its current definition (all when none named)."""
        request = parse(RestartBody, body)
        return await self._apply(request.services, timeout=request.timeout, environ=request.environ,
                                 restart=True, rebuild=request.rebuild)

    async def h_watching(self, body: dict[str, Any]) -> dict[str, Any]:
        """A `watch` command registers what it watches, for `status` (its pid proves it lives)."""
        request = parse(WatchingBody, body)
        names = self._names(request.services)
        if names:
            self.watchers[request.pid] = (psutil.Process(request.pid).create_time(), set(names))
        else:
            self.watchers.pop(request.pid, None)
        return {"type": "result", "ok": True}

    def watched(self) -> set[str]:
        out: set[str] = set(self.watching_here)
        for pid, (created, names) in list(self.watchers.items()):
            try:
                alive = abs(psutil.Process(pid).create_time() - created) < 0.05
            except psutil.Error:
                alive = False
            if alive:
                out |= names
            else:
                del self.watchers[pid]
        return out

    async def _rebuild(self, names: list[str]) -> None:
        """Build the named containers' images again, before anything stops."""
        for name in names:
            svc = self.stack.services[name]
            if svc.runtime != "docker" or svc.docker is None or svc.docker.build is None:
                raise UsageError(f"{name} has no image to build (it needs a docker: section with build: "
                                 "and to run in Docker)", hint="use restart for a local process")
            backend: Any = self.engine.backend("docker")
            await backend.rebuild(svc, self.engine.sink(name))

    def _plan(self, stack: Any, names: list[str], environ: dict[str, str], restart: bool) -> Any:
        from ..plan import plan as make_plan
        from .reconcile import observe

        wanted = names or list(stack.graph.deps)
        return make_plan(stack, observe(self.engine, self.fingerprints), environ=environ,
                         names=names or None, restart=wanted if restart else (),
                         observed_order=self.stack.graph.order())

    async def _apply(self, names: list[str], *, timeout: float | None, environ: dict[str, str] | None,
                     dry_run: bool = False, env: str | None = None, docker: Any = "same",
                     restart: bool = False, rebuild: bool = False, scale: dict[str, int] | None = None) -> Any:
        from ..config.resolve import scaled
        from .reconcile import apply

        # Load before anything changes: a config error leaves the stack as it is (exit 2).
        environ = self.environ if environ is None else dict(environ)
        stack = scaled(self.load_stack(env=env, docker=docker, environ=environ), scale or {})
        names = self._names(names, stack)
        if dry_run:
            async with self.op_lock:
                plan = self._plan(stack, names, environ, restart)
            return {"type": "result", "ok": True, "dry_run": True, "plan": plan.to_json(),
                    "env": stack.config.env, "docker": stack.docker}

        async def operation(send: Any) -> dict[str, Any]:
            if rebuild:
                # Before anything stops: a failed build leaves the running container alone.
                await self._rebuild(names or list(stack.graph.deps))
            plan = self._plan(stack, names, environ, restart)  # under the operation lock
            send({"type": "plan", **plan.to_json(), "env": stack.config.env, "docker": stack.docker})
            self.environ = environ
            self._desired_prints = {}  # fingerprints depend on the shell's environment
            self.stack = stack
            if scale:
                self.scale.update(scale)  # kept for this run: later commands read the files with it
                self._desired = None  # drift is judged against the scaled stack from now on
            if docker != "same":
                self.docker_flag = docker
            self._config_mtime = self._mtime()
            done = await apply(self.engine, plan, stack, timeout=timeout)
            result = protocol.start_result(done.report) if done.report is not None else protocol.empty_start_result()
            result["plan"] = plan.to_json()
            result["removed"] = {n: protocol.stop_record(r) for n, r in done.removed.items()}
            result["stopped"] = {n: protocol.stop_record(r) for n, r in done.replaced.items()}
            result["restarted"] = [s.service for s in plan.changes() if s.action.value != "remove"]
            # Start-first replacements: the new instance took over, or the old one kept serving.
            result["replaced"] = {n: rep.to_json() for n, rep in done.swapped.items()}
            for rep in done.swapped.values():
                if rep.ok:
                    self._record_fingerprint(rep)  # what runs now is the new definition
            failed = done.swap_failed
            if failed is not None and result["ok"]:
                rep = done.swapped[failed]
                result.update(ok=False, failed=failed, reason=rep.reason, log_tail=rep.log_tail,
                              replace_failed=True)
            result["completed"] = sorted(n for n, st in self.engine.status.items() if st.completed)
            result["left_running"] = self.engine.active()
            return result

        return self._stream(operation)
