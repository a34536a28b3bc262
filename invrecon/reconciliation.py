"""Inventory - G/L Reconciliation: the matrix of BC page 9297, computed headless.

How it works (see README "matrix"):

* **Item side.** One GROUP BY over ``value_entry`` (``item_side_groups``) by the classification
  keys (item ledger entry type, entry type, variance type, assembly order or not) and the posting
  setup keys; the few groups are projected in Python onto account types with the posting rule
  table (``legs``), which follows the posting engine (20-posting §2.3) rather than BC's report
  where the two disagree (order type per entry, assembly resource sign, adjustments with expected
  cost). Each *leg* of a value entry is (part, debit type, credit type): the debit type gets +X,
  the credit type -X, X = Cost Amount (Actual) or (Expected).
* **G/L side.** Per account type, the distinct accounts of its setup field (BC's per-field
  de-duplication, ``setup_accounts``), net change within the date filter (``gl_account_sums``).
  With an item or location filter the G/L side is attributed through the G/L - item ledger
  relation (``attributed_pieces``); unlinked G/L entries are reported apart.
* **Explanations** (``invrecon.explanations``), **warnings** (``invrecon.reconciliation_warnings``)
  and **invariants** are attached to the result.

All SQL lives in a handful of functions (``item_side_groups``, ``gl_account_sums``,
``unlinked_gl_sums``, ``relation_piece_groups``) so that pre-aggregates can replace them.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from invrecon import preaggregates
from invrecon.filters import LedgerFilter, SqlFilter, compile_filter
from invrecon.ledger import snapshot_reader
from invrecon.money import format_cents

# --------------------------------------------------------------------------------------------
# Layout

ROW_KEYS: tuple[str, ...] = (
    "inventory_to_wip", "wip_to_interim", "cogs_interim", "direct_cost_applied",
    "overhead_applied", "inventory_adjmt", "invt_accrual_interim", "cogs", "purchase_variance",
    "material_variance", "capacity_variance", "subcontracted_variance", "cap_overhead_variance",
    "mfg_overhead_variance", "total", "gl_total", "difference",
)
COLUMN_KEYS: tuple[str, ...] = (
    "inventory", "inventory_interim", "wip_inventory", "total", "gl_total", "difference",
)
ROW_NAMES: dict[str, str] = {
    "inventory_to_wip": "Inventory To WIP",
    "wip_to_interim": "WIP To Interim",
    "cogs_interim": "COGS (Interim)",
    "direct_cost_applied": "Direct Cost Applied",
    "overhead_applied": "Overhead Applied",
    "inventory_adjmt": "Inventory Adjmt.",
    "invt_accrual_interim": "Invt. Accrual (Interim)",
    "cogs": "COGS",
    "purchase_variance": "Purchase Variance",
    "material_variance": "Material Variance",
    "capacity_variance": "Capacity Variance",
    "subcontracted_variance": "Subcontracted Variance",
    "cap_overhead_variance": "Capacity Overhead Variance",
    "mfg_overhead_variance": "Mfg. Overhead Variance",
    "total": "Total",
    "gl_total": "G/L Total",
    "difference": "Difference",
}
COLUMN_NAMES: dict[str, str] = {
    "inventory": "Inventory",
    "inventory_interim": "Inventory (Interim)",
    "wip_inventory": "WIP Inventory",
    "total": "Total",
    "gl_total": "G/L Total",
    "difference": "Difference",
}

PSEUDO_ROWS = ("inventory_to_wip", "wip_to_interim")
SUMMARY_ROWS = ("total", "gl_total", "difference")
INVENTORY_TYPES = ("inventory", "inventory_interim", "wip_inventory")  # = the three columns
CONTRA_TYPES = tuple(r for r in ROW_KEYS if r not in PSEUDO_ROWS and r not in SUMMARY_ROWS)
ACCOUNT_TYPES = INVENTORY_TYPES + CONTRA_TYPES  # the 15 account types with G/L accounts
TYPE_NAMES: dict[str, str] = {**{t: COLUMN_NAMES[t] for t in INVENTORY_TYPES},
                              **{t: ROW_NAMES[t] for t in CONTRA_TYPES}}

# Which cells of a contra row can ever be non-blank (BC §3.3 "blank by design").
_CONTRA_COLUMNS: dict[str, tuple[str, ...]] = {
    "cogs_interim": ("inventory_interim",),
    "direct_cost_applied": ("inventory", "wip_inventory"),
    "overhead_applied": ("inventory", "wip_inventory"),
    "inventory_adjmt": ("inventory",),
    "invt_accrual_interim": ("inventory_interim",),
    "cogs": ("inventory",),
    "purchase_variance": ("inventory",),
    "material_variance": ("inventory",),
    "capacity_variance": ("inventory",),
    "subcontracted_variance": ("inventory",),
    "cap_overhead_variance": ("inventory",),
    "mfg_overhead_variance": ("inventory",),
}
_PSEUDO_COLUMNS = {"inventory_to_wip": ("inventory", "wip_inventory"),
                   "wip_to_interim": ("inventory_interim", "wip_inventory")}

# Setup field of each account type: (table, column).
SETUP_FIELDS: dict[str, tuple[str, str]] = {
    "inventory": ("inventory_posting_setup", "inventory_account"),
    "inventory_interim": ("inventory_posting_setup", "inventory_account_interim"),
    "wip_inventory": ("inventory_posting_setup", "wip_account"),
    "material_variance": ("inventory_posting_setup", "material_variance_account"),
    "capacity_variance": ("inventory_posting_setup", "capacity_variance_account"),
    "subcontracted_variance": ("inventory_posting_setup", "subcontracted_variance_account"),
    "cap_overhead_variance": ("inventory_posting_setup", "cap_overhead_variance_account"),
    "mfg_overhead_variance": ("inventory_posting_setup", "mfg_overhead_variance_account"),
    "cogs": ("general_posting_setup", "cogs_account"),
    "cogs_interim": ("general_posting_setup", "cogs_account_interim"),
    "inventory_adjmt": ("general_posting_setup", "inventory_adjmt_account"),
    "invt_accrual_interim": ("general_posting_setup", "invt_accrual_acc_interim"),
    "direct_cost_applied": ("general_posting_setup", "direct_cost_applied_account"),
    "overhead_applied": ("general_posting_setup", "overhead_applied_account"),
    "purchase_variance": ("general_posting_setup", "purchase_variance_account"),
}
# Posting order (BC ordinal) of the account types, used for stable ordering.
TYPE_ORDINAL = {t: i for i, t in enumerate((
    "inventory_interim", "invt_accrual_interim", "inventory", "wip_inventory", "inventory_adjmt",
    "direct_cost_applied", "overhead_applied", "purchase_variance", "cogs", "cogs_interim",
    "material_variance", "capacity_variance", "subcontracted_variance", "cap_overhead_variance",
    "mfg_overhead_variance"))}


def difference_cell(account_type: str) -> tuple[str, str]:
    """The (row, column) of the Difference cell of an account type."""
    if account_type in INVENTORY_TYPES:
        return ("difference", account_type)
    return (account_type, "difference")


def gl_total_cell(account_type: str) -> tuple[str, str]:
    if account_type in INVENTORY_TYPES:
        return ("gl_total", account_type)
    return (account_type, "gl_total")


def cell_account_type(row: str, column: str) -> str | None:
    """The account type whose G/L / Difference a cell shows (None for item-side-only cells)."""
    if row in ("gl_total", "difference", "total") and column in INVENTORY_TYPES:
        return column
    if row in CONTRA_TYPES:
        return row
    return None


def is_blank_by_design(row: str, column: str) -> bool:
    if row in PSEUDO_ROWS:
        return column not in _PSEUDO_COLUMNS[row]
    if row in SUMMARY_ROWS:
        return column not in INVENTORY_TYPES
    return column in INVENTORY_TYPES and column not in _CONTRA_COLUMNS[row]


# --------------------------------------------------------------------------------------------
# The projection rule table (one value entry -> legs)

PURCHASE, SALE, POS, NEG, TRANSFER = "Purchase", "Sale", "Positive Adjmt.", "Negative Adjmt.", "Transfer"
CONSUMPTION, OUTPUT, CAPACITY = "Consumption", "Output", ""
ASM_CONSUMPTION, ASM_OUTPUT = "Assembly Consumption", "Assembly Output"
DC, RV, RD, IC, VA = "Direct Cost", "Revaluation", "Rounding", "Indirect Cost", "Variance"

_VARIANCE_TYPE = {
    "Material": "material_variance",
    "Capacity": "capacity_variance",
    "Subcontracted": "subcontracted_variance",
    "Capacity Overhead": "cap_overhead_variance",
    "Manufacturing Overhead": "mfg_overhead_variance",
}


@dataclass(frozen=True)
class Leg:
    """One double entry of a value entry: +X on ``debit``, -X on ``credit`` (either may be None
    for BC's one-sided projections of abnormal combinations). ``part`` 'A' = actual, 'E' =
    expected cost."""

    part: str
    debit: str | None
    credit: str | None


@functools.lru_cache(maxsize=4096)
def legs(ile: str, et: str, vt: str, assembly: bool) -> tuple[Leg, ...]:
    """Posting-rule projection of one value-entry classification (20-posting §2.3).

    Abnormal combinations the posting engine refuses keep BC's report projection (Total/Inv +A
    with no contra row), so they surface as an unbalanced column.
    """
    inv, itm, wip = "inventory", "inventory_interim", "wip_inventory"
    if ile == CAPACITY:
        if et == DC:
            return (Leg("A", "inventory_adjmt" if assembly else wip, "direct_cost_applied"),)
        if et == IC:
            return (Leg("A", "inventory_adjmt" if assembly else wip, "overhead_applied"),)
        if et in (RV, RD):
            return (Leg("A", None, "inventory_adjmt"),)
        return ()
    one_sided = (Leg("A", inv, None),)
    if ile == PURCHASE:
        return {
            DC: (Leg("E", itm, "invt_accrual_interim"), Leg("A", inv, "direct_cost_applied")),
            RV: (Leg("E", itm, "invt_accrual_interim"), Leg("A", inv, "inventory_adjmt")),
            RD: (Leg("A", inv, "inventory_adjmt"),),
            IC: (Leg("A", inv, "overhead_applied"),),
            VA: (Leg("A", inv, "purchase_variance"),),
        }.get(et, one_sided)
    if ile == SALE:
        return {
            DC: (Leg("E", itm, "cogs_interim"), Leg("A", inv, "cogs")),
            RV: (Leg("E", itm, "cogs_interim"), Leg("A", inv, "inventory_adjmt")),
            RD: (Leg("A", inv, "inventory_adjmt"),),
        }.get(et, one_sided)
    if ile in (POS, NEG, TRANSFER):
        return {
            DC: (Leg("E", itm, "cogs_interim"), Leg("A", inv, "inventory_adjmt")),
            RV: (Leg("A", inv, "inventory_adjmt"),),
            RD: (Leg("A", inv, "inventory_adjmt"),),
        }.get(et, one_sided)
    if ile == CONSUMPTION:
        return {
            DC: (Leg("A", inv, wip),),
            RV: (Leg("A", inv, "inventory_adjmt"),),
            RD: (Leg("A", inv, "inventory_adjmt"),),
        }.get(et, one_sided)
    if ile == OUTPUT:
        if et == VA:
            vtype = _VARIANCE_TYPE.get(vt)
            return (Leg("A", inv, vtype),) if vtype else one_sided
        return {
            DC: (Leg("E", itm, wip), Leg("A", inv, wip)),
            RV: (Leg("E", itm, wip), Leg("A", inv, "inventory_adjmt")),
            RD: (Leg("A", inv, "inventory_adjmt"),),
            IC: (Leg("A", inv, "overhead_applied"),),
        }.get(et, one_sided)
    if ile == ASM_CONSUMPTION:
        return (Leg("A", inv, "inventory_adjmt"),) if et in (DC, RV, RD) else one_sided
    if ile == ASM_OUTPUT:
        if et == VA:
            vtype = _VARIANCE_TYPE.get(vt)
            return (Leg("A", inv, vtype),) if vtype else one_sided
        return {
            DC: (Leg("A", inv, "inventory_adjmt"),),
            RV: (Leg("A", inv, "inventory_adjmt"),),
            RD: (Leg("A", inv, "inventory_adjmt"),),
            IC: (Leg("A", inv, "overhead_applied"),),
        }.get(et, one_sided)
    return one_sided


def leg_cells(leg: Leg, x: int) -> list[tuple[str, str, int]]:
    """The matrix cells (row, column, amount) of one leg carrying amount ``x``."""
    if not x:
        return []
    d, c = leg.debit, leg.credit
    out: list[tuple[str, str, int]] = []
    if d in INVENTORY_TYPES and c in INVENTORY_TYPES:
        pseudo = "inventory_to_wip" if {d, c} == {"inventory", "wip_inventory"} else "wip_to_interim"
        out += [("total", d, x), ("total", c, -x), (pseudo, d, -x), (pseudo, c, x)]
    elif d in INVENTORY_TYPES:
        out.append(("total", d, x))
        if c:
            out.append((c, d, -x))
    elif c in INVENTORY_TYPES:
        out.append(("total", c, -x))
        if d:
            out.append((d, c, x))
    else:  # both contra (assembly resources) or one-sided: the Inventory column
        if d:
            out.append((d, "inventory", x))
        if c:
            out.append((c, "inventory", -x))
    return out


def leg_types(leg: Leg, x: int) -> list[tuple[str, int]]:
    """The account types and amounts one leg posts (debit +x, credit -x)."""
    out = []
    if leg.debit:
        out.append((leg.debit, x))
    if leg.credit:
        out.append((leg.credit, -x))
    return out


# --------------------------------------------------------------------------------------------
# Setup

@dataclass
class Setup:
    expected_cost_posting: bool
    automatic_cost_posting: bool
    ips: dict[tuple[str, str], dict[str, str]]   # (location, group) -> field -> account
    gps: dict[tuple[str, str], dict[str, str]]   # (bus, prod) -> field -> account
    accounts: dict[str, dict[str, Any]]          # no -> gl_account row
    item_groups: dict[str, str]                  # item no -> inventory posting group
    type_accounts: dict[str, tuple[str, ...]]    # account type -> distinct existing accounts

    def account_types(self, account: str | None) -> tuple[str, ...]:
        return tuple(t for t in ACCOUNT_TYPES if account in self.type_accounts[t])

    def resolve(self, account_type: str, key: SetupKey) -> tuple[str | None, str | None]:
        """(account, problem) for one leg type of a value entry; problem is a reason code."""
        table, fld = SETUP_FIELDS[account_type]
        if table == "inventory_posting_setup":
            group = key.ipg
            if account_type == "wip_inventory" and key.wip_source:
                group = self.item_groups.get(key.wip_source, key.ipg)
            row = self.ips.get((key.location, group))
            if row is None:
                return None, "missing_inventory_posting_setup"
        else:
            row = self.gps.get((key.gen_bus, key.gen_prod))
            if row is None:
                return None, "missing_general_posting_setup"
        acct = row[fld]
        if not acct:
            return None, "blank_account"
        if acct not in self.accounts:
            return None, "account_not_found"
        if self.accounts[acct]["blocked"]:
            return acct, "blocked_account"  # posting treats it as blank and skips the entry
        return acct, None


@dataclass(frozen=True)
class SetupKey:
    location: str
    ipg: str
    gen_bus: str
    gen_prod: str
    wip_source: str = ""


def load_setup(db: Database) -> Setup:
    inv = db.execute(
        "SELECT expected_cost_posting_to_gl, automatic_cost_posting FROM inventory_setup"
    ).fetchone() or (0, 0)
    ips_fields = [f for t, (tab, f) in SETUP_FIELDS.items() if tab == "inventory_posting_setup"]
    gps_fields = [f for t, (tab, f) in SETUP_FIELDS.items() if tab == "general_posting_setup"]
    ips = {(r["location_code"], r["invt_posting_group_code"]): {f: r[f] for f in ips_fields}
           for r in db.query("SELECT * FROM inventory_posting_setup")}
    gps = {(r["gen_bus_posting_group"], r["gen_prod_posting_group"]): {f: r[f] for f in gps_fields}
           for r in db.query("SELECT * FROM general_posting_setup")}
    accounts = {r["no"]: r for r in db.query("SELECT * FROM gl_account")}
    item_groups = {r[0]: r[1] for r in db.execute("SELECT no, inventory_posting_group FROM item")}
    type_accounts: dict[str, tuple[str, ...]] = {}
    for t, (table, fld) in SETUP_FIELDS.items():
        rows = ips.values() if table == "inventory_posting_setup" else gps.values()
        seen: list[str] = []
        for r in rows:  # BC: first appearance per field, blank / non-existent skipped
            a = r[fld]
            if a and a in accounts and a not in seen:
                seen.append(a)
        type_accounts[t] = tuple(seen)
    return Setup(bool(inv[0]), bool(inv[1]), ips, gps, accounts, item_groups, type_accounts)


def shared_accounts(setup: Setup) -> dict[str, tuple[str, ...]]:
    """Accounts mapped to more than one account type -> those types."""
    out: dict[str, list[str]] = defaultdict(list)
    for t in ACCOUNT_TYPES:
        for a in setup.type_accounts[t]:
            out[a].append(t)
    return {a: tuple(ts) for a, ts in out.items() if len(ts) > 1}


# --------------------------------------------------------------------------------------------
# SQL (the functions issue 7 may replace with pre-aggregates)

WIP_SOURCE_SQL = ("CASE WHEN {a}.source_type = 'Item' AND {a}.source_no <> '' "
                  "AND {a}.source_no <> coalesce({a}.item_no, '') THEN {a}.source_no ELSE '' END")
CLASS_COLUMNS = ("ile", "et", "vt", "asm")


def class_sql(alias: str) -> str:
    return (f"{alias}.item_ledger_entry_type AS ile, {alias}.entry_type AS et, "
            f"{alias}.variance_type AS vt, "
            f"({alias}.item_ledger_entry_type = '' AND {alias}.order_type = 'Assembly') AS asm")


def inventory_item_sql(db: Database, alias: str) -> str:
    """Leave out value entries of Service / Non-Inventory items (BC skips them); '' if none."""
    n = db.execute("SELECT count(*) FROM item WHERE type <> 'Inventory'").fetchone()[0]
    if not n:
        return ""
    return (f" AND ({alias}.item_no IS NULL OR {alias}.item_no NOT IN "
            "(SELECT no FROM item WHERE type <> 'Inventory'))")


def value_entry_where(db: Database, filters: LedgerFilter, alias: str = "ve") -> SqlFilter:
    f = filters.value_entry_sql(alias)
    return SqlFilter(f.sql + inventory_item_sql(db, alias), f.params)


@dataclass(frozen=True)
class ItemGroup:
    ile: str
    et: str
    vt: str
    asm: bool
    key: SetupKey
    item_no: str | None
    actual: int
    expected: int
    posted_actual: int
    posted_expected: int
    count: int


def item_side_groups(db: Database, filters: LedgerFilter, *, by_item: bool = False,
                     extra_where: str = "", extra_params: Iterable[object] = ()) -> list[ItemGroup]:
    """ONE GROUP BY over the value entries within the filters, by classification and setup keys
    (and item no. when ``by_item``): from the per-day pre-aggregate when it can answer (no item
    filter, not per item), else from the entries (an item filter uses the item index)."""
    if not extra_where and use_preaggregates(db):
        return _item_side_groups_agg(db, filters, by_item=by_item)
    return _item_side_groups_raw(db, filters, by_item=by_item, extra_where=extra_where,
                                 extra_params=extra_params)


def _item_side_groups_raw(db: Database, filters: LedgerFilter, *, by_item: bool = False,
                          extra_where: str = "", extra_params: Iterable[object] = ()
                          ) -> list[ItemGroup]:
    w = value_entry_where(db, filters)
    item_col = "ve.item_no" if by_item else "NULL"
    sql = f"""
        SELECT {class_sql('ve')}, ve.location_code, ve.inventory_posting_group,
               ve.gen_bus_posting_group, ve.gen_prod_posting_group,
               {WIP_SOURCE_SQL.format(a='ve')} AS wip_source, {item_col} AS item_no,
               sum(ve.cost_amount_actual), sum(ve.cost_amount_expected),
               sum(ve.cost_posted_to_gl), sum(ve.expected_cost_posted_to_gl), count(*)
        FROM value_entry ve
        WHERE {w.sql} {extra_where}
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
    """
    out = []
    for r in db.execute(sql, [*w.params, *extra_params]):
        out.append(ItemGroup(r[0], r[1], r[2], bool(r[3]), SetupKey(r[4], r[5], r[6], r[7], r[8]),
                             r[9], r[10], r[11], r[12], r[13], r[14]))
    return out


def gl_account_sums(db: Database, filters: LedgerFilter, accounts: Iterable[str]) -> dict[str, int]:
    """Net change per G/L account within the date filter (closing-date entries per the filter)."""
    accts = sorted(set(accounts))
    if not accts:
        return {}
    ph = ",".join("?" * len(accts))
    if use_preaggregates(db):
        g = filters.gl_entry_date_sql("a")
        sql = (f"SELECT a.acct, sum(a.amount) FROM {preaggregates.GL_DAY} a "
               f"WHERE a.acct IN ({ph}) AND {g.sql} GROUP BY a.acct HAVING sum(a.n) <> 0")
        return {r[0]: r[1] for r in db.execute(sql, [*accts, *g.params])}
    g = filters.gl_entry_date_sql("e")
    sql = (f"SELECT e.gl_account_no, sum(e.amount) FROM gl_entry e "
           f"WHERE e.gl_account_no IN ({ph}) AND {g.sql} GROUP BY e.gl_account_no")
    return {r[0]: r[1] for r in db.execute(sql, [*accts, *g.params])}


def unlinked_gl_sums(db: Database, filters: LedgerFilter,
                     accounts: Iterable[str]) -> dict[tuple[str, int], int]:
    """(account, closing) -> sum of G/L entries within the date filter with no relation row."""
    accts = sorted(set(accounts))
    if not accts:
        return {}
    ph = ",".join("?" * len(accts))
    if use_preaggregates(db):
        g = filters.gl_entry_date_sql("a")
        sql = (f"SELECT a.acct, a.closing, sum(a.unlinked_amount) FROM {preaggregates.GL_DAY} a "
               f"WHERE a.acct IN ({ph}) AND {g.sql} GROUP BY 1, 2 HAVING sum(a.unlinked_n) <> 0")
        return {(r[0], r[1]): r[2] for r in db.execute(sql, [*accts, *g.params])}
    g = filters.gl_entry_date_sql("e")
    sql = (f"SELECT e.gl_account_no, e.closing, sum(e.amount) FROM gl_entry e "
           f"WHERE e.gl_account_no IN ({ph}) AND {g.sql} AND NOT EXISTS "
           f"(SELECT 1 FROM gl_item_ledger_relation r WHERE r.gl_entry_no = e.entry_no) "
           f"GROUP BY 1, 2")
    return {(r[0], r[1]): r[2] for r in db.execute(sql, [*accts, *g.params])}


def _in_range_sql(col: str, filters: LedgerFilter, *, gl: bool) -> tuple[str, list[object]]:
    """A 0/1 SQL expression: is the date column within the filter's date range."""
    if gl:
        f = LedgerFilter(date_from=filters.date_from, date_to=filters.date_to,
                         include_closing=filters.include_closing).gl_entry_date_sql("e")
    else:
        f = LedgerFilter(date_from=filters.date_from, date_to=filters.date_to).value_entry_sql("ve")
    return f"({f.sql})", list(f.params)


