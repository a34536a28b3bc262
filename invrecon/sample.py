"""A synthetic, internally consistent ledger: ``invrecon sample``.

``generate_sample(path, value_entries=N, seed=S)`` writes a NEW ledger with about N value entries
over 2024-01-01..2025-12-31. The same seed gives the same ledger (``random.Random(seed)`` only,
fixed dates, no iteration over unordered containers).

What it holds:
- setup: a chart of accounts, locations, inventory/general posting setup, dimensions with
  dimension sets and default dimensions on G/L accounts, accounting periods (2024 closed), the
  allowed posting range, Inventory Setup with Expected Cost Posting to G/L on;
- items (FIFO, LIFO, Average, Standard; one service item) with item ledger entries, item
  application entries and value entries that agree with each other: purchases received then
  invoiced (partly, sometimes at another price, some with indirect cost), item charges, sales
  shipped then invoiced, adjustments, transfers, revaluations, production (consumption,
  capacity, output with expected then actual cost and variances of every type), assembly
  (consumption, resources, output), cost forwarding adjustments and rounding entries;
- G/L entries that do not come from inventory: opening balances, monthly revenue and purchase
  journals, a manual G/L entry on an inventory account, a year-end closing entry (C2024-12-31);
- planted faults that the posting run must skip (see ``FAULTS``) and a dimension conflict that
  it must override;
- with ``post=True``: the inventory G/L entries made by the posting engine itself
  (``invrecon.posting``), per entry and per posting group, up to ``POST_CUTOFF``.

Everything is streamed to SQLite in batches; memory is bounded by the open stock and the
documents waiting for their invoice, never by N.
"""

from __future__ import annotations

import calendar
import datetime as dt
import heapq
import os
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from invrecon import preaggregates
from invrecon.errors import InvreconError
from invrecon.ledger import open_ledger, write_transaction
from invrecon.money import QTY_SCALE

DEFAULT_VALUE_ENTRIES = 3000
MIN_VALUE_ENTRIES = 100
DEFAULT_SEED = 1
FIRST_DAY = dt.date(2024, 1, 1)
LAST_DAY = dt.date(2025, 12, 31)
YEAR_END_FAULT_DAY = dt.date(2024, 12, 31)  # only the planted 'outside allowed range' entries
POST_CUTOFF = dt.date(2025, 12, 3)  # entries after this stay in the queue ("the last weeks")
BATCH_ROWS = 50_000
STOCK_CAP = 60  # per item and location, in the item's quantity steps

ProgressCallback = Callable[[str, int, int], None]

# Planted faults: name -> what it is. The summary lists their value entry numbers.
FAULTS = {
    "missing_inventory_posting_setup":
        "Positive Adjmt. of a FINISHED item at YELLOW: no Inventory Posting Setup row "
        "(YELLOW, FINISHED)",
    "blank_account":
        "sales of RETAIL items to EXPORT customers: General Posting Setup (EXPORT, RETAIL) has a "
        "blank COGS Account, so the invoices (actual cost) are skipped; the shipments post",
    "blocked_account":
        "transfers into OUTLET: Inventory Posting Setup (OUTLET, RESALE) uses G/L account 2135, "
        "which is blocked, so the receiving side is skipped",
    "posting_date_not_allowed":
        "a year-end count correction dated 2024-12-31, after 2024 was closed (Allow Posting "
        "From = 2025-01-01)",
    "dimension_conflict":
        "sales with dimension set 6 (PROJECT only) post COGS to 7190, whose default dimension "
        "DEPARTMENT is Code Mandatory: overridden and reported, not skipped",
}


@dataclass
class PostingRun:
    mode: str
    date_from: str | None
    date_to: str
    document_no: str | None
    posted_value_entries: int
    skipped: int
    dimension_overrides: int


@dataclass
class SampleSummary:
    path: Path
    seed: int
    requested_value_entries: int
    value_entries: int = 0
    item_ledger_entries: int = 0
    item_application_entries: int = 0
    gl_entries: int = 0
    posted_value_entries: int = 0
    unposted_value_entries: int = 0
    posting_runs: list[PostingRun] = field(default_factory=list)
    faults: dict[str, list[int]] = field(default_factory=dict)
    seconds: float = 0.0

    def to_text(self) -> str:
        lines = [
            f"wrote {self.path}: seed {self.seed}, {self.value_entries:,} value entries, "
            f"{self.item_ledger_entries:,} item ledger entries, "
            f"{self.item_application_entries:,} application entries, "
            f"{self.gl_entries:,} G/L entries",
        ]
        if self.posting_runs:
            lines.append(
                f"posted {self.posted_value_entries:,} value entries in "
                f"{len(self.posting_runs)} runs; {self.unposted_value_entries:,} wait in the queue"
            )
        else:
            lines.append(f"nothing posted; {self.unposted_value_entries:,} value entries wait")
        for name, entries in self.faults.items():
            shown = ", ".join(str(n) for n in entries[:8]) + (" ..." if len(entries) > 8 else "")
            lines.append(f"planted {name}: value entries {shown}")
        lines.append(f"in {self.seconds:.1f} s")
        return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# exact arithmetic on the stored integers (cents; 1/100,000 units)

_HALF = QTY_SCALE * QTY_SCALE // 100 // 2  # 0.5 cent in (units x unit cost) space
_CENT_SPACE = QTY_SCALE * QTY_SCALE // 100


def amount(qty: int, unit_cost: int) -> int:
    """Cents of qty x unit cost (both in 1/100,000), rounded half away from zero.

    The same result as ``money.round_cents(units_to_decimal(qty) * units_to_decimal(cost))``
    (tested), in integer arithmetic because it runs for every generated entry.
    """
    n = qty * unit_cost
    if n >= 0:
        return (n + _HALF) // _CENT_SPACE
    return -((-n + _HALF) // _CENT_SPACE)


def _div_round(num: int, den: int) -> int:
    """num / den rounded half away from zero (den > 0)."""
    if num >= 0:
        return (2 * num + den) // (2 * den)
    return -((-2 * num + den) // (2 * den))


def unit_cost_of(cents: int, qty: int) -> int:
    """Cost per unit (1/100,000) of an amount in cents spread over qty (1/100,000)."""
    if qty == 0:
        return 0
    if qty < 0:
        cents, qty = -cents, -qty
    return _div_round(cents * _CENT_SPACE, qty)


# ----------------------------------------------------------------------------------------------
# setup

ACCOUNTS: tuple[tuple[str, str, str, str, int], ...] = (
    # no, name, account type, income/balance, blocked
    ("2100", "Inventory", "Heading", "Balance Sheet", 0),
    ("2110", "Finished Goods", "Posting", "Balance Sheet", 0),
    ("2120", "Raw Materials", "Posting", "Balance Sheet", 0),
    ("2130", "Resale Items", "Posting", "Balance Sheet", 0),
    ("2131", "Resale Items (Interim)", "Posting", "Balance Sheet", 0),
    ("2135", "Resale Items, Outlet (closed)", "Posting", "Balance Sheet", 1),
    ("2140", "WIP Account", "Posting", "Balance Sheet", 0),
    ("2310", "Customers Domestic", "Posting", "Balance Sheet", 0),
    ("2910", "Bank, Checking", "Posting", "Balance Sheet", 0),
    ("3100", "Capital Stock", "Posting", "Balance Sheet", 0),
    ("3200", "Retained Earnings", "Posting", "Balance Sheet", 0),
    ("5290", "Invt. Accrual (Interim)", "Posting", "Balance Sheet", 0),
    ("5410", "Vendors Domestic", "Posting", "Balance Sheet", 0),
    ("6100", "Revenue", "Heading", "Income Statement", 0),
    ("6110", "Sales, Retail", "Posting", "Income Statement", 0),
    ("7000", "Cost of Goods Sold", "Heading", "Income Statement", 0),
    ("7110", "Purchases, Retail", "Posting", "Income Statement", 0),
    ("7180", "Inventory Adjmt., Retail", "Posting", "Income Statement", 0),
    ("7190", "Cost of Goods Sold, Retail", "Posting", "Income Statement", 0),
    ("7191", "COGS (Interim), Retail", "Posting", "Income Statement", 0),
    ("7290", "Direct Cost Applied, Retail", "Posting", "Income Statement", 0),
    ("7291", "Overhead Applied, Retail", "Posting", "Income Statement", 0),
    ("7292", "Purchase Variance, Retail", "Posting", "Income Statement", 0),
    ("7890", "Material Variance", "Posting", "Income Statement", 0),
    ("7891", "Capacity Variance", "Posting", "Income Statement", 0),
    ("7892", "Subcontracted Variance", "Posting", "Income Statement", 0),
    ("7893", "Cap. Overhead Variance", "Posting", "Income Statement", 0),
    ("7894", "Mfg. Overhead Variance", "Posting", "Income Statement", 0),
)
INVENTORY_ACCOUNT = {"RESALE": "2130", "RAW": "2120", "FINISHED": "2110"}
LOCATIONS = (("BLUE", "Blue Warehouse"), ("RED", "Red Warehouse"),
             ("YELLOW", "Yellow Warehouse"), ("OUTLET", "Outlet Store (closed)"))
REGULAR_LOCATIONS = ("", "BLUE", "RED", "YELLOW")
FINISHED_LOCATIONS = ("", "BLUE", "RED")  # YELLOW has no FINISHED posting setup (fault)
DIMENSION_SETS = {
    1: (("DEPARTMENT", "ADM"),),
    2: (("DEPARTMENT", "SALES"),),
    3: (("DEPARTMENT", "PROD"),),
    4: (("DEPARTMENT", "SALES"), ("PROJECT", "TOYOTA")),
    5: (("DEPARTMENT", "PROD"), ("PROJECT", "MERCEDES")),
    6: (("PROJECT", "TOYOTA"),),
}
DEFAULT_DIMENSIONS = (
    # table id 15 = G/L Account
    (15, "7190", "DEPARTMENT", "", "Code Mandatory"),
    (15, "2140", "DEPARTMENT", "PROD", "Same Code"),
    (15, "7180", "DEPARTMENT", "ADM", ""),
    (15, "6110", "DEPARTMENT", "", "Code Mandatory"),
    (15, "3200", "PROJECT", "", "No Code"),
)

_VE_COLUMNS = (
    "entry_no", "item_no", "posting_date", "item_ledger_entry_type", "item_ledger_entry_no",
    "entry_type", "variance_type", "adjustment", "document_no", "external_document_no",
    "location_code", "inventory_posting_group", "gen_bus_posting_group", "gen_prod_posting_group",
    "source_type", "source_no", "order_type", "order_no", "type", "no",
    "capacity_ledger_entry_no", "item_charge_no", "valued_quantity", "invoiced_quantity",
    "cost_per_unit", "cost_amount_actual", "cost_amount_expected", "expected_cost",
    "applies_to_entry", "dimension_set_id", "valuation_date",
)
_ILE_COLUMNS = (
    "entry_no", "item_no", "posting_date", "entry_type", "document_no", "location_code",
    "quantity", "invoiced_quantity", "remaining_quantity", "open", "positive",
    "applied_entry_to_adjust", "order_type", "order_no",
)
_IAE_COLUMNS = (
    "entry_no", "item_ledger_entry_no", "inbound_item_entry_no", "outbound_item_entry_no",
    "quantity", "posting_date", "transferred_from_entry_no",
)
_GL_COLUMNS = (
    "entry_no", "gl_account_no", "posting_date", "closing", "document_no",
    "external_document_no", "description", "amount", "source_code", "transaction_no",
    "dimension_set_id",
)


def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    return (f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)})")


