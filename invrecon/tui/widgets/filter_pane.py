"""The filter pane: date from/to (ISO dates or 2025 / 2025-Q1 / 2025-03), item and location
filters in BC syntax, and the Show Warning switch.

Every field is validated as it is typed; the reason of a bad value is shown under the fields.
Enter applies (only when every field is valid), Esc leaves the pane.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Checkbox, Input, Label, Static

from invrecon.filters import FilterError, LedgerFilter, parse_period, validate_filter

FIELDS = ("date-from", "date-to", "item", "location")


@dataclass(frozen=True)
class FilterText:
    date_from: str = ""
    date_to: str = ""
    item: str = ""
    location: str = ""


def check_field(field: str, value: str) -> str | None:
    """The reason ``value`` is not valid for ``field``, or None."""
    value = value.strip()
    if not value:
        return None
    try:
        if field in ("date-from", "date-to"):
            parse_period(value)
        else:
            validate_filter(value)
    except FilterError as exc:
        return str(exc)
    return None


def resolve(text: FilterText) -> LedgerFilter:
    """The LedgerFilter for the pane's text (raises FilterError with the reason)."""
    return LedgerFilter.from_text(
        date_from=text.date_from.strip() or None,
        date_to=text.date_to.strip() or None,
        item=text.item.strip() or None,
        location=text.location.strip() or None,
    )


def describe_range(f: LedgerFilter) -> str:
    if f.date_from and f.date_to:
        return f"{f.date_from.isoformat()} .. {f.date_to.isoformat()}"
    if f.date_from:
        return f"{f.date_from.isoformat()} .. (open)"
    if f.date_to:
        return f"as of {f.date_to.isoformat()}"
    return "all dates"


class FilterPane(Vertical, can_focus=False):
    """Four inputs and a switch; posts :class:`FilterPane.Applied` when Enter is pressed."""

    BINDINGS = [
        Binding("escape", "leave", "Leave filters", tooltip="Back to the matrix", id="leave-filters"),
    ]

    class Applied(Message):
        def __init__(self, filters: LedgerFilter) -> None:
            super().__init__()
            self.filters = filters

    class Left(Message):
        """Esc in the pane: the screen moves focus back to the matrix."""

    class ShowWarningChanged(Message):
        def __init__(self, value: bool) -> None:
            super().__init__()
            self.value = value

    def compose(self) -> ComposeResult:
        with Horizontal(id="filter-fields"):
            yield Label("From")
            yield Input(placeholder="2025-01-01 / 2025 / 2025-Q1", id="date-from", compact=True,
                        tooltip="First posting date (inclusive); ISO date or a period")
            yield Label("To")
            yield Input(placeholder="2025-12-31 / 2025-03", id="date-to", compact=True,
                        tooltip="Last posting date (inclusive); alone = balances as of")
            yield Label("Item")
            yield Input(placeholder="A|B, A..C, A*, <>X, ''", id="item", compact=True,
                        tooltip="Item no. filter in Business Central syntax")
            yield Label("Location")
            yield Input(placeholder="BLUE|RED, ''", id="location", compact=True,
                        tooltip="Location code filter in Business Central syntax")
            yield Checkbox("Show Warning", id="show-warning", compact=True,
                           tooltip="Explain the differences (key w)")
        yield Static(id="filter-status")

    def on_mount(self) -> None:
        self.border_title = "Filters (/)"
        self.applied = LedgerFilter()
        self._show_status()

    # -- state ---------------------------------------------------------------------------------
    @property
    def text(self) -> FilterText:
        values = {f: self.query_one(f"#{f}", Input).value for f in FIELDS}
        return FilterText(values["date-from"], values["date-to"], values["item"],
                          values["location"])

    def set_text(self, text: FilterText) -> None:
        for field, value in zip(FIELDS, (text.date_from, text.date_to, text.item, text.location),
                                strict=True):
            self.query_one(f"#{field}", Input).value = value

    @property
    def show_warning(self) -> bool:
        return self.query_one("#show-warning", Checkbox).value

    def toggle_warning(self) -> None:
        switch = self.query_one("#show-warning", Checkbox)
        switch.value = not switch.value

    def problems(self) -> dict[str, str]:
        out = {}
        for field in FIELDS:
            reason = check_field(field, self.query_one(f"#{field}", Input).value)
            if reason:
                out[field] = reason
        return out

    def _show_status(self) -> None:
        status = self.query_one("#filter-status", Static)
        problems = self.problems()
        for field in FIELDS:
            self.query_one(f"#{field}", Input).set_class(field in problems, "-invalid")
        if problems:
            field, reason = next(iter(problems.items()))
            label = field.replace("-", " ")
            status.update(Text(f"{label}: {reason}"))
            status.set_class(True, "-error")
            return
        try:
            pending = resolve(self.text)
        except FilterError as exc:
            status.update(Text(str(exc)))
            status.set_class(True, "-error")
            return
        status.set_class(False, "-error")
        line = Text()
        line.append("Dates: ")
        line.append(describe_range(pending), style="bold")
        if pending.item:
            line.append("   Item: ")
            line.append(pending.item, style="bold")
        if pending.location:
            line.append("   Location: ")
            line.append(pending.location, style="bold")
        if pending != self.applied:
            line.append("   (Enter applies)")
        status.update(line)

    # -- events ----------------------------------------------------------------------------------
    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        self._show_status()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.apply()

    @on(Checkbox.Changed, "#show-warning")
    def _switched(self, event: Checkbox.Changed) -> None:
        event.stop()
        self.post_message(self.ShowWarningChanged(event.value))

    def apply(self) -> bool:
        """Validate and post Applied; False (and the reason shown) when a field is invalid."""
        self._show_status()
        if self.problems():
            self.app.bell()
            return False
        try:
            filters = resolve(self.text)
        except FilterError:
            self.app.bell()
            return False
        self.applied = filters
        self._show_status()
        self.post_message(self.Applied(filters))
        return True

    def action_leave(self) -> None:
        self.post_message(self.Left())

    def focus_first(self) -> None:
        self.query_one("#date-from", Input).focus()