PIECES_CTE = """
    multi AS MATERIALIZED (
        SELECT gl_entry_no AS g FROM gl_item_ledger_relation
        GROUP BY gl_entry_no HAVING count(*) > 1),
    m1 AS (
        SELECT r.gl_entry_no AS g, r.value_entry_no AS v, e.amount AS a,
               abs(ve.cost_posted_to_gl) AS pa, abs(ve.expected_cost_posted_to_gl) AS pe,
               sum(abs(ve.cost_posted_to_gl)) OVER (PARTITION BY r.gl_entry_no) AS spa,
               sum(abs(ve.expected_cost_posted_to_gl)) OVER (PARTITION BY r.gl_entry_no) AS spe
        FROM gl_item_ledger_relation r
        JOIN gl_entry e ON e.entry_no = r.gl_entry_no
        JOIN value_entry ve ON ve.entry_no = r.value_entry_no
        WHERE r.gl_entry_no IN (SELECT g FROM multi)),
    m2 AS (
        SELECT g, v, a, CASE WHEN spa = abs(a) AND spa > 0 THEN pa
                             WHEN spe = abs(a) AND spe > 0 THEN pe
                             WHEN spa + spe > 0 THEN pa + pe ELSE 1 END AS w
        FROM m1),
    m3 AS (
        SELECT g, v, a, w, sum(w) OVER (PARTITION BY g) AS sw,
               (abs(a) * w) / sum(w) OVER (PARTITION BY g) AS fl,
               (abs(a) * w) % sum(w) OVER (PARTITION BY g) AS rem
        FROM m2),
    m4 AS (
        SELECT g, v, a, fl,
               abs(a) - sum(fl) OVER (PARTITION BY g) AS left_over,
               row_number() OVER (PARTITION BY g ORDER BY rem DESC, v) AS rk
        FROM m3),
    pieces AS (
        SELECT r.gl_entry_no AS g, r.value_entry_no AS v, e.amount AS share
        FROM gl_item_ledger_relation r JOIN gl_entry e ON e.entry_no = r.gl_entry_no
        WHERE r.gl_entry_no NOT IN (SELECT g FROM multi)
        UNION ALL
        SELECT g, v, (CASE WHEN a < 0 THEN -1 ELSE 1 END) * (fl + (rk <= left_over)) FROM m4)
"""
"""Every relation row as a *piece*: the part of its G/L entry's amount attributed to its value
entry. A G/L entry linked to one value entry gives it its whole amount; a G/L entry linked to
several (per-posting-group posting) is split in proportion to the value entries' posted actual
amounts when they add up to the G/L amount, else their posted expected amounts, else both, else
equally; cents left by the integer division go to the largest remainders (ties: lowest value
entry no.), so the pieces add up to the G/L amount exactly."""

