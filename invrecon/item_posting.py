"""Item posting (BC's "Item Jnl.-Post Line", simplified): journal lines -> item ledger entries,
value entries and item application entries, with BC's application rules.

- Outbound entries apply to open inbound entries of the same item and location, ordered by
  posting date then entry no. (descending for LIFO); a fixed application (Applies-to Entry)
  takes exactly that entry. What cannot be applied stays open (negative inventory) and is
  closed by later inbound entries of the same item and location.
- Outbound entries are valued at posting time at the item's unit cost (value on hand,
  expected cost included, / quantity on hand); fixed applications and non-average transfers
  take the cost of the inbound entry they are applied to. Cost adjustment corrects the rest.
- Valuation dates follow 30-cost-adjustment §4. Posting marks what must be adjusted (§3.6):
  ``item.cost_is_adjusted = 0`` on every value posting, ``applied_entry_to_adjust = 1`` on an
  inbound entry that has outbound entries applied to it and gets new cost or a new application,
  and, for Average items, an unadjusted ``avg_cost_adjmt_entry_point`` row for the period.

All functions run inside the caller's ``write_transaction``.
"""

from __future__ import annotations

import calendar
import datetime as dt
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from sqlite_utils import Database

from invrecon.errors import InputError, InvreconError, is_int64_overflow
from invrecon.item_journal import JournalLine
from invrecon.money import INT64_MAX, QTY_SCALE

# amount (cents) = quantity (1e-5) x unit cost (1e-5 currency) / AMOUNT_DIV
AMOUNT_DIV = QTY_SCALE * QTY_SCALE // 100


# ----------------------------------------------------------------------------------------------
# Small exact helpers shared with cost_adjustment


def rdiv(num: int, den: int) -> int:
    """num / den rounded half away from zero (BC's Round(x, 1) on a ratio), exact."""
    if den == 0:
        raise ZeroDivisionError("rdiv by zero")
    if den < 0:
        num, den = -num, -den
    q, r = divmod(abs(num), den)
    if 2 * r >= den:
        q += 1
    return q if num >= 0 else -q


def round_frac(x: Fraction) -> int:
    return rdiv(x.numerator, x.denominator)


def amount_of(quantity: int, unit_cost: int) -> int:
    """Cents for a quantity (1e-5) at a unit cost (1e-5), rounded half away from zero."""
    return rdiv(quantity * unit_cost, AMOUNT_DIV)


def unit_cost_of(amount: int, quantity: int) -> int:
    """Cost per unit (1e-5) of an amount (cents) over a quantity (1e-5)."""
    return rdiv(amount * AMOUNT_DIV, quantity) if quantity else 0


