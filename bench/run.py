"""invrecon benchmark harness (issue 7). Not part of the test suite's pass/fail.

    .venv/bin/python bench/run.py --sizes 1000000 10000000 --repeat 3 --out bench/results/latest.json
    .venv/bin/python bench/run.py --sizes 1000000 --skip-posting --before   # reads, + raw engine once

Builds ledgers with ``invrecon sample`` (cached in bench/cache by seed and size), runs every
measurement several times, and prints median and min-max, the anchor measured in the same run
and the ratio to it. Every measurement runs in a fresh subprocess so peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / "cache"
PY = sys.executable


def ledger(size: int, seed: int, *, posted: bool) -> Path:
    """A cached sample ledger of about ``size`` value entries."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"sample-{size}-{seed}-{'posted' if posted else 'unposted'}.db"
    if not path.exists():
        t0 = time.perf_counter()
        code = textwrap.dedent(f"""
            from pathlib import Path
            from invrecon.sample import generate_sample
            generate_sample(Path({str(path)!r}), value_entries={size}, seed={seed}, post={posted})
        """)
        subprocess.run([PY, "-c", code], check=True)
        print(f"  built {path.name} in {time.perf_counter() - t0:.1f}s", flush=True)
    # A ledger cached by an older invrecon gets the pending migrations (the pre-aggregates are
    # filled from its entries once); the reads below open it read-only.
    t0 = time.perf_counter()
    out = subprocess.run([PY, "-c", textwrap.dedent(f"""
        from invrecon import schema
        from invrecon.ledger import open_ledger
        db = open_ledger({str(path)!r}, readonly=True)
        pending = [m.name for m in schema.migrations.pending(db)]
        db.close()
        if pending:
            db = open_ledger({str(path)!r})
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        print(",".join(pending))
    """)], check=True, capture_output=True, text=True).stdout.strip()
    if out:
        print(f"  applied {out} to {path.name} in {time.perf_counter() - t0:.1f}s", flush=True)
    return path


