"""The main screen: filter pane, reconciliation matrix, explanation panel and log panel.

Slow work never runs on the UI thread:
- the matrix is computed by a thread worker with its own read-only connection; a generation
  counter drops results of superseded computations;
- the posting run is a thread worker with its own connection; progress and skipped entries come
  back as messages in batches (at most ~10 per second); Esc sets the cancel event (the engine
  then rolls back: nothing is posted);
- adjust cost runs in a thread worker too.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Footer, Header, Static

from invrecon.errors import InvreconError
from invrecon.filters import LedgerFilter
from invrecon.ledger import write_transaction
from invrecon.money import format_cents, format_cents_grouped
from invrecon.tui.base import TABLE_KEYS, InvreconScreen
from invrecon.tui.engines import EngineMissing, connect, engine
from invrecon.tui.widgets.explanation import ExplanationPanel
from invrecon.tui.widgets.filter_pane import FilterPane, describe_range
from invrecon.tui.widgets.log_panel import LogPanel
from invrecon.tui.widgets.matrix_table import NAME_KEY, WARNING_KEY, MatrixTable

FLUSH_SECONDS = 0.1  # posting progress/skips reach the UI at most this often
FLUSH_LINES = 500
SKIPS_LISTED = 10_000  # skipped entries listed in the log panel per run (the rest are counted)


def skipped_line(s: Any) -> str:
    """One log line for a skipped value entry (plain text; the Log never parses markup)."""
    bits = [f"SKIPPED value entry {s.value_entry_no}"]
    item = getattr(s, "item_no", None)
    if item:
        bits.append(f"item {item}")
    date = getattr(s, "posting_date", None)
    if date:
        bits.append(str(date))
    amount = getattr(s, "cost_amount", None)
    if isinstance(amount, int):
        bits.append(f"amount {format_cents(amount)}")
    return "  ".join(bits) + f"  [{s.reason_code}] {s.reason}"


def adjust_summary(result: Any) -> str:
    entries = getattr(result, "entries", [])  # may be millions, spilled: read, never copied
    items = list(getattr(result, "items_adjusted", []))
    pending = list(getattr(result, "still_pending", []))
    total = sum(e.cost_amount_actual + e.cost_amount_expected for e in entries)
    text = (f"{len(entries):,} adjustment value entries for {len(items):,} items "
            f"(net {format_cents_grouped(total)}); they wait in the posting queue (p posts them)")
    if pending:
        text += f"; {len(pending):,} items still pending: {', '.join(pending[:5])}"
    return text + "."


class PostingProgressed(Message):
    def __init__(self, lines: list[str], processed: int, total: int, posted: int,
                 skipped: int) -> None:
        super().__init__()
        self.lines = lines
        self.processed = processed
        self.total = total
        self.posted = posted
        self.skipped = skipped


class PostingFinished(Message):
    def __init__(self, report: Any = None, *, cancelled: bool = False, error: str | None = None,
                 late_lines: list[str] | None = None) -> None:
        super().__init__()
        self.report = report
        self.cancelled = cancelled
        self.error = error
        self.late_lines = late_lines or []


class AdjustFinished(Message):
    def __init__(self, summary: str | None, error: str | None = None) -> None:
        super().__init__()
        self.summary = summary
        self.error = error


class MatrixScreen(InvreconScreen):
    PALETTE_AREA = "matrix"
    POSITION = "Matrix"
    BINDINGS = [
        Binding("slash", "focus_filters", "Filters", key_display="/", id="focus-filters",
                tooltip="Focus the filter pane (Enter applies, Esc leaves)"),
        Binding("w", "toggle_warning", "Show Warning", id="toggle-warning",
                tooltip="Toggle the Warning column and the explanations"),
        Binding("p", "post", "Post", id="post",
                tooltip="Post inventory cost to G/L: preview, confirm, run in the background"),
        Binding("escape", "cancel_posting", "Cancel posting", id="cancel-posting",
                tooltip="Cancel the posting run in progress (nothing is posted)"),
        Binding("t", "test_report", "Test report", id="test-report",
                tooltip="What a posting run would post and skip, with the reasons"),
        Binding("a", "adjust_cost", "Adjust cost", id="adjust-cost",
                tooltip="Adjust Cost - Item Entries, then recompute"),
        Binding("e", "export", "Export CSV", id="export",
                tooltip="Export the matrix to CSV (all columns, two-decimal amounts)"),
        Binding("ctrl+r", "recompute", "Recompute", id="recompute",
                tooltip="Recompute the matrix from the ledger"),
        Binding("v", "per_account", "Per account", id="per-account", show=False,
                tooltip="Per-account view: projected vs actual G/L per G/L account"),
    ]
    HELP_KEYS = (
        ("Enter", "drill into the amount under the cursor (or open the cause in the list)"),
        ("Tab", "move to the explanation panel's causes"),
        *TABLE_KEYS,
    )

    posting = reactive(False, bindings=True)
    adjusting = reactive(False, bindings=True)
    computing = reactive(False)
    explaining = reactive(False)

    def __init__(self) -> None:
        super().__init__(id="matrix-screen")
        self.filters = LedgerFilter()
        self.shown_filters = self.filters
        self.show_warning = False
        self.matrix: Any = None
        self.matrix_error: str | None = None
        self._generation = 0
        self._cancel = threading.Event()
        self.last_report: Any = None
        self.compute_count = 0

    # -- layout ----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield FilterPane(id="filters")
        with Vertical(id="matrix-pane"):
            yield Static(id="matrix-status")
            yield MatrixTable(id="matrix")
        with Horizontal(id="bottom"):
            yield ExplanationPanel(id="explanation")
            yield LogPanel(id="log-panel")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#matrix-pane").border_title = "Inventory - G/L Reconciliation"
        self.query_one(MatrixTable).focus()
        self.recompute()

    @property
    def table(self) -> MatrixTable:
        return self.query_one(MatrixTable)

    @property
    def log_panel(self) -> LogPanel:
        return self.query_one(LogPanel)

    @property
    def explanation(self) -> ExplanationPanel:
        return self.query_one(ExplanationPanel)

    # -- bindings state --------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_posting":
            return True if self.posting else False
        if action in ("post", "adjust_cost"):
            if self.app.read_only or self.posting or self.adjusting:
                return None  # shown dimmed, does nothing
        return True

    # -- matrix computation ----------------------------------------------------------------------
    def recompute(self) -> None:
        self._generation += 1
        self.computing = True
        self.explaining = False
        self._set_status()
        self._compute(self._generation, self.filters, self.show_warning)

    @work(thread=True, group="matrix", exit_on_error=False, description="compute the matrix")
    def _compute(self, generation: int, filters: LedgerFilter, show_warning: bool) -> None:
        """Two passes: the amounts alone (fast: a few aggregate queries) are painted first, then
        the explanations and warnings (slower on big ledgers) replace them when ready."""
        try:
            rec = engine("reconciliation")
            with connect(self.app.db_path, readonly=True) as db:
                numbers = rec.compute_matrix(db, filters, show_warning=False, explain=False)
                differences = any(numbers.amount(*rec.difference_cell(t))
                                  for t in rec.ACCOUNT_TYPES)
                full = differences or show_warning
                self.app.call_from_thread(self._computed, generation, numbers, filters,
                                          show_warning, not full)
                if not full or generation != self._generation:
                    return
                matrix = rec.compute_matrix(db, filters, show_warning=show_warning)
        except EngineMissing:
            self.app.call_from_thread(
                self._compute_failed, generation,
                "The reconciliation engine is not available in this installation.")
            return
        except InvreconError as exc:
            self.app.call_from_thread(self._compute_failed, generation, str(exc))
            return
        except Exception as exc:  # shown, never a crash of the app
            self.app.call_from_thread(self._compute_failed, generation,
                                      f"{type(exc).__name__}: {exc}")
            return
        self.app.call_from_thread(self._computed, generation, matrix, filters, show_warning, True)

    def _computed(self, generation: int, matrix: Any, filters: LedgerFilter,
                  show_warning: bool, final: bool) -> None:
        if generation != self._generation:
            return
        rec = engine("reconciliation")
        self.matrix = matrix
        self.matrix_error = None
        self.shown_filters = filters
        self.shown_warning = show_warning
        with self.app.batch_update():
            self.table.populate(matrix, list(rec.COLUMN_KEYS), dict(rec.COLUMN_NAMES),
                                show_warning=show_warning)
        self.computing = False
        self.explaining = not final
        if final:
            self.compute_count += 1
        self._set_status()
        self._update_explanation()

    def _compute_failed(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        self.computing = False
        self.explaining = False
        self.matrix_error = message
        self._set_status()
        self.notify(message, title="Matrix", severity="error", markup=False)

    def _set_status(self) -> None:
        status = self.query_one("#matrix-status", Static)
        text = Text()
        if self.computing:
            text.append("Computing… ", style="bold")
        elif self.explaining:
            text.append("Explaining the differences… ", style="bold")
        elif self.matrix_error:
            text.append(self.matrix_error)
            status.update(text)
            return
        f = self.filters
        text.append(f"Dates: {describe_range(f)}")
        if f.item:
            text.append(f"  Item: {f.item}")
        if f.location:
            text.append(f"  Location: {f.location}")
        text.append("  Show Warning: " + ("on" if self.show_warning else "off"))
        if self.app.read_only:
            text.append("  (read-only)")
        status.update(text)
        self.query_one("#matrix-pane").set_class(self.computing, "-computing")

    # -- cursor and explanation ------------------------------------------------------------------
    def _row(self, key: str) -> Any:
        if self.matrix is None:
            return None
        for row in self.matrix.rows:
            if row.key == key:
                return row
        return None

    @on(DataTable.CellHighlighted, "#matrix")
    def _highlighted(self, event: DataTable.CellHighlighted) -> None:
        self._update_explanation()

    def _update_explanation(self) -> None:
        keys = self.table.cursor_keys()
        if keys is None or self.matrix is None:
            self.explanation.clear("")
            return
        row = self._row(keys[0])
        if row is None:
            return
        rec = engine("reconciliation")
        names = {NAME_KEY: "Name", WARNING_KEY: "Warning", **dict(rec.COLUMN_NAMES)}
        row_key, col_key = keys
        account_type = (rec.cell_account_type(row_key, col_key)
                        if col_key not in (NAME_KEY, WARNING_KEY) else None)
        if account_type is None and col_key in (NAME_KEY, WARNING_KEY):
            account_type = rec.cell_account_type(row_key, "difference")
        diff_cell = gl_cell = None
        causes: list[Any] = []
        total = None
        diff_name = ""
        if account_type is not None:
            diff_cell = rec.difference_cell(account_type)
            gl_cell = rec.gl_total_cell(account_type)
            total_cell = (("total", account_type) if account_type in rec.INVENTORY_TYPES
                          else (account_type, "total"))
            total = self.matrix.amount(*total_cell)
            causes = self.matrix.causes(*diff_cell)
            diff_name = f"Difference of {rec.TYPE_NAMES.get(account_type, account_type)}"
        amount = (self.matrix.amount(row_key, col_key)
                  if col_key not in (NAME_KEY, WARNING_KEY) else None)
        if self.explaining and (diff_cell and self.matrix.amount(*diff_cell)):
            causes = []
        self.explanation.show_cell(
            row, col_key, names.get(col_key, col_key), amount=amount, diff_cell=diff_cell,
            diff_name=diff_name,
            diff=self.matrix.amount(*diff_cell) if diff_cell else None,
            gl_total=self.matrix.amount(*gl_cell) if gl_cell else None,
            total=total, causes=causes, show_warning=self.show_warning,
            explaining=self.explaining)

    # -- drill-down ------------------------------------------------------------------------------
    @on(DataTable.CellSelected, "#matrix")
    def _selected(self, event: DataTable.CellSelected) -> None:
        event.stop()
        keys = self.table.cursor_keys()
        if keys is None or self.matrix is None:
            return
        row_key, col_key = keys
        if col_key == NAME_KEY:
            self.notify("Move to an amount to drill into it.", timeout=3, markup=False)
            return
        if col_key == WARNING_KEY:
            if self.explanation.causes:
                self.query_one("#causes").focus()
            return
        self.drill(row_key, col_key)

    def drill(self, row_key: str, col_key: str) -> None:
        from invrecon.tui.drill_screen import DrillLinesScreen

        row = self._row(row_key)
        rec = engine("reconciliation")
        col_name = dict(rec.COLUMN_NAMES).get(col_key, col_key)
        self.app.push_screen(DrillLinesScreen(row_key, col_key, self.shown_filters,
                                              crumbs=[f"{row.name} / {col_name}"]))

    @on(ExplanationPanel.CauseChosen)
    def _cause_chosen(self, event: ExplanationPanel.CauseChosen) -> None:
        from invrecon.tui.drill_screen import EntriesScreen

        rec = engine("reconciliation")
        row = self._row(event.row_key)
        cause = event.cause
        col_name = dict(rec.COLUMN_NAMES).get(event.column_key, event.column_key)
        self.app.push_screen(EntriesScreen(
            event.row_key, event.column_key, self.shown_filters, cause=cause.cause,
            crumbs=[f"{row.name} / {col_name}", f"cause: {cause.title}"]))

    def action_per_account(self) -> None:
        from invrecon.tui.drill_screen import PerAccountScreen

        self.app.push_screen(PerAccountScreen(self.filters))

    # -- filters ---------------------------------------------------------------------------------
    def action_focus_filters(self) -> None:
        self.query_one(FilterPane).focus_first()

    @on(FilterPane.Applied)
    def _filters_applied(self, event: FilterPane.Applied) -> None:
        self.filters = event.filters
        self.table.focus()
        self.recompute()

    @on(FilterPane.Left)
    def _filters_left(self) -> None:
        self.table.focus()

    @on(FilterPane.ShowWarningChanged)
    def _warning_changed(self, event: FilterPane.ShowWarningChanged) -> None:
        self.show_warning = event.value
        self.recompute()

    def action_toggle_warning(self) -> None:
        self.query_one(FilterPane).toggle_warning()

    def action_recompute(self) -> None:
        self.recompute()

    # -- export ----------------------------------------------------------------------------------
    def action_export(self) -> None:
        if self.matrix is None:
            self.notify("Nothing to export yet.", severity="warning", markup=False)
            return
        rec = engine("reconciliation")
        cols = list(rec.COLUMN_KEYS)
        names = dict(rec.COLUMN_NAMES)
        header = ["Name", *(names[c] for c in cols), "Warning"]
        rows = []
        for row in self.matrix.rows:
            cells = [row.name]
            for c in cols:
                v = row.cells.get(c)
                cells.append(format_cents(v) if v is not None else "")
            warning = getattr(row, "warning", None)
            cells.append(warning.title if warning else "")
            rows.append(cells)
        self.deliver_csv("matrix", header, rows, count=len(rows))

    # -- posting run -----------------------------------------------------------------------------
    def action_post(self) -> None:
        from invrecon.tui.confirm_posting import ConfirmPostingScreen

        try:
            engine("posting")
        except EngineMissing as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        self.app.push_screen(ConfirmPostingScreen(self.filters), self._posting_confirmed)

    def _posting_confirmed(self, request: Any) -> None:
        if request is None:
            self.log_panel.write_lines(["Posting run not started (cancelled at the dialog)."])
            return
        self.start_posting(request)

    def start_posting(self, request: Any) -> None:
        self.posting = True
        self._cancel = threading.Event()
        self._streamed_skips = 0
        panel = self.log_panel
        panel.write_lines([f"Posting run started ({request.mode}"
                           + (f", document no. {request.document_no}" if request.document_no
                              else "") + f"; {self.filters.describe()})."])
        panel.set_status("Posting… press Esc to cancel (nothing is posted when cancelled).")
        panel.start_progress(0)
        self._post_worker(request, self._cancel)

    @work(thread=True, group="posting", exit_on_error=False, description="post inventory cost")
    def _post_worker(self, request: Any, cancel: threading.Event) -> None:
        buffer: list[str] = []
        state = {"last": 0.0, "processed": 0, "total": 0, "posted": 0, "skipped": 0,
                 "listed": 0}

        def flush() -> None:
            self.post_message(PostingProgressed(list(buffer), state["processed"], state["total"],
                                                state["posted"], state["skipped"]))
            buffer.clear()
            state["last"] = time.monotonic()

        def on_progress(p: Any) -> None:
            state.update(processed=p.processed, total=p.total, posted=p.posted,
                         skipped=p.skipped_so_far)
            room = SKIPS_LISTED - state["listed"]
            if room > 0 and p.new_skipped:
                listed = p.new_skipped[:room]
                buffer.extend(skipped_line(s) for s in listed)
                state["listed"] += len(listed)
            if (time.monotonic() - state["last"] >= FLUSH_SECONDS or len(buffer) >= FLUSH_LINES
                    or p.processed >= p.total):
                flush()

        try:
            posting = engine("posting")
            with connect(self.app.db_path, readonly=False) as db:
                try:
                    report = posting.post_inventory_cost(db, request, on_progress=on_progress,
                                                         cancel=cancel)
                except posting.PostingCancelled:
                    flush()
                    self.post_message(PostingFinished(cancelled=True))
                    return
        except InvreconError as exc:
            flush()
            self.post_message(PostingFinished(error=str(exc)))
            return
        except Exception as exc:
            flush()
            self.post_message(PostingFinished(error=f"{type(exc).__name__}: {exc}"))
            return
        flush()
        self.post_message(PostingFinished(report))

    @on(PostingProgressed)
    def _posting_progressed(self, msg: PostingProgressed) -> None:
        panel = self.log_panel
        panel.write_lines(msg.lines)
        self._streamed_skips += len(msg.lines)
        panel.progress(msg.processed, msg.total)
        panel.set_status(
            f"Posting… {msg.processed:,} of {msg.total:,} entries processed, "
            f"{msg.posted:,} posted, {msg.skipped:,} skipped. Esc cancels (nothing is posted).")

    @on(PostingFinished)
    def _posting_finished(self, msg: PostingFinished) -> None:
        self.posting = False
        panel = self.log_panel
        panel.stop_progress()
        if msg.cancelled:
            panel.write_lines(["Posting run cancelled: nothing was posted."])
            panel.set_status("Posting run cancelled: nothing was posted.")
            self.notify("Posting run cancelled: nothing was posted.", title="Posting",
                        severity="warning", markup=False)
            return
        if msg.error:
            panel.write_lines([f"Posting run failed: {msg.error}. Nothing was posted."])
            panel.set_status("Posting run failed; nothing was posted.")
            self.notify(msg.error, title="Posting failed", severity="error", markup=False)
            return
        report = msg.report
        self.last_report = report
        skipped = report.skipped  # a SpillList: never materialised whole
        if skipped and self._streamed_skips == 0:
            panel.write_lines([skipped_line(s) for s in itertools.islice(skipped, SKIPS_LISTED)])
        if len(skipped) > SKIPS_LISTED:
            panel.write_lines([f"… and {len(skipped) - SKIPS_LISTED:,} more skipped entries, not "
                               "listed here (all of them: invrecon post-test, or post --json)."])
        summary = (f"Posted {report.posted_value_entries:,} value entries, "
                   f"{report.gl_entries_created:,} G/L entries"
                   + (f" (G/L register {report.register_no})"
                      if getattr(report, "register_no", None) else "")
                   + f"; {len(skipped):,} skipped.")
        lines = [summary]
        totals = getattr(report, "totals_by_account_type", None) or {}
        for key, cents in totals.items():
            if cents:
                amount = format_cents_grouped(cents) if isinstance(cents, int) else str(cents)
                lines.append(f"  {key}: {amount}")
        panel.write_lines(lines)
        panel.set_status(summary)
        self.notify(summary, title="Posting run finished",
                    severity="warning" if skipped else "information", markup=False)
        self.recompute()

    def action_cancel_posting(self) -> None:
        if self.posting:
            self._cancel.set()
            self.log_panel.set_status("Cancelling the posting run…")

    # -- test report ----------------------------------------------------------------------------
    def action_test_report(self) -> None:
        from invrecon.tui.test_report_screen import TestReportScreen

        self.app.push_screen(TestReportScreen(self.filters))

    # -- adjust cost -----------------------------------------------------------------------------
    def action_adjust_cost(self) -> None:
        from invrecon.tui.confirm_posting import ConfirmScreen

        try:
            engine("cost_adjustment")
        except EngineMissing:
            self.notify("Adjust cost is not available in this installation yet.",
                        severity="warning", markup=False)
            return
        scope = f" for items {self.filters.item}" if self.filters.item else ""
        self.app.push_screen(
            ConfirmScreen("Adjust Cost - Item Entries",
                          f"Adjust item costs{scope}? New adjustment value entries are written "
                          "and wait in the posting queue (post them with p)."),
            self._adjust_confirmed)

    def _adjust_confirmed(self, ok: bool | None) -> None:
        if ok:
            self.adjusting = True
            self.log_panel.write_lines(["Adjust cost started."])
            self._adjust_worker(self.filters.item)

    @work(thread=True, group="adjust", exit_on_error=False, description="adjust cost")
    def _adjust_worker(self, item_filter: str | None) -> None:
        try:
            costing = engine("cost_adjustment")
            with connect(self.app.db_path, readonly=False) as db, write_transaction(db):
                result = costing.adjust_cost(db, item_filter=item_filter, post=False)
        except Exception as exc:
            self.post_message(AdjustFinished(None, error=str(exc)))
            return
        self.post_message(AdjustFinished(adjust_summary(result)))

    @on(AdjustFinished)
    def _adjust_finished(self, msg: AdjustFinished) -> None:
        self.adjusting = False
        if msg.error:
            self.log_panel.write_lines([f"Adjust cost failed: {msg.error}"])
            self.notify(msg.error, title="Adjust cost failed", severity="error", markup=False)
            return
        self.log_panel.write_lines([f"Adjust cost: {msg.summary}"])
        self.notify(msg.summary or "", title="Adjust cost finished", markup=False)
        self.recompute()
