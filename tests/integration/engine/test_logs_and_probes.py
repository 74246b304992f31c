"""Logging under load and every probe kind, on real processes and sockets."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from dev_orchestrator.runtime import events as ev
from dev_orchestrator.runtime.engine import Engine
from dev_orchestrator.runtime.states import State

from .conftest import Project, Recorder, run_async


def test_a_50_mb_burst_is_logged_completely_while_the_service_answers(project: Project) -> None:
    port = project.port()
    size = 50 * 1024 * 1024
    stack = project.stack(
        {"noisy": project.server("noisy", port, "--burst", size, "--chatty",
                                 healthcheck={"interval": "500ms", "retries": 20})},
        orchestrator={"log_max_bytes": 1 << 30},
    )

    async def scenario() -> None:
        async with Engine(stack) as engine:
            rec = Recorder(engine)
            done = asyncio.get_running_loop().create_future()

            def on_lines(_service: str, lines: bytes) -> None:
                if b"burst done" in lines and not done.done():
                    done.set_result(None)

            engine.sink("noisy").add_listener(on_lines)
            assert (await engine.start()).ok
            # The service answers (its request handler writes to the same stdout) during the burst.
            slowest = 0.0
            answered = 0
            async with httpx.AsyncClient(trust_env=False) as client:
                while not done.done():
                    began = time.monotonic()
                    response = await client.get(f"http://127.0.0.1:{port}/ping", timeout=10)
                    slowest = max(slowest, time.monotonic() - began)
                    assert response.status_code == 200
                    answered += 1
                    await asyncio.wait([done], timeout=0.05)
            assert answered >= 1
            assert slowest < 2.0
            assert rec.of(ev.Unhealthy) == []
            assert engine.status["noisy"].state is State.RUNNING
            await engine.stop()

    run_async(scenario(), timeout=120)
    numbered = 0
    last = -1
    total = None
    with open(project.root / "logs" / "noisy.log", "rb") as fh:
        for line in fh:
            body = line[24:]
            if body.startswith(b"line "):
                index = int(body[5:14])
                assert index == last + 1, f"line {last + 1} missing"
                last = index
                numbered += 1
            elif body.startswith(b"burst done "):
                total = int(body.split()[2])
    assert total is not None and numbered == total


def test_log_rotation_keeps_the_configured_number_of_backups(project: Project) -> None:
    stack = project.stack(
        {"chatter": {"command": project.cmd("chatter", "--burst", 1_800_000, "--exit", 0)}},
        orchestrator={"log_max_bytes": 300_000, "log_backups": 2},
    )

    async def scenario() -> None:
        async with Engine(stack) as engine:
            await engine.start()
            await engine.wait_idle()
            await engine.stop()

    run_async(scenario())
    logs = project.root / "logs"
    assert sorted(p.name for p in logs.iterdir()) == ["chatter.log", "chatter.log.1", "chatter.log.2"]
    for path in logs.iterdir():
        assert path.stat().st_size <= 300_000
    # The newest lines are in the current file, the older ones in .1, then .2.
    assert "exited with code 0" in (logs / "chatter.log").read_text()
    newest_in_1 = int((logs / "chatter.log.1").read_text().splitlines()[-1].split()[2])
    oldest_in_0 = next(int(line.split()[2]) for line in (logs / "chatter.log").read_text().splitlines()
                       if line.split()[1] == "line")
    assert oldest_in_0 == newest_in_1 + 1


@pytest.mark.parametrize(
    ("status", "accepted"),
    [("200", True), ("200-299", True), ("204", False), ("500", False)],
)
def test_http_probe_checks_the_status_range(project: Project, status: str, accepted: bool) -> None:
    port = project.port()
    stack = project.stack({
        "web": project.server("web", port, healthcheck={
            "http": {"url": f"http://127.0.0.1:{port}/status/200", "status": status},
            "interval": "100ms", "retries": 3,
        }),
    })

    async def scenario() -> None:
        async with Engine(stack) as engine:
            report = await engine.start()
            assert report.ok is accepted, report.reason
            if not accepted:
                assert "http 200 /status/200" in report.reason
            await engine.stop()

    run_async(scenario())


def test_tcp_probe_waits_for_the_listener(project: Project) -> None:
    port = project.port()
    stack = project.stack({
        "raw": project.server("raw", port, "--delay", 0.3, healthcheck={"http": None, "tcp": {"port": port}}),
    })

    async def scenario() -> None:
        async with Engine(stack) as engine:
            rec = Recorder(engine)
            assert (await engine.start()).ok
            healthy = rec.of(ev.Healthy, "raw")[0]
            assert healthy.detail == f"tcp 127.0.0.1:{port}"
            assert healthy.latency_ms >= 0
            assert rec.of(ev.ProbeProgress, "raw"), "the probe polled while the server was not up"
            await engine.stop()

    run_async(scenario())
    assert project.count("raw", "ready") == 1


def test_command_probe_passes_on_exit_zero_and_reports_the_output_otherwise(project: Project) -> None:
    flag = project.record / "ok"
    good, bad = project.port(), project.port()
    check = f"test -e {flag}"
    stack = project.stack({
        "good": project.server("good", good, healthcheck={"http": None, "command": check, "interval": "100ms"}),
        "bad": {
            **project.server("bad", bad, healthcheck={
                "http": None, "command": "echo not ready yet; exit 3", "interval": "100ms", "retries": 3,
            }),
            "critical": False,
        },
    })

    async def scenario() -> None:
        async with Engine(stack) as engine:
            rec = Recorder(engine)
            starting = asyncio.ensure_future(engine.start())
            await rec.wait(lambda e, _s: isinstance(e, ev.ProbeProgress) and e.service == "good")
            flag.touch()
            report = await starting
            assert report.ok
            assert engine.status["good"].state is State.RUNNING
            assert "exit 3: not ready yet" in report.failures["bad"]
            await engine.stop()

    run_async(scenario())


def test_log_probe_matches_a_line_as_it_arrives(project: Project) -> None:
    port, dep = project.port(), project.port()
    stack = project.stack({
        "printer": project.server("printer", port, "--delay", 0.3,
                                  healthcheck={"http": None, "log": r"printer\s+ready"}),
        "after": project.server("after", dep, depends_on=["printer"]),
    })

    async def scenario() -> None:
        async with Engine(stack) as engine:
            rec = Recorder(engine)
            assert (await engine.start()).ok
            healthy = rec.of(ev.Healthy, "printer")[0]
            assert "printer ready" in healthy.detail
            assert healthy.latency_ms >= 250
            await engine.stop()

    run_async(scenario())
    assert project.first("after", "start") >= project.first("printer", "ready")


def test_log_probe_sees_a_line_printed_at_once(project: Project) -> None:
    # A shell prints its ready line within a millisecond of starting: before the probe
    # could be armed if it were armed after the process started.
    project.write({
        f"quick{i}": {
            "command": "echo ready now; exec sleep 30",
            "shell": True,
            "healthcheck": {"log": "ready now", "retries": 2, "interval": "1s"},
        }
        for i in range(8)
    })
    stack = project.stack()

    async def scenario() -> None:
        async with Engine(stack) as engine:
            report = await engine.start()
            assert report.ok, report.reason
            await engine.stop()

    for _ in range(3):
        run_async(scenario())