def timed(code: str, *, setup: str = "", repeat: int = 3) -> dict:
    """Run ``code`` ``repeat`` times, each in a fresh subprocess after ``setup``; seconds + RSS."""
    script = textwrap.dedent("""
        import json, resource, sys, time
        {setup}
        t0 = time.perf_counter()
        {code}
        elapsed = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(json.dumps({{"seconds": elapsed, "rss": rss}}))
    """).format(setup=textwrap.dedent(setup), code=textwrap.dedent(code))
    runs = []
    for _ in range(repeat):
        out = subprocess.run([PY, "-c", script], check=True, capture_output=True, text=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    secs = [r["seconds"] for r in runs]
    return {
        "median": statistics.median(secs),
        "min": min(secs),
        "max": max(secs),
        "peak_rss_mb": max(r["rss"] for r in runs) / 2**20,
    }


def fmt(r: dict) -> str:
    return f"{r['median']:.3f}s (min {r['min']:.3f}, max {r['max']:.3f}; rss {r['peak_rss_mb']:.0f} MB)"


OPEN = "from invrecon.ledger import open_ledger\nfrom invrecon.filters import LedgerFilter\ndb = open_ledger({path!r}, readonly=True)"


def bench_reads(path: Path, repeat: int, before: bool = False) -> dict:
    p = str(path)
    results: dict[str, dict] = {}
    results["anchor_sum_scan"] = timed(
        "db.execute('SELECT sum(cost_amount_actual) FROM value_entry').fetchone()",
        setup=OPEN.format(path=p), repeat=repeat)
    month = subprocess.run(
        [PY, "-c", OPEN.format(path=p) + "\nprint(db.execute('SELECT max(posting_date) FROM value_entry').fetchone()[0][:7])"],
        check=True, capture_output=True, text=True).stdout.strip()
    item = subprocess.run(
        [PY, "-c", OPEN.format(path=p) + "\nprint(db.execute('SELECT item_no FROM value_entry WHERE item_no IS NOT NULL LIMIT 1').fetchone()[0])"],
        check=True, capture_output=True, text=True).stdout.strip()
    recon = "from invrecon.reconciliation import compute_matrix\n"
    results["matrix_no_filter"] = timed(
        "compute_matrix(db, LedgerFilter())", setup=OPEN.format(path=p) + "\n" + recon, repeat=repeat)
    results["matrix_one_month"] = timed(
        f"compute_matrix(db, LedgerFilter.from_text({month!r}, {month!r}))",
        setup=OPEN.format(path=p) + "\n" + recon, repeat=repeat)
    results["matrix_item_filter"] = timed(
        f"compute_matrix(db, LedgerFilter(item={item!r}))",
        setup=OPEN.format(path=p) + "\n" + recon, repeat=repeat)
    results["matrix_warnings"] = timed(
        "compute_matrix(db, LedgerFilter(), show_warning=True)",
        setup=OPEN.format(path=p) + "\n" + recon, repeat=repeat)
    results["matrix_as_of"] = timed(
        f"compute_matrix(db, LedgerFilter.from_text(None, {month!r}))",
        setup=OPEN.format(path=p) + "\n" + recon, repeat=repeat)
    results["matrix_location"] = timed(
        "compute_matrix(db, LedgerFilter(location='BLUE'))",
        setup=OPEN.format(path=p) + "\n" + recon, repeat=repeat)
    results["matrix_per_account"] = timed(
        "compute_matrix(db, LedgerFilter(), per_account=True)",
        setup=OPEN.format(path=p) + "\n" + recon, repeat=repeat)
    drill = "\nfrom invrecon.drilldown import drill_entries, drill_lines"
    results["drill_first_page"] = timed(
        "drill_entries(db, 'cogs', 'inventory', LedgerFilter(), limit=500)",
        setup=OPEN.format(path=p) + drill, repeat=repeat)
    results["drill_first_page_month"] = timed(
        f"drill_entries(db, 'cogs', 'inventory', LedgerFilter.from_text({month!r}, {month!r}), "
        "limit=500)", setup=OPEN.format(path=p) + drill, repeat=repeat)
    results["drill_lines_per_item"] = timed(
        "drill_lines(db, 'cogs', 'inventory', LedgerFilter())",
        setup=OPEN.format(path=p) + drill, repeat=repeat)
    if before:  # the same engine reading the entries instead of the pre-aggregates
        raw = recon + "import invrecon.reconciliation as R\nR.USE_PREAGGREGATES = False\n"
        results["before_matrix_no_explanations"] = timed(
            "compute_matrix(db, LedgerFilter(), explain=False)",
            setup=OPEN.format(path=p) + "\n" + raw, repeat=1)
        results["before_matrix_no_filter"] = timed(
            "compute_matrix(db, LedgerFilter())", setup=OPEN.format(path=p) + "\n" + raw, repeat=1)
        results["before_matrix_item_filter"] = timed(
            f"compute_matrix(db, LedgerFilter(item={item!r}))",
            setup=OPEN.format(path=p) + "\n" + raw, repeat=1)
    results["_params"] = {"month": month, "item": item}
    return results


def bench_posting(path: Path, repeat: int, open_dates: bool = False) -> dict:
    """Posting on a copy of an unposted ledger, against a bare executemany of the same rows.

    ``open_dates``: clear the sample's Allow Posting From/To first (untimed), so that every
    queued entry posts instead of about half being skipped for its date."""
    results: dict[str, dict] = {}
    work = path.with_suffix(".work.db")
    rows_file = path.with_suffix(".rows.pickle")
    copy = f"import shutil\nshutil.copyfile({str(path)!r}, {str(work)!r})\n"
    if open_dates:
        copy += ("import sqlite3\n"
                 f"_c = sqlite3.connect({str(work)!r})\n"
                 "_c.execute(\"UPDATE general_ledger_setup SET allow_posting_from = '', "
                 "allow_posting_to = ''\")\n_c.commit()\n_c.close()\n")
    for suffix in ("-wal", "-shm"):
        Path(str(work) + suffix).unlink(missing_ok=True)
    post_setup = copy + (
        "from invrecon.ledger import open_ledger\n"
        "from invrecon.posting import PostingRequest, post_inventory_cost\n"
        f"db = open_ledger({str(work)!r})\n"
    )
    # The three measurements take turns (group, entry, anchor, group, ...) so that a machine
    # that speeds up or slows down during the bench shifts the run and its anchor alike.
    runs: dict[str, list[dict]] = {"post_per_group": [], "post_per_entry": [],
                                   "anchor_insert_gl_and_relation_per_entry": []}
    for i in range(repeat):
        runs["post_per_group"].append(timed(
            "r = post_inventory_cost(db, PostingRequest(mode='per-posting-group', "
            "document_no='BENCH'))", setup=post_setup, repeat=1))
        runs["post_per_entry"].append(timed(
            "r = post_inventory_cost(db, PostingRequest(mode='per-entry'))",
            setup=post_setup, repeat=1))
        if i == 0:
            n_gl, n_rel = _dump_anchor_rows(work, rows_file)
        runs["anchor_insert_gl_and_relation_per_entry"].append(timed(
            _ANCHOR_CODE, setup=copy + _anchor_setup(work, rows_file), repeat=1))
    for name, rs in runs.items():
        results[name] = _merge_runs(rs)
    results["_rows"] = {"gl_entries_per_entry_run": n_gl, "relation_rows_per_entry_run": n_rel,
                        "open_dates": open_dates}
    rows_file.unlink(missing_ok=True)
    return results


_ANCHOR_CODE = ("c.execute('BEGIN')\n"
                "c.executemany(ins_gl, gl)\n"
                "c.executemany(ins_rel, rel)\n"
                "c.execute('COMMIT')")


def _merge_runs(rs: list[dict]) -> dict:
    secs = [r["median"] for r in rs]
    return {"median": statistics.median(secs), "min": min(secs), "max": max(secs),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in rs), "runs": secs}


