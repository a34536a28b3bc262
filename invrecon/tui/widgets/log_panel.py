"""The log panel: posting progress and skipped entries with their reasons.

Lines are written in batches (``write_lines``: one RichLog write per batch); the posting worker
never writes one line per message (Textual issue #2187: very frequent log writes freeze the UI).
Lines are ``rich.text.Text`` (markup off), so entry data is never parsed as markup; long reasons
wrap.
"""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, RichLog, Static

MAX_LINES = 20_000


class LogPanel(Vertical):
    def compose(self) -> ComposeResult:
        yield Static(Text("No posting run yet. Press p to post inventory cost to the G/L."),
                     id="log-status")
        yield ProgressBar(id="log-progress", show_eta=False)
        yield RichLog(id="log", max_lines=MAX_LINES, wrap=True, markup=False, highlight=False,
                      auto_scroll=True)

    def on_mount(self) -> None:
        self._lines: deque[str] = deque(maxlen=MAX_LINES)
        self.border_title = "Log"
        self.query_one(ProgressBar).display = False

    @property
    def log_widget(self) -> RichLog:
        return self.query_one("#log", RichLog)

    @property
    def lines(self) -> list[str]:
        """The plain text of every line written (up to MAX_LINES)."""
        return list(self._lines)

    def write_lines(self, lines: list[str]) -> None:
        if lines:
            self._lines.extend(lines)
            self.log_widget.write(Text("\n".join(lines)))

    def set_status(self, text: str) -> None:
        self.query_one("#log-status", Static).update(Text(text))

    def start_progress(self, total: int) -> None:
        bar = self.query_one(ProgressBar)
        bar.display = True
        bar.update(total=max(total, 1), progress=0)

    def progress(self, processed: int, total: int) -> None:
        self.query_one(ProgressBar).update(total=max(total, 1), progress=processed)

    def stop_progress(self) -> None:
        self.query_one(ProgressBar).display = False
