"""Per-day pre-aggregates of the ledger, kept exact by SQLite triggers (issue 7).

Every write path (import, journal, posting, cost adjustment, sample, ad-hoc SQL) goes through
the triggers in the same transaction as the entries, so a killed or failed write rolls both back.

Tables (all STRICT, WITHOUT ROWID):

* ``agg_value_entry_day``: value entries per posting date, item ('' = none) and classification /
  setup key
  (item ledger entry type, entry type, variance type, assembly capacity, location, inventory /
  gen. bus. / gen. prod. posting group, WIP source item): sums of the four cost fields, the count
  and counts of non-zero amounts (drill-down page totals).
* ``agg_gl_entry_day``: G/L entries per account ('' = blank), posting date and closing flag:
  net amount and count, and the *unlinked* part (entries with no G/L - item ledger relation).
* ``agg_piece_day``: linked G/L amounts as *pieces* (``reconciliation.PIECES_CTE``) per G/L date,
  value-entry date, the value entry's classification / setup key, the G/L account, closing, and
  how the piece matches the value entry's posted amounts. A G/L entry linked to one value entry
  gives it its whole amount. A G/L entry linked to several (``agg_gl_multi``) is split by the
  posted amounts: when they add up to the G/L amount (case 'A' actual, 'E' expected) every piece
  is the value entry's own posted amount, which the triggers maintain per relation row; in any
  other case ('X', rare: an inconsistent posting or the middle of a posting transaction) its
  pieces are left out here and computed by the engine from the entries (``x_piece_sql``).

``rebuild(db)`` recomputes everything from the entries, ``check(db)`` compares, and
``bulk_load(db)`` drops the triggers for a bulk load and rebuilds at its end (same transaction).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

VE_DAY = "agg_value_entry_day"
GL_DAY = "agg_gl_entry_day"
PIECE_DAY = "agg_piece_day"
MULTI = "agg_gl_multi"
VE_TOTAL = "agg_value_entry_total"
PIECE_TOTAL = "agg_piece_total"
TABLES = (VE_DAY, GL_DAY, PIECE_DAY, MULTI, VE_TOTAL, PIECE_TOTAL)

_TABLES_SQL = f"""
CREATE TABLE {VE_DAY} (
    posting_date TEXT NOT NULL, item TEXT NOT NULL, ile TEXT NOT NULL, et TEXT NOT NULL, vt TEXT NOT NULL,
    asm INTEGER NOT NULL, loc TEXT NOT NULL, ipg TEXT NOT NULL, gbus TEXT NOT NULL,
    gprod TEXT NOT NULL, wip_source TEXT NOT NULL,
    actual INTEGER NOT NULL, expected INTEGER NOT NULL, posted_actual INTEGER NOT NULL,
    posted_expected INTEGER NOT NULL, n INTEGER NOT NULL,
    n_actual INTEGER NOT NULL, n_expected INTEGER NOT NULL, n_sum INTEGER NOT NULL,
    n_diff INTEGER NOT NULL,
    PRIMARY KEY (posting_date, item, ile, et, vt, asm, loc, ipg, gbus, gprod, wip_source)
) STRICT, WITHOUT ROWID;
CREATE TABLE {GL_DAY} (
    acct TEXT NOT NULL, posting_date TEXT NOT NULL, closing INTEGER NOT NULL,
    amount INTEGER NOT NULL, n INTEGER NOT NULL,
    unlinked_amount INTEGER NOT NULL, unlinked_n INTEGER NOT NULL,
    PRIMARY KEY (acct, posting_date, closing)
) STRICT, WITHOUT ROWID;
CREATE INDEX {GL_DAY}_date ON {GL_DAY} (posting_date);
CREATE TABLE {PIECE_DAY} (
    gl_date TEXT NOT NULL, ve_date TEXT NOT NULL, item TEXT NOT NULL, ile TEXT NOT NULL, et TEXT NOT NULL,
    vt TEXT NOT NULL, asm INTEGER NOT NULL, loc TEXT NOT NULL, ipg TEXT NOT NULL,
    gbus TEXT NOT NULL, gprod TEXT NOT NULL, wip_source TEXT NOT NULL, acct TEXT NOT NULL,
    closing INTEGER NOT NULL, ap INTEGER NOT NULL, an INTEGER NOT NULL, ep INTEGER NOT NULL,
    en INTEGER NOT NULL, amount INTEGER NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (gl_date, ve_date, item, ile, et, vt, asm, loc, ipg, gbus, gprod, wip_source, acct,
                 closing, ap, an, ep, en)
) STRICT, WITHOUT ROWID;
CREATE INDEX {PIECE_DAY}_ve_date ON {PIECE_DAY} (ve_date);
CREATE TABLE {VE_TOTAL} (
    item TEXT NOT NULL, ile TEXT NOT NULL, et TEXT NOT NULL, vt TEXT NOT NULL,
    asm INTEGER NOT NULL, loc TEXT NOT NULL, ipg TEXT NOT NULL, gbus TEXT NOT NULL,
    gprod TEXT NOT NULL, wip_source TEXT NOT NULL,
    actual INTEGER NOT NULL, expected INTEGER NOT NULL, posted_actual INTEGER NOT NULL,
    posted_expected INTEGER NOT NULL, n INTEGER NOT NULL,
    n_actual INTEGER NOT NULL, n_expected INTEGER NOT NULL, n_sum INTEGER NOT NULL,
    n_diff INTEGER NOT NULL,
    PRIMARY KEY (item, ile, et, vt, asm, loc, ipg, gbus, gprod, wip_source)
) STRICT, WITHOUT ROWID;
CREATE TABLE {PIECE_TOTAL} (
    item TEXT NOT NULL, ile TEXT NOT NULL, et TEXT NOT NULL,
    vt TEXT NOT NULL, asm INTEGER NOT NULL, loc TEXT NOT NULL, ipg TEXT NOT NULL,
    gbus TEXT NOT NULL, gprod TEXT NOT NULL, wip_source TEXT NOT NULL, acct TEXT NOT NULL,
    closing INTEGER NOT NULL, ap INTEGER NOT NULL, an INTEGER NOT NULL, ep INTEGER NOT NULL,
    en INTEGER NOT NULL, amount INTEGER NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (item, ile, et, vt, asm, loc, ipg, gbus, gprod, wip_source, acct, closing, ap,
                 an, ep, en)
) STRICT, WITHOUT ROWID;
CREATE TABLE {MULTI} (
    g INTEGER PRIMARY KEY, a INTEGER NOT NULL, spa INTEGER NOT NULL, spe INTEGER NOT NULL,
    c TEXT NOT NULL, pc TEXT NOT NULL
) STRICT;
CREATE INDEX {MULTI}_irregular ON {MULTI} (g) WHERE c = 'X';
"""

# --------------------------------------------------------------------------------------------
# SQL building blocks (``v`` = a value-entry row or pseudo-row, ``e`` = a G/L entry row)


def _asm(v: str) -> str:
    return f"({v}.item_ledger_entry_type = '' AND {v}.order_type = 'Assembly')"


def _wip(v: str) -> str:
    return (f"CASE WHEN {v}.source_type = 'Item' AND {v}.source_no <> '' AND "
            f"{v}.source_no <> coalesce({v}.item_no, '') THEN {v}.source_no ELSE '' END")


_VE_KEY = ("posting_date", "item", "ile", "et", "vt", "asm", "loc", "ipg", "gbus", "gprod", "wip_source")
_VE_VALS = ("actual", "expected", "posted_actual", "posted_expected", "n", "n_actual",
            "n_expected", "n_sum", "n_diff")


def _ve_select(v: str, sign: str, aliases: bool = False) -> str:
    return _alias(_split(f"{v}.posting_date, coalesce({v}.item_no, ''), {v}.item_ledger_entry_type, {v}.entry_type, {v}.variance_type, "
            f"{_asm(v)}, {v}.location_code, {v}.inventory_posting_group, "
            f"{v}.gen_bus_posting_group, {v}.gen_prod_posting_group, {_wip(v)}, "
            f"{sign}{v}.cost_amount_actual, {sign}{v}.cost_amount_expected, "
            f"{sign}{v}.cost_posted_to_gl, {sign}{v}.expected_cost_posted_to_gl, {sign}1, "
            f"{sign}({v}.cost_amount_actual <> 0), {sign}({v}.cost_amount_expected <> 0), "
            f"{sign}({v}.cost_amount_actual + {v}.cost_amount_expected <> 0), "
            f"{sign}({v}.cost_amount_actual - {v}.cost_amount_expected <> 0)"),
                  (*_VE_KEY, *_VE_VALS) if aliases else None)


def _split(sql: str) -> list[str]:
    """Split a select list at top-level commas."""
    out, depth, cur = [], 0, ""
    for ch in sql:
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    out.append(cur.strip())
    return out


def _alias(exprs: list[str], names: tuple[str, ...] | None) -> str:
    if names is None:
        return ", ".join(exprs)
    assert len(exprs) == len(names)
    return ", ".join(f"{x} AS {n}" for x, n in zip(exprs, names, strict=True))


def _exact(expr: str) -> str:
    """``expr`` if it is exact, else an "integer overflow" error.

    SQLite turns an integer sum beyond 64 bits into a REAL without a word, and a STRICT INTEGER
    column takes a REAL back when it is a whole number: ``total + NEW.x - OLD.x`` stored a total off
    by hundreds of cents once ``total + NEW.x`` overflowed (the triggers now add ``(NEW.x - OLD.x)``,
    which is 0 for an amount a posting leaves alone). A REAL anywhere in
    ``expr`` makes the result a REAL, so one ``typeof`` sees every intermediate overflow; the
    error is SQLite's own (``abs()`` of the smallest integer), which works in a trigger and in a
    plain statement alike (``errors.is_int64_overflow``)."""
    return (f"(CASE WHEN typeof({expr}) = 'integer' THEN {expr} "
            f"ELSE abs(-9223372036854775808) END)")


def _upsert(table: str, keys: tuple[str, ...], vals: tuple[str, ...], select: str) -> str:
    cols = ", ".join((*keys, *vals))
    sets = ", ".join(f"{c} = {_exact(f'{c} + excluded.{c}')}" for c in vals)
    return f"INSERT INTO {table} ({cols}) {select} ON CONFLICT DO UPDATE SET {sets}"


def _ve_upsert(v: str, sign: str) -> str:
    """Upserts into the per-day and the all-dates table (two statements)."""
    sel = f"SELECT {_ve_select(v, sign)} WHERE 1"
    total = f"SELECT {_ve_select(v, sign).split(', ', 1)[1]} WHERE 1"
    return (_upsert(VE_DAY, _VE_KEY, _VE_VALS, sel) + ";\n    "
            + _upsert(VE_TOTAL, _VE_KEY[1:], _VE_VALS, total))


_GL_KEY = ("acct", "posting_date", "closing")
_GL_VALS = ("amount", "n", "unlinked_amount", "unlinked_n")


def _linked(e: str) -> str:
    return f"EXISTS (SELECT 1 FROM gl_item_ledger_relation WHERE gl_entry_no = {e}.entry_no)"


_VE_KEY_COLS = ("posting_date", "item_no", "item_ledger_entry_type", "entry_type", "variance_type",
                "order_type", "location_code", "inventory_posting_group",
                "gen_bus_posting_group", "gen_prod_posting_group", "source_type", "source_no")
_VE_KEY_SAME = " AND ".join(f"OLD.{c} IS NEW.{c}" for c in _VE_KEY_COLS)


def _ve_delta_update() -> list[str]:
    """The key is unchanged (posting): add the differences in place."""
    d = {"actual": "cost_amount_actual", "expected": "cost_amount_expected",
         "posted_actual": "cost_posted_to_gl", "posted_expected": "expected_cost_posted_to_gl"}
    sets = ", ".join(f"{k} = {_exact(f'{k} + (NEW.{c} - OLD.{c})')}" for k, c in d.items())
    a, e = "cost_amount_actual", "cost_amount_expected"
    sets += (f", n_actual = n_actual + (NEW.{a} <> 0) - (OLD.{a} <> 0)"
             f", n_expected = n_expected + (NEW.{e} <> 0) - (OLD.{e} <> 0)"
             f", n_sum = n_sum + (NEW.{a} + NEW.{e} <> 0) - (OLD.{a} + OLD.{e} <> 0)"
             f", n_diff = n_diff + (NEW.{a} - NEW.{e} <> 0) - (OLD.{a} - OLD.{e} <> 0)")
    keys = _split(_ve_select("NEW", ""))[:len(_VE_KEY)]
    out = []
    for table, names, exprs in ((VE_DAY, _VE_KEY, keys), (VE_TOTAL, _VE_KEY[1:], keys[1:])):
        cond = " AND ".join(f"{n} = {x}" for n, x in zip(names, exprs, strict=True))
        out.append(f"UPDATE {table} SET {sets} WHERE {cond}")
    return out


def _gl_upsert(e: str, sign: str) -> str:
    sel = (f"SELECT coalesce({e}.gl_account_no, ''), {e}.posting_date, {e}.closing, "
           f"{sign}{e}.amount, {sign}1, CASE WHEN {_linked(e)} THEN 0 ELSE {sign}{e}.amount END, "
           f"CASE WHEN {_linked(e)} THEN 0 ELSE {sign}1 END WHERE 1")
    return _upsert(GL_DAY, _GL_KEY, _GL_VALS, sel)


_PIECE_KEY = ("gl_date", "ve_date", "item", "ile", "et", "vt", "asm", "loc", "ipg", "gbus", "gprod",
              "wip_source", "acct", "closing", "ap", "an", "ep", "en")
_PIECE_VALS = ("amount", "n")


def _share(e: str, v: str, case: str | None) -> str:
    """The piece of G/L entry e given to value entry v: whole amount (single link) or, for a
    multi-linked entry in case 'A' / 'E', the value entry's own posted amount with e's sign."""
    if case is None:
        return f"{e}.amount"
    col = "cost_posted_to_gl" if case == "A" else "expected_cost_posted_to_gl"
    return f"(CASE WHEN {e}.amount < 0 THEN -abs({v}.{col}) ELSE abs({v}.{col}) END)"


def _case_share(e: str, v: str, case_col: str) -> str:
    return (f"(CASE {case_col} WHEN 'A' THEN {_share(e, v, 'A')} "
            f"WHEN 'E' THEN {_share(e, v, 'E')} END)")


def _piece_select(e: str, v: str, share: str, sign: str, aliases: bool = False) -> str:
    return _alias(_split(f"{e}.posting_date, {v}.posting_date, coalesce({v}.item_no, ''), {v}.item_ledger_entry_type, {v}.entry_type, "
            f"{v}.variance_type, {_asm(v)}, {v}.location_code, {v}.inventory_posting_group, "
            f"{v}.gen_bus_posting_group, {v}.gen_prod_posting_group, {_wip(v)}, "
            f"coalesce({e}.gl_account_no, ''), {e}.closing, "
            f"{share} = {v}.cost_posted_to_gl, {share} = -{v}.cost_posted_to_gl, "
            f"{share} = {v}.expected_cost_posted_to_gl, {share} = -{v}.expected_cost_posted_to_gl, "
            f"{sign}{share}, {sign}1"),
                  (*_PIECE_KEY, *_PIECE_VALS) if aliases else None)


def _piece_upsert(e: str, v: str, share: str, sign: str, from_where: str) -> str:
    """Upserts into the per-day and the all-dates table (two statements)."""
    exprs = _split(_piece_select(e, v, share, sign))
    return (_upsert(PIECE_DAY, _PIECE_KEY, _PIECE_VALS,
                    f"SELECT {', '.join(exprs)} {from_where}") + ";\n    "
            + _upsert(PIECE_TOTAL, _PIECE_KEY[2:], _PIECE_VALS,
                      f"SELECT {', '.join(exprs[2:])} {from_where}"))


def _case_expr(a: str, spa: str, spe: str) -> str:
    return (f"(CASE WHEN {spa} = abs({a}) AND {spa} > 0 THEN 'A' "
            f"WHEN {spe} = abs({a}) AND {spe} > 0 THEN 'E' ELSE 'X' END)")


def _count(g: str, limit: int) -> str:
    return (f"(SELECT count(*) FROM (SELECT 1 FROM gl_item_ledger_relation "
            f"WHERE gl_entry_no = {g} LIMIT {limit}))")


def _siblings(case_col: str, sign: str, g: str, exclude_v: str | None, extra: str = "") -> str:
    """Add (sign '') or subtract (sign '-') the pieces of multi-linked G/L entry g's relation
    rows (except value entry exclude_v) under the case in column case_col of agg_gl_multi."""
    excl = f" AND r.value_entry_no <> {exclude_v}" if exclude_v else ""
    return _piece_upsert(
        "e", "ve", _case_share("e", "ve", f"m.{case_col}"), sign,
        f"FROM {MULTI} m JOIN gl_item_ledger_relation r ON r.gl_entry_no = m.g "
        f"JOIN gl_entry e ON e.entry_no = m.g JOIN value_entry ve ON ve.entry_no = r.value_entry_no "
        f"WHERE m.g = {g} AND m.{case_col} IN ('A', 'E'){excl}{extra}")


# --------------------------------------------------------------------------------------------
# Triggers

_VE_COLS = ("posting_date, item_ledger_entry_type, entry_type, variance_type, order_type, "
            "location_code, inventory_posting_group, gen_bus_posting_group, "
            "gen_prod_posting_group, source_type, source_no, item_no, cost_amount_actual, "
            "cost_amount_expected, cost_posted_to_gl, expected_cost_posted_to_gl")
_VE_CHANGED = " OR ".join(f"OLD.{c.strip()} IS NOT NEW.{c.strip()}" for c in _VE_COLS.split(","))
_GL_CHANGED = " OR ".join(f"OLD.{c} IS NOT NEW.{c}"
                          for c in ("gl_account_no", "posting_date", "closing", "amount"))


def _trigger(name: str, when: str, table: str, body: list[str], cond: str = "") -> str:
    w = f" WHEN {cond}" if cond else ""
    return (f"CREATE TRIGGER {name} {when} ON {table} FOR EACH ROW{w} BEGIN\n"
            + "".join(f"    {s};\n" for s in body) + "END")


def _relation_insert_body(count: int) -> list[str]:
    """Statements for the relation row that makes its G/L entry's link count ``count`` (1, 2,
    3 = more)."""
    body = _relation_insert_all()
    groups = {1: body[0:2], 2: body[2:5], 3: body[5:9]}
    c3 = _count("NEW.gl_entry_no", 3)
    return [b.replace(f" AND {c3} = 1", "").replace(f" AND {c3} = 2", "")
            .replace(f" AND {c3} > 2", "") for b in groups[count]]


def _relation_insert_all() -> list[str]:
    g, v = "NEW.gl_entry_no", "NEW.value_entry_no"
    c3 = _count(g, 3)
    pair = (f"FROM gl_item_ledger_relation r JOIN gl_entry e ON e.entry_no = r.gl_entry_no "
            f"JOIN value_entry ve ON ve.entry_no = r.value_entry_no WHERE r.gl_entry_no = {g}")
    return [
        # first link: the G/L entry's amount moves from unlinked to linked
        f"UPDATE {GL_DAY} SET unlinked_amount = {_exact('unlinked_amount - e.amount')}, "
        f"unlinked_n = unlinked_n - 1 FROM gl_entry e WHERE e.entry_no = {g} AND "
        f"{GL_DAY}.acct = coalesce(e.gl_account_no, '') AND {GL_DAY}.posting_date = e.posting_date "
        f"AND {GL_DAY}.closing = e.closing AND {c3} = 1",
        # single link: the whole amount
        _piece_upsert("e", "ve", "e.amount", "", f"{pair} AND r.value_entry_no = {v} AND {c3} = 1"),
        # second link: the first one's single piece goes, the pair becomes a multi entry
        _piece_upsert("e", "ve", "e.amount", "-",
                      f"{pair} AND r.value_entry_no <> {v} AND {c3} = 2"),
        f"INSERT INTO {MULTI} (g, a, spa, spe, c, pc) SELECT g, a, spa, spe, "
        f"{_case_expr('a', 'spa', 'spe')}, 'X' FROM (SELECT r.gl_entry_no AS g, e.amount AS a, "
        f"sum(abs(ve.cost_posted_to_gl)) AS spa, sum(abs(ve.expected_cost_posted_to_gl)) AS spe "
        f"{pair} AND {c3} = 2 GROUP BY r.gl_entry_no, e.amount)",
        _siblings("c", "", g, None, f" AND {c3} = 2"),
        # further links: update the sums; the new piece; all pieces if the case changed
        f"UPDATE {MULTI} SET pc = c, spa = {_exact('spa + abs(ve.cost_posted_to_gl)')}, "
        f"spe = {_exact('spe + abs(ve.expected_cost_posted_to_gl)')}, "
        f"c = {_case_expr('a', 'spa + abs(ve.cost_posted_to_gl)', 'spe + abs(ve.expected_cost_posted_to_gl)')} "
        f"FROM value_entry ve WHERE ve.entry_no = {v} AND {MULTI}.g = {g} AND {c3} > 2",
        _siblings("pc", "-", g, v, f" AND m.pc <> m.c AND {c3} > 2"),
        _siblings("c", "", g, v, f" AND m.pc <> m.c AND {c3} > 2"),
        _siblings("c", "", g, None, f" AND r.value_entry_no = {v} AND {c3} > 2"),
    ]


def _relation_delete_body() -> list[str]:
    g, v = "OLD.gl_entry_no", "OLD.value_entry_no"
    c2 = _count(g, 2)
    in_multi = f"EXISTS (SELECT 1 FROM {MULTI} WHERE g = {g})"
    return [
        f"UPDATE {GL_DAY} SET unlinked_amount = {_exact('unlinked_amount + e.amount')}, "
        f"unlinked_n = unlinked_n + 1 FROM gl_entry e WHERE e.entry_no = {g} AND "
        f"{GL_DAY}.acct = coalesce(e.gl_account_no, '') AND {GL_DAY}.posting_date = e.posting_date "
        f"AND {GL_DAY}.closing = e.closing AND {c2} = 0",
        # a single link goes
        _piece_upsert("e", "ve", "e.amount", "-",
                      f"FROM gl_entry e JOIN value_entry ve ON ve.entry_no = {v} "
                      f"WHERE e.entry_no = {g} AND NOT {in_multi}"),
        # a link of a multi entry goes: its piece under the old case
        f"UPDATE {MULTI} SET pc = c, spa = {_exact('spa - abs(ve.cost_posted_to_gl)')}, "
        f"spe = {_exact('spe - abs(ve.expected_cost_posted_to_gl)')}, "
        f"c = {_case_expr('a', 'spa - abs(ve.cost_posted_to_gl)', 'spe - abs(ve.expected_cost_posted_to_gl)')} "
        f"FROM value_entry ve WHERE ve.entry_no = {v} AND {MULTI}.g = {g}",
        _piece_upsert("e", "ve", _case_share("e", "ve", "m.pc"), "-",
                      f"FROM {MULTI} m JOIN gl_entry e ON e.entry_no = m.g "
                      f"JOIN value_entry ve ON ve.entry_no = {v} WHERE m.g = {g} "
                      f"AND m.pc IN ('A', 'E')"),
        # one link left: it becomes a single link
        _siblings("pc", "-", g, None, f" AND {c2} = 1"),
        _piece_upsert("e", "ve", "e.amount", "",
                      f"FROM {MULTI} m JOIN gl_item_ledger_relation r ON r.gl_entry_no = m.g "
                      f"JOIN gl_entry e ON e.entry_no = m.g "
                      f"JOIN value_entry ve ON ve.entry_no = r.value_entry_no "
                      f"WHERE m.g = {g} AND {c2} = 1"),
        f"DELETE FROM {MULTI} WHERE g = {g} AND {c2} = 1",
        # several left: the others' pieces if the case changed
        _siblings("pc", "-", g, None, f" AND m.pc <> m.c AND {c2} = 2"),
        _siblings("c", "", g, None, f" AND m.pc <> m.c AND {c2} = 2"),
    ]


def _value_entry_update_pieces_body(multi: bool) -> list[str]:
    rel = "r.value_entry_no = NEW.entry_no"
    single = f"NOT EXISTS (SELECT 1 FROM {MULTI} m WHERE m.g = r.gl_entry_no)"
    gl_of = "(SELECT gl_entry_no FROM gl_item_ledger_relation WHERE value_entry_no = NEW.entry_no)"
    multi_of = (f"FROM gl_item_ledger_relation r JOIN {MULTI} m ON m.g = r.gl_entry_no "
                f"JOIN gl_entry e ON e.entry_no = r.gl_entry_no WHERE {rel}")
    sib = (f"FROM gl_item_ledger_relation r0 JOIN {MULTI} m ON m.g = r0.gl_entry_no "
           f"JOIN gl_item_ledger_relation r ON r.gl_entry_no = m.g "
           f"JOIN gl_entry e ON e.entry_no = m.g JOIN value_entry ve ON ve.entry_no = r.value_entry_no "
           f"WHERE r0.value_entry_no = NEW.entry_no AND r.value_entry_no <> NEW.entry_no "
           f"AND m.pc <> m.c")
    if not multi:
        return [
            _piece_upsert("e", "OLD", "e.amount", "-",
                          f"FROM gl_item_ledger_relation r JOIN gl_entry e ON e.entry_no = "
                          f"r.gl_entry_no WHERE {rel} AND {single}"),
            _piece_upsert("e", "NEW", "e.amount", "",
                          f"FROM gl_item_ledger_relation r JOIN gl_entry e ON e.entry_no = "
                          f"r.gl_entry_no WHERE {rel} AND {single}"),
        ]
    return [
        f"UPDATE {MULTI} SET pc = c, "
        f"spa = {_exact('spa + (abs(NEW.cost_posted_to_gl) - abs(OLD.cost_posted_to_gl))')}, "
        f"spe = {_exact('spe + (abs(NEW.expected_cost_posted_to_gl) - abs(OLD.expected_cost_posted_to_gl))')}, "
        f"c = {_case_expr('a', 'spa + (abs(NEW.cost_posted_to_gl) - abs(OLD.cost_posted_to_gl))', 'spe + (abs(NEW.expected_cost_posted_to_gl) - abs(OLD.expected_cost_posted_to_gl))')} "
        f"WHERE g IN {gl_of}",
        _piece_upsert("e", "OLD", _case_share("e", "OLD", "m.pc"), "-",
                      f"{multi_of} AND m.pc IN ('A', 'E')"),
        _piece_upsert("e", "NEW", _case_share("e", "NEW", "m.c"), "",
                      f"{multi_of} AND m.c IN ('A', 'E')"),
        _piece_upsert("e", "ve", _case_share("e", "ve", "m.pc"), "-",
                      f"{sib} AND m.pc IN ('A', 'E')"),
        _piece_upsert("e", "ve", _case_share("e", "ve", "m.c"), "",
                      f"{sib} AND m.c IN ('A', 'E')"),
    ]


def _gl_entry_update_pieces_body() -> list[str]:
    single = (f"FROM gl_item_ledger_relation r JOIN value_entry ve ON ve.entry_no = r.value_entry_no "
              f"WHERE r.gl_entry_no = NEW.entry_no AND NOT EXISTS "
              f"(SELECT 1 FROM {MULTI} WHERE g = NEW.entry_no)")
    multi = (f"FROM {MULTI} m JOIN gl_item_ledger_relation r ON r.gl_entry_no = m.g "
             f"JOIN value_entry ve ON ve.entry_no = r.value_entry_no WHERE m.g = NEW.entry_no")
    return [
        _piece_upsert("OLD", "ve", "OLD.amount", "-", single),
        _piece_upsert("NEW", "ve", "NEW.amount", "", single),
        _piece_upsert("OLD", "ve", _case_share("OLD", "ve", "m.c"), "-",
                      f"{multi} AND m.c IN ('A', 'E')"),
        f"UPDATE {MULTI} SET pc = c, a = NEW.amount, c = {_case_expr('NEW.amount', 'spa', 'spe')} "
        f"WHERE g = NEW.entry_no",
        _piece_upsert("NEW", "ve", _case_share("NEW", "ve", "m.c"), "",
                      f"{multi} AND m.c IN ('A', 'E')"),
    ]


def _triggers() -> list[str]:
    has_single = (f"EXISTS (SELECT 1 FROM gl_item_ledger_relation r WHERE r.value_entry_no = "
                  f"NEW.entry_no AND NOT EXISTS (SELECT 1 FROM {MULTI} m WHERE m.g = r.gl_entry_no))")
    has_multi = (f"EXISTS (SELECT 1 FROM gl_item_ledger_relation r JOIN {MULTI} m ON m.g = "
                 f"r.gl_entry_no WHERE r.value_entry_no = NEW.entry_no)")
    has_rel_gl = "EXISTS (SELECT 1 FROM gl_item_ledger_relation WHERE gl_entry_no = NEW.entry_no)"
    return [
        _trigger("agg_ve_insert", "AFTER INSERT", "value_entry", [_ve_upsert("NEW", "")]),
        _trigger("agg_ve_delete", "AFTER DELETE", "value_entry", [_ve_upsert("OLD", "-")]),
        _trigger("agg_ve_update", f"AFTER UPDATE OF {_VE_COLS}", "value_entry",
                 [_ve_upsert("OLD", "-"), _ve_upsert("NEW", "")],
                 f"({_VE_CHANGED}) AND NOT ({_VE_KEY_SAME})"),
        _trigger("agg_ve_update_amounts", f"AFTER UPDATE OF {_VE_COLS}", "value_entry",
                 _ve_delta_update(), f"({_VE_CHANGED}) AND {_VE_KEY_SAME}"),
        _trigger("agg_ve_update_pieces", f"AFTER UPDATE OF {_VE_COLS}", "value_entry",
                 _value_entry_update_pieces_body(False), f"({_VE_CHANGED}) AND {has_single}"),
        _trigger("agg_ve_update_multi_pieces", f"AFTER UPDATE OF {_VE_COLS}", "value_entry",
                 _value_entry_update_pieces_body(True), f"({_VE_CHANGED}) AND {has_multi}"),
        _trigger("agg_gl_insert", "AFTER INSERT", "gl_entry", [_gl_upsert("NEW", "")]),
        _trigger("agg_gl_delete", "AFTER DELETE", "gl_entry", [_gl_upsert("OLD", "-")]),
        _trigger("agg_gl_update", "AFTER UPDATE OF gl_account_no, posting_date, closing, amount",
                 "gl_entry", [_gl_upsert("OLD", "-"), _gl_upsert("NEW", "")], _GL_CHANGED),
        _trigger("agg_gl_update_pieces",
                 "AFTER UPDATE OF gl_account_no, posting_date, closing, amount", "gl_entry",
                 _gl_entry_update_pieces_body(), f"({_GL_CHANGED}) AND {has_rel_gl}"),
        _trigger("agg_relation_insert", "AFTER INSERT", "gl_item_ledger_relation",
                 _relation_insert_body(1), f"{_count('NEW.gl_entry_no', 3)} = 1"),
        _trigger("agg_relation_insert_second", "AFTER INSERT", "gl_item_ledger_relation",
                 _relation_insert_body(2), f"{_count('NEW.gl_entry_no', 3)} = 2"),
        _trigger("agg_relation_insert_more", "AFTER INSERT", "gl_item_ledger_relation",
                 _relation_insert_body(3), f"{_count('NEW.gl_entry_no', 3)} > 2"),
        _trigger("agg_relation_delete", "AFTER DELETE", "gl_item_ledger_relation",
                 _relation_delete_body()),
        _trigger("agg_relation_update", "BEFORE UPDATE OF gl_entry_no, value_entry_no",
                 "gl_item_ledger_relation",
                 ["SELECT RAISE(ABORT, 'change the G/L - item ledger relation by DELETE and "
                  "INSERT, not UPDATE')"]),
    ]


TRIGGER_NAMES = ("agg_ve_insert", "agg_ve_delete", "agg_ve_update", "agg_ve_update_amounts",
                 "agg_ve_update_pieces", "agg_ve_update_multi_pieces",
                 "agg_relation_insert_second", "agg_relation_insert_more", "agg_gl_insert", "agg_gl_delete", "agg_gl_update", "agg_gl_update_pieces",
                 "agg_relation_insert", "agg_relation_delete", "agg_relation_update")


# --------------------------------------------------------------------------------------------
# From scratch

def _fill_sql() -> list[str]:
    ve = (f"INSERT INTO {VE_DAY} ({', '.join((*_VE_KEY, *_VE_VALS))}) "
          f"SELECT {', '.join(_VE_KEY)}, {', '.join(f'sum({c})' for c in _VE_VALS)} FROM "
          f"(SELECT {_ve_select('v', '', True)} FROM value_entry v) GROUP BY {', '.join(_VE_KEY)}")
    gl = (f"INSERT INTO {GL_DAY} ({', '.join((*_GL_KEY, *_GL_VALS))}) "
          f"SELECT coalesce(e.gl_account_no, ''), e.posting_date, e.closing, sum(e.amount), "
          f"count(*), sum(CASE WHEN l.g IS NULL THEN e.amount ELSE 0 END), "
          f"sum(l.g IS NULL) FROM gl_entry e LEFT JOIN "
          f"(SELECT DISTINCT gl_entry_no AS g FROM gl_item_ledger_relation) l ON l.g = e.entry_no "
          f"GROUP BY 1, 2, 3")
    multi = (f"INSERT INTO {MULTI} (g, a, spa, spe, c, pc) SELECT g, a, spa, spe, "
             f"{_case_expr('a', 'spa', 'spe')}, 'X' FROM ("
             f"SELECT r.gl_entry_no AS g, e.amount AS a, sum(abs(ve.cost_posted_to_gl)) AS spa, "
             f"sum(abs(ve.expected_cost_posted_to_gl)) AS spe FROM gl_item_ledger_relation r "
             f"JOIN gl_entry e ON e.entry_no = r.gl_entry_no "
             f"JOIN value_entry ve ON ve.entry_no = r.value_entry_no "
             f"GROUP BY r.gl_entry_no HAVING count(*) > 1)")
    share = (f"(CASE WHEN m.g IS NULL THEN e.amount ELSE {_case_share('e', 've', 'm.c')} END)")
    pieces = (f"INSERT INTO {PIECE_DAY} ({', '.join((*_PIECE_KEY, *_PIECE_VALS))}) "
              f"SELECT {', '.join(_PIECE_KEY)}, sum(amount), sum(n) FROM "
              f"(SELECT {_piece_select('e', 've', share, '', True)} FROM gl_item_ledger_relation r "
              f"JOIN gl_entry e ON e.entry_no = r.gl_entry_no "
              f"JOIN value_entry ve ON ve.entry_no = r.value_entry_no "
              f"LEFT JOIN {MULTI} m ON m.g = r.gl_entry_no "
              f"WHERE m.g IS NULL OR m.c IN ('A', 'E')) GROUP BY {', '.join(_PIECE_KEY)}")
    ve_total = (f"INSERT INTO {VE_TOTAL} ({', '.join((*_VE_KEY[1:], *_VE_VALS))}) "
                f"SELECT {', '.join(_VE_KEY[1:])}, {', '.join(f'sum({c})' for c in _VE_VALS)} "
                f"FROM {VE_DAY} GROUP BY {', '.join(_VE_KEY[1:])}")
    piece_total = (f"INSERT INTO {PIECE_TOTAL} ({', '.join((*_PIECE_KEY[2:], *_PIECE_VALS))}) "
                   f"SELECT {', '.join(_PIECE_KEY[2:])}, sum(amount), sum(n) "
                   f"FROM {PIECE_DAY} GROUP BY {', '.join(_PIECE_KEY[2:])}")
    return [ve, gl, multi, pieces, ve_total, piece_total]


def _run(db: Database, statements: list[str]) -> None:
    for s in statements:
        db.execute(s)


def create(db: Database) -> None:
    """Create the tables and triggers and fill them from the entries (the 0003 migration)."""
    _run(db, [s for s in _TABLES_SQL.split(";") if s.strip()])
    _run(db, _fill_sql())
    _run(db, _triggers())


def available(db: Database) -> bool:
    """The pre-aggregates exist and their triggers are in place (else engines read entries)."""
    n = db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN "
                   f"({','.join('?' * len(TRIGGER_NAMES))})", TRIGGER_NAMES).fetchone()[0]
    return n == len(TRIGGER_NAMES)


def drop_triggers(db: Database) -> None:
    for name in TRIGGER_NAMES:
        db.execute(f"DROP TRIGGER IF EXISTS {name}")


def create_triggers(db: Database) -> None:
    drop_triggers(db)
    _run(db, _triggers())


def rebuild(db: Database) -> None:
    """Recompute every pre-aggregate from the entries (in the caller's transaction)."""
    for t in TABLES:
        db.execute(f"DELETE FROM {t}")
    _run(db, _fill_sql())


@contextmanager
def bulk_load(db: Database) -> Iterator[None]:
    """Inside the caller's ONE write transaction: drop the triggers, let the caller write, then
    rebuild the pre-aggregates and recreate the triggers. An exception propagates (the caller's
    transaction rolls back, triggers included: DDL is transactional in SQLite)."""
    if not _tables_exist(db):
        yield
        return
    drop_triggers(db)
    yield
    rebuild(db)
    create_triggers(db)


def ve_key(posting_date: str, item_no: str | None, ile: str, et: str, vt: str, order_type: str,
           loc: str, ipg: str, gbus: str, gprod: str, source_type: str,
           source_no: str) -> tuple:
    """A value entry's key in ``agg_value_entry_day`` (the Python twin of ``_ve_select``)."""
    item = item_no or ""
    wip = source_no if source_type == "Item" and source_no and source_no != item else ""
    return (posting_date, item, ile, et, vt, int(ile == "" and order_type == "Assembly"), loc, ipg,
            gbus, gprod, wip)


_VE_TOTAL_STAGE = "temp.invrecon_agg_ve_total_stage"
_PIECE_STAGE = "temp.invrecon_agg_piece_delta"
_PIECE_TOTAL_STAGE = "temp.invrecon_agg_piece_total_delta"
_STAGES = ((_VE_TOTAL_STAGE, (*_VE_KEY[1:], "pa", "pe")),
           (_PIECE_STAGE, (*_PIECE_KEY, *_PIECE_VALS)),
           (_PIECE_TOTAL_STAGE, (*_PIECE_KEY[2:], *_PIECE_VALS)))
STAGE_KEYS = 50_000  # all-dates total keys summed in memory before they go to a stage table


def piece_delta_key(vkey: tuple, account: str, share: int, posted_actual: int,
                    posted_expected: int) -> tuple:
    """The key under which ``PostingLoad.piece_delta`` collects a piece: the value entry's
    key (``ve_key``; its date is the G/L date too), the account and how the piece matches the
    posted amounts (the ap, an, ep, en columns of ``_piece_select``) as bits 1, 2, 4, 8. A
    short tuple: the engine builds one per G/L line (posting inlines this)."""
    return (vkey, account, (share == posted_actual) | (share == -posted_actual) << 1
            | (share == posted_expected) << 2 | (share == -posted_expected) << 3)


class DeltaCollector:
    """The deltas a posting engine collects while it posts (see ``PostingLoad``, which adds
    them to the pre-aggregates; the engine process of a large run prepares them as rows and
    sends those over)."""

    def __init__(self) -> None:
        # ve_key -> [posted actual delta, posted expected delta]
        self.ve_delta: dict[tuple, list[int]] = {}
        # (acct, date, closing) -> [amount, n]; piece_delta_key -> [amount, n]; None = not
        # collected
        self.gl_delta: dict[tuple, list[int]] | None = None
        self.piece_delta: dict[tuple, list[int]] | None = None
        self.lines_collected = False
        # the all-dates sums of the deltas prepared so far (ve_key[1:] / piece total key ->
        # sums): few keys, hit by every chunk; staged (``take_totals``) and merged at the end
        self._ve_total: dict[tuple, list[int]] = {}
        self._piece_total: dict[tuple, list[int]] = {}

    def collect_lines(self) -> None:
        """The engine will collect the G/L amounts and pieces of its lines itself."""
        self.gl_delta, self.piece_delta = {}, {}
        self.lines_collected = True

    def pending(self) -> int:
        return len(self.ve_delta) + len(self.gl_delta or ()) + len(self.piece_delta or ())

    def take(self) -> tuple:
        """The deltas collected so far; collection starts again with empty ones."""
        taken = (self.ve_delta, self.gl_delta, self.piece_delta)
        self.ve_delta = {}
        if self.gl_delta is not None:
            self.gl_delta, self.piece_delta = {}, {}
        return taken

    def prepare(self, taken: tuple) -> tuple[list[tuple], list[tuple], list[tuple], int]:
        """``take``'s deltas as the rows of the upserts into the per-day tables (value entries,
        G/L entries, pieces), each list in primary-key order (the rows are the key's columns
        first: each upsert lands next to the previous one in the B-tree), and the number of
        keys; their all-dates sums are added to the totals (``take_totals``). Pure Python: the
        engine process of a large run does it, and the writing process only executes."""
        ve, gl, pieces = taken
        ve_rows: list[tuple] = []
        gl_rows: list[tuple] = []
        piece_rows: list[tuple] = []
        if ve:
            _add_into(self._ve_total, ((k[1:], d) for k, d in ve.items()))
            ve_rows = sorted((*k, a, b) for k, (a, b) in ve.items() if a or b)
        if gl:
            gl_rows = sorted((*k, a, b) for k, (a, b) in gl.items())
        if pieces:
            _add_into(self._piece_total,
                      (((k[0][1:], k[1], k[2]), d) for k, d in pieces.items()))
            piece_rows = sorted(
                (v[0], v[0], *v[1:], acct, 0, fl & 1, fl >> 1 & 1, fl >> 2 & 1, fl >> 3, a, n)
                for (v, acct, fl), (a, n) in pieces.items())
        return ve_rows, gl_rows, piece_rows, len(ve or ()) + len(gl or ()) + len(pieces or ())

    def totals_full(self) -> bool:
        """Past ``STAGE_KEYS`` all-dates keys: time to stage them (``take_totals``)."""
        return len(self._ve_total) + len(self._piece_total) > STAGE_KEYS

    def take_totals(self) -> tuple[list[tuple], list[tuple]]:
        """The all-dates sums so far, as rows of the value-entry and the piece total stages;
        summing starts again."""
        ve, pieces = self._ve_total, self._piece_total
        self._ve_total, self._piece_total = {}, {}
        return ([(*k, a, b) for k, (a, b) in ve.items()],
                [(*v, acct, 0, fl & 1, fl >> 1 & 1, fl >> 2 & 1, fl >> 3, a, n)
                 for (v, acct, fl), (a, n) in pieces.items()])


class PostingLoad(DeltaCollector):
    """Pre-aggregate upkeep for one large posting run, in the run's write transaction, with the
    triggers dropped: instead of a full rebuild, only what the run adds is aggregated.

    A posting run (a) inserts new G/L entries (entry no. above the watermark taken here), linked
    only to value entries by new relation rows, and (b) sets the posted fields of the value
    entries it posted. The engine collects, while it posts, the posted-amount deltas by value
    entry key (``ve_delta``), the new G/L amounts (``gl_delta``) and the pieces
    (``piece_delta``, keys from ``piece_delta_key``) of its lines (``collect_lines``); per
    posting group it also writes the agg_gl_multi rows (``add_multi``) and has the pieces of
    the few multi-linked G/L entries whose split is not the one it assumed corrected in SQL
    (``correct_pieces``, staged and merged by ``finish``). Memory stays bounded: past
    ``posting.STAGE_KEYS`` keys the engine hands the collected deltas over (``take``), they
    are prepared as rows (``prepare``) and added to the per-day tables at once
    (``add_prepared``); the all-dates totals (a few thousand keys) are summed while preparing,
    staged in temp tables past ``STAGE_KEYS`` keys (``stage_totals``) and merged by
    ``finish``. When the run re-posts a
    value entry that already has links (its existing pieces' match flags would change),
    writes anything else, or did not collect its lines, ``finish`` falls back to a full
    rebuild: slower, never wrong."""

    def __init__(self, db: Database):
        super().__init__()
        self.db = db
        conn = db.conn
        self.gl_watermark = conn.execute(
            "SELECT coalesce(max(entry_no), 0) FROM gl_entry").fetchone()[0]
        self.relations_before = conn.execute(
            "SELECT count(*) FROM gl_item_ledger_relation").fetchone()[0]
        self.rebuild_reason: str | None = None
        self.method: str | None = None  # 'delta' or 'rebuild' once finished
        self.keys_added = 0  # keys of the deltas handed over (add_prepared)
        self.corrected = 0  # multi-linked G/L entries whose pieces correct_pieces fixed
        # the temp table of what each posted entry had left to post (entry_no, act, exp) when
        # the posted fields are set as the run goes (posting._Engine.assign_posted_now)
        self.posted_before: str | None = None
        for table, cols in _STAGES:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute(f"CREATE TABLE {table} ({', '.join(cols)})")

    def add_deltas(self, conn: Any, taken: tuple) -> None:
        """Add deltas from ``take`` to the per-day tables now (on the writing connection),
        chunk by chunk as the engine hands them over: the engine reads the queue in item order,
        so a key rarely comes back in a later chunk, and the work is done while the engine
        still runs instead of in one merge at the end. The all-dates totals (few keys, hit by
        every chunk) are summed here and merged by ``finish``."""
        self.add_prepared(conn, self.prepare(taken))
        if self.totals_full():
            self.stage_totals(conn, self.take_totals())

    def add_prepared(self, conn: Any, prepared: tuple) -> None:
        """Execute the upserts of ``prepare``'s rows (from this engine or the engine
        process's)."""
        ve_rows, gl_rows, piece_rows, keys = prepared
        if ve_rows:
            conn.executemany(_ADD_POSTED_SQL, ve_rows)
        if gl_rows:
            conn.executemany(_ADD_GL_SQL, gl_rows)
        if piece_rows:
            conn.executemany(_ADD_PIECES_SQL, piece_rows)
        self.keys_added += keys

    def stage_totals(self, conn: Any, rows: tuple[list[tuple], list[tuple]]) -> None:
        """Stage ``take_totals``'s rows (from this engine or the engine process's)."""
        ve, pieces = rows
        self._write_stage(conn, _VE_TOTAL_STAGE, ve)
        self._write_stage(conn, _PIECE_TOTAL_STAGE, pieces)

    def _write_stage(self, conn: Any, table: str, rows: Iterable[tuple]) -> None:
        width = len(dict(_STAGES)[table])
        conn.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * width)})", rows)

    def add_multi(self, conn: Any, rows: list[tuple]) -> None:
        """agg_gl_multi rows (g, a, spa, spe, c, pc) of new multi-linked G/L entries."""
        conn.executemany(f"INSERT INTO {MULTI} (g, a, spa, spe, c, pc) VALUES (?, ?, ?, ?, ?, ?)",
                         rows)

    def correct_pieces(self, conn: Any, irregular: list[tuple[int, int]], ecp: bool) -> None:
        """Per posting group the engine gives each member of a multi-linked G/L entry its own
        line amount as its piece; that is the split only when the entry's case ('A' / 'E',
        in agg_gl_multi) matches the part the line posts. For the G/L entries ``irregular``
        ((entry no., 1 if the line posts the expected part)) where it does not, stage the
        difference: minus the assumed pieces, plus the case's pieces (none for case 'X').
        Called after their G/L entries, relation rows and agg_gl_multi rows are written and
        before the value entries' posted fields are set (the lines are read off them), or
        after, when what they had left to post was kept (``posted_before``)."""
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS invrecon_agg_irregular "
                     "(g INTEGER PRIMARY KEY, is_exp INTEGER NOT NULL)")
        conn.execute("DELETE FROM temp.invrecon_agg_irregular")
        conn.executemany("INSERT INTO temp.invrecon_agg_irregular VALUES (?, ?)", irregular)
        # the value entry as it will be once posted, and the amount of its line
        posted_expected = "ve.cost_amount_expected" if ecp else "ve.expected_cost_posted_to_gl"
        # the part the line posted: left to post in the entry, or kept from before its posted
        # fields were set
        line, before = ("CASE WHEN i.is_exp THEN ve.cost_amount_expected - "
                        "ve.expected_cost_posted_to_gl ELSE ve.cost_amount_actual - "
                        "ve.cost_posted_to_gl END", "")
        if self.posted_before is not None:
            line = "CASE WHEN i.is_exp THEN p.exp ELSE p.act END"
            before = f" JOIN {self.posted_before} p ON p.entry_no = ve.entry_no"
        v = (f"(SELECT i.g AS g, ve.entry_no, ve.posting_date, ve.item_no, "
             f"ve.item_ledger_entry_type, ve.entry_type, ve.variance_type, ve.order_type, "
             f"ve.location_code, ve.inventory_posting_group, ve.gen_bus_posting_group, "
             f"ve.gen_prod_posting_group, ve.source_type, ve.source_no, "
             f"ve.cost_amount_actual AS cost_posted_to_gl, "
             f"{posted_expected} AS expected_cost_posted_to_gl, {line} AS line "
             f"FROM temp.invrecon_agg_irregular i "
             f"JOIN gl_item_ledger_relation r ON r.gl_entry_no = i.g "
             f"JOIN value_entry ve ON ve.entry_no = r.value_entry_no{before}) v")
        frm = f"FROM {v} JOIN gl_entry e ON e.entry_no = v.g"
        assumed = "(CASE WHEN e.amount < 0 THEN -abs(v.line) ELSE abs(v.line) END)"
        for share, sign, where in (
                (assumed, "-", ""),
                (_case_share("e", "v", "m.c"), "",
                 f" JOIN {MULTI} m ON m.g = v.g WHERE m.c IN ('A', 'E')")):
            exprs = _split(_piece_select("e", "v", share, sign))
            for table, first in ((_PIECE_STAGE, 0), (_PIECE_TOTAL_STAGE, 2)):
                conn.execute(f"INSERT INTO {table} SELECT {', '.join(exprs[first:])} "
                             f"{frm}{where}")
        self.corrected += len(irregular)

    def value_entries_posting(self, where: str, params: tuple | list) -> None:
        """Just before ``UPDATE value_entry SET <posted fields> WHERE <where>``: note whether
        any of those entries already has links (then the pieces need the rebuild)."""
        if self.rebuild_reason:
            return
        relinked = self.db.conn.execute(
            f"SELECT EXISTS (SELECT 1 FROM value_entry JOIN gl_item_ledger_relation r "
            f"ON r.value_entry_no = value_entry.entry_no WHERE ({where}) "
            f"AND r.gl_entry_no <= {int(self.gl_watermark)})", params).fetchone()[0]
        if relinked:
            self.rebuild_reason = "a posted value entry already had G/L links"

    def value_entries_posted(self, table: str) -> None:
        """``value_entries_posting`` for entries whose posted fields were set as the run went;
        ``table`` holds their numbers (entry_no)."""
        if self.rebuild_reason:
            return
        relinked = self.db.conn.execute(
            f"SELECT EXISTS (SELECT 1 FROM {table} p JOIN gl_item_ledger_relation r "
            f"ON r.value_entry_no = p.entry_no "
            f"AND r.gl_entry_no <= {int(self.gl_watermark)})").fetchone()[0]
        if relinked:
            self.rebuild_reason = "a posted value entry already had G/L links"

    def finish(self) -> None:
        conn = self.db.conn
        wm = int(self.gl_watermark)
        if not self.rebuild_reason and not self.lines_collected:
            self.rebuild_reason = "the writer did not collect the G/L amounts of its lines"
        if not self.rebuild_reason:
            added = conn.execute("SELECT count(*) FROM gl_item_ledger_relation "
                                 f"WHERE gl_entry_no > {wm}").fetchone()[0]
            total = conn.execute("SELECT count(*) FROM gl_item_ledger_relation").fetchone()[0]
            if total != self.relations_before + added:
                self.rebuild_reason = "relation rows of older G/L entries changed"
        if self.rebuild_reason:
            rebuild(self.db)
            self.method = "rebuild"
        else:
            self.add_deltas(conn, self.take())
            self.stage_totals(conn, self.take_totals())
            for statement in (
                    _merge_posted_sql(VE_TOTAL, _VE_TOTAL_STAGE, _VE_KEY[1:]),
                    _merge_pieces_sql(PIECE_DAY, _PIECE_STAGE, _PIECE_KEY),  # corrections
                    _merge_pieces_sql(PIECE_TOTAL, _PIECE_TOTAL_STAGE, _PIECE_KEY[2:])):
                conn.execute(statement)
            self.method = "delta"
        for table, _cols in _STAGES:
            conn.execute(f"DROP TABLE IF EXISTS {table}")


