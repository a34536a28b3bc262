"""Shared bits of the app's screens: CSV export of the table in view, palette commands, keys."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable

# Keys that belong to the tables of a screen (not declared as screen bindings) but that the help
# screen must list too: (key display, description).
TABLE_KEYS: tuple[tuple[str, str], ...] = (
    ("↑ ↓ ← →", "move the cursor"),
    ("PgUp / PgDn", "move one page in the table"),
    ("Home / End", "first / last column"),
    ("Tab / Shift+Tab", "move between panes"),
)


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return buf.getvalue()


def export_filename(stem: str) -> str:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"invrecon-{stem}-{stamp}.csv"


class InvreconScreen(Screen):
    """Base for the app's screens: ``HELP_KEYS`` lists extra keys for the help screen and
    ``PALETTE_AREA`` prefixes this screen's actions in the command palette."""

    HELP_KEYS: tuple[tuple[str, str], ...] = ()
    PALETTE_AREA = "screen"
    POSITION = ""

    def deliver_csv(self, stem: str, header: Sequence[str], rows: Iterable[Sequence[Any]],
                    *, count: int) -> None:
        text = csv_text(header, rows)
        self.app.deliver_csv(text, export_filename(stem), count=count)

    def palette_bindings(self) -> list[Binding]:
        out = []
        seen = set()
        for b in self.BINDINGS:
            if isinstance(b, Binding) and b.description and b.action not in seen:
                seen.add(b.action)
                out.append(b)
        return out


def _cell_len(value: Any) -> int:
    if isinstance(value, Text):
        return max((len(line) for line in value.plain.splitlines()), default=0)
    return len(str(value))


class TableBuilder:
    """Collects columns and rows, then fills a DataTable with explicit column widths computed
    from the cells (deterministic; no reliance on the table's idle-time auto-width)."""

    def __init__(self) -> None:
        self.columns: list[tuple[Text, str | None]] = []
        self.rows: list[tuple[tuple[Any, ...], str | None]] = []

    def add_column(self, label: Text, key: str | None = None) -> None:
        self.columns.append((label, key))

    def add_row(self, *cells: Any, key: str | None = None) -> None:
        self.rows.append((cells, key))

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def apply(self, table: DataTable, *, max_width: int = 80) -> None:
        table.clear(columns=True)
        for i, (label, key) in enumerate(self.columns):
            width = max([_cell_len(label), *(_cell_len(cells[i]) for cells, _ in self.rows)])
            table.add_column(label, key=key, width=max(1, min(width, max_width)))
        for cells, key in self.rows:
            table.add_row(*cells, key=key)
