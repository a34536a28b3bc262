"""Item journal CSV (``invrecon journal FILE.csv``, 40-interfaces §3): parsing and validation.

This module only turns text into checked ``JournalLine`` models; ``item_posting`` posts them.
Every problem names ``file:line: column 'X'`` so the user can find it. Checks that need the
ledger (unknown item, missing setup, unknown receipt, ...) are made by ``item_posting``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from invrecon.errors import InputError
from invrecon.money import INT64_MAX, parse_cents, parse_units

ENTRY_TYPES = (
    "Purchase",
    "Sale",
    "Positive Adjmt.",
    "Negative Adjmt.",
    "Transfer",
    "Revaluation",
    "Item Charge",
)

MAX_FIELD_CHARS = 131_072  # a journal cell (the csv module's default limit)

# caption -> field name; the snake_case form of the caption is accepted too.
COLUMNS = {
    "Posting Date": "posting_date",
    "Entry Type": "entry_type",
    "Document No.": "document_no",
    "Item No.": "item_no",
    "Location Code": "location_code",
    "New Location Code": "new_location_code",
    "Quantity": "quantity",
    "Unit Cost": "unit_cost",
    "Amount": "amount",
    "Invoice": "invoice",
    "Invoice Of": "invoice_of",
    "Applies-to Entry": "applies_to_entry",
    "Gen. Bus. Posting Group": "gen_bus_posting_group",
}
REQUIRED = ("Posting Date", "Entry Type", "Item No.")
_BOOL = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False, "": False}


class JournalLine(BaseModel):
    """One checked journal line. Quantities and unit costs in 1/100,000 units, amounts in cents."""

    model_config = ConfigDict(frozen=True)

    source: str  # "file.csv:3" for messages
    line_no: int
    posting_date: dt.date
    entry_type: str
    document_no: str = ""
    item_no: str
    location_code: str = ""
    new_location_code: str = ""
    quantity: int = 0  # always >= 0 (the entry type gives the direction)
    unit_cost: int | None = None
    amount: int | None = None
    invoice: bool = False
    invoice_of: str = ""
    applies_to_entry: int = 0
    gen_bus_posting_group: str = ""

    @property
    def outbound(self) -> bool:
        return self.entry_type in ("Sale", "Negative Adjmt.")

    def error(self, column: str | None, message: str) -> InputError:
        where = f"{self.source}: column '{column}'" if column else self.source
        return InputError(one_line(f"{where}: {message}"))


def one_line(message: str) -> str:
    """Cell values quoted in a message may hold line breaks; the CLI prints one line."""
    return message.replace("\r", "\\r").replace("\n", "\\n")


def _snake(caption: str) -> str:
    return COLUMNS.get(caption, caption)


def _header_map(header: list[str], source: str) -> dict[int, str]:
    by_name = {**{c: c for c in COLUMNS}, **{f: c for c, f in COLUMNS.items()}}
    out: dict[int, str] = {}
    unknown = []
    for i, raw in enumerate(header):
        name = raw.strip().lstrip("\ufeff")
        cap = by_name.get(name) or by_name.get(name.lower())
        if cap is None:
            unknown.append(name)
        elif cap in out.values():
            raise InputError(f"{source}:1: column '{name}' appears twice")
        else:
            out[i] = cap
    if unknown:
        raise InputError(
            f"{source}:1: unknown column(s) {', '.join(repr(u) for u in unknown)}; "
            f"expected {', '.join(COLUMNS)}"
        )
    missing = [c for c in REQUIRED if c not in out.values()]
    if missing:
        raise InputError(f"{source}:1: missing column(s) {', '.join(repr(m) for m in missing)}")
    return out


def _parse_row(values: dict[str, str], source: str, line_no: int) -> JournalLine:
    where = f"{source}:{line_no}"

    def err(col: str, msg: str) -> InputError:
        return InputError(one_line(f"{where}: column '{col}': {msg}"))

    v = {c: (values.get(c) or "").strip() for c in COLUMNS}
    try:
        text = v["Posting Date"]
        if not (len(text) == 10 and text.isascii() and text[4] == text[7] == "-"):
            raise ValueError(text)  # fromisoformat also takes 20250101, 2025-W01-1, ...
        date = dt.date.fromisoformat(text)
    except ValueError:
        raise err("Posting Date", f"'{v['Posting Date']}' is not a YYYY-MM-DD date") from None
    etype = v["Entry Type"]
    match = {t.lower(): t for t in ENTRY_TYPES}.get(etype.lower())
    if match is None:
        raise err("Entry Type", f"'{etype}' is not one of {', '.join(ENTRY_TYPES)}")
    etype = match
    if not v["Item No."]:
        raise err("Item No.", "is blank")
    qty = 0
    if v["Quantity"]:
        try:
            qty = parse_units(v["Quantity"], "quantity")
        except ValueError as exc:
            raise err("Quantity", str(exc)) from None
        if qty <= 0:
            raise err("Quantity", f"{v['Quantity']} must be positive (the Entry Type gives the "
                      "direction)")
    elif etype not in ("Item Charge", "Revaluation"):
        raise err("Quantity", "is blank; a positive quantity is required")
    unit_cost = None
    if v["Unit Cost"]:
        try:
            unit_cost = parse_units(v["Unit Cost"], "unit cost")
        except ValueError as exc:
            raise err("Unit Cost", str(exc)) from None
        if unit_cost < 0:
            raise err("Unit Cost", f"{v['Unit Cost']} is negative")
    amount = None
    if v["Amount"]:
        try:
            amount = parse_cents(v["Amount"], "amount")
        except ValueError as exc:
            raise err("Amount", str(exc)) from None
    inv = v["Invoice"].lower()
    if inv not in _BOOL:
        raise err("Invoice", f"'{v['Invoice']}' is not Yes/No")
    applies = 0
    if v["Applies-to Entry"]:
        text = v["Applies-to Entry"]
        if (not (text.isascii() and text.isdigit()) or len(text) > 19  # int() refuses 4301+
                or not 0 < int(text) <= INT64_MAX):
            raise err("Applies-to Entry", f"'{v['Applies-to Entry']}' is not an entry number")
        applies = int(v["Applies-to Entry"])
    # Per-type requirements that need no ledger.
    if etype in ("Purchase", "Positive Adjmt.") and unit_cost is None and not v["Invoice Of"]:
        raise err("Unit Cost", f"is required on a {etype} line")
    if etype == "Purchase" and v["Invoice Of"] and unit_cost is None:
        raise err("Unit Cost", "is required on a purchase invoice line (the invoiced unit cost)")
    if etype == "Transfer":
        if v["New Location Code"] == v["Location Code"]:
            raise err("New Location Code", "must differ from the Location Code")
    elif v["New Location Code"]:
        raise err("New Location Code", "is only allowed on Transfer lines")
    if etype == "Item Charge":
        if amount is None:
            raise err("Amount", "is required on an Item Charge line")
        if amount == 0:
            raise err("Amount", "must not be zero")
        if not applies:
            raise err("Applies-to Entry", "is required on an Item Charge line (the inbound entry)")
    elif amount is not None:
        raise err("Amount", "is only used on Item Charge lines")
    if etype == "Revaluation" and unit_cost is None:
        raise err("Unit Cost", "is required on a Revaluation line (the new unit cost)")
    if v["Invoice Of"] and etype not in ("Purchase", "Sale"):
        raise err("Invoice Of", "is only used on Purchase and Sale lines")
    return JournalLine(
        source=where,
        line_no=line_no,
        posting_date=date,
        entry_type=etype,
        document_no=v["Document No."],
        item_no=v["Item No."],
        location_code=v["Location Code"],
        new_location_code=v["New Location Code"],
        quantity=qty,
        unit_cost=unit_cost,
        amount=amount,
        invoice=_BOOL[inv] or bool(v["Invoice Of"]),
        invoice_of=v["Invoice Of"],
        applies_to_entry=applies,
        gen_bus_posting_group=v["Gen. Bus. Posting Group"],
    )


def parse_journal_text(text: str, source: str = "journal") -> list[JournalLine]:
    """Parse CSV text. Raises ``InputError`` listing every bad line (the first in the message)."""
    # The csv module's field limit is global and the ledger CSV import raises it: set ours, so
    # that a journal reads the same after an import in the same process.
    csv.field_size_limit(MAX_FIELD_CHARS)
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{source}: the file is empty (a header row is required)") from None
    except csv.Error as exc:  # e.g. a field longer than the csv module's limit
        raise InputError(f"{source}:{reader.line_num}: not readable as CSV ({exc})") from None
    cols = _header_map(header, source)
    lines: list[JournalLine] = []
    problems: list[str] = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise InputError(f"{source}:{reader.line_num}: not readable as CSV ({exc}); "
                             "nothing was posted") from None
        line_no = reader.line_num
        if not any(c.strip() for c in row):
            continue
        if len(row) > len(header):
            problems.append(f"{source}:{line_no}: {len(row)} values for {len(header)} columns")
            continue
        values = {cols[i]: val for i, val in enumerate(row) if i in cols}
        try:
            lines.append(_parse_row(values, source, line_no))
        except InputError as exc:
            problems.append(str(exc))
    if problems:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise InputError(problems[0] + more + "; nothing was posted", problems)
    if not lines:
        raise InputError(f"{source}: no journal lines to post")
    return lines


def read_journal(path: str | Path) -> list[JournalLine]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except UnicodeDecodeError:
        raise InputError(f"{p}: not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"{p}: cannot be read ({exc.strerror})") from None
    return parse_journal_text(text, p.name)
