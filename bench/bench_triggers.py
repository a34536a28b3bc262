"""Cost of the pre-aggregate triggers (issue 7) on the writes that fire them most.

    .venv/bin/python bench/bench_triggers.py --db bench/cache/sample-1000000-1-posted.db [--rows N]

On a posted ledger, each inside a transaction that is rolled back (the file is not changed):

* ``unpost``: the posting engine's set-based UPDATE of the posted fields over every value entry
  (``cost_posted_to_gl`` / ``expected_cost_posted_to_gl`` := 0), with and without the triggers;
* ``insert``: N G/L entries and N relation rows (each G/L entry linked to one value entry) with a
  bare ``executemany``, with and without the triggers;
* ``rebuild``: ``preaggregates.rebuild`` from scratch (what ``bulk_load`` pays at its end).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from invrecon import preaggregates
from invrecon.ledger import open_ledger, write_transaction


def timed(db, label: str, fn, *, triggers: bool) -> float:
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        if not triggers:
            preaggregates.drop_triggers(db)
        t0 = time.perf_counter()
        fn(conn)
        dt = time.perf_counter() - t0
    finally:
        conn.execute("ROLLBACK")
    print(f"  {label:50s} {dt:8.2f}s", flush=True)
    return dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--unpost", type=int, default=1_000_000,
                    help="un-post the value entries with entry no. <= this")
    args = ap.parse_args()
    db = open_ledger(args.db)
    n_ve = db.execute("SELECT count(*) FROM value_entry").fetchone()[0]
    print(f"{args.db.name}: {n_ve:,} value entries")

    def unpost(conn):
        conn.execute("UPDATE value_entry SET cost_posted_to_gl = 0, expected_cost_posted_to_gl = 0 "
                     "WHERE entry_no <= ? AND (cost_posted_to_gl <> 0 OR "
                     "expected_cost_posted_to_gl <> 0)", [args.unpost])

    base = db.execute("SELECT max(entry_no) FROM gl_entry").fetchone()[0] + 1
    vmax = db.execute("SELECT max(entry_no) FROM value_entry").fetchone()[0]
    n = args.rows

    def insert(conn):
        conn.executemany(
            "INSERT INTO gl_entry (entry_no, gl_account_no, posting_date, document_no, amount, "
            "source_code, transaction_no) VALUES (?, '2130', '2025-06-01', 'B', ?, 'BENCH', ?)",
            ((base + i, 100 + i % 7, base + i) for i in range(n)))
        conn.executemany(
            "INSERT INTO gl_item_ledger_relation (gl_entry_no, value_entry_no) VALUES (?, ?)",
            ((base + i, 1 + i % vmax) for i in range(n)))

    res = {}
    if not preaggregates.available(db):  # triggers of an older build: replace them
        with write_transaction(db):
            preaggregates.create_triggers(db)
    n_up = db.execute("SELECT count(*) FROM value_entry WHERE entry_no <= ? AND "
                      "(cost_posted_to_gl <> 0 OR expected_cost_posted_to_gl <> 0)",
                      [args.unpost]).fetchone()[0]
    res["unpost_with"] = timed(db, f"unpost {n_up:,} value entries, triggers", unpost, triggers=True)
    res["unpost_without"] = timed(db, "unpost, no triggers", unpost, triggers=False)
    res["insert_with"] = timed(db, f"insert {n:,} G/L + {n:,} relation rows, triggers", insert,
                               triggers=True)
    res["insert_without"] = timed(db, "insert, no triggers", insert, triggers=False)
    res["rebuild"] = timed(db, "preaggregates.rebuild (from scratch)",
                           lambda conn: preaggregates.rebuild(db), triggers=True)
    print(f"  trigger overhead: unpost x{res['unpost_with'] / res['unpost_without']:.1f}, "
          f"insert x{res['insert_with'] / res['insert_without']:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
