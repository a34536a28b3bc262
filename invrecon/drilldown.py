"""Drill-down on every matrix cell, Difference included: cell -> per-item or per-account sums ->
the entries (paged in SQL, ORDER BY entry no.) -> one entry with what it links to."""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from invrecon.errors import InputError
from invrecon.explanations import (
    GL_ENTRY_FIELDS,
    VALUE_ENTRY_FIELDS,
    EntryQuery,
    _values_cte,
    cause_query,
)
from invrecon.filters import LedgerFilter
from invrecon.ledger import snapshot_reader
from invrecon.money import format_cents
from invrecon.reconciliation import (
    COLUMN_KEYS,
    INVENTORY_TYPES,
    ROW_KEYS,
    Cause,
    cell_account_type,
    class_nonzero_counts,
    compute_matrix,
    is_blank_by_design,
    item_side_groups,
    leg_cells,
    legs,
    load_setup,
    pieces_sql,
    pieces_sql_where,
    project_groups,
    relation_piece_groups,
    use_preaggregates,
)

MONEY_KEYS = ("amount", "gl_amount", "cost_amount_actual", "cost_amount_expected",
              "cost_posted_to_gl", "expected_cost_posted_to_gl", "share")


def _money_json(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (format_cents(v) if k in MONEY_KEYS and isinstance(v, int) else v)
            for k, v in row.items()}


@dataclass
class DrillLine:
    type: str            # "item" | "gl_account"
    no: str
    description: str
    amount: int

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "no": self.no, "description": self.description,
                "amount": format_cents(self.amount)}


@dataclass
class DrillResult:
    row: str
    column: str
    filters: LedgerFilter
    lines: list[DrillLine]
    total: int
    causes: list[Cause] = field(default_factory=list)
    unattributed_gl: int = 0

    @property
    def entries_query(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, **self.filters.to_json(),
                "include_closing": self.filters.include_closing,
                "command": f"invrecon drill --row {self.row} --column {self.column} --entries"}

    def to_json(self) -> dict[str, Any]:
        d = {"row": self.row, "column": self.column,
             "filters": {**self.filters.to_json(), "include_closing": self.filters.include_closing},
             "lines": [ln.to_json() for ln in self.lines], "total": format_cents(self.total),
             "entries_query": self.entries_query,
             "explanation": [c.to_json() for c in self.causes]}
        if self.unattributed_gl:
            d["unattributed_gl"] = format_cents(self.unattributed_gl)
        return d


@dataclass
class EntryPage:
    kind: str            # "value_entry" | "gl_entry"
    rows: list[dict[str, Any]]
    total_count: int
    limit: int
    offset: int

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "rows": [_money_json(r) for r in self.rows],
                "total_count": self.total_count, "limit": self.limit, "offset": self.offset}


def _check_cell(row: str, column: str) -> None:
    if row not in ROW_KEYS:
        raise InputError(f"unknown row '{row}'; rows: {', '.join(ROW_KEYS)}")
    if column not in COLUMN_KEYS:
        raise InputError(f"unknown column '{column}'; columns: {', '.join(COLUMN_KEYS)}")


def _side(row: str, column: str) -> str:
    if "gl_total" in (row, column):
        return "gl"
    if "difference" in (row, column):
        return "difference"
    return "item"


def _item_cell(cells: dict[tuple[str, str], int], row: str, column: str) -> int:
    if column == "total":
        return sum(cells.get((row, c), 0) for c in INVENTORY_TYPES)
    return cells.get((row, column), 0)


def _item_lines(db: Database, filters: LedgerFilter, row: str, column: str) -> list[DrillLine]:
    groups = item_side_groups(db, filters, by_item=True)
    per_item: dict[str | None, list] = defaultdict(list)
    for g in groups:
        per_item[g.item_no].append(g)
    desc = {r[0]: r[1] for r in db.execute("SELECT no, description FROM item")}
    out = []
    for no in sorted(per_item, key=lambda x: x or ""):
        v = _item_cell(project_groups(per_item[no]).cells, row, column)
        if v:
            out.append(DrillLine("item", no or "", desc.get(no, "") if no else "(capacity)", v))
    return out


