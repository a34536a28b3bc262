"""Time Adjust Cost - Item Entries on a big ledger.

    .venv/bin/python bench/bench_adjust_cost.py --value-entries 1000000 [--db PATH --reuse]

Builds the ledger with `invrecon sample --value-entries N --no-post` (or reuses --db), copies it,
then marks every FIFO/LIFO/Average item as not adjusted and every inbound entry of those items as
"Applied Entry to Adjust" (the worst case: a full re-forwarding of every chain and a full
average recomputation), and times, each in one write transaction:
  1. the full run (adjustment entries written, not posted),
  2. a second run (idempotency: should create nothing),
  3. a run after one item charge on one entry (the everyday incremental case).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from invrecon.cost_adjustment import adjust_cost
from invrecon.ledger import open_ledger, write_transaction


def run(db, label: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    with write_transaction(db):
        res = adjust_cost(db)
    dt = time.perf_counter() - t0
    print(f"{label:<46} {dt:8.2f} s  {len(res.entries):>8} entries  "
          f"{len(res.items_adjusted) + len(res.still_pending):>5} items", flush=True)
    return dt, len(res.entries)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--value-entries", type=int, default=100_000)
    ap.add_argument("--db", type=Path)
    ap.add_argument("--reuse", action="store_true", help="use --db as it is if it exists")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_adjust_"))
    src = args.db or tmp / "source.db"
    if not (args.reuse and src.exists()):
        exe = Path(sys.executable).parent / "invrecon"
        t0 = time.perf_counter()
        subprocess.run([str(exe), "--db", str(src), "sample", "--value-entries",
                        str(args.value_entries), "--no-post", "--force"], check=True)
        print(f"sample ledger built in {time.perf_counter() - t0:.1f} s", flush=True)
    work = tmp / "work.db"
    shutil.copy(src, work)
    db = open_ledger(work)
    try:
        n_ve = db.execute("SELECT count(*) FROM value_entry").fetchone()[0]
        with write_transaction(db):
            db.execute("UPDATE item SET cost_is_adjusted = 0 WHERE costing_method IN "
                       "('FIFO', 'LIFO', 'Average')")
            db.execute("UPDATE item_ledger_entry SET applied_entry_to_adjust = 1 WHERE positive = 1 "
                       "AND item_no IN (SELECT no FROM item WHERE costing_method IN "
                       "('FIFO', 'LIFO', 'Average'))")
            db.execute("DELETE FROM avg_cost_adjmt_entry_point")
        print(f"ledger: {n_ve:,} value entries", flush=True)
        run(db, "1. full adjustment (every chain, every period)")
        run(db, "2. second run (idempotency)")
        row = db.execute(
            "SELECT l.entry_no, l.item_no FROM item_ledger_entry l JOIN item i ON i.no = l.item_no "
            "WHERE i.costing_method = 'FIFO' AND l.positive = 1 AND l.remaining_quantity = 0 "
            "ORDER BY l.entry_no LIMIT 1").fetchone()
        if row:
            from invrecon.item_journal import parse_journal_text
            from invrecon.item_posting import post_journal_lines
            date = db.execute("SELECT max(posting_date) FROM item_ledger_entry").fetchone()[0]
            text = ("Posting Date,Entry Type,Item No.,Amount,Applies-to Entry\n"
                    f"{date},Item Charge,{row[1]},12.34,{row[0]}\n")
            db.execute("UPDATE general_ledger_setup SET allow_posting_from = '', "
                       "allow_posting_to = ''")
            db.execute("DELETE FROM accounting_period")
            with write_transaction(db):
                post_journal_lines(db, parse_journal_text(text, "bench.csv"))
            run(db, "3. after one item charge (incremental)")
    finally:
        db.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