def _add_into(acc: dict[tuple, list[int]], items: Iterable[tuple[tuple, list[int]]]) -> None:
    for k, (a, b) in items:
        d = acc.get(k)
        if d is None:
            acc[k] = [a, b]
        else:
            d[0] += a
            d[1] += b


# a value-entry aggregate's columns with the posted amounts first (a posting adds only those)
_VE_VALS_POSTED_FIRST = ("posted_actual", "posted_expected",
                         *(v for v in _VE_VALS if v not in ("posted_actual", "posted_expected")))


def _merge_posted_sql(table: str, stage: str, keys: tuple[str, ...]) -> str:
    """Add the staged posted-amount deltas (pa, pe) to a value-entry aggregate (grouped, in
    primary-key order: each upsert lands next to the previous one in the B-tree)."""
    zeros = ", ".join(["0"] * (len(_VE_VALS) - 2))
    k = ", ".join(keys)
    return _upsert(table, keys, _VE_VALS_POSTED_FIRST,
                   f"SELECT * FROM (SELECT {k}, sum(pa) AS pa, sum(pe) AS pe, {zeros} "
                   f"FROM {stage} GROUP BY {k}) WHERE pa <> 0 OR pe <> 0")


def _values(n: int, zeros: int = 0) -> str:
    return f"VALUES ({', '.join(['?'] * n + ['0'] * zeros)})"


