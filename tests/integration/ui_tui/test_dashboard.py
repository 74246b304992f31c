"""The terminal dashboard against a real supervisor and real processes, driven with
Textual's pilot: the table, actions on keys, quitting with and without the stack."""

from __future__ import annotations

from typing import Any

import psutil

from dev_orchestrator.ui.tui import LEFT_RUNNING, STOPPED, Dashboard

from .conftest import Project, paths_of, run, until


def pid_of(project: Project, name: str) -> Any:
    return project.status()["services"][name]["pid"]


def cell(app: Dashboard, key: str, column: str) -> str:
    return str(app.table.get_cell(key, column))


def test_table_shows_every_service_and_its_state(stack: Project) -> None:
    async def go() -> None:
        app = Dashboard(paths_of(stack))
        async with app.run_test(size=(160, 40)) as pilot:
            assert await until(pilot, lambda: len(app.rows) == 2)
            assert [r.key for r in app.rows] == ["web", "worker"]
            assert cell(app, "web", "STATE") == "running"
            assert cell(app, "web", "HEALTH") == "healthy"
            assert cell(app, "web", "PID/CONTAINER") == str(pid_of(stack, "web"))
            assert cell(app, "web", "PORTS").startswith("http://127.0.0.1:")
            assert "demo · env dev · supervisor pid" in str(app.query_one("#headline").render())
            await pilot.press("q")
        assert app.return_value == LEFT_RUNNING

    run(go)


def test_r_restarts_the_selected_service_with_a_new_pid(stack: Project) -> None:
    before = pid_of(stack, "web")

    async def go() -> None:
        app = Dashboard(paths_of(stack))
        async with app.run_test(size=(160, 40)) as pilot:
            assert await until(pilot, lambda: len(app.rows) == 2)
            assert app.selected_row() is not None and app.selected_row().service == "web"  # type: ignore[union-attr]
            await pilot.press("r")
            assert await until(pilot, lambda: app.busy is None, timeout=30)
            assert app.last_message == "restarted web", app.last_message
            assert await until(pilot, lambda: cell(app, "web", "PID/CONTAINER") not in ("-", str(before)))
            await pilot.press("q")

    run(go)
    status = stack.status()
    assert status["services"]["web"]["pid"] not in (None, before)
    assert status["services"]["web"]["state"] == "running"
    assert status["services"]["worker"]["drift"] == []


def test_q_leaves_the_stack_running(stack: Project) -> None:
    pids = {n: pid_of(stack, n) for n in ("web", "worker")}

    async def go() -> None:
        app = Dashboard(paths_of(stack))
        async with app.run_test(size=(120, 30)) as pilot:
            assert await until(pilot, lambda: len(app.rows) == 2)
            await pilot.press("q")
        assert app.return_value == LEFT_RUNNING

    run(go)
    status = stack.status()
    assert status["supervisor"]["running"] is True
    assert {n: r["pid"] for n, r in status["services"].items()} == pids
    assert all(r["state"] == "running" for r in status["services"].values())


def test_Q_asks_then_stops_the_stack_and_quits(stack: Project) -> None:
    async def go() -> None:
        app = Dashboard(paths_of(stack))
        async with app.run_test(size=(120, 30)) as pilot:
            assert await until(pilot, lambda: len(app.rows) == 2)
            await pilot.press("Q")
            await pilot.press("n")  # no: nothing happens
            await pilot.pause(0.2)
            assert app.return_value is None and app.busy is None
            await pilot.press("Q")
            await pilot.press("y")
            assert await until(pilot, lambda: app.return_value is not None, timeout=30)
        assert app.return_value == STOPPED

    run(go)
    status = stack.status()
    assert status["supervisor"]["running"] is False
    assert all(r["state"] != "running" for r in status["services"].values())


