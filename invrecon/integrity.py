"""``invrecon check``: an integrity check of the ledger an accountant can run at any time.

Every check is one or two aggregate SQL queries (nothing is summed in Python, so the check scales
to millions of entries) and reports a *finding* ``{code, message, count, examples}`` when the
ledger breaks an invariant. ``check_ledger(db)`` runs them all and returns an
``IntegrityReport``; the ledger is consistent when ``report.ok`` (no findings).

The checks (``code`` of the finding in brackets):

1. **SQLite integrity** [``sqlite_integrity``]: ``PRAGMA integrity_check`` (or ``quick_check``
   with ``quick=True``) answers ``ok``.
2. **Foreign keys** [``foreign_key_violation``]: ``PRAGMA foreign_key_check`` finds no row that
   refers to a missing parent (value entry -> item, G/L entry -> G/L account, relation rows ->
   G/L entry and value entry).
3. **G/L balanced in total** [``gl_unbalanced_total``]: the sum of all G/L amounts is 0.
4. **G/L balanced per transaction** [``gl_unbalanced_transaction``]: for every Transaction No.
   the G/L amounts sum to 0.
5. **Inventory G/L balanced per register** [``gl_register_unbalanced``]: the G/L entries linked
   to value entries through the G/L - Item Ledger Relation, grouped by the relation's G/L
   Register No., sum to 0 (each posting run balances: every rule makes a +X/-X pair).
6. **Relation rows point at existing rows** [``relation_orphan``, ``relation_register_missing``,
   ``relation_outside_register``]: every relation row names an existing G/L entry and value
   entry (also enforced by the foreign keys, checked again here because a file may have been
   written with foreign keys off); its G/L Register No. names an existing register whose
   From/To Entry No. range contains the G/L entry.
7. **G/L registers** [``gl_register_range_invalid``, ``gl_register_overlap``]: From Entry No.
   <= To Entry No., and no two registers' ranges overlap.
8. **Inventory-posting G/L entries are linked** [``gl_inventory_entry_without_relation``]: every
   G/L entry with Source Code ``INVTPCOST`` (BC's *Inventory Post Cost*) has at least one
   relation row.
9. **Posted fields have G/L entries behind them** [``posted_without_relation``]: a value entry
   whose Cost Posted to G/L or Expected Cost Posted to G/L is not 0 has relation rows (and so a
   value entry without relation rows has both posted fields 0).
10. **Posted fields are all or nothing** [``posted_field_not_amount``]: posting *assigns* the
    full amount (spec 20, §3.6), so Cost Posted to G/L is 0 or Cost Amount (Actual), and
    Expected Cost Posted to G/L is 0 or Cost Amount (Expected).
11. **Per-entry posting: each value entry's G/L entries balance and match its posted fields**
    [``value_entry_gl_unbalanced``, ``posted_fields_mismatch``]: for a value entry whose linked
    G/L entries are linked to it alone (per-entry posting, automatic cost posting), those G/L
    entries sum to 0 (both sides of every pair), and the amounts on its *account side* equal
    Cost Posted to G/L + Expected Cost Posted to G/L. The account side is, from the current
    posting setup of the entry: for item value entries the Inventory Account and Inventory
    Account (Interim) of its Inventory Posting Setup row (location, inventory posting group);
    for capacity entries (blank Item Ledger Entry Type) the Inventory Adjmt. Account of its
    General Posting Setup row when Order Type = Assembly (rules K1/K2), else its WIP Account
    (K3/K4). Every rule puts +X on that side and -X on the balancing side.
12. **Per posting date: posted fields equal the linked G/L amounts**
    [``posted_fields_mismatch_by_date``]: also for per-posting-group posting, where one G/L entry
    sums several value entries: for each posting date (a G/L entry created by inventory posting
    always carries its value entries' posting date), the account-side G/L entries linked to value
    entries of that date sum to the posted fields of the value entries of that date that have
    relation rows.
13. **Item ledger entries** [``ile_remaining_out_of_range``, ``ile_open_flag_mismatch``]: an
    inbound entry (Quantity > 0) has 0 <= Remaining Quantity <= Quantity, an outbound entry
    Quantity <= Remaining Quantity <= 0; Open = (Remaining Quantity <> 0).
14. **Pre-aggregates** [``preaggregate_mismatch``]: the derived per-day totals equal the entries
    (``_check_preaggregates``; no finding while the ledger has no pre-aggregate tables).

A check that cannot read the file (e.g. "database disk image is malformed") is reported as
[``sqlite_error``] naming the check, never as a traceback.

Checks 11 and 12 read the *current* posting setup: if a setup row's inventory accounts were
changed after posting, they report the difference (so would the reconciliation). A setup that
maps the account side and the balancing side of a rule to the same G/L account makes the pair
cancel on that account and is reported too.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from invrecon.money import format_cents

INVENTORY_POST_COST_SOURCE_CODE = "INVTPCOST"
MAX_EXAMPLES = 5


@dataclass(frozen=True)
class Finding:
    code: str
    message: str
    count: int
    examples: list[Any] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "count": self.count,
            "examples": list(self.examples),
        }

    def line(self) -> str:
        text = f"{self.code}: {self.message}"
        if self.examples:
            shown = ", ".join(_example_text(e) for e in self.examples)
            more = "" if len(self.examples) >= self.count else ", ..."
            text += f" (e.g. {shown}{more})"
        return text


def _example_text(example: Any) -> str:
    if isinstance(example, dict):
        return "{" + ", ".join(f"{k} {v}" for k, v in example.items()) + "}"
    return str(example)


@dataclass
class IntegrityReport:
    database: str
    checks: list[str]
    findings: list[Finding]

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "database": self.database,
            "checks": list(self.checks),
            "findings": [f.to_dict() for f in self.findings],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def codes(self) -> set[str]:
        return {f.code for f in self.findings}


# ---------------------------------------------------------------------------- helpers


def _rows(db: Database, sql: str, params: Any = ()) -> list[sqlite3.Row | tuple]:
    return db.execute(sql, params).fetchall()


def _finding_from_query(
    db: Database,
    code: str,
    sql: str,
    message: Callable[[int], str],
    example: Callable[[tuple], Any],
    params: Any = (),
) -> list[Finding]:
    """``sql`` selects the offending rows, first column ``count(*) OVER ()``; ordered; at most
    MAX_EXAMPLES rows are fetched."""
    rows = _rows(db, f"{sql} LIMIT {MAX_EXAMPLES}", params)
    if not rows:
        return []
    count = rows[0][0]
    return [Finding(code, message(count), count, [example(r[1:]) for r in rows])]


def _has_table(db: Database, name: str) -> bool:
    return db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]
    ).fetchone() is not None


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


# The account side of a value entry's posting pairs, as an SQL boolean over ``g`` (gl_entry),
# ``v`` (value_entry), ``ips`` and ``gps`` (its setup rows, LEFT JOINed).
_ACCOUNT_SIDE_SQL = """
CASE
  WHEN v.item_ledger_entry_type <> ''
    THEN g.gl_account_no IN (ips.inventory_account, ips.inventory_account_interim)
  WHEN v.order_type = 'Assembly' THEN g.gl_account_no = gps.inventory_adjmt_account
  ELSE g.gl_account_no = ips.wip_account