# PostingLoad.add_deltas: one chunk's rows (key, deltas) added to a per-day table
_ADD_POSTED_SQL = _upsert(
    VE_DAY, _VE_KEY, _VE_VALS_POSTED_FIRST,
    _values(len(_VE_KEY) + 2, len(_VE_VALS) - 2))
_ADD_GL_SQL = _upsert(GL_DAY, _GL_KEY, _GL_VALS, _values(len(_GL_KEY) + 2, 2))
_ADD_PIECES_SQL = _upsert(PIECE_DAY, _PIECE_KEY, _PIECE_VALS,
                          _values(len(_PIECE_KEY) + len(_PIECE_VALS)))


def _merge_pieces_sql(table: str, stage: str, keys: tuple[str, ...]) -> str:
    """Add the staged pieces to a piece aggregate (grouped, in primary-key order)."""
    k = ", ".join(keys)
    return _upsert(table, keys, _PIECE_VALS,
                   f"SELECT {k}, sum(amount), sum(n) FROM {stage} WHERE 1 GROUP BY {k}")


@contextmanager
def posting_load(db: Database) -> Iterator[PostingLoad | None]:
    """``bulk_load`` for a posting run: yields a ``PostingLoad`` (None when the ledger has no
    pre-aggregates) whose deltas replace the full rebuild at the end."""
    if not _tables_exist(db):
        yield None
        return
    drop_triggers(db)
    load = PostingLoad(db)
    yield load
    load.finish()
    create_triggers(db)


