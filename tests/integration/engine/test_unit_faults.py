"""One unit's unexpected error ends that service only: its processes stop, the stack stays."""

from __future__ import annotations

import asyncio
from typing import Any

from dev_orchestrator.backends.base import ExitStatus
from dev_orchestrator.backends.process import ProcessBackend
from dev_orchestrator.runtime.engine import Engine
from dev_orchestrator.runtime.states import State

from .conftest import Project, alive, run_async


class _BuggyHandle:
    """A real process whose wait() fails with an unexpected error (a backend bug)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.pid = inner.pid
        self.create_time = inner.create_time
        self.container = None

    async def wait(self) -> ExitStatus:
        await asyncio.sleep(0.3)
        raise RuntimeError("simulated bug in the backend")

    async def stop(self, signal_name: str, grace: float) -> Any:
        return await self.inner.stop(signal_name, grace)

    async def exec(self, argv: list[str], timeout: float) -> Any:
        return await self.inner.exec(argv, timeout)

    def probe_host(self) -> str:
        return self.inner.probe_host()


class _BuggyBackend(ProcessBackend):
    async def start(self, service: Any, sink: Any) -> Any:
        handle = await super().start(service, sink)
        return _BuggyHandle(handle) if service.name == "buggy" else handle


def test_an_unexpected_error_in_one_unit_fails_that_service_only(project: Project) -> None:
    good, bad = project.port(), project.port()
    stack = project.stack({
        "good": project.server("good", good),
        "buggy": project.server("buggy", bad, critical=False),
    })

    async def scenario() -> None:
        async with Engine(stack, backends={"process": _BuggyBackend()}) as engine:
            assert (await engine.start()).ok
            buggy_pid = engine.status["buggy"].pid
            assert buggy_pid is not None
            deadline = asyncio.get_running_loop().time() + 10
            while engine.status["buggy"].state is not State.FAILED:
                assert asyncio.get_running_loop().time() < deadline, engine.status["buggy"]
                await asyncio.sleep(0.05)
            assert "internal error: RuntimeError: simulated bug in the backend" in engine.status["buggy"].detail
            assert not alive(buggy_pid)  # its process was stopped with it
            assert engine.status["good"].state is State.RUNNING
            assert alive(engine.status["good"].pid or 0)
            report = await engine.stop()
            assert "good" in report.stopped

    run_async(scenario())
    assert "simulated bug" in (project.root / "logs" / "buggy.log").read_text()
