"""The test report (*Post Inventory Cost to G/L - Test*): the G/L lines a posting run would
create and every problem it would meet (skip or dimension override), with the stable reason code
and the reason. Computed in a thread worker with its own read-only connection; writes nothing.
"""

from __future__ import annotations

import itertools
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from invrecon.filters import LedgerFilter
from invrecon.money import format_cents, format_cents_grouped
from invrecon.tui.base import TABLE_KEYS, InvreconScreen, TableBuilder
from invrecon.tui.engines import EngineMissing, connect, engine

SHOW_ROWS = 2_000  # the built-in DataTable stays responsive up to a few thousand rows


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _cents(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class TestReportScreen(InvreconScreen):
    __test__ = False  # not a pytest class

    BINDINGS = [
        Binding("escape", "back", "Back", id="back", tooltip="Back to the matrix"),
        Binding("left", "back", "Back", show=False),
        Binding("e", "export", "Export CSV", id="export",
                tooltip="Export the table in focus (problems or lines) to CSV"),
    ]
    HELP_KEYS = (("Tab", "switch between the problems and the lines"), *TABLE_KEYS)
    PALETTE_AREA = "test report"
    POSITION = "Matrix › Test report"

    def __init__(self, filters: LedgerFilter) -> None:
        super().__init__(id="test-report")
        self.filters = filters
        self.report: Any = None
        self.loaded = False
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Static(Text("Post Inventory Cost to G/L - Test", style="bold"), id="crumbs")
        yield Static(Text("Running the test…"), id="drill-status")
        yield Static(Text("Problems (a real run would skip these entries or override "
                          "dimensions)"), classes="section")
        yield DataTable(id="problems", cursor_type="row", zebra_stripes=True)
        yield Static(Text("G/L lines a run would create"), classes="section")
        yield DataTable(id="lines", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#problems", DataTable).focus()
        self._run()

    @work(thread=True, exclusive=True, group="test-report", exit_on_error=False)
    def _run(self) -> None:
        try:
            posting = engine("posting")
            request = posting.PostingRequest(mode="per-entry", preview=True,
                                             filters=self.filters)
            with connect(self.app.db_path, readonly=True) as db:
                report = posting.test_posting(db, request)
        except EngineMissing as exc:
            self.app.call_from_thread(self._failed, str(exc))
            return
        except Exception as exc:
            self.app.call_from_thread(self._failed, f"{type(exc).__name__}: {exc}")
            return
        self.app.call_from_thread(self._show, report)

    def _failed(self, message: str) -> None:
        self.error = message
        self.loaded = True
        self.query_one("#drill-status", Static).update(Text(message))

    @property
    def problems(self) -> list[Any]:
        problems = self.report.problems
        return list(problems() if callable(problems) else problems)

    def problem_rows(self, limit: int | None = None) -> list[list[Any]]:
        return [[_get(p, "value_entry_no"), _get(p, "kind"), _get(p, "reason_code"),
                 _get(p, "reason")] for p in itertools.islice(self.problems, limit)]

    def line_rows(self, limit: int | None = None) -> list[list[Any]]:
        rows = []
        for ln in itertools.islice(self.report.lines, limit):
            nos = _get(ln, "value_entry_nos") or []
            kind = _get(ln, "account_type")
            rows.append([_get(ln, "posting_date"), _get(ln, "gl_account_no"),
                         getattr(kind, "key", kind), _cents(_get(ln, "amount")),
                         _get(ln, "document_no"), _get(ln, "description"), len(nos)])
        return rows

    PROBLEM_HEADER = ["Value Entry No.", "Kind", "Reason Code", "Reason"]
    LINE_HEADER = ["Posting Date", "G/L Account No.", "Account Type", "Amount", "Document No.",
                   "Description", "Value Entries"]

    def _show(self, report: Any) -> None:
        self.report = report
        self.loaded = True
        problems = TableBuilder()
        for h in self.PROBLEM_HEADER:
            problems.add_column(Text(h))
        for row in self.problem_rows(SHOW_ROWS):
            problems.add_row(*(Text("" if v is None else str(v)) for v in row))
        problems.apply(self.query_one("#problems", DataTable))
        lines = TableBuilder()
        for h in self.LINE_HEADER:
            lines.add_column(Text(h, justify="right" if h in ("Amount", "Value Entries")
                                  else "left"))
        for row in self.line_rows(SHOW_ROWS):
            cells = []
            for h, v in zip(self.LINE_HEADER, row, strict=True):
                if h == "Amount":
                    cells.append(Text(format_cents_grouped(v) if v is not None else "",
                                      justify="right"))
                elif h == "Value Entries":
                    cells.append(Text(f"{v:,}", justify="right"))
                else:
                    cells.append(Text("" if v is None else str(v)))
            lines.add_row(*cells)
        lines.apply(self.query_one("#lines", DataTable))
        skips = sum(1 for p in self.problems if _get(p, "kind") == "skip")
        overrides = len(self.problems) - skips
        shown = ""
        if len(report.lines) > SHOW_ROWS or len(self.problems) > SHOW_ROWS:
            shown = f" Showing the first {SHOW_ROWS:,} of each; e exports them all."
        self.query_one("#drill-status", Static).update(Text(
            f"{len(report.lines):,} G/L lines; {skips:,} entries would be skipped, "
            f"{overrides:,} dimension overrides. Nothing was written.{shown}"))

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_export(self) -> None:
        if self.report is None:
            return
        focused = self.focused
        if isinstance(focused, DataTable) and focused.id == "lines":
            rows = [[format_cents(v) if h == "Amount" and v is not None else v
                     for h, v in zip(self.LINE_HEADER, r, strict=True)]
                    for r in self.line_rows()]
            self.deliver_csv("test-lines", self.LINE_HEADER, rows, count=len(rows))
        else:
            rows = self.problem_rows()
            self.deliver_csv("test-problems", self.PROBLEM_HEADER, rows, count=len(rows))
