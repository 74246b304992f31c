"""The ports a service's instances sit behind: supervisor-owned listeners and proxies.

Why: a port that outlives the instance serving it is what makes a restart invisible to
clients. In proxy mode the supervisor accepts on the stable port and forwards to the
instances' private loopback ports (``PORT``, ``PORT_<NAME>``); in fd mode each instance
receives the listening socket itself as fd 3, 4, ... (socket activation). A front is
made when the service first starts and lives until the service is stopped for good,
so a stop-first restart keeps the port (connections wait instead of being refused).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..config.listen_checks import published
from ..net.listener import Listener, free_loopback_port
from ..net.proxy import Proxy, Target
from ..state import REPLICA_ENV

if TYPE_CHECKING:
    from ..config.deploy import Listen
    from ..config.models import HealthCheck
    from ..config.resolve import ResolvedService

LOOPBACK = "127.0.0.1"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "0.0.0.0")


@dataclass(frozen=True)
class Instance:
    """One instance's definition: the service with its private ports and sockets.

    ``targets`` has one entry per proxy-mode listen port (by index in ``listen``);
    ``sockets`` the listeners it receives as fds, in order.
    """

    service: ResolvedService
    targets: dict[int, Target]
    sockets: tuple[tuple[str, Listener], ...] = ()


class Front:
    """Listeners (and proxies) of one service; the engine owns it, in its task group.

    Hazard: ``switch`` and ``drain`` run on the event loop's thread only; a proxy reads
    its targets again before each connect, so a switch is atomic for new connections.
    """

    def __init__(self, listen: Sequence[Listen]) -> None:
        self.listen = tuple(listen)
        self.listeners: list[Listener] = []
        self.proxies: dict[int, Proxy] = {}
        try:
            for index, entry in enumerate(self.listen):
                listener = Listener(entry.port, entry.host)
                self.listeners.append(listener)
                if entry.mode == "proxy":
                    self.proxies[index] = Proxy(listener)
        except BaseException:
            for listener in self.listeners:
                listener.close()
            raise
        self._serving: list[asyncio.Task[None]] = []

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(listener.port for listener in self.listeners)

    def serve(self, group: asyncio.TaskGroup) -> None:
        """Run every proxy in ``group`` (the engine's), so none outlives the engine."""
        for index, proxy in self.proxies.items():
            self._serving.append(group.create_task(proxy.serve(), name=f"proxy:{self.listen[index].port}"))

    def instance(self, service: ResolvedService, replica: int = 1) -> Instance:
        """A definition for a new instance: private ports in its environment, probes pointed at them.

        Why probes are rewritten: a probe of the stable port would reach whichever
        instance the proxy picks, so it could not tell a new instance's health.
        """
        targets: dict[int, Target] = {}
        env = dict(service.env)
        rewrite: dict[int, int] = {}
        for index, entry in enumerate(self.listen):
            if entry.mode != "proxy":
                continue
            port = free_loopback_port(LOOPBACK)
            targets[index] = (LOOPBACK, port)
            env[entry.env_name] = str(port)
            rewrite[entry.port] = port
        env[REPLICA_ENV] = str(replica)
        check = service.healthcheck
        if check is not None and check != "docker" and rewrite:
            check = _pointed(check, rewrite)
        sockets = tuple(
            (entry.fd_name, self.listeners[index]) for index, entry in enumerate(self.listen) if entry.mode == "fd"
        )
        docker = service.docker
        if service.runtime == "docker" and docker is not None:
            # A container keeps its own port: it publishes it on the private loopback port.
            docker = docker.model_copy(update={
                "ports": [_republished(text, rewrite) for text in docker.ports],
                "environment": {**docker.environment, REPLICA_ENV: str(replica)},
            })
        return Instance(dataclasses.replace(service, env=env, healthcheck=check, docker=docker), targets, sockets)

    def switch(self, instances: Sequence[Instance]) -> None:
        """Send new connections to ``instances`` from now on (round robin); none: hold them."""
        for index, proxy in self.proxies.items():
            proxy.set_targets([inst.targets[index] for inst in instances if index in inst.targets])

    async def drain(self, instance: Instance, grace: float) -> tuple[float, bool]:
        """Wait until ``instance`` has no open proxied connection: (seconds, drained in time)."""
        began = time.monotonic()
        deadline = began + grace
        drained = True
        for index, proxy in self.proxies.items():
            target = instance.targets.get(index)
            if target is not None:
                drained = await proxy.drain(target, max(0.0, deadline - time.monotonic())) and drained
        return time.monotonic() - began, drained

    async def close(self) -> None:
        """Close the proxies (dropping their connections) and the listeners; idempotent."""
        for proxy in self.proxies.values():
            if self._serving:
                await proxy.close()
        self._serving.clear()
        for listener in self.listeners:
            listener.close()


def _republished(mapping: str, ports: dict[int, int]) -> str:
    """A container's port mapping whose host port is a listen port, moved to the private port."""
    found = published(mapping)
    if found is None or found[0] not in ports:
        return mapping
    return f"{LOOPBACK}:{ports[found[0]]}:{found[1]}"


def _pointed(check: HealthCheck, ports: dict[int, int]) -> HealthCheck:
    """``check`` with an http URL or tcp port that names a listen port moved to the instance's."""
    if check.http is not None:
        parts = urlsplit(check.http.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if parts.hostname in LOOPBACK_NAMES and port in ports:
            host = parts.hostname if ":" not in (parts.hostname or "") else f"[{parts.hostname}]"
            url = parts._replace(netloc=f"{host}:{ports[port]}").geturl()
            return check.model_copy(update={"http": check.http.model_copy(update={"url": url})})
    if check.tcp is not None and check.tcp.port in ports and check.tcp.host in LOOPBACK_NAMES:
        return check.model_copy(update={"tcp": check.tcp.model_copy(update={"port": ports[check.tcp.port]})})
    return check
