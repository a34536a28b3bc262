"""Why a Difference cell is not zero: named causes whose amounts add up to it exactly.

For an account type t (one Difference cell), with I = item side, G = G/L side, P = the item side
projected with the *posted* amounts (Cost Posted to G/L, Expected Cost Posted to G/L), S(t) = the
accounts the current setup maps to t, and the linked G/L amounts split into *pieces* (one per
relation row, see ``reconciliation.PIECES_CTE``), each typed tau = the account type it was posted
as (``reconciliation.piece_type``):

    D = G - I
      = (P_A - I_A)                                   not_posted_actual
      + (P_E - I_E)                                   not_posted_expected / expected_cost_posting_off
      + unlinked G/L on S(t), not closing             unlinked_gl
      + unlinked G/L on S(t), closing date            closing_entries
      + sum pieces on S(t), tau = t, (g_in - v_in)     posting_date_outside
      + sum pieces on S(t), tau != t, g_in
            account also mapped to tau               shared_account
            account not mapped to tau                setup_changed
      - sum pieces not on S(t), tau = t, v_in
            account blank (deleted)                  deleted_account
            other account                            setup_changed
      + remainder                                     unexplained

The identity holds term by term (the remainder is sum pieces tau = t, v_in - P plus pieces whose
type cannot be told), so the causes add up to the difference to the cent by construction; the
remainder is reported only when it is not zero. With an item/location filter, G is the
attributed linked amount and the unlinked terms are left out (they are "not attributable").
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from invrecon.filters import LedgerFilter
from invrecon.reconciliation import (
    ACCOUNT_TYPES,
    PIECE_KEY_COLUMNS,
    Cause,
    ItemSide,
    PieceGroup,
    Setup,
    difference_cell,
    legs,
    piece_type,
    pieces_sql,
    pieces_sql_where,
    unlinked_gl_sums,
    value_entry_where,
)

CAUSE_TITLES: dict[str, str] = {
    "not_posted_actual": "Cost not yet posted to G/L (actual)",
    "not_posted_expected": "Expected cost not yet posted to G/L",
    "expected_cost_posting_off": "Expected cost posting to G/L is off (by design)",
    "unlinked_gl": "G/L entries with no link to any value entry (direct or manual postings)",
    "closing_entries": "Closing-date G/L entries (year-end close)",
    "posting_date_outside": "Linked G/L entries dated on the other side of the date filter",
    "shared_account": "Account also used for another account type",
    "setup_changed": "Linked G/L entries on an account the current setup does not map (setup changed)",
    "deleted_account": "Linked G/L entries on a deleted account (blank account no.)",
    "unexplained": "Unexplained remainder",
}
CAUSE_ORDER = tuple(CAUSE_TITLES)
CAUSE_KIND = {
    "not_posted_actual": "value_entry", "not_posted_expected": "value_entry",
    "expected_cost_posting_off": "value_entry", "unexplained": "value_entry",
}


@dataclass
class ExplainContext:
    db: Database
    filters: LedgerFilter
    setup: Setup
    item: ItemSide
    gl: dict[str, int]
    pieces: list[PieceGroup]
    amounts: dict[tuple[str, str], int]


def classify_pieces(ctx_setup: Setup, pieces: list[PieceGroup], t: str,
                    taus: list[str | None] | None = None
                    ) -> dict[str, list[tuple[PieceGroup, int]]]:
    """Piece groups that make up each piece-based cause of type t, with their sign (+1 / -1).
    ``taus``: the pieces' types (``piece_type``) when already known."""
    s_t = set(ctx_setup.type_accounts[t])
    out: dict[str, list[tuple[PieceGroup, int]]] = defaultdict(list)
    if taus is None:
        taus = [piece_type(p, ctx_setup) for p in pieces]
    for p, tau in zip(pieces, taus, strict=True):
        on = p.account in s_t
        if on and tau == t and p.gin != p.vin:
            out["posting_date_outside"].append((p, 1 if p.gin else -1))
        elif on and tau != t and tau is not None and p.gin:
            shared = p.account in ctx_setup.type_accounts[tau]
            out["shared_account" if shared else "setup_changed"].append((p, 1))
        elif not on and tau == t and p.vin:
            out["deleted_account" if p.account is None else "setup_changed"].append((p, -1))
    return out


