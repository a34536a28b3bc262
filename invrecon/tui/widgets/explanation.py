"""The warning/explanation panel for the matrix cell under the cursor.

Shows the cell (row, column, amount and, on the Difference column, the formula), the row's
warning (title and detail) and the causes of the difference with their amounts. The causes are an
OptionList: Enter on one posts :class:`ExplanationPanel.CauseChosen` and the screen drills to
the entries of that cause.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from invrecon.money import format_cents_grouped


def _money(cents: int | None) -> str:
    return format_cents_grouped(cents) if cents is not None else "blank"


def entry_count(entries: Any) -> int | None:
    if isinstance(entries, int) and not isinstance(entries, bool):
        return entries
    if isinstance(entries, list | tuple):
        return len(entries)
    if isinstance(entries, dict):
        for key in ("count", "total_count", "entries"):
            if isinstance(entries.get(key), int):
                return entries[key]
    return None


class ExplanationPanel(Vertical):
    class CauseChosen(Message):
        def __init__(self, row_key: str, column_key: str, cause: Any) -> None:
            super().__init__()
            self.row_key = row_key
            self.column_key = column_key
            self.cause = cause

    def compose(self) -> ComposeResult:
        yield Static(id="explain-text")
        yield OptionList(id="causes")

    def on_mount(self) -> None:
        self.border_title = "Explanation"
        self._causes: list[Any] = []
        self._cell: tuple[str, str] | None = None
        self.query_one("#causes", OptionList).display = False

    @property
    def causes(self) -> list[Any]:
        return list(self._causes)

    def clear(self, message: str = "") -> None:
        self.query_one("#explain-text", Static).update(Text(message))
        self._set_causes([])

    def show_cell(
        self,
        row: Any,
        column_key: str,
        column_name: str,
        *,
        amount: int | None,
        diff_cell: tuple[str, str] | None,
        diff_name: str,
        diff: int | None,
        gl_total: int | None,
        total: int | None,
        causes: list[Any],
        show_warning: bool,
        explaining: bool = False,
    ) -> None:
        """Explain one cell; ``diff_cell`` is the Difference cell of the cell's account type
        (its causes are listed and drill from that cell)."""
        self._cell = diff_cell
        text = Text()
        text.append(row.name, style="bold")
        if column_key in ("name", "warning"):
            text.append(f"  ({column_name})")
        else:
            text.append(f" / {column_name}: ")
            text.append(_money(amount), style="bold")
        if diff_cell is not None:
            text.append(f"\n{diff_name}: G/L Total {_money(gl_total)} − Total {_money(total)}"
                        f" = {_money(diff)}")
        warning = getattr(row, "warning", None)
        if warning is not None:
            text.append("\nWarning: ", style="bold")
            text.append(warning.title)
            if getattr(warning, "detail", ""):
                text.append("\n")
                text.append(warning.detail)
        elif diff and not show_warning:
            text.append("\nPress w (Show Warning) for the warnings.")
        if causes:
            text.append(f"\nCauses of the difference {_money(diff)}"
                        " (Tab to the list, Enter opens the entries):")
        elif diff and explaining:
            text.append("\nExplaining the difference…")
        elif diff:
            text.append("\nNo causes listed for this difference.")
        self.query_one("#explain-text", Static).update(text)
        self._set_causes(causes)

    def _set_causes(self, causes: list[Any]) -> None:
        self._causes = causes
        options = self.query_one("#causes", OptionList)
        options.clear_options()
        for i, cause in enumerate(causes):
            prompt = Text()
            prompt.append(f"{format_cents_grouped(cause.amount):>16}  ", style="bold")
            prompt.append(cause.title)
            count = entry_count(getattr(cause, "entries", None))
            if count is not None:
                prompt.append(f"  ({count:,} entries)")
            options.add_option(Option(prompt, id=f"cause-{i}"))
        options.display = bool(causes)
        if causes:
            options.highlighted = 0

    @on(OptionList.OptionSelected, "#causes")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if self._cell is None:
            return
        cause = self._causes[event.option_index]
        self.post_message(self.CauseChosen(self._cell[0], self._cell[1], cause))