class _Item:
    __slots__ = ("no", "idx", "kind", "group", "prod", "method", "unit", "std", "std_parts",
                 "bom", "routing", "step", "markup", "overhead_pct", "unadjusted", "description")

    def __init__(self, no: str, idx: int, kind: str, group: str, prod: str, method: str,
                 unit: int, description: str):
        self.no, self.idx, self.kind, self.group, self.prod = no, idx, kind, group, prod
        self.method, self.unit, self.description = method, unit, description
        self.std = 0
        self.std_parts: dict[str, int] = {}
        self.bom: list[tuple[_Item, int]] = []
        self.routing: list[tuple[str, str, int, int]] = []  # type, no, hours per unit, rate
        self.step = QTY_SCALE  # quantities are multiples of this
        self.markup = 130
        self.overhead_pct = 0
        self.unadjusted = False


class _Out:
    """An outbound item ledger entry and what cost forwarding needs to know about it."""

    __slots__ = ("item", "loc", "ile_no", "ile_type", "row", "qty", "doc", "bus", "stype", "sno",
                 "otype", "ono", "dims", "first_ve", "kind", "apps", "expected", "target", "day")


class _Lot:
    """An inbound item ledger entry: its remaining quantity and the cost of that quantity."""

    __slots__ = ("item", "loc", "ile_no", "ile_type", "row", "qty", "remaining", "u", "rem_cost",
                 "invoiced", "apps", "doc", "bus", "stype", "sno", "otype", "ono", "dims",
                 "isolated", "exp_unit", "exp_total", "exp_reversed", "act_total", "inv_qty",
                 "price", "final")


_PENDING, _SETTLED, _TRANSFER, _NOFORWARD = 0, 1, 2, 3