PIECE_KEY_SQL = """
    {cls}, ve.location_code AS loc, ve.inventory_posting_group AS ipg,
    ve.gen_bus_posting_group AS gbus, ve.gen_prod_posting_group AS gprod,
    {wip} AS wip_source, e.gl_account_no AS acct, e.closing AS closing,
    (p.share = ve.cost_posted_to_gl) AS ap, (p.share = -ve.cost_posted_to_gl) AS an,
    (p.share = ve.expected_cost_posted_to_gl) AS ep, (p.share = -ve.expected_cost_posted_to_gl) AS en,
    {gin} AS gin, {vin} AS vin
"""
PIECE_KEY_COLUMNS = ("ile", "et", "vt", "asm", "loc", "ipg", "gbus", "gprod", "wip_source", "acct",
                     "closing", "ap", "an", "ep", "en", "gin", "vin")


def pieces_sql(filters: LedgerFilter) -> tuple[str, str, list[object]]:
    """(WITH ..., the SELECT-list of piece keys, its parameters)."""
    gin, gp = _in_range_sql("e.posting_date", filters, gl=True)
    vin, vp = _in_range_sql("ve.posting_date", filters, gl=False)
    keys = PIECE_KEY_SQL.format(cls=class_sql("ve"), wip=WIP_SOURCE_SQL.format(a="ve"),
                                gin=gin, vin=vin)
    return "WITH " + PIECES_CTE, keys, [*gp, *vp]