def _gl_lines(db: Database, filters: LedgerFilter, t: str) -> tuple[list[DrillLine], int]:
    setup = load_setup(db)
    accts = setup.type_accounts[t]
    unattributed = 0
    if filters.has_item_or_location:
        sums: dict[str | None, int] = defaultdict(int)
        for p in relation_piece_groups(db, filters):
            if p.gin and p.account in accts:
                sums[p.account] += p.amount
        from invrecon.reconciliation import unlinked_gl_sums
        unattributed = sum(v for (a, _), v in unlinked_gl_sums(db, filters, accts).items())
    else:
        from invrecon.reconciliation import gl_account_sums
        sums = defaultdict(int, gl_account_sums(db, filters, accts))
    lines = [DrillLine("gl_account", a, setup.accounts[a]["name"], sums[a])
             for a in accts if sums.get(a)]
    return lines, unattributed


@snapshot_reader
def drill_lines(db: Database, row: str, column: str,
                filters: LedgerFilter | None = None) -> DrillResult:
    """Per-item sums (inventory side) or per-account sums (G/L side) behind one cell. A
    Difference cell gives both: G/L accounts with their amounts and items with minus theirs,
    so the lines add up to the difference; its causes come along."""
    _check_cell(row, column)
    filters = filters or LedgerFilter()
    if is_blank_by_design(row, column):
        return DrillResult(row, column, filters, [], 0)
    side = _side(row, column)
    t = cell_account_type(row, column)
    if side == "item":
        item_row = row
        lines = _item_lines(db, filters, item_row, column)
        return DrillResult(row, column, filters, lines, sum(ln.amount for ln in lines))
    assert t is not None
    gl_lines, unattributed = _gl_lines(db, filters, t)
    if side == "gl":
        return DrillResult(row, column, filters, gl_lines, sum(ln.amount for ln in gl_lines),
                           unattributed_gl=unattributed)
    item_row, item_col = ("total", t) if t in INVENTORY_TYPES else (t, "total")
    item_lines = [DrillLine(ln.type, ln.no, ln.description, -ln.amount)
                  for ln in _item_lines(db, filters, item_row, item_col)]
    m = compute_matrix(db, filters)
    lines = gl_lines + item_lines
    return DrillResult(row, column, filters, lines, sum(ln.amount for ln in lines),
                       m.causes(row, column), unattributed)


@functools.lru_cache(maxsize=256)
def _cell_coefficients(row: str, column: str) -> list[tuple[str, str, str, int, int, int]]:
    """(ile, et, vt, asm, kA, kE): an entry's contribution to an item-side cell."""
    from invrecon.enums import EntryType, ItemLedgerEntryType, VarianceType

    out = []
    seen: dict[tuple, tuple[int, int]] = {}  # legs (cached tuples) -> (kA, kE)
    for ile in ItemLedgerEntryType:
        for et in EntryType:
            for vt in VarianceType:
                for asm in (0, 1):
                    if asm and ile.value != "":
                        continue
                    ls = legs(ile.value, et.value, vt.value, bool(asm))
                    if ls not in seen:
                        k = {"A": 0, "E": 0}
                        for leg in ls:
                            cells: dict[tuple[str, str], int] = defaultdict(int)
                            for r, c, v in leg_cells(leg, 1):
                                cells[(r, c)] += v
                            k[leg.part] += _item_cell(cells, row, column)
                        seen[ls] = (k["A"], k["E"])
                    ka, ke = seen[ls]
                    if ka or ke:
                        out.append((ile.value, et.value, vt.value, asm, ka, ke))
    return out