class _Generator:
    def __init__(self, db: Any, n: int, seed: int, on_progress: ProgressCallback | None):
        self.db = db
        self.n = n
        self.rng = random.Random(seed)
        self.on_progress = on_progress
        self.ve_no = 0
        self.ile_no = 0
        self.iae_no = 0
        self.cap_no = 0
        self.doc_counters: dict[str, int] = {}
        self.ve_rows: list[tuple[Any, ...]] = []
        self.ile_rows: list[tuple[Any, ...]] = []
        self.iae_rows: list[tuple[Any, ...]] = []
        self.ve_sql = _insert_sql("value_entry", _VE_COLUMNS)
        self.ile_sql = _insert_sql("item_ledger_entry", _ILE_COLUMNS)
        self.iae_sql = _insert_sql("item_application_entry", _IAE_COLUMNS)
        self.stock: dict[tuple[int, str], deque[_Lot]] = {}
        self.avail: dict[tuple[int, str], int] = {}
        self.unfinal: dict[int, list[Any]] = {}
        self.heap: list[tuple[int, int, int, Any]] = []
        self.heap_seq = 0
        self.closed: list[_Lot] = []
        self.recent_purchases: deque[_Lot] = deque(maxlen=48)
        self.revenue: dict[str, int] = {}
        self.purchases: dict[str, int] = {}
        self.days = [FIRST_DAY + dt.timedelta(days=i) for i in range((LAST_DAY - FIRST_DAY).days + 1)]
        self.dates = [d.isoformat() for d in self.days]
        self.items: list[_Item] = []
        self._build_items()

    # -- master data -------------------------------------------------------------------------

    def _build_items(self) -> None:
        rng = self.rng
        methods = ("FIFO", "LIFO", "Average")
        names = ("Bicycle", "Touring Bike", "Helmet", "Lamp Set", "Bell", "Saddle", "Tyre 26in",
                 "Tube 26in", "Pump", "Lock", "Basket", "Mirror")
        for i, name in enumerate(names):
            it = _Item(f"{1000 + 10 * i}", len(self.items), "resale", "RESALE", "RETAIL",
                       methods[i % 3], rng.randint(500, 45000) * 1000, name)
            it.markup = rng.randint(125, 180)
            if i % 4 == 1:
                it.overhead_pct = rng.randint(2, 6)
            self.items.append(it)
        raw_names = ("Steel Tube", "Aluminium Sheet", "Paint, Red", "Screws (box)", "Rubber",
                     "Chain", "Spokes (set)", "Cable")
        for i, name in enumerate(raw_names):
            method = ("FIFO", "Average", "Standard", "LIFO")[i % 4]
            it = _Item(f"{2000 + 10 * i}", len(self.items), "raw", "RAW", "MANUFACT", method,
                       rng.randint(80, 6000) * 1000, name)
            if i % 2 == 0:
                it.step = QTY_SCALE // 2  # sold by the half kilo / metre
            if method == "Standard":
                it.std = it.unit
            self.items.append(it)
        raws = [it for it in self.items if it.kind == "raw"]
        for i, name in enumerate(("City Bike Frame", "Racing Frame", "Wheel Set", "Cargo Trailer")):
            it = _Item(f"{3000 + 10 * i}", len(self.items), "produced", "FINISHED", "MANUFACT",
                       "Standard", 0, name)
            comps = rng.sample(raws, 3)
            it.bom = [(c, c.step * rng.randint(1, 6)) for c in comps]
            routing = [("Work Center", "WC-100", rng.randint(20, 150) * 1000,
                        rng.randint(3000, 6000) * 1000),
                       ("Machine Center", "MC-110", rng.randint(10, 80) * 1000,
                        rng.randint(5000, 9000) * 1000)]
            if i % 2 == 1:
                routing.append(("Work Center", "WC-SUB", rng.randint(10, 50) * 1000,
                                rng.randint(4000, 7000) * 1000))
            it.routing = routing
            # standard cost parts per unit (1/100,000), with five decimals on purpose
            mat = sum(c.unit * q // QTY_SCALE for c, q in it.bom)
            cap = sum(h * r // QTY_SCALE for t, w, h, r in routing if w != "WC-SUB")
            sub = sum(h * r // QTY_SCALE for t, w, h, r in routing if w == "WC-SUB")
            parts = {
                "Material": mat + rng.randint(-300, 300) * 101,
                "Capacity": cap + rng.randint(-200, 200) * 97,
                "Capacity Overhead": cap // 10 + rng.randint(0, 9999),
                "Manufacturing Overhead": mat // 20 + rng.randint(0, 9999),
            }
            if sub:
                parts["Subcontracted"] = sub + rng.randint(-100, 100) * 103
            it.std_parts = parts
            it.std = sum(parts.values())
            it.unit = it.std
            it.markup = rng.randint(140, 200)
            self.items.append(it)
        buyable = [it for it in self.items if it.kind in ("resale", "raw")]
        for i, name in enumerate(("Bike Repair Kit", "Family Bundle", "Commuter Pack")):
            it = _Item(f"{4000 + 10 * i}", len(self.items), "assembled", "FINISHED", "MANUFACT",
                       ("Average", "FIFO", "LIFO")[i], 0, name)
            comps = rng.sample(buyable, 3)
            it.bom = [(c, c.step * rng.randint(1, 3)) for c in comps]
            it.routing = [("Resource", ("R-LINDA", "R-MARTY")[i % 2], rng.randint(10, 60) * 1000,
                           rng.randint(2500, 4500) * 1000)]
            it.unit = sum(c.unit * q // QTY_SCALE for c, q in it.bom)
            it.markup = rng.randint(130, 170)
            it.overhead_pct = 3 if i == 0 else 0
            self.items.append(it)
        svc = _Item("9000", len(self.items), "service", "", "RETAIL", "FIFO", 2500 * 1000,
                    "Bike Service (no inventory)")
        self.items.append(svc)
        self.sellable = [it for it in self.items if it.kind in ("resale", "produced", "assembled")]
        self.resale = [it for it in self.items if it.kind == "resale"]
        self.movable = [it for it in self.items if it.kind in ("resale", "raw")]
        self.producible = [it for it in self.items if it.kind == "produced"]
        self.assemblable = [it for it in self.items if it.kind == "assembled"]

    def write_setup(self) -> None:
        db = self.db
        db.conn.executemany(
            "INSERT INTO gl_account (no, name, account_type, income_balance, direct_posting, "
            "blocked) VALUES (?, ?, ?, ?, ?, ?)",
            [(no, name, typ, ib, 1 if no in ("2310", "2910", "3100", "5410", "6110", "7110")
              else 0, blocked) for no, name, typ, ib, blocked in ACCOUNTS],
        )
        db.conn.executemany("INSERT INTO location (code, name) VALUES (?, ?)", LOCATIONS)
        ips = []
        for loc in ("", "BLUE", "RED", "YELLOW", "OUTLET"):
            for group in ("FINISHED", "RAW", "RESALE"):
                if loc == "YELLOW" and group == "FINISHED":
                    continue  # fault: missing_inventory_posting_setup
                if loc == "OUTLET" and group != "RESALE":
                    continue
                inv = "2135" if loc == "OUTLET" else INVENTORY_ACCOUNT[group]  # fault: blocked
                ips.append((loc, group, inv, "2131", "2140", "7890", "7891", "7894", "7893",
                            "7892"))
        db.conn.executemany(
            "INSERT INTO inventory_posting_setup (location_code, invt_posting_group_code, "
            "inventory_account, inventory_account_interim, wip_account, "
            "material_variance_account, capacity_variance_account, "
            "mfg_overhead_variance_account, cap_overhead_variance_account, "
            "subcontracted_variance_account) VALUES (?,?,?,?,?,?,?,?,?,?)", ips)
        gps = []
        for bus in ("", "DOMESTIC", "EXPORT"):
            for prod in ("MANUFACT", "RETAIL"):
                cogs = "" if (bus, prod) == ("EXPORT", "RETAIL") else "7190"  # fault: blank
                gps.append((bus, prod, cogs, "7191", "7180", "5290", "7290", "7291", "7292"))
        db.conn.executemany(
            "INSERT INTO general_posting_setup (gen_bus_posting_group, gen_prod_posting_group, "
            "cogs_account, cogs_account_interim, inventory_adjmt_account, "
            "invt_accrual_acc_interim, direct_cost_applied_account, overhead_applied_account, "
            "purchase_variance_account) VALUES (?,?,?,?,?,?,?,?,?)", gps)
        db.execute(
            "UPDATE inventory_setup SET automatic_cost_posting = 0, "
            "expected_cost_posting_to_gl = 1, automatic_cost_adjustment = 'Never', "
            "average_cost_calc_type = 'Item', average_cost_period = 'Day'")
        # The posting runs of the generator need 2024 open; finish() narrows the range.
        db.execute("UPDATE general_ledger_setup SET allow_posting_from = ?, allow_posting_to = ?",
                   [FIRST_DAY.isoformat(), LAST_DAY.isoformat()])
        periods = []
        for year in (2024, 2025, 2026):
            for month in range(1, 13):
                periods.append((dt.date(year, month, 1).isoformat(), int(month == 1),
                                int(year == 2024)))
        db.conn.executemany("INSERT INTO accounting_period (starting_date, new_fiscal_year, closed) "
                       "VALUES (?, ?, ?)", periods)
        db.conn.executemany(
            "INSERT INTO dimension_set_entry (dimension_set_id, dimension_code, "
            "dimension_value_code) VALUES (?, ?, ?)",
            [(set_id, code, value) for set_id, pairs in DIMENSION_SETS.items()
             for code, value in pairs])
        db.conn.executemany(
            "INSERT INTO default_dimension (table_id, no, dimension_code, dimension_value_code, "
            "value_posting) VALUES (?, ?, ?, ?, ?)", DEFAULT_DIMENSIONS)

    def write_items(self) -> None:
        # unit_cost / standard_cost are money columns (cents): 1/100,000 -> cents, truncated to
        # the cent the way BC shows the unit cost on the card.
        rows = [(it.no, it.description, "Service" if it.kind == "service" else "Inventory",
                 it.group, it.prod, it.method, it.unit // 1000,
                 it.std // 1000 if it.method == "Standard" else 0) for it in self.items]
        self.db.conn.executemany(
            "INSERT INTO item (no, description, type, inventory_posting_group, "
            "gen_prod_posting_group, costing_method, unit_cost, standard_cost) "
            "VALUES (?,?,?,?,?,?,?,?)", rows)

    def mark_unadjusted_items(self) -> None:
        self.db.conn.executemany("UPDATE item SET cost_is_adjusted = 0 WHERE no = ?",
                            [(it.no,) for it in self.items if it.unadjusted])

    # -- numbering and writing -------------------------------------------------------------------

    def doc(self, prefix: str) -> str:
        n = self.doc_counters.get(prefix, 0) + 1
        self.doc_counters[prefix] = n
        return f"{prefix}{n:06d}"

    def flush(self, final: bool = False) -> None:
        db = self.db
        if self.ile_rows:
            db.conn.executemany(self.ile_sql, self.ile_rows)
            self.ile_rows = []
        if self.ve_rows:
            db.conn.executemany(self.ve_sql, self.ve_rows)
            self.ve_rows = []
        if self.iae_rows:
            db.conn.executemany(self.iae_sql, self.iae_rows)
            self.iae_rows = []
        if self.on_progress:
            self.on_progress("value entries", self.ve_no, self.n)

    def _maybe_flush(self) -> None:
        if len(self.ve_rows) >= BATCH_ROWS or len(self.ile_rows) >= BATCH_ROWS \
                or len(self.iae_rows) >= BATCH_ROWS:
            self.flush()

    def ve(self, d: int, item: _Item | None, ile_type: str, ile_no: int, entry_type: str, *,
           loc: str, ipg: str, bus: str, prod: str, doc: str, ext: str = "", var: str = "",
           adj: int = 0, stype: str = "", sno: str = "", otype: str = "", ono: str = "",
           ctype: str = "", cno: str = "", capno: int = 0, charge: str = "", vq: int = 0,
           iq: int = 0, act: int = 0, exp: int = 0, expected: int = 0, applies: int = 0,
           dims: int = 0, vdate: int | None = None, cpu: int | None = None) -> int:
        self.ve_no += 1
        if cpu is None:
            cpu = unit_cost_of(act if act else exp, vq) if vq else 0
        self.ve_rows.append((
            self.ve_no, item.no if item is not None else None, self.dates[d], ile_type, ile_no,
            entry_type, var, adj, doc, ext, loc, ipg, bus, prod, stype, sno, otype, ono, ctype,
            cno, capno, charge, vq, iq, cpu, act, exp, expected, applies, dims,
            self.dates[d if vdate is None else vdate],
        ))
        if len(self.ve_rows) >= BATCH_ROWS:
            self._maybe_flush()
        return self.ve_no

    def new_ile(self, d: int, item: _Item, entry_type: str, doc: str, loc: str, qty: int,
                otype: str = "", ono: str = "") -> list[Any]:
        self.ile_no += 1
        row = [self.ile_no, item.no, self.dates[d], entry_type, doc, loc, qty, 0,
               qty if qty > 0 else 0, int(qty > 0), int(qty > 0), 0, otype, ono]
        self.unfinal[self.ile_no] = row
        return row

    def write_ile(self, row: list[Any]) -> None:
        del self.unfinal[row[0]]
        self.ile_rows.append(tuple(row))
        if len(self.ile_rows) >= BATCH_ROWS:
            self._maybe_flush()

    def iae(self, ile_no: int, inbound: int, outbound: int, qty: int, d: int,
            transferred_from: int = 0) -> None:
        self.iae_no += 1
        self.iae_rows.append((self.iae_no, ile_no, inbound, outbound, qty, self.dates[d],
                              transferred_from))
        if len(self.iae_rows) >= BATCH_ROWS:
            self._maybe_flush()

    def schedule(self, d: int, kind: int, payload: Any) -> None:
        if d < len(self.days):
            self.heap_seq += 1
            heapq.heappush(self.heap, (d, self.heap_seq, kind, payload))
        # otherwise it never happens inside the sample's years: received/shipped, not invoiced

    # -- inbound ---------------------------------------------------------------------------------

    def new_lot(self, d: int, item: _Item, ile_type: str, doc: str, loc: str, qty: int,
                unit: int, *, invoiced: bool, bus: str = "", stype: str = "", sno: str = "",
                otype: str = "", ono: str = "", dims: int = 0, value: int | None = None,
                isolated: bool = False, transferred_from: int = 0) -> _Lot:
        row = self.new_ile(d, item, ile_type, doc, loc, qty, otype, ono)
        lot = _Lot()
        lot.item, lot.loc, lot.ile_no, lot.ile_type, lot.row = item, loc, row[0], ile_type, row
        lot.qty = lot.remaining = qty
        lot.rem_cost = amount(qty, unit) if value is None else value
        lot.u = unit if value is None else unit_cost_of(value, qty)
        lot.invoiced = invoiced
        lot.apps = []
        lot.doc, lot.bus, lot.stype, lot.sno, lot.otype, lot.ono, lot.dims = (
            doc, bus, stype, sno, otype, ono, dims)
        lot.isolated = isolated
        lot.exp_unit = unit
        lot.exp_total = lot.rem_cost
        lot.exp_reversed = lot.act_total = lot.inv_qty = 0
        lot.price = unit
        lot.final = False
        if invoiced:
            row[7] = qty
        self.iae(lot.ile_no, lot.ile_no, 0, qty, d, transferred_from)
        if not isolated:
            key = (item.idx, loc)
            dq = self.stock.get(key)
            if dq is None:
                dq = self.stock[key] = deque()
            dq.append(lot)
            self.avail[key] = self.avail.get(key, 0) + qty
        return lot

    def lot_final_check(self, lot: _Lot, d: int) -> None:
        """A lot that is used up and fully invoiced: settle its rounding residual, write it."""
        if lot.final or lot.remaining or not lot.invoiced:
            return
        residual = lot.rem_cost
        if residual and lot.apps:
            app = lot.apps[-1]
            out = app[0]
            if out.kind == _PENDING:
                app[2] += residual
            else:
                self.ve(d, out.item, out.ile_type, out.ile_no, "Rounding", loc=out.loc,
                        ipg=out.item.group, bus=out.bus, prod=out.item.prod, doc=out.doc,
                        adj=1, stype=out.stype, sno=out.sno, otype=out.otype, ono=out.ono,
                        vq=out.qty, act=-residual, applies=out.first_ve, dims=out.dims,
                        vdate=out.day, cpu=0)
                app[2] += residual
            lot.rem_cost = 0
        lot.final = True
        lot.apps = None
        lot.row[8] = 0
        lot.row[9] = 0
        self.write_ile(lot.row)

    def distribute(self, lot: _Lot, delta: int, d: int) -> None:
        """The lot's value changed by delta: forward the consumed share to its outbound entries
        (cost adjustment), keep the rest on the remaining quantity."""
        work = [(lot, delta)]
        while work:
            lot, delta = work.pop()
            shares = 0
            if lot.apps:
                for app in lot.apps:
                    out, q = app[0], app[1]
                    share = _div_round(delta * q, lot.qty)
                    if not share:
                        continue
                    shares += share
                    kind = out.kind
                    if kind == _PENDING:
                        app[2] += share
                    elif kind == _SETTLED:
                        app[2] += share
                        self.adjustment(out, -share, d)
                    elif kind == _TRANSFER and out.target is not None and not out.target.final \
                            and not out.target.isolated:
                        app[2] += share
                        self.adjustment(out, -share, d)
                        target = out.target
                        self.ve(d, target.item, "Transfer", target.ile_no, "Direct Cost",
                                loc=target.loc, ipg=target.item.group, bus="",
                                prod=target.item.prod, doc=target.doc, adj=1, otype="Transfer",
                                ono=target.ono, vq=target.qty, act=share, dims=target.dims,
                                vdate=out.day, cpu=0)
                        work.append((target, share))
                    else:
                        # consumption, or a transfer whose receipt is gone: left for a later
                        # cost adjustment (the item shows "cost is not adjusted")
                        lot.item.unadjusted = True
                        lot.row[11] = 1
            lot.rem_cost += delta - shares
            if lot.remaining:
                lot.u = unit_cost_of(lot.rem_cost, lot.remaining)

    def adjustment(self, out: _Out, act: int, d: int) -> None:
        self.ve(d, out.item, out.ile_type, out.ile_no, "Direct Cost", loc=out.loc,
                ipg=out.item.group, bus=out.bus, prod=out.item.prod, doc=out.doc, adj=1,
                stype=out.stype, sno=out.sno, otype=out.otype, ono=out.ono, vq=out.qty, act=act,
                applies=out.first_ve, dims=out.dims, vdate=out.day, cpu=0)

    # -- outbound --------------------------------------------------------------------------------

    def new_out(self, d: int, item: _Item, ile_type: str, doc: str, loc: str, qty: int, *,
                kind: int, bus: str = "", stype: str = "", sno: str = "", otype: str = "",
                ono: str = "", dims: int = 0) -> _Out:
        row = self.new_ile(d, item, ile_type, doc, loc, -qty, otype, ono)
        out = _Out()
        out.item, out.loc, out.ile_no, out.ile_type, out.row = item, loc, row[0], ile_type, row
        out.qty = -qty
        out.doc, out.bus, out.stype, out.sno, out.otype, out.ono, out.dims = (
            doc, bus, stype, sno, otype, ono, dims)
        out.kind = kind
        out.apps = []
        out.expected = 0
        out.target = None
        out.day = d
        out.first_ve = 0
        return out

    def take(self, d: int, out: _Out, qty: int) -> int:
        """Apply qty of the outbound entry to open inbound lots; returns the cost (positive)."""
        item = out.item
        key = (item.idx, out.loc)
        dq = self.stock[key]
        lifo = item.method == "LIFO"
        need = qty
        while need:
            lot = dq[-1] if lifo else dq[0]
            q = lot.remaining if lot.remaining < need else need
            if q == lot.remaining:
                portion = amount(q, lot.u)
                lot.remaining = 0
                if lifo:
                    dq.pop()
                else:
                    dq.popleft()
                self.closed.append(lot)
            else:
                portion = amount(q, lot.u)
                lot.remaining -= q
            lot.rem_cost -= portion
            lot.row[8] = lot.remaining
            app = [out, q, portion]
            lot.apps.append(app)
            out.apps.append(app)
            self.iae(out.ile_no, lot.ile_no, out.ile_no, -q, d)
            need -= q
        self.avail[key] -= qty
        return sum(a[2] for a in out.apps)

    def after_outbound(self, d: int, out: _Out) -> None:
        out.row[8] = 0
        out.row[9] = 0
        for lot in self.closed:
            lot.row[9] = 0
            self.lot_final_check(lot, d)
        self.closed = []
        if out.kind != _PENDING:
            out.row[7] = out.qty
            self.write_ile(out.row)

    def below_cap(self, item: _Item, loc: str) -> bool:
        """Stock is replenished only below a cap, so memory (open lots) stays bounded."""
        return self.avail.get((item.idx, loc), 0) < STOCK_CAP * item.step

    def available(self, item: _Item, loc: str) -> int:
        return self.avail.get((item.idx, loc), 0)

    def ensure(self, d: int, item: _Item, loc: str, qty: int) -> None:
        have = self.available(item, loc)
        if have >= qty:
            return
        short = qty - have
        if item.kind in ("resale", "raw"):
            lot_qty = max(short, item.step * self.rng.randint(10, 60))
            self.purchase(d, item, loc, lot_qty)
        elif item.kind == "produced":
            self.production(d, item, loc, max(short, QTY_SCALE * self.rng.randint(5, 25)))
        else:
            self.assembly(d, item, loc, max(short, QTY_SCALE * self.rng.randint(3, 12)))

    # -- events ----------------------------------------------------------------------------------

    def qty_of(self, item: _Item, lo: int, hi: int) -> int:
        return item.step * self.rng.randint(lo, hi)

    def purchase(self, d: int, item: _Item, loc: str, qty: int) -> None:
        rng = self.rng
        vendor = f"V{10000 + 10 * rng.randint(0, 7)}"
        dims = 1 if rng.random() < 0.3 else 0
        std = item.method == "Standard"
        unit = item.std if std else item.unit + rng.randint(-item.unit // 20, item.unit // 20) // 1000 * 1000
        doc = self.doc("PR")
        if rng.random() < 0.2:
            # received and invoiced in one go
            price = unit
            lot = self.new_lot(d, item, "Purchase", doc, loc, qty, unit, invoiced=True,
                               bus="DOMESTIC", stype="Vendor", sno=vendor, dims=dims)
            inv_doc = self.doc("PI")
            act = amount(qty, price)
            self.ve(d, item, "Purchase", lot.ile_no, "Direct Cost", loc=loc, ipg=item.group,
                    bus="DOMESTIC", prod=item.prod, doc=inv_doc, ext=f"VINV-{inv_doc[2:]}",
                    stype="Vendor", sno=vendor, vq=qty, iq=qty, act=act, dims=dims, cpu=price)
            lot.act_total = act
            lot.inv_qty = qty
            self.purchases[self.dates[d][:7]] = self.purchases.get(self.dates[d][:7], 0) + act
            self.recent_purchases.append(lot)
            return
        lot = self.new_lot(d, item, "Purchase", doc, loc, qty, unit, invoiced=False,
                           bus="DOMESTIC", stype="Vendor", sno=vendor, dims=dims)
        self.ve(d, item, "Purchase", lot.ile_no, "Direct Cost", loc=loc, ipg=item.group,
                bus="DOMESTIC", prod=item.prod, doc=doc, stype="Vendor", sno=vendor, vq=qty,
                exp=lot.exp_total, expected=1, dims=dims, cpu=unit)
        # the invoice price: usually the order price, sometimes not
        price = unit
        if rng.random() < 0.25:
            price = max(1000, unit + rng.randint(-unit // 8, unit // 8) // 1000 * 1000)
        lot.price = price
        first = d + rng.randint(2, 25)
        if qty >= 4 * item.step and rng.random() < 0.3:
            part = item.step * rng.randint(1, qty // item.step - 1)
            self.schedule(first, _EV_PINV, (lot, part, False))
            self.schedule(first + rng.randint(3, 20), _EV_PINV, (lot, qty - part, True))
        else:
            self.schedule(first, _EV_PINV, (lot, qty, True))
        self.recent_purchases.append(lot)

    def purchase_invoice(self, d: int, lot: _Lot, qty: int, last: bool) -> None:
        item = lot.item
        std = item.method == "Standard"
        inv_doc = self.doc("PI")
        if last:
            act = amount(lot.qty, lot.price) - lot.act_total
            exp_rev = lot.exp_total - lot.exp_reversed
        else:
            act = amount(qty, lot.price)
            exp_rev = amount(qty, lot.exp_unit)
        lot.act_total += act
        lot.exp_reversed += exp_rev
        lot.inv_qty += qty
        lot.row[7] = lot.inv_qty
        ext = f"VINV-{inv_doc[2:]}"
        self.ve(d, item, "Purchase", lot.ile_no, "Direct Cost", loc=lot.loc, ipg=item.group,
                bus=lot.bus, prod=item.prod, doc=inv_doc, ext=ext, stype=lot.stype, sno=lot.sno,
                vq=qty, iq=qty, act=act, exp=-exp_rev, dims=lot.dims, cpu=lot.price)
        month = self.dates[d][:7]
        self.purchases[month] = self.purchases.get(month, 0) + act
        if std:
            variance = exp_rev - act  # standard - actual
            if variance:
                self.ve(d, item, "Purchase", lot.ile_no, "Variance", var="Purchase", loc=lot.loc,
                        ipg=item.group, bus=lot.bus, prod=item.prod, doc=inv_doc, ext=ext,
                        stype=lot.stype, sno=lot.sno, vq=qty, act=variance, dims=lot.dims, cpu=0)
        else:
            delta = act - exp_rev
            if item.overhead_pct:
                overhead = _div_round(act * item.overhead_pct, 100)
                if overhead:
                    self.ve(d, item, "Purchase", lot.ile_no, "Indirect Cost", loc=lot.loc,
                            ipg=item.group, bus=lot.bus, prod=item.prod, doc=inv_doc, ext=ext,
                            stype=lot.stype, sno=lot.sno, vq=qty, act=overhead, dims=lot.dims,
                            cpu=0)
                    delta += overhead
            if delta:
                self.distribute(lot, delta, d)
        if lot.inv_qty == lot.qty:
            lot.invoiced = True
            self.lot_final_check(lot, d)

    def sale(self, d: int, item: _Item, loc: str, qty: int, *, bus: str = "DOMESTIC",
             dims: int | None = None, ship_only: bool | None = None) -> _Out:
        rng = self.rng
        self.ensure(d, item, loc, qty)
        customer = f"C{10000 + 10 * rng.randint(0, 11)}"
        if dims is None:
            dims = 4 if rng.random() < 0.25 else 2
        if ship_only is None:
            ship_only = rng.random() < 0.75
        if ship_only:
            doc = self.doc("SS")
            out = self.new_out(d, item, "Sale", doc, loc, qty, kind=_PENDING, bus=bus,
                               stype="Customer", sno=customer, dims=dims)
            cost = self.take(d, out, qty)
            out.expected = -cost
            out.first_ve = self.ve(d, item, "Sale", out.ile_no, "Direct Cost", loc=loc,
                                   ipg=item.group, bus=bus, prod=item.prod, doc=doc,
                                   stype="Customer", sno=customer, vq=-qty, exp=-cost, expected=1,
                                   dims=dims)
            self.after_outbound(d, out)
            self.schedule(d + rng.randint(1, 20), _EV_SINV, out)
        else:
            doc = self.doc("SI")
            out = self.new_out(d, item, "Sale", doc, loc, qty, kind=_SETTLED, bus=bus,
                               stype="Customer", sno=customer, dims=dims)
            cost = self.take(d, out, qty)
            out.first_ve = self.ve(d, item, "Sale", out.ile_no, "Direct Cost", loc=loc,
                                   ipg=item.group, bus=bus, prod=item.prod, doc=doc,
                                   stype="Customer", sno=customer, vq=-qty, iq=-qty, act=-cost,
                                   dims=dims)
            self.book_revenue(d, item, cost)
            self.after_outbound(d, out)
        return out

    def sale_invoice(self, d: int, out: _Out) -> None:
        item = out.item
        cost = sum(a[2] for a in out.apps)
        doc = self.doc("SI")
        self.ve(d, item, "Sale", out.ile_no, "Direct Cost", loc=out.loc, ipg=item.group,
                bus=out.bus, prod=item.prod, doc=doc, stype=out.stype, sno=out.sno, vq=out.qty,
                iq=out.qty, act=-cost, exp=-out.expected, dims=out.dims)
        out.kind = _SETTLED
        out.doc = doc
        out.row[7] = out.qty
        self.write_ile(out.row)
        self.book_revenue(d, item, cost)

    def book_revenue(self, d: int, item: _Item, cost: int) -> None:
        month = self.dates[d][:7]
        self.revenue[month] = self.revenue.get(month, 0) + _div_round(cost * item.markup, 100)

    def simple_out(self, d: int, item: _Item, loc: str, qty: int, ile_type: str, doc: str, *,
                   kind: int, otype: str = "", ono: str = "", stype: str = "", sno: str = "",
                   dims: int = 0, bus: str = "") -> tuple[_Out, int]:
        out = self.new_out(d, item, ile_type, doc, loc, qty, kind=kind, otype=otype, ono=ono,
                           stype=stype, sno=sno, dims=dims, bus=bus)
        cost = self.take(d, out, qty)
        out.first_ve = self.ve(d, item, ile_type, out.ile_no, "Direct Cost", loc=loc,
                               ipg=item.group, bus=bus, prod=item.prod, doc=doc, stype=stype,
                               sno=sno, otype=otype, ono=ono, vq=-qty, iq=-qty, act=-cost,
                               dims=dims)
        return out, cost

    def positive_adjustment(self, d: int, item: _Item, loc: str, qty: int, *,
                            isolated: bool = False) -> int:
        doc = self.doc("IJ")
        unit = item.unit + self.rng.randint(-item.unit // 10, item.unit // 10) // 1000 * 1000
        if item.method == "Standard":
            unit = item.std
        lot = self.new_lot(d, item, "Positive Adjmt.", doc, loc, qty, unit, invoiced=True,
                           dims=1, isolated=isolated)
        ve = self.ve(d, item, "Positive Adjmt.", lot.ile_no, "Direct Cost", loc=loc,
                     ipg=item.group, bus="", prod=item.prod, doc=doc, vq=qty, iq=qty,
                     act=lot.rem_cost, dims=1, cpu=unit)
        if isolated:
            lot.final = True  # stays open, never applied: written at the end
        return ve

    def negative_adjustment(self, d: int, item: _Item, loc: str, qty: int) -> int:
        self.ensure(d, item, loc, qty)
        out, _ = self.simple_out(d, item, loc, qty, "Negative Adjmt.", self.doc("IJ"),
                                 kind=_SETTLED, dims=1)
        self.after_outbound(d, out)
        return out.first_ve

    def transfer(self, d: int, item: _Item, src: str, dst: str, qty: int, *,
                 isolated: bool = False) -> tuple[int, int]:
        doc = self.doc("TS")
        order = self.doc("TO")
        out, cost = self.simple_out(d, item, src, qty, "Transfer", doc, kind=_TRANSFER,
                                    otype="Transfer", ono=order)
        lot = self.new_lot(d, item, "Transfer", doc, dst, qty, 0, invoiced=True,
                           otype="Transfer", ono=order, value=cost, isolated=isolated,
                           transferred_from=out.ile_no)
        out.target = lot
        ve_in = self.ve(d, item, "Transfer", lot.ile_no, "Direct Cost", loc=dst, ipg=item.group,
                        bus="", prod=item.prod, doc=doc, otype="Transfer", ono=order, vq=qty,
                        iq=qty, act=cost)
        if isolated:
            lot.final = True
        self.after_outbound(d, out)
        return out.first_ve, ve_in

    def revaluation(self, d: int) -> None:
        rng = self.rng
        item = rng.choice(self.movable + self.assemblable)
        if item.method == "Standard":
            return
        loc = rng.choice(REGULAR_LOCATIONS if item.kind != "assembled" else FINISHED_LOCATIONS)
        dq = self.stock.get((item.idx, loc))
        if not dq:
            return
        for lot in dq:
            if lot.invoiced and lot.remaining:
                break
        else:
            return
        new_unit = lot.u * rng.randint(85, 115) // 100 // 1000 * 1000
        delta = amount(lot.remaining, new_unit) - lot.rem_cost
        if not delta:
            return
        self.ve(d, item, lot.ile_type, lot.ile_no, "Revaluation", loc=lot.loc, ipg=item.group,
                bus="", prod=item.prod, doc=self.doc("REV"), otype=lot.otype, ono=lot.ono,
                vq=lot.remaining, act=delta, dims=1, cpu=new_unit)
        lot.rem_cost += delta
        lot.u = new_unit

    def item_charge(self, d: int) -> None:
        rng = self.rng
        candidates = [lot for lot in self.recent_purchases
                      if not lot.final and lot.item.method != "Standard"]
        if not candidates:
            return
        lot = rng.choice(candidates)
        charge = rng.randint(500, 25000)
        doc = self.doc("PI")
        self.ve(d, lot.item, "Purchase", lot.ile_no, "Direct Cost", loc=lot.loc,
                ipg=lot.item.group, bus="DOMESTIC", prod=lot.item.prod, doc=doc,
                ext=f"VINV-{doc[2:]}", stype="Vendor", sno=f"V{20000 + rng.randint(0, 2) * 10}",
                charge=rng.choice(("FREIGHT", "INSURANCE")), vq=lot.qty, act=charge,
                dims=lot.dims, cpu=0)
        month = self.dates[d][:7]
        self.purchases[month] = self.purchases.get(month, 0) + charge
        self.distribute(lot, charge, d)

    def production(self, d: int, item: _Item, loc: str, qty: int) -> None:
        rng = self.rng
        order = self.doc("PO")
        dims = 5 if rng.random() < 0.3 else 3
        for comp, per in item.bom:
            self.ensure(d, comp, loc, per * qty // QTY_SCALE)
        material = 0
        for comp, per in item.bom:
            need = per * qty // QTY_SCALE
            out, cost = self.simple_out(d, comp, loc, need, "Consumption", order,
                                        kind=_NOFORWARD, otype="Production", ono=order,
                                        stype="Item", sno=item.no, dims=dims)
            self.after_outbound(d, out)
            material += cost
        cap_direct = cap_indirect = sub = 0
        for ctype, cno, hours, rate in item.routing:
            h = hours * qty // QTY_SCALE
            actual_rate = rate + rng.randint(-rate // 10, rate // 10) // 1000 * 1000
            cost = amount(h, actual_rate)
            self.cap_no += 1
            self.ve(d, None, "", 0, "Direct Cost", loc="", ipg=item.group, bus="",
                    prod="MANUFACT", doc=order, otype="Production", ono=order, ctype=ctype,
                    cno=cno, capno=self.cap_no, vq=h, iq=h, act=cost, dims=dims,
                    cpu=actual_rate)
            if cno == "WC-SUB":
                sub += cost
                continue
            cap_direct += cost
            overhead = _div_round(cost * rng.randint(8, 14), 100)
            self.ve(d, None, "", 0, "Indirect Cost", loc="", ipg=item.group, bus="",
                    prod="MANUFACT", doc=order, otype="Production", ono=order, ctype=ctype,
                    cno=cno, capno=self.cap_no, vq=h, act=overhead, dims=dims, cpu=0)
            cap_indirect += overhead
        std_total = amount(qty, item.std)
        lot = self.new_lot(d, item, "Output", order, loc, qty, item.std, invoiced=False,
                           otype="Production", ono=order, dims=dims)
        self.ve(d, item, "Output", lot.ile_no, "Direct Cost", loc=loc, ipg=item.group, bus="",
                prod=item.prod, doc=order, otype="Production", ono=order, vq=qty,
                exp=std_total, expected=1, dims=dims, cpu=item.std)
        direct = material + cap_direct + cap_indirect + sub
        overhead = _div_round(direct * rng.randint(3, 7), 100)
        std = {k: amount(qty, v) for k, v in item.std_parts.items()}
        # the rounding of the parts goes to manufacturing overhead so they add up to std_total
        std["Manufacturing Overhead"] += std_total - sum(std.values())
        variances = {
            "Material": std["Material"] - material,
            "Capacity": std["Capacity"] - cap_direct,
            "Subcontracted": std.get("Subcontracted", 0) - sub,
            "Capacity Overhead": std["Capacity Overhead"] - cap_indirect,
            "Manufacturing Overhead": std["Manufacturing Overhead"] - overhead,
        }
        self.schedule(d + rng.randint(1, 12), _EV_FINISH,
                      (lot, direct, overhead, variances, dims))

    def finish_production(self, d: int, lot: _Lot, direct: int, overhead: int,
                          variances: dict[str, int], dims: int) -> None:
        item = lot.item
        common = {"loc": lot.loc, "ipg": item.group, "bus": "", "prod": item.prod,
                  "doc": lot.doc, "otype": "Production", "ono": lot.ono, "dims": dims,
                  "adj": 1, "vdate": None}
        self.ve(d, item, "Output", lot.ile_no, "Direct Cost", vq=lot.qty, iq=lot.qty,
                act=direct, exp=-lot.exp_total, **common)
        self.ve(d, item, "Output", lot.ile_no, "Indirect Cost", vq=lot.qty, act=overhead, cpu=0,
                **common)
        for vtype in ("Material", "Capacity", "Subcontracted", "Capacity Overhead",
                      "Manufacturing Overhead"):
            v = variances[vtype]
            if v:
                self.ve(d, item, "Output", lot.ile_no, "Variance", var=vtype, vq=lot.qty, act=v,
                        cpu=0, **common)
        # direct + overhead + variances = standard cost = the expected cost: the lot's value
        # does not change, so nothing is forwarded.
        lot.invoiced = True
        lot.row[7] = lot.qty
        self.lot_final_check(lot, d)

    def assembly(self, d: int, item: _Item, loc: str, qty: int) -> None:
        rng = self.rng
        order = self.doc("AO")
        for comp, per in item.bom:
            self.ensure(d, comp, loc, per * qty // QTY_SCALE)
        material = 0
        for comp, per in item.bom:
            need = per * qty // QTY_SCALE
            out, cost = self.simple_out(d, comp, loc, need, "Assembly Consumption", order,
                                        kind=_NOFORWARD, otype="Assembly", ono=order,
                                        stype="Item", sno=item.no, dims=3)
            self.after_outbound(d, out)
            material += cost
        resources = 0
        for ctype, cno, hours, rate in item.routing:
            h = hours * qty // QTY_SCALE
            cost = amount(h, rate)
            self.cap_no += 1
            self.ve(d, None, "", 0, "Direct Cost", loc="", ipg=item.group, bus="",
                    prod="MANUFACT", doc=order, otype="Assembly", ono=order, ctype=ctype,
                    cno=cno, capno=self.cap_no, vq=h, iq=h, act=cost, dims=3, cpu=rate)
            resources += cost
            if rng.random() < 0.5:
                oh = _div_round(cost * 5, 100)
                self.ve(d, None, "", 0, "Indirect Cost", loc="", ipg=item.group, bus="",
                        prod="MANUFACT", doc=order, otype="Assembly", ono=order, ctype=ctype,
                        cno=cno, capno=self.cap_no, vq=h, act=oh, dims=3, cpu=0)
                resources += oh
        value = material + resources
        lot = self.new_lot(d, item, "Assembly Output", order, loc, qty, 0, invoiced=True,
                           otype="Assembly", ono=order, dims=3, value=value)
        self.ve(d, item, "Assembly Output", lot.ile_no, "Direct Cost", loc=loc, ipg=item.group,
                bus="", prod=item.prod, doc=order, otype="Assembly", ono=order, vq=qty, iq=qty,
                act=value, dims=3)
        if item.overhead_pct:
            oh = _div_round(value * item.overhead_pct, 100)
            if oh:
                self.ve(d, item, "Assembly Output", lot.ile_no, "Indirect Cost", loc=loc,
                        ipg=item.group, bus="", prod=item.prod, doc=order, otype="Assembly",
                        ono=order, vq=qty, act=oh, dims=3, cpu=0)
                lot.rem_cost += oh
                lot.u = unit_cost_of(lot.rem_cost, lot.remaining)

    # -- the day loop ----------------------------------------------------------------------------

    def random_event(self, d: int) -> None:
        rng = self.rng
        r = rng.random()
        if r < 0.52:
            item = rng.choice(self.sellable)
            locs = FINISHED_LOCATIONS if item.group == "FINISHED" else REGULAR_LOCATIONS
            loc = rng.choice(locs)
            bus = "EXPORT" if item.group == "FINISHED" and rng.random() < 0.2 else "DOMESTIC"
            self.sale(d, item, loc, self.qty_of(item, 1, 8), bus=bus)
        elif r < 0.62:
            item = rng.choice(self.movable)
            loc = rng.choice(REGULAR_LOCATIONS)
            if self.below_cap(item, loc):
                self.purchase(d, item, loc, self.qty_of(item, 10, 60))
        elif r < 0.66:
            item = rng.choice(self.movable)
            loc = rng.choice(REGULAR_LOCATIONS)
            if self.below_cap(item, loc):
                self.positive_adjustment(d, item, loc, self.qty_of(item, 1, 5))
        elif r < 0.70:
            item = rng.choice(self.movable + self.assemblable)
            locs = FINISHED_LOCATIONS if item.group == "FINISHED" else REGULAR_LOCATIONS
            loc = rng.choice(locs)
            have = self.available(item, loc)
            if have:
                self.negative_adjustment(d, item, loc,
                                         min(have, self.qty_of(item, 1, 4)))
        elif r < 0.78:
            item = rng.choice(self.movable + self.producible)
            locs = FINISHED_LOCATIONS if item.group == "FINISHED" else REGULAR_LOCATIONS
            src, dst = rng.sample(locs, 2)
            have = self.available(item, src)
            if have:
                self.transfer(d, item, src, dst, min(have, self.qty_of(item, 1, 10)))
        elif r < 0.80:
            self.revaluation(d)
        elif r < 0.84:
            self.item_charge(d)
        elif r < 0.92:
            item = rng.choice(self.producible)
            loc = rng.choice(FINISHED_LOCATIONS)
            if self.below_cap(item, loc):
                self.production(d, item, loc, QTY_SCALE * rng.randint(5, 30))
        else:
            item = rng.choice(self.assemblable)
            loc = rng.choice(FINISHED_LOCATIONS)
            if self.below_cap(item, loc):
                self.assembly(d, item, loc, QTY_SCALE * rng.randint(2, 10))

    def planted(self, d: int, fault: str) -> None:
        """One planted fault (see FAULTS); ``fault_entries`` finds them again in SQL."""
        rng = self.rng
        if fault == "missing_inventory_posting_setup":
            self.positive_adjustment(d, self.assemblable[0], "YELLOW", QTY_SCALE * 2,
                                     isolated=True)
        elif fault == "blank_account":
            item = self.resale[rng.randrange(len(self.resale))]
            self.sale(d, item, "BLUE", item.step * 2, bus="EXPORT", ship_only=True)
        elif fault == "blocked_account":
            item = self.resale[rng.randrange(len(self.resale))]
            self.ensure(d, item, "BLUE", item.step * 3)
            self.transfer(d, item, "BLUE", "OUTLET", item.step * 3, isolated=True)
        elif fault == "posting_date_not_allowed":
            for item in self.resale:
                have = self.available(item, "BLUE")
                if have:
                    self.negative_adjustment(d, item, "BLUE", min(have, item.step))
                    break
            else:
                self.positive_adjustment(d, self.resale[0], "BLUE", self.resale[0].step)
        elif fault == "dimension_conflict":
            item = self.resale[rng.randrange(len(self.resale))]
            self.sale(d, item, "RED", item.step, dims=6, ship_only=False)

    def run(self) -> None:
        n_days = len(self.days)
        fault_days: dict[int, list[str]] = {}
        for day, fault in (
            (dt.date(2024, 5, 15), "dimension_conflict"),
            (dt.date(2024, 12, 31), "posting_date_not_allowed"),
            (dt.date(2025, 2, 10), "blank_account"),
            (dt.date(2025, 3, 3), "dimension_conflict"),
            (dt.date(2025, 3, 14), "missing_inventory_posting_setup"),
            (dt.date(2025, 4, 16), "blocked_account"),
            (dt.date(2025, 5, 20), "blank_account"),
            (dt.date(2025, 7, 22), "dimension_conflict"),
            (dt.date(2025, 8, 12), "blocked_account"),
            (dt.date(2025, 9, 9), "missing_inventory_posting_setup"),
            (dt.date(2025, 10, 7), "blank_account"),
        ):
            fault_days.setdefault((day - FIRST_DAY).days, []).append(fault)
        year_end = (YEAR_END_FAULT_DAY - FIRST_DAY).days
        regular_days = n_days - 1
        k = 0
        for d in range(n_days):
            if d == year_end:
                for fault in fault_days.get(d, ()):
                    self.planted(d, fault)
                continue  # nothing else happens on the last day of the closed year
            heap = self.heap
            while heap and heap[0][0] <= d:
                _, _, kind, payload = heapq.heappop(heap)
                if kind == _EV_PINV:
                    self.purchase_invoice(d, *payload)
                elif kind == _EV_SINV:
                    self.sale_invoice(d, payload)
                else:
                    self.finish_production(d, *payload)
            for fault in fault_days.get(d, ()):
                self.planted(d, fault)
            k += 1
            target = self.n * k // regular_days
            while self.ve_no < target:
                self.random_event(d)
        self.finish_ledger()

    def finish_ledger(self) -> None:
        for key in sorted(self.unfinal):
            row = self.unfinal[key]
            self.ile_rows.append(tuple(row))
        self.unfinal.clear()
        self.flush(final=True)
        self.mark_unadjusted_items()


_EV_PINV, _EV_SINV, _EV_FINISH = 1, 2, 3


# ----------------------------------------------------------------------------------------------
# G/L entries that do not come from inventory


class _GLWriter:
    def __init__(self, db: Any):
        self.db = db
        self.sql = _insert_sql("gl_entry", _GL_COLUMNS)

    def post(self, date: str, doc: str, lines: list[tuple[str, int, str, int]], *,
             source_code: str = "GENJNL", closing: int = 0) -> list[int]:
        """One balanced transaction (and one G/L register): lines = (account, cents, text, dims)."""
        if sum(a for _, a, _, _ in lines) != 0:
            raise AssertionError(f"unbalanced G/L transaction {doc}")
        lines = [line for line in lines if line[1]]
        if not lines:
            return []
        db = self.db
        entry = db.execute("SELECT coalesce(max(entry_no), 0) FROM gl_entry").fetchone()[0]
        txn = db.execute("SELECT coalesce(max(transaction_no), 0) FROM gl_entry").fetchone()[0] + 1
        reg = db.execute("SELECT coalesce(max(no), 0) FROM gl_register").fetchone()[0] + 1
        rows = []
        for i, (account, cents, text, dims) in enumerate(lines, start=1):
            rows.append((entry + i, account, date, closing, doc, "", text, cents, source_code,
                         txn, dims))
        db.conn.executemany(self.sql, rows)
        db.execute("INSERT INTO gl_register (no, from_entry_no, to_entry_no, creation_date, "
                   "source_code) VALUES (?, ?, ?, ?, ?)",
                   [reg, entry + 1, entry + len(rows), date, source_code])
        return [r[0] for r in rows]


def _month_end(month: str) -> str:
    y, m = int(month[:4]), int(month[5:])
    return dt.date(y, m, calendar.monthrange(y, m)[1]).isoformat()


def _write_manual_gl(db: Any, gen: _Generator) -> None:
    gl = _GLWriter(db)
    gl.post("2024-01-01", "OPEN-2024", [
        ("2910", 25_000_000, "Opening balance", 0),
        ("2130", 1_234_567, "Opening balance, stock taken over", 0),
        ("3100", -26_234_567, "Opening balance", 0),
    ], source_code="START")
    for month in sorted(set(gen.revenue) | set(gen.purchases)):
        date = _month_end(month)
        if gen.revenue.get(month):
            gl.post(date, f"SALES-{month}", [
                ("2310", gen.revenue[month], f"Sales invoices {month}", 2),
                ("6110", -gen.revenue[month], f"Sales invoices {month}", 2),
            ], source_code="SALES")
        if gen.purchases.get(month):
            gl.post(date, f"PURCH-{month}", [
                ("7110", gen.purchases[month], f"Purchase invoices {month}", 0),
                ("5410", -gen.purchases[month], f"Purchase invoices {month}", 0),
            ], source_code="PURCHASES")
    gl.post("2025-06-30", "GJ-2025-0042", [
        ("7180", 15_000, "Manual stock write-down, damaged helmets", 1),
        ("2130", -15_000, "Manual stock write-down, damaged helmets", 1),
    ])


def _write_closing(db: Any) -> None:
    """Close 2024: clear every income-statement account against Retained Earnings."""
    rows = db.execute(
        "SELECT g.gl_account_no, sum(g.amount) FROM gl_entry g "
        "JOIN gl_account a ON a.no = g.gl_account_no "
        "WHERE a.income_balance = 'Income Statement' AND g.posting_date <= '2024-12-31' "
        "AND g.closing = 0 GROUP BY g.gl_account_no HAVING sum(g.amount) <> 0 "
        "ORDER BY g.gl_account_no").fetchall()
    lines = [(account, -balance, "Close income statement 2024", 0) for account, balance in rows]
    total = sum(b for _, b in rows)
    lines.append(("3200", total, "Close income statement 2024", 0))
    _GLWriter(db).post("2024-12-31", "CLOSE-2024", lines, source_code="CLSINCOME", closing=1)


# ----------------------------------------------------------------------------------------------
# posting through the engine

POSTING_PLAN = (
    # mode, from, to, document no. (per posting group)
    ("per-entry", "2024-01-01", "2024-06-30", None),
    ("per-posting-group", "2024-07-01", "2024-09-30", "INVT-2024-Q3"),
    ("per-posting-group", "2024-10-01", "2024-12-30", "INVT-2024-Q4"),
    ("close-2024", None, None, None),
    ("per-entry", "2025-01-01", "2025-06-30", None),
    ("per-posting-group", "2025-07-01", "2025-09-30", "INVT-2025-Q3"),
    ("per-entry", "2025-10-01", POST_CUTOFF.isoformat(), None),
)


def _post(db: Any, mode: str, date_from: str, date_to: str,
          document_no: str | None) -> PostingRun:
    from invrecon.filters import LedgerFilter
    from invrecon.posting import PostingRequest, post_inventory_cost

    request = PostingRequest(
        mode=mode, document_no=document_no,
        filters=LedgerFilter(date_from=dt.date.fromisoformat(date_from),
                             date_to=dt.date.fromisoformat(date_to)),
    )
    report = post_inventory_cost(db, request)
    try:
        if report.register_no is not None:
            # The engine stamps today's date; the sample's runs happen at the end of their
            # period, and the file must not depend on the day it was generated.
            with write_transaction(db):
                db.execute("UPDATE gl_register SET creation_date = ? WHERE no = ?",
                           [date_to, report.register_no])
        return PostingRun(mode, date_from, date_to, document_no, report.posted_value_entries,
                          len(report.skipped), len(report.dimension_overrides))
    finally:
        report.close()


# ----------------------------------------------------------------------------------------------
# the public function


def _index_sql(db: Any, tables: tuple[str, ...]) -> list[tuple[str, str]]:
    marks = ", ".join("?" for _ in tables)
    return [(r[0], r[1]) for r in db.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        f"AND tbl_name IN ({marks}) ORDER BY name", list(tables)).fetchall()]


def _remove(path: Path) -> None:
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def generate_sample(path: Path, *, value_entries: int = DEFAULT_VALUE_ENTRIES,
                    seed: int = DEFAULT_SEED, post: bool = True,
                    on_progress: ProgressCallback | None = None) -> SampleSummary:
    """Write a new synthetic ledger of about ``value_entries`` value entries at ``path``.

    The ledger is built in ``path + '.tmp'`` and moved into place with ``os.replace`` at the
    end, so an interrupted run never leaves a half ledger at ``path``. An existing file at
    ``path`` is replaced (the CLI refuses that without ``--force``).
    """
    if value_entries < MIN_VALUE_ENTRIES:
        raise InvreconError(f"--value-entries must be at least {MIN_VALUE_ENTRIES}")
    started = time.perf_counter()
    path = Path(path)
    tmp = Path(f"{path}.tmp")
    _remove(tmp)
    summary = SampleSummary(path=path, seed=seed, requested_value_entries=value_entries)
    db = open_ledger(tmp, create=True)
    # Sorting for the index builds of a big ledger must spill to disk, not to memory.
    # A bulk load with the indexes dropped needs no big page cache: keep memory flat.
    db.execute("PRAGMA temp_store = FILE")
    db.execute("PRAGMA cache_size = -8192")
    try:
        gen = _Generator(db, value_entries, seed, on_progress)
        bulk_tables = ("value_entry", "item_ledger_entry", "item_application_entry")
        with write_transaction(db):
            indexes = _index_sql(db, bulk_tables)
            for name, _ in indexes:
                db.execute(f"DROP INDEX {name}")
            gen.write_setup()
            gen.write_items()
            # The CHECK constraints (enumeration IN lists) cost more than the rest of an insert
            # together; the generator writes only constants that satisfy them, and
            # tests/test_sample.py proves it with PRAGMA integrity_check.
            # The per-day pre-aggregates' triggers are dropped for the bulk load and the
            # aggregates rebuilt once at its end (same transaction).
            with preaggregates.bulk_load(db):
                db.execute("PRAGMA ignore_check_constraints = ON")
                try:
                    gen.run()
                finally:
                    db.execute("PRAGMA ignore_check_constraints = OFF")
                if on_progress:
                    on_progress("indexes", 0, len(indexes))
                for _, sql in indexes:
                    db.execute(sql)
                _write_manual_gl(db, gen)
                if on_progress:
                    on_progress("pre-aggregates", 0, 0)
        db.execute("PRAGMA cache_size = -65536")  # the posting engine's usual setting
        summary.faults = fault_entries(db)
        if post:
            # The posting runs are separate transactions on the temporary file, which is thrown
            # away if anything fails: keep the triggers off until the end, rebuild once.
            with write_transaction(db):
                preaggregates.drop_triggers(db)
            for mode, date_from, date_to, doc in POSTING_PLAN:
                if on_progress:
                    on_progress(f"posting {mode} {date_from or ''}..{date_to or ''}", 0, 0)
                if mode == "close-2024":
                    with write_transaction(db):
                        _write_closing(db)
                    continue
                summary.posting_runs.append(_post(db, mode, date_from, date_to, doc))
        else:
            with write_transaction(db):
                _write_closing(db)
        with write_transaction(db):
            # 2024 is closed: from now on only 2025 may be posted
            db.execute("UPDATE general_ledger_setup SET allow_posting_from = '2025-01-01', "
                       "allow_posting_to = '2025-12-31'")
            if post:
                if on_progress:
                    on_progress("pre-aggregates", 0, 0)
                preaggregates.rebuild(db)
                preaggregates.create_triggers(db)
        _fill_summary(db, summary, gen)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except BaseException:
        db.close()
        _remove(tmp)
        raise
    db.close()
    for suffix in ("-wal", "-shm", "-journal"):
        # a stale WAL of the replaced file must never be replayed onto the new one
        _remove_quiet(Path(f"{path}{suffix}"))
    os.replace(tmp, path)
    for suffix in ("-wal", "-shm"):
        _remove_quiet(Path(f"{tmp}{suffix}"))
    summary.seconds = time.perf_counter() - started
    return summary


def _remove_quiet(p: Path) -> None:
    try:
        p.unlink()
    except FileNotFoundError:
        pass


FAULT_SQL = {
    "missing_inventory_posting_setup":
        "location_code = 'YELLOW' AND inventory_posting_group = 'FINISHED'",
    "blank_account":
        "gen_bus_posting_group = 'EXPORT' AND gen_prod_posting_group = 'RETAIL' "
        "AND cost_amount_actual <> 0",
    "blocked_account": "location_code = 'OUTLET'",
    "posting_date_not_allowed": "posting_date = '2024-12-31'",
    "dimension_conflict":
        "dimension_set_id = 6 AND item_ledger_entry_type = 'Sale' AND cost_amount_actual <> 0",
}


def fault_entries(db: Any) -> dict[str, list[int]]:
    """The value entries of each planted fault (FAULTS), by entry no."""
    return {
        name: [r[0] for r in db.execute(
            f"SELECT entry_no FROM value_entry WHERE {where} ORDER BY entry_no").fetchall()]
        for name, where in FAULT_SQL.items()
    }


def _fill_summary(db: Any, summary: SampleSummary, gen: _Generator) -> None:
    one = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
    summary.value_entries = one("SELECT count(*) FROM value_entry")
    summary.item_ledger_entries = one("SELECT count(*) FROM item_ledger_entry")
    summary.item_application_entries = one("SELECT count(*) FROM item_application_entry")
    summary.gl_entries = one("SELECT count(*) FROM gl_entry")
    summary.unposted_value_entries = one(
        "SELECT count(*) FROM value_entry WHERE cost_amount_actual <> cost_posted_to_gl "
        "OR cost_amount_expected <> expected_cost_posted_to_gl")
    summary.posted_value_entries = one(
        "SELECT count(*) FROM value_entry WHERE (cost_posted_to_gl <> 0 "
        "OR expected_cost_posted_to_gl <> 0)")