def pieces_sql_where(db: Database, filters: LedgerFilter) -> tuple[str, list[object]]:
    """FROM/WHERE for relation pieces whose G/L date or value-entry date is within the filter
    (item, location and item type apply to the value entry)."""
    gin, gp = _in_range_sql("e.posting_date", filters, gl=True)
    vin, vp = _in_range_sql("ve.posting_date", filters, gl=False)
    il = LedgerFilter(item=filters.item, location=filters.location).value_entry_sql("ve")
    return (f"FROM pieces p JOIN gl_entry e ON e.entry_no = p.g "
            f"JOIN value_entry ve ON ve.entry_no = p.v "
            f"WHERE ({gin} OR {vin}) AND {il.sql}{inventory_item_sql(db, 've')}",
            [*gp, *vp, *il.params])


@dataclass(frozen=True)
class PieceGroup:
    ile: str
    et: str
    vt: str
    asm: bool
    key: SetupKey
    account: str | None
    closing: int
    flags: tuple[bool, bool, bool, bool]  # share = +posted A, -posted A, +posted E, -posted E
    gin: bool
    vin: bool
    amount: int
    count: int

    def sql_key(self) -> tuple[object, ...]:
        return (self.ile, self.et, self.vt, int(self.asm), self.key.location, self.key.ipg,
                self.key.gen_bus, self.key.gen_prod, self.key.wip_source, self.account,
                self.closing, *(int(f) for f in self.flags), int(self.gin), int(self.vin))


