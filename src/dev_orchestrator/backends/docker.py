"""Containers through the Docker SDK, in the same graph as local processes.

Each project gets one network (``<project>_default``) where containers answer to their
service name; published ports bind to 127.0.0.1 unless a host address is written; named
volumes are prefixed with the project and outlive containers. Containers, the network
and volumes carry labels (project, service, config hash), which is how leftovers of a
dead supervisor or of an earlier run are found again. The SDK blocks, so every call
runs in a worker thread; each container's output and exit are watched by one
dedicated thread (long-lived streams must not occupy the shared pool).

Functions for commands that work without an engine (``stop``, ``status``):

    connect() -> docker.DockerClient
        raises DockerUnavailableError with the message users see
    cleanup_project(project: str, *, volumes: bool = False, client=None) -> Cleanup
        stops (each container's own stop signal and grace period, then kill) and removes
        every container with the project's label, then its network; its named volumes
        only when ``volumes`` is true (``stop --volumes``). Blocking: call it through
        ``asyncio.to_thread`` from async code.
    container_status(project: str, *, client=None) -> dict[str, ContainerStatus]
        per service: container id (12 hex), name, image, state ("running", "exited",
        ...), health ("healthy", "unhealthy", "starting", "none"), config hash, ports.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import docker
import docker.errors
import requests.exceptions

from ..errors import BackendError, DockerUnavailableError
from .base import ExecResult, ExitStatus, StopResult
from .docker_images import ImageProblem, ensure_images
from .docker_spec import (
    LABEL_HASH,
    LABEL_SERVICE,
    ContainerPlan,
    image_of,
    instance_plan,
    network_name,
    plan_container,
    project_filter,
    project_labels,
)

if TYPE_CHECKING:
    from ..config.resolve import ResolvedService, ResolvedStack
    from ..health.probes import ProbeResult
    from ..logs.writer import LogSink

T = TypeVar("T")
DEFAULT_HOST = "unix:///var/run/docker.sock"
POOL_SIZE = 256  # one streaming connection per container, plus short calls


def docker_host() -> str:
    return os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def _root_cause(exc: BaseException) -> str:
    """The innermost readable reason (``No such file or directory``), not a chain of reprs."""
    seen: set[int] = set()
    current: BaseException | None = exc
    reason = str(exc)
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current.strerror
        for arg in current.args:
            if isinstance(arg, BaseException):
                current = arg
                break
        else:
            current = current.__cause__ or current.__context__
    return reason


def connect(*, timeout: float | None = 60) -> docker.DockerClient:
    """A client for ``$DOCKER_HOST`` (default the local socket), checked with a ping."""
    try:
        client = docker.from_env(timeout=timeout, max_pool_size=POOL_SIZE)  # type: ignore[arg-type]
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
        raise DockerUnavailableError(
            f"Docker is not reachable at {docker_host()}: {_root_cause(exc)}; "
            "start the engine or run without --docker"
        ) from exc
    return client


def _api_error(service: str, action: str, exc: Exception) -> BackendError:
    if isinstance(exc, docker.errors.APIError):
        reason = exc.explanation or str(exc)
    else:
        reason = _root_cause(exc)
    if isinstance(reason, bytes):
        reason = reason.decode(errors="replace")
    return BackendError(f"{service}: cannot {action}: {reason}")


# A pool of our own: probes and container calls must not queue behind other
# to_thread users, and a hung exec must not starve the default executor.
_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="docker")


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one blocking SDK call in a worker thread."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_POOL, functools.partial(fn, *args, **kwargs))


class DockerHandle:
    """One container; a watcher thread streams its output, then records its exit."""

    pid: int | None = None
    create_time: float | None = None

    def __init__(
        self, backend: DockerBackend, plan: ContainerPlan, container_id: str, sink: LogSink, *, adopted: bool = False
    ) -> None:
        self.backend = backend
        self.plan = plan
        self.id = container_id
        self.container: str | None = container_id[:12]
        self.sink = sink
        self._loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[ExitStatus] = self._loop.create_future()
        self._thread = threading.Thread(
            target=self._watch, args=(adopted,), name=f"docker-watch:{plan.service}", daemon=True
        )
        self._thread.start()

    def _to_loop(self, fn: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens any more
            self._loop.call_soon_threadsafe(fn, *args)

    def _watch(self, adopted: bool) -> None:
        # Runs in its own thread: feeds output to the sink on the loop's thread (the sink
        # is not thread-safe), then waits for the exit and removes the container, so an
        # exited container never lingers, whether it crashed or was stopped.
        api = self.backend.streams.api
        with contextlib.suppress(Exception):  # the container went away; its exit code still tells
            self._follow(api, adopted)
        status = ExitStatus(None)
        with contextlib.suppress(Exception):
            status = ExitStatus(int(api.wait(self.id)["StatusCode"]))
        with contextlib.suppress(Exception):
            api.remove_container(self.id, force=True)
        self._to_loop(self._finish, status)

    def _follow(self, api: Any, adopted: bool) -> None:
        # The log stream replays what the container wrote so far (an adopted container:
        # only from now on), then follows until it exits. stdout and stderr arrive as one
        # stream, as with a TTY. (attach would lose the first output: the SDK reads it
        # into a buffer it then drops.)
        since = int(time.time()) if adopted else None
        for chunk in api.logs(self.id, stdout=True, stderr=True, stream=True, follow=True, since=since):
            if chunk:
                self._to_loop(self.sink.feed, chunk, "stdout")

    def _finish(self, status: ExitStatus) -> None:
        self.sink.flush()
        if not self._exited.done():
            self._exited.set_result(status)

    async def wait(self) -> ExitStatus:
        return await asyncio.shield(self._exited)

    async def stop(self, signal_name: str, grace: float) -> StopResult:
        began = time.monotonic()
        api = self.backend.client.api
        killed = False
        if not self._exited.done():
            with contextlib.suppress(docker.errors.APIError):
                await call(api.kill, self.id, signal=signal_name)
            try:
                await asyncio.wait_for(self.wait(), timeout=grace)
            except TimeoutError:
                killed = True
                with contextlib.suppress(docker.errors.APIError):
                    await call(api.kill, self.id, signal="SIGKILL")
        try:
            await asyncio.wait_for(self.wait(), timeout=30)
        except TimeoutError:  # the engine itself is stuck; force the removal
            with contextlib.suppress(docker.errors.APIError):
                await call(api.remove_container, self.id, force=True)
        return StopResult(time.monotonic() - began, killed)

    async def exec(self, argv: list[str], timeout: float) -> ExecResult:
        """Run ``argv`` inside the container (command probes).

        On timeout the command may go on running inside the container: the engine has
        no call to kill an exec; its worker thread ends when the command does.
        """
        if self._exited.done():
            return ExecResult(125, "container is not running")
        try:
            result = await asyncio.wait_for(
                call(self.backend.client.api.exec_create, self.id, argv, stdout=True, stderr=True), timeout
            )
            exec_id = result["Id"]
            output = await asyncio.wait_for(call(self.backend.client.api.exec_start, exec_id), timeout)
            info = await asyncio.wait_for(call(self.backend.client.api.exec_inspect, exec_id), timeout)
        except TimeoutError:
            return ExecResult(124, f"timed out after {timeout:g}s")
        except docker.errors.APIError as exc:
            return ExecResult(126, str(exc.explanation or exc))
        text = output.decode(errors="replace") if isinstance(output, bytes) else str(output)
        return ExecResult(int(info.get("ExitCode") or 0), text.strip()[-500:])

    def probe_host(self) -> str:
        return "127.0.0.1"  # http/tcp probes go to the published port on the host

    def probe_address(self, host_port: int) -> tuple[str, int] | None:
        """The container's own address for a published host port (bypasses docker-proxy)."""
        for binding in self.plan.ports:
            if binding.host == host_port:
                ip = self.backend.container_ip(self.id)
                return (ip, binding.container) if ip else None
        return None

    async def docker_health(self) -> ProbeResult:
        """The image's own HEALTHCHECK status, as the engine reports it."""
        from ..health.probes import ProbeResult

        began = time.perf_counter()
        try:
            attrs = await call(self.backend.client.api.inspect_container, self.id)
        except docker.errors.APIError as exc:
            return ProbeResult(False, _ms(began), f"docker: {exc.explanation or exc}")
        state = attrs.get("State") or {}
        health = state.get("Health")
        if not health:
            return ProbeResult(False, _ms(began), "docker: the image has no HEALTHCHECK")
        status = health.get("Status", "none")
        detail = f"docker health: {status}"
        log = health.get("Log") or []
        if status != "healthy" and log:
            last = log[-1]
            output = str(last.get("Output") or "").strip().splitlines()
            detail += f" (exit {last.get('ExitCode')}{': ' + output[-1] if output else ''})"
        return ProbeResult(status == "healthy", _ms(began), detail)