def _item_query(db: Database, filters: LedgerFilter, row: str, column: str,
                no: str | None, *, sign: int = 1) -> EntryQuery:
    from invrecon.reconciliation import value_entry_where

    cte, cp = _values_cte("cls", ("ile", "et", "vt", "asm", "ka", "ke"),
                          _cell_coefficients(row, column))
    w = value_entry_where(db, filters)
    amount = f"{int(sign)} * (cls.ka * ve.cost_amount_actual + cls.ke * ve.cost_amount_expected)"
    extra, ep = ("", [])
    if no is not None:
        extra, ep = " AND ve.item_no IS ?", [no or None]
    join = "JOIN"
    if no is None and not filters.item:
        # Read the value entries in entry no. order (the page order) so that a page stops early;
        # a date filter bounds the entry nos. through the date index first.
        join = "CROSS JOIN"
        d = LedgerFilter(date_from=filters.date_from, date_to=filters.date_to
                         ).value_entry_sql("b")
        if d.params:
            extra += (f" AND ve.entry_no BETWEEN (SELECT coalesce(min(b.entry_no), 0) FROM "
                      f"value_entry b WHERE {d.sql}) AND (SELECT coalesce(max(b.entry_no), 0) "
                      f"FROM value_entry b WHERE {d.sql})")
            ep += [*d.params, *d.params]
    sel = (f"SELECT {VALUE_ENTRY_FIELDS}, {amount} AS amount FROM value_entry ve {join} cls "
           f"ON cls.ile = ve.item_ledger_entry_type AND cls.et = ve.entry_type AND "
           f"cls.vt = ve.variance_type AND cls.asm = (ve.item_ledger_entry_type = '' AND "
           f"ve.order_type = 'Assembly') WHERE {w.sql} AND {amount} <> 0{extra}")
    coeffs = _cell_coefficients(row, column)

    def count() -> int | None:
        if no is not None:
            return None
        counts = class_nonzero_counts(db, filters)
        if counts is None:
            return None
        total = 0
        for ile, et, vt, asm, ka, ke in coeffs:
            n = counts.get((ile, et, vt, asm))
            if not n:
                continue
            if ke == 0:
                total += n[0]
            elif ka == 0:
                total += n[1]
            elif ka == ke:
                total += n[2]
            elif ka == -ke:
                total += n[3]
            else:
                return None
        return total

    return EntryQuery("value_entry", f"WITH {cte}", sel, [*cp, *w.params, *ep], "ve.entry_no",
                      count)


def _gl_query(db: Database, filters: LedgerFilter, t: str, no: str | None) -> EntryQuery:
    setup = load_setup(db)
    accts = [a for a in setup.type_accounts[t] if no is None or a == no]
    ph = ",".join("?" * len(accts)) or "NULL"
    if not filters.has_item_or_location:
        g = filters.gl_entry_date_sql("e")
        sel = (f"SELECT {GL_ENTRY_FIELDS}, e.amount AS amount FROM gl_entry e "
               f"WHERE e.gl_account_no IN ({ph}) AND {g.sql}")
        return EntryQuery("gl_entry", "", sel, [*accts, *g.params], "e.entry_no")
    if use_preaggregates(db):  # the relation rows of the filtered value entries (indexed)
        from invrecon.reconciliation import FAST_SHARE_SQL, fast_pieces_sql, inventory_item_sql

        il = LedgerFilter(item=filters.item, location=filters.location).value_entry_sql("ve")
        with_sql, _keys, frm, kp = fast_pieces_sql(filters, il.sql + inventory_item_sql(db, "ve"))
        g = filters.gl_entry_date_sql("e")
        sel = (f"SELECT {GL_ENTRY_FIELDS}, ve.entry_no AS value_entry_no, {FAST_SHARE_SQL} AS "
               f"amount {frm} AND e.gl_account_no IN ({ph}) AND {g.sql}")
        return EntryQuery("gl_entry", with_sql, sel, [*kp, *il.params, *accts, *g.params],
                          "e.entry_no, value_entry_no")
    with_sql, _keys, _kp = pieces_sql(filters)
    where_sql, wp = pieces_sql_where(db, filters)
    g = filters.gl_entry_date_sql("e")
    sel = (f"SELECT {GL_ENTRY_FIELDS}, ve.entry_no AS value_entry_no, p.share AS amount "
           f"{where_sql} AND e.gl_account_no IN ({ph}) AND {g.sql}")
    return EntryQuery("gl_entry", with_sql, sel, [*wp, *accts, *g.params],
                      "e.entry_no, value_entry_no")