def relation_piece_groups(db: Database, filters: LedgerFilter) -> list[PieceGroup]:
    """Linked G/L amounts grouped by their value entry's classification and setup keys, the G/L
    account, how the amount matches the value entry's posted amounts, and which of the two dates
    lies within the filter (from the pre-aggregates when the ledger has them)."""
    if use_preaggregates(db):
        return _relation_piece_groups_agg(db, filters)
    return _relation_piece_groups_raw(db, filters)


def _relation_piece_groups_raw(db: Database, filters: LedgerFilter) -> list[PieceGroup]:
    with_sql, keys, kp = pieces_sql(filters)
    where_sql, wp = pieces_sql_where(db, filters)
    sql = (f"{with_sql} SELECT {keys}, sum(p.share), count(*) {where_sql} "
           f"GROUP BY {', '.join(str(i + 1) for i in range(len(PIECE_KEY_COLUMNS)))}")
    out = []
    for r in db.execute(sql, [*kp, *wp]):
        out.append(PieceGroup(r[0], r[1], r[2], bool(r[3]), SetupKey(r[4], r[5], r[6], r[7], r[8]),
                              r[9], r[10], (bool(r[11]), bool(r[12]), bool(r[13]), bool(r[14])),
                              bool(r[15]), bool(r[16]), r[17], r[18]))
    return out


# --------------------------------------------------------------------------------------------
# The same from the pre-aggregates (``invrecon.preaggregates``)

USE_PREAGGREGATES = True
"""Read the pre-aggregates when the ledger has them (tests switch this off to compare)."""


def use_preaggregates(db: Database) -> bool:
    return USE_PREAGGREGATES and preaggregates.available(db)


def _non_inventory_items(db: Database) -> list[str]:
    return [r[0] for r in db.execute("SELECT no FROM item WHERE type <> 'Inventory' ORDER BY no")]


def _merge_item_groups(rows: Iterable[tuple], sign: int, acc: dict[tuple, list[int]]) -> None:
    for r in rows:
        key, vals = tuple(r[:10]), r[10:]
        cur = acc.setdefault(key, [0, 0, 0, 0, 0])
        for i, v in enumerate(vals):
            cur[i] += sign * v


def _agg_where(db: Database, filters: LedgerFilter, *, inventory_only: bool = True
               ) -> SqlFilter:
    """Location, item and item-type conditions on a pre-aggregate (alias a; '' = no item)."""
    loc = compile_filter("a.loc", filters.location)
    item = compile_filter("nullif(a.item, '')", filters.item, nullable=True)
    sql = f"{loc.sql} AND {item.sql}"
    if inventory_only and _non_inventory_items(db):
        sql += " AND a.item NOT IN (SELECT no FROM item WHERE type <> 'Inventory')"
    return SqlFilter(sql, (*loc.params, *item.params))


def _agg_value_entry_rows(db: Database, filters: LedgerFilter, keys: str, n_keys: int,
                          vals: tuple[str, ...], *, inventory_only: bool = True
                          ) -> dict[tuple, list[int]]:
    """Sums of agg_value_entry_day / _total columns ``vals`` per ``keys`` (SQL over alias a)
    within the filters (value entries of non-inventory items left out when ``inventory_only``)."""
    w = _agg_where(db, filters, inventory_only=inventory_only)
    cols = f"{keys}, " + ", ".join(f"sum(a.{v})" for v in vals)
    group = "GROUP BY " + ", ".join(str(i + 1) for i in range(n_keys))
    acc: dict[tuple, list[int]] = {}

    def merge(rows: Iterable[tuple], sign: int) -> None:
        for r in rows:
            cur = acc.setdefault(tuple(r[:n_keys]), [0] * len(vals))
            for i, v in enumerate(r[n_keys:]):
                cur[i] += sign * v

    d = LedgerFilter(date_from=filters.date_from, date_to=filters.date_to).value_entry_sql("a")
    if filters.date_from and filters.date_to:  # a range: its days
        sql = f"SELECT {cols} FROM {preaggregates.VE_DAY} a WHERE {d.sql} AND {w.sql} {group}"
        merge(db.execute(sql, [*d.params, *w.params]), 1)
    else:  # all dates, minus the days outside an open-ended range
        sql = f"SELECT {cols} FROM {preaggregates.VE_TOTAL} a WHERE {w.sql} {group}"
        merge(db.execute(sql, w.params), 1)
        if filters.date_from or filters.date_to:  # (one bound only here; index-friendly)
            out_sql, out_p = (("a.posting_date > ?", [filters.date_to.isoformat()])
                              if filters.date_to else
                              ("a.posting_date < ?", [filters.date_from.isoformat()]))
            sql = (f"SELECT {cols} FROM {preaggregates.VE_DAY} a WHERE {out_sql} "
                   f"AND {w.sql} {group}")
            merge(db.execute(sql, [*out_p, *w.params]), -1)
    return acc


def _item_side_groups_agg(db: Database, filters: LedgerFilter, *, by_item: bool = False
                          ) -> list[ItemGroup]:
    """item_side_groups from the pre-aggregates."""
    item = "nullif(a.item, '')" if by_item else "NULL"
    acc = _agg_value_entry_rows(
        db, filters, f"a.ile, a.et, a.vt, a.asm, a.loc, a.ipg, a.gbus, a.gprod, a.wip_source, "
        f"{item}", 10, ("actual", "expected", "posted_actual", "posted_expected", "n"))
    return [ItemGroup(k[0], k[1], k[2], bool(k[3]), SetupKey(k[4], k[5], k[6], k[7], k[8]), k[9],
                      *v) for k, v in acc.items() if v[4]]


def class_nonzero_counts(db: Database, filters: LedgerFilter
                         ) -> dict[tuple[str, str, str, int], list[int]] | None:
    """Per classification (ile, et, vt, asm): the number of value entries within the filters
    with actual <> 0, expected <> 0, actual + expected <> 0, actual - expected <> 0 (drill-down
    page totals); None when the pre-aggregates cannot answer (item filter, no aggregates)."""
    if not use_preaggregates(db):
        return None
    return _agg_value_entry_rows(db, filters, "a.ile, a.et, a.vt, a.asm", 4,
                                 ("n_actual", "n_expected", "n_sum", "n_diff"))


X_PIECES_CTE = (PIECES_CTE
                .replace("SELECT gl_entry_no AS g FROM gl_item_ledger_relation\n"
                         "        GROUP BY gl_entry_no HAVING count(*) > 1",
                         f"SELECT g FROM {preaggregates.MULTI} WHERE c = 'X'")
                .split("    pieces AS (")[0]
                + "    pieces AS MATERIALIZED (SELECT g, v, (CASE WHEN a < 0 THEN -1 ELSE 1 END) * "
                  "(fl + (rk <= left_over)) AS share FROM m4)\n")
