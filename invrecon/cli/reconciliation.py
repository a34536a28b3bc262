"""``invrecon matrix`` and ``invrecon drill``: Inventory - G/L Reconciliation (40-interfaces §5)."""

from __future__ import annotations

import argparse
import csv
import sys
from typing import Any

from invrecon.cli.common import add_filter_args, add_output_args, filters_from_args, print_json
from invrecon.ledger import open_ledger
from invrecon.money import format_cents, format_cents_grouped


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "matrix", help="Inventory - G/L Reconciliation matrix",
        description="The Inventory - G/L Reconciliation matrix: value entries projected onto "
        "account types (rows x Inventory / Inventory (Interim) / WIP columns) against the G/L, "
        "with the causes of every difference. --to without --from gives balances as of that date.")
    _common(p)
    p.add_argument("--warnings", action="store_true", help="Show Warning: per-cell warnings and "
                   "setup health checks")
    p.add_argument("--accounts", action="store_true",
                   help="also print the per-account view (projected vs actual per G/L account)")
    p.set_defaults(func=_matrix)

    d = sub.add_parser(
        "drill", help="the lines or entries behind one matrix cell",
        description="Drill into one matrix cell: per-item (inventory side) or per-G/L-account "
        "(G/L side) sums; a Difference cell gives both. With --entries: the value entries or G/L "
        "entries, paged.")
    d.add_argument("--row", required=True, metavar="ROW", help="row key, e.g. cogs, total, difference")
    d.add_argument("--column", required=True, metavar="COL",
                   help="column key: inventory, inventory_interim, wip_inventory, total, gl_total, "
                   "difference")
    _common(d)
    d.add_argument("--entries", action="store_true", help="list the entries instead of the sums")
    d.add_argument("--no", metavar="NO", help="with --entries: only this item (or G/L account)")
    d.add_argument("--cause", metavar="CAUSE",
                   help="with --entries on a Difference cell: only the entries of this cause")
    d.add_argument("--side", choices=("gl", "item"),
                   help="with --entries on a Difference cell: G/L entries (default) or value entries")
    d.add_argument("--limit", type=int, default=500, metavar="N", help="page size (default 500)")
    d.add_argument("--offset", type=int, default=0, metavar="M", help="rows to skip (default 0)")
    d.set_defaults(func=_drill)


def _common(p: argparse.ArgumentParser) -> None:
    add_filter_args(p)
    p.add_argument("--no-closing", action="store_true",
                   help="leave G/L closing-date entries out")
    add_output_args(p)


def _open(args: argparse.Namespace):
    return open_ledger(args.db, readonly=True)


def _filters(args: argparse.Namespace):
    return filters_from_args(args, include_closing=not args.no_closing)


def _blank(v: int | None) -> str:
    return format_cents_grouped(v) if v else ""


