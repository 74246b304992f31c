"""The dashboard's keys that act on the stack: s start, x stop, r restart, R apply the
plan, h probes, q quit, Q stop everything. Each sends the request the matching command
sends, in a worker thread, one at a time; destructive ones ask first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import OrchestratorError
from .actions import Actions, Record, health_lines, plan_lines
from .progress import describe, outcome
from .rows import ServiceRow
from .screens import ConfirmScreen

LEFT_RUNNING = "left"
STOPPED = "stopped"


class StackKeys:
    """A mixin of the Dashboard (ui/tui.py); its state lives there."""

    actions: Actions
    busy: str | None
    _status_interval: float | None

    # Provided by the Dashboard and textual.App.
    def say(self, message: str, *, error: bool = False) -> None:
        raise NotImplementedError

    def selected_row(self) -> ServiceRow | None:
        raise NotImplementedError

    def poll_status(self) -> None:
        raise NotImplementedError

    call_from_thread: Any
    run_worker: Any
    push_screen: Any
    notify: Any
    exit: Any


    def _selected_service(self) -> str | None:
        row = self.selected_row()
        if row is None:
            self.say("no service selected", error=True)
            return None
        return row.service

    def _run(self, label: str, work: Callable[[Callable[[Record], None]], Record],
             then: Callable[[bool], None] | None = None) -> None:
        """Run one action in a worker thread, its progress shown as it comes."""
        if self.busy is not None:
            self.say(f"{self.busy} is still running; wait for it", error=True)
            return
        self.busy = label
        self.say(f"{label}…")

        def progress(record: Record) -> None:
            text = describe(record)
            if text:
                self.call_from_thread(self.say, f"{label}: {text}")

        def job() -> None:
            try:
                result = work(progress)
            except OrchestratorError as exc:
                result = {"type": "error", "message": exc.message}
            self.call_from_thread(self._done, label, result, then)

        self.run_worker(job, thread=True, group="action", exit_on_error=False)

    def _done(self, label: str, result: Record, then: Callable[[bool], None] | None) -> None:
        self.busy = None
        ok, message = outcome(label.split(" ", 1)[0], result)
        self.say(message, error=not ok)
        if not ok:
            self.notify(message, severity="error", timeout=8)
        if self._status_interval is not None:
            self.poll_status()
        if then is not None:
            then(ok)

    def action_start(self) -> None:
        name = self._selected_service()
        if name is not None:
            self._run(f"start {name}", lambda p: self.actions.start([name], p))

    def action_stop(self) -> None:
        name = self._selected_service()
        if name is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._run(f"stop {name}", lambda p: self.actions.stop([name], p))

        self.push_screen(ConfirmScreen(f"Stop {name} (and the services that depend on it)?"), answered)

    def action_restart(self) -> None:
        name = self._selected_service()
        if name is not None:
            self._run(f"restart {name}", lambda p: self.actions.restart([name], p))

    def action_apply(self) -> None:
        """R: ask for the plan first, show it, apply it only on yes."""
        if self.busy is not None:
            self.say(f"{self.busy} is still running; wait for it", error=True)
            return
        self.say("planning…")

        def fetch() -> None:
            try:
                reply: Record = self.actions.plan()
            except OrchestratorError as exc:
                self.call_from_thread(self.say, f"apply: {exc.message}", error=True)
                return
            self.call_from_thread(self._confirm_plan, reply["plan"])

        self.run_worker(fetch, thread=True, group="action", exit_on_error=False)

    def _confirm_plan(self, plan: Record) -> None:
        lines = plan_lines(plan)
        if not any(s["action"] != "keep" for s in plan["steps"]):
            self.say("apply: nothing to change; what runs matches the files")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._run("apply the plan", self.actions.apply)
            else:
                self.say("apply: nothing changed")

        self.push_screen(ConfirmScreen("Apply this plan?", lines), answered)

    def action_health(self) -> None:
        name = self._selected_service()
        if name is None:
            return
        self.say(f"probing {name}…")

        def probe() -> None:
            try:
                report = self.actions.health([name])
            except OrchestratorError as exc:
                self.call_from_thread(self.say, f"health: {exc.message}", error=True)
                return
            text = "; ".join(health_lines(report)) or "no probe"
            self.call_from_thread(self.say, text, error=not report.get("healthy"))

        self.run_worker(probe, thread=True, group="health", exit_on_error=False)

    def action_quit_view(self) -> None:
        self.exit(LEFT_RUNNING)

    def action_stop_all(self) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self._run("stop everything", lambda p: self.actions.stop([], p),
                          then=lambda ok: self.exit(STOPPED) if ok else None)

        self.push_screen(ConfirmScreen("Stop the whole stack and quit?"), answered)