def _d(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


def add_months(d: dt.date, months: int) -> dt.date:
    y, m = divmod(d.month - 1 + months, 12)
    y += d.year
    m += 1
    return dt.date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def period_bounds(date: str, period: str, db: Database | None = None) -> tuple[str, str]:
    """(first day, last day) of the average cost period holding ``date``.

    Week starts on Monday. 'Accounting Period' uses the accounting_period table (a period runs
    to the day before the next starting date; without a next row, to the end of the month).
    Periods are not cut at fiscal-year starts (calendar fiscal years assumed).
    """
    d = _d(date)
    if period == "Day":
        a = b = d
    elif period == "Week":
        a = d - dt.timedelta(days=d.weekday())
        b = a + dt.timedelta(days=6)
    elif period == "Month":
        a = d.replace(day=1)
        b = d.replace(day=calendar.monthrange(d.year, d.month)[1])
    elif period == "Quarter":
        m0 = 3 * ((d.month - 1) // 3) + 1
        a = dt.date(d.year, m0, 1)
        b = dt.date(d.year, m0 + 2, calendar.monthrange(d.year, m0 + 2)[1])
    elif period == "Year":
        a, b = dt.date(d.year, 1, 1), dt.date(d.year, 12, 31)
    elif period == "Accounting Period" and db is not None:
        row = db.execute(
            "SELECT max(starting_date) FROM accounting_period WHERE starting_date <= ?", [date]
        ).fetchone()
        nxt = db.execute(
            "SELECT min(starting_date) FROM accounting_period WHERE starting_date > ?", [date]
        ).fetchone()
        a = _d(row[0]) if row and row[0] else d.replace(day=1)
        b = (_d(nxt[0]) - dt.timedelta(days=1)) if nxt and nxt[0] else \
            d.replace(day=calendar.monthrange(d.year, d.month)[1])
    else:
        raise InvreconError(f"average cost period '{period}' is not supported")
    return a.isoformat(), b.isoformat()


def closed_through(db: Database) -> str | None:
    """Last day of the latest closed accounting period (our 'inventory period'), or None."""
    row = db.execute("SELECT max(starting_date) FROM accounting_period WHERE closed = 1").fetchone()
    if not row or not row[0]:
        return None
    start = row[0]
    nxt = db.execute(
        "SELECT min(starting_date) FROM accounting_period WHERE starting_date > ?", [start]
    ).fetchone()
    if nxt and nxt[0]:
        return (_d(nxt[0]) - dt.timedelta(days=1)).isoformat()
    s = _d(start)
    return s.replace(day=calendar.monthrange(s.year, s.month)[1]).isoformat()


def first_allowed_posting_date(db: Database) -> str | None:
    """30-cost-adjustment §7.3: the later of GL 'Allow Posting From' and the day after the
    latest closed period. None when neither limit exists."""
    row = db.execute("SELECT allow_posting_from FROM general_ledger_setup WHERE id = 1").fetchone()
    limits = []
    if row and row[0]:
        limits.append(row[0])
    ct = closed_through(db)
    if ct:
        limits.append((_d(ct) + dt.timedelta(days=1)).isoformat())
    return max(limits) if limits else None


WINDOW = {"Day": ("days", 1), "Week": ("days", 7), "Month": ("months", 1),
          "Quarter": ("months", 3), "Year": ("months", 12)}


def online_window_start(setting: str, work_date: str) -> str | None:
    """First date that is 'recent enough' for automatic adjustment; None = never, '' = always."""
    if setting == "Never":
        return None
    if setting == "Always":
        return ""
    unit, n = WINDOW[setting]
    wd = _d(work_date)
    start = wd - dt.timedelta(days=n) if unit == "days" else add_months(wd, -n)
    return start.isoformat()


# ----------------------------------------------------------------------------------------------
# Posting


@dataclass
class PostingResult:
    lines: int = 0
    item_ledger_entries: list[int] = field(default_factory=list)
    value_entries: list[int] = field(default_factory=list)
    application_entries: int = 0


def _next(db: Database, table: str) -> int:
    return db.execute(f"SELECT coalesce(max(entry_no), 0) + 1 FROM {table}").fetchone()[0]


class ItemPoster:
    """Posts journal lines into the ledger. One instance per journal run (caches setup)."""

    def __init__(self, db: Database, *, work_date: str | None = None,
                 auto_post: bool | None = None) -> None:
        self.db = db
        setup = db.execute(
            "SELECT automatic_cost_posting, automatic_cost_adjustment, average_cost_period "
            "FROM inventory_setup WHERE id = 1"
        ).fetchone()
        self.automatic_cost_posting = bool(setup[0]) if auto_post is None else auto_post
        self.automatic_cost_adjustment = setup[1]
        self.avg_period = setup[2]
        gl = db.execute(
            "SELECT allow_posting_from, allow_posting_to FROM general_ledger_setup WHERE id = 1"
        ).fetchone()
        self.allow_from, self.allow_to = (gl[0], gl[1]) if gl else ("", "")
        self.closed_through = closed_through(db)
        self.work_date = work_date
        self.window_start = (
            online_window_start(self.automatic_cost_adjustment, work_date) if work_date else None
        )
        self.next_ile = _next(db, "item_ledger_entry")
        self.next_ve = _next(db, "value_entry")
        self.next_iae = _next(db, "item_application_entry")
        self.items: dict[str, dict] = {}
        self.ips = {(r[0], r[1]) for r in db.execute(
            "SELECT location_code, invt_posting_group_code FROM inventory_posting_setup")}
        self.gps = {(r[0], r[1]) for r in db.execute(
            "SELECT gen_bus_posting_group, gen_prod_posting_group FROM general_posting_setup")}
        self.stock: dict[str, list[int]] = {}  # item -> [qty on hand, value incl. expected]
        self.result = PostingResult()
        self._line_ves: list[int] = []
        self._post_fn = None

    # -- lookups ---------------------------------------------------------------------------

    def _item(self, line: JournalLine) -> dict:
        it = self.items.get(line.item_no)
        if it is None:
            row = self.db.execute(
                "SELECT no, type, inventory_posting_group, gen_prod_posting_group, "
                "costing_method, unit_cost, allow_online_adjustment FROM item WHERE no = ?",
                [line.item_no],
            ).fetchone()
            if row is None:
                raise line.error("Item No.", f"item '{line.item_no}' does not exist")
            it = dict(zip(("no", "type", "ipg", "gpg", "method", "unit_cost", "online"), row,
                          strict=True))
            self.items[line.item_no] = it
            self._stock(it["no"])  # load the running totals before this journal writes
        if it["type"] != "Inventory":
            raise line.error("Item No.", f"item '{line.item_no}' is of type {it['type']}; only "
                             "Inventory items are posted")
        if it["method"] in ("Standard", "Specific"):
            raise line.error("Item No.", f"item '{line.item_no}' uses costing method "
                             f"{it['method']}, which journal posting does not support")
        return it

    def _check_location(self, line: JournalLine, it: dict, loc: str, column: str) -> None:
        if (loc, it["ipg"]) not in self.ips:
            raise line.error(column, f"location '{loc}' has no inventory posting setup for "
                             f"inventory posting group '{it['ipg']}'")

    def _check_common(self, line: JournalLine, it: dict) -> None:
        date = line.posting_date.isoformat()
        if self.allow_from and date < self.allow_from or self.allow_to and date > self.allow_to:
            raise line.error("Posting Date", f"{date} is not within the allowed posting dates "
                             f"({self.allow_from or '...'}..{self.allow_to or '...'})")
        if self.closed_through and date <= self.closed_through:
            raise line.error("Posting Date", f"{date} lies in a closed accounting period "
                             f"(closed through {self.closed_through})")
        if (line.gen_bus_posting_group, it["gpg"]) not in self.gps:
            raise line.error("Gen. Bus. Posting Group", "no general posting setup for "
                             f"'{line.gen_bus_posting_group}' / '{it['gpg']}'")

    def _stock(self, item_no: str) -> list[int]:
        s = self.stock.get(item_no)
        if s is None:
            q = self.db.execute(
                "SELECT coalesce(sum(quantity), 0) FROM item_ledger_entry WHERE item_no = ?",
                [item_no]).fetchone()[0]
            v = self.db.execute(
                "SELECT coalesce(sum(cost_amount_actual + cost_amount_expected), 0) "
                "FROM value_entry WHERE item_no = ?", [item_no]).fetchone()[0]
            s = self.stock[item_no] = [q, v]
        return s

    def _refresh_unit_cost(self, it: dict) -> None:
        q, v = self._stock(it["no"])
        if q > 0:
            it["unit_cost"] = unit_cost_of(v, q)

    # -- writers ---------------------------------------------------------------------------

    def _ile(self, it: dict, line: JournalLine, etype: str, loc: str, qty: int, invoiced: int,
             *, order_type: str = "", applies_to: int = 0) -> dict:
        no = self.next_ile
        self.next_ile += 1
        row = {
            "entry_no": no, "item_no": it["no"], "posting_date": line.posting_date.isoformat(),
            "entry_type": etype, "document_no": line.document_no, "location_code": loc,
            "quantity": qty, "invoiced_quantity": invoiced, "remaining_quantity": qty,
            "open": 1, "positive": int(qty > 0), "applied_entry_to_adjust": 0,
            "order_type": order_type, "order_no": line.document_no if order_type else "",
            "applies_to_entry": applies_to,
        }
        self.db.execute(
            "INSERT INTO item_ledger_entry (entry_no, item_no, posting_date, entry_type, "
            "document_no, location_code, quantity, invoiced_quantity, remaining_quantity, open, "
            "positive, applied_entry_to_adjust, order_type, order_no, applies_to_entry) "
            "VALUES (:entry_no, :item_no, :posting_date, :entry_type, :document_no, "
            ":location_code, :quantity, :invoiced_quantity, :remaining_quantity, :open, "
            ":positive, :applied_entry_to_adjust, :order_type, :order_no, :applies_to_entry)",
            row,
        )
        self._stock(it["no"])[0] += qty
        self.result.item_ledger_entries.append(no)
        return row

    def _ve(self, it: dict, line: JournalLine, ile: dict, *, entry_type: str = "Direct Cost",
            valued_qty: int, invoiced_qty: int, actual: int = 0, expected: int = 0,
            expected_cost: bool = False, valuation_date: str, cost_per_unit: int | None = None,
            item_charge_no: str = "") -> int:
        no = self.next_ve
        self.next_ve += 1
        if cost_per_unit is None:
            cost_per_unit = abs(unit_cost_of(actual + expected, valued_qty)) if valued_qty else 0
        date = line.posting_date.isoformat()
        self.db.execute(
            "INSERT INTO value_entry (entry_no, item_no, posting_date, item_ledger_entry_type, "
            "item_ledger_entry_no, entry_type, document_no, location_code, "
            "inventory_posting_group, gen_bus_posting_group, gen_prod_posting_group, "
            "order_type, order_no, item_charge_no, valued_quantity, invoiced_quantity, "
            "cost_per_unit, cost_amount_actual, cost_amount_expected, expected_cost, "
            "dimension_set_id, valuation_date) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0,?)",
            [no, it["no"], date, ile["entry_type"], ile["entry_no"], entry_type,
             line.document_no, ile["location_code"], it["ipg"], line.gen_bus_posting_group,
             it["gpg"], ile["order_type"], ile["order_no"], item_charge_no, valued_qty,
             invoiced_qty, cost_per_unit, actual, expected, int(expected_cost), valuation_date],
        )
        self._stock(it["no"])[1] += actual + expected
        self.result.value_entries.append(no)
        self._line_ves.append(no)
        self._mark_item(it, ile, valuation_date)
        if it["method"] == "Average" and entry_type in ("Direct Cost", "Revaluation"):
            self.entry_point(it["no"], valuation_date)
        return no

    def _mark_item(self, it: dict, ile: dict, valuation_date: str) -> None:
        """Item.'Cost is Adjusted' = No, and BC's sticky 'Allow Online Adjustment' (§7.6)."""
        online = it["online"]
        if online:
            judged = valuation_date if it["method"] == "Average" else ile["posting_date"]
            ws = self.window_start
            online = int(ws is not None and judged >= ws)
            it["online"] = online
        self.db.execute(
            "UPDATE item SET cost_is_adjusted = 0, allow_online_adjustment = ? WHERE no = ?",
            [online, it["no"]],
        )

    def entry_point(self, item_no: str, valuation_date: str) -> None:
        end = period_bounds(valuation_date, self.avg_period, self.db)[1]
        self.db.execute(
            "INSERT INTO avg_cost_adjmt_entry_point (item_no, location_code, valuation_date, "
            "cost_is_adjusted) VALUES (?, '', ?, 0) ON CONFLICT DO UPDATE SET cost_is_adjusted = 0",
            [item_no, end],
        )

    def _iae(self, ile_no: int, inbound: int, outbound: int, qty: int, date: str,
             transferred_from: int = 0) -> None:
        self.db.execute(
            "INSERT INTO item_application_entry (entry_no, item_ledger_entry_no, "
            "inbound_item_entry_no, outbound_item_entry_no, quantity, posting_date, "
            "transferred_from_entry_no) VALUES (?,?,?,?,?,?,?)",
            [self.next_iae, ile_no, inbound, outbound, qty, date, transferred_from],
        )
        self.next_iae += 1
        self.result.application_entries += 1

    def _set_remaining(self, ile_no: int, remaining: int) -> None:
        self.db.execute(
            "UPDATE item_ledger_entry SET remaining_quantity = ?, open = ? WHERE entry_no = ?",
            [remaining, int(remaining != 0), ile_no],
        )

    def _flag(self, ile_no: int) -> None:
        self.db.execute(
            "UPDATE item_ledger_entry SET applied_entry_to_adjust = 1 WHERE entry_no = ?",
            [ile_no],
        )

    # -- ledger reads --------------------------------------------------------------------------

    def _ile_row(self, no: int) -> dict | None:
        cur = self.db.execute(
            "SELECT entry_no, item_no, posting_date, entry_type, document_no, location_code, "
            "quantity, invoiced_quantity, remaining_quantity, open, positive, order_type, "
            "order_no, applies_to_entry FROM item_ledger_entry WHERE entry_no = ?", [no])
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([c[0] for c in cur.description], row, strict=True))

    def _ile_valuation_date(self, ile_no: int) -> str:
        """Valuation date of the ILE's direct cost (its first non-adjustment direct-cost VE)."""
        row = self.db.execute(
            "SELECT valuation_date FROM value_entry WHERE item_ledger_entry_no = ? AND "
            "entry_type = 'Direct Cost' AND adjustment = 0 ORDER BY entry_no LIMIT 1", [ile_no]
        ).fetchone()
        return row[0] if row else ""

    def _latest_valuation_date(self, ile_no: int) -> str:
        row = self.db.execute(
            "SELECT max(valuation_date) FROM value_entry WHERE item_ledger_entry_no = ? AND "
            "entry_type IN ('Direct Cost', 'Revaluation') AND adjustment = 0", [ile_no]
        ).fetchone()
        return row[0] or ""

    def _ile_cost(self, ile_no: int) -> int:
        """Current cost of an ILE (actual + expected, without rounding entries)."""
        return self.db.execute(
            "SELECT coalesce(sum(cost_amount_actual + cost_amount_expected), 0) FROM value_entry "
            "WHERE item_ledger_entry_no = ? AND entry_type <> 'Rounding'", [ile_no]
        ).fetchone()[0]

    # -- application -----------------------------------------------------------------------

    def _apply_outbound(self, it: dict, line: JournalLine, ile: dict) -> list[tuple[int, int]]:
        """Apply a new outbound ILE. Returns [(inbound entry no, applied qty > 0)]."""
        need = -ile["quantity"]
        date = ile["posting_date"]
        apps: list[tuple[int, int]] = []
        fixed = ile["applies_to_entry"]
        if fixed:
            src = self._ile_row(fixed)
            if src is None or src["item_no"] != it["no"] or not src["positive"]:
                raise line.error("Applies-to Entry", f"entry {fixed} is not an inbound item ledger "
                                 f"entry of item '{it['no']}'")
            if src["location_code"] != ile["location_code"]:
                raise line.error("Applies-to Entry", f"entry {fixed} is at location "
                                 f"'{src['location_code']}', not '{ile['location_code']}'")
            if src["remaining_quantity"] < need:
                raise line.error("Applies-to Entry", f"entry {fixed} has only "
                                 f"{src['remaining_quantity'] / QTY_SCALE:g} remaining")
            candidates = [(src["entry_no"], src["remaining_quantity"], src["posting_date"])]
        else:
            order = "DESC" if it["method"] == "LIFO" else "ASC"
            candidates = self.db.execute(
                "SELECT entry_no, remaining_quantity, posting_date FROM item_ledger_entry "
                "WHERE item_no = ? AND location_code = ? AND positive = 1 AND open = 1 "
                f"ORDER BY posting_date {order}, entry_no {order}",
                [it["no"], ile["location_code"]],
            ).fetchall()
        cost_app = it["method"] != "Average" or bool(fixed)
        for inbound, remaining, in_date in candidates:
            if need <= 0:
                break
            a = min(need, remaining)
            self._iae(ile["entry_no"], inbound, ile["entry_no"], -a, max(date, in_date))
            self._set_remaining(inbound, remaining - a)
            if cost_app:
                self._flag(inbound)
            apps.append((inbound, a))
            need -= a
        self._set_remaining(ile["entry_no"], -need)
        ile["remaining_quantity"] = -need
        return apps

    def _apply_inbound(self, it: dict, ile: dict, valuation_date: str, fixed: int = 0) -> None:
        """A new inbound ILE closes open outbound entries (negative inventory), §3.3."""
        have = ile["quantity"]
        order = "DESC" if it["method"] == "LIFO" else "ASC"
        if fixed:
            rows = self.db.execute(
                "SELECT entry_no, remaining_quantity, posting_date FROM item_ledger_entry "
                "WHERE entry_no = ? AND item_no = ? AND location_code = ? AND positive = 0 "
                "AND open = 1", [fixed, it["no"], ile["location_code"]]).fetchall()
        else:
            rows = self.db.execute(
                "SELECT entry_no, remaining_quantity, posting_date FROM item_ledger_entry "
                "WHERE item_no = ? AND location_code = ? AND positive = 0 AND open = 1 "
                f"ORDER BY posting_date {order}, entry_no {order}",
                [it["no"], ile["location_code"]]).fetchall()
        applied = False
        for out_no, out_rem, out_date in rows:
            if have <= 0:
                break
            a = min(have, -out_rem)
            self._iae(out_no, ile["entry_no"], out_no, -a, max(out_date, ile["posting_date"]))
            self._set_remaining(out_no, out_rem + a)
            have -= a
            applied = True
            # The outbound's valuation date moves to the inbound's if that is later (§3.3).
            self.db.execute(
                "UPDATE value_entry SET valuation_date = ? WHERE item_ledger_entry_no = ? "
                "AND valuation_date < ?", [valuation_date, out_no, valuation_date])
            if it["method"] == "Average":
                self.entry_point(it["no"], valuation_date)
        self._set_remaining(ile["entry_no"], have)
        ile["remaining_quantity"] = have
        if applied and (it["method"] != "Average" or fixed):
            self._flag(ile["entry_no"])

    # -- line types --------------------------------------------------------------------------

    def post_line(self, line: JournalLine) -> None:
        it = self._item(line)
        self._check_common(line, it)
        self._line_ves = []
        et = line.entry_type
        if et in ("Purchase", "Sale") and line.invoice_of:
            self._invoice(it, line)
        elif et in ("Purchase", "Positive Adjmt."):
            self._inbound(it, line)
        elif et in ("Sale", "Negative Adjmt."):
            self._outbound(it, line)
        elif et == "Transfer":
            self._transfer(it, line)
        elif et == "Revaluation":
            self._revaluation(it, line)
        elif et == "Item Charge":
            self._item_charge(it, line)
        else:  # pragma: no cover - the parser refuses other types
            raise line.error("Entry Type", f"'{et}' cannot be posted")
        self._refresh_unit_cost(it)
        self.result.lines += 1
        if self.automatic_cost_posting and self._line_ves:
            post_value_entries(self.db, self._line_ves)

    def _inbound(self, it: dict, line: JournalLine) -> None:
        self._check_location(line, it, line.location_code, "Location Code")
        purchase = line.entry_type == "Purchase"
        invoiced = not purchase or line.invoice
        q = line.quantity
        ile = self._ile(it, line, line.entry_type, line.location_code, q, q if invoiced else 0)
        amt = amount_of(q, line.unit_cost or 0)
        date = ile["posting_date"]
        self._ve(it, line, ile, valued_qty=q, invoiced_qty=q if invoiced else 0,
                 actual=amt if invoiced else 0, expected=0 if invoiced else amt,
                 expected_cost=not invoiced, valuation_date=date, cost_per_unit=line.unit_cost)
        self._iae(ile["entry_no"], ile["entry_no"], 0, q, date)
        self._apply_inbound(it, ile, date, fixed=line.applies_to_entry)

    def _outbound(self, it: dict, line: JournalLine) -> None:
        self._check_location(line, it, line.location_code, "Location Code")
        sale = line.entry_type == "Sale"
        invoiced = not sale or line.invoice
        q = line.quantity
        ile = self._ile(it, line, line.entry_type, line.location_code, -q, -q if invoiced else 0,
                        applies_to=line.applies_to_entry)
        apps = self._apply_outbound(it, line, ile)
        if line.applies_to_entry:
            # Exact cost: the share of the inbound entry it is fixed-applied to.
            src = self._ile_row(line.applies_to_entry)
            cost = -rdiv(self._ile_cost(src["entry_no"]) * q, src["quantity"])
        else:
            cost = -amount_of(q, it["unit_cost"])
        vdate = ile["posting_date"]
        for inbound, _a in apps:
            vdate = max(vdate, self._latest_valuation_date(inbound))
        self._ve(it, line, ile, valued_qty=-q, invoiced_qty=-q if invoiced else 0,
                 actual=cost if invoiced else 0, expected=0 if invoiced else cost,
                 expected_cost=not invoiced, valuation_date=vdate)

    def _transfer(self, it: dict, line: JournalLine) -> None:
        self._check_location(line, it, line.location_code, "Location Code")
        self._check_location(line, it, line.new_location_code, "New Location Code")
        q = line.quantity
        out = self._ile(it, line, "Transfer", line.location_code, -q, -q, order_type="Transfer",
                        applies_to=line.applies_to_entry)
        apps = self._apply_outbound(it, line, out)
        if out["remaining_quantity"] != 0:
            have = (q + out["remaining_quantity"]) / QTY_SCALE
            raise line.error("Quantity", f"only {have:g} of item '{it['no']}' on hand at "
                             f"location '{line.location_code}' to transfer")
        vdate = out["posting_date"]
        if it["method"] == "Average":
            cost = amount_of(q, it["unit_cost"])
        else:
            cost = 0
            for inbound, a in apps:
                src = self._ile_row(inbound)
                cost += rdiv(self._ile_cost(inbound) * a, src["quantity"])
                vdate = max(vdate, self._latest_valuation_date(inbound))
        self._ve(it, line, out, valued_qty=-q, invoiced_qty=-q, actual=-cost,
                 valuation_date=vdate)
        inn = self._ile(it, line, "Transfer", line.new_location_code, q, q, order_type="Transfer")
        self._ve(it, line, inn, valued_qty=q, invoiced_qty=q, actual=cost, valuation_date=vdate)
        self._iae(inn["entry_no"], inn["entry_no"], 0, q, inn["posting_date"],
                  transferred_from=out["entry_no"])
        self._apply_inbound(it, inn, vdate)

    def _invoice(self, it: dict, line: JournalLine) -> None:
        purchase = line.entry_type == "Purchase"
        what = "receipt" if purchase else "shipment"
        rows = self.db.execute(
            "SELECT entry_no, quantity, invoiced_quantity FROM item_ledger_entry WHERE "
            "document_no = ? AND item_no = ? AND entry_type = ? ORDER BY entry_no",
            [line.invoice_of, it["no"], line.entry_type],
        ).fetchall()
        if not rows:
            raise line.error("Invoice Of", f"no {what} '{line.invoice_of}' of item '{it['no']}'")
        sign = 1 if purchase else -1
        open_rows = [(no, abs(q), abs(inv)) for no, q, inv in rows if q != inv]
        left = line.quantity
        uninvoiced = sum(q - inv for _no, q, inv in open_rows)
        if left > uninvoiced:
            raise line.error("Quantity", f"invoices {left / QTY_SCALE:g} but only "
                             f"{uninvoiced / QTY_SCALE:g} of {what} '{line.invoice_of}' "
                             "is not yet invoiced")
        for no, q, inv in open_rows:
            if left <= 0:
                break
            qi = min(left, q - inv)
            left -= qi
            ile = self._ile_row(no)
            exp_total = self.db.execute(
                "SELECT coalesce(sum(cost_amount_expected), 0) FROM value_entry "
                "WHERE item_ledger_entry_no = ?", [no]).fetchone()[0]
            share = exp_total if qi == q - inv else rdiv(exp_total * qi, q - inv)
            if purchase:
                actual = amount_of(qi, line.unit_cost or 0)
                cpu = line.unit_cost
            elif ile["applies_to_entry"]:
                actual = share
                cpu = None
            else:
                actual = -amount_of(qi, it["unit_cost"])
                cpu = None
            self._check_location(line, it, ile["location_code"], "Invoice Of")
            self._ve(it, line, ile, valued_qty=sign * qi, invoiced_qty=sign * qi, actual=actual,
                     expected=-share, valuation_date=self._ile_valuation_date(no) or
                     ile["posting_date"], cost_per_unit=cpu)
            self.db.execute(
                "UPDATE item_ledger_entry SET invoiced_quantity = invoiced_quantity + ? "
                "WHERE entry_no = ?", [sign * qi, no])
            self._cost_changed(it, ile)

    def _cost_changed(self, it: dict, ile: dict) -> None:
        """New value on an ILE: flag it (or, for an outbound, its cost sources) when applied."""
        if ile["positive"]:
            if ile["quantity"] != ile["remaining_quantity"] or self.db.execute(
                "SELECT 1 FROM item_application_entry WHERE inbound_item_entry_no = ? AND "
                "outbound_item_entry_no <> 0 LIMIT 1", [ile["entry_no"]]).fetchone():
                self._flag(ile["entry_no"])
        elif it["method"] != "Average" or ile["applies_to_entry"]:
            for (inbound,) in self.db.execute(
                "SELECT inbound_item_entry_no FROM item_application_entry WHERE "
                "outbound_item_entry_no = ? AND item_ledger_entry_no = ?",
                [ile["entry_no"], ile["entry_no"]]).fetchall():
                self._flag(inbound)

    def _inbound_target(self, line: JournalLine, it: dict) -> dict:
        src = self._ile_row(line.applies_to_entry)
        if src is None or src["item_no"] != it["no"]:
            raise line.error("Applies-to Entry", f"entry {line.applies_to_entry} is not an item "
                             f"ledger entry of item '{it['no']}'")
        if not src["positive"]:
            raise line.error("Applies-to Entry", f"entry {line.applies_to_entry} is not an "
                             "inbound entry")
        return src

    def _item_charge(self, it: dict, line: JournalLine) -> None:
        src = self._inbound_target(line, it)
        amt = line.amount or 0
        self._check_location(line, it, src["location_code"], "Applies-to Entry")
        self._ve(it, line, src, valued_qty=src["quantity"], invoiced_qty=0, actual=amt,
                 valuation_date=self._ile_valuation_date(src["entry_no"]) or src["posting_date"],
                 cost_per_unit=unit_cost_of(amt, src["quantity"]), item_charge_no="CHARGE")
        self._cost_changed(it, src)

    def _revaluation(self, it: dict, line: JournalLine) -> None:
        date = line.posting_date.isoformat()
        if line.applies_to_entry:
            targets = [self._inbound_target(line, it)]
        else:
            self._check_location(line, it, line.location_code, "Location Code")
            cur = self.db.execute(
                "SELECT entry_no FROM item_ledger_entry WHERE item_no = ? AND location_code = ? "
                "AND positive = 1 AND posting_date <= ? ORDER BY entry_no",
                [it["no"], line.location_code, date])
            targets = [self._ile_row(no) for (no,) in cur.fetchall()]
        posted = 0
        for src in targets:
            no = src["entry_no"]
            applied = self.db.execute(
                "SELECT coalesce(sum(-quantity), 0) FROM item_application_entry WHERE "
                "inbound_item_entry_no = ? AND outbound_item_entry_no <> 0 AND posting_date <= ?",
                [no, date]).fetchone()[0]
            rq = src["quantity"] - applied
            if rq <= 0:
                continue
            base = self.db.execute(
                "SELECT coalesce(sum(cost_amount_actual + cost_amount_expected), 0) "
                "FROM value_entry WHERE item_ledger_entry_no = ? AND entry_type NOT IN "
                "('Rounding', 'Revaluation')", [no]).fetchone()[0]
            per_unit = Fraction(base, src["quantity"])
            for amt, vq in self.db.execute(
                "SELECT cost_amount_actual, valued_quantity FROM value_entry WHERE "
                "item_ledger_entry_no = ? AND entry_type = 'Revaluation' AND valuation_date <= ?",
                [no, date]).fetchall():
                if vq:
                    per_unit += Fraction(amt, vq)
            old = round_frac(per_unit * rq)
            new = amount_of(rq, line.unit_cost or 0)
            if new == old:
                continue
            self._check_location(line, it, src["location_code"], "Location Code")
            vdate = max(date, self._ile_valuation_date(no) or src["posting_date"])
            self._ve(it, line, src, entry_type="Revaluation", valued_qty=rq, invoiced_qty=rq,
                     actual=new - old, valuation_date=vdate,
                     cost_per_unit=unit_cost_of(new - old, rq))
            self._cost_changed(it, src)
            posted += 1
        if not targets:
            raise line.error("Location Code", f"nothing of item '{it['no']}' to revalue at "
                             f"location '{line.location_code}'")

    def finish(self) -> None:
        """Write the running unit costs back to the items."""
        for it in self.items.values():
            self.db.execute("UPDATE item SET unit_cost = ? WHERE no = ?",
                            [it["unit_cost"], it["no"]])


def post_value_entries(db: Database, value_entry_nos: Sequence[int]) -> int:
    """Hand value entries to the G/L posting engine (invrecon.posting.post_automatically)
    inside the caller's transaction. Raises InvreconError when the engine is missing."""
    if not value_entry_nos:
        return 0
    try:
        from invrecon.posting import post_automatically  # type: ignore[attr-defined]
    except ImportError as exc:
        raise InvreconError(
            "automatic cost posting needs the posting engine (invrecon.posting), which is not "
            f"available ({exc}); turn Automatic Cost Posting off or post later with 'invrecon post'"
        ) from None
    return post_automatically(db, value_entry_nos)


def post_journal_lines(db: Database, lines: Sequence[JournalLine], *,
                       work_date: str | None = None) -> PostingResult:
    """Post the lines in order (inside the caller's write transaction). Any error is an
    ``InputError`` naming the line; the caller's transaction then rolls everything back."""
    if work_date is None:
        work_date = max(line.posting_date for line in lines).isoformat() if lines else None
    poster = ItemPoster(db, work_date=work_date)
    for line in lines:
        try:
            poster.post_line(line)
            it = poster.items.get(line.item_no)
            if it is not None and not -INT64_MAX - 1 <= it["unit_cost"] <= INT64_MAX:
                raise OverflowError("the item's unit cost")  # written back by finish()
        except InputError:
            raise
        except InvreconError as exc:
            raise InputError(f"{line.source}: {exc}") from exc
        except (OverflowError, sqlite3.OperationalError, sqlite3.IntegrityError) as exc:
            # a quantity x cost, a SUM() over the item's entries or a pre-aggregate's running
            # total beyond 64-bit integers
            if not is_int64_overflow(exc):
                raise
            raise InputError(f"{line.source}: the amounts of this line are too large (beyond "
                             "64-bit integers in the ledger's units)") from None
    poster.finish()
    return poster.result
