"""Stopping on real processes: reverse order, grace periods, children that try to stay."""

from __future__ import annotations

from dev_orchestrator.runtime import events as ev
from dev_orchestrator.runtime.engine import Engine
from dev_orchestrator.runtime.states import State

from .conftest import Project, Recorder, alive, poll, run_async


def test_stop_runs_in_reverse_dependency_order(project: Project) -> None:
    ports = [project.port() for _ in range(4)]
    stack = project.stack({
        "db": project.server("db", ports[0]),
        "api": project.server("api", ports[1], depends_on=["db"]),
        "worker": project.server("worker", ports[2], depends_on=["db"]),
        "web": project.server("web", ports[3], depends_on=["api", "worker"]),
    })

    async def scenario() -> None:
        async with Engine(stack) as engine:
            rec = Recorder(engine)
            assert (await engine.start()).ok
            report = await engine.stop()
            assert set(report.stopped) == {"db", "api", "worker", "web"}
            assert all(engine.status[n].state is State.STOPPED for n in report.stopped)
            stopped_at = {e.service: t for t, e, _ in rec.seen if isinstance(e, ev.Stopped)}
            stopping_at = {e.service: t for t, e, _ in rec.seen if isinstance(e, ev.Stopping)}
            assert stopping_at["api"] >= stopped_at["web"] and stopping_at["worker"] >= stopped_at["web"]
            assert stopping_at["db"] >= max(stopped_at["api"], stopped_at["worker"])

    run_async(scenario())
    # Each process saw its SIGTERM: graceful, not killed.
    for name in ("db", "api", "worker", "web"):
        assert project.count(name, "term") == 1


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace_period(project: Project) -> None:
    port = project.port()
    stack = project.stack({"stubborn": project.server("stubborn", port, "--ignore-term", stop_grace_period="700ms")})

    async def scenario() -> None:
        async with Engine(stack) as engine:
            assert (await engine.start()).ok
            report = await engine.stop()
            result = report.stopped["stubborn"]
            assert result.killed
            assert 0.6 <= result.duration < 3.0
            assert report.killed == ["stubborn"]
            assert engine.status["stubborn"].detail == "killed after grace period"

    run_async(scenario())
    assert not [p for p in project.pids("stubborn") if alive(p)]


def test_children_and_grandchildren_are_gone_after_stop(project: Project) -> None:
    # A shell that spawns a python child which itself spawns a grandchild, and one whose
    # grandchild calls setsid() to leave the process group.
    p1, p2 = project.port(), project.port()
    shell_cmd = " ".join(project.cmd("inner", "--port", p1, "--child")) + " & wait"
    stack = project.stack({
        "shell": {
            "command": shell_cmd,
            "shell": True,
            "ports": [p1],
            "healthcheck": {"tcp": {"port": p1}, "interval": "100ms"},
        },
        "escaper": project.server("escaper", p2, "--setsid-child"),
    })

    async def scenario() -> None:
        async with Engine(stack) as engine:
            assert (await engine.start()).ok
            assert await poll(lambda: bool(project.pids("inner-child") and project.pids("escaper-child")), 10)
            report = await engine.stop()
            assert not report.killed

    run_async(scenario())
    family = project.pids("inner") + project.pids("inner-child") + project.pids("escaper") + project.pids("escaper-child")
    assert len(family) == 6  # inner, its child (recorded twice: by parent and itself), ...
    assert not [p for p in family if alive(p)]


def test_stubborn_children_are_killed_with_their_parent(project: Project) -> None:
    port = project.port()
    stack = project.stack({
        "stubborn": project.server("stubborn", port, "--ignore-term", "--setsid-child", stop_grace_period="500ms"),
    })

    async def scenario() -> None:
        async with Engine(stack) as engine:
            assert (await engine.start()).ok
            assert await poll(lambda: bool(project.pids("stubborn-child")), 10)
            report = await engine.stop()
            assert report.stopped["stubborn"].killed

    run_async(scenario())
    assert not [p for p in project.pids("stubborn") + project.pids("stubborn-child") if alive(p)]


def test_a_crashed_service_leaves_no_children_behind(project: Project) -> None:
    port, other = project.port(), project.port()
    stack = project.stack({
        "keeper": project.server("keeper", other),
        "crasher": {**project.server("crasher", port, "--child", "--exit", 1, "--exit-after", 0.3), "critical": False},
    })

    async def scenario() -> None:
        async with Engine(stack) as engine:
            rec = Recorder(engine)
            assert (await engine.start()).ok
            await rec.wait_for(ev.Exited, "crasher", timeout=10)
            children = project.pids("crasher-child")
            assert children
            assert await poll(lambda: not any(alive(p) for p in children), timeout=5)
            await engine.stop()

    run_async(scenario())


def test_stopping_many_services_takes_about_one_grace_period(project: Project) -> None:
    services = {}
    for i in range(20):
        port = project.port()
        extra = ["--ignore-term"] if i % 5 == 0 else []
        services[f"s{i:02d}"] = project.server(f"s{i:02d}", port, *extra, stop_grace_period="600ms",
                                                depends_on=[f"s{i - 1:02d}"] if i % 4 else [])
    stack = project.stack(services)

    async def scenario() -> None:
        async with Engine(stack) as engine:
            assert (await engine.start()).ok
            report = await engine.stop()
            assert len(report.stopped) == 20
            # Chains of 4, at most one stubborn service in each: about one grace in all.
            assert report.duration < 0.6 * 2 + 2.0

    run_async(scenario(), timeout=90)
