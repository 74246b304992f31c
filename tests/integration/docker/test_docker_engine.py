"""The Docker backend driven through the Engine API, against the real engine."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from dev_orchestrator.backends.docker import cleanup_project, container_status
from dev_orchestrator.errors import BackendError
from dev_orchestrator.runtime.engine import Engine

SERVE = "trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"
IDLE = "trap 'exit 0' TERM; sleep 1000 & wait"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(stack: Any, body: Callable[[Engine], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with Engine(stack.resolve(), logs_dir=stack.root / "logs") as engine:
            try:
                return await body(engine)
            finally:
                await engine.stop()

    return asyncio.run(main())


def record(engine: Engine) -> list[tuple[str, str, float]]:
    seen: list[tuple[str, str, float]] = []
    engine.listeners.append(lambda event, status: seen.append((event.service, type(event).__name__, time.monotonic())))
    return seen


def first(seen: list[tuple[str, str, float]], service: str, kind: str) -> float:
    return next(t for s, k, t in seen if s == service and k == kind)


def test_mixed_graph_starts_in_order(stack: Any, busybox_image: str, docker_client: Any) -> None:
    db_port, app_port, edge_port = free_port(), free_port(), free_port()
    app = (
        "import http.server, urllib.request;"
        f"urllib.request.urlopen('http://127.0.0.1:{db_port}/', timeout=5);"
        f"http.server.HTTPServer(('127.0.0.1', {app_port}), http.server.SimpleHTTPRequestHandler).serve_forever()"
    )
    stack.write({
        "db": {
            "docker": {"image": busybox_image, "command": ["sh", "-c", "sleep 0.5; " + SERVE],
                       "ports": [f"{db_port}:8080"]},
            # a command probe runs inside the container
            "healthcheck": {"command": ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"],
                            "interval": "0.2s", "retries": 50},
        },
        "app": {
            "command": [sys.executable, "-c", app],
            "depends_on": ["db"],
            "healthcheck": {"http": {"url": f"http://127.0.0.1:{app_port}/"}, "interval": "0.2s"},
        },
        "edge": {
            # reaches db by its service name on the project network
            "docker": {"image": busybox_image, "ports": [f"{edge_port}:8080"],
                       "command": ["sh", "-c", "wget -q -O /www/index.html http://db:8080/ && " + SERVE]},
            "depends_on": ["app"],
            "healthcheck": {"http": {"url": f"http://127.0.0.1:{edge_port}/"}, "interval": "0.2s"},
        },
    })

    async def body(engine: Engine) -> Any:
        seen = record(engine)
        report = await engine.start()
        assert report.ok, report.reason
        assert first(seen, "db", "Healthy") < first(seen, "app", "Spawned")
        assert first(seen, "app", "Healthy") < first(seen, "edge", "Spawned")
        assert engine.status["db"].runtime == "docker" and engine.status["db"].container
        assert engine.status["app"].runtime == "process" and engine.status["app"].pid
        statuses = container_status(stack.project)
        assert set(statuses) == {"db", "edge"}
        assert statuses["edge"].id == engine.status["edge"].container
        assert statuses["db"].state == "running" and statuses["db"].image == busybox_image
        return report

    run(stack, body)
    assert container_status(stack.project) == {}


def test_health_from_image_healthcheck(stack: Any, busybox_health_image: str) -> None:
    stack.write({
        "checked": {
            "docker": {"image": busybox_health_image,
                       "command": ["sh", "-c", "sleep 1; touch /tmp/ready; " + IDLE]},
            "healthcheck": "docker",
        },
    })

    async def body(engine: Engine) -> None:
        report = await engine.start()
        assert report.ok, report.reason
        assert engine.status["checked"].health.value == "healthy"
        assert "docker health: healthy" in engine.status["checked"].detail
        assert container_status(stack.project)["checked"].health == "healthy"

    run(stack, body)


def test_healthcheck_docker_needs_an_image_healthcheck(stack: Any, busybox_image: str, docker_client: Any) -> None:
    stack.write({"plain": {"docker": {"image": busybox_image, "command": ["sh", "-c", IDLE]}, "healthcheck": "docker"}})

    async def body(engine: Engine) -> None:
        with pytest.raises(BackendError, match="has no HEALTHCHECK"):
            await engine.start()

    run(stack, body)
    assert docker_client.api.containers(all=True, filters={"label": [f"dev-orchestrator.project={stack.project}"]}) == []


def test_rollback_removes_the_containers_it_created(stack: Any, busybox_image: str, docker_client: Any) -> None:
    stack.write({
        "base": {"docker": {"image": busybox_image, "command": ["sh", "-c", IDLE]}},
        "broken": {
            "docker": {"image": busybox_image, "command": ["sh", "-c", IDLE]},
            "depends_on": ["base"],
            "healthcheck": {"command": ["false"], "interval": "0.1s", "retries": 3},
        },
    })

    async def body(engine: Engine) -> Any:
        report = await engine.start()
        assert not report.ok and report.failed == "broken"
        assert set(report.rolled_back) == {"base"}
        return report

    run(stack, body)
    flt = {"label": [f"dev-orchestrator.project={stack.project}"]}
    assert docker_client.api.containers(all=True, filters=flt) == []


def test_named_volume_and_bind_mount(stack: Any, busybox_image: str, docker_client: Any) -> None:
    stack.write({
        "store": {
            "docker": {
                "image": busybox_image,
                "volumes": ["data:/data", "./shared:/shared"],
                "command": ["sh", "-c", "echo run >> /data/runs; cp /data/runs /shared/runs; " + IDLE],
            },
        },
    })

    async def body(engine: Engine) -> None:
        assert (await engine.start()).ok
        await engine.stop()
        assert container_status(stack.project) == {}
        assert (await engine.start()).ok

    run(stack, body)
    volume = docker_client.api.inspect_volume(f"{stack.project}_data")
    assert volume["Labels"]["dev-orchestrator.project"] == stack.project
    assert (stack.root / "shared" / "runs").read_text() == "run\nrun\n"  # data kept across stop/start

    cleanup_project(stack.project)  # plain stop keeps volumes
    docker_client.api.inspect_volume(f"{stack.project}_data")
    done = cleanup_project(stack.project, volumes=True)
    assert f"{stack.project}_data" in done.volumes
    assert docker_client.api.volumes(filters={"name": f"{stack.project}_data"}).get("Volumes") in (None, [])


def test_container_ignoring_sigterm_is_killed_after_grace(stack: Any, busybox_image: str, docker_client: Any) -> None:
    stack.write({
        "stubborn": {
            "docker": {"image": busybox_image, "command": ["sh", "-c", "trap '' TERM; while :; do sleep 1; done"]},
            "stop_grace_period": "1s",
        },
    })

    async def body(engine: Engine) -> Any:
        assert (await engine.start()).ok
        return await engine.stop()

    report = run(stack, body)
    result = report.stopped["stubborn"]
    assert result.killed
    assert 1.0 <= result.duration < 10
    assert container_status(stack.project) == {}


def test_published_ports_listen_on_loopback_only(stack: Any, busybox_image: str, docker_client: Any) -> None:
    local, explicit = free_port(), free_port()
    stack.write({
        "web": {
            "docker": {"image": busybox_image, "command": ["sh", "-c", SERVE],
                       "ports": [f"{local}:8080", f"0.0.0.0:{explicit}:8081"]},
            "healthcheck": {"http": {"url": f"http://127.0.0.1:{local}/"}, "interval": "0.2s"},
        },
    })

    async def body(engine: Engine) -> None:
        assert (await engine.start()).ok
        attrs = docker_client.api.inspect_container(engine.status["web"].container)
        bindings = attrs["HostConfig"]["PortBindings"]
        assert bindings["8080/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(local)}]
        assert bindings["8081/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": str(explicit)}]
        published = attrs["NetworkSettings"]["Ports"]["8080/tcp"]
        assert {p["HostIp"] for p in published} == {"127.0.0.1"}

    run(stack, body)


def test_missing_image_fails_before_anything_starts(stack: Any, busybox_image: str, docker_client: Any) -> None:
    marker = stack.root / "started"
    stack.write({
        "local": {"command": [sys.executable, "-c", f"open({str(marker)!r}, 'w'); import time; time.sleep(60)"]},
        "ok": {"docker": {"image": busybox_image, "command": ["sh", "-c", IDLE]}},
        "gone": {"docker": {"image": "dev-orchestrator-test/no-such-image:1"}, "depends_on": ["local"]},
    })

    async def body(engine: Engine) -> None:
        with pytest.raises(BackendError) as caught:
            await engine.start()
        assert 'image "dev-orchestrator-test/no-such-image:1" is not available locally and cannot be pulled' in caught.value.message
        assert "docker build -t dev-orchestrator-test/no-such-image:1" in (caught.value.hint or "")
        assert engine.active() == []

    run(stack, body)
    assert not marker.exists()
    flt = {"label": [f"dev-orchestrator.project={stack.project}"]}
    assert docker_client.api.containers(all=True, filters=flt) == []


def test_changed_definition_is_recreated_unchanged_is_reused(stack: Any, busybox_image: str) -> None:
    services = {"keep": {"docker": {"image": busybox_image, "command": ["sh", "-c", IDLE]}}}
    stack.write(services)

    async def leave_running() -> str:
        # Leaving the engine without stop() would stop the containers: bypass it by
        # starting through the backend alone, as a supervisor that died would have.
        from dev_orchestrator.backends.docker import DockerBackend
        from dev_orchestrator.logs.writer import LogSink

        resolved = stack.resolve()
        backend = DockerBackend(resolved)
        await backend.prepare([resolved.services["keep"]])
        handle = await backend.start(resolved.services["keep"], LogSink("keep", stack.root / "keep.log"))
        assert handle.container is not None
        return handle.container

    first_id = asyncio.run(leave_running())

    async def same(engine: Engine) -> str | None:
        assert (await engine.start()).ok
        return engine.status["keep"].container

    assert run(stack, same) == first_id  # unchanged and running: reused
    services["keep"]["docker"]["environment"] = {"CHANGED": "1"}
    stack.write(services)
    second = run(stack, same)  # changed: recreated
    assert second != first_id
    assert container_status(stack.project) == {}


def test_orphans_are_cleaned_by_label(stack: Any, busybox_image: str, docker_client: Any, tmp_path: Path) -> None:
    docker_client.api.create_network(f"{stack.project}_default", labels={"dev-orchestrator.project": stack.project})
    for name in ("a", "b"):
        created = docker_client.api.create_container(
            busybox_image, ["sh", "-c", IDLE], name=f"{stack.project}-{name}",
            labels={"dev-orchestrator.project": stack.project, "dev-orchestrator.service": name},
        )
        docker_client.api.start(created["Id"])
    assert {s.state for s in container_status(stack.project).values()} == {"running"}
    done = cleanup_project(stack.project)
    assert sorted(done.containers) == [f"{stack.project}-a", f"{stack.project}-b"]
    assert done.networks == [f"{stack.project}_default"]
    assert container_status(stack.project) == {}


def test_tcp_probe_is_not_fooled_by_the_port_proxy(stack: Any, busybox_image: str) -> None:
    """Docker's proxy accepts connections on a published port even when nothing listens
    in the container; a tcp healthcheck must still wait for the real listener."""
    port = free_port()
    stack.write({
        "late": {
            "docker": {"image": busybox_image, "ports": [f"{port}:8080"],
                       "command": ["sh", "-c", "sleep 1.5; " + SERVE]},
            "healthcheck": {"tcp": {"port": port}, "interval": "0.2s", "retries": 50},
        },
    })

    async def body(engine: Engine) -> Any:
        seen = record(engine)
        began = time.monotonic()
        report = await engine.start()
        assert report.ok, report.reason
        return first(seen, "late", "Healthy") - began

    healthy_after = run(stack, body)
    assert healthy_after >= 1.4, f"healthy after {healthy_after:.2f}s, before anything listened"