assert f"FROM {preaggregates.MULTI}" in X_PIECES_CTE
"""The pieces of the multi-linked G/L entries whose split the pre-aggregate cannot hold
(case 'X'): the same split as PIECES_CTE, over those few G/L entries only."""

FAST_SHARE_SQL = ("(CASE WHEN m.g IS NULL THEN e.amount WHEN m.c = 'A' THEN (CASE WHEN e.amount "
                  "< 0 THEN -abs(ve.cost_posted_to_gl) ELSE abs(ve.cost_posted_to_gl) END) "
                  "WHEN m.c = 'E' THEN (CASE WHEN e.amount < 0 THEN "
                  "-abs(ve.expected_cost_posted_to_gl) ELSE abs(ve.expected_cost_posted_to_gl) END) "
                  "ELSE (SELECT x.share FROM pieces x WHERE x.g = r.gl_entry_no "
                  "AND x.v = r.value_entry_no) END)")


def fast_pieces_sql(filters: LedgerFilter, ve_where: str, *, irregular: bool = False
                    ) -> tuple[str, str, str, list[object]]:
    """(WITH, piece keys, FROM/WHERE, params) for the pieces of the relation rows of the value
    entries matching ``ve_where`` (an indexed subset), with shares from agg_gl_multi; with
    ``irregular`` only those of the case-'X' multi-linked G/L entries (read from those)."""
    gin, gp = _in_range_sql("e.posting_date", filters, gl=True)
    vin, vp = _in_range_sql("ve.posting_date", filters, gl=False)
    keys = PIECE_KEY_SQL.replace("p.share", FAST_SHARE_SQL).format(
        cls=class_sql("ve"), wip=WIP_SOURCE_SQL.format(a="ve"), gin=gin, vin=vin)
    driver = ("FROM value_entry ve JOIN gl_item_ledger_relation r ON r.value_entry_no = ve.entry_no "
              if not irregular else
              f"FROM {preaggregates.MULTI} mx CROSS JOIN gl_item_ledger_relation r "
              f"ON r.gl_entry_no = mx.g AND mx.c = 'X' CROSS JOIN value_entry ve "
              f"ON ve.entry_no = r.value_entry_no ")
    frm = (f"{driver}JOIN gl_entry e ON e.entry_no = r.gl_entry_no "
           f"LEFT JOIN {preaggregates.MULTI} m ON m.g = r.gl_entry_no "
           f"WHERE ({gin} OR {vin}) AND {ve_where}")
    return "WITH " + X_PIECES_CTE, keys, frm, [*gp, *vp]


def _piece_rows(db: Database, filters: LedgerFilter, ve_where: str, params: list[object],
                *, irregular: bool = False) -> list[tuple]:
    with_sql, keys, frm, kp = fast_pieces_sql(filters, ve_where, irregular=irregular)
    sql = (f"{with_sql} SELECT {keys}, sum({FAST_SHARE_SQL}), count(*) {frm} "
           f"GROUP BY {', '.join(str(i + 1) for i in range(len(PIECE_KEY_COLUMNS)))}")
    return list(db.execute(sql, [*kp, *kp, *params]))


def _relation_piece_groups_agg(db: Database, filters: LedgerFilter) -> list[PieceGroup]:
    acc: dict[tuple, list[int]] = {}

    def add(rows: Iterable[tuple], sign: int) -> None:
        for r in rows:
            cur = acc.setdefault(tuple(r[:17]), [0, 0])
            cur[0] += sign * r[17]
            cur[1] += sign * r[18]

    if True:  # (one branch: every filter is answered from the aggregates)
        gin, gp = _in_range_sql("a.gl_date", filters, gl=True)
        vin, vp = _in_range_sql("a.ve_date", filters, gl=False)
        vin = vin.replace("ve.posting_date", "a.ve_date")
        gin = gin.replace("e.posting_date", "a.gl_date").replace("e.closing", "a.closing")
        loc = _agg_where(db, filters)
        keys = ("a.ile, a.et, a.vt, a.asm, a.loc, a.ipg, a.gbus, a.gprod, a.wip_source, "
                "nullif(a.acct, ''), a.closing, a.ap, a.an, a.ep, a.en")
        group = ("GROUP BY a.ile, a.et, a.vt, a.asm, a.loc, a.ipg, a.gbus, a.gprod, "
                 "a.wip_source, a.acct, a.closing, a.ap, a.an, a.ep, a.en")
        combos = ", ".join(
            f"sum(CASE WHEN {c} THEN a.amount END), sum(CASE WHEN {c} THEN a.n END)"
            for c in ("gi AND vi", "gi AND NOT vi", "vi AND NOT gi"))
        day = (f"(SELECT *, {gin} AS gi, {vin} AS vi FROM {preaggregates.PIECE_DAY} a "
               f"WHERE {{where}}) a")
        rows: list[tuple] = []

        def split(sql: str, params: list[object], sign: int) -> None:
            for r in db.execute(sql, params):
                for gi, vi, i in ((1, 1, 15), (1, 0, 17), (0, 1, 19)):
                    if r[i + 1]:
                        rows.append((*r[:15], gi, vi, sign * r[i], sign * r[i + 1]))

        if filters.date_from and filters.date_to:  # a range: the pieces with a date in it
            split(f"SELECT {keys}, {combos} FROM {day.format(where=f'({gin} OR {vin}) AND {loc.sql}')} "
                  f"{group}", [*gp, *vp, *gp, *vp, *loc.params], 1)
        else:  # all pieces as in range, corrected by those with a date outside
            total = (f"SELECT {keys}, sum(a.amount), sum(a.n) FROM {preaggregates.PIECE_TOTAL} a "
                     f"WHERE {loc.sql} {group}")
            for r in db.execute(total, loc.params):
                rows.append((*r[:15], 1, 1, r[15], r[16]))
            hint, hp = "1", []
            if filters.include_closing and filters.date_to:
                hint, hp = "(a.gl_date >= ? OR a.ve_date > ?)", [filters.date_to.isoformat()] * 2
            elif filters.include_closing and filters.date_from:
                hint, hp = "(a.gl_date < ? OR a.ve_date < ?)", [filters.date_from.isoformat()] * 2
            if filters.date_from or filters.date_to or not filters.include_closing:
                where = f"{hint} AND NOT ({gin} AND {vin}) AND {loc.sql}"
                q = f"SELECT {keys}, {combos} FROM {day.format(where=where)} {group}"
                split(q, [*gp, *vp, *hp, *gp, *vp, *loc.params], 1)
                q0 = (f"SELECT {keys}, sum(a.amount), sum(a.n) FROM {preaggregates.PIECE_DAY} a "
                      f"WHERE {where} {group}")
                for r in db.execute(q0, [*hp, *gp, *vp, *loc.params]):
                    rows.append((*r[:15], 1, 1, -r[15], -r[16]))
        add(rows, 1)
        # the irregular multi-linked G/L entries, computed
        il = LedgerFilter(item=filters.item, location=filters.location).value_entry_sql("ve")
        xw = f"{il.sql}{inventory_item_sql(db, 've')}"
        add(_piece_rows(db, filters, xw, list(il.params), irregular=True), 1)
    out = []
    for r, (amount, count) in acc.items():
        if count:
            out.append(PieceGroup(r[0], r[1], r[2], bool(r[3]),
                                  SetupKey(r[4], r[5], r[6], r[7], r[8]), r[9], r[10],
                                  (bool(r[11]), bool(r[12]), bool(r[13]), bool(r[14])),
                                  bool(r[15]), bool(r[16]), amount, count))
    return out