def _ms(began: float) -> float:
    return round((time.perf_counter() - began) * 1000, 2)


class DockerBackend:
    """Runs services with a ``docker:`` section as containers of the project."""

    def __init__(self, stack: ResolvedStack) -> None:
        self.stack = stack
        self.project = stack.project
        self._client: docker.DockerClient | None = None
        self._streams: docker.DockerClient | None = None
        self._plans: dict[str, ContainerPlan] = {}
        self._created: set[str] = set()  # ids of the containers this backend created
        self._networks: set[str] = set()  # networks known to exist
        self._network_lock = asyncio.Lock()  # one create per name, whatever starts in parallel

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = connect()
        return self._client

    @property
    def streams(self) -> docker.DockerClient:
        """A second client without read timeout, for log streams and waits that last."""
        if self._streams is None:
            self._streams = connect(timeout=None)
        return self._streams

    async def _connect(self) -> None:
        if self._client is None:
            self._client = await asyncio.to_thread(connect)
        if self._streams is None:
            self._streams = await asyncio.to_thread(connect, timeout=None)

    async def close(self) -> None:
        """Remove the project network once no container of the project is left (as
        ``docker compose down`` does); named volumes stay."""
        self._networks.clear()
        if self._client is None:
            return
        api = self._client.api
        with contextlib.suppress(docker.errors.APIError):
            if not await call(api.containers, all=True, filters=project_filter(self.project)):
                for net in await call(api.networks, filters=project_filter(self.project)):
                    with contextlib.suppress(docker.errors.APIError):
                        await call(api.remove_network, net["Id"])
        for client in (self._client, self._streams):
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
        self._client = self._streams = None

    async def prepare(self, services: list[ResolvedService]) -> None:
        """Reach the engine, make sure every image is there (build/pull), create the network.

        Every image problem is reported at once, before anything starts.
        """
        await self._connect()
        plans = {svc.name: plan_container(self.stack, svc) for svc in services}
        image_ids = await ensure_images(self.client, self.stack, services, call)
        for name, plan in plans.items():
            self._plans[name] = plan.with_image_id(image_ids[name])
        # every network once, before services start in parallel (the engine would take two
        # creates of one name as two networks)
        await self._ensure_network(*dict.fromkeys(net for plan in plans.values() for net, _ in plan.networks))

    async def rebuild(self, service: ResolvedService, sink: LogSink) -> str:
        """Build the service's image again (a watched file changed); the running container
        is left as it is, so a failed build changes nothing. Returns the new image id."""
        from .docker_images import _build_sync

        await self._connect()
        assert self._client is not None
        tag = image_of(self.project, service)
        sink.note(f"building {tag}")
        lines: list[str] = []
        try:
            await call(_build_sync, self.client, self.stack, service, tag, lines)
        except ImageProblem as exc:
            sink.feed(("\n".join(lines) + "\n").encode())
            sink.note(f"build failed: {exc.message.splitlines()[0]}")
            raise BackendError(exc.message, hint="fix the build; the old container keeps running") from exc
        except docker.errors.APIError as exc:
            raise _api_error(service.name, "build", exc) from exc
        sink.feed(("\n".join(lines) + "\n").encode())
        info = await call(self.client.api.inspect_image, tag)
        sink.note(f"built {tag} ({str(info['Id'])[7:19]})")
        return str(info["Id"])

    async def _ensure_network(self, *names: str) -> None:
        """The project's networks (its default one when none is named), made once each."""
        api = self.client.api
        async with self._network_lock:
            for name in names or (network_name(self.project),):
                if name in self._networks:
                    continue
                found = await call(api.networks, names=[name])
                if not any(n.get("Name") == name for n in found):
                    try:
                        await call(api.create_network, name, driver="bridge", labels=project_labels(self.project),
                                   check_duplicate=True)
                    except docker.errors.APIError as exc:
                        if exc.status_code != 409:  # made meanwhile by another supervisor
                            raise _api_error(self.project, f"create network {name}", exc) from exc
                self._networks.add(name)

    async def _ensure_volumes(self, plan: ContainerPlan) -> None:
        api = self.client.api
        for name in plan.named_volumes():
            try:
                await call(api.inspect_volume, name)
            except docker.errors.NotFound:
                labels = {**project_labels(self.project), LABEL_SERVICE: plan.service}
                await call(api.create_volume, name, labels=labels)

    def _plan(self, service: ResolvedService) -> ContainerPlan:
        plan = self._plans.get(service.name)
        if plan is None:
            raise BackendError(f"{service.name}: the docker backend was not prepared for this service")
        if service.listen:
            # One instance behind the service's listen ports (two live at once during a
            # start-first replace, N with replicas): its own name and private port mapping.
            return instance_plan(self.stack, service, plan)
        return plan

    async def start(self, service: ResolvedService, sink: LogSink) -> DockerHandle:
        plan = self._plan(service)
        api = self.client.api
        try:
            if plan.instance:
                adopted = None
                await self._clear_instance(plan)
            else:
                adopted = await self._reuse_or_clear(plan)
            if adopted is not None:
                sink.note(f"container {adopted[:12]} is up to date and running; reusing it")
                return DockerHandle(self, plan, adopted, sink, adopted=True)
            await self._ensure_network(*(net for net, _ in plan.networks))
            await self._ensure_volumes(plan)
            host_config = api.create_host_config(**plan.host_config())
            (first, aliases), *more = plan.networks
            endpoints: Any = {first: api.create_endpoint_config(aliases=list(aliases))}
            networking = api.create_networking_config(endpoints)
            created = await call(
                api.create_container, host_config=host_config, networking_config=networking, **plan.create_kwargs()
            )
            container_id = created["Id"]
            self._created.add(container_id)
            for net, names in more:  # the other networks, before it starts
                await call(api.connect_container_to_network, container_id, net, aliases=list(names))
        except docker.errors.APIError as exc:
            raise _api_error(service.name, "create its container", exc) from exc
        except (requests.exceptions.RequestException, OSError) as exc:
            raise DockerUnavailableError(f"Docker is not reachable at {docker_host()}: {_root_cause(exc)}") from exc
        try:
            await call(api.start, container_id)
        except docker.errors.APIError as exc:
            with contextlib.suppress(docker.errors.APIError):
                await call(api.remove_container, container_id, force=True)
            raise _api_error(service.name, "start its container", exc) from exc
        return DockerHandle(self, plan, container_id, sink)

    async def _reuse_or_clear(self, plan: ContainerPlan) -> str | None:
        """Reuse a running container with the same config hash; remove any other of the service.

        Leftovers of a dead supervisor or an earlier run are found by label (and by name,
        which a container of another tool may hold).
        """
        api = self.client.api
        found = await call(api.containers, all=True, filters=project_filter(self.project, plan.service))
        by_name = await call(api.containers, all=True, filters={"name": [f"^/{plan.name}$"]})
        keep: str | None = None
        for info in {c["Id"]: c for c in [*found, *by_name]}.values():
            labels = info.get("Labels") or {}
            if keep is None and info.get("State") == "running" and labels.get(LABEL_HASH) == plan.hash:
                keep = info["Id"]
                continue
            with contextlib.suppress(docker.errors.NotFound):
                await call(api.remove_container, info["Id"], force=True)
        return keep

    async def _clear_instance(self, plan: ContainerPlan) -> None:
        """Before an instance starts: remove the service's containers this backend did not
        create (leftovers of an earlier run), never a sibling instance that serves now."""
        api = self.client.api
        found = await call(api.containers, all=True, filters=project_filter(self.project, plan.service))
        by_name = await call(api.containers, all=True, filters={"name": [f"^/{plan.name}$"]})
        for info in {c["Id"]: c for c in [*found, *by_name]}.values():
            if info["Id"] not in self._created or info in by_name:
                with contextlib.suppress(docker.errors.NotFound):
                    await call(api.remove_container, info["Id"], force=True)

    def container_ip(self, container_id: str) -> str | None:
        try:
            attrs = self.client.api.inspect_container(container_id)
        except docker.errors.APIError:
            return None
        networks = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
        entry: dict[str, Any] = networks.get(network_name(self.project)) or next(iter(networks.values()), {})
        return entry.get("IPAddress") or None