END
"""

_SETUP_JOINS_SQL = """
LEFT JOIN inventory_posting_setup ips
  ON ips.location_code = v.location_code AND ips.invt_posting_group_code = v.inventory_posting_group
LEFT JOIN general_posting_setup gps
  ON gps.gen_bus_posting_group = v.gen_bus_posting_group
 AND gps.gen_prod_posting_group = v.gen_prod_posting_group
"""


# ---------------------------------------------------------------------------- checks


def _check_sqlite_integrity(db: Database, quick: bool = False) -> list[Finding]:
    pragma = "quick_check" if quick else "integrity_check"
    rows = [r[0] for r in _rows(db, f"PRAGMA {pragma}")]
    if rows == ["ok"]:
        return []
    return [Finding(
        "sqlite_integrity",
        f"PRAGMA {pragma} reports {_plural(len(rows), 'problem')}; restore the file from a backup",
        len(rows), rows[:MAX_EXAMPLES],
    )]


def _check_foreign_keys(db: Database) -> list[Finding]:
    rows = _rows(db, "PRAGMA foreign_key_check")
    if not rows:
        return []
    by_table: dict[tuple[str, str], list[Any]] = {}
    for table, rowid, parent, _fkid in rows:
        by_table.setdefault((table, parent), []).append(rowid)
    parts = [f"{len(ids)} {t} rows refer to a missing {p}" for (t, p), ids in by_table.items()]
    examples = [
        {"table": t, "rowid": i} for (t, _p), ids in by_table.items() for i in ids
    ][:MAX_EXAMPLES]
    return [Finding("foreign_key_violation", "; ".join(parts), len(rows), examples)]


def _check_gl_balance(db: Database) -> list[Finding]:
    findings = []
    total, n = db.execute("SELECT coalesce(sum(amount), 0), count(*) FROM gl_entry").fetchone()
    if total != 0:
        findings.append(Finding(
            "gl_unbalanced_total",
            f"the {_plural(n, 'G/L entry', 'G/L entries')} sum to {format_cents(total)}, not 0",
            1, [{"sum": format_cents(total)}],
        ))
    findings += _finding_from_query(
        db, "gl_unbalanced_transaction",
        """SELECT count(*) OVER (), transaction_no, sum(amount) FROM gl_entry
           GROUP BY transaction_no HAVING sum(amount) <> 0 ORDER BY transaction_no""",
        lambda c: f"{_plural(c, 'G/L transaction')} do not balance (Transaction No.: sum)",
        lambda r: {"transaction_no": r[0], "sum": format_cents(r[1])},
    )
    findings += _finding_from_query(
        db, "gl_register_unbalanced",
        """WITH reg AS (SELECT DISTINCT gl_register_no, gl_entry_no FROM gl_item_ledger_relation)
           SELECT count(*) OVER (), reg.gl_register_no, sum(g.amount)
           FROM reg JOIN gl_entry g ON g.entry_no = reg.gl_entry_no
           GROUP BY reg.gl_register_no HAVING sum(g.amount) <> 0 ORDER BY reg.gl_register_no""",
        lambda c: f"the inventory G/L entries of {_plural(c, 'G/L register')} do not balance",
        lambda r: {"register_no": r[0], "sum": format_cents(r[1])},
    )
    return findings


def _check_relations(db: Database) -> list[Finding]:
    findings = _finding_from_query(
        db, "relation_orphan",
        """SELECT count(*) OVER (), r.gl_entry_no, r.value_entry_no
           FROM gl_item_ledger_relation r
           WHERE NOT EXISTS (SELECT 1 FROM gl_entry g WHERE g.entry_no = r.gl_entry_no)
              OR NOT EXISTS (SELECT 1 FROM value_entry v WHERE v.entry_no = r.value_entry_no)
           ORDER BY r.gl_entry_no, r.value_entry_no""",
        lambda c: f"{_plural(c, 'G/L - Item Ledger Relation row')} point at a missing G/L entry "
        "or value entry",
        lambda r: {"gl_entry_no": r[0], "value_entry_no": r[1]},
    )
    findings += _finding_from_query(
        db, "relation_register_missing",
        """SELECT count(*) OVER (), r.gl_entry_no, r.value_entry_no, r.gl_register_no
           FROM gl_item_ledger_relation r
           WHERE NOT EXISTS (SELECT 1 FROM gl_register reg WHERE reg.no = r.gl_register_no)
           ORDER BY r.gl_entry_no, r.value_entry_no""",
        lambda c: f"{_plural(c, 'G/L - Item Ledger Relation row')} name a G/L register that "
        "does not exist",
        lambda r: {"gl_entry_no": r[0], "value_entry_no": r[1], "register_no": r[2]},
    )
    findings += _finding_from_query(
        db, "relation_outside_register",
        """SELECT count(*) OVER (), r.gl_entry_no, r.gl_register_no, reg.from_entry_no,
                  reg.to_entry_no
           FROM gl_item_ledger_relation r JOIN gl_register reg ON reg.no = r.gl_register_no
           WHERE r.gl_entry_no NOT BETWEEN reg.from_entry_no AND reg.to_entry_no
           ORDER BY r.gl_entry_no""",
        lambda c: f"{_plural(c, 'G/L - Item Ledger Relation row')} link a G/L entry outside "
        "the From/To Entry No. range of their G/L register",
        lambda r: {"gl_entry_no": r[0], "register_no": r[1], "range": f"{r[2]}..{r[3]}"},
    )
    return findings


def _check_registers(db: Database) -> list[Finding]:
    findings = _finding_from_query(
        db, "gl_register_range_invalid",
        """SELECT count(*) OVER (), no, from_entry_no, to_entry_no FROM gl_register
           WHERE from_entry_no > to_entry_no ORDER BY no""",
        lambda c: f"{_plural(c, 'G/L register')} have From Entry No. > To Entry No.",
        lambda r: {"register_no": r[0], "range": f"{r[1]}..{r[2]}"},
    )
    findings += _finding_from_query(
        db, "gl_register_overlap",
        """WITH ordered AS (
             SELECT no, from_entry_no, to_entry_no,
                    max(to_entry_no) OVER (ORDER BY from_entry_no, no
                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_to
             FROM gl_register)
           SELECT count(*) OVER (), no, from_entry_no, to_entry_no FROM ordered
           WHERE prev_to >= from_entry_no ORDER BY from_entry_no, no""",
        lambda c: f"{_plural(c, 'G/L register')} overlap the entry range of an earlier register",
        lambda r: {"register_no": r[0], "range": f"{r[1]}..{r[2]}"},
    )
    return findings


def _check_inventory_gl_linked(db: Database) -> list[Finding]:
    return _finding_from_query(
        db, "gl_inventory_entry_without_relation",
        """SELECT count(*) OVER (), g.entry_no, g.gl_account_no, g.amount FROM gl_entry g
           WHERE g.source_code = ?
             AND NOT EXISTS (SELECT 1 FROM gl_item_ledger_relation r
                             WHERE r.gl_entry_no = g.entry_no)
           ORDER BY g.entry_no""",
        lambda c: f"{_plural(c, 'G/L entry', 'G/L entries')} with source code "
        f"{INVENTORY_POST_COST_SOURCE_CODE} (inventory posting) are linked to no value entry",
        lambda r: {"gl_entry_no": r[0], "account": r[1], "amount": format_cents(r[2])},
        [INVENTORY_POST_COST_SOURCE_CODE],
    )


def _check_posted_fields(db: Database) -> list[Finding]:
    findings = _finding_from_query(
        db, "posted_without_relation",
        """SELECT count(*) OVER (), v.entry_no, v.cost_posted_to_gl, v.expected_cost_posted_to_gl
           FROM value_entry v
           WHERE (v.cost_posted_to_gl <> 0 OR v.expected_cost_posted_to_gl <> 0)
             AND NOT EXISTS (SELECT 1 FROM gl_item_ledger_relation r
                             WHERE r.value_entry_no = v.entry_no)
           ORDER BY v.entry_no""",
        lambda c: f"{_plural(c, 'value entry', 'value entries')} show cost posted to G/L but "
        "have no G/L - Item Ledger Relation rows (no G/L entries behind them)",
        lambda r: {"value_entry_no": r[0], "cost_posted_to_gl": format_cents(r[1]),
                   "expected_cost_posted_to_gl": format_cents(r[2])},
    )
    findings += _finding_from_query(
        db, "posted_field_not_amount",
        """SELECT count(*) OVER (), entry_no, cost_amount_actual, cost_posted_to_gl,
                  cost_amount_expected, expected_cost_posted_to_gl
           FROM value_entry
           WHERE cost_posted_to_gl NOT IN (0, cost_amount_actual)
              OR expected_cost_posted_to_gl NOT IN (0, cost_amount_expected)
           ORDER BY entry_no""",
        lambda c: f"{_plural(c, 'value entry', 'value entries')} have a posted field that is "
        "neither 0 nor the full cost amount (posting assigns the whole amount)",
        lambda r: {"value_entry_no": r[0], "actual": format_cents(r[1]),
                   "posted": format_cents(r[2]), "expected": format_cents(r[3]),
                   "expected_posted": format_cents(r[4])},
    )
    # Per entry: value entries whose G/L entries are linked to them alone (one pass over the
    # relation rows in value entry order; the offending entries go to a temp table).
    db.execute("DROP TABLE IF EXISTS temp.integrity_per_entry")
    db.execute(f"""
        CREATE TEMP TABLE integrity_per_entry AS
        SELECT * FROM (
          SELECT r.value_entry_no AS ve_no,
                 max((SELECT count(*) FROM gl_item_ledger_relation r2
                      WHERE r2.gl_entry_no = r.gl_entry_no)) AS max_links,
                 sum(g.amount) AS total,
                 sum(CASE WHEN {_ACCOUNT_SIDE_SQL} THEN g.amount ELSE 0 END) AS account_side,
                 v.cost_posted_to_gl + v.expected_cost_posted_to_gl AS posted
          FROM gl_item_ledger_relation r
          JOIN gl_entry g ON g.entry_no = r.gl_entry_no
          JOIN value_entry v ON v.entry_no = r.value_entry_no
          {_SETUP_JOINS_SQL}
          GROUP BY r.value_entry_no)
        WHERE max_links = 1 AND (total <> 0 OR account_side <> posted)
    """)
    try:
        findings += _finding_from_query(
            db, "value_entry_gl_unbalanced",
            """SELECT count(*) OVER (), ve_no, total FROM temp.integrity_per_entry
               WHERE total <> 0 ORDER BY ve_no""",
            lambda c: f"the G/L entries of {_plural(c, 'value entry', 'value entries')} "
            "posted per entry do not balance",
            lambda r: {"value_entry_no": r[0], "sum": format_cents(r[1])},
        )
        findings += _finding_from_query(
            db, "posted_fields_mismatch",
            """SELECT count(*) OVER (), ve_no, posted, account_side
               FROM temp.integrity_per_entry WHERE account_side <> posted ORDER BY ve_no""",
            lambda c: f"{_plural(c, 'value entry', 'value entries')} posted per entry: Cost "
            "Posted to G/L + Expected Cost Posted to G/L differ from the linked G/L amounts on "
            "the inventory side",
            lambda r: {"value_entry_no": r[0], "posted": format_cents(r[1]),
                       "gl": format_cents(r[2])},
        )
    finally:
        db.execute("DROP TABLE IF EXISTS temp.integrity_per_entry")
    # Per posting date: works for per-posting-group lines that sum several value entries.
    findings += _finding_from_query(
        db, "posted_fields_mismatch_by_date",
        f"""WITH linked_gl AS (
              SELECT g.posting_date AS d, g.amount AS amount FROM gl_entry g
              WHERE EXISTS (
                SELECT 1 FROM gl_item_ledger_relation r
                JOIN value_entry v ON v.entry_no = r.value_entry_no
                {_SETUP_JOINS_SQL}
                WHERE r.gl_entry_no = g.entry_no AND ({_ACCOUNT_SIDE_SQL}))
            ),
            gl_by_date AS (SELECT d, sum(amount) AS gl FROM linked_gl GROUP BY d),
            ve_by_date AS (
              SELECT v.posting_date AS d,
                     sum(v.cost_posted_to_gl + v.expected_cost_posted_to_gl) AS posted
              FROM value_entry v
              WHERE EXISTS (SELECT 1 FROM gl_item_ledger_relation r
                            WHERE r.value_entry_no = v.entry_no)
              GROUP BY v.posting_date
            ),
            dates AS (SELECT d FROM gl_by_date UNION SELECT d FROM ve_by_date)
            SELECT count(*) OVER (), dates.d, coalesce(ve.posted, 0), coalesce(gl.gl, 0)
            FROM dates LEFT JOIN gl_by_date gl ON gl.d = dates.d
                       LEFT JOIN ve_by_date ve ON ve.d = dates.d
            WHERE coalesce(ve.posted, 0) <> coalesce(gl.gl, 0)
            ORDER BY dates.d""",
        lambda c: f"on {_plural(c, 'posting date')} the posted fields of the value entries "
        "differ from the linked G/L amounts on the inventory side",
        lambda r: {"posting_date": r[0], "posted": format_cents(r[1]), "gl": format_cents(r[2])},
    )
    return findings


def _check_item_ledger_entries(db: Database) -> list[Finding]:
    findings = _finding_from_query(
        db, "ile_remaining_out_of_range",
        """SELECT count(*) OVER (), entry_no, quantity, remaining_quantity FROM item_ledger_entry
           WHERE (quantity >= 0 AND remaining_quantity NOT BETWEEN 0 AND quantity)
              OR (quantity < 0 AND remaining_quantity NOT BETWEEN quantity AND 0)
           ORDER BY entry_no""",
        lambda c: f"{_plural(c, 'item ledger entry', 'item ledger entries')} have a Remaining "
        "Quantity outside 0..Quantity",
        lambda r: {"item_ledger_entry_no": r[0], "quantity": r[1], "remaining_quantity": r[2]},
    )
    findings += _finding_from_query(
        db, "ile_open_flag_mismatch",
        """SELECT count(*) OVER (), entry_no, open, remaining_quantity FROM item_ledger_entry
           WHERE open <> (remaining_quantity <> 0) ORDER BY entry_no""",
        lambda c: f"{_plural(c, 'item ledger entry', 'item ledger entries')} have Open "
        "different from (Remaining Quantity <> 0)",
        lambda r: {"item_ledger_entry_no": r[0], "open": r[1], "remaining_quantity": r[2]},
    )
    return findings


def _check_preaggregates(db: Database) -> list[Finding]:
    """Pre-aggregates (issue 7) equal the entries they summarise.

    Returns no finding while the ledger has no pre-aggregate tables.
    """
    from invrecon import preaggregates

    return [Finding("preaggregate_mismatch", m.message(), m.count, [list(x) for x in m.examples])
            for m in preaggregates.check(db)]


def _named_checks(quick: bool) -> list[tuple[str, Callable[[Database], list[Finding]]]]:
    return [
        ("sqlite_integrity", lambda db: _check_sqlite_integrity(db, quick)),
        ("foreign_keys", _check_foreign_keys),
        ("gl_balance", _check_gl_balance),
        ("relations", _check_relations),
        ("gl_registers", _check_registers),
        ("inventory_gl_linked", _check_inventory_gl_linked),
        ("posted_fields", _check_posted_fields),
        ("item_ledger_entries", _check_item_ledger_entries),
        ("preaggregates", _check_preaggregates),
    ]


def check_ledger(db: Database, *, quick: bool = False) -> IntegrityReport:
    """Run every check in one read transaction (a consistent snapshot, even while another
    process writes) and return the report. ``quick=True`` uses ``PRAGMA quick_check``."""
    from invrecon.ledger import db_path

    conn = db.conn
    own_txn = not conn.in_transaction
    if own_txn:
        conn.execute("BEGIN")  # deferred: the first SELECT pins the snapshot
    try:
        names, findings = [], []
        for name, fn in _named_checks(quick):
            names.append(name)
            try:
                findings.extend(fn(db))
            except sqlite3.DatabaseError as exc:  # e.g. "database disk image is malformed"
                findings.append(Finding(
                    "sqlite_error", f"the {name} check could not read the ledger: {exc}", 1,
                    [name],
                ))
    finally:
        if own_txn and conn.in_transaction:
            conn.execute("ROLLBACK")
    return IntegrityReport(database=db_path(db), checks=names, findings=findings)
