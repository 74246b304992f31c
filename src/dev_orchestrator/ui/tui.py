"""`dev-orchestrator ui`: the terminal dashboard, a client of the supervisor's control API.

The service table comes from ``GET /v1/status``, asked about once a second from a worker
thread (never more than one request at a time); the log pane follows the files under
``logs/`` with the same followers `logs -f` uses. Actions are the requests the commands
send, run in a worker thread so the view keeps drawing, their progress records shown as
they come. The view owns nothing: quitting it (q) leaves every service running.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from ..control.client import Client
from ..errors import OrchestratorError, SupervisorNotRunning
from ..logs.reader import Follower, followers, last_lines
from ..state import Paths
from .actions import Actions, Record
from .clipboard import Copied, copy_text
from .logmodel import Filter, LogModel
from .logview import LogView
from .rows import COLUMNS, HEALTH_STYLES, STATE_STYLES, ServiceRow, headline, service_rows
from .screens import HelpScreen, PromptScreen
from .stack_keys import LEFT_RUNNING, STOPPED, StackKeys

__all__ = ["LEFT_RUNNING", "STOPPED", "Dashboard"]

BACKLOG = 500  # lines of each service's log shown when the view opens
KEY_BAR = ("Enter/1-9 logs of one  s start  x stop  r restart  R apply  h health  / search  f filter  "
           "y copy  ? help  q quit  Q stop all")


class Dashboard(StackKeys, App[str]):
    """The live view. ``exit`` returns ``"left"`` (q: the stack runs on) or ``"stopped"`` (Q)."""

    TITLE = "dev-orchestrator"
    CSS = """
    Screen { layout: vertical; }
    #headline { height: 1; padding: 0 1; background: $boost; text-style: bold; }
    #services { height: auto; max-height: 45%; }
    #logtitle { height: 1; padding: 0 1; background: $boost; color: $text-muted; }
    #progress { height: 1; padding: 0 1; color: $text-muted; }
    #keys { height: 1; padding: 0 1; background: $boost; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit_view", "quit"),
        Binding("Q", "stop_all", "stop all"),
        Binding("question_mark", "help", "help"),
        Binding("s", "start", "start"),
        Binding("x", "stop", "stop"),
        Binding("r", "restart", "restart"),
        Binding("R", "apply", "apply"),
        Binding("h", "health", "health"),
        Binding("j", "down", show=False),
        Binding("k", "up", show=False),
        Binding("g", "top", show=False),
        Binding("G", "bottom", show=False),
        Binding("slash", "search", "search"),
        Binding("n", "next_hit", show=False),
        Binding("N", "prev_hit", show=False),
        Binding("f", "filter", "filter"),
        Binding("F", "toggle_follow", show=False),
        Binding("w", "toggle_wrap", show=False),
        Binding("t", "toggle_timestamps", show=False),
        Binding("p", "toggle_pretty", show=False),
        Binding("y", "copy", "copy"),
        Binding("escape", "all_services", show=False),
        *[Binding(str(i), f"pick({i})", show=False) for i in range(10)],
    ]

    def __init__(self, paths: Paths, *, client: Client | None = None, osc_write: Callable[[str], None] | None = None,
                 status_interval: float | None = 1.0, log_interval: float = 0.2,
                 clock: Callable[[], float] = time.time, backlog: int = BACKLOG) -> None:
        super().__init__()
        self.paths = paths
        self.actions = Actions(client or Client(paths))
        self.model = LogModel()
        self.status: Record | None = None
        self.problem: str | None = None
        self.rows: list[ServiceRow] = []
        self.busy: str | None = None  # the action running now (one at a time, as the supervisor runs them)
        self.last_message = ""
        self.copied: Copied | None = None
        self._osc_write = osc_write
        self._status_interval = status_interval
        self._log_interval = log_interval
        self._clock = clock
        self._backlog = backlog
        self._polling = False
        self._followers: dict[str, Follower] = {}

    # -- layout -----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(headline(None), id="headline", markup=False)
        table: DataTable[Any] = DataTable(id="services", cursor_type="row", zebra_stripes=False)
        yield table
        yield Static("", id="logtitle", markup=False)
        yield LogView(self.model, id="logs")
        yield Static("", id="progress", markup=False)
        yield Static(KEY_BAR, id="keys", markup=False)

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one("#services", DataTable)

    @property
    def logview(self) -> LogView:
        return self.query_one(LogView)

    def on_mount(self) -> None:
        for column in COLUMNS:
            self.table.add_column(column, key=column)
        self.table.focus()
        names = sorted(p.name[:-4] for p in self.paths.logs.glob("*.log")) if self.paths.logs.is_dir() else []
        self._follow(names)
        if self._status_interval is not None:
            self.poll_status()
            self.set_interval(self._status_interval, self.poll_status)
        self.set_interval(self._log_interval, self.poll_logs)
        self._show_log_title()

    # -- status -----------------------------------------------------------------------------

    def poll_status(self) -> None:
        """Ask for the status in a worker thread, unless the last question is still out."""
        if self._polling:
            return
        self._polling = True
        self.run_worker(self._fetch_status, thread=True, group="status", exit_on_error=False)

    def _fetch_status(self) -> None:
        data: Record | None = None
        problem: str | None = None
        try:
            data = self.actions.status()
        except SupervisorNotRunning:
            problem = "no supervisor runs: the stack is stopped (dev-orchestrator start starts it)"
        except OrchestratorError as exc:
            problem = exc.message
        finally:
            self._polling = False
        self.call_from_thread(self.show_status, data, problem)

    def show_status(self, data: Record | None, problem: str | None = None) -> None:
        """Fill the table from a status payload (None: keep the last one, say why)."""
        self.problem = problem
        if data is not None:
            self.status = data
        text = headline(self.status, self._clock(), problem)
        # Without an answer the table is the last one known: say so in red.
        self.query_one("#headline", Static).update(Text(text, style="bold red") if problem else text)
        if data is None:
            return
        self._follow(list(data.get("services") or {}))
        rows = service_rows(data, self._clock())
        table = self.table
        if [r.key for r in rows] == [r.key for r in self.rows]:
            for old, new in zip(self.rows, rows, strict=True):
                if old != new:
                    for column, (a, b) in zip(COLUMNS, zip(old.cells(), new.cells(), strict=True), strict=True):
                        if a != b:
                            table.update_cell(new.key, column, self._cell(column, b), update_width=True)
        else:
            keep = self.selected_row()
            table.clear()
            for row in rows:
                table.add_row(*(self._cell(c, v) for c, v in zip(COLUMNS, row.cells(), strict=True)), key=row.key)
            if keep is not None and keep.key in [r.key for r in rows]:
                table.move_cursor(row=[r.key for r in rows].index(keep.key))
        self.rows = rows

    @staticmethod
    def _cell(column: str, value: str) -> Text | str:
        if column == "STATE":
            return Text(value, style=STATE_STYLES.get(value, ""))
        if column == "HEALTH":
            return Text(value, style=HEALTH_STYLES.get(value, ""))
        if column == "MARKS" and value != "-":
            return Text(value, style="yellow")
        return value

    def selected_row(self) -> ServiceRow | None:
        if not self.rows:
            return None
        index = self.table.cursor_row
        return self.rows[index] if 0 <= index < len(self.rows) else None

    # -- logs -------------------------------------------------------------------------------

    def _follow(self, names: list[str]) -> None:
        """Follow the logs of services not followed yet (the first time: their last lines too)."""
        new = [n for n in names if n not in self._followers]
        if not new:
            return
        watching = followers(self.paths.logs, new)
        upto = {f.service: f.offset for f in watching}
        for name in new:
            self.model.add_service(name)
        # The last lines of each log (a chatty service does not crowd out the others), merged.
        tails = [last_lines(self.paths.logs, [name], self._backlog, upto) for name in new]
        self.model.add(heapq.merge(*tails, key=lambda line: line.stamp))
        self._followers.update((f.service, f) for f in watching)
        self.logview.update()

    def poll_logs(self) -> None:
        batch = [line for f in self._followers.values() for line in f.poll()]
        if batch:
            batch.sort(key=lambda line: line.stamp)
            self.model.add(batch)
        self.logview.update()
        self._show_log_title()

    def _show_log_title(self) -> None:
        extra = [name for name, on in (("wrap", self.logview.wrap), ("no timestamps", not self.model.timestamps))
                 if on]
        title = " · ".join([self.model.describe(), *extra, f"{len(self.model.rows())} lines"])
        self.query_one("#logtitle", Static).update(title)

    def on_unmount(self) -> None:
        for follower in self._followers.values():
            follower.close()

    # -- messages ---------------------------------------------------------------------------

    def say(self, message: str, *, error: bool = False) -> None:
        self.last_message = message
        line = self.query_one("#progress", Static)
        line.update(Text(message, style="bold red" if error else ""))

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    # -- moving around ----------------------------------------------------------------------

    def _log_focused(self) -> bool:
        return isinstance(self.focused, LogView)

    def action_down(self) -> None:
        if self._log_focused():
            self.logview.scroll_by_lines(1)
        else:
            self.table.action_cursor_down()

    def action_up(self) -> None:
        if self._log_focused():
            self.logview.scroll_by_lines(-1)
        else:
            self.table.action_cursor_up()

    def action_top(self) -> None:
        self.logview.top()

    def action_bottom(self) -> None:
        self.logview.bottom()
        self._show_log_title()

    def _show_only(self, service: str | None) -> None:
        self.model.show_only(service)
        self.logview.update()
        self._show_log_title()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        row = next((r for r in self.rows if r.key == event.row_key.value), None)
        if row is not None:
            self._show_only(None if self.model.only == row.service else row.service)

    def action_pick(self, number: int) -> None:
        """1-9: the log of the table's row N alone (again: all); 0: every service."""
        if number == 0 or number > len(self.rows):
            self._show_only(None)
            return
        self.table.move_cursor(row=number - 1)
        service = self.rows[number - 1].service
        self._show_only(None if self.model.only == service else service)

    def action_all_services(self) -> None:
        if self.model.search:
            self.model.set_search(None)
            self.logview.update(force=True)
            self._show_log_title()
        else:
            self._show_only(None)

    # -- search, filter, view settings -----------------------------------------------------

    def action_search(self) -> None:
        self.push_screen(PromptScreen("search (a capital letter makes case count; empty clears)",
                                      self.model.search or ""), self._searched)

    def _searched(self, pattern: str | None) -> None:
        if pattern is None:
            return
        self.model.set_search(pattern)
        self.logview.update(force=True)
        if pattern:
            top = self.logview.row_at(int(self.logview.scroll_offset.y))
            self._jump(self.model.next_hit(None if top is None else top - 1))
        self._show_log_title()

    def _jump(self, row: int | None) -> None:
        if row is None:
            self.say(f"not found: {self.model.search!r}" if self.model.search else "no search: / searches")
            return
        self.logview.update(force=True)
        self.logview.show_row(row)
        self._show_log_title()

    def action_next_hit(self) -> None:
        self._jump(self.model.next_hit())

    def action_prev_hit(self) -> None:
        self._jump(self.model.prev_hit())

    def action_filter(self) -> None:
        current = self.model.filter
        value = "" if current is None else ("!" if current.exclude else "") + current.pattern + (
            f" +{current.context}" if current.context else "")
        self.push_screen(PromptScreen("filter: pattern, !pattern excludes, pattern +N adds N lines of context "
                                      "(empty clears)", value), self._filtered)

    def _filtered(self, text: str | None) -> None:
        if text is None:
            return
        self.model.set_filter(Filter.parse(text))
        self.logview.update(force=True)
        self._show_log_title()

    def action_toggle_follow(self) -> None:
        if self.model.follow:
            self.model.follow = False
        else:
            self.logview.bottom()
        self._show_log_title()

    def action_toggle_wrap(self) -> None:
        self.logview.wrap = not self.logview.wrap
        self.logview.update(force=True)
        self._show_log_title()

    def action_toggle_timestamps(self) -> None:
        self.model.toggle_timestamps()
        self.logview.update()
        self._show_log_title()

    def action_toggle_pretty(self) -> None:
        self.model.toggle_pretty()
        self.logview.update()
        self._show_log_title()

    # -- copy -------------------------------------------------------------------------------

    def _terminal_writer(self) -> Callable[[str], None] | None:
        if self._osc_write is not None:
            return self._osc_write
        driver = self._driver
        if driver is None or self.is_headless:
            return None
        return driver.write

    def action_copy(self) -> None:
        """y: the mouse selection if there is one, else the log lines in view."""
        text = self.screen.get_selected_text()
        if not text:
            text = "\n".join(self.model.plain(r) for r in self.logview.visible_rows())
        if not text:
            self.say("nothing to copy")
            return
        self.copied = copy_text(text, write=self._terminal_writer(), fallback=self.clipboard_file)
        self.say(self.copied.message(), error=self.copied.file is None and not self.copied.sent)

    @property
    def clipboard_file(self) -> Path:
        return self.paths.dir / "clipboard.txt"