def _tables_exist(db: Database) -> bool:
    n = db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                   f"({','.join('?' * len(TABLES))})", TABLES).fetchone()[0]
    return n == len(TABLES)


@dataclass
class Mismatch:
    table: str
    count: int
    examples: list[tuple] = field(default_factory=list)

    def message(self) -> str:
        return (f"pre-aggregate {self.table} disagrees with the entries in {self.count} rows "
                "(run 'invrecon check'; rebuild with preaggregates.rebuild)")


def check(db: Database) -> list[Mismatch]:
    """Compare every pre-aggregate with a recomputation from the entries (as SQL EXCEPTs);
    no mismatch when the ledger has no pre-aggregates. Runs in the caller's transaction."""
    if not _tables_exist(db):
        return []
    out: list[Mismatch] = []
    if not available(db):
        out.append(Mismatch("triggers", len(TRIGGER_NAMES)))
    db.execute("SAVEPOINT invrecon_agg_check")
    try:
        for t in TABLES:
            db.execute(f"CREATE TEMP TABLE IF NOT EXISTS expect_{t} AS SELECT * FROM {t} WHERE 0")
            db.execute(f"DELETE FROM temp.expect_{t}")
        stmts = [s.replace(f"INSERT INTO {t} ", f"INSERT INTO temp.expect_{t} ", 1)
                 for s, t in zip(_fill_sql(), (VE_DAY, GL_DAY, MULTI, PIECE_DAY, VE_TOTAL,
                                               PIECE_TOTAL), strict=True)]
        stmts = [s.replace(f"LEFT JOIN {MULTI} m", f"LEFT JOIN temp.expect_{MULTI} m")
                 .replace(f"FROM {VE_DAY} ", f"FROM temp.expect_{VE_DAY} ")
                 .replace(f"FROM {PIECE_DAY} ", f"FROM temp.expect_{PIECE_DAY} ") for s in stmts]
        _run(db, stmts)
        for t in TABLES:
            cols = [r[1] for r in db.execute(f"PRAGMA table_info({t})")]
            keep = "WHERE n <> 0" if "n" in cols else ""
            sel = ", ".join(c for c in cols if c != "pc")
            diff = (f"SELECT * FROM (SELECT {sel} FROM {t} {keep} EXCEPT SELECT {sel} FROM "
                    f"temp.expect_{t}) UNION ALL SELECT * FROM (SELECT {sel} FROM temp.expect_{t} "
                    f"EXCEPT SELECT {sel} FROM {t} {keep})")
            n = db.execute(f"SELECT count(*) FROM ({diff})").fetchone()[0]
            if n:
                ex = [tuple(r) for r in db.execute(f"{diff} LIMIT 5")]
                out.append(Mismatch(t, n, ex))
            zero = (f"SELECT count(*) FROM {t} WHERE n = 0 AND ("
                    + " OR ".join(f"{c} <> 0" for c in cols if c in _VE_VALS + _GL_VALS) + ")"
                    if "n" in cols else None)
            if zero and (nz := db.execute(zero).fetchone()[0]):
                out.append(Mismatch(f"{t} (empty groups with amounts)", nz))
    finally:
        for t in TABLES:
            db.execute(f"DROP TABLE IF EXISTS temp.expect_{t}")
        db.execute("RELEASE invrecon_agg_check")
    return out
