"""orchestrator.concurrency and orchestrator.start_timeout, on real processes."""

from __future__ import annotations

import pytest

from dev_orchestrator.errors import ConfigError
from dev_orchestrator.runtime.engine import Engine

from .conftest import Project, run_async


def test_concurrency_bounds_how_many_services_start_at_once(project: Project) -> None:
    names = ["a", "b", "c"]
    services = {n: project.server(n, project.port(), "--delay", 0.3) for n in names}
    stack = project.stack(services, orchestrator={"concurrency": 1})

    async def scenario() -> None:
        async with Engine(stack) as engine:
            assert (await engine.start()).ok

    run_async(scenario())
    spans = sorted((project.first(n, "start"), project.first(n, "ready")) for n in names)
    for (_, ready), (start, _) in zip(spans, spans[1:], strict=False):
        assert start >= ready, "with concurrency 1 a service starts only after the previous one is ready"


def test_without_a_limit_independent_services_overlap(project: Project) -> None:
    names = ["a", "b", "c"]
    services = {n: project.server(n, project.port(), "--delay", 0.3) for n in names}
    stack = project.stack(services)

    async def scenario() -> None:
        async with Engine(stack) as engine:
            assert (await engine.start()).ok

    run_async(scenario())
    last_start = max(project.first(n, "start") for n in names)
    first_ready = min(project.first(n, "ready") for n in names)
    assert last_start < first_ready


def test_start_timeout_is_the_default_start_up_deadline(project: Project) -> None:
    port = project.port()
    spec = project.server("slow", port, "--delay", 5)
    stack = project.stack({"slow": spec}, orchestrator={"start_timeout": "700ms"})

    async def scenario() -> None:
        async with Engine(stack) as engine:
            report = await engine.start()
            assert not report.ok
            assert report.failed == "slow"
            assert "not healthy within 0.7s" in report.reason

    run_async(scenario())


def test_service_healthy_on_a_dependency_without_healthcheck_is_a_config_error(project: Project) -> None:
    project.write({
        "db": {"command": project.cmd("db")},
        "api": {"command": project.cmd("api"), "depends_on": {"db": {"condition": "service_healthy"}}},
    })
    with pytest.raises(ConfigError) as info:
        project.stack()
    message = str(info.value)
    assert "services.yaml:" in message
    assert 'services.api.depends_on.db.condition: "db" has no healthcheck' in message
    assert "use service_started" in message