def piece_type(pg: PieceGroup, setup: Setup) -> str | None:
    """The account type a linked G/L amount was posted as (None if it cannot be told).

    From the value entry's legs, the sides whose posted amount equals the piece (debit: +, credit:
    -); among several, the one whose current setup account is the G/L account; else the first.
    """
    cands: list[str] = []
    ap, an, ep, en = pg.flags
    for leg in legs(pg.ile, pg.et, pg.vt, pg.asm):
        pos, neg = (ap, an) if leg.part == "A" else (ep, en)
        if pos and leg.debit:
            cands.append(leg.debit)
        if neg and leg.credit:
            cands.append(leg.credit)
    if not cands:
        # No amount match: fall back on the account, if the current setup maps exactly one leg there.
        by_acct = [t for leg in legs(pg.ile, pg.et, pg.vt, pg.asm) for t in (leg.debit, leg.credit)
                   if t and setup.resolve(t, pg.key)[0] == pg.account]
        return by_acct[0] if len(set(by_acct)) == 1 else None
    on_acct = [t for t in cands if setup.resolve(t, pg.key)[0] == pg.account]
    if on_acct:
        return on_acct[0]
    # The amount points at legs the setup puts elsewhere; if the account is exactly where the
    # setup puts one leg of this entry, the account is the better evidence.
    by_acct = {t for leg in legs(pg.ile, pg.et, pg.vt, pg.asm) for t in (leg.debit, leg.credit)
               if t and setup.resolve(t, pg.key)[0] == pg.account}
    if len(by_acct) == 1:
        return by_acct.pop()
    in_field = [t for t in cands if pg.account in setup.type_accounts[t]]
    return (in_field or cands)[0]


# --------------------------------------------------------------------------------------------
# Result objects

@dataclass
class Cause:
    cause: str
    title: str
    amount: int
    entries: dict[str, Any] = field(default_factory=dict)
    column: str | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        d = {"cause": self.cause, "title": self.title, "amount": format_cents(self.amount),
             "entries": self.entries}
        if self.column:
            d["column"] = self.column
        if self.detail:
            d["detail"] = self.detail
        return d


@dataclass
class Warning:  # noqa: A001 - the BC name; never shadows the builtin in callers that import it
    code: str
    title: str
    detail: str
    cells: list[tuple[str, str]] = field(default_factory=list)
    priority: int = 100

    def short_json(self) -> dict[str, Any]:
        return {"code": self.code, "title": self.title, "detail": self.detail}

    def to_json(self) -> dict[str, Any]:
        return {**self.short_json(), "cells": [list(c) for c in self.cells]}


@dataclass
class InvariantCheck:
    name: str
    column: str | None
    amount: int
    ok: bool
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "column": self.column, "amount": format_cents(self.amount),
                "ok": self.ok, "detail": self.detail}


@dataclass
class MatrixRow:
    key: str
    name: str
    cells: dict[str, int | None]
    warning: Warning | None = None
    explanation: list[Cause] = field(default_factory=list)


@dataclass
class AccountLine:
    account_no: str
    name: str
    account_types: tuple[str, ...]
    projected: int          # value entries projected through the current setup
    projected_posted: int   # the same with the posted amounts
    actual: int             # G/L net change (attributed, with item/location filters)
    difference: int         # actual - projected

    def to_json(self) -> dict[str, Any]:
        return {"gl_account_no": self.account_no, "name": self.name,
                "account_types": list(self.account_types),
                "projected": format_cents(self.projected),
                "projected_posted": format_cents(self.projected_posted),
                "actual": format_cents(self.actual), "difference": format_cents(self.difference)}


@dataclass
class Matrix:
    filters: LedgerFilter
    show_warning: bool
    rows: list[MatrixRow]
    warnings: list[Warning]
    invariants: list[InvariantCheck]
    amounts: dict[tuple[str, str], int]                 # every non-blank-by-design cell, zero incl.
    unattributed_gl: dict[str, int] = field(default_factory=dict)
    per_account: list[AccountLine] = field(default_factory=list)

    def cell(self, row_key: str, column_key: str) -> int | None:
        """Amount in cents; None = blank (blank by design, or zero as BC shows it)."""
        v = self.amounts.get((row_key, column_key))
        return v or None

    def amount(self, row_key: str, column_key: str) -> int | None:
        """Like ``cell`` but 0 for a zero cell; None only for cells blank by design."""
        return self.amounts.get((row_key, column_key))

    def row(self, key: str) -> MatrixRow:
        return next(r for r in self.rows if r.key == key)

    def difference_cells(self) -> dict[tuple[str, str], int]:
        return {difference_cell(t): self.amounts[difference_cell(t)] for t in ACCOUNT_TYPES}

    def causes(self, row_key: str, column_key: str) -> list[Cause]:
        r = self.row(row_key)
        if row_key == "difference":
            return [c for c in r.explanation if c.column == column_key]
        return list(r.explanation) if column_key == "difference" else []

    def to_json(self) -> dict[str, Any]:
        rows = []
        for r in self.rows:
            cells = {c: (format_cents(v) if v else None) for c, v in r.cells.items()}
            rows.append({"key": r.key, "name": r.name, "cells": cells,
                         "warning": r.warning.short_json() if r.warning else None,
                         "explanation": [c.to_json() for c in r.explanation]})
        return {
            "filters": {**self.filters.to_json(), "show_warning": self.show_warning,
                        "include_closing": self.filters.include_closing},
            "columns": list(COLUMN_KEYS),
            "rows": rows,
            "warnings": [w.to_json() for w in self.warnings],
            "invariants": [i.to_json() for i in self.invariants],
            "unattributed_gl": {t: format_cents(v) for t, v in self.unattributed_gl.items() if v},
            "per_account": [a.to_json() for a in self.per_account],
        }


# --------------------------------------------------------------------------------------------
# Computation

@dataclass
class ItemSide:
    cells: dict[tuple[str, str], int]
    type_amounts: dict[str, int]            # account type -> item-side amount (A + E)
    type_parts: dict[tuple[str, str], int]  # (type, 'A'|'E') -> amount
    posted_parts: dict[tuple[str, str], int]


def project_groups(groups: Iterable[ItemGroup]) -> ItemSide:
    cells: dict[tuple[str, str], int] = defaultdict(int)
    types: dict[str, int] = defaultdict(int)
    parts: dict[tuple[str, str], int] = defaultdict(int)
    posted: dict[tuple[str, str], int] = defaultdict(int)
    for g in groups:
        for leg in legs(g.ile, g.et, g.vt, g.asm):
            x = g.actual if leg.part == "A" else g.expected
            px = g.posted_actual if leg.part == "A" else g.posted_expected
            for r, c, v in leg_cells(leg, x):
                cells[(r, c)] += v
            for t, v in leg_types(leg, x):
                types[t] += v
                parts[(t, leg.part)] += v
            for t, v in leg_types(leg, px):
                posted[(t, leg.part)] += v
    return ItemSide(cells, types, parts, posted)


