"""Scale of the CSV import/export: streaming, batches, bounded memory.

The test runs a small size (CI); for the figures in the README run the script:

    .venv/bin/python tests/test_ledger_csv_bench.py 1000000

It writes a value_entries.csv of N rows (all 33 columns), imports it into a new ledger and
exports it again in child processes, and prints wall time and peak RSS of each step.
"""

from __future__ import annotations

import csv
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from invrecon.models import ValueEntryRow  # noqa: E402

ITEMS = ["A", "B"]


def write_value_entries(path: Path, n: int) -> None:
    """N value entries with every column filled (amounts vary, so sums are checkable)."""
    captions = list(ValueEntryRow.captions().values())
    types = ["Purchase", "Sale", "Positive Adjmt.", "Negative Adjmt.", "Transfer"]
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\r\n")
        w.writerow(captions)
        for i in range(1, n + 1):
            cents = (i * 7919) % 1000003 - 500000
            w.writerow([
                i, ITEMS[i % 2], f"2025-{(i % 12) + 1:02d}-{(i % 28) + 1:02d}", types[i % 5], i,
                "Direct Cost", "", "No", f"DOC{i // 3}", "", "BLUE" if i % 3 else "", "RESALE",
                "DOMESTIC" if i % 2 else "", "RETAIL", "Vendor", "V1", "", "", "", "", 0, "",
                f"{i % 97}.5", f"{i % 97}.5", "12.34567", f"{cents // 100}.{abs(cents) % 100:02d}"
                if cents >= 0 else f"-{abs(cents) // 100}.{abs(cents) % 100:02d}",
                "0.00", "0.00", "0.00", "No", 0, i % 4, "2025-01-01",
            ])


def expected_sum(n: int) -> int:
    return sum((i * 7919) % 1000003 - 500000 for i in range(1, n + 1))


SETUP = """
import sys
sys.path.insert(0, {tests!r})
from invrecon.ledger import open_ledger
from ledger_builder import LedgerBuilder
db = open_ledger({db!r}, create=True)
LedgerBuilder.standard(db)
db.close()
"""

STEP = """
import resource, sys, time
from pathlib import Path
from invrecon.ledger import open_ledger
from invrecon.ledger_csv import export_ledger, import_ledger
db = open_ledger({db!r}, readonly={readonly!r})
t = time.perf_counter()
s = {call}
r = resource.getrusage(resource.RUSAGE_SELF)
# VmHWM is this process's own peak (ru_maxrss also counts the parent's RSS at fork on Linux).
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(time.perf_counter() - t, r.ru_utime + r.ru_stime, hwm)
"""


def _child(code: str) -> tuple[float, float, int]:
    """(wall seconds of the call, CPU seconds of the process, peak RSS in KiB)"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    secs, cpu, rss_kb = out.stdout.split()
    return float(secs), float(cpu), int(rss_kb)


def bench(n: int, workdir: Path) -> dict[str, tuple[float, float, int]]:
    src = workdir / "in"
    src.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    write_value_entries(src / "value_entries.csv", n)
    figures = {"write csv": (time.perf_counter() - t, 0.0, 0)}
    db = workdir / "big.db"
    subprocess.run([sys.executable, "-c", SETUP.format(tests=str(Path(__file__).parent),
                                                          db=str(db))], check=True)
    figures["import"] = _child(STEP.format(db=str(db), readonly=False,
                                           call=f"import_ledger(db, Path({str(src)!r}))"))
    figures["export"] = _child(STEP.format(db=str(db), readonly=True,
                                           call=f"export_ledger(db, Path({str(workdir / 'out')!r}))"))
    return figures


@pytest.mark.slow
def test_import_export_stream_in_bounded_memory(tmp_path):
    n = int(os.environ.get("INVRECON_CSV_BENCH_ROWS", "30000"))
    figures = bench(n, tmp_path)
    import sqlite3

    con = sqlite3.connect(tmp_path / "big.db")
    count, total = con.execute("SELECT count(*), sum(cost_amount_actual) FROM value_entry").fetchone()
    con.close()
    assert count == n
    assert total == expected_sum(n)
    # the export holds the same rows, byte for byte the same cells
    with (tmp_path / "in" / "value_entries.csv").open(encoding="utf-8", newline="") as a, \
            (tmp_path / "out" / "value_entries.csv").open(encoding="utf-8", newline="") as b:
        for ra, rb in zip(csv.reader(a), csv.reader(b), strict=True):
            assert ra == rb
    # memory does not grow with the file: far below the size of the data
    import_rss_mb = figures["import"][2] / 1024
    assert import_rss_mb < 250, figures


if __name__ == "__main__":
    import tempfile

    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        results = bench(rows, Path(tmp))
        size = (Path(tmp) / "in" / "value_entries.csv").stat().st_size
        print(f"{rows} value entries, CSV {size / 1e6:.0f} MB")
        for step, (secs, cpu, rss) in results.items():
            extra = f", CPU {cpu:.1f} s, peak RSS {rss / 1024:.0f} MB" if rss else ""
            print(f"{step}: wall {secs:.1f} s{extra}")
    print(f"bench process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
