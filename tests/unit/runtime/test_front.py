"""Front: instances get private ports in their environment, and probes pointed at them."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from dev_orchestrator.config.loader import load
from dev_orchestrator.config.resolve import ResolvedService, resolve
from dev_orchestrator.runtime.front import Front


def service(tmp_path: Path, body: str) -> ResolvedService:
    (tmp_path / "services.yaml").write_text("services:\n  web:\n    command: run\n" + body)
    stack = resolve(load(tmp_path / "services.yaml", None, cwd=tmp_path, environ={}), environ={})
    return stack.services["web"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_instance_gets_private_ports_and_rewritten_probes(tmp_path: Path) -> None:
    port, admin = free_port(), free_port()
    svc = service(tmp_path, f"    listen: [{{port: {port}}}, {{port: {admin}, name: admin}}]\n"
                            f"    healthcheck: {{http: {{url: 'http://localhost:{port}/health?x=1'}}}}\n")

    async def main() -> None:
        front = Front(svc.listen)
        try:
            assert front.ports == (port, admin)
            one, two = front.instance(svc), front.instance(svc)
            private = int(one.service.env["PORT"])
            assert private not in (port, admin) and one.targets[0] == ("127.0.0.1", private)
            assert int(one.service.env["PORT_ADMIN"]) == one.targets[1][1]
            assert one.targets != two.targets
            check = one.service.healthcheck
            assert check is not None and check != "docker" and check.http is not None
            assert check.http.url == f"http://localhost:{private}/health?x=1"
            assert svc.healthcheck != check  # the definition itself is untouched
            front.switch([one, two])
            assert front.proxies[0].targets == (one.targets[0], two.targets[0])
        finally:
            await front.close()
        with socket.socket() as sock:  # the port is free again
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))

    asyncio.run(main())


def test_fd_mode_passes_the_listener_and_leaves_the_probe(tmp_path: Path) -> None:
    port = free_port()
    svc = service(tmp_path, f"    listen: [{{port: {port}, mode: fd, name: web}}]\n"
                            "    healthcheck: {notify: true}\n")

    async def main() -> None:
        front = Front(svc.listen)
        try:
            inst = front.instance(svc)
            assert "PORT" not in inst.service.env and not inst.targets and not front.proxies
            assert [(name, lst.port) for name, lst in inst.sockets] == [("web", port)]
            assert inst.service.healthcheck == svc.healthcheck
        finally:
            await front.close()

    asyncio.run(main())


def test_tcp_probe_of_another_port_is_left_alone(tmp_path: Path) -> None:
    port, other = free_port(), free_port()
    svc = service(tmp_path, f"    listen: [{{port: {port}}}]\n    healthcheck: {{tcp: {{port: {other}}}}}\n")

    async def main() -> None:
        front = Front(svc.listen)
        try:
            check = front.instance(svc).service.healthcheck
            assert check is not None and check != "docker" and check.tcp is not None and check.tcp.port == other
        finally:
            await front.close()

    asyncio.run(main())
