"""``invrecon post`` and ``invrecon post-test`` (40-interfaces §4).

``post [--per-entry | --per-posting-group --document-no DOC] [--preview] [filters] [--json]``
``post-test [same options] [--json]``

Exit codes: 0 posted (or nothing to post), 3 the run completed but skipped entries (also for
``post --preview``, whose report is the run's report), 1 an error (nothing written), 2 usage.
``post-test`` exits 0 whatever problems it lists.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

from invrecon.cli.common import add_filter_args, filters_from_args
from invrecon.ledger import default_db_path, open_ledger
from invrecon.money import format_cents_grouped
from invrecon.posting import (
    REPORT_COLUMNS,
    PostingReport,
    PostingRequest,
    PostingTestReport,
    post_inventory_cost,
    test_posting,
)
from invrecon.posting_rules import ACCOUNT_SOURCES, IPS

EXIT_SKIPPED = 3


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "post", help="Post Inventory Cost to G/L (exit 3 when entries were skipped)",
        description="Post the value entries waiting in the queue to the G/L, in one transaction. "
        "Entries with a problem are skipped and listed with the reason; the rest are posted.",
    )
    _add_common(p)
    p.add_argument("--preview", action="store_true",
                   help="print the run's report without writing anything")
    p.set_defaults(func=run_post)

    t = sub.add_parser(
        "post-test", help="Post Inventory Cost to G/L - Test: every problem a run would meet",
        description="List the G/L lines a posting run would create and every problem it would "
        "meet (skips and dimension overrides), with the same validation as the run. Writes "
        "nothing.",
    )
    _add_common(t)
    t.set_defaults(func=run_post_test)


def _add_common(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--per-entry", dest="mode", action="store_const", const="per-entry",
                   help="one G/L transaction per value entry (default)")
    g.add_argument("--per-posting-group", dest="mode", action="store_const",
                   const="per-posting-group",
                   help="sum the lines per posting group (needs --document-no)")
    p.add_argument("--document-no", metavar="DOC",
                   help="document no. of the G/L entries (per posting group only)")
    add_filter_args(p)
    p.add_argument("--json", action="store_true", help="print JSON (see the README for the schema)")
    p.set_defaults(mode=None)


def _request(args: argparse.Namespace, *, preview: bool) -> PostingRequest:
    mode = args.mode or "per-entry"
    if mode == "per-posting-group" and not (args.document_no or "").strip():
        _usage(args, "--per-posting-group needs --document-no DOC "
               "(Please enter a Document No. when posting per Posting Group.)")
    if mode == "per-entry" and args.document_no:
        _usage(args, "--document-no is for --per-posting-group only "
               "(Do not enter a Document No. when posting per Entry.)")
    filters = filters_from_args(args)
    try:
        return PostingRequest(mode=mode, document_no=args.document_no, preview=preview,
                              filters=filters)
    except ValueError as exc:
        errors = getattr(exc, "errors", None)
        msg = errors()[0]["msg"] if callable(errors) else str(exc)
        _usage(args, msg.removeprefix("Value error, "))
        raise  # unreachable


def _usage(args: argparse.Namespace, message: str) -> None:
    cmd = "post-test" if args.func is run_post_test else "post"
    print(f"invrecon {cmd}: usage error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _path(args: argparse.Namespace) -> Path:
    return Path(args.db) if args.db else default_db_path()


def run_post(args: argparse.Namespace) -> int:
    request = _request(args, preview=args.preview)
    db = open_ledger(_path(args), readonly=request.preview)
    try:
        report = post_inventory_cost(db, request)
        try:
            out = sys.stdout
            if args.json:
                report.write_json(out)
            else:
                _print_report(db, report, out, path=_path(args))
        finally:
            report.close()
    finally:
        db.close()
    return EXIT_SKIPPED if report.skipped else 0


def run_post_test(args: argparse.Namespace) -> int:
    request = _request(args, preview=True)
    db = open_ledger(_path(args), readonly=True)
    try:
        test = test_posting(db, request)
        try:
            if args.json:
                test.write_json(sys.stdout)
            else:
                _print_test_report(db, test, sys.stdout, path=_path(args))
        finally:
            test.report.close()
    finally:
        db.close()
    return 0


# --- text reports ------------------------------------------------------------------------------

_MONEY_W = 14


def _money(cents: int) -> str:
    return format_cents_grouped(cents) if cents else ""


def _table(out: IO[str], headers: list[str],
           rows: Iterable[list[str]] | Callable[[], Iterable[list[str]]], right: set[int]) -> None:
    """An aligned text table. ``rows`` may be a callable giving a fresh iterable: the rows are
    then made twice (widths, then output) instead of being held in memory - a run's lines and
    skipped entries can be millions."""
    make = rows if callable(rows) else None
    if make is None:
        rows = list(rows)  # type: ignore[arg-type]
    widths = [len(h) for h in headers]
    for r in (make() if make else rows):  # type: ignore[union-attr]
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.rjust(widths[i]) if i in right else c.ljust(widths[i])
                         for i, c in enumerate(cells)).rstrip()

    out.write(fmt(headers) + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for r in (make() if make else rows):  # type: ignore[union-attr]
        out.write(fmt(r) + "\n")


def _item_descriptions(db, item_nos: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for i in range(0, len(item_nos), 500):
        chunk = item_nos[i:i + 500]
        marks = ",".join("?" * len(chunk))
        for no, desc in db.conn.execute(
                f"SELECT no, description FROM item WHERE no IN ({marks})", chunk):
            out[no] = desc
    return out


def _dimension_text(db, set_id: int, cache: dict[int, str]) -> str:
    if not set_id:
        return ""
    if set_id not in cache:
        cache[set_id] = "; ".join(
            f"{c} - {v}" for c, v in db.conn.execute(
                "SELECT dimension_code, dimension_value_code FROM dimension_set_entry "
                "WHERE dimension_set_id = ? ORDER BY dimension_code", [set_id]))
    return cache[set_id]


def _header(out: IO[str], report: PostingReport, path: Path, title: str) -> None:
    mode = "Posted per Entry" if report.mode == "per-entry" else "Posted per Posting Group"
    out.write(f"{title}\n")
    out.write(f"{mode}" + ("  --  Test Report (Not Posted)" if report.preview else "") + "\n")
    out.write(f"Ledger: {path}\n")
    if report.document_no:
        out.write(f"Document No.: {report.document_no}\n")
    out.write(f"Filters: {report.filters.describe()}\n\n")


def _columns_section(db, out: IO[str], report: PostingReport) -> None:
    items = sorted(report.item_columns)
    if items:
        desc = _item_descriptions(db, [i for i in items if i])
        out.write("Item value entries\n")
        _table(out, ["Item No.", "Description", *REPORT_COLUMNS],
               ([i or "(blank)", desc.get(i, "The item no. no longer exists."),
                 *(_money(v) for v in report.item_columns[i])] for i in items),
               right=set(range(2, 2 + len(REPORT_COLUMNS))))
        out.write("\n")
    orders = sorted(report.capacity_columns)
    if orders:
        out.write("Capacity value entries\n")
        _table(out, ["Order No.", *REPORT_COLUMNS],
               ([o or "(blank)", *(_money(v) for v in report.capacity_columns[o])]
                for o in orders),
               right=set(range(1, 1 + len(REPORT_COLUMNS))))
        out.write("\n")
    if items or orders:
        out.write("Inventory Cost Posted to G/L (totals)\n")
        _table(out, list(REPORT_COLUMNS),
               [[format_cents_grouped(v) for v in report.column_totals()]],
               right=set(range(len(REPORT_COLUMNS))))
        out.write("\n")


def _group_section(db, out: IO[str], report: PostingReport) -> None:
    if report.mode != "per-posting-group" or not len(report.lines):
        return
    dims: dict[int, str] = {}
    out.write("Per Posting Group\n")

    def rows() -> Iterator[list[str]]:
        for ln in report.iter_lines():
            if ACCOUNT_SOURCES[ln.account_type].setup == IPS:
                setup = f"{ln.location_code},{ln.inventory_posting_group}"
            else:
                setup = f"{ln.gen_bus_posting_group},{ln.gen_prod_posting_group}"
            yield [ln.account_type.value, ln.posting_date, ln.gl_account_no, setup,
                   _dimension_text(db, ln.dimension_set_id, dims),
                   format_cents_grouped(ln.amount), str(len(ln.value_entry_nos))]

    _table(out, ["Entry Type", "Posting Date", "G/L Account", "General Posting Setup",
                 "Line Dimensions", "Amount", "Value Entries"], rows, right={5, 6})
    total = sum(ln.amount for ln in report.iter_lines())
    out.write(f"Total: {format_cents_grouped(total)}\n\n")


def _skipped_section(out: IO[str], report: PostingReport) -> None:
    if not report.skipped:
        return
    out.write(f"Skipped Entries ({len(report.skipped)})\n")
    _table(out, ["Item No.", "Entry No.", "Item Ledger Entry Type", "Entry Type", "Document No.",
                 "Source No.", "Posting Date", "Location", "Expected Cost", "Cost Amount",
                 "Reason Code", "Reason"],
           lambda: ([s.item_no or "", str(s.value_entry_no),
                     s.item_ledger_entry_type or "(capacity)", s.entry_type, s.document_no,
                     s.source_no, s.posting_date, s.location_code,
                     "Yes" if s.expected_cost else "No", format_cents_grouped(s.cost_amount),
                     s.reason_code, s.reason] for s in report.skipped),
           right={1, 9})
    out.write("\n")


def _overrides_section(out: IO[str], report: PostingReport) -> None:
    if not report.dimension_overrides:
        return
    out.write(f"Dimension overrides ({len(report.dimension_overrides)}): the value entry's "
              "dimensions were posted as they are\n")
    _table(out, ["Entry No.", "G/L Account", "Message"],
           ([str(d.value_entry_no), d.gl_account_no, d.message]
            for d in report.dimension_overrides), right={0})
    out.write("\n")


def _print_report(db, report: PostingReport, out: IO[str], *, path: Path) -> None:
    _header(out, report, path, "Post Inventory Cost to G/L")
    _columns_section(db, out, report)
    _group_section(db, out, report)
    _overrides_section(out, report)
    _skipped_section(out, report)
    n = report.posted_value_entries
    if report.preview:
        out.write(f"Preview: {n} value entries would be posted as {report.gl_entries_created} "
                  f"G/L entries; {len(report.skipped)} would be skipped. Nothing was written.\n")
    elif n:
        out.write(f"{n} value entries have been posted to the general ledger "
                  f"(G/L register {report.register_no}, {report.gl_entries_created} G/L "
                  "entries).\n")
    else:
        out.write("There is nothing to post to the general ledger.\n")
    if report.skipped:
        out.write(f"{len(report.skipped)} value entries were skipped; they stay in the queue "
                  "(see Skipped Entries).\n")


def _print_test_report(db, test: PostingTestReport, out: IO[str], *, path: Path) -> None:
    report = test.report
    _header(out, report, path, "Post Invt. Cost to G/L - Test")
    per_entry = report.mode == "per-entry"
    out.write("Planned G/L lines\n")
    headers = ["Posting Date", "Document No.", "Account No.", "Account Type", "Description",
               "Amount", "Value Entry No."]
    _table(out, headers,
           lambda: ([ln.posting_date, ln.document_no, ln.gl_account_no, ln.account_type.value,
                     ln.description, format_cents_grouped(ln.amount),
                     str(ln.value_entry_nos[0]) if per_entry
                     else f"{len(ln.value_entry_nos)} entries"]
                    for ln in report.iter_lines()),
           right={5, 6})
    out.write("\n")
    n_problems = len(report.skipped) + len(report.dimension_overrides)
    if n_problems:
        out.write(f"Warnings ({n_problems})\n")
        _table(out, ["Entry No.", "Kind", "Reason Code", "Reason"],
               lambda: ([str(p["value_entry_no"]), p["kind"], p["reason_code"], p["reason"]]
                        for p in test.iter_problems()), right={0})
    else:
        out.write("No problems: a posting run would post every entry in the queue.\n")
    out.write(f"\n{report.posted_value_entries} value entries would be posted, "
              f"{len(report.skipped)} skipped.\n")