def test_x_stops_one_service_after_confirmation(stack: Project) -> None:
    async def go() -> None:
        app = Dashboard(paths_of(stack))
        async with app.run_test(size=(160, 40)) as pilot:
            assert await until(pilot, lambda: len(app.rows) == 2)
            await pilot.press("j")  # to worker
            assert app.selected_row().service == "worker"  # type: ignore[union-attr]
            pid = pid_of(stack, "worker")
            await pilot.press("x", "r", "s", "escape")  # under the question, r and s do nothing
            await pilot.pause(0.2)
            assert app.busy is None and app.last_message == ""
            assert pid_of(stack, "worker") == pid
            await pilot.press("x", "y")
            assert await until(pilot, lambda: app.busy is None and "stopped" in app.last_message, timeout=30)
            assert await until(pilot, lambda: cell(app, "worker", "STATE") == "stopped")
            await pilot.press("s")  # and start it again
            assert await until(pilot, lambda: app.busy is None and "start" in app.last_message, timeout=30)
            assert await until(pilot, lambda: cell(app, "worker", "STATE") == "running")
            await pilot.press("q")

    run(go)
    assert stack.status()["services"]["worker"]["state"] == "running"
    assert stack.status()["services"]["web"]["state"] == "running"


def test_R_shows_the_plan_then_applies_it(stack: Project) -> None:
    before = pid_of(stack, "worker")
    text = (stack.root / "services.yaml").read_text()
    (stack.root / "services.yaml").write_text(text.replace("  worker:\n", "  worker:\n    environment: {MODE: fast}\n"))

    async def go() -> None:
        from dev_orchestrator.ui.screens import ConfirmScreen

        app = Dashboard(paths_of(stack))
        async with app.run_test(size=(160, 40)) as pilot:
            assert await until(pilot, lambda: len(app.rows) == 2)
            assert await until(pilot, lambda: "changed" in cell(app, "worker", "MARKS"))
            await pilot.press("R")
            assert await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            screen = app.screen
            assert isinstance(screen, ConfirmScreen)
            assert any(line.split()[:2] == ["worker", "recreate"] for line in screen.detail), screen.detail
            await pilot.press("y")
            assert await until(pilot, lambda: app.busy is None and "applied" in app.last_message, timeout=30)
            await pilot.press("q")

    run(go)
    after = stack.status()["services"]["worker"]
    assert after["pid"] not in (None, before) and after["state"] == "running"
    assert psutil.Process(after["pid"]).environ().get("MODE") == "fast"
    # the view sends no environment of its own: nothing else now differs from the files
    assert {n: r["drift"] for n, r in stack.status()["services"].items()} == {"web": [], "worker": []}


def test_h_runs_the_probes_now(stack: Project) -> None:
    async def go() -> None:
        app = Dashboard(paths_of(stack))
        async with app.run_test(size=(160, 40)) as pilot:
            assert await until(pilot, lambda: len(app.rows) == 2)
            await pilot.press("h")
            assert await until(pilot, lambda: app.last_message.startswith("web"), timeout=30)
            assert "healthy" in app.last_message and "UNHEALTHY" not in app.last_message
            await pilot.press("q")

    run(go)


def test_the_view_outlives_its_supervisor(stack: Project) -> None:
    """The stack stopped from another terminal: the view says so, keeps its last table,
    and an action says why it cannot run instead of failing."""

    async def go() -> None:
        app = Dashboard(paths_of(stack))
        async with app.run_test(size=(160, 40)) as pilot:
            assert await until(pilot, lambda: len(app.rows) == 2)
            stack.run("stop", check=True)
            assert await until(pilot, lambda: app.problem is not None and "no supervisor" in app.problem)
            assert "no supervisor runs" in str(app.query_one("#headline").render())
            assert [r.key for r in app.rows] == ["web", "worker"]
            await pilot.press("r")
            assert await until(pilot, lambda: app.busy is None and "no supervisor" in app.last_message)
            await pilot.press("q")
        assert app.return_value == LEFT_RUNNING

    run(go)
    assert stack.status()["supervisor"]["running"] is False