@snapshot_reader
def drill_entries(db: Database, row: str, column: str, filters: LedgerFilter | None = None, *,
                  no: str | None = None, cause: str | None = None, side: str | None = None,
                  limit: int = 500, offset: int = 0) -> EntryPage:
    """The entries behind a cell (or one of its lines with ``no``, or one cause with ``cause``),
    paged in SQL by entry no. Each row's ``amount`` is its contribution to the cell.

    A Difference cell lists its G/L entries (``side='gl'``, the default, or ``no`` = an account)
    or its value entries (``side='item'`` or ``no`` = an item) with minus their amounts."""
    _check_cell(row, column)
    filters = filters or LedgerFilter()
    if limit < 1 or offset < 0:
        raise InputError("--limit must be at least 1 and --offset not negative")
    t = cell_account_type(row, column)
    if cause:
        if t is None or "difference" not in (row, column):
            raise InputError("causes exist only on Difference cells")
        q = cause_query(db, filters, load_setup(db), t, cause, no=no)
    elif is_blank_by_design(row, column):
        return EntryPage("value_entry", [], 0, limit, offset)
    else:
        s = _side(row, column)
        if s == "difference":
            setup = load_setup(db)
            if side is None:
                side = "gl" if no is None or no in setup.type_accounts[t or ""] else "item"
            s = side
        if s == "gl":
            assert t is not None
            q = _gl_query(db, filters, t, no)
        else:
            r, c = row, column
            sign = 1
            if "difference" in (row, column):
                assert t is not None
                r, c = ("total", t) if t in INVENTORY_TYPES else (t, "total")
                sign = -1
            q = _item_query(db, filters, r, c, no, sign=sign)
    rows, total = q.page(db, limit, offset)
    return EntryPage(q.kind, rows, total, limit, offset)


# kind -> (label, SQL of the linked entries through the G/L - item ledger relation, result key)
_ENTRY_LINKS = {
    "value_entry": (
        "value entry",
        "SELECT e.entry_no, e.gl_account_no, e.posting_date, e.closing, e.document_no, "
        "e.description, e.amount, r.gl_register_no FROM gl_item_ledger_relation r "
        "JOIN gl_entry e ON e.entry_no = r.gl_entry_no WHERE r.value_entry_no = ? "
        "ORDER BY e.entry_no",
        "gl_entries",
    ),
    "gl_entry": (
        "G/L entry",
        "SELECT ve.entry_no, ve.item_no, ve.posting_date, ve.item_ledger_entry_type, "
        "ve.entry_type, ve.document_no, ve.location_code, ve.cost_amount_actual, "
        "ve.cost_amount_expected, ve.cost_posted_to_gl, ve.expected_cost_posted_to_gl "
        "FROM gl_item_ledger_relation r JOIN value_entry ve ON ve.entry_no = r.value_entry_no "
        "WHERE r.gl_entry_no = ? ORDER BY ve.entry_no",
        "value_entries",
    ),
}


def _rows(cur: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, x, strict=True)) for x in cur.fetchall()]


@snapshot_reader
def entry_detail(db: Database, kind: str, entry_no: int) -> dict[str, Any]:
    """One entry with what it links to: a value entry with its G/L entries, a G/L entry with its
    value entries (through the G/L - item ledger relation)."""
    if kind not in _ENTRY_LINKS:
        raise InputError(f"unknown entry kind '{kind}' (value_entry or gl_entry)")
    label, links_sql, links_key = _ENTRY_LINKS[kind]
    found = _rows(db.execute(f"SELECT * FROM {kind} WHERE entry_no = ?", [entry_no]))
    if not found:
        raise InputError(f"{label} {entry_no} does not exist")
    return {"kind": kind, "entry": found[0],
            links_key: _rows(db.execute(links_sql, [entry_no]))}


