"""One line of text for a progress record of the control API (start, stop, restart,
apply), for the dashboard's progress line: the same records `start` streams."""

from __future__ import annotations

from typing import Any


def _took(record: dict[str, Any]) -> str:
    elapsed = record.get("elapsed")
    if not isinstance(elapsed, (int, float)):
        return ""
    return f" in {elapsed:.2f}s" if elapsed < 10 else f" in {elapsed:.1f}s"


def _ident(record: dict[str, Any]) -> str:
    if record.get("pid"):
        return f" pid {record['pid']}"
    if record.get("container"):
        return f" container {str(record['container'])[:12]}"
    return ""


def describe(record: dict[str, Any]) -> str | None:
    """``backend  healthy in 0.84s (http :8000/health)``, or None for a record not worth a line."""
    kind = record.get("kind")
    name = str(record.get("service") or "")
    if record.get("type") == "plan":
        changes = [s for s in record.get("steps") or () if s.get("action") != "keep"]
        if not changes:
            return "plan: nothing to change"
        return "plan: " + ", ".join(f"{s['service']} {s['action']}" for s in changes)
    if kind == "Starting":
        return f"{name}  starting"
    if kind == "Spawned":
        return f"{name}  started{_ident(record)}" + ("  probing" if record.get("has_healthcheck") else "")
    if kind == "ProbeProgress":
        return f"{name}  probing {record.get('attempt', '')}: {record.get('detail', '')}".rstrip(": ")
    if kind == "Healthy":
        detail = f" ({record['detail']})" if record.get("detail") else ""
        return f"{name}  healthy{_took(record)}{detail}"
    if kind == "Exited" and record.get("completed"):
        return f"{name}  completed{_took(record)}"
    if kind == "Exited":
        return f"{name}  exited: {record.get('describe') or record.get('code')}"
    if kind == "Failed":
        return f"{name}  FAILED: {record.get('reason')}"
    if kind == "Restarting":
        return f"{name}  restarting in {record.get('delay')}s ({record.get('reason')})"
    if kind == "Replacing":
        return f"{name}  starting a new instance beside pid {record.get('pid')}"
    if kind == "Skipped":
        return f"{name}  skipped: {record.get('reason')}"
    if kind == "Stopping":
        return f"{name}  stopping"
    if kind == "Stopped":
        killed = " (killed after its grace period)" if record.get("killed") else ""
        duration = record.get("duration")
        took = f" in {duration:.2f}s" if isinstance(duration, (int, float)) else ""
        return f"{name}  stopped{took}{killed}"
    return None


def outcome(action: str, result: dict[str, Any]) -> tuple[bool, str]:
    """(ok, message) for the final ``result`` record of an action."""
    if result.get("type") == "error":
        return False, f"{action}: {result.get('message')}"
    if not result.get("ok", True):
        failed = result.get("failed")
        reason = result.get("reason") or "; ".join(f"{n}: {e}" for n, e in (result.get("errors") or {}).items())
        return False, f"{action}: {failed + ' failed: ' if failed else ''}{reason}"
    if action == "stop":
        stopped = list(result.get("stopped") or {})
        return True, f"stopped {', '.join(stopped) or 'nothing'}"
    if action == "restart":
        return True, f"restarted {', '.join(result.get('restarted') or []) or 'nothing'}"
    changes = [s for s in (result.get("plan") or {}).get("steps", []) if s.get("action") != "keep"]
    if not changes:
        return True, f"{action}: nothing to change"
    return True, f"{action}: applied {len(changes)} change{'s' if len(changes) != 1 else ''}"