def _gl_side(db: Database, filters: LedgerFilter, setup: Setup,
             pieces: list[PieceGroup] | None) -> tuple[dict[str, int], dict[str, int]]:
    """(G/L amount per account type, unattributed unlinked amount per type)."""
    all_accts = {a for t in ACCOUNT_TYPES for a in setup.type_accounts[t]}
    if not filters.has_item_or_location:
        sums = gl_account_sums(db, filters, all_accts)
        return ({t: sum(sums.get(a, 0) for a in setup.type_accounts[t]) for t in ACCOUNT_TYPES}, {})
    assert pieces is not None
    by_acct: dict[str | None, int] = defaultdict(int)
    for p in pieces:
        if p.gin:
            by_acct[p.account] += p.amount
    unl = unlinked_gl_sums(db, filters, all_accts)
    un_by_acct: dict[str, int] = defaultdict(int)
    for (a, _closing), v in unl.items():
        un_by_acct[a] += v
    return ({t: sum(by_acct.get(a, 0) for a in setup.type_accounts[t]) for t in ACCOUNT_TYPES},
            {t: sum(un_by_acct.get(a, 0) for a in setup.type_accounts[t]) for t in ACCOUNT_TYPES})


def _build_amounts(item: ItemSide, gl: dict[str, int]) -> dict[tuple[str, str], int]:
    amounts: dict[tuple[str, str], int] = {}
    for r in ROW_KEYS:
        for c in COLUMN_KEYS:
            if not is_blank_by_design(r, c):
                amounts[(r, c)] = 0
    for (r, c), v in item.cells.items():
        if (r, c) in amounts:
            amounts[(r, c)] += v
    for r in CONTRA_TYPES:
        amounts[(r, "total")] = sum(amounts.get((r, c), 0) for c in INVENTORY_TYPES)
    for t in ACCOUNT_TYPES:
        item_amt = amounts[("total", t)] if t in INVENTORY_TYPES else amounts[(t, "total")]
        amounts[gl_total_cell(t)] = gl[t]
        amounts[difference_cell(t)] = gl[t] - item_amt
    return amounts


def _invariants(amounts: dict[tuple[str, str], int], item: ItemSide) -> list[InvariantCheck]:
    out = []
    for c in INVENTORY_TYPES:
        s = sum(amounts.get((r, c), 0) for r in ROW_KEYS if r not in ("gl_total", "difference"))
        out.append(InvariantCheck(
            f"column {COLUMN_NAMES[c]}: Total + contra rows = 0", c, s, s == 0,
            "" if s == 0 else "value entries with a combination the posting engine cannot post "
            "(no contra account) or a one-sided projection are in the filter"))
    item_all = sum(item.type_amounts.values())
    out.append(InvariantCheck("item side balanced: sum over all account types = 0", None,
                              item_all, item_all == 0))
    return out


@snapshot_reader
def compute_matrix(db: Database, filters: LedgerFilter | None = None, *,
                   show_warning: bool = False, explain: bool = True,
                   per_account: bool = False) -> Matrix:
    """The reconciliation matrix with explanations (and warnings when ``show_warning``)."""
    from invrecon import explanations, reconciliation_warnings

    filters = filters or LedgerFilter()
    setup = load_setup(db)
    groups = item_side_groups(db, filters)
    item = project_groups(groups)
    pieces: list[PieceGroup] | None = None
    if filters.has_item_or_location:
        pieces = relation_piece_groups(db, filters)
    gl, unattributed = _gl_side(db, filters, setup, pieces)
    amounts = _build_amounts(item, gl)
    explained: dict[str, list[Cause]] = {}
    ctx = None
    if explain and any(amounts[difference_cell(t)] for t in ACCOUNT_TYPES):
        if pieces is None:
            pieces = relation_piece_groups(db, filters)
        ctx = explanations.ExplainContext(db, filters, setup, item, gl, pieces, amounts)
        explained = explanations.explain(ctx)
    rows: list[MatrixRow] = []
    for r in ROW_KEYS:
        cells = {c: amounts.get((r, c)) for c in COLUMN_KEYS if not is_blank_by_design(r, c)}
        expl: list[Cause] = []
        if r == "difference":
            for t in INVENTORY_TYPES:
                for cause in explained.get(t, []):
                    cause.column = t
                    expl.append(cause)
        elif r in CONTRA_TYPES:
            expl = explained.get(r, [])
        rows.append(MatrixRow(r, ROW_NAMES[r], cells, None, expl))
    m = Matrix(filters, show_warning, rows, [], _invariants(amounts, item), amounts,
               unattributed, [])
    if show_warning:
        m.warnings = reconciliation_warnings.compute_warnings(db, m, setup, groups, explained)
        for row in m.rows:
            row.warning = reconciliation_warnings.row_warning(m.warnings, row.key)
    if per_account:
        m.per_account = _per_account(db, filters, setup, groups, pieces)
    return m


def projected_by_account(setup: Setup, groups: Iterable[ItemGroup]
                         ) -> tuple[dict[str | None, int], dict[str | None, int],
                                    dict[tuple[str, str], int]]:
    """(projected, projected posted) per resolved account (None = unresolvable), and the
    unresolvable amounts per (account type, problem)."""
    proj: dict[str | None, int] = defaultdict(int)
    posted: dict[str | None, int] = defaultdict(int)
    problems: dict[tuple[str, str], int] = defaultdict(int)
    for g in groups:
        for leg in legs(g.ile, g.et, g.vt, g.asm):
            x = g.actual if leg.part == "A" else g.expected
            px = g.posted_actual if leg.part == "A" else g.posted_expected
            for (t, v), (_, pv) in zip(leg_types(leg, x), leg_types(leg, px), strict=True):
                acct, problem = setup.resolve(t, g.key)
                proj[acct] += v
                posted[acct] += pv
                if problem and (v or g.count):
                    problems[(t, problem)] += v
    return proj, posted, problems


def _per_account(db: Database, filters: LedgerFilter, setup: Setup, groups: list[ItemGroup],
                 pieces: list[PieceGroup] | None) -> list[AccountLine]:
    proj, posted, _ = projected_by_account(setup, groups)
    accts = {a for t in ACCOUNT_TYPES for a in setup.type_accounts[t]} | {a for a in proj if a}
    if filters.has_item_or_location:
        actual: dict[str | None, int] = defaultdict(int)
        for p in pieces or []:
            if p.gin:
                actual[p.account] += p.amount
    else:
        actual = defaultdict(int, gl_account_sums(db, filters, accts))
    out = []
    for a in sorted(accts, key=lambda x: x or ""):
        types = setup.account_types(a)
        pr, ps, ac = proj.get(a, 0), posted.get(a, 0), actual.get(a, 0)
        if pr or ps or ac or types:
            name = setup.accounts.get(a, {}).get("name", "") if a else ""
            out.append(AccountLine(a, name, types, pr, ps, ac, ac - pr))
    return out


@snapshot_reader
def per_account_view(db: Database, filters: LedgerFilter | None = None) -> list[AccountLine]:
    """Projected (through the current setup) vs actual G/L per concrete G/L account."""
    filters = filters or LedgerFilter()
    setup = load_setup(db)
    groups = item_side_groups(db, filters)
    pieces = relation_piece_groups(db, filters) if filters.has_item_or_location else None
    return _per_account(db, filters, setup, groups, pieces)
