"""Pictures of the dashboard over a real stack (pytest-textual-snapshot), at a fixed size.

What changes from run to run is masked before the picture: pids, ports, times, CPU and
memory in the status (the table shows the masked copy of the supervisor's real answer,
and status polling is off so it stays), timestamps off in the log pane, and only the
worker's log, whose lines are always the same.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dev_orchestrator.ui.tui import Dashboard

from .conftest import Project, paths_of, until

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC).timestamp()
SIZE = (130, 32)


def masked(status: dict[str, Any]) -> dict[str, Any]:
    status["supervisor"].update(pid=4000, started_at="2026-11-26T11:48:00.000Z")
    for i, record in enumerate(status["services"].values()):
        record.update(pid=4100 + i, started_at="2026-11-26T11:48:02.000Z", cpu_percent=0.5,
                      rss_bytes=20_000_000, ports=[8000 + i] if record.get("ports") else [])
    return status


def dashboard(stack: Project) -> Dashboard:
    return Dashboard(paths_of(stack), status_interval=None, clock=lambda: NOW)


async def settle(pilot: Any) -> None:
    app = pilot.app
    assert await until(pilot, lambda: "worker idle" in [r.text for r in app.model.rows()])
    app.show_status(masked(app.actions.status()))
    assert len(app.rows) == 2


def test_snapshot_table_and_one_service_log(stack: Project, snap_compare: Any) -> None:
    assert snap_compare(dashboard(stack), press=["2", "t"], terminal_size=SIZE, run_before=settle)


def test_snapshot_search_highlight(stack: Project, snap_compare: Any) -> None:
    press = ["2", "t", "slash", "j", "o", "b", "enter", "n"]
    assert snap_compare(dashboard(stack), press=press, terminal_size=SIZE, run_before=settle)
