"""Time the reconciliation matrix against one bare SELECT sum(...) over the value entries.

    .venv/bin/python bench/bench_matrix.py --value-entries 1000000 [--db PATH] [--keep]

Builds the ledger with `invrecon sample --value-entries N` (skipped if --db exists and --reuse),
then times, in the same run: the bare sum, compute_matrix without explanations, compute_matrix
with explanations and warnings, and with an item filter (G/L attributed through the relation).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from invrecon.filters import LedgerFilter
from invrecon.ledger import open_ledger
from invrecon.reconciliation import compute_matrix


def timed(label: str, fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    print(f"{label:<52} {best:9.2f} s", flush=True)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--value-entries", type=int, default=100_000)
    ap.add_argument("--db", type=Path)
    ap.add_argument("--reuse", action="store_true", help="use --db as it is if it exists")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    tmp = None
    path = args.db
    if path is None:
        tmp = tempfile.mkdtemp(prefix="bench_matrix_")
        path = Path(tmp) / "bench.db"
    if not (args.reuse and path.exists()):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "invrecon", "--db", str(path), "sample",
                        "--value-entries", str(args.value_entries), "--force"], check=True)
        print(f"{'built ledger':<52} {time.perf_counter() - t0:9.2f} s")
    db = open_ledger(path, readonly=True)
    n = db.execute("SELECT count(*) FROM value_entry").fetchone()[0]
    g = db.execute("SELECT count(*) FROM gl_entry").fetchone()[0]
    print(f"value entries: {n:,}  G/L entries: {g:,}  file: {os.path.getsize(path) / 1e6:,.0f} MB")
    bare = timed("bare SELECT sum(cost_amount_actual) FROM value_entry",
                 lambda: db.execute("SELECT sum(cost_amount_actual) FROM value_entry").fetchone(),
                 args.repeat)
    m = timed("matrix, no explanations",
              lambda: compute_matrix(db, explain=False), args.repeat)
    full = timed("matrix + explanations + warnings (CLI 'matrix --warnings')",
                 lambda: compute_matrix(db, show_warning=True), args.repeat)
    item = db.execute("SELECT no FROM item ORDER BY no LIMIT 1").fetchone()[0]
    filt = timed(f"matrix, item filter {item} (G/L attributed) + explanations",
                 lambda: compute_matrix(db, LedgerFilter(item=item)), args.repeat)
    print(f"ratios to the bare sum: {m / bare:.1f}x, {full / bare:.1f}x, {filt / bare:.1f}x")
    db.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
