"""Confirm dialogs: the posting run (preview totals, entries, expected skips, mode, document no.)
and a plain yes/no dialog (adjust cost).

The preview is computed in a thread worker with its own read-only connection (a preview run of
the posting engine writes nothing) and can be cancelled: closing the dialog sets its event.
"""

from __future__ import annotations

import threading
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from invrecon.filters import LedgerFilter
from invrecon.money import format_cents_grouped
from invrecon.tui.engines import connect, engine

PER_ENTRY = "per-entry"
PER_GROUP = "per-posting-group"


def _amount(value: Any) -> str:
    if isinstance(value, int):
        return format_cents_grouped(value)
    return str(value)


class PreviewReady:
    def __init__(self, queued: int, report: Any) -> None:
        self.queued = queued
        self.report = report


class ConfirmPostingScreen(ModalScreen[Any]):
    """Returns a PostingRequest to run, or None when cancelled."""

    BINDINGS = [
        Binding("enter", "confirm", "Post", priority=True, id="confirm-post",
                tooltip="Start the posting run"),
        Binding("y", "confirm", "Post", show=False),
        Binding("escape", "cancel", "Cancel", id="cancel-post", tooltip="Close; nothing posted"),
        Binding("n", "cancel", "Cancel", show=False),
        Binding("m", "toggle_mode", "Per entry / per posting group", id="posting-mode",
                tooltip="Switch between posting per entry and per posting group"),
    ]
    HELP_KEYS = (("Space", "choose the posting mode under the cursor"),
                 ("Tab", "move to the document no."))
    PALETTE_AREA = "posting"

    def __init__(self, filters: LedgerFilter) -> None:
        super().__init__(id="confirm-posting")
        self.filters = filters
        self.preview: PreviewReady | None = None
        self.preview_error: str | None = None
        self._cancel_preview = threading.Event()

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog"):
            yield Static(Text("Post Inventory Cost to G/L", style="bold"), id="confirm-title")
            yield Static(Text(f"Filters: {self.filters.describe()}"), id="confirm-filters")
            yield Static(Text("Computing the preview…"), id="confirm-preview")
            with RadioSet(id="posting-mode"):
                yield RadioButton("Post per entry", value=True, id="mode-per-entry")
                yield RadioButton("Post per posting group", id="mode-per-group")
            with Horizontal(id="document-row"):
                yield Label("Document No.")
                yield Input(placeholder="required per posting group", id="document-no")
            yield Static(id="confirm-error")
            with Horizontal(id="confirm-buttons"):
                yield Button("Post (Enter / y)", variant="primary", id="confirm")
                yield Button("Cancel (Esc / n)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#confirm-dialog").border_title = "Posting run"
        self.query_one(RadioSet).focus()
        self._preview_worker(self._cancel_preview)

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False)
    def _preview_worker(self, cancel: threading.Event) -> None:
        posting = engine("posting")
        try:
            request = posting.PostingRequest(mode=PER_ENTRY, preview=True, filters=self.filters)
            with connect(self.app.db_path, readonly=True) as db:
                queued = posting.count_queue(db, request)
                report = posting.post_inventory_cost(db, request, cancel=cancel)
        except posting.PostingCancelled:
            return
        except Exception as exc:
            if not cancel.is_set():
                self.app.call_from_thread(self._preview_failed, str(exc))
            return
        if not cancel.is_set():
            self.app.call_from_thread(self._preview_done, PreviewReady(queued, report))

    def _preview_failed(self, message: str) -> None:
        self.preview_error = message
        self.query_one("#confirm-preview", Static).update(
            Text(f"The preview failed: {message}"))

    def _preview_done(self, preview: PreviewReady) -> None:
        self.preview = preview
        report = preview.report
        skipped = len(report.skipped)
        grid = Table.grid(padding=(0, 2))
        grid.add_column()
        grid.add_column(justify="right")
        grid.add_row(Text("Entries waiting to post"), Text(f"{preview.queued:,}", style="bold"))
        grid.add_row(Text("Entries that will be posted"),
                     Text(f"{report.posted_value_entries:,}", style="bold"))
        grid.add_row(Text("Expected skips"), Text(f"{skipped:,}", style="bold"))
        grid.add_row(Text("G/L entries (per entry)"), Text(f"{report.gl_entries_created:,}"))
        totals = getattr(report, "totals_by_account_type", None) or {}
        shown = [(k, v) for k, v in totals.items() if v not in (0, "0.00", None)]
        if shown:
            grid.add_row(Text("Preview totals by account type", style="bold"), Text(""))
            for key, value in shown:
                grid.add_row(Text("  " + key.replace("_", " ")), Text(_amount(value)))
        if skipped:
            codes: dict[str, int] = {}
            for s in report.skipped:
                codes[s.reason_code] = codes.get(s.reason_code, 0) + 1
            grid.add_row(Text("Skips by reason", style="bold"), Text(""))
            for code, n in sorted(codes.items()):
                grid.add_row(Text("  " + code), Text(f"{n:,}"))
        self.query_one("#confirm-preview", Static).update(grid)

    # -- choices ---------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return PER_GROUP if self.query_one("#mode-per-group", RadioButton).value else PER_ENTRY

    def action_toggle_mode(self) -> None:
        target = "#mode-per-entry" if self.mode == PER_GROUP else "#mode-per-group"
        self.query_one(target, RadioButton).value = True

    @on(RadioSet.Changed)
    def _mode_changed(self, event: RadioSet.Changed) -> None:
        self.query_one("#confirm-error", Static).update("")
        if self.mode == PER_GROUP and not self.query_one("#document-no", Input).value.strip():
            self.query_one("#document-no", Input).focus()

    @on(Button.Pressed, "#confirm")
    def _confirm_pressed(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def action_confirm(self) -> None:
        doc = self.query_one("#document-no", Input).value.strip() or None
        error = self.query_one("#confirm-error", Static)
        if self.mode == PER_GROUP and not doc:
            error.update(Text("A document no. is required to post per posting group."))
            error.add_class("-error")
            self.query_one("#document-no", Input).focus()
            self.app.bell()
            return
        if self.mode == PER_ENTRY and doc:
            error.update(Text("A document no. is only used per posting group; clear it or "
                              "switch the mode (m)."))
            error.add_class("-error")
            self.app.bell()
            return
        posting = engine("posting")
        try:
            request = posting.PostingRequest(mode=self.mode, document_no=doc, preview=False,
                                             filters=self.filters)
        except ValueError as exc:
            errors = getattr(exc, "errors", None)
            message = errors()[0]["msg"] if callable(errors) else str(exc)
            error.update(Text(message.removeprefix("Value error, ")))
            error.add_class("-error")
            self.app.bell()
            return
        self._cancel_preview.set()
        self.dismiss(request)

    def action_cancel(self) -> None:
        self._cancel_preview.set()
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """Yes/no: Enter or y confirms, Esc or n cancels."""

    BINDINGS = [
        Binding("enter", "yes", "Yes", priority=True),
        Binding("y", "yes", "Yes", show=False),
        Binding("escape", "no", "No"),
        Binding("n", "no", "No", show=False),
    ]
    PALETTE_AREA = "confirm"

    def __init__(self, title: str, message: str) -> None:
        super().__init__(classes="confirm")
        self.title_text = title
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog"):
            yield Static(Text(self.title_text, style="bold"))
            yield Static(Text(self.message))
            with Horizontal(id="confirm-buttons"):
                yield Button("Yes (Enter / y)", variant="primary", id="yes")
                yield Button("No (Esc / n)", id="no")

    @on(Button.Pressed, "#yes")
    def action_yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#no")
    def action_no(self) -> None:
        self.dismiss(False)
