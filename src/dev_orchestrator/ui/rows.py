"""The service table's rows from a ``GET /v1/status`` payload, as plain text cells.

One row per service in the stack's order; a service with ``replicas`` (deploy.replicas)
gets a row per further instance under its own (``web``, ``web#2``, ``web#3``), as
`status` prints them. Times are measured from ``now`` so that the rows are testable.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..control.protocol import age as age  # shared with `status` (cli/views.py)
from ..control.protocol import memory as memory

COLUMNS = ("SERVICE", "RUNTIME", "STATE", "HEALTH", "PID/CONTAINER", "UPTIME", "RESTARTS", "PORTS", "CPU",
           "MEM", "MARKS")
STATE_STYLES = {"running": "green", "starting": "yellow", "stopping": "yellow", "failed": "bold red",
                "exited": "dim", "stopped": "dim"}
HEALTH_STYLES = {"healthy": "green", "unhealthy": "bold red", "starting": "yellow"}


def url(port: int) -> str:
    """A service's port as something to click (services listen on the loopback)."""
    return f"http://127.0.0.1:{port}"


@dataclass(frozen=True)
class ServiceRow:
    key: str  # the row's name: the service's, or ``web#2`` for a further replica
    service: str
    replica: int | None
    runtime: str
    state: str
    health: str
    ident: str
    uptime: str
    restarts: str
    ports: tuple[str, ...]
    cpu: str
    mem: str
    marks: str

    def cells(self) -> tuple[str, ...]:
        return (self.key, self.runtime, self.state, self.health, self.ident, self.uptime, self.restarts,
                " ".join(self.ports) or "-", self.cpu, self.mem, self.marks or "-")


def _ident(record: dict[str, Any]) -> str:
    if record.get("pid"):
        return str(record["pid"])
    if record.get("container"):
        return str(record["container"])[:12]
    return "-"


def _marks(record: dict[str, Any]) -> str:
    marks = []
    drift = record.get("drift") or []
    if drift:
        marks.append("changed: " + ",".join(str(d) for d in drift))
    if record.get("watch"):
        marks.append("watching")
    return "  ".join(marks)


def _row(key: str, service: str, replica: int | None, record: dict[str, Any], now: float,
         *, usage: bool = True, marks: bool = True) -> ServiceRow:
    state = str(record.get("state") or "stopped")
    health = str(record.get("health") or "none")
    running = state in ("running", "starting")
    cpu = record.get("cpu_percent") if usage else None
    return ServiceRow(
        key=key,
        service=service,
        replica=replica,
        runtime=str(record.get("runtime") or "process"),
        state=state,
        health=health if health != "none" else "-",
        ident=_ident(record),
        uptime=age(record.get("started_at"), now) if running else "-",
        restarts=str(record.get("restarts") or 0),
        ports=tuple(url(int(p)) for p in record.get("ports") or ()),
        cpu=f"{cpu:.1f}%" if isinstance(cpu, (int, float)) else "-",
        mem=memory(record.get("rss_bytes")) if usage else "-",
        marks=_marks(record) if marks else "",
    )


def service_rows(status: dict[str, Any], now: float | None = None) -> list[ServiceRow]:
    """Rows for every service of a status payload, in the stack's order."""
    now = time.time() if now is None else now
    services: dict[str, dict[str, Any]] = status.get("services") or {}
    order = [n for n in status.get("order") or () if n in services]
    order += [n for n in services if n not in order]
    out: list[ServiceRow] = []
    for name in order:
        record = services[name]
        out.append(_row(name, name, None, record, now))
        for rep in record.get("replicas") or ():
            index = rep.get("replica")
            if index == 1:
                continue  # the service's own row
            merged = {**record, **rep}
            out.append(_row(f"{name}#{index}", name, int(index or 0), merged, now, usage=False, marks=False))
    return out


def headline(status: dict[str, Any] | None, now: float | None = None, problem: str | None = None) -> str:
    """``shop · env dev · supervisor pid 41200 · up 12m`` (or why there is no status)."""
    now = time.time() if now is None else now
    if status is None:
        return problem or "waiting for the supervisor"
    sup = status.get("supervisor") or {}
    head = f"{status.get('project', '?')} · env {status.get('env', '?')}"
    if problem:
        return f"{head} · {problem}"
    if sup.get("pid"):
        head += f" · supervisor pid {sup['pid']} · up {age(sup.get('started_at'), now)}"
    services = status.get("services") or {}
    running = sum(1 for r in services.values() if r.get("state") in ("running", "starting"))
    head += f" · {running}/{len(services)} running"
    if any(r.get("drift") for r in services.values()):
        head += " · the files changed: R applies them"
    return head