def _dump_anchor_rows(work: Path, rows_file: Path) -> tuple[int, int]:
    """Pickle the G/L entries and relation rows the last per-entry run on ``work`` wrote
    to ``rows_file``; their counts."""
    dump = (
        "import sqlite3, pickle\n"
        f"c = sqlite3.connect({str(work)!r})\n"
        "lo, hi = c.execute('SELECT from_entry_no, to_entry_no FROM gl_register "
        "ORDER BY no DESC LIMIT 1').fetchone()\n"
        "gl = c.execute('SELECT * FROM gl_entry WHERE entry_no BETWEEN ? AND ? "
        "ORDER BY entry_no', (lo, hi)).fetchall()\n"
        "rel = c.execute('SELECT * FROM gl_item_ledger_relation WHERE gl_entry_no BETWEEN ? "
        "AND ? ORDER BY gl_entry_no', (lo, hi)).fetchall()\n"
        f"pickle.dump((gl, rel), open({str(rows_file)!r}, 'wb'))\n"
        "print(len(gl), len(rel))\n"
    )
    n_gl, n_rel = map(int, subprocess.run([PY, "-c", dump], check=True, capture_output=True,
                                          text=True).stdout.split())
    return n_gl, n_rel


def _anchor_setup(work: Path, rows_file: Path) -> str:
    """The anchor: exactly the G/L entries and relation rows the per-entry run wrote, inserted
    bare (no triggers) with executemany in one transaction into a fresh copy."""
    return (
        "import sqlite3, pickle\n"
        f"gl, rel = pickle.load(open({str(rows_file)!r}, 'rb'))\n"
        f"c = sqlite3.connect({str(work)!r}, isolation_level=None)\n"
        "c.execute('PRAGMA synchronous=NORMAL')\n"
        # bare: no pre-aggregate triggers (a large posting run drops them too)
        "for (t,) in c.execute(\"SELECT name FROM sqlite_master WHERE type = 'trigger'\").fetchall():\n"
        "    c.execute(f'DROP TRIGGER {t}')\n"
        "ins_gl = f\"INSERT INTO gl_entry VALUES ({', '.join('?' * len(gl[0]))})\"\n"
        "ins_rel = f\"INSERT INTO gl_item_ledger_relation VALUES ({', '.join('?' * len(rel[0]))})\"\n"
    )


TARGETS = {
    "matrix_no_filter": ("ratio", "anchor_sum_scan", 1.0),
    "matrix_one_month": ("ratio", "anchor_sum_scan", 1.0),
    "matrix_warnings": ("ratio", "anchor_sum_scan", 1.0),
    "matrix_as_of": ("ratio", "anchor_sum_scan", 1.0),
    "matrix_location": ("ratio", "anchor_sum_scan", 1.0),
    "matrix_item_filter": ("seconds", None, 0.2),
    "drill_first_page": ("seconds", None, 0.1),
    "post_per_entry": ("ratio", "anchor_insert_gl_and_relation_per_entry", 3.0),
    "post_per_group": ("ratio", "anchor_insert_gl_and_relation_per_entry", 3.0),
}


def report(name: str, results: dict) -> None:
    print(f"\n== {name}")
    for key, r in results.items():
        if key.startswith("_"):
            print(f"  {key}: {r}")
            continue
        line = f"  {key:45s} {fmt(r)}"
        if key in TARGETS:
            kind, anchor, target = TARGETS[key]
            if kind == "ratio" and anchor in results:
                ratio = r["median"] / results[anchor]["median"]
                r["ratio"] = ratio
                line += f"  ratio {ratio:.2f}x (target <= {target}x) {'OK' if ratio <= target else 'MISS'}"
            elif kind == "seconds":
                line += f"  (target <= {target}s) {'OK' if r['median'] <= target else 'MISS'}"
        print(line, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-posting", action="store_true")
    ap.add_argument("--open-dates", action="store_true",
                    help="also post with the sample's allowed posting dates cleared (all post)")
    ap.add_argument("--before", action="store_true",
                    help="also time the engine reading the entries (no pre-aggregates), once")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "latest.json")
    args = ap.parse_args()
    out: dict[str, dict] = {"machine": {"cpus": os.cpu_count()}, "runs": {}}
    for size in args.sizes:
        print(f"ledger of {size:,} value entries", flush=True)
        posted = ledger(size, args.seed, posted=True)
        reads = bench_reads(posted, args.repeat, args.before)
        report(f"reads on {size:,}", reads)
        out["runs"][f"reads_{size}"] = reads
        if not args.skip_posting and size <= 1_000_000:
            unposted = ledger(size, args.seed, posted=False)
            posting = bench_posting(unposted, args.repeat)
            report(f"posting on {size:,}", posting)
            out["runs"][f"posting_{size}"] = posting
            if args.open_dates:
                posting = bench_posting(unposted, args.repeat, open_dates=True)
                report(f"posting on {size:,}, every entry postable", posting)
                out["runs"][f"posting_{size}_open_dates"] = posting
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(f"\nwrote {args.out}")
    shutil.rmtree(CACHE / "tmp", ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
