"""What the dashboard asks of the supervisor: the same requests, with the same bodies, that
`status`, `start`, `stop`, `restart`, `start` with a changed file (apply) and
`health --deep` send. Blocking calls; the dashboard runs them in worker threads.

One difference: a command sends the environment of the shell it runs in, which becomes
the stack's; the view sends none, so the stack keeps the environment it was started
with (the view's own is a snapshot of when it opened, and restarting one service from
it must not make every other service differ from the files).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..control.client import Client
from ..errors import OrchestratorError

Record = dict[str, Any]
STATUS_TIMEOUT = 5.0
HEALTH_TIMEOUT = 60.0


class Actions:
    def __init__(self, client: Client) -> None:
        self.client = client

    def status(self) -> Record:
        return self.client.call("GET", "/v1/status", timeout=STATUS_TIMEOUT)

    def _stream(self, path: str, body: Record, on_record: Callable[[Record], None]) -> Record:
        """Stream an action's records to ``on_record``; the final result (an error as one)."""
        try:
            for record in self.client.stream(path, body):
                if record.get("type") == "result":
                    return record
                on_record(record)
        except OrchestratorError as exc:
            return {"type": "error", "message": exc.message, "hint": exc.hint}
        return {"type": "error", "message": "the supervisor ended the stream without a result"}

    def start(self, names: list[str], on_record: Callable[[Record], None]) -> Record:
        return self._stream("/v1/start", {"services": names}, on_record)

    def stop(self, names: list[str], on_record: Callable[[Record], None]) -> Record:
        return self._stream("/v1/stop", {"services": names, "grace": None}, on_record)

    def restart(self, names: list[str], on_record: Callable[[Record], None]) -> Record:
        return self._stream("/v1/restart", {"services": names}, on_record)

    def plan(self) -> Record:
        """The reconcile plan of the files as they are now (nothing changes)."""
        return self.client.call("POST", "/v1/apply", {"services": [], "dry_run": True}, timeout=60.0)

    def apply(self, on_record: Callable[[Record], None]) -> Record:
        return self._stream("/v1/apply", {"services": []}, on_record)

    def health(self, names: list[str]) -> Record:
        return self.client.call("POST", "/v1/health", {"services": names, "deep": True}, timeout=HEALTH_TIMEOUT)


def plan_lines(plan: Record) -> list[str]:
    """The plan as `start` prints it (plan.Plan.render), then its warnings."""
    from ..plan import Action, Plan, Step

    steps = tuple(Step(s["service"], Action(s["action"]), tuple(s.get("reasons") or ())) for s in plan["steps"])
    lines = Plan(steps, tuple(plan.get("warnings") or ())).render()
    lines.extend(f"  warning: {w}" for w in plan.get("warnings") or [])
    return lines


def health_lines(report: Record) -> list[str]:
    """One line per probed service, as `health` prints them."""
    results: dict[str, Record] = report.get("services") or {}
    width = max((len(n) for n in results), default=0)
    return [f"{name.ljust(width)}  {'healthy  ' if r.get('healthy') else 'UNHEALTHY'}  "
            f"{float(r.get('latency_ms') or 0):>6.0f} ms   {r.get('detail', '')}" for name, r in results.items()]