def explain(ctx: ExplainContext) -> dict[str, list[Cause]]:
    """Account type -> its causes, for every type whose Difference cell is not zero."""
    filtered = ctx.filters.has_item_or_location
    unl: dict[tuple[str, int], int] = {}
    if not filtered:
        all_accts = {a for t in ACCOUNT_TYPES for a in ctx.setup.type_accounts[t]}
        unl = unlinked_gl_sums(ctx.db, ctx.filters, all_accts)
    out: dict[str, list[Cause]] = {}
    taus = [piece_type(p, ctx.setup) for p in ctx.pieces]
    for t in ACCOUNT_TYPES:
        diff = ctx.amounts[difference_cell(t)]
        if not diff:
            continue
        amounts: dict[str, int] = defaultdict(int)
        amounts["not_posted_actual"] = (ctx.item.posted_parts.get((t, "A"), 0)
                                        - ctx.item.type_parts.get((t, "A"), 0))
        e_gap = ctx.item.posted_parts.get((t, "E"), 0) - ctx.item.type_parts.get((t, "E"), 0)
        amounts["not_posted_expected" if ctx.setup.expected_cost_posting
                else "expected_cost_posting_off"] = e_gap
        if not filtered:
            for a in ctx.setup.type_accounts[t]:
                amounts["unlinked_gl"] += unl.get((a, 0), 0)
                amounts["closing_entries"] += unl.get((a, 1), 0)
        for cause, groups in classify_pieces(ctx.setup, ctx.pieces, t, taus).items():
            amounts[cause] += sum(sign * p.amount for p, sign in groups)
        amounts["unexplained"] = diff - sum(v for k, v in amounts.items() if k != "unexplained")
        row, col = difference_cell(t)
        causes = []
        for code in CAUSE_ORDER:
            v = amounts.get(code, 0)
            if v:
                causes.append(Cause(code, CAUSE_TITLES[code], v, {
                    "kind": CAUSE_KIND.get(code, "gl_entry"), "row": row, "column": col,
                    "cause": code}))
        assert sum(c.amount for c in causes) == diff
        out[t] = causes
    return out


# --------------------------------------------------------------------------------------------
# Drilling a cause to its entries

@functools.lru_cache(maxsize=256)
def class_coefficients(t: str, part: str | None) -> list[tuple[str, str, str, int, int, int]]:
    """(ile, et, vt, asm, kA, kE) for every classification with a leg on type t: the entry's
    contribution to t is kA * actual + kE * expected."""
    from invrecon.enums import EntryType, ItemLedgerEntryType, VarianceType

    out = []
    for ile in ItemLedgerEntryType:
        for et in EntryType:
            for vt in VarianceType:
                for asm in (0, 1):
                    if asm and ile.value != "":
                        continue
                    k = {"A": 0, "E": 0}
                    for leg in legs(ile.value, et.value, vt.value, bool(asm)):
                        if part and leg.part != part:
                            continue
                        if leg.debit == t:
                            k[leg.part] += 1
                        if leg.credit == t:
                            k[leg.part] -= 1
                    if k["A"] or k["E"]:
                        out.append((ile.value, et.value, vt.value, asm, k["A"], k["E"]))
    return out


def _values_cte(name: str, cols: tuple[str, ...], rows: list[tuple[Any, ...]]
                ) -> tuple[str, list[object]]:
    if not rows:
        rows = [tuple([None] * len(cols))]
        where_none = True
    else:
        where_none = False
    ph = "(" + ",".join("?" * len(cols)) + ")"
    sql = (f"{name}({', '.join(cols)}) AS (SELECT * FROM (VALUES {', '.join([ph] * len(rows))})"
           + (" WHERE 0" if where_none else "") + ")")
    return sql, [v for r in rows for v in r]


VALUE_ENTRY_FIELDS = ("ve.entry_no, ve.posting_date, ve.document_no, ve.item_no, ve.location_code, "
                      "ve.item_ledger_entry_type, ve.entry_type, ve.variance_type, ve.order_type, "
                      "ve.cost_amount_actual, ve.cost_amount_expected, ve.cost_posted_to_gl, "
                      "ve.expected_cost_posted_to_gl")
GL_ENTRY_FIELDS = ("e.entry_no, e.posting_date, e.closing, e.document_no, e.gl_account_no, "
                   "e.description, e.source_code, e.amount AS gl_amount")


@dataclass
class EntryQuery:
    """A paged SQL query over entries: ``sql`` selects rows with an ``amount`` column;
    ``order`` is the ORDER BY; ``count_sql`` counts them."""

    kind: str
    with_sql: str
    select_sql: str
    params: list[object]
    order: str
    count: Callable[[], int | None] | None = None  # a faster exact count (pre-aggregates)

    def page(self, db: Database, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        base = f"{self.with_sql} {self.select_sql}"
        total = self.count() if self.count is not None else None
        if total is None:
            total = db.execute(f"{self.with_sql} SELECT count(*) FROM ({self.select_sql})",
                               self.params).fetchone()[0]
        cur = db.execute(f"{base} ORDER BY {self.order} LIMIT ? OFFSET ?",
                         [*self.params, limit, offset])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()], total

    def total_amount(self, db: Database) -> int:
        return db.execute(f"{self.with_sql} SELECT coalesce(sum(amount), 0) FROM ({self.select_sql})",
                          self.params).fetchone()[0]


