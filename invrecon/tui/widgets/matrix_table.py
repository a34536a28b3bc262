"""The reconciliation matrix: a built-in DataTable with a cell cursor and a fixed Name column.

Amounts are right-aligned with thousands separators; zero and blank-by-design cells are empty;
the Total / G/L Total / Difference rows and columns are bold; a non-zero difference takes the
theme's error colour (component class ``matrix--difference``, styled in app.tcss with theme
variables only). Every string is a ``rich.text.Text`` so item names are never parsed as markup.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from invrecon.money import format_cents_grouped

BOLD_ROWS = frozenset({"total", "gl_total", "difference"})
BOLD_COLUMNS = frozenset({"total", "gl_total", "difference"})
NAME_KEY = "name"
WARNING_KEY = "warning"


def amount_text(cents: int | None, style: Style | str = "") -> Text:
    if not cents:
        return Text("", justify="right")
    return Text(format_cents_grouped(cents), style=style, justify="right")


class MatrixTable(DataTable):
    COMPONENT_CLASSES: ClassVar[set[str]] = DataTable.COMPONENT_CLASSES | {
        "matrix--total",
        "matrix--difference",
        "matrix--warning",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="cell", zebra_stripes=False, **kwargs)
        self.fixed_columns = 1
        self.row_keys: list[str] = []
        self.column_keys: list[str] = []

    def _styles(self) -> tuple[Style, Style, Style]:
        total = self.get_component_rich_style("matrix--total", partial=True)
        diff = self.get_component_rich_style("matrix--difference", partial=True)
        warn = self.get_component_rich_style("matrix--warning", partial=True)
        return total, diff, warn

    def populate(
        self,
        matrix: Any,
        column_keys: list[str],
        column_names: dict[str, str],
        *,
        show_warning: bool,
    ) -> None:
        """(Re)fill the table from a Matrix, keeping the cursor on the same row and column."""
        keep = self.cursor_keys()
        total_style, diff_style, warn_style = self._styles()
        self.clear(columns=True)
        cols = [NAME_KEY, *column_keys] + ([WARNING_KEY] if show_warning else [])
        self.column_keys = cols
        # Build every row first, then size the columns explicitly from the cells (deterministic;
        # no reliance on the table's idle-time measuring).
        rows: list[tuple[str, list[Text]]] = []
        for row in matrix.rows:
            bold_row = row.key in BOLD_ROWS
            cells: list[Text] = [Text(row.name, style=total_style if bold_row else "")]
            for col in column_keys:
                value = row.cells.get(col)
                style = Style()
                if bold_row or col in BOLD_COLUMNS:
                    style += total_style
                if value and (col == "difference" or row.key == "difference"):
                    style += diff_style
                cells.append(amount_text(value, style))
            if show_warning:
                warning = getattr(row, "warning", None)
                cells.append(Text(warning.title, style=warn_style) if warning else Text(""))
            rows.append((row.key, cells))
        labels = [Text("Name")]
        labels += [Text(column_names.get(k, k), justify="right") for k in column_keys]
        if show_warning:
            labels.append(Text("Warning"))
        for i, (key, lab) in enumerate(zip(cols, labels, strict=True)):
            width = max([lab.cell_len, *(cells[i].cell_len for _, cells in rows)])
            self.add_column(lab, key=key, width=width)
        self.row_keys = []
        for key, cells in rows:
            self.add_row(*cells, key=key)
            self.row_keys.append(key)
        self.restore_cursor(keep)

    def cursor_keys(self) -> tuple[str, str] | None:
        """(row key, column key) under the cursor, or None for an empty table."""
        if not self.row_count or not self.columns:
            return None
        try:
            row_key, col_key = self.coordinate_to_cell_key(self.cursor_coordinate)
        except Exception:
            return None
        return str(row_key.value), str(col_key.value)

    def restore_cursor(self, keys: tuple[str, str] | None) -> None:
        if keys is None:
            # Start on the first amount, not on a name.
            if self.row_count and len(self.columns) > 1:
                self.cursor_coordinate = Coordinate(0, 1)
            return
        row_key, col_key = keys
        row = self.row_keys.index(row_key) if row_key in self.row_keys else 0
        if col_key in self.column_keys:
            col = self.column_keys.index(col_key)
        else:
            col = min(self.cursor_coordinate.column, len(self.column_keys) - 1)
        self.cursor_coordinate = Coordinate(row, col)

    def move_to(self, row_key: str, col_key: str) -> None:
        self.restore_cursor((row_key, col_key))