def _matrix(args: argparse.Namespace) -> int:
    from invrecon.reconciliation import COLUMN_KEYS, COLUMN_NAMES, TYPE_NAMES, compute_matrix

    filters = _filters(args)
    db = _open(args)
    try:
        m = compute_matrix(db, filters, show_warning=args.warnings, per_account=args.accounts)
    finally:
        db.close()
    if args.json:
        print_json(m.to_json())
        return 0
    if args.csv:
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(["row", "name", *COLUMN_KEYS, *(["warning"] if args.warnings else [])])
        for r in m.rows:
            cells = [format_cents(r.cells[c]) if r.cells.get(c) else "" for c in COLUMN_KEYS]
            w.writerow([r.key, r.name, *cells,
                        *([r.warning.title if r.warning else ""] if args.warnings else [])])
        return 0
    out: list[str] = []
    out.append(f"Inventory - G/L Reconciliation ({filters.describe()})")
    out.append("")
    name_w = max(len(r.name) for r in m.rows) + 2
    widths = [max(len(COLUMN_NAMES[c]), 14) for c in COLUMN_KEYS]
    header = "Name".ljust(name_w) + "  ".join(COLUMN_NAMES[c].rjust(w)
                                              for c, w in zip(COLUMN_KEYS, widths, strict=True))
    if args.warnings:
        header += "  Warning"
    out.append(header)
    out.append("-" * len(header))
    for r in m.rows:
        if r.key == "total":
            out.append("-" * len(header))
        line = r.name.ljust(name_w) + "  ".join(
            _blank(r.cells.get(c)).rjust(w) for c, w in zip(COLUMN_KEYS, widths, strict=True))
        if args.warnings and r.warning:
            line += "  " + r.warning.title
        out.append(line)
    if m.unattributed_gl and any(m.unattributed_gl.values()):
        out.append("")
        out.append("G/L not attributable to items (unlinked entries, not in G/L Total above):")
        for t, v in m.unattributed_gl.items():
            if v:
                out.append(f"  {TYPE_NAMES[t]}: {format_cents_grouped(v)}")
    causes = [(r, c) for r in m.rows for c in r.explanation]
    if causes:
        out.append("")
        out.append("Differences explained:")
        for r, c in causes:
            where = f"{r.name} / {COLUMN_NAMES[c.column]}" if c.column else r.name
            out.append(f"  {where}: {c.title}: {format_cents_grouped(c.amount)}"
                       f"  [drill: --row {c.entries['row']} --column {c.entries['column']} "
                       f"--entries --cause {c.cause}]")
    bad = [i for i in m.invariants if not i.ok]
    out.append("")
    out.append("Invariants: " + ("all hold" if not bad else "; ".join(
        f"{i.name}: {format_cents_grouped(i.amount)}" for i in bad)))
    if args.warnings and m.warnings:
        out.append("")
        out.append("Warnings:")
        for w in m.warnings:
            out.append(f"  {w.title}: {w.detail}")
    if args.accounts:
        out.append("")
        out.append("Per account (projected through the current setup vs G/L):")
        out.append(f"  {'Account':<10} {'Name':<28} {'Projected':>16} {'G/L':>16} {'Difference':>16}")
        for a in m.per_account:
            out.append(f"  {a.account_no or '(blank)':<10} {a.name[:28]:<28} "
                       f"{format_cents_grouped(a.projected):>16} {format_cents_grouped(a.actual):>16} "
                       f"{_blank(a.difference):>16}")
    print("\n".join(out))
    return 0


def _drill(args: argparse.Namespace) -> int:
    from invrecon.drilldown import drill_entries, drill_lines

    filters = _filters(args)
    db = _open(args)
    try:
        if args.entries:
            page = drill_entries(db, args.row, args.column, filters, no=args.no, cause=args.cause,
                                 side=args.side, limit=args.limit, offset=args.offset)
            data: Any = page
        else:
            data = drill_lines(db, args.row, args.column, filters)
    finally:
        db.close()
    if args.entries:
        js = page.to_json()
        if args.json:
            print_json({"row": args.row, "column": args.column,
                        "filters": {**filters.to_json(), "include_closing": filters.include_closing},
                        **js})
            return 0
        rows = js["rows"]
        keys = list(rows[0].keys()) if rows else ["entry_no", "posting_date", "document_no", "amount"]
        if args.csv:
            w = csv.writer(sys.stdout, lineterminator="\n")
            w.writerow(keys)
            for r in rows:
                w.writerow(["" if r[k] is None else r[k] for k in keys])
            return 0
        print(f"{page.kind.replace('_', ' ')}s {page.offset + 1}-{page.offset + len(rows)} of "
              f"{page.total_count} ({args.row} / {args.column}"
              + (f", cause {args.cause}" if args.cause else "") + ")")
        for r in page.rows:
            acct = r.get("gl_account_no") or r.get("item_no") or ""
            print(f"  {r['entry_no']:>10}  {r['posting_date']}  {r['document_no']:<14} "
                  f"{acct or '':<10} {format_cents_grouped(r['amount']):>16}")
        return 0
    res = data
    if args.json:
        print_json(res.to_json())
        return 0
    if args.csv:
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(["type", "no", "description", "amount"])
        for ln in res.lines:
            w.writerow([ln.type, ln.no, ln.description, format_cents(ln.amount)])
        return 0
    print(f"{args.row} / {args.column} ({filters.describe()})")
    for ln in res.lines:
        print(f"  {ln.type:<10} {ln.no:<12} {ln.description[:30]:<30} "
              f"{format_cents_grouped(ln.amount):>16}")
    print(f"  {'total':<54} {format_cents_grouped(res.total):>16}")
    for c in res.causes:
        print(f"  cause {c.cause}: {format_cents_grouped(c.amount)}")
    return 0
