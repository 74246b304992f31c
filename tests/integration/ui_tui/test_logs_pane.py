"""The log pane of the dashboard over the real log files of a running stack: merged and
one-service views, search with n/N, filter with exclusion and context, JSON lines, copy."""

from __future__ import annotations

import base64

from dev_orchestrator.ui.logview import CURRENT_HIT, HIT, LogView
from dev_orchestrator.ui.tui import Dashboard

from .conftest import Project, paths_of, run, until


def texts(app: Dashboard) -> list[str]:
    return [r.text for r in app.model.rows()]


def worker_done(app: Dashboard) -> bool:
    """The worker has written all it writes, and the table has both services."""
    return "worker idle" in texts(app) and len(app.rows) == 2


async def type_in(pilot: object, keys: str) -> None:
    press = pilot.press  # type: ignore[attr-defined]
    await press(*["space" if c == " " else ("exclamation_mark" if c == "!" else
                  ("plus" if c == "+" else c)) for c in keys])


def test_merged_logs_and_one_service_view(stack: Project) -> None:
    async def go() -> None:
        app = Dashboard(paths_of(stack))
        async with app.run_test(size=(140, 40)) as pilot:
            assert await until(pilot, lambda: worker_done(app) and "web" in {r.service for r in app.model.rows()})
            assert {r.service for r in app.model.rows()} == {"web", "worker"}
            await pilot.press("2")  # the table's second row: worker
            assert app.model.only == "worker"
            assert {r.service for r in app.model.rows()} == {"worker"}
            assert str(app.query_one("#logtitle").render()).startswith("worker")
            await pilot.press("2")  # again: all services
            assert app.model.only is None
            await pilot.press("k", "enter")  # Enter on the selected row (up to web)
            assert app.model.only == "web"
            await pilot.press("j", "enter")  # Enter on another row: that one
            assert app.model.only == "worker"
            await pilot.press("0")
            assert app.model.only is None
            # new lines arrive while the view is open (web logs each probe request)
            count = sum(1 for t in texts(app) if t.startswith("request"))
            assert await until(pilot, lambda: sum(1 for t in texts(app) if t.startswith("request")) > count)
            await pilot.press("q")

    run(go)


def test_search_highlights_and_n_moves(stack: Project) -> None:
    async def go() -> None:
        app = Dashboard(paths_of(stack))
        async with app.run_test(size=(140, 40)) as pilot:
            assert await until(pilot, lambda: worker_done(app))
            await pilot.press("2")
            await pilot.press("slash")
            await type_in(pilot, "job ")
            await pilot.press("enter")
            assert app.model.search == "job "
            hits = app.model.hits()
            assert len(hits) == 7
            first = app.model.current_row()
            assert first == hits[0]
            view = app.query_one(LogView)
            await pilot.pause()
            y = view.line_of_row(first) - int(view.scroll_offset.y)
            styles = [seg.style for seg in view.render_line(y)]
            assert CURRENT_HIT in styles or any(s is not None and s.bgcolor == CURRENT_HIT.bgcolor for s in styles)
            await pilot.press("n")
            assert app.model.current_row() == hits[1]
            y2 = view.line_of_row(hits[1]) - int(view.scroll_offset.y)
            segments = list(view.render_line(y2))
            assert any(seg.text == "job " for seg in segments)
            other = view.line_of_row(hits[0]) - int(view.scroll_offset.y)
            assert any(s.style is not None and s.style.bgcolor == HIT.bgcolor for s in view.render_line(other))
            await pilot.press("N", "N")
            assert app.model.current_row() == hits[-1]  # wrapped around
            assert "search 'job ' 7/7" in str(app.query_one("#logtitle").render())
            await pilot.press("q")

    run(go)


def test_filter_narrows_excludes_and_shows_context(stack: Project) -> None:
    async def go() -> None:
        app = Dashboard(paths_of(stack))
        async with app.run_test(size=(140, 40)) as pilot:
            assert await until(pilot, lambda: worker_done(app))
            await pilot.press("2")
            total = len(texts(app))
            await pilot.press("f")
            await type_in(pilot, "!job")
            await pilot.press("enter")
            assert texts(app) == ["worker ready", "worker idle"]  # the JSON line holds "jobs"
            await pilot.press("f", "ctrl+u")
            await type_in(pilot, "timeout +1")
            await pilot.press("enter")
            assert texts(app)[:2] == ["job 5 done", "ERROR job 6 failed: timeout"]
            assert texts(app)[2].startswith('{"level": "info"')
            assert [r.context for r in app.model.rows()] == [True, False, True]
            await pilot.press("f", "ctrl+u", "enter")  # empty: no filter
            assert len(texts(app)) == total
            await pilot.press("p")  # JSON lines pretty-printed
            assert '  "jobs": 7' in texts(app)
            await pilot.press("q")

    run(go)


def test_y_copies_the_visible_lines_via_osc52_and_a_file(stack: Project) -> None:
    sent: list[str] = []

    async def go() -> None:
        app = Dashboard(paths_of(stack), osc_write=sent.append)
        async with app.run_test(size=(140, 40)) as pilot:
            assert await until(pilot, lambda: worker_done(app))
            await pilot.press("2", "f")
            await type_in(pilot, "job")
            await pilot.press("enter", "t", "y")
            assert app.copied is not None and app.copied.sent
            await pilot.press("q")

    run(go)
    assert len(sent) == 1 and sent[0].startswith("\x1b]52;c;") and sent[0].endswith("\x07")
    copied = base64.b64decode(sent[0][len("\x1b]52;c;"):-1]).decode()
    assert copied.splitlines() == [f"worker | job {n} done" for n in range(6)] + [
        "worker | ERROR job 6 failed: timeout", 'worker | {"level": "info", "msg": "summary", "jobs": 7}']
    saved = stack.root / ".orchestrator" / "clipboard.txt"
    assert saved.read_text() == copied


def test_y_copies_the_mouse_selection_when_there_is_one(stack: Project) -> None:
    from textual.geometry import Offset
    from textual.selection import Selection

    sent: list[str] = []

    async def go() -> None:
        app = Dashboard(paths_of(stack), osc_write=sent.append)
        async with app.run_test(size=(140, 40)) as pilot:
            assert await until(pilot, lambda: worker_done(app))
            await pilot.press("2", "t")
            view = app.query_one(LogView)
            await pilot.pause()
            first = view.line_of_row(1)  # "worker | job 0 done"
            # from "job 0" to the end of "job 1" on the next line
            app.screen.selections = {view: Selection(Offset(9, first), Offset(19, first + 1))}
            await pilot.pause()
            styled = list(view.render_line(first - int(view.scroll_offset.y)))
            chosen = app.screen.get_component_rich_style("screen--selection")
            assert any(seg.text.startswith("job 0") and seg.style is not None and seg.style.bgcolor == chosen.bgcolor
                       for seg in styled)
            await pilot.press("y")
            await pilot.press("q")

    run(go)
    copied = base64.b64decode(sent[0][len("\x1b]52;c;"):-1]).decode()
    assert copied == "job 0 done\nworker | job 1 done"
