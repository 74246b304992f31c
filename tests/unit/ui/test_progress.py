"""Progress records of the control API as the dashboard's one-line messages."""

from __future__ import annotations

from dev_orchestrator.ui.progress import describe, outcome


def test_event_lines() -> None:
    assert describe({"type": "event", "kind": "Healthy", "service": "api", "elapsed": 0.842,
                     "detail": "http :8000/health"}) == "api  healthy in 0.84s (http :8000/health)"
    assert describe({"kind": "Spawned", "service": "api", "pid": 7, "has_healthcheck": True}) == \
        "api  started pid 7  probing"
    assert describe({"kind": "Stopped", "service": "api", "duration": 0.2, "killed": True}) == \
        "api  stopped in 0.20s (killed after its grace period)"
    assert describe({"kind": "Nothing", "service": "api"}) is None


def test_plan_record() -> None:
    plan = {"type": "plan", "steps": [{"service": "a", "action": "keep"}, {"service": "b", "action": "recreate"}]}
    assert describe(plan) == "plan: b recreate"
    assert describe({"type": "plan", "steps": []}) == "plan: nothing to change"


def test_outcomes() -> None:
    assert outcome("restart", {"type": "result", "ok": True, "restarted": ["api"]}) == (True, "restarted api")
    assert outcome("stop", {"type": "result", "ok": True, "stopped": {"a": {}, "b": {}}}) == (True, "stopped a, b")
    assert outcome("start", {"type": "result", "ok": False, "failed": "api", "reason": "exited 1"}) == \
        (False, "start: api failed: exited 1")
    assert outcome("apply", {"type": "result", "ok": True, "plan": {"steps": [{"action": "create"}]}}) == \
        (True, "apply: applied 1 change")
