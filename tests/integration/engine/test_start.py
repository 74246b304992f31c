"""Start-up on real processes: order, parallelism, dependency conditions, rollback, skips."""

from __future__ import annotations

import pytest

from dev_orchestrator.errors import PortConflictError
from dev_orchestrator.runtime import events as ev
from dev_orchestrator.runtime.engine import Engine
from dev_orchestrator.runtime.states import State

from .conftest import Project, Recorder, alive, marked_processes, run_async, wait_port_free


def test_start_order_honours_every_edge_and_independent_services_overlap(project: Project) -> None:
    # db -> (api, worker) -> web, plus a lone service: every dependent starts after its
    # dependencies are ready, and the independent ones run at the same time.
    ports = {n: project.port() for n in ("db", "api", "worker", "web", "lone")}
    services = {
        "db": project.server("db", ports["db"], "--delay", 0.4),
        "api": project.server("api", ports["api"], "--delay", 0.4, depends_on=["db"]),
        "worker": project.server("worker", ports["worker"], "--delay", 0.4, depends_on=["db"]),
        "web": project.server("web", ports["web"], depends_on=["api", "worker"]),
        "lone": project.server("lone", ports["lone"], "--delay", 0.4),
    }
    stack = project.stack(services)

    async def scenario() -> None:
        async with Engine(stack) as engine:
            report = await engine.start()
            assert report.ok, report.reason
            assert sorted(report.started) == sorted(services)
            assert all(engine.status[n].state is State.RUNNING for n in services)
            await engine.stop()

    run_async(scenario())
    for name, spec in services.items():
        for dep in spec.get("depends_on", []):
            assert project.first(name, "start") >= project.first(dep, "ready"), f"{name} started before {dep} was ready"
    # Independent branches overlap: api and worker both started before either was ready;
    # lone ran alongside db.
    assert project.first("api", "start") < project.first("worker", "ready")
    assert project.first("worker", "start") < project.first("api", "ready")
    assert project.first("lone", "start") < project.first("db", "ready")


def test_a_dependent_starts_the_moment_its_own_dependencies_hold(project: Project) -> None:
    # fast -> quick_dep; slow is unrelated and slow: quick_dep must not wait for slow.
    fast, slow, dep = project.port(), project.port(), project.port()
    stack = project.stack({
        "fast": project.server("fast", fast),
        "slow": project.server("slow", slow, "--delay", 1.5),
        "quick_dep": project.server("quick_dep", dep, depends_on=["fast"]),
    })

    async def scenario() -> None:
        async with Engine(stack) as engine:
            assert (await engine.start()).ok

    run_async(scenario())
    assert project.first("quick_dep", "ready") < project.first("slow", "ready")


def test_service_started_condition_does_not_wait_for_health(project: Project) -> None:
    port, other = project.port(), project.port()
    stack = project.stack({
        "slow": project.server("slow", port, "--delay", 1.0),
        "eager": project.server("eager", other, depends_on={"slow": {"condition": "service_started"}}),
    })

    async def scenario() -> None:
        async with Engine(stack) as engine:
            rec = Recorder(engine)
            assert (await engine.start()).ok
            spawned = [t for t, e, _ in rec.seen if isinstance(e, ev.Spawned) and e.service == "slow"]
            starting = [t for t, e, _ in rec.seen if isinstance(e, ev.Starting) and e.service == "eager"]
            assert spawned[0] <= starting[0]

    run_async(scenario())
    # (Two processes started a few ms apart may record their starts in either order.)
    assert project.first("eager", "start") < project.first("slow", "ready")


def test_service_healthy_condition_waits_for_the_probe(project: Project) -> None:
    port, other = project.port(), project.port()
    stack = project.stack({
        "slow": project.server("slow", port, "--delay", 0.5),
        "patient": project.server("patient", other, depends_on={"slow": {"condition": "service_healthy"}}),
    })

    async def scenario() -> None:
        async with Engine(stack) as engine:
            rec = Recorder(engine)
            assert (await engine.start()).ok
            healthy = [t for t, e, _ in rec.seen if isinstance(e, ev.Healthy) and e.service == "slow"]
            started = [t for t, e, _ in rec.seen if isinstance(e, ev.Starting) and e.service == "patient"]
            assert healthy[0] <= started[0]

    run_async(scenario())
    assert project.first("patient", "start") > project.first("slow", "ready")


def test_completed_successfully_waits_for_exit_zero(project: Project) -> None:
    port = project.port()
    stack = project.stack({
        "migrate": {"command": project.cmd("migrate", "--exit", 0, "--exit-after", 0.4)},
        "api": project.server("api", port, depends_on={"migrate": {"condition": "service_completed_successfully"}}),
    })

    async def scenario() -> None:
        async with Engine(stack) as engine:
            report = await engine.start()
            assert report.ok, report.reason
            assert engine.status["migrate"].state is State.EXITED
            assert engine.status["migrate"].exit_code == 0

    run_async(scenario())
    assert project.first("api", "start") >= project.first("migrate", "exit")


