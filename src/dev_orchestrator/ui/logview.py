"""The log pane: draws the rows of a LogModel line by line (only the rows in view are
rendered, so a pane of twenty thousand lines scrolls as fast as one of twenty).

Rows carry the service's coloured prefix; search matches are highlighted (the current
one more strongly), context rows of a filter are dimmed, and long lines either scroll
sideways or wrap.
"""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.selection import Selection
from textual.strip import Strip

from .logmodel import LogModel, Row, spans

PALETTE = ("cyan", "yellow", "green", "magenta", "blue", "bright_cyan", "bright_yellow", "bright_green",
           "bright_magenta", "bright_blue", "red", "bright_red")
HIT = Style(color="black", bgcolor="yellow")
CURRENT_HIT = Style(color="black", bgcolor="bright_red", bold=True)
CONTEXT = Style(dim=True)
PLAIN = Style()


class LogView(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    LogView { height: 1fr; }
    LogView:focus { background-tint: $foreground 3%; }
    """

    def __init__(self, model: LogModel, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.wrap = False
        self._seen: tuple[int, int, bool] | None = None  # (model epoch, width, wrap) laid out
        self._layout: list[tuple[int, int]] = []  # per screen line: (row, first character)
        self._laid = 0  # rows laid out so far
        self._widest = 0
        self._cache: dict[int, list[Segment]] = {}

    # -- layout -----------------------------------------------------------------------------

    def update(self, *, force: bool = False) -> None:
        """Lay out the rows that are new; all of them again when the model rebuilt its
        rows, the width or wrapping changed, or ``force`` (a search match moved)."""
        width = max(1, self.scrollable_content_region.width)
        rows = self.model.rows()
        key = (self.model.epoch, width, self.wrap)
        if key != self._seen or force:
            self._seen = key
            self._cache.clear()
            self._layout = []
            self._laid = 0
            self._widest = 0
        elif self._laid == len(rows):
            return
        for i in range(self._laid, len(rows)):
            length = len(self.model.plain(rows[i]))
            if self.wrap and length > width:
                self._layout.extend((i, start) for start in range(0, length, width))
            else:
                self._layout.append((i, 0))
                self._widest = max(self._widest, length)
        self._laid = len(rows)
        self.virtual_size = Size(width if self.wrap else self._widest, len(self._layout))
        if self.model.follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()

    def on_resize(self) -> None:
        self.update()

    def line_of_row(self, row: int) -> int:
        """The first screen line of model row ``row``."""
        for y, (r, _start) in enumerate(self._layout):
            if r >= row:
                return y
        return max(0, len(self._layout) - 1)

    def row_at(self, y: int) -> int | None:
        return self._layout[y][0] if 0 <= y < len(self._layout) else None

    def show_row(self, row: int) -> None:
        """Scroll so that ``row`` is in view (centred), and stop following."""
        self.model.follow = False
        y = self.line_of_row(row)
        self.scroll_to(y=max(0, y - self.scrollable_content_region.height // 2), animate=False, immediate=True)
        self.refresh()

    def visible_rows(self) -> list[Row]:
        """The rows that are in view, top to bottom."""
        top = int(self.scroll_offset.y)
        height = self.scrollable_content_region.height
        rows = self.model.rows()
        seen: list[int] = []
        for row, _start in self._layout[top: top + height]:
            if not seen or seen[-1] != row:
                seen.append(row)
        return [rows[i] for i in seen if i < len(rows)]

    # -- drawing ----------------------------------------------------------------------------

    def _segments(self, index: int) -> list[Segment]:
        cached = self._cache.get(index)
        if cached is not None:
            return cached
        model = self.model
        row = model.rows()[index]
        color = PALETTE[model.color_index(row.service) % len(PALETTE)]
        base = CONTEXT if row.context else PLAIN
        out = [Segment(model.prefix(row), Style(color=color, dim=row.context))]
        hits = spans(row.text, model.search) if model.search else []
        mark = CURRENT_HIT if model.current_row() == index else HIT
        at = 0
        for start, end in hits:
            if start > at:
                out.append(Segment(row.text[at:start], base))
            out.append(Segment(row.text[start:end], mark))
            at = end
        if at < len(row.text):
            out.append(Segment(row.text[at:], base))
        self._cache[index] = out
        return out

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        scroll_x, scroll_y = self.scroll_offset
        index = int(scroll_y) + y
        if index >= len(self._layout):
            return Strip.blank(width, self.rich_style)
        row, start = self._layout[index]
        segments = self._segments(row)
        selection = self.text_selection
        span = selection.get_span(index) if selection is not None else None
        if span is not None:
            # The mouse selection, in the coordinates of this screen line's text (get_selection).
            text = Text.assemble(*((seg.text, seg.style or PLAIN) for seg in segments), no_wrap=True)
            begin_sel, end_sel = span
            end_sel = len(text) - start if end_sel == -1 else end_sel
            text.stylize(self.screen.get_component_rich_style("screen--selection"), start + begin_sel,
                         start + end_sel)
            segments = list(text.render(self.app.console))
        strip = Strip(segments)
        begin = start if self.wrap else int(scroll_x)
        strip = strip.crop(begin, begin + width).extend_cell_length(width).apply_style(self.rich_style)
        return strip.apply_offsets(begin - start, index)

    # -- mouse selection (y copies it) -----------------------------------------------------

    def _screen_lines(self) -> list[str]:
        """The text of every screen line, as the selection's coordinates count them."""
        rows = self.model.rows()
        width = max(1, self.scrollable_content_region.width)
        out = []
        for row, start in self._layout:
            plain = self.model.plain(rows[row])
            out.append(plain[start: start + width] if self.wrap else plain)
        return out

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        return selection.extract("\n".join(self._screen_lines())), "\n"

    def selection_updated(self, selection: Selection | None) -> None:
        self.refresh()

    # -- scrolling stops following; the end follows again ----------------------------------

    def scroll_by_lines(self, lines: int) -> None:
        if lines < 0:
            self.model.follow = False
        self.scroll_relative(y=lines, animate=False, immediate=True)
        if lines > 0 and self.scroll_offset.y >= self.max_scroll_y:
            self.model.follow = True

    def top(self) -> None:
        self.model.follow = False
        self.scroll_home(animate=False, immediate=True)

    def bottom(self) -> None:
        self.model.follow = True
        self.scroll_end(animate=False, immediate=True)

    def on_mouse_scroll_up(self) -> None:
        self.model.follow = False

    def action_scroll_up(self) -> None:
        self.scroll_by_lines(-1)

    def action_scroll_down(self) -> None:
        self.scroll_by_lines(1)

    def action_page_up(self) -> None:
        self.scroll_by_lines(-max(1, self.scrollable_content_region.height - 1))

    def action_page_down(self) -> None:
        self.scroll_by_lines(max(1, self.scrollable_content_region.height - 1))

    def action_scroll_home(self) -> None:
        self.top()

    def action_scroll_end(self) -> None:
        self.bottom()