# -- functions for commands that run without an engine ------------------------------------


@dataclass
class Cleanup:
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ContainerStatus:
    service: str
    id: str
    name: str
    image: str
    state: str
    health: str
    config_hash: str
    ports: list[str]


def cleanup_project(project: str, *, volumes: bool = False, client: docker.DockerClient | None = None) -> Cleanup:
    """Stop and remove every container, the network and (if asked) the volumes of ``project``."""
    client = client or connect()
    api = client.api
    report = Cleanup()
    containers = api.containers(all=True, filters=project_filter(project))

    def remove(info: dict[str, Any]) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            if info.get("State") == "running":
                # No timeout given: the engine uses the container's own StopTimeout
                # (its stop_grace_period) after its StopSignal, then kills.
                api.stop(info["Id"])
            api.remove_container(info["Id"], force=True)
        report.containers.append((info.get("Names") or [info["Id"][:12]])[0].lstrip("/"))

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(remove, containers))
    for net in api.networks(filters=project_filter(project)):
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_network(net["Id"])
            report.networks.append(net["Name"])
    if volumes:
        listed = api.volumes(filters=project_filter(project)).get("Volumes") or []
        for vol in listed:
            with contextlib.suppress(docker.errors.NotFound):
                api.remove_volume(vol["Name"], force=True)
                report.volumes.append(vol["Name"])
    return report


def container_status(project: str, *, client: docker.DockerClient | None = None) -> dict[str, ContainerStatus]:
    """Container id, image, state and health of each service of ``project`` that has one."""
    client = client or connect()
    out: dict[str, ContainerStatus] = {}
    for info in client.api.containers(all=True, filters=project_filter(project)):
        labels = info.get("Labels") or {}
        service = labels.get(LABEL_SERVICE)
        if not service:
            continue
        status = str(info.get("Status") or "")
        health = "none"
        for word in ("unhealthy", "healthy", "starting"):
            if f"({word}" in status:
                health = word
                break
        ports = [
            f"{p.get('IP', '')}:{p['PublicPort']}->{p['PrivatePort']}/{p.get('Type', 'tcp')}"
            for p in info.get("Ports") or []
            if p.get("PublicPort")
        ]
        out[service] = ContainerStatus(
            service=service,
            id=info["Id"][:12],
            name=(info.get("Names") or [""])[0].lstrip("/"),
            image=str(info.get("Image") or ""),
            state=str(info.get("State") or ""),
            health=health,
            config_hash=labels.get(LABEL_HASH, ""),
            ports=ports,
        )
    return out
