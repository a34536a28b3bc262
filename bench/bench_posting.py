"""Time *Post Inventory Cost to G/L* against the bare-insert anchor (issue 7).

    .venv/bin/python bench/bench_posting.py --value-entries 1000000 --repeat 3

Builds (once, cached in --workdir) a ledger of N unposted value entries with direct executemany
(purchases, sales, adjustments, transfers, consumption into produced items, output, revaluation,
capacity entries; ~300 items, 3 locations, 2 bus. groups, one year of dates). Then, each
measurement in a fresh subprocess on a fresh copy of that ledger (so peak RSS is its own):

* ``anchor_gl_rel``: one transaction, bare ``executemany`` of exactly as many G/L rows and
  relation rows as the per-entry run writes (same columns, same indexes, no pre-aggregate
  triggers: they are dropped before the clock starts; rows from a cheap generator);
* ``anchor_gl``: the same with G/L rows only (issue 7's per-posting-group anchor: "the same
  number of G/L rows");
* ``per_entry`` / ``per_posting_group``: ``post_inventory_cost`` on the whole queue.

Prints median, min and max, the ratio to the anchors and the peak RSS; ``--out`` writes JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

PY = sys.executable


def build_ledger(path: Path, n: int) -> None:
    from invrecon.ledger import open_ledger

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from ledger_builder import LedgerBuilder

    if path.exists():
        path.unlink()
    db = open_ledger(path, create=True)
    items = tuple(f"I{i:04d}" for i in range(300))
    LedgerBuilder.standard(db, items=items)
    kinds = [
        # (ile type, entry type, sign, source is another item, order type)
        ("Purchase", "Direct Cost", 1, False, ""),
        ("Purchase", "Direct Cost", 1, False, ""),
        ("Sale", "Direct Cost", -1, False, ""),
        ("Sale", "Direct Cost", -1, False, ""),
        ("Sale", "Direct Cost", -1, False, ""),
        ("Positive Adjmt.", "Direct Cost", 1, False, ""),
        ("Negative Adjmt.", "Direct Cost", -1, False, ""),
        ("Transfer", "Direct Cost", -1, False, "Transfer"),
        ("Consumption", "Direct Cost", -1, True, "Production"),
        ("Output", "Direct Cost", 1, False, "Production"),
        ("Purchase", "Revaluation", 1, False, ""),
        ("", "Direct Cost", 1, True, "Production"),
    ]
    locations = ("", "BLUE", "RED")
    buses = ("", "DOMESTIC")
    import datetime as dt

    days = [(dt.date(2025, 1, 1) + dt.timedelta(d)).isoformat() for d in range(365)]

    def rows():
        for i in range(1, n + 1):
            ile, et, sign, src_item, ot = kinds[i % len(kinds)]
            item = items[(i * 7919) % len(items)]
            source = items[(i * 31) % len(items)] if src_item else f"V{i % 500}"
            yield (i, item if ile else None, days[(i * 365) // (n + 1)], ile, i if ile else 0, et,
                   f"D{i // 2}", locations[i % 3], "RESALE", buses[(i // 3) % 2], "RETAIL",
                   "Item" if src_item else "Vendor", source, ot, f"PO{i % 1000}" if ot else "",
                   sign * (100 + (i * 7) % 99991))

    with db.conn:
        db.conn.executemany(
            "INSERT INTO value_entry (entry_no, item_no, posting_date, item_ledger_entry_type, "
            "item_ledger_entry_no, entry_type, document_no, location_code, "
            "inventory_posting_group, gen_bus_posting_group, gen_prod_posting_group, source_type, "
            "source_no, order_type, order_no, cost_amount_actual) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows())
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def fresh_copy(src: Path, dst: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        p = Path(str(dst) + suffix)
        if p.exists():
            p.unlink()
    shutil.copyfile(src, dst)


RUNNER = textwrap.dedent("""
    import json, resource, sys, time
    from invrecon.ledger import open_ledger, write_transaction
    kind, path, lines = sys.argv[1], sys.argv[2], int(sys.argv[3])
    db = open_ledger(path)
    result = {}
    from invrecon import preaggregates
    rebuild = preaggregates.rebuild
    def timed_rebuild(d):
        t = time.perf_counter()
        rebuild(d)
        result["preaggregate_rebuild_s"] = time.perf_counter() - t
    preaggregates.rebuild = timed_rebuild
    t0 = time.perf_counter()
    if kind.startswith("anchor"):
        with_rel = kind == "anchor_gl_rel"
        conn = db.conn
        with write_transaction(db):
            # bare: no pre-aggregate triggers (dropped before the clock starts)
            preaggregates.drop_triggers(db)
            t0 = time.perf_counter()
            conn.executemany(
                "INSERT INTO gl_entry (entry_no, gl_account_no, posting_date, document_no, "
                "external_document_no, description, amount, source_code, transaction_no, "
                "dimension_set_id) VALUES (?, ?, ?, ?, ?, ?, ?, 'INVTPCOST', ?, ?)",
                ((i, "2130" if i % 2 else "7190", "2025-06-30", "D", "", "Direct Cost V1 on 2025-06-30",
                  100 if i % 2 else -100, (i + 1) // 2, 0) for i in range(1, lines + 1)))
            if with_rel:
                conn.executemany(
                    "INSERT INTO gl_item_ledger_relation (gl_entry_no, value_entry_no, "
                    "gl_register_no) VALUES (?, ?, 1)",
                    ((i, (i + 1) // 2) for i in range(1, lines + 1)))
    else:
        from invrecon.posting import PostingRequest, post_inventory_cost
        req = (PostingRequest() if kind == "per_entry"
               else PostingRequest(mode="per-posting-group", document_no="BENCH"))
        report = post_inventory_cost(db, req)
        result.update(posted=report.posted_value_entries, gl=report.gl_entries_created,
                      skipped=len(report.skipped),
                      relations=db.execute("SELECT count(*) FROM gl_item_ledger_relation").fetchone()[0])
        report.close()
    result["seconds"] = time.perf_counter() - t0
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))
""")


def measure(kind: str, template: Path, work: Path, lines: int) -> dict:
    fresh_copy(template, work)
    out = subprocess.run([PY, "-c", RUNNER, kind, str(work), str(lines)], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def summary(runs: list[dict]) -> dict:
    secs = [r["seconds"] for r in runs]
    return {"median": statistics.median(secs), "min": min(secs), "max": max(secs),
            "peak_rss_mb": max(r["rss_mb"] for r in runs), "runs": runs}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--value-entries", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/invrecon-bench-posting"))
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    template = args.workdir / f"unposted-{args.value_entries}.db"
    if args.rebuild or not template.exists():
        t0 = time.perf_counter()
        build_ledger(template, args.value_entries)
        print(f"built {template} ({args.value_entries:,} unposted value entries) in "
              f"{time.perf_counter() - t0:.1f}s", flush=True)
    from invrecon.ledger import open_ledger

    open_ledger(template).close()  # apply pending migrations once, outside the measurements
    work = args.workdir / "work.db"
    results: dict[str, dict] = {}
    first = measure("per_entry", template, work, 0)
    lines = first["gl"]
    group_lines = measure("per_posting_group", template, work, 0)["gl"]
    print(f"value entries {args.value_entries:,}: per entry {lines:,} G/L entries + relation rows; "
          f"per posting group {group_lines:,} G/L entries", flush=True)
    order = ["anchor_gl_rel", "per_entry", "anchor_gl", "per_posting_group"]
    runs: dict[str, list[dict]] = {k: [] for k in order}
    runs["per_entry"].append(first)
    for _ in range(args.repeat):
        for kind in order:
            if kind == "per_entry" and len(runs[kind]) >= args.repeat:
                continue
            runs[kind].append(measure(kind, template, work, lines))
    for kind in order:
        results[kind] = summary(runs[kind])
    anchor = results["anchor_gl_rel"]["median"]
    anchor_gl = results["anchor_gl"]["median"]
    for kind in order:
        r = results[kind]
        rb = [x["preaggregate_rebuild_s"] for x in r["runs"] if "preaggregate_rebuild_s" in x]
        extra = f"  (pre-aggregate rebuild {statistics.median(rb):.2f}s)" if rb else ""
        print(f"{kind:<20} median {r['median']:8.2f}s  (min {r['min']:.2f}, max {r['max']:.2f})  "
              f"peak RSS {r['peak_rss_mb']:6.0f} MB{extra}", flush=True)
    pe = results["per_entry"]["median"] / anchor
    pg = results["per_posting_group"]["median"] / anchor
    pg_gl = results["per_posting_group"]["median"] / anchor_gl
    print(f"ratio per entry / anchor (G/L + relation rows):        {pe:.2f}x")
    print(f"ratio per posting group / anchor (G/L + relation rows): {pg:.2f}x")
    print(f"ratio per posting group / anchor (G/L rows only):       {pg_gl:.2f}x")
    results["ratios"] = {"per_entry_vs_gl_rel": pe, "per_group_vs_gl_rel": pg,
                         "per_group_vs_gl": pg_gl}
    results["value_entries"] = args.value_entries
    results["gl_lines_per_entry_run"] = lines
    results["gl_lines_per_group_run"] = group_lines
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
