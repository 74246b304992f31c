"""Both live views on the repository's Zyron dev stack: the terminal dashboard (`ui`, driven
with Textual's pilot) and the web dashboard (`dashboard`, over HTTP) each show the whole
stack, restart a service, and find a line in the merged logs."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from test_zyron_stack import Stack, stack  # noqa: F401 - the fixture
from ui_tui.conftest import until
from ui_tui.test_logs_pane import type_in
from ui_web.conftest import URL, Dashboard
from ui_web.test_dashboard_http import events

from dev_orchestrator.state import Paths

SERVICES = {"redis", "migrate", "visual-brain", "backend", "frontend"}


def pids(stack: Stack) -> dict[str, Any]:  # noqa: F811 - the fixture's name
    return {n: r["pid"] for n, r in json.loads(stack.run("status", "--json").stdout)["services"].items()}


def test_ui_shows_the_zyron_stack_restarts_backend_and_finds_its_log_lines(stack: Stack) -> None:  # noqa: F811
    from dev_orchestrator.ui.tui import LEFT_RUNNING
    from dev_orchestrator.ui.tui import Dashboard as Tui

    started = stack.run("start")
    assert started.returncode == 0, started.stderr
    before = pids(stack)

    async def go() -> None:
        app = Tui(Paths(stack.root))
        async with app.run_test(size=(180, 45)) as pilot:
            assert await until(pilot, lambda: {r.key for r in app.rows} == SERVICES, timeout=20)
            assert str(app.table.get_cell("backend", "STATE")) == "running"
            assert str(app.table.get_cell("backend", "HEALTH")) == "healthy"
            assert str(app.table.get_cell("migrate", "STATE")) == "exited"
            assert str(app.table.get_cell("frontend", "PORTS")) == f"http://127.0.0.1:{stack.ports['frontend']}"
            while app.selected_row() is not None and app.selected_row().service != "backend":  # type: ignore[union-attr]
                index = [r.key for r in app.rows].index(app.selected_row().service)  # type: ignore[union-attr]
                await pilot.press("j" if index < [r.key for r in app.rows].index("backend") else "k")
            await pilot.press("r")
            assert await until(pilot, lambda: app.busy is None, timeout=60)
            assert app.last_message == "restarted backend", app.last_message
            await pilot.press("slash")
            await type_in(pilot, "health")
            await pilot.press("enter")
            assert await until(pilot, lambda: len(app.model.hits()) > 0, timeout=20)
            rows = app.model.rows()
            found = [rows[i] for i in app.model.hits()]
            assert all("health" in row.text.lower() for row in found)
            assert "backend" in {row.service for row in found}, [(r.service, r.text) for r in found[:5]]
            assert {row.service for row in app.model.rows()} >= {"backend", "visual-brain"}  # merged
            await pilot.press("q")
        assert app.return_value == LEFT_RUNNING

    asyncio.run(go())
    after = pids(stack)
    assert after["backend"] not in (None, before["backend"])
    assert {n: after[n] for n in ("redis", "visual-brain", "frontend")} == {
        n: before[n] for n in ("redis", "visual-brain", "frontend")}  # q left the rest running, untouched


def test_dashboard_shows_the_zyron_stack_restarts_frontend_and_streams_its_logs(stack: Stack) -> None:  # noqa: F811
    opened = stack.run("dashboard", timeout=180)
    assert opened.returncode == 0, opened.stderr
    found = URL.search(opened.stdout)
    assert found, opened.stdout
    web = Dashboard(found.group(0), int(found.group(1)), found.group(2), opened.stdout)
    first = dict(events(web, 4))
    assert {n["name"] for n in first["graph"]["nodes"]} == SERVICES
    assert set(first["status"]["services"]) == SERVICES
    assert first["status"]["services"]["backend"]["health"] == "healthy"
    before = pids(stack)
    status, _, body = web.request("POST", "/api/restart", body={"services": ["frontend"]},
                                  headers=web.same_origin())
    assert status == 200, body
    after = pids(stack)
    assert after["frontend"] not in (None, before["frontend"])
    assert after["backend"] == before["backend"]
    # the merged log in the stream: lines of several services, one of them from the new frontend
    streamed = events(web, 4, until=lambda got: any(
        kind == "logs" and any(line["s"] == "frontend" for line in data["lines"]) for kind, data in got))
    lines = [line for kind, data in streamed if kind == "logs" for line in data["lines"]]
    assert {line["s"] for line in lines} >= {"backend", "frontend"}
    assert any(re.search(r"health", line["x"]) for line in lines)