def test_a_failing_one_shot_blocks_its_dependents_and_rolls_back(project: Project) -> None:
    port, api = project.port(), project.port()
    stack = project.stack({
        "db": project.server("db", port),
        "migrate": {
            "command": project.cmd("migrate", "--exit", 3, "--exit-after", 0.1),
            "depends_on": ["db"],
        },
        "api": project.server("api", api, depends_on={"migrate": {"condition": "service_completed_successfully"}}),
    })

    async def scenario() -> None:
        async with Engine(stack) as engine:
            report = await engine.start()
            assert not report.ok
            assert report.failed == "migrate"
            assert "exited with code 3" in report.reason
            assert "api" not in report.started
            assert "db" in report.rolled_back
            assert any("migrate exiting with 3" in line for line in report.log_tail)
            assert not engine.active()

    run_async(scenario())
    assert project.events("api") == []


def test_rollback_leaves_nothing_running_and_frees_every_port(project: Project) -> None:
    ports = [project.port() for _ in range(5)]  # ports[4]: never bound
    stack = project.stack({
        "a": project.server("a", ports[0], "--child"),
        "b": project.server("b", ports[1], "--setsid-child", depends_on=["a"]),
        "c": project.server("c", ports[2], depends_on=["a"]),
        "broken": {
            "command": project.cmd("broken", "--port", ports[3], "--delay", 0.3, "--exit", 7),
            "ports": [ports[3]],
            "depends_on": ["b", "c"],
            # probed where nothing listens, so it never looks healthy in the moment before it exits
            "healthcheck": {"http": {"url": f"http://127.0.0.1:{ports[4]}/health"}, "interval": "200ms"},
        },
    })

    async def scenario() -> None:
        async with Engine(stack) as engine:
            report = await engine.start()
            assert not report.ok
            assert report.failed == "broken"
            assert report.reason == "exited with code 7"
            assert set(report.rolled_back) == {"a", "b", "c"}
            assert any("broken exiting with 7" in line for line in report.log_tail)
            assert not engine.active()

    run_async(scenario())
    pids = [pid for name in ("a", "b", "c", "broken") for pid in project.pids(name)]
    pids += [pid for name in ("a", "b") for pid in project.pids(f"{name}-child")]
    assert len(pids) >= 6
    assert not [pid for pid in pids if alive(pid)]
    assert not marked_processes(project.mark)
    assert all(wait_port_free(p) for p in ports)


def test_a_non_critical_failure_skips_its_dependents_and_the_rest_runs(project: Project) -> None:
    ports = [project.port() for _ in range(4)]
    stack = project.stack({
        "core": project.server("core", ports[0]),
        "extra": {  # exits before it ever answers its probe
            **project.server("extra", ports[1]),
            "command": project.cmd("extra", "--exit", 1, "--exit-after", 0.2),
            "critical": False,
        },
        "needs_extra": project.server("needs_extra", ports[2], depends_on=["extra"]),
        "needs_core": project.server("needs_core", ports[3], depends_on=["core"]),
    })

    async def scenario() -> None:
        async with Engine(stack) as engine:
            report = await engine.start()
            assert report.ok
            assert report.failures["extra"] == "exited with code 1"
            assert "needs_extra" in report.skipped
            assert "extra" in report.skipped["needs_extra"]
            assert "exited with code 1" in report.skipped["needs_extra"]
            assert engine.status["core"].state is State.RUNNING
            assert engine.status["needs_core"].state is State.RUNNING
            assert engine.status["needs_extra"].state is State.STOPPED
            await engine.stop()

    run_async(scenario())
    assert project.events("needs_extra") == []


def test_startup_deadline_fails_a_service_that_never_becomes_healthy(project: Project) -> None:
    port, dep = project.port(), project.port()
    stack = project.stack({
        "stuck": project.server("stuck", port, healthcheck={
            "http": {"url": f"http://127.0.0.1:{port}/status/503"}, "interval": "100ms", "retries": 5,
        }),
        "after": project.server("after", dep, depends_on=["stuck"]),
    })

    async def scenario() -> None:
        async with Engine(stack) as engine:
            report = await engine.start()
            assert not report.ok
            assert report.failed == "stuck"
            assert "not healthy within 0.5s" in report.reason
            assert "http 503" in report.reason
            assert report.duration < 5

    run_async(scenario())
    assert project.events("after") == []


def test_timeout_overrides_the_startup_deadline(project: Project) -> None:
    port = project.port()
    stack = project.stack({"slow": project.server("slow", port, "--delay", 5)})

    async def scenario() -> None:
        async with Engine(stack) as engine:
            report = await engine.start(timeout=0.5)
            assert not report.ok
            assert "not healthy within 0.5s" in report.reason
            assert report.duration < 3

    run_async(scenario())


def test_a_busy_port_fails_fast_naming_its_owner_and_nothing_starts(project: Project) -> None:
    import socket
    import subprocess
    import sys

    busy, free = project.port(), project.port()
    squatter = subprocess.Popen(
        [sys.executable, "-c", f"import socket,time;s=socket.socket();s.bind(('127.0.0.1',{busy}));s.listen();"
         "print('up',flush=True);time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, env=project.environ,
    )
    try:
        assert squatter.stdout is not None and squatter.stdout.readline() == "up\n"
        stack = project.stack({
            "first": project.server("first", free),
            "second": project.server("second", busy, depends_on=["first"]),
        })

        async def scenario() -> None:
            async with Engine(stack) as engine:
                with pytest.raises(PortConflictError) as info:
                    await engine.start()
                assert f"port {busy} is needed by second" in info.value.message
                assert f"pid {squatter.pid}" in info.value.message
                assert "Nothing was started" in info.value.message

        run_async(scenario())
        assert project.events("first") == []
    finally:
        squatter.kill()
        squatter.wait()
    del socket
