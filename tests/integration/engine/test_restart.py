"""Restart policies with backoff, liveness failures and dependency restarts, on real processes."""

from __future__ import annotations

import asyncio

from dev_orchestrator.runtime import events as ev
from dev_orchestrator.runtime.engine import Engine
from dev_orchestrator.runtime.states import State

from .conftest import Project, Recorder, run_async


def crashing(project: Project, name: str, port: int, restart: str, code: int = 1) -> dict:
    """A server that becomes healthy, then exits with ``code`` 0.2s later."""
    return project.server(name, port, "--exit", code, "--exit-after", 0.2, restart=restart, critical=False)


def test_on_failure_restarts_with_growing_backoff_and_stops_after_max(project: Project) -> None:
    port = project.port()
    stack = project.stack({"flaky": crashing(project, "flaky", port, "on-failure:2")})

    async def scenario() -> None:
        async with Engine(stack) as engine:
            rec = Recorder(engine)
            assert (await engine.start()).ok
            await engine.units["flaky"].finished.wait()  # gives up by itself
            restarts = rec.of(ev.Restarting, "flaky")
            assert [r.delay for r in restarts] == [0.5, 1.0]
            assert engine.status["flaky"].state is State.FAILED
            assert engine.status["flaky"].restarts == 2
            # The delay really passed between an exit and the next start.
            times = [(t, e) for t, e, _ in rec.seen if e.service == "flaky" and isinstance(e, (ev.Exited, ev.Starting))]
            exits = [t for t, e in times if isinstance(e, ev.Exited)]
            starts = [t for t, e in times if isinstance(e, ev.Starting)][1:]
            assert [round(b - a, 1) >= d for a, b, d in zip(exits, starts, (0.5, 1.0), strict=False)] == [True, True]
            await engine.stop()

    run_async(scenario())
    assert project.count("flaky", "start") == 3


def test_restart_no_leaves_a_crashed_service_down(project: Project) -> None:
    port = project.port()
    stack = project.stack({"once": crashing(project, "once", port, "no")})

    async def scenario() -> None:
        async with Engine(stack) as engine:
            rec = Recorder(engine)
            assert (await engine.start()).ok
            await engine.units["once"].finished.wait()
            assert rec.of(ev.Restarting) == []
            assert engine.status["once"].state is State.FAILED
            assert engine.status["once"].exit_code == 1
            await engine.stop()

    run_async(scenario())
    assert project.count("once", "start") == 1


def test_on_failure_does_not_restart_a_clean_exit(project: Project) -> None:
    port = project.port()
    stack = project.stack({"done": crashing(project, "done", port, "on-failure", code=0)})

    async def scenario() -> None:
        async with Engine(stack) as engine:
            assert (await engine.start()).ok
            await engine.units["done"].finished.wait()
            assert engine.status["done"].state is State.EXITED
            await engine.stop()

    run_async(scenario())
    assert project.count("done", "start") == 1


def test_always_restarts_even_after_exit_zero_and_stop_interrupts_the_backoff(project: Project) -> None:
    port = project.port()
    stack = project.stack({"loop": crashing(project, "loop", port, "always", code=0)})

    async def scenario() -> None:
        async with Engine(stack) as engine:
            rec = Recorder(engine)
            assert (await engine.start()).ok
            await rec.wait_for(ev.Restarting, "loop", count=2, timeout=20)
            assert project.count("loop", "start") >= 2
            report = await engine.stop()
            # Stopping during a backoff wait takes no time and leaves it stopped.
            assert report.duration < 2
            assert engine.status["loop"].state is State.STOPPED

    run_async(scenario())


def test_liveness_failure_restarts_a_healthy_service(project: Project) -> None:
    port = project.port()
    sick = project.record / "api.sick"
    stack = project.stack({
        "api": project.server("api", port, restart="on-failure", healthcheck={"interval": "100ms", "retries": 3}),
    })

    async def scenario() -> None:
        async with Engine(stack) as engine:
            rec = Recorder(engine)
            assert (await engine.start()).ok
            first_pid = engine.status["api"].pid
            sick.touch()
            unhealthy = await rec.wait_for(ev.Unhealthy, "api", timeout=10)
            assert "3 failed probes in a row" in unhealthy.detail
            assert "http 500" in unhealthy.detail
            await rec.wait_for(ev.Restarting, "api", timeout=10)
            sick.unlink()
            await rec.wait_for(ev.Healthy, "api", count=2, timeout=10)
            assert engine.status["api"].state is State.RUNNING
            assert engine.status["api"].pid != first_pid
            assert engine.status["api"].restarts == 1
            await engine.stop()

    run_async(scenario())
    assert project.count("api", "start") == 2


def test_depends_on_restart_true_restarts_the_dependent(project: Project) -> None:
    db_port, api_port, other_port = project.port(), project.port(), project.port()
    stack = project.stack({
        "db": project.server("db", db_port, "--exit", 1, "--exit-after", 0.5, restart="on-failure:1", critical=False),
        "api": project.server("api", api_port, depends_on={"db": {"restart": True}}),
        "bystander": project.server("bystander", other_port, depends_on=["db"]),
    })

    async def scenario() -> None:
        async with Engine(stack) as engine:
            rec = Recorder(engine)
            assert (await engine.start()).ok
            await rec.wait_for(ev.Healthy, "db", count=2, timeout=15)
            await rec.wait_for(ev.Healthy, "api", count=2, timeout=15)
            restarted = rec.of(ev.Restarting, "api")
            assert restarted and restarted[0].reason == "db restarted"
            assert rec.of(ev.Restarting, "bystander") == []
            await engine.stop()

    run_async(scenario())
    assert project.count("api", "start") == 2
    assert project.count("bystander", "start") == 1
    # The dependent came back after its dependency was ready again.
    db_second_ready = [t for w, t, _ in project.events("db") if w == "ready"][1]
    api_second_start = [t for w, t, _ in project.events("api") if w == "start"][1]
    assert api_second_start >= db_second_ready


def test_restart_loop_is_bounded_in_time(project: Project) -> None:
    # A service that crashes immediately on every start (after having been healthy once)
    # is restarted with doubling delays, so a few seconds see only a handful of starts.
    port = project.port()
    stack = project.stack({"crashy": crashing(project, "crashy", port, "always")})

    async def scenario() -> None:
        async with Engine(stack) as engine:
            assert (await engine.start()).ok
            await asyncio.sleep(3.0)  # observe the loop for a while (not for ordering)
            await engine.stop()

    run_async(scenario())
    # 0.2s up + 0.5, 1, 2 s backoff: at most 4 starts in 3 s.
    assert 2 <= project.count("crashy", "start") <= 4


def test_stop_while_restarting_does_not_leave_a_new_instance(project: Project) -> None:
    port = project.port()
    stack = project.stack({"r": crashing(project, "r", port, "always")})

    async def scenario() -> None:
        async with Engine(stack) as engine:
            rec = Recorder(engine)
            assert (await engine.start()).ok
            await rec.wait_for(ev.Starting, "r", count=2, timeout=10)
            await engine.stop()
            assert not engine.active()

    run_async(scenario())
