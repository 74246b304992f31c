"""Fixtures for the dashboard tests: a real supervisor and real processes in a temp project,
stopped in teardown (the `project` fixture of supervisor_cli checks nothing is left)."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from supervisor_cli.conftest import Project, ports, processes_in, project  # noqa: F401 - fixtures

from dev_orchestrator.state import Paths

CHATTY = textwrap.dedent(
    """
    import json, sys, time
    print("worker ready", flush=True)
    for n in range(6):
        print(f"job {n} done", flush=True)
    print("ERROR job 6 failed: timeout", flush=True)
    print(json.dumps({"level": "info", "msg": "summary", "jobs": 7}), flush=True)
    print("worker idle", flush=True)
    time.sleep(600)
    """
)


def chatty(proj: Project) -> str:
    (proj.root / "chatty.py").write_text(CHATTY)
    return json.dumps([sys.executable, str(proj.root / "chatty.py")])


@pytest.fixture
def stack(project: Project, ports: list[int]) -> Iterator[Project]:  # noqa: F811 - the fixtures above
    """Two running services: ``web`` (HTTP, health-checked) and ``worker`` (writes a log)."""
    web = ports[0]
    project.write(
        f"""
        name: demo
        services:
          web:
            command: {project.server(web)}
            ports: [{web}]
            healthcheck: {{http: {{url: "http://127.0.0.1:{web}/"}}, interval: 1s}}
          worker:
            command: {chatty(project)}
        """
    )
    project.run("start", check=True, timeout=60)
    yield project
    project.run("stop", "--grace", "1s", timeout=60)


def paths_of(proj: Project) -> Paths:
    return Paths(proj.root)


async def until(pilot: Any, predicate: Callable[[], bool], timeout: float = 15.0, step: float = 0.05) -> bool:
    """Let the app run until ``predicate`` holds (bounded: at most ``timeout`` seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if predicate():
            return True
        await pilot.pause(step)
    return bool(predicate())


def run(coro: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(coro())  # type: ignore[arg-type]


__all__ = ["Project", "chatty", "paths_of", "processes_in", "run", "until"]
