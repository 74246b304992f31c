"""Shapes of the control API: versioned JSON requests/replies and NDJSON progress records.

Requests: ``POST /v1/<action>`` with a JSON object body (at most MAX_BODY bytes).
Replies: JSON objects; long actions (start, stop, restart) stream NDJSON records
``{"type": "event", ...}`` and end with one ``{"type": "result", ...}``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

API_VERSION = 1
MAX_BODY = 1 << 20


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# How the protocol's values read for people: `status`, the dashboards.


def age(iso: str | None, now: float) -> str:
    """``42s``, ``12m``, ``3h05m`` since ``iso``; ``-`` without one."""
    if not iso:
        return "-"
    try:
        began = datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return "-"
    up = max(0.0, now - began)
    if up < 60:
        return f"{int(up)}s"
    if up < 3600:
        return f"{int(up // 60)}m"
    return f"{int(up // 3600)}h{int(up % 3600 // 60):02d}m"


def memory(value: int | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1e6:.0f} MB" if value < 1e9 else f"{value / 1e9:.1f} GB"


def status_record(status: Any) -> dict[str, Any]:
    """One service's status in the JSON contract (DESIGN.md section 3)."""
    return {
        "state": status.state.value,
        "health": status.health.value,
        "runtime": status.runtime,
        "pid": status.pid,
        "create_time": status.create_time,
        "container": status.container,
        "started_at": iso(status.started_at),
        "restarts": status.restarts,
        "exit_code": status.exit_code,
        "ports": list(status.ports),
        "detail": status.detail,
        "notify_status": status.extra.get("status"),  # the instance's own STATUS= (sd_notify)
    }


def event_record(event: Any, status: Any, service: Any, elapsed: float) -> dict[str, Any]:
    """A progress record for the client to render (no engine objects cross the socket)."""
    record: dict[str, Any] = {
        "type": "event",
        "kind": type(event).__name__,
        "service": event.service,
        "elapsed": round(elapsed, 4),
        "pid": status.pid,
        "container": status.container,
        "state": status.state.value,
        "completed": status.completed,
        "has_healthcheck": service.healthcheck is not None,
        "one_shot": service.one_shot,
    }
    for key in ("detail", "reason", "delay", "code", "signal", "latency_ms", "duration", "killed", "attempt"):
        if hasattr(event, key):
            record[key] = getattr(event, key)
    if hasattr(event, "describe"):
        record["describe"] = event.describe()
    return record


def start_result(report: Any) -> dict[str, Any]:
    return {
        "type": "result",
        "ok": report.ok,
        "failed": report.failed,
        "reason": report.reason,
        "log_tail": report.log_tail,
        "started": report.started,
        "already_running": report.already_running,
        "skipped": report.skipped,
        "failures": report.failures,
        "rolled_back": {n: stop_record(r) for n, r in report.rolled_back.items()},
        "rollback_duration": round(report.rollback_duration, 4),
        "ready_after": {n: round(t, 4) for n, t in report.ready_after.items()},
        "duration": round(report.duration, 4),
    }


def empty_start_result() -> dict[str, Any]:
    """The result of an apply that had nothing to start."""
    return {"type": "result", "ok": True, "failed": None, "reason": "", "log_tail": [], "started": [],
            "already_running": [], "skipped": {}, "failures": {}, "rolled_back": {}, "ready_after": {},
            "duration": 0.0}


def stop_record(result: Any) -> dict[str, Any]:
    return {"duration": round(result.duration, 4), "killed": result.killed}


def stop_result(report: Any, *, errors: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "type": "result",
        "ok": not errors,
        "stopped": {n: stop_record(r) for n, r in report.stopped.items()},
        "errors": errors or {},
        "duration": round(report.duration, 4),
    }


def error_reply(message: str, *, code: str = "bad_request", hint: str | None = None, exit_code: int = 1) -> dict[str, Any]:
    return {"type": "error", "error": code, "message": message, "hint": hint, "exit_code": exit_code,
            "api": API_VERSION, "time": time.time()}
