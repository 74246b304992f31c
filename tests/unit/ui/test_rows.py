"""The service table's rows from a real-shaped /v1/status payload."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dev_orchestrator.ui.rows import COLUMNS, age, headline, memory, service_rows

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC).timestamp()


def record(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"state": "running", "health": "healthy", "runtime": "process", "pid": 4100,
                            "container": None, "started_at": "2026-11-26T11:48:00.000Z", "restarts": 0,
                            "exit_code": None, "ports": [], "cpu_percent": 0.3, "rss_bytes": 9_000_000,
                            "drift": [], "watch": False}
    return base | kw


def payload() -> dict[str, Any]:
    return {
        "project": "zyron", "env": "dev",
        "supervisor": {"running": True, "pid": 41200, "started_at": "2026-11-26T11:47:30.000Z"},
        "order": ["redis", "migrate", "web", "db"],
        "services": {
            "web": record(pid=4200, ports=[8000], restarts=1, drift=["environment", "ports"], watch=True,
                          replicas=[{"replica": 1, "state": "running", "health": "healthy", "pid": 4200,
                                     "started_at": "2026-11-26T11:48:00.000Z", "restarts": 1},
                                    {"replica": 2, "state": "starting", "health": "starting", "pid": 4201,
                                     "started_at": "2026-11-26T11:59:30.000Z", "restarts": 0}]),
            "redis": record(ports=[6379]),
            "migrate": record(state="exited", health="none", pid=None, exit_code=0, cpu_percent=None,
                              rss_bytes=None),
            "db": record(runtime="docker", pid=None, container="0123456789abcdef", rss_bytes=2_500_000_000,
                         cpu_percent=12.25, health="unhealthy"),
        },
    }


def test_rows_follow_the_stack_order_with_a_row_per_replica() -> None:
    rows = service_rows(payload(), NOW)
    assert [r.key for r in rows] == ["redis", "migrate", "web", "web#2", "db"]
    assert rows[3].service == "web" and rows[3].replica == 2


def test_cells() -> None:
    rows = {r.key: r for r in service_rows(payload(), NOW)}
    assert rows["redis"].cells() == ("redis", "process", "running", "healthy", "4100", "12m", "0",
                                     "http://127.0.0.1:6379", "0.3%", "9 MB", "-")
    assert rows["migrate"].cells()[2:6] == ("exited", "-", "-", "-")
    assert rows["db"].ident == "0123456789ab" and rows["db"].mem == "2.5 GB" and rows["db"].cpu == "12.2%"
    assert rows["web"].marks == "changed: environment,ports  watching"
    assert rows["web"].restarts == "1"
    replica = rows["web#2"]
    assert (replica.state, replica.health, replica.ident, replica.uptime) == ("starting", "starting", "4201", "30s")
    assert (replica.cpu, replica.mem, replica.marks) == ("-", "-", "")
    assert replica.ports == ("http://127.0.0.1:8000",)
    assert len(rows["web"].cells()) == len(COLUMNS)


def test_services_missing_from_the_order_come_last() -> None:
    data = payload()
    data["order"] = ["db"]
    assert [r.key for r in service_rows(data, NOW)][0] == "db"
    assert len(service_rows(data, NOW)) == 5


def test_age_and_memory() -> None:
    assert age(None, NOW) == "-"
    assert age("not a time", NOW) == "-"
    assert age("2026-11-26T09:55:00.000Z", NOW) == "2h05m"
    assert age("2026-11-26T12:00:05.000Z", NOW) == "0s"  # a clock a little ahead
    assert memory(None) == "-" and memory(88_000_000) == "88 MB"


def test_headline() -> None:
    assert headline(payload(), NOW) == ("zyron · env dev · supervisor pid 41200 · up 12m · 3/4 running"
                                        " · the files changed: R applies them")
    assert headline(None, NOW) == "waiting for the supervisor"
    assert headline(payload(), NOW, problem="supervisor not running").endswith("· supervisor not running")
