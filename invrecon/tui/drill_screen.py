"""Drill-down screens: matrix cell -> per-item / per-account sums -> entries (paged from SQL)
-> one entry with its linked G/L entries or value entries.

Enter / → goes deeper, Esc / ← goes back to exactly where you were (each screen keeps its table
and cursor on the screen stack). The breadcrumb at the top shows the position. Every query runs
in a thread worker with its own read-only connection.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Static

from invrecon.errors import InvreconError
from invrecon.filters import LedgerFilter
from invrecon.money import format_cents, format_cents_grouped, format_units
from invrecon.tui.base import TABLE_KEYS, InvreconScreen, TableBuilder
from invrecon.tui.engines import EngineMissing, connect, engine

PAGE_SIZE = 500

MONEY_KEYS = frozenset({
    "amount", "gl_amount", "share", "cost_amount", "cost_amount_actual", "cost_amount_expected", "cost_posted_to_gl",
    "expected_cost_posted_to_gl", "amount_to_post", "unit_cost", "standard_cost",
    "cost_amount_non_invtbl",
})
UNIT_KEYS = frozenset({
    "valued_quantity", "invoiced_quantity", "cost_per_unit", "quantity", "remaining_quantity",
})
LABELS = {
    "no": "No.", "entry_no": "Entry No.", "gl_account_no": "G/L Account No.",
    "item_no": "Item No.", "document_no": "Document No.", "posting_date": "Posting Date",
    "location_code": "Location Code", "gl_entry_no": "G/L Entry No.",
    "value_entry_no": "Value Entry No.", "cost_amount_actual": "Cost Amount (Actual)",
    "cost_amount_expected": "Cost Amount (Expected)", "cost_posted_to_gl": "Cost Posted to G/L",
    "expected_cost_posted_to_gl": "Expected Cost Posted to G/L",
    "item_ledger_entry_type": "Item Ledger Entry Type", "gl_register_no": "G/L Register No.",
    "transaction_no": "Transaction No.", "gen_bus_posting_group": "Gen. Bus. Posting Group",
    "gen_prod_posting_group": "Gen. Prod. Posting Group",
    "inventory_posting_group": "Inventory Posting Group", "dimension_set_id": "Dimension Set ID",
}
KIND_TITLES = {"value_entry": "value entry", "gl_entry": "G/L entry"}
KIND_PLURALS = {"value_entry": "value entries", "gl_entry": "G/L entries"}
FIRST_KEYS = ("entry_no", "posting_date", "amount")


def label(key: str) -> str:
    if key in LABELS:
        return LABELS[key]
    return " ".join(w.capitalize() for w in key.split("_")).replace(" No", " No.")


def is_money(key: str) -> bool:
    return key in MONEY_KEYS


def cell(key: str, value: Any) -> Text:
    """A table cell for an entry field; user text is always Text (never markup)."""
    if value is None:
        return Text("")
    if isinstance(value, bool):
        return Text("Yes" if value else "No")
    if isinstance(value, int) and is_money(key):
        return Text(format_cents_grouped(value), justify="right")
    if isinstance(value, int) and key in UNIT_KEYS:
        return Text(format_units(value), justify="right")
    if isinstance(value, int):
        return Text(str(value), justify="right")
    if isinstance(value, list | tuple):
        return Text(", ".join(str(v) for v in value))
    return Text(str(value))


def csv_value(key: str, value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool) and is_money(key):
        return format_cents(value)
    if isinstance(value, int) and not isinstance(value, bool) and key in UNIT_KEYS:
        return format_units(value)
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    return value


def crumb_text(crumbs: list[str]) -> Text:
    text = Text()
    parts = ["Matrix", *crumbs]
    for i, part in enumerate(parts):
        if i:
            text.append("  ›  ")
        text.append(part, style="bold" if i == len(parts) - 1 else "")
    return text


class DrillTable(DataTable):
    """A row-cursor table where → drills and ← goes back (hledger-ui's keys)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right", "screen.drill", "Drill", show=False),
        Binding("left", "screen.back", "Back", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)


class DrillScreen(InvreconScreen):
    """Common frame: breadcrumb, status line, one table, footer; Esc/← back, e export."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="back", tooltip="Back to where you came from"),
        Binding("e", "export", "Export CSV", id="export",
                tooltip="Export the table in view to CSV"),
    ]
    HELP_KEYS = (
        ("Enter / →", "drill into the line under the cursor"),
        ("← ", "back"),
        *TABLE_KEYS,
    )
    PALETTE_AREA = "drill"

    def __init__(self, crumbs: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.crumbs = crumbs
        self.loaded = False
        self.error: str | None = None

    @property
    def POSITION(self) -> str:  # type: ignore[override]
        return " › ".join(["Matrix", *self.crumbs])

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Static(crumb_text(self.crumbs), id="crumbs")
        yield Static(Text("Loading…"), id="drill-status")
        yield DrillTable(id="drill-table")
        yield Footer()

    def on_mount(self) -> None:
        self.table.focus()
        self.load()

    @property
    def table(self) -> DrillTable:
        return self.query_one("#drill-table", DrillTable)

    def set_status(self, text: str | Text) -> None:
        self.query_one("#drill-status", Static).update(
            text if isinstance(text, Text) else Text(text))

    def load(self) -> None:
        self.loaded = False
        self.set_status("Loading…")
        self._load_worker()

    @work(thread=True, exclusive=True, group="drill", exit_on_error=False)
    def _load_worker(self) -> None:
        try:
            with connect(self.app.db_path, readonly=True) as db:
                result = self.fetch(db)
        except EngineMissing as exc:
            self.app.call_from_thread(self._failed, str(exc))
            return
        except InvreconError as exc:
            self.app.call_from_thread(self._failed, str(exc))
            return
        except Exception as exc:
            self.app.call_from_thread(self._failed, f"{type(exc).__name__}: {exc}")
            return
        self.app.call_from_thread(self._loaded, result)

    def _loaded(self, result: Any) -> None:
        self.error = None
        with self.app.batch_update():
            self.show(result)
        self.loaded = True

    def _failed(self, message: str) -> None:
        self.error = message
        self.loaded = True
        self.set_status(message)
        self.notify(message, severity="error", markup=False)

    # subclasses
    def fetch(self, db: Any) -> Any:  # runs in the worker thread
        raise NotImplementedError

    def show(self, result: Any) -> None:
        raise NotImplementedError

    def action_drill(self) -> None:
        if self.table.row_count:
            self.drill(self.table.cursor_row)

    def drill(self, index: int) -> None:
        pass

    @on(DataTable.RowSelected, "#drill-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.drill(event.cursor_row)

    def action_back(self) -> None:
        self.app.pop_screen()


class DrillLinesScreen(DrillScreen):
    """The per-item (value entries) or per-account (G/L entries) sums behind one matrix cell."""

    def __init__(self, row: str, column: str, filters: LedgerFilter, *, crumbs: list[str]) -> None:
        super().__init__(crumbs)
        self.row = row
        self.column = column
        self.filters = filters
        self.lines: list[Any] = []

    def fetch(self, db: Any) -> Any:
        return engine("drilldown").drill_lines(db, self.row, self.column, self.filters)

    def show(self, result: Any) -> None:
        self.lines = list(result.lines)
        self.result = result
        table = TableBuilder()
        table.add_column(Text("Type"), key="type")
        table.add_column(Text("No."), key="no")
        table.add_column(Text("Description"), key="description")
        table.add_column(Text("Amount", justify="right"), key="amount")
        for i, line in enumerate(self.lines):
            kind = "G/L account" if line.type == "gl_account" else "Item"
            table.add_row(Text(kind), Text(line.no or "(blank)"), Text(line.description or ""),
                          Text(format_cents_grouped(line.amount), justify="right"), key=str(i))
        total = getattr(result, "total", sum(line.amount for line in self.lines))
        # The rows below the lines open all entries of the cell; a Difference cell has two sides.
        self.all_rows: list[tuple[str | None, str]] = []
        if "difference" in (self.row, self.column):
            self.all_rows = [("gl", "all G/L entries"), ("item", "all value entries")]
        else:
            self.all_rows = [(None, "all entries")]
        table.add_row(Text("Total", style="bold"), Text(""), Text(self.all_rows[0][1]),
                      Text(format_cents_grouped(total), style="bold", justify="right"),
                      key="total")
        for side, text in self.all_rows[1:]:
            table.add_row(Text(""), Text(""), Text(text), Text(""), key=f"all-{side}")
        table.apply(self.table)
        n = len(self.lines)
        status = Text(f"{n:,} line{'s' if n != 1 else ''}, total ")
        status.append(format_cents_grouped(total), style="bold")
        unattributed = getattr(result, "unattributed_gl", 0)
        if unattributed:
            status.append(f"; G/L not attributable to items: {format_cents_grouped(unattributed)}")
        status.append("   Enter opens the entries")
        self.set_status(status)

    def drill(self, index: int) -> None:
        if not self.loaded or self.error:
            return
        side: str | None = None
        if index >= len(self.lines):
            k = index - len(self.lines)
            if k >= len(self.all_rows):
                return
            side, crumb = self.all_rows[k]
            no = None
            crumb = crumb.replace("all ", "")
        else:
            line = self.lines[index]
            no = line.no
            side = "gl" if line.type == "gl_account" else "item"
            if "difference" not in (self.row, self.column):
                side = None
            kind = "G/L account" if line.type == "gl_account" else "item"
            crumb = f"{kind} {line.no or '(blank)'}"
        self.app.push_screen(EntriesScreen(self.row, self.column, self.filters, no=no, side=side,
                                           crumbs=[*self.crumbs, crumb]))

    def action_export(self) -> None:
        if not self.loaded or self.error:
            return
        rows = [["G/L account" if ln.type == "gl_account" else "Item", ln.no,
                 ln.description, format_cents(ln.amount)] for ln in self.lines]
        self.deliver_csv(f"drill-{self.row}-{self.column}", ["Type", "No.", "Description",
                                                             "Amount"], rows, count=len(rows))


class EntriesScreen(DrillScreen):
    """The entries behind a cell (optionally one item/account or one cause), paged from SQL."""

    BINDINGS = [
        *DrillScreen.BINDINGS,
        Binding("right_square_bracket", "next_page", "Next page", key_display="]",
                id="next-page", tooltip=f"The next {PAGE_SIZE} entries"),
        Binding("left_square_bracket", "previous_page", "Previous page", key_display="[",
                id="previous-page", tooltip=f"The previous {PAGE_SIZE} entries"),
    ]

    def __init__(self, row: str, column: str, filters: LedgerFilter, *, no: str | None = None,
                 cause: str | None = None, side: str | None = None, crumbs: list[str],
                 limit: int = PAGE_SIZE) -> None:
        super().__init__(crumbs)
        self.side = side
        self.row = row
        self.column = column
        self.filters = filters
        self.no = no
        self.cause = cause
        self.limit = limit
        self.page_offset = 0
        self.page: Any = None
        self.keys: list[str] = []

    def fetch(self, db: Any) -> Any:
        return engine("drilldown").drill_entries(
            db, self.row, self.column, self.filters, no=self.no, cause=self.cause,
            side=self.side, limit=self.limit, offset=self.page_offset)

    @property
    def range_label(self) -> str:
        page = self.page
        if page is None:
            return ""
        if not page.rows:
            return f"no rows (of {page.total_count:,})"
        first = page.offset + 1
        last = page.offset + len(page.rows)
        return f"rows {first:,}–{last:,} of {page.total_count:,}"

    def show(self, page: Any) -> None:
        self.page = page
        table = TableBuilder()
        keys = list(page.rows[0].keys()) if page.rows else ["entry_no"]
        self.keys = [k for k in FIRST_KEYS if k in keys] + [k for k in keys
                                                            if k not in FIRST_KEYS]
        for key in self.keys:
            table.add_column(Text(label(key), justify="right" if is_money(key) else "left"),
                             key=key)
        for i, row in enumerate(page.rows):
            table.add_row(*(cell(k, row.get(k)) for k in self.keys), key=str(i))
        table.apply(self.table)
        status = Text()
        status.append(f"{KIND_PLURALS.get(page.kind, page.kind)}: ")
        status.append(self.range_label, style="bold")
        if page.total_count > page.limit:
            status.append("   ] next page, [ previous page")
        status.append("   Enter opens an entry")
        self.set_status(status)

    def action_next_page(self) -> None:
        if self.page is None or not self.loaded:
            return
        if self.page_offset + self.limit >= self.page.total_count:
            self.app.bell()
            return
        self.page_offset += self.limit
        self.load()

    def action_previous_page(self) -> None:
        if self.page is None or not self.loaded:
            return
        if self.page_offset == 0:
            self.app.bell()
            return
        self.page_offset = max(0, self.page_offset - self.limit)
        self.load()

    def drill(self, index: int) -> None:
        if not self.loaded or self.error or self.page is None or index >= len(self.page.rows):
            return
        row = self.page.rows[index]
        entry_no = row.get("entry_no")
        kind = self.page.kind
        self.app.push_screen(EntryDetailScreen(
            kind, entry_no, crumbs=[*self.crumbs, f"{KIND_TITLES.get(kind, kind)} {entry_no}"]))

    def action_export(self) -> None:
        if self.page is None or not self.page.rows:
            return
        rows = [[csv_value(k, r.get(k)) for k in self.keys] for r in self.page.rows]
        self.deliver_csv(f"entries-{self.row}-{self.column}", [label(k) for k in self.keys],
                         rows, count=len(rows))


class EntryDetailScreen(DrillScreen):
    """One entry: its fields, then its linked G/L entries (of a value entry) or value entries
    (of a G/L entry). Enter on a linked entry opens that one."""

    def __init__(self, kind: str, entry_no: int, *, crumbs: list[str]) -> None:
        super().__init__(crumbs)
        self.kind = kind
        self.entry_no = entry_no
        self.detail: dict[str, Any] = {}
        self.linked: list[dict[str, Any]] = []
        self.linked_kind = ""
        self._link_start = 0

    def fetch(self, db: Any) -> Any:
        return engine("drilldown").entry_detail(db, self.kind, self.entry_no)

    def show(self, detail: dict[str, Any]) -> None:
        self.detail = detail
        entry, linked, linked_kind = split_detail(detail, self.kind)
        self.linked = linked
        self.linked_kind = linked_kind
        table = TableBuilder()
        table.add_column(Text("Field"), key="field")
        table.add_column(Text("Value"), key="value")
        for key, value in entry.items():
            table.add_row(Text(label(key)), cell(key, value), key=f"f-{key}")
        self._link_start = table.row_count
        title = KIND_TITLES.get(linked_kind, linked_kind)
        table.add_row(Text(f"Linked {KIND_PLURALS.get(linked_kind, linked_kind)}", style="bold"),
                      Text(f"{len(linked):,}"), key="linked-header")
        for i, link in enumerate(linked):
            amount = link.get("amount", link.get("cost_amount_actual"))
            desc = " ".join(str(link.get(k)) for k in ("posting_date", "gl_account_no",
                                                         "item_no", "document_no")
                            if link.get(k) not in (None, ""))
            value = Text(f"{title} {link.get('entry_no')}  {desc}")
            if isinstance(amount, int):
                value.append(f"  {format_cents_grouped(amount)}")
            table.add_row(Text(""), value, key=f"l-{i}")
        table.apply(self.table)
        status = Text()
        status.append(f"{KIND_TITLES.get(self.kind, self.kind)} {self.entry_no}", style="bold")
        status.append(f" with {len(linked):,} linked "
                      f"{KIND_PLURALS.get(linked_kind, linked_kind)}; Enter on one opens it")
        self.set_status(status)

    def drill(self, index: int) -> None:
        i = index - self._link_start - 1
        if not self.loaded or self.error or i < 0 or i >= len(self.linked):
            return
        no = self.linked[i].get("entry_no")
        kind = self.linked_kind
        self.app.push_screen(EntryDetailScreen(
            kind, no, crumbs=[*self.crumbs, f"{KIND_TITLES.get(kind, kind)} {no}"]))

    def action_export(self) -> None:
        if not self.detail:
            return
        entry, linked, _ = split_detail(self.detail, self.kind)
        rows = [[label(k), csv_value(k, v)] for k, v in entry.items()]
        for link in linked:
            rows.append([f"linked {self.linked_kind} {link.get('entry_no')}",
                         csv_value("amount", link.get("amount"))])
        self.deliver_csv(f"{self.kind}-{self.entry_no}", ["Field", "Value"], rows,
                         count=len(rows))


def split_detail(detail: dict[str, Any], kind: str) -> tuple[dict[str, Any], list[dict], str]:
    """(the entry's fields, the linked entries, their kind) from entry_detail's dict."""
    other = "gl_entry" if kind == "value_entry" else "value_entry"
    entry = detail.get("entry")
    if isinstance(entry, dict):
        fields = entry
    else:
        fields = {k: v for k, v in detail.items() if not isinstance(v, list | dict)}
    linked: list[dict] = []
    for key in ("linked", "gl_entries", "value_entries", "linked_entries"):
        value = detail.get(key)
        if isinstance(value, list):
            linked = value
            if key == "gl_entries":
                other = "gl_entry"
            elif key == "value_entries":
                other = "value_entry"
            break
    other = detail.get("linked_kind", other)
    return fields, linked, other


class PerAccountScreen(DrillScreen):
    """Projected (value entries through the current setup) vs actual G/L per concrete G/L
    account. Enter opens the G/L entries of the account (its first account type's G/L Total)."""

    HEADER = ["G/L Account No.", "Name", "Account Types", "Projected", "Projected Posted",
              "Actual G/L", "Difference"]

    def __init__(self, filters: LedgerFilter) -> None:
        super().__init__(["per G/L account"])
        self.filters = filters
        self.accounts: list[Any] = []

    def fetch(self, db: Any) -> Any:
        return engine("reconciliation").per_account_view(db, self.filters)

    def show(self, accounts: Any) -> None:
        self.accounts = list(accounts)
        table = TableBuilder()
        for i, h in enumerate(self.HEADER):
            table.add_column(Text(h, justify="right" if i >= 3 else "left"), key=str(i))
        for i, a in enumerate(self.accounts):
            diff = Text(format_cents_grouped(a.difference) if a.difference else "",
                        justify="right", style="bold" if a.difference else "")
            table.add_row(Text(a.account_no or "(unresolved)"), Text(a.name),
                          Text(", ".join(a.account_types)),
                          *(Text(format_cents_grouped(v) if v else "", justify="right")
                            for v in (a.projected, a.projected_posted, a.actual)),
                          diff, key=str(i))
        table.apply(self.table)
        off = sum(1 for a in self.accounts if a.difference)
        self.set_status(f"{len(self.accounts):,} G/L accounts, {off:,} with a difference; "
                        "Enter opens the account's G/L entries")

    def drill(self, index: int) -> None:
        if not self.loaded or self.error or index >= len(self.accounts):
            return
        a = self.accounts[index]
        if not a.account_no or not a.account_types:
            self.app.bell()
            return
        rec = engine("reconciliation")
        row, col = rec.gl_total_cell(a.account_types[0])
        self.app.push_screen(EntriesScreen(row, col, self.filters, no=a.account_no, side="gl",
                                           crumbs=[*self.crumbs, f"G/L account {a.account_no}"]))

    def action_export(self) -> None:
        if not self.loaded or self.error:
            return
        rows = [[a.account_no, a.name, " ".join(a.account_types), format_cents(a.projected),
                 format_cents(a.projected_posted), format_cents(a.actual),
                 format_cents(a.difference)] for a in self.accounts]
        self.deliver_csv("per-account", self.HEADER, rows, count=len(rows))