def cause_query(db: Database, filters: LedgerFilter, setup: Setup, t: str, cause: str,
                pieces: list[PieceGroup] | None = None, no: str | None = None) -> EntryQuery:
    """The entries behind one cause of account type t (amounts signed as in the cause)."""
    from invrecon.reconciliation import relation_piece_groups

    if cause in ("not_posted_actual", "not_posted_expected", "expected_cost_posting_off"):
        part = "A" if cause == "not_posted_actual" else "E"
        amt, posted = (("cost_amount_actual", "cost_posted_to_gl") if part == "A"
                       else ("cost_amount_expected", "expected_cost_posted_to_gl"))
        cte, cp = _values_cte("cls", ("ile", "et", "vt", "asm", "ka", "ke"),
                              class_coefficients(t, part))
        w = value_entry_where(db, filters)
        k = "cls.ka" if part == "A" else "cls.ke"
        extra, ep = ("", [])
        if no:
            extra, ep = " AND ve.item_no IS ?", [no or None]
        sel = (f"SELECT {VALUE_ENTRY_FIELDS}, {k} * (ve.{posted} - ve.{amt}) AS amount "
               f"FROM value_entry ve JOIN cls ON cls.ile = ve.item_ledger_entry_type "
               f"AND cls.et = ve.entry_type AND cls.vt = ve.variance_type AND cls.asm = "
               f"(ve.item_ledger_entry_type = '' AND ve.order_type = 'Assembly') "
               f"WHERE {w.sql} AND ve.{amt} <> ve.{posted} AND {k} <> 0{extra}")
        return EntryQuery("value_entry", f"WITH {cte}", sel, [*cp, *w.params, *ep], "ve.entry_no")
    if cause in ("unlinked_gl", "closing_entries"):
        accts = [a for a in setup.type_accounts[t] if not no or a == no]
        g = filters.gl_entry_date_sql("e")
        ph = ",".join("?" * len(accts)) or "NULL"
        sel = (f"SELECT {GL_ENTRY_FIELDS}, e.amount AS amount FROM gl_entry e "
               f"WHERE e.gl_account_no IN ({ph}) AND {g.sql} AND e.closing = ? AND NOT EXISTS "
               f"(SELECT 1 FROM gl_item_ledger_relation r WHERE r.gl_entry_no = e.entry_no)")
        return EntryQuery("gl_entry", "", sel, [*accts, *g.params,
                                                int(cause == "closing_entries")], "e.entry_no")
    if cause == "unexplained":
        cte, cp = _values_cte("cls", ("ile", "et", "vt", "asm", "ka", "ke"),
                              class_coefficients(t, None))
        w = value_entry_where(db, filters)
        sel = (f"SELECT {VALUE_ENTRY_FIELDS}, "
               f"-(cls.ka * ve.cost_posted_to_gl + cls.ke * ve.expected_cost_posted_to_gl) AS amount "
               f"FROM value_entry ve JOIN cls ON cls.ile = ve.item_ledger_entry_type "
               f"AND cls.et = ve.entry_type AND cls.vt = ve.variance_type AND cls.asm = "
               f"(ve.item_ledger_entry_type = '' AND ve.order_type = 'Assembly') "
               f"WHERE {w.sql} AND (cls.ka * ve.cost_posted_to_gl + cls.ke * "
               f"ve.expected_cost_posted_to_gl) <> 0 AND NOT EXISTS "
               f"(SELECT 1 FROM gl_item_ledger_relation r WHERE r.value_entry_no = ve.entry_no)")
        return EntryQuery("value_entry", f"WITH {cte}", sel, [*cp, *w.params], "ve.entry_no")
    # piece-based causes
    if pieces is None:
        pieces = relation_piece_groups(db, filters)
    groups = classify_pieces(setup, pieces, t).get(cause, [])
    cols = tuple(f"c{i}" for i in range(len(PIECE_KEY_COLUMNS))) + ("sign",)
    rows = [(*p.sql_key(), sign) for p, sign in groups if not no or p.account == no]
    cte, cp = _values_cte("sel", cols, rows)
    with_sql, keys, kp = pieces_sql(filters)
    where_sql, wp = pieces_sql_where(db, filters)
    join = " AND ".join(f"q.{k} IS sel.c{i}" for i, k in enumerate(PIECE_KEY_COLUMNS))
    sel = (f"SELECT q.entry_no, q.posting_date, q.closing, q.document_no, q.gl_account_no, "
           f"q.description, q.source_code, q.gl_amount, q.value_entry_no, "
           f"q.value_entry_posting_date, sel.sign * q.share AS amount FROM "
           f"(SELECT {keys}, {GL_ENTRY_FIELDS.replace('e.closing, ', '')}, "
           f"ve.entry_no AS value_entry_no, ve.posting_date AS value_entry_posting_date, "
           f"p.share AS share {where_sql}) q JOIN sel ON {join}")
    return EntryQuery("gl_entry", f"{with_sql}, {cte}", sel, [*cp, *kp, *wp],
                      "entry_no, value_entry_no")
