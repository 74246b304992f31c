"""The dashboard's overlays: help, a yes/no confirmation (showing a plan when there is
one), and the one-line prompt of search and filter."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

KEYS = [
    ("Services", [
        ("j / k, ↑ / ↓", "move in the table (in the log pane: scroll)"),
        ("Enter, 1-9", "show only this service's log (again: all services)"),
        ("0, Esc", "all services' logs"),
        ("Tab", "switch between the table and the log pane"),
        ("s", "start the selected service"),
        ("x", "stop the selected service and its dependents (asks first)"),
        ("r", "restart the selected service (zero-downtime where configured)"),
        ("R", "apply the files: shows the reconcile plan, then asks"),
        ("h", "run the selected service's probes now (health --deep)"),
    ]),
    ("Logs", [
        ("g / G", "top / bottom of the log (G follows again)"),
        ("F", "follow new lines on or off"),
        ("w", "wrap long lines on or off"),
        ("t", "timestamps on or off"),
        ("p", "pretty-print JSON lines on or off"),
        ("/", "search (smart case); n / N next / previous match"),
        ("f", "filter: pattern, !pattern to exclude, pattern +N for N lines of context"),
        ("y", "copy the mouse selection, else the lines in view (OSC 52, and a file)"),
    ]),
    ("Leaving", [
        ("q", "quit the view; the stack keeps running"),
        ("Q", "stop the whole stack, then quit (asks first)"),
        ("?", "this help"),
    ]),
]


def help_text() -> str:
    lines = []
    for title, keys in KEYS:
        lines.append(f"[b]{title}[/b]")
        lines.extend(f"  [b cyan]{key:<14}[/] {what}" for key, what in keys)
        lines.append("")
    lines.append("Esc, q or ? closes this help.")
    return "\n".join(lines)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "close", show=False),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 96; max-width: 100%; height: auto; max-height: 100%;
                            border: round $accent; background: $panel; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(help_text(), id="help")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """A question, optional detail lines (a plan), y or Enter to go on, n or Esc to not."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,enter", "answer(True)", "yes", show=False),
        Binding("n,escape,q", "answer(False)", "no", show=False),
    ]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: auto; min-width: 50; max-width: 100%; height: auto;
                               max-height: 90%; border: round $warning; background: $panel; padding: 0 1; }
    ConfirmScreen #detail { color: $text-muted; }
    """

    def __init__(self, question: str, detail: list[str] | None = None) -> None:
        super().__init__()
        self.question = question
        self.detail = detail or []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, id="question", markup=False)
            if self.detail:
                yield Static("\n".join(self.detail), id="detail", markup=False)
            yield Static("y / Enter: yes    n / Esc: no", id="answers")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class PromptScreen(ModalScreen[str | None]):
    """One line of input at the bottom (search, filter); Enter gives it, Esc cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel", show=False)]
    DEFAULT_CSS = """
    PromptScreen { align: left bottom; background: transparent; }
    PromptScreen > Vertical { height: auto; width: 100%; background: $panel; }
    PromptScreen Input { border: none; height: 1; padding: 0 1; }
    """

    def __init__(self, label: str, value: str = "", placeholder: str = "") -> None:
        super().__init__()
        self.label = label
        self.value = value
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.label, id="label", markup=False)
            yield Input(value=self.value, placeholder=self.placeholder, id="prompt")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
